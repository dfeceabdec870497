"""Benchmark: requests/s of the sample GraphQL query and GET /v0/orders/{id} against a
trivial endpoint on the same uvicorn server, start-up time and memory.

Not a test. Run:  .venv/bin/python loadtests/bench_platform.py [--seconds 10] [--clients 4]
It starts `newstore-sim serve` on a free port with a fresh database, so start-up includes
generating the default world. Targets (issue 2): a/c >= 0.5, b/c >= 0.7, start-up < 3 s,
RSS < 200 MB.

Server and load generator share every CPU, as the figures of earlier sessions did; with
--pin (two or more CPUs) the server runs on CPU 0 and the load generator on the others, so
the client takes no CPU time from the server, but the server's work outside the GIL (SQLite
I/O, the journal writer) loses the second core, which /health does not need. Cases run
interleaved in 1-second rounds; a ratio is the median of its rounds'.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_ORDER_ID = "012345Ab-CdEf-GhIj-KlMn-OpQrStUvWxYz"
CLIENT_ID, CLIENT_SECRET = "bench", "bench-secret"


def sample_query() -> str:
    """The sample query of the returns playbook, exactly as NewStore's docs print it."""
    text = (Path(__file__).resolve().parent / "sample_query.graphql").read_text()
    return text


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process, every thread included."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def request(conn: http.client.HTTPConnection, method: str, path: str, body: bytes | None,
            headers: dict[str, str]) -> int:
    conn.request(method, path, body=body, headers=headers)
    resp = conn.getresponse()
    resp.read()
    return resp.status


def measure(port: int, method: str, path: str, body: bytes | None, headers: dict[str, str],
            seconds: float, clients: int) -> tuple[float, int]:
    """Requests per second over `clients` keep-alive connections for `seconds`, and how many
    requests that was."""
    counts = [0] * clients
    errors: list[str] = []
    stop = time.perf_counter() + seconds

    def worker(n: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        while time.perf_counter() < stop:
            status = request(conn, method, path, body, headers)
            if status != 200:
                errors.append(f"{path}: HTTP {status}")
                return
            counts[n] += 1
        conn.close()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise SystemExit(f"benchmark request failed: {errors[0]}")
    return sum(counts) / (time.perf_counter() - started), sum(counts)


def run(args: argparse.Namespace, extra_env: dict[str, str]) -> dict[str, float]:
    """Start a fresh server, measure every case, stop it; rates plus start-up and RSS."""
    port = free_port()
    db = Path(tempfile.mkdtemp()) / "bench.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIM_")}
    env["SIM_API_CLIENTS"] = f"{CLIENT_ID}:{CLIENT_SECRET}"
    env.update(extra_env)
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "simulator", "serve", "--port", str(port), "--db", str(db),
         "--log-level", "warning"], cwd=ROOT, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        preexec_fn=(lambda: os.sched_setaffinity(0, SERVER_CPUS)) if args.pin else None)
    try:
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
                if request(conn, "GET", "/health", None, {}) == 200:
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.perf_counter() - t0 > 60:
                raise SystemExit("server did not start")
            time.sleep(0.02)
        startup = time.perf_counter() - t0
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        form = (f"grant_type=client_credentials&client_id={CLIENT_ID}"
                f"&client_secret={CLIENT_SECRET}").encode()
        conn.request("POST", "/auth/realms/dodici/protocol/openid-connect/token", body=form,
                     headers={"Content-Type": "application/x-www-form-urlencoded"})
        token = json.loads(conn.getresponse().read())["access_token"]
        auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        gql = json.dumps({"query": sample_query()}).encode()
        cases = {
            "c": ("GET", "/health", None, {}),
            "a": ("POST", "/api/v1/org/data/query", gql, auth),
            "b": ("GET", f"/v0/orders/{SAMPLE_ORDER_ID}", None, auth),
        }
        for method, path, body, headers in cases.values():  # warm up every path
            measure(port, method, path, body, headers, 0.5, 1)
        # interleaved in rounds (c a b c a b ...), so that load from other processes, which
        # comes and goes, falls on every case alike rather than on whichever ran then
        rounds = max(1, round(args.seconds))
        rates: dict[str, list[float]] = {name: [] for name in cases}
        cpu = dict.fromkeys(cases, 0.0)
        done = dict.fromkeys(cases, 0)
        for _ in range(rounds):
            for name, case in cases.items():
                before = cpu_seconds(proc.pid)
                rate, count = measure(port, *case, args.seconds / rounds, args.clients)
                cpu[name] += cpu_seconds(proc.pid) - before
                done[name] += count
                rates[name].append(rate)
        result = {name: sum(r) / len(r) for name, r in rates.items()}
        for name in cases:  # the server's CPU time per request, whatever the machine lent it
            result[f"{name} cpu"] = cpu[name] / done[name]
        for name in ("a", "b"):  # per round: both cases met the same moment of the machine
            ratios = [x / c for x, c in zip(rates[name], rates["c"], strict=True)]
            result[f"{name}/c"] = statistics.median(ratios)
            result[f"{name}/c range"] = (min(ratios), max(ratios))
        result["rss"] = rss_mb(proc.pid)
        result["startup"] = startup
        return result
    finally:
        proc.terminate()
        proc.wait(timeout=10)


SERVER_CPUS = {0}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0,
                        help="per case, in 1-second rounds")
    parser.add_argument("--clients", type=int, default=4, help="concurrent connections")
    parser.add_argument("--pin", action="store_true",
                        help="server on CPU 0, load generator on the other CPUs")
    args = parser.parse_args()
    cpus = os.sched_getaffinity(0)
    args.pin = args.pin and len(cpus) >= 2 and SERVER_CPUS < cpus
    if args.pin:
        os.sched_setaffinity(0, cpus - SERVER_CPUS)
    r = run(args, {})
    raw = run(args, {"SIM_GRAPHQL_RESPONSE_CACHE": "false"})
    quiet = run(args, {"SIM_JOURNAL": "false"})
    a, b, c = r["a"], r["b"], r["c"]
    ok = lambda good: "ok" if good else "MISSED"  # noqa: E731
    where = (f"server on CPU {sorted(SERVER_CPUS)}, load on CPUs {sorted(cpus - SERVER_CPUS)}"
             if args.pin else f"{len(cpus)} CPUs shared by server and load")
    print(f"newstore-sim platform benchmark ({args.clients} connections, "
          f"{args.seconds:g} s per case, {where})")
    print(f"  c  GET /health (baseline)          {c:8.0f} req/s")
    print(f"  a  POST GraphQL sample query       {a:8.0f} req/s")
    print(f"  b  GET /v0/orders/{{id}}             {b:8.0f} req/s")
    for name, target in (("a", 0.5), ("b", 0.7)):
        low, high = r[f"{name}/c range"]
        print(f"  ratio {name}/c  {r[f'{name}/c']:5.2f}   (target >= {target})  "
              f"{ok(r[f'{name}/c'] >= target)}   rounds {low:.2f}-{high:.2f}")
    print(f"  server CPU per request: c {r['c cpu'] * 1000:.2f} ms, a {r['a cpu'] * 1000:.2f} ms,"
          f" b {r['b cpu'] * 1000:.2f} ms; requests per CPU-second a/c "
          f"{r['c cpu'] / r['a cpu']:.2f}, b/c {r['c cpu'] / r['b cpu']:.2f}")
    print(f"  start-up to first answer  {r['startup']:5.2f} s  (target < 3 s)  "
          f"{ok(r['startup'] < 3)}")
    print(f"  server RSS after the run  {r['rss']:5.0f} MB (target < 200 MB)  "
          f"{ok(r['rss'] < 200)}")
    print("  with SIM_GRAPHQL_RESPONSE_CACHE=false (every query executed), on a second server:")
    print(f"    c {raw['c']:8.0f} req/s   a {raw['a']:8.0f} req/s   ratio a/c {raw['a/c']:5.2f}")
    print("  with SIM_JOURNAL=false (no journal of requests), on a third server:")
    print(f"    c {quiet['c']:8.0f} req/s   a {quiet['a']:8.0f} req/s   b {quiet['b']:8.0f} req/s"
          f"   ratio a/c {quiet['a/c']:5.2f}   ratio b/c {quiet['b/c']:5.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
