"""newstore-sim: the command line."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from simulator import __version__
from simulator.cli_run import add_run, run
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
    serve.add_argument("--clock", choices=["real", "scaled", "manual"], dest="clock_mode",
                       help="simulated time: real, scaled (--clock-scale times faster) or "
                            "manual (moved by /_sim/clock/advance) (default real; "
                            "SIM_CLOCK_MODE)")
    serve.add_argument("--clock-scale", type=float, metavar="X",
                       help="simulated seconds per real second in scaled mode, e.g. 60 "
                            "(SIM_CLOCK_SCALE)")
    serve.add_argument("--control-token", metavar="TOKEN",
                       help="require this bearer token on /_sim (default: open; "
                            "SIM_CONTROL_TOKEN)")
    serve.add_argument("--log-level", default="info",
                       choices=["critical", "error", "warning", "info", "debug"],
                       help="uvicorn log level (default info)")
    _add_emit(sub)
    _add_clock(sub)
    _add_action(sub)
    add_run(sub)
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
    if args.command == "clock":
        return clock(args)
    if args.command == "emit":
        return emit(args)
    if args.command == "action":
        return action(args)
    if args.command == "run":
        return run(args)
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
                     "dispatch": False if args.no_dispatch else None,
                     "clock_mode": args.clock_mode, "clock_scale": args.clock_scale}
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
    return call_control("emit", "POST", url, "/_sim/events", token, body, timeout=60)


def _add_clock(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    cmd = sub.add_parser(
        "clock", help="show, switch or advance a running simulator's clock",
        description="Read or change the simulated time of a running simulator (/_sim/clock).",
        epilog="examples:\n  newstore-sim clock\n  newstore-sim clock set scaled --scale 60\n"
               "  newstore-sim clock set manual\n  newstore-sim clock advance 900",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    # --url and --control-token are accepted before or after the action
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--url", default=argparse.SUPPRESS,
                        help="simulator base URL (default SIM_URL, else http://127.0.0.1:8082)")
    common.add_argument("--control-token", metavar="TOKEN", default=argparse.SUPPRESS,
                        help="the simulator's control token, if it has one (SIM_CONTROL_TOKEN)")
    cmd.set_defaults(url=None, control_token=None)
    for action in common._actions:
        if action.dest in {"url", "control_token"}:
            cmd._add_action(action)
    actions = cmd.add_subparsers(dest="action", metavar="ACTION")
    actions.add_parser("show", parents=[common],
                       help="print the simulated now, mode and scale (the default)")
    set_ = actions.add_parser("set", parents=[common], help="switch mode: real, scaled or manual")
    set_.add_argument("mode", choices=["real", "scaled", "manual"])
    set_.add_argument("--scale", type=float, help="simulated seconds per real second (scaled)")
    adv = actions.add_parser("advance", parents=[common], help="move simulated time forward")
    adv.add_argument("seconds", type=float, metavar="SECONDS")


def clock(args: argparse.Namespace) -> int:
    """GET, PUT or POST /_sim/clock on a running simulator and print the clock."""
    default_url, default_token = client_env()
    url = (args.url or default_url).rstrip("/")
    token = args.control_token if args.control_token is not None else default_token
    action = args.action or "show"
    if action == "set":
        body: dict[str, object] = {"mode": args.mode}
        if args.scale is not None:
            body["scale"] = args.scale
        return call_control("clock", "PUT", url, "/_sim/clock", token, body)
    if action == "advance":
        return call_control("clock", "POST", url, "/_sim/clock/advance", token,
                            {"seconds": args.seconds})
    return call_control("clock", "GET", url, "/_sim/clock", token)


def call_control(command: str, method: str, url: str, path: str, token: str,
                 body: object = None, timeout: float = 30) -> int:
    """Call a running simulator's control plane; print the answer, or why it failed (exit 1)."""
    import requests

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        r = requests.request(method, f"{url}{path}", json=body, headers=headers,
                             timeout=timeout)
    except requests.RequestException as exc:
        print(f"newstore-sim {command}: cannot reach the simulator at {url} "
              f"({exc.__class__.__name__}); is `newstore-sim serve` running? (--url or SIM_URL)",
              file=sys.stderr)
        return 1
    if r.status_code >= 400:
        try:
            problem = r.json()
        except ValueError:
            problem = None
        detail = (problem.get("detail") or problem.get("title")) if isinstance(problem, dict) \
            else None
        print(f"newstore-sim {command}: {r.status_code} {detail or r.text.strip() or r.reason}",
              file=sys.stderr)
        return 1
    print(json.dumps(r.json(), indent=2))
    return 0


ACTIONS = {
    "place-order": "sell in a store: kind cash_and_carry, endless_aisle or mixed_cart",
    "pick": "a store picks a fulfillment request: outcome ok, mispick or mispack",
    "hand-over": "hand an order over to the customer or the carrier",
    "cancel-items": "cancel items of an order, with a reason",
    "return": "in-store return: referenced (order_id) or unreferenced (payment_details)",
    "appease": "appeasement refund of an amount on an order",
    "exchange": "return items of an order and take others (a new exchange order)",
}
ACTION_EXAMPLE = """\
actions:
{actions}

examples:
  newstore-sim action return --set order_id=ORDER --set items.0.product_id=1000061
  newstore-sim action return --set order_id=ORDER --set items.0.item_id=ITEM \\
      --set refund_method=gift_card
  newstore-sim action return --set items.0.product_id=1000061 --set items.0.quantity=2 \\
      --set payment_details.payment_method=credit_card
  newstore-sim action appease --set order_id=ORDER --set amount=5 --set note="Late parcel"
  newstore-sim action exchange --json '{{"order_id": "ORDER", "return_items": [{{"item_id":
      "ITEM"}}], "new_items": [{{"product_id": "1000068"}}]}}'
  newstore-sim action place-order --body order.json --tenant dodici
"""


def _add_action(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    listing = "\n".join(f"  {name:<13} {text}" for name, text in ACTIONS.items())
    cmd = sub.add_parser(
        "action", help="do what an associate or customer does (POST /_sim/actions/NAME)",
        description="Run an action on a running simulator (POST /_sim/actions/NAME) and print\n"
                    "the ids it created and the events it published. The body comes from\n"
                    "--json or --body, then each --set overwrites one dotted path.",
        epilog=ACTION_EXAMPLE.format(actions=listing),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    cmd.add_argument("name", metavar="NAME", help=f"the action: {', '.join(ACTIONS)}")
    cmd.add_argument("--set", metavar="PATH=VALUE", action="append", default=[], dest="sets",
                     help="set a dotted path of the body (numbers index lists, which grow: "
                          "items.0.quantity=2); VALUE is JSON when it parses (3, true, "
                          "{...}), else a string; values of *_id paths stay strings; "
                          "repeatable")
    body = cmd.add_mutually_exclusive_group()
    body.add_argument("--json", metavar="BODY", help="the JSON body")
    body.add_argument("--body", metavar="FILE|-", help="a JSON body file ('-' reads stdin)")
    cmd.add_argument("--tenant", metavar="NAME", help="tenant (default: the simulator's)")
    cmd.add_argument("--url", help="simulator base URL (default SIM_URL, else "
                                   "http://127.0.0.1:8082)")
    cmd.add_argument("--control-token", metavar="TOKEN",
                     help="the simulator's control token, if it has one (SIM_CONTROL_TOKEN)")


def _set_path(body: dict[str, object], path: str, value: object) -> None:
    """Set a dotted path, creating objects, and lists where the next part is a number
    (an index may be the list's length: it appends)."""
    parts = path.split(".")
    if any(part == "" for part in parts):
        raise ValueError(f"--set {path!r}: empty part in the path")
    node: object = body
    for n, part in enumerate(parts):
        last = n == len(parts) - 1
        fresh: object = None if last else ([] if parts[n + 1].isdigit() else {})
        if isinstance(node, list):
            if not part.isdigit() or int(part) > len(node):
                raise ValueError(f"--set {path!r}: {part!r} is not an index of a list of "
                                 f"{len(node)} (indexes grow one at a time)")
            index = int(part)
            if index == len(node):
                node.append(fresh)
            if last:
                node[index] = value
            elif not isinstance(node[index], dict | list):
                node[index] = fresh
            node = node[index]
        elif isinstance(node, dict):
            if last:
                node[part] = value
            elif not isinstance(node.get(part), dict | list):
                if node.get(part) is not None:
                    raise ValueError(f"--set {path!r}: {part!r} already holds a value")
                node[part] = fresh
            node = node[part]
        else:
            raise ValueError(f"--set {path!r}: {'.'.join(parts[:n])!r} is not an object or "
                             "list")


def action(args: argparse.Namespace) -> int:
    """POST /_sim/actions/NAME to a running simulator and print its answer."""
    from urllib.parse import quote

    default_url, default_token = client_env()
    url = (args.url or default_url).rstrip("/")
    token = args.control_token if args.control_token is not None else default_token
    try:
        text = None
        if args.json is not None:
            text = args.json
        elif args.body:
            text = sys.stdin.read() if args.body == "-" else Path(args.body).read_text()
        try:
            body = json.loads(text) if text is not None else {}
        except ValueError as exc:
            raise ValueError(f"the body is not JSON: {exc}") from None
        if not isinstance(body, dict):
            raise ValueError("the body must be a JSON object")
        for item in args.sets:
            [(path, value)] = _parse_sets([item]).items()
            if path.split(".")[-1] in ("id", "tenant") or path.endswith("_id"):
                value = item.partition("=")[2]  # ids stay strings, even all digits
            _set_path(body, path, value)
    except (ValueError, OSError) as exc:
        print(f"newstore-sim action: {exc}", file=sys.stderr)
        return 2
    path = f"/_sim/actions/{quote(args.name, safe='')}"
    if args.tenant:
        path += f"?tenant={quote(args.tenant, safe='')}"
    return call_control("action", "POST", url, path, token, body, timeout=60)
