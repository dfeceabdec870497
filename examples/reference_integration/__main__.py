"""Command line and start-up: wire the clients, the parked queue and the webhook app on uvicorn."""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
import tempfile
from pathlib import Path

import uvicorn
from a2wsgi import WSGIMiddleware
from app import create_app
from erp import ErpClient
from newstore import NewStoreClient, NewStoreUnavailable
from parking import Retrier, Store
from playbooks import PLAYBOOKS
from processing import FLAWS, Processor

DESCRIPTION = """\
Reference ERP integration for newstore-sim: receives NewStore's Event Stream and writes cash
sales, sales orders, cash refunds and credit memos to the ERP, following NewStore's ERP
playbooks. Talks to the simulator only over HTTP.

The first line on stdout is exactly `reference-integration listening on http://HOST:PORT`.
"""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python examples/reference_integration",
                                description=DESCRIPTION,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sim", required=True, metavar="URL",
                   help="base URL of the simulator (NewStore API, GraphQL, token endpoint)")
    p.add_argument("--erp", metavar="URL", help="base URL of the ERP (default <sim>/erp)")
    p.add_argument("--erp-api-key", default="reference-integration-key", metavar="KEY",
                   help="bearer key for the ERP (default reference-integration-key)")
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=9000,
                   help="port to bind (default 9000; 0 picks a free one)")
    p.add_argument("--callback-base", metavar="URL",
                   help="URL the simulator reaches this app at (default http://HOST:PORT)")
    p.add_argument("--api-key", metavar="KEY",
                   help="require `Authorization: Bearer KEY` on POST /events (and register it)")
    p.add_argument("--client-id", default=os.environ.get("NEWSTORE_CLIENT_ID"),
                   help="API client id for tokens (default env NEWSTORE_CLIENT_ID)")
    p.add_argument("--client-secret", default=os.environ.get("NEWSTORE_CLIENT_SECRET"),
                   help="API client secret (default env NEWSTORE_CLIENT_SECRET)")
    p.add_argument("--register", action="append", default=[], metavar="TENANT",
                   help="register the Event Stream integration in TENANT at start-up "
                        "(repeatable)")
    p.add_argument("--integration-id", default="reference-integration",
                   help="id of the registered integration (default reference-integration)")
    p.add_argument("--retry-profile", metavar="NAME",
                   help="simulator retry profile of the registered integration (e.g. fast)")
    p.add_argument("--db", metavar="PATH",
                   help="SQLite file for parked events and processed keys "
                        "(default a new file in a temporary directory)")
    p.add_argument("--park-interval", type=float, default=1.0, metavar="SECONDS",
                   help="retry parked events this often (default 1.0)")
    p.add_argument("--park-max-age", type=float, default=3600.0, metavar="SECONDS",
                   help="give a parked event up (listed as failed) after this long "
                        "(default 3600)")
    p.add_argument("--flaw", action="append", default=[], choices=FLAWS,
                   help="break the integration on purpose, for testing the simulator's checks "
                        "(repeatable): ignore-erp-down, not-idempotent, ignore-missing-payment")
    p.add_argument("--log-level", default="warning",
                   choices=["critical", "error", "warning", "info", "debug"],
                   help="log level (default warning)")
    args = p.parse_args(argv)
    if not args.client_id or not args.client_secret:
        p.error("--client-id and --client-secret (or NEWSTORE_CLIENT_ID/SECRET) are required")
    if args.park_interval <= 0 or args.park_max_age <= 0:
        p.error("--park-interval and --park-max-age must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    sim = args.sim.rstrip("/")
    db = args.db or str(Path(tempfile.mkdtemp(prefix="refint-")) / "reference-integration.db")
    store = Store(db)
    newstore = NewStoreClient(sim, args.client_id, args.client_secret)
    processor = Processor(newstore, ErpClient(args.erp or f"{sim}/erp", args.erp_api_key),
                          store, frozenset(args.flaw))
    retrier = Retrier(store, processor.retry_parked, args.park_interval, args.park_max_age)

    sock = socket.socket(socket.AF_INET6 if ":" in args.host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    sock.listen(128)  # connections queue from here on, before uvicorn serves them
    port = sock.getsockname()[1]
    host = f"[{args.host}]" if ":" in args.host else args.host
    url = f"http://{host}:{port}"
    callback = f"{(args.callback_base or url).rstrip('/')}/events"

    for tenant in args.register:
        try:
            newstore.register_integration(tenant, args.integration_id, callback, args.api_key,
                                          sorted(PLAYBOOKS), args.retry_profile)
        except NewStoreUnavailable as exc:
            print(f"reference-integration: cannot register in {tenant}: {exc}", file=sys.stderr)
            return 1

    retrier.start()
    print(f"reference-integration listening on {url}", flush=True)
    config = uvicorn.Config(WSGIMiddleware(create_app(processor, args.api_key)),
                            log_level=args.log_level, access_log=False)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        retrier.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
