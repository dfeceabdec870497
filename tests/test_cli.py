"""The command line: help for every command, and `serve` as a new user runs it."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time

import pytest
import requests

from simulator.cli import build_parser, main


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_every_command_has_help(capsys):
    with pytest.raises(SystemExit) as top:
        main(["--help"])
    assert top.value.code == 0
    assert "serve" in capsys.readouterr().out
    commands = build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    for name in commands:
        with pytest.raises(SystemExit) as sub:
            main([name, "--help"])
        assert sub.value.code == 0
        assert "--" in capsys.readouterr().out


def test_bad_flag_value_is_a_clear_error(capsys):
    assert main(["serve", "--api-client", "nocolon", "--db", ":memory:"]) == 2
    assert "ID:SECRET" in capsys.readouterr().err


@pytest.mark.server
def test_serve_starts_prints_demo_client_and_answers(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIM_")}
    env.update(SIM_WORLD_ORDERS="40", SIM_WORLD_PRODUCTS="30")
    proc = subprocess.Popen(
        [sys.executable, "-m", "simulator", "serve", "--port", str(port), "--db",
         str(tmp_path / "sim.db"), "--tenant", "acme", "--log-level", "warning"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.time() + 30
        while True:
            try:
                if requests.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert time.time() < deadline, "server did not become ready"
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            time.sleep(0.1)
        lines = []
        while not any("client_secret=" in line for line in lines):
            lines.append(proc.stdout.readline())  # type: ignore[union-attr]
        found = re.search(r"client_id=(\S+) client_secret=(\S+)", "".join(lines))
        assert found
        token = requests.post(
            f"{base}/auth/realms/acme/protocol/openid-connect/token",
            data={"grant_type": "client_credentials", "client_id": found[1],
                  "client_secret": found[2]}, timeout=5).json()["access_token"]
        assert requests.get(f"{base}/health").json()["tenant"] == "acme"
        r = requests.get(f"{base}/v0/orders/nope", headers={
            "Authorization": f"Bearer {token}"}, timeout=5)
        assert r.status_code == 404
        assert requests.get(f"{base}/v0/orders/nope", timeout=5).status_code == 401
        assert requests.get(f"{base}/docs/", timeout=5).status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=10)
