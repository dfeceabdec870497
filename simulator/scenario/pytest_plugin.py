"""pytest front end: scenario files as test items, and fixtures that give a test the
simulator, a fresh tenant and the flows.

    pytest --newstore-sim-scenarios scenarios/ --newstore-sim-target http://host:9000/events
    def test_mine(newstore_sim, newstore_tenant):
        flows.cash_and_carry(newstore_sim, newstore_tenant)

Without --newstore-sim-url (or NEWSTORE_SIM_URL) the plugin starts a simulator for the
session. Loaded through the `pytest11` entry point; it does nothing until used.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from simulator.scenario import processes
from simulator.scenario.client import SimClient
from simulator.scenario.engine import ScenarioResult, Target
from simulator.scenario.loader import ScenarioFileError, load_file
from simulator.scenario.runner import clock_scale_of, run_one, tenant_for


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("newstore-sim", "NewStore simulator scenarios")
    group.addoption("--newstore-sim-scenarios", action="append", default=[], metavar="PATH",
                    help="collect the scenario files under PATH as tests (repeatable)")
    group.addoption("--newstore-sim-url", default=os.environ.get("NEWSTORE_SIM_URL"),
                    help="a running simulator (default: start one for the session)")
    group.addoption("--newstore-sim-target", default=os.environ.get("NEWSTORE_SIM_TARGET"),
                    help="the integration's Event Stream callback URL")
    group.addoption("--newstore-sim-api-key",
                    default=os.environ.get("NEWSTORE_SIM_TARGET_API_KEY"),
                    help="api_key the simulator sends to the integration")
    group.addoption("--newstore-sim-reference", action="store_true",
                    help="test the reference integration from examples/")


class _Session:
    """The simulator (and reference integration) shared by a test session, started lazily."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.stack = ExitStack()
        self.sim: SimClient | None = None
        self.target: Target | None = None
        self.scale = 1.0
        self.run_id = "pt" + secrets.token_hex(3)

    def start(self) -> tuple[SimClient, Target]:
        if self.sim is None:
            opt = self.config.getoption
            self.sim, target_url, key = processes.start_bench(
                self.stack, sim_url=opt("--newstore-sim-url"),
                client=(os.environ.get("NEWSTORE_SIM_CLIENT_ID"),
                        os.environ.get("NEWSTORE_SIM_CLIENT_SECRET")),
                control_token=os.environ.get("SIM_CONTROL_TOKEN"),
                target_url=opt("--newstore-sim-target"), api_key=opt("--newstore-sim-api-key"),
                reference=opt("--newstore-sim-reference"))
            self.target = Target(target_url, key)
            self.scale = clock_scale_of(self.sim)
        assert self.target is not None
        return self.sim, self.target


_KEY = pytest.StashKey[_Session]()


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_KEY] = _Session(config)
    for path in config.getoption("--newstore-sim-scenarios"):
        if path not in config.args:  # collected without being named again as an argument
            config.args.append(path)


def pytest_unconfigure(config: pytest.Config) -> None:
    if _KEY in config.stash:
        config.stash[_KEY].stack.close()


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    roots = [Path(p).resolve() for p in parent.config.getoption("--newstore-sim-scenarios")]
    if file_path.suffix not in (".yaml", ".yml") or not roots:
        return None
    here = file_path.resolve()
    if any(here == r or r in here.parents for r in roots):
        return ScenarioFile.from_parent(parent, path=file_path)
    return None


class ScenarioFile(pytest.File):
    """A scenario file: one test item."""

    def collect(self) -> Iterator[pytest.Item]:
        try:
            scenario = load_file(self.path)
        except ScenarioFileError as e:
            raise self.CollectError(str(e)) from None
        yield ScenarioItem.from_parent(self, name=scenario.name, scenario=scenario)


class ScenarioFailed(Exception):
    def __init__(self, result: ScenarioResult) -> None:
        self.result = result


class ScenarioItem(pytest.Item):
    """One scenario run against the session's simulator and integration."""

    def __init__(self, *, scenario: Any, **kw: Any) -> None:
        super().__init__(**kw)
        self.scenario = scenario

    def runtest(self) -> None:
        session = self.config.stash[_KEY]
        sim, target = session.start()
        result = run_one(self.scenario, sim, target, tenant_for(self.scenario, session.run_id),
                         session.scale)
        if result.status != "passed":
            raise ScenarioFailed(result)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException],
                     style: Any = None) -> str:
        if isinstance(excinfo.value, ScenarioFailed):
            r = excinfo.value.result
            lines = [f"scenario {r.name} {r.status} (tenant {r.tenant})"]
            lines += [f"  {f.label} ({Path(r.path).name}:{f.line}): {f.error}"
                      for f in r.failures]
            return "\n".join(lines)
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, f"scenario: {self.name}"


@pytest.fixture(scope="session")
def newstore_sim(request: pytest.FixtureRequest) -> SimClient:
    """A client of the session's simulator (started if no URL was given)."""
    return request.config.stash[_KEY].start()[0]


@pytest.fixture
def newstore_tenant(newstore_sim: SimClient, request: pytest.FixtureRequest) -> str:
    """A tenant of its own for the test, with a freshly generated world."""
    session = request.config.stash[_KEY]
    name = f"{session.run_id}-{request.node.name}"
    safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in name)[:63]
    answer = newstore_sim.control("POST", "/seed", safe, json={"seed": 1, "key": "scenario",
                                                                   "tenant": safe})
    assert answer.ok(), answer.describe()
    return safe
