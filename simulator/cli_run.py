"""`newstore-sim run`: replay the scenario library against an integration and report."""

from __future__ import annotations

import argparse
import os
import sys
from contextlib import ExitStack
from pathlib import Path

RUN_EPILOG = """\
examples:
  newstore-sim run --reference                  # the library against the reference integration
  newstore-sim run scenarios/ --target http://127.0.0.1:9000/events --api-key s3cret
  newstore-sim run scenarios/return-erp-down.yaml --target URL --junit report.xml
  newstore-sim run --list                        # what the library holds
  newstore-sim run --sim http://127.0.0.1:8082 --client-id ID --client-secret S --target URL

Without --sim the runner starts its own simulator (fresh database, scaled clock, fast retries)
and stops it at the end. Each scenario runs in its own tenant, independent ones in parallel.
Exit status: 0 all passed, 1 a scenario failed, 2 bad arguments or scenario files, or a
process that could not start.
"""


def default_library() -> list[str]:
    """./scenarios when it exists, else the library beside the package (source checkout)."""
    here = Path("scenarios")
    if here.is_dir():
        return [str(here)]
    bundled = Path(__file__).resolve().parents[1] / "scenarios"
    return [str(bundled)] if bundled.is_dir() else [str(here)]


def unreachable(url: str) -> str | None:
    """Why nothing listens at the URL's host and port (None when something does)."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "not an http(s) URL"
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname, port), timeout=3):
            return None
    except OSError as e:
        return e.strerror or e.__class__.__name__


def add_run(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    env = os.environ.get
    cmd = sub.add_parser(
        "run", help="replay scenarios against an integration; JUnit and JSON reports",
        description="Replay NewStore business flows (scenario files) against an integration\n"
                    "and check what it visibly did: events acknowledged, ERP records, API\n"
                    "calls, OMS answers. Prints a pass/fail table with reasons and timings.",
        epilog=RUN_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    cmd.add_argument("paths", nargs="*", metavar="FILE|DIR",
                     help="scenario files or directories (default ./scenarios, else the "
                          "library shipped with the source)")
    who = cmd.add_argument_group("the integration under test")
    who.add_argument("--target", metavar="URL", default=env("NEWSTORE_SIM_TARGET"),
                     help="its Event Stream callback URL, registered in each scenario's "
                          "tenant (NEWSTORE_SIM_TARGET)")
    who.add_argument("--api-key", metavar="KEY", default=env("NEWSTORE_SIM_TARGET_API_KEY"),
                     help="api_key sent to it as `Authorization: Bearer KEY` "
                          "(NEWSTORE_SIM_TARGET_API_KEY)")
    who.add_argument("--integration-id", default="under-test", metavar="ID",
                     help="id of its Event Stream integration (default under-test)")
    who.add_argument("--no-register", action="store_true",
                     help="it registers itself: nothing is registered, every scenario runs "
                          "in --tenant, one at a time")
    who.add_argument("--reference", action="store_true",
                     help="start the reference integration from examples/ and test it")
    who.add_argument("--flaw", action="append", default=[], metavar="NAME",
                     help="with --reference: break it on purpose (ignore-erp-down, "
                          "not-idempotent, ignore-missing-payment), to see the checks fail")
    sim = cmd.add_argument_group("the simulator")
    sim.add_argument("--sim", metavar="URL", default=env("NEWSTORE_SIM_URL"),
                     help="a running simulator (NEWSTORE_SIM_URL); default: start one")
    sim.add_argument("--client-id", default=env("NEWSTORE_SIM_CLIENT_ID"),
                     help="API client of that simulator (NEWSTORE_SIM_CLIENT_ID)")
    sim.add_argument("--client-secret", default=env("NEWSTORE_SIM_CLIENT_SECRET"),
                     help="its secret (NEWSTORE_SIM_CLIENT_SECRET)")
    sim.add_argument("--control-token", default=env("SIM_CONTROL_TOKEN"), metavar="TOKEN",
                     help="its control token, if it has one (SIM_CONTROL_TOKEN)")
    sim.add_argument("--clock-scale", type=float, default=60.0, metavar="X",
                     help="for a simulator the runner starts: simulated seconds per real "
                          "second (default 60: a 10-minute PSP delay takes 10 s)")
    how = cmd.add_argument_group("the run")
    how.add_argument("--jobs", "-j", type=int, default=4, metavar="N",
                     help="scenarios run at once, each in its own tenant (default 4)")
    how.add_argument("--tenant", metavar="NAME",
                     help="run every scenario in this tenant, one at a time")
    how.add_argument("--only", action="append", default=[], metavar="TEXT",
                     help="run the scenarios whose name or tags contain TEXT (repeatable)")
    how.add_argument("--junit", metavar="PATH", help="write a JUnit XML report")
    how.add_argument("--json", metavar="PATH", dest="json_path", help="write a JSON report")
    how.add_argument("--list", action="store_true", help="list the scenarios and exit")
    how.add_argument("--check", action="store_true",
                     help="only check the scenario files against the schema")


def run(args: argparse.Namespace) -> int:
    """Load, start what is needed, run, report; the exit status is the verdict."""
    from simulator.scenario import processes, reports
    from simulator.scenario.engine import Target
    from simulator.scenario.loader import ScenarioFileError, load_paths
    from simulator.scenario.runner import run_all

    out = reports.console()
    err = reports.console(sys.stderr)
    try:
        scenarios = load_paths(args.paths or default_library())
    except ScenarioFileError as e:
        err.print(f"newstore-sim run: invalid scenario: {e}", markup=False)
        return 2
    if args.only:
        scenarios = [s for s in scenarios if any(
            t in s.name or t in s.doc.get("tags", []) for t in args.only)]
    if not scenarios:
        err.print("newstore-sim run: no scenario to run", markup=False)
        return 2
    if args.list or args.check:
        for s in scenarios:
            first = s.description.strip().splitlines()[0] if s.description.strip() else ""
            out.print(f"{s.name:<40} {first}", markup=False, overflow="fold")
        if args.check:
            out.print(f"{len(scenarios)} scenario file(s) valid", markup=False)
        return 0
    if args.no_register and not args.tenant:
        err.print("newstore-sim run: --no-register needs --tenant (the tenant your "
                  "integration registered in)", markup=False)
        return 2
    if not (args.reference or args.target or args.no_register):
        err.print("newstore-sim run: say what to test: --target URL, or --reference",
                  markup=False)
        return 2
    if args.sim and not (args.client_id and args.client_secret):
        err.print("newstore-sim run: --sim needs that simulator's API client: --client-id and "
                  "--client-secret (or NEWSTORE_SIM_CLIENT_ID / NEWSTORE_SIM_CLIENT_SECRET); "
                  "without --sim the runner starts its own simulator", markup=False)
        return 2
    with ExitStack() as stack:
        if not args.sim:
            out.print(f"starting a simulator (clock x{args.clock_scale:g}) ...", markup=False)
        try:
            sim, target_url, api_key = processes.start_bench(
                stack, sim_url=args.sim, client=(args.client_id, args.client_secret),
                control_token=args.control_token, target_url=args.target,
                api_key=args.api_key, reference=args.reference, flaws=tuple(args.flaw),
                clock_scale=args.clock_scale)
        except processes.StartFailed as e:
            err.print(f"newstore-sim run: {e}", markup=False)
            return 2
        if args.reference:
            out.print(f"reference integration at {target_url}"
                      + (f" (flaws: {', '.join(args.flaw)})" if args.flaw else ""),
                      markup=False)
        sim_url = sim.url
        if not sim.healthy():
            err.print(f"newstore-sim run: no simulator answers at {sim_url}", markup=False)
            return 2
        if target_url and not args.reference:
            problem = unreachable(target_url)
            if problem:
                err.print(f"newstore-sim run: cannot reach the integration at {target_url} "
                          f"({problem}); is it running?", markup=False)
                return 2
        target = Target(target_url, api_key, args.integration_id, not args.no_register)
        who = target_url or "the self-registered integration"
        out.print(f"running {len(scenarios)} scenario(s) against {who} on {sim_url}",
                  markup=False)
        report = run_all(scenarios, sim, target, jobs=args.jobs, tenant=args.tenant,
                         progress=reports.progress_line(out, len(scenarios)))
    out.print(reports.table(report))
    out.print(reports.summary(report), markup=False)
    if args.junit:
        reports.write_junit(report, args.junit)
    if args.json_path:
        reports.write_json(report, args.json_path)
    return 0 if report.passed else 1
