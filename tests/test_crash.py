"""Nothing accepted into the outbox is lost: SIGKILL the server in the middle of a burst,
start it again on the same database, and every event still reaches the sink."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from simulator.eventstream.dispatcher import IDEMPOTENCY_HEADER
from tests.conftest import CLIENT

ROOT = Path(__file__).resolve().parent.parent
BURST = 5000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(db: Path, port: int) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIM_")}
    env.update(SIM_API_CLIENTS=f"{CLIENT[0]}:{CLIENT[1]}", SIM_RETRY_PROFILE="fast",
               SIM_WORLD_ORDERS="20", SIM_WORLD_PRODUCTS="20", SIM_WORLD_CUSTOMERS="10")
    proc = subprocess.Popen(
        [sys.executable, "-m", "simulator", "serve", "--db", str(db), "--port", str(port),
         "--log-level", "warning"], cwd=ROOT, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while True:
        try:
            if requests.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return proc
        except requests.ConnectionError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError("the simulator did not start")
        time.sleep(0.05)


def test_sigkill_mid_burst_loses_no_event(tmp_path, httpserver: HTTPServer):
    received: list[str] = []
    lock = threading.Lock()

    def sink(request: Request) -> Response:
        with lock:
            received.append(request.headers[IDEMPOTENCY_HEADER])
            assert json.loads(request.get_data())["name"] == "order.opened"
        return Response("ok")

    httpserver.expect_request("/sink").respond_with_handler(sink)
    db = tmp_path / "crash.db"
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    proc = _serve(db, port)
    try:
        token = requests.post(f"{url}/auth/realms/dodici/protocol/openid-connect/token",
                              data={"grant_type": "client_credentials", "client_id": CLIENT[0],
                                    "client_secret": CLIENT[1]}, timeout=10).json()
        headers = {"Authorization": f"Bearer {token['access_token']}"}
        r = requests.post(f"{url}/api/v1/org/integrations/eventstream", headers=headers,
                          json={"id": "crash-sink", "callback_parameters": {
                              "callback_url": httpserver.url_for("/sink")}}, timeout=10)
        assert r.status_code in (200, 201), r.text
        # a burst of events, told apart by their ids (the idempotency key)
        sent: set[str] = set()
        for _ in range(BURST // 1000):
            body = {"name": "order.opened", "count": 1000, "payload": {"id": "crash"}}
            r = requests.post(f"{url}/_sim/events", json=body, timeout=60)
            assert r.status_code == 201, r.text
            sent.update(e["id"] for e in r.json()["events"])
        assert len(sent) == BURST
        deadline = time.monotonic() + 60
        while len(received) < BURST // 10:
            assert time.monotonic() < deadline, "delivery did not start"
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        at_kill = len(received)
        assert at_kill < BURST, "the burst was over before the kill; make it bigger"
        proc = _serve(db, port)
        deadline = time.monotonic() + 120
        while True:
            with lock:
                got = set(received)
            if got >= sent:
                break
            assert time.monotonic() < deadline, f"{len(sent - got)} of {BURST} events missing"
            time.sleep(0.1)
        print(f"\nkilled after {at_kill} deliveries; {len(received)} received in all, "
              f"{len(received) - len(got)} duplicates")
    finally:
        proc.kill()
        proc.wait(timeout=10)
