"""newstore-sim: the command line."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from simulator import __version__
from simulator.settings import Settings, parse_api_clients


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
    serve.add_argument("--log-level", default="info",
                       choices=["critical", "error", "warning", "info", "debug"],
                       help="uvicorn log level (default info)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the newstore-sim console script."""
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        return serve(args)
    return 2


def serve(args: argparse.Namespace) -> int:
    """Start the platform, print how to reach it, then hand over to uvicorn."""
    import uvicorn

    from simulator.app import create_app
    from simulator.core.store import StoreError
    from simulator.platform.context import Platform

    try:
        overrides = {"host": args.host, "port": args.port, "db": args.db, "seed": args.seed,
                     "tenant": args.tenant}
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
    sys.stdout.flush()
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=args.log_level)
    return 0
