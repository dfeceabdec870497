"""newstore-sim: the command line."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from simulator import __version__
from simulator.settings import Settings, client_env, parse_api_clients


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand."""
    parser = argparse.ArgumentParser(
        prog="newstore-sim",
        description="A stateful simulator of the NewStore Omnichannel Cloud.",
    )
    parser.add_argument("--version", action="version", version=f"newstore-sim {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    serve = sub.add_parser(
        "serve", help="run the simulator (REST, GraphQL, Swagger UI) on uvicorn",
        description="Run the simulator on uvicorn. Every flag also has a SIM_* variable.")
    serve.add_argument("--host", help="interface to bind (default 127.0.0.1; SIM_HOST)")
    serve.add_argument("--port", type=int, help="port to bind (default 8082; SIM_PORT)")
    serve.add_argument("--db", metavar="PATH",
                       help="SQLite file (default ./newstore-sim.db; ':memory:' keeps nothing; "
                            "SIM_DB)")
    serve.add_argument("--seed", type=int, help="seed of the generated world (default 42; "
                                                "SIM_SEED)")
    serve.add_argument("--tenant", metavar="NAME",
                       help="default tenant when a request names none (default dodici; "
                            "SIM_TENANT)")
    serve.add_argument("--api-client", metavar="ID:SECRET", action="append", default=[],
                       help="API client valid in every tenant; repeatable "
                            "(also SIM_API_CLIENTS=ID:SECRET,ID:SECRET). With none, a demo "
                            "client is created and printed")
    serve.add_argument("--retry-profile", choices=["fast", "realistic"],
                       help="Event Stream retry schedule for integrations that set none "
                            "(default realistic, within the 15-minute SLA; SIM_RETRY_PROFILE)")
    serve.add_argument("--delivery-timeout", type=float, metavar="SECONDS",
                       help="timeout of each webhook call (default 10; SIM_DELIVERY_TIMEOUT)")
    serve.add_argument("--pause-after", type=int, metavar="N", dest="pause_after_failures",
                       help="stop an integration after N consecutive failed attempts "
                            "(default 50; SIM_PAUSE_AFTER_FAILURES)")
    serve.add_argument("--no-dispatch", action="store_true",
                       help="keep events in the outbox, deliver nothing (SIM_DISPATCH=false)")
    serve.add_argument("--control-token", metavar="TOKEN",
                       help="require this bearer token on /_sim (default: open; "
                            "SIM_CONTROL_TOKEN)")
    serve.add_argument("--log-level", default="info",
                       choices=["critical", "error", "warning", "info", "debug"],
                       help="uvicorn log level (default info)")
    _add_emit(sub)
    return parser


EMIT_EXAMPLE = """\
examples:
  newstore-sim emit order.opened
  newstore-sim emit order.opened --set items.0.quantity=3 --count 50
  echo '{"id": "broken"}' | newstore-sim emit order.created --payload -
"""


def _add_emit(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    emit = sub.add_parser(
        "emit", help="publish an event through a running simulator's Event Stream",
        description="Publish an event (or a burst) to every matching integration of a running\n"
                    "simulator (POST /_sim/events). Without --payload the simulator generates\n"
                    "a payload from the tenant's world; --set then overwrites single values.",
        epilog=EMIT_EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    emit.add_argument("name", metavar="NAME", help="event name, e.g. order.opened")
    emit.add_argument("--payload", metavar="FILE|-",
                      help="JSON payload file ('-' reads stdin), published as is (no schema "
                           "check)")
    emit.add_argument("--set", metavar="PATH=VALUE", action="append", default=[], dest="sets",
                      help="overwrite a dotted path of the payload (list indexes as numbers); "
                           "VALUE is JSON when it parses (3, true, {...}), else a string; "
                           "repeatable")
    emit.add_argument("--count", type=int, default=1, help="how many events (1..10000, "
                                                           "default 1)")
    emit.add_argument("--tenant", metavar="NAME", help="tenant (default: the simulator's)")
    emit.add_argument("--url", help="simulator base URL (default SIM_URL, else "
                                    "http://127.0.0.1:8082)")
    emit.add_argument("--control-token", metavar="TOKEN",
                      help="the simulator's control token, if it has one (SIM_CONTROL_TOKEN)")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the newstore-sim console script."""
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        return serve(args)
    if args.command == "emit":
        return emit(args)
    return 2


def serve(args: argparse.Namespace) -> int:
    """Start the platform, print how to reach it, then hand over to uvicorn."""
    import warnings

    import uvicorn

    # Connexion imports Starlette's test client, which warns about httpx on every start
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")

    from simulator.app import create_app
    from simulator.core.store import StoreError
    from simulator.platform.context import Platform

    try:
        overrides = {"host": args.host, "port": args.port, "db": args.db, "seed": args.seed,
                     "tenant": args.tenant, "retry_profile": args.retry_profile,
                     "delivery_timeout": args.delivery_timeout,
                     "pause_after_failures": args.pause_after_failures,
                     "control_token": args.control_token,
                     "dispatch": False if args.no_dispatch else None}
        if args.api_client:
            overrides["api_clients"] = parse_api_clients(args.api_client)
        settings = Settings.from_env(**overrides)
        platform = Platform.start(settings)
    except (ValueError, StoreError) as exc:
        print(f"newstore-sim: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s: %(message)s")
    app = create_app(settings, platform)
    base = f"http://{settings.host}:{settings.port}"
    print(f"newstore-sim {__version__} on {base}  (db {settings.db}, seed {settings.seed})")
    print(f"  tenants: {', '.join(settings.all_tenants)}; default tenant {settings.tenant}")
    if not settings.api_clients:
        client_id, secret = platform.auth.ensure_demo_client()
        print(f"  demo API client: client_id={client_id} client_secret={secret}")
    print(f"  token:   POST {base}/auth/realms/{settings.tenant}/protocol/openid-connect/token")
    print(f"  GraphQL: POST {base}/api/v1/org/data/query    Swagger UI: {base}/docs/")
    print(f"  Event Stream: register at {base}/api/v1/org/integrations/eventstream; "
          f"control plane {base}/_sim/docs/ (retry profile {settings.retry_profile}"
          f"{', dispatch off' if not settings.dispatch else ''})")
    sys.stdout.flush()
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=args.log_level)
    return 0


def _parse_sets(items: list[str]) -> dict[str, object]:
    """PATH=VALUE pairs; a VALUE that parses as JSON is taken as JSON, else as a string."""
    sets: dict[str, object] = {}
    for item in items:
        path, sep, raw = item.partition("=")
        if not sep or not path:
            raise ValueError(f"--set must be PATH=VALUE, got {item!r}")
        try:
            sets[path] = json.loads(raw)
        except ValueError:
            sets[path] = raw
    return sets


def emit(args: argparse.Namespace) -> int:
    """POST /_sim/events to a running simulator and print its answer."""
    import requests

    default_url, default_token = client_env()
    url = (args.url or default_url).rstrip("/")
    token = args.control_token if args.control_token is not None else default_token
    try:
        body: dict[str, object] = {"name": args.name, "count": args.count}
        if args.tenant:
            body["tenant"] = args.tenant
        if args.payload:
            text = sys.stdin.read() if args.payload == "-" else Path(args.payload).read_text()
            try:
                body["payload"] = json.loads(text)
            except ValueError as exc:
                raise ValueError(f"--payload is not JSON: {exc}") from None
        sets = _parse_sets(args.sets)
        if sets:
            body["set"] = sets
    except (ValueError, OSError) as exc:
        print(f"newstore-sim emit: {exc}", file=sys.stderr)
        return 2
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        r = requests.post(f"{url}/_sim/events", json=body, headers=headers, timeout=60)
    except requests.RequestException as exc:
        print(f"newstore-sim emit: cannot reach the simulator at {url} ({exc.__class__.__name__}"
              "); is `newstore-sim serve` running? (--url or SIM_URL)", file=sys.stderr)
        return 1
    if r.status_code >= 400:
        try:
            problem = r.json()
        except ValueError:
            problem = None
        detail = (problem.get("detail") or problem.get("title")) if isinstance(problem, dict) \
            else None
        detail = detail or r.text.strip() or r.reason
        print(f"newstore-sim emit: {r.status_code} {detail}", file=sys.stderr)
        return 1
    print(json.dumps(r.json(), indent=2))
    return 0
