"""Benchmark: Event Stream delivery rate and published-to-acknowledged latency, against a
bare requests.Session POST loop to the same sink.

Not a test. Run:  .venv/bin/python loadtests/bench_eventstream.py [--events 10000]
It starts a sink (a raw ASGI app on uvicorn that answers 200 at once) and `newstore-sim
serve` on a fresh database, both on free ports. Targets (issue 3, this 2-core machine):
delivered rate >= 0.8 of the baseline and >= 1,000 events/s; p99 published-to-acknowledged
< 50 ms at 300 events/s offered.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
CLIENT_ID, CLIENT_SECRET = "bench", "bench-secret"

SINK = '''
async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"ok"})
'''


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            requests.get(url, timeout=1)
            return
        except requests.ConnectionError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"{url} did not come up") from None
            time.sleep(0.05)


def start_sink(workdir: Path) -> tuple[subprocess.Popen, str]:
    (workdir / "bench_sink.py").write_text(SINK)
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "bench_sink:app", "--port", str(port),
         "--log-level", "warning", "--no-access-log"], cwd=workdir,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/hook"
    wait_http(url, proc)
    return proc, url


def start_sim(workdir: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIM_")}
    env["SIM_API_CLIENTS"] = f"{CLIENT_ID}:{CLIENT_SECRET}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "simulator", "serve", "--port", str(port),
         "--db", str(workdir / "bench.db"), "--log-level", "warning"], cwd=ROOT, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    wait_http(f"{url}/health", proc)
    return proc, url


def baseline(sink: str, seconds: float) -> float:
    """Events/s of a bare requests.Session POST loop with the same envelope."""
    session = requests.Session()
    body = (b'{"tenant":"dodici","name":"order.opened","published_at":'
            b'"2026-01-01T00:00:00.000Z","payload":{"id":"x","items":[]}}')
    headers = {"Content-Type": "application/json", "Authorization": "Bearer k"}
    sent = 0
    started = time.perf_counter()
    stop = started + seconds
    while time.perf_counter() < stop:
        session.post(sink, data=body, headers=headers, timeout=10).raise_for_status()
        sent += 1
    return sent / (time.perf_counter() - started)


def register(sim: str, token: str, integration_id: str, sink: str) -> None:
    r = requests.post(f"{sim}/api/v1/org/integrations/eventstream",
                      headers={"Authorization": f"Bearer {token}"},
                      json={"id": integration_id, "callback_parameters": {
                          "callback_url": sink, "api_key": "k"}}, timeout=10)
    r.raise_for_status()


def stop_integration(sim: str, token: str, integration_id: str) -> None:
    requests.post(f"{sim}/api/v1/org/integrations/eventstream/{integration_id}/_stop",
                  headers={"Authorization": f"Bearer {token}"}, json={},
                  timeout=10).raise_for_status()


def latency(sim: str, integration_id: str) -> dict:
    r = requests.get(f"{sim}/_sim/eventstream/latency",
                     params={"integration_id": integration_id}, timeout=30)
    r.raise_for_status()
    found = r.json()["integrations"]
    return found[0] if found else {}


def acknowledged(sim: str, integration_id: str) -> int:
    stats = latency(sim, integration_id)
    return stats.get("published_to_acknowledged_ms", {}).get("count", 0)


def emit(sim: str, count: int) -> None:
    r = requests.post(f"{sim}/_sim/events", json={
        "name": "order.opened", "count": count, "payload": {"id": "bench", "items": []}},
        timeout=120)
    r.raise_for_status()


def throughput(sim: str, token: str, sink: str, events: int) -> float:
    """Events/s from the moment a burst is committed until the sink acknowledged all."""
    register(sim, token, "throughput", sink)
    for _ in range(events // 1000):
        emit(sim, 1000)
    # measure from the end of publishing: fan-out of the burst is not delivery
    started = time.perf_counter()
    done_before = acknowledged(sim, "throughput")
    while True:
        done = acknowledged(sim, "throughput")
        if done >= events:
            break
        time.sleep(0.2)
    elapsed = time.perf_counter() - started
    stop_integration(sim, token, "throughput")
    return (events - done_before) / elapsed


def paced(sim: str, token: str, sink: str, rate: float, seconds: float) -> dict:
    """Publish at a fixed rate (ticks of 20 ms) and read the latency percentiles."""
    register(sim, token, "paced", sink)
    tick = 0.02
    per_tick = max(1, round(rate * tick))
    total = 0
    started = time.perf_counter()
    next_tick = started
    while time.perf_counter() - started < seconds:
        emit(sim, per_tick)
        total += per_tick
        next_tick += tick
        pause = next_tick - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
    offered = total / (time.perf_counter() - started)
    while acknowledged(sim, "paced") < total:
        time.sleep(0.2)
    stats = latency(sim, "paced")
    return {"offered": offered, **stats["published_to_acknowledged_ms"],
            "first": stats["published_to_first_attempt_ms"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10000, help="burst size (x1000)")
    parser.add_argument("--rate", type=float, default=300.0, help="offered events/s")
    parser.add_argument("--seconds", type=float, default=10.0, help="paced run length")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp())
    sink_proc, sink = start_sink(workdir)
    sim_proc = None
    try:
        base = baseline(sink, 5.0)
        sim_proc, sim = start_sim(workdir)
        token = requests.post(
            f"{sim}/auth/realms/dodici/protocol/openid-connect/token",
            data={"grant_type": "client_credentials", "client_id": CLIENT_ID,
                  "client_secret": CLIENT_SECRET}, timeout=10).json()["access_token"]
        rate = throughput(sim, token, sink, args.events)
        lat = paced(sim, token, sink, args.rate, args.seconds)
    finally:
        for proc in (sim_proc, sink_proc):
            if proc is not None:
                proc.terminate()
                proc.wait(timeout=10)
    ok = lambda good: "ok" if good else "MISSED"  # noqa: E731
    print(f"newstore-sim Event Stream benchmark ({os.cpu_count()} cores shared by simulator, "
          "sink and client)")
    print(f"  baseline: bare requests.Session POST loop   {base:8.0f} events/s")
    print(f"  dispatcher, burst of {args.events:,}            {rate:8.0f} events/s")
    print(f"  ratio {rate / base:5.2f}  (target >= 0.8)  {ok(rate / base >= 0.8)};  "
          f"rate target >= 1000/s  {ok(rate >= 1000)}")
    print(f"  paced at {lat['offered']:.0f} events/s offered for {args.seconds:g} s "
          f"({lat['count']} events), published to acknowledged:")
    print(f"    p50 {lat['p50']:.1f} ms   p95 {lat['p95']:.1f} ms   p99 {lat['p99']:.1f} ms   "
          f"max {lat['max']:.1f} ms   (p99 target < 50 ms)  {ok(lat['p99'] < 50)}")
    print(f"    published to first attempt: p50 {lat['first']['p50']:.1f} ms   "
          f"p99 {lat['first']['p99']:.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
