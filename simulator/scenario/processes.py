"""Processes a run may start itself: a simulator on a fresh database, and the reference
integration from examples/ (a separate app, started like any integration would be)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import requests

from simulator.scenario.client import SimClient

RUNNER_CLIENT = ("scenario-runner", "scenario-runner-secret")
REFERENCE_DIR = Path(__file__).resolve().parents[2] / "examples" / "reference_integration"
READY_LINE = "reference-integration listening on "


class StartFailed(Exception):
    """A process the run needs did not come up; the message has its last output."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def stop(proc: subprocess.Popen[Any]) -> None:
    """Terminate a child process, killing it if it does not exit within 10 s."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def simulator(clock_scale: float = 60.0, workdir: Path | None = None) -> Iterator[str]:
    """`newstore-sim serve` on a free port over a new database, with a scaled clock and the
    fast retry profile; yields its URL once /health answers."""
    with tempfile.TemporaryDirectory(prefix="newstore-sim-run-") as tmp:
        base = workdir or Path(tmp)
        port = free_port()
        log = base / "simulator.log"
        cmd = [sys.executable, "-m", "simulator", "serve", "--port", str(port),
               "--db", str(base / "sim.db"), "--api-client", ":".join(RUNNER_CLIENT),
               "--retry-profile", "fast", "--clock", "scaled",
               "--clock-scale", f"{clock_scale:g}"]
        env = {k: v for k, v in os.environ.items() if not k.startswith("SIM_")}
        with log.open("wb") as out:
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                if proc.poll() is not None:
                    raise StartFailed(f"the simulator exited ({proc.returncode}):\n"
                                      f"{_tail(log)}")
                try:
                    if requests.get(f"{url}/health", timeout=1).status_code == 200:
                        break
                except requests.RequestException:
                    pass
                if time.monotonic() > deadline:
                    raise StartFailed(f"the simulator did not answer /health:\n{_tail(log)}")
                time.sleep(0.1)
            yield url
        finally:
            stop(proc)


@contextmanager
def reference_integration(sim_url: str, *, client: tuple[str, str] = RUNNER_CLIENT,
                          api_key: str = "reference-key", flaws: tuple[str, ...] = (),
                          workdir: Path | None = None) -> Iterator[str]:
    """The reference integration from examples/ on a free port; yields its callback URL."""
    if not (REFERENCE_DIR / "__main__.py").exists():
        raise StartFailed(f"the reference integration is not at {REFERENCE_DIR}: --reference "
                          "needs a source checkout of newstore-sim (pip install -e .)")
    with tempfile.TemporaryDirectory(prefix="newstore-sim-ref-") as tmp:
        base = workdir or Path(tmp)
        log = base / "reference.log"
        cmd = [sys.executable, str(REFERENCE_DIR), "--sim", sim_url, "--port", "0",
               "--client-id", client[0], "--client-secret", client[1], "--api-key", api_key,
               "--db", str(base / "reference.db"), "--park-interval", "0.2"]
        for flaw in flaws:
            cmd += ["--flaw", flaw]
        with log.open("wb") as err:
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err)
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline().decode().strip()
            if not line.startswith(READY_LINE):
                proc.wait(timeout=5)
                raise StartFailed(f"the reference integration did not start:\n{line}\n"
                                  f"{_tail(log)}")
            yield line[len(READY_LINE):] + "/events"
        finally:
            stop(proc)


def start_bench(stack: ExitStack, *, sim_url: str | None, client: tuple[str | None, str | None],
                control_token: str | None, target_url: str | None, api_key: str | None,
                reference: bool = False, flaws: tuple[str, ...] = (),
                clock_scale: float = 60.0) -> tuple[SimClient, str | None, str | None]:
    """What a run needs, started on `stack` where not given: a simulator (when no URL) and the
    reference integration (when asked); answers the client, the target URL and its api_key."""
    if not sim_url:
        sim_url = stack.enter_context(simulator(clock_scale))
        client = RUNNER_CLIENT
    if reference:
        api_key = api_key or "reference-key"
        target_url = stack.enter_context(reference_integration(
            sim_url, client=(client[0] or "", client[1] or ""), api_key=api_key, flaws=flaws))
    sim = SimClient(sim_url, client_id=client[0], client_secret=client[1],
                    control_token=control_token)
    return sim, target_url, api_key
