"""Runs many scenarios against one simulator and one integration: each in its own tenant,
independent ones in parallel, those that move the shared clock alone."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import UTC, datetime

from simulator.scenario.client import SimClient
from simulator.scenario.engine import ScenarioResult, ScenarioRun, Target, seconds
from simulator.scenario.loader import Scenario

Progress = Callable[[ScenarioResult], None]
DEFAULT_TIMEOUT = 60.0


@dataclass
class RunReport:
    """The results of one run, in the order the scenarios were given."""

    results: list[ScenarioResult]
    started_at: str
    seconds: float
    sim_url: str
    target_url: str | None
    clock_scale: float = 1.0
    run_id: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return all(r.status == "passed" for r in self.results)

    def counts(self) -> dict[str, int]:
        out = {"total": len(self.results), "passed": 0, "failed": 0, "error": 0}
        for r in self.results:
            out[r.status] += 1
        return out


def tenant_for(scenario: Scenario, run_id: str) -> str:
    """`<run>-<scenario>`: each scenario's own tenant, cut to the tenant name limit."""
    return f"{run_id}-{scenario.name}".replace(".", "-")[:63]


def run_one(scenario: Scenario, sim: SimClient, target: Target, tenant: str,
            clock_scale: float = 1.0) -> ScenarioResult:
    """One scenario, within its timeout (default 60 s)."""
    limit = seconds(scenario.doc.get("timeout"), DEFAULT_TIMEOUT)
    return ScenarioRun(scenario, sim, target, tenant, clock_scale,
                       deadline=time.monotonic() + limit).run()


def clock_scale_of(sim: SimClient) -> float:
    """Simulated seconds per real second, to turn event timestamps into real latency."""
    answer = sim.control("GET", "/clock", "runner")
    if answer.ok() and isinstance(answer.body, dict) and answer.body.get("mode") == "scaled":
        return float(answer.body.get("scale") or 1.0)
    return 1.0


def run_all(scenarios: list[Scenario], sim: SimClient, target: Target, *, jobs: int = 4,
            tenant: str | None = None, progress: Progress | None = None,
            run_id: str | None = None) -> RunReport:
    """Run every scenario; `tenant` puts them all, one at a time, in that one tenant."""
    started, t0 = datetime.now(UTC), time.perf_counter()
    run_id = run_id or "run" + secrets.token_hex(3)
    scale = clock_scale_of(sim)
    results: dict[int, ScenarioResult] = {}

    def one(n: int) -> ScenarioResult:
        s = scenarios[n]
        result = run_one(s, sim, target, tenant or tenant_for(s, run_id), scale)
        if progress:
            progress(result)
        return result

    shared = [n for n, s in enumerate(scenarios) if not s.exclusive]
    alone = [n for n, s in enumerate(scenarios) if s.exclusive]
    if tenant is not None or jobs <= 1:
        alone, shared = list(range(len(scenarios))), []
    if shared:
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            futures = {pool.submit(one, n): n for n in shared}
            for future in as_completed(futures):
                results[futures[future]] = future.result()
    for n in alone:
        results[n] = one(n)
    return RunReport([results[n] for n in range(len(scenarios))],
                     started.isoformat(timespec="seconds").replace("+00:00", "Z"),
                     time.perf_counter() - t0, sim.url, target.url, scale, run_id)
