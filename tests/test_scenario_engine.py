"""The scenario engine's parts: file checking with line numbers, references, matchers,
reports, the CLI's exit codes, the flow library, and the pytest and Locust front ends."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from junitparser import JUnitXml

from simulator.scenario import flows, matching, processes
from simulator.scenario.client import SimClient
from simulator.scenario.engine import Outcome, ScenarioResult, seconds
from simulator.scenario.loader import ScenarioFileError, load_file, load_paths
from simulator.scenario.refs import RefError, interpolate
from simulator.scenario.reports import as_dict, write_junit
from simulator.scenario.runner import RunReport
from tests.conftest import CLIENT, make_settings
from tests.server import running_server

ROOT = Path(__file__).resolve().parents[1]
GOOD = """\
name: tiny
description: one action
steps:
  - id: sale
    action: place-order
    with: {kind: cash_and_carry}
expect:
  - result: {of: sale, match: {kind: cash_and_carry}}
"""


def write(tmp_path: Path, text: str, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# -- files ------------------------------------------------------------------------------

def test_a_valid_file_loads_with_its_lines(tmp_path: Path) -> None:
    s = load_file(write(tmp_path, GOOD))
    assert s.name == "tiny" and s.line_of("steps", 0) == 4
    assert s.line_of("expect", 0, "result") == 8


@pytest.mark.parametrize("text,line,field,words", [
    ("name: x\nsteps:\n  - action: place-order\n    colour: red\n", 3, "steps[0]",
     "unknown field ('colour' was unexpected)"),
    ("name: x\nsteps:\n  - action: place-order\n    wait: 2s\n", 3, "steps[0]",
     "a step needs exactly one of action, request"),
    ("name: x\nsteps:\n  - {}\n", 3, "steps[0]", "found none"),
    ("name: x\nsteps:\n  - wait: soon\n", 3, "steps[0].wait", "is not valid"),
    ("name: x\nsteps: []\n", 2, "steps", "should be non-empty"),
    ("steps:\n  - wait: 1\n", 1, "(top level)", "'name' is a required property"),
    ("name: Bad Name\nsteps:\n  - wait: 1\n", 1, "name", "does not match"),
    ("name: x\nsteps:\n  - wait: 1\nexpect:\n  - erp_record: {type: invoices}\n", 5,
     "expect[0].erp_record.type", "is not one of"),
    ("name: x\nsteps:\n  - id: a\n    wait: 1\n  - id: a\n    wait: 1\n", 5,
     "steps[1].id", "used twice"),
    ("name: x\nsteps:\n  - wait: [1\n", 4, "", "not valid YAML"),  # where PyYAML stops
], ids=["unknown-field", "two-kinds", "no-kind", "bad-duration", "no-steps", "no-name",
        "bad-name", "bad-enum", "duplicate-id", "bad-yaml"])
def test_an_invalid_file_names_file_line_and_field(tmp_path: Path, text: str, line: int,
                                                   field: str, words: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ScenarioFileError) as e:
        load_file(path)
    assert e.value.line == line, str(e.value)
    assert e.value.field == field, str(e.value)
    assert words in str(e.value)
    assert str(e.value).startswith(f"{path}:{line}: ")


def test_names_are_unique_in_a_run(tmp_path: Path) -> None:
    write(tmp_path, GOOD, "a.yaml")
    write(tmp_path, GOOD, "b.yaml")
    with pytest.raises(ScenarioFileError, match="also the name in"):
        load_paths([str(tmp_path)])


def test_the_library_is_valid() -> None:
    scenarios = load_paths([str(ROOT / "scenarios")])
    assert scenarios and all(s.description.strip() for s in scenarios)


# -- references and matchers --------------------------------------------------------------

def test_references(monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = {"sale": {"order_id": "o1", "total": 12.5, "items": [{"id": "i1"}]},
           "tenant": "t1"}
    assert interpolate("${sale.total}", ctx) == 12.5  # one reference keeps its type
    assert interpolate("order ${sale.order_id} of ${tenant}", ctx) == "order o1 of t1"
    assert interpolate({"a": ["${sale.items.0.id}", "${sale.items.length}"]}, ctx) == {
        "a": ["i1", 1]}
    monkeypatch.setenv("SCEN_X", "fromenv")
    monkeypatch.delenv("SCEN_MISSING", raising=False)
    assert interpolate("${env:SCEN_X|d}", ctx) == "fromenv"
    assert interpolate("${env:SCEN_MISSING|dflt}", ctx) == "dflt"
    with pytest.raises(RefError, match="SCEN_MISSING is not set"):
        interpolate("${env:SCEN_MISSING}", ctx)
    with pytest.raises(RefError, match="no step with id 'place'"):
        interpolate("${place.order_id}", ctx)
    with pytest.raises(RefError, match=r"not in the result \(it has: items, order_id, total\)"):
        interpolate("${sale.orderid}", ctx)


def test_matchers() -> None:
    record = {"total": 12.5, "items": [{"amount": 5.0}, {"amount": 7.5}], "memo": "late one",
              "payments": []}
    assert matching.check_all(record, {"total": 12.504, "items.length": 2}) == []
    assert matching.check_all(record, {"total": "12.5"}) == []
    assert matching.check_all(record, {"total": 12.52}) == [
        "total is 12.5, expected 12.52"]
    assert matching.check_all(record, {"items": {"sum": "amount", "equals": 12.5}}) == []
    assert matching.check_all(record, {"items": {"sum": "amount", "equals": 13}}) == [
        "sum of items[*].amount is 12.5, expected 13"]
    assert matching.check_all(record, {"payments": {"len": 1}}) == [
        "payments has 0 entries, expected 1"]
    assert matching.check_all(record, {"payments.0.amount": 12.5}) == [
        "payments.0.amount is missing, expected 12.5"]
    assert matching.check_all(record, {"memo": {"contains": "late"}, "total": {"gte": 12},
                                       "refund": {"exists": False}}) == []
    assert matching.check_all(record, {"total": {"one_of": [1, 2]}}) == [
        "total is 12.5, expected one of [1, 2]"]
    assert matching.check_all(record, {"total": {"approx": 12, "tolerance": 0.1}}) == [
        "total is 12.5, expected 12 ± 0.1"]


def test_durations() -> None:
    assert seconds("500ms") == 0.5 and seconds("2s") == 2 and seconds("1.5m") == 90
    assert seconds(3) == 3.0 and seconds(None, 7) == 7


# -- reports ------------------------------------------------------------------------------

def _report() -> RunReport:
    ok = ScenarioResult("good", "scenarios/good.yaml", "t-good", "passed", 1.25,
                        [Outcome("step 1: action place-order", 4, 0.2)])
    bad = ScenarioResult("bad", "scenarios/bad.yaml", "t-bad", "failed", 2.5,
                         [Outcome("setup", None, 0.1),
                          Outcome("expect 1: erp_record cash_sales", 12, 2.0,
                                  "the ERP has 0 cash_sales record(s), expected exactly 1")])
    return RunReport([ok, bad], "2026-11-22T00:00:00Z", 3.0, "http://sim", "http://t/events",
                     60.0, "run1")


def test_junit_report(tmp_path: Path) -> None:
    write_junit(_report(), tmp_path / "r.xml")
    xml = JUnitXml.fromfile(str(tmp_path / "r.xml"))
    suite = next(iter(xml))
    cases = {c.name: c for c in suite}
    assert suite.tests == 2 and suite.failures == 1
    assert cases["good"].is_passed and cases["good"].classname == "scenarios.good"
    failure = cases["bad"].result[0]
    assert "expected exactly 1" in failure.message
    assert "bad.yaml:12" in failure.text
    assert "tenant: t-bad" in cases["bad"].system_out


def test_json_report() -> None:
    data = as_dict(_report())
    assert data["summary"] == {"total": 2, "passed": 1, "failed": 1, "error": 0}
    assert data["passed"] is False
    bad = data["scenarios"][1]
    assert bad["reason"] == ("expect 1: erp_record cash_sales: the ERP has 0 cash_sales "
                             "record(s), expected exactly 1")
    assert bad["outcomes"][1] == {"label": "expect 1: erp_record cash_sales", "line": 12,
                                  "seconds": 2.0, "ok": False, "error": bad["outcomes"][1][
                                      "error"]}
    json.dumps(data)


# -- the CLI ------------------------------------------------------------------------------

def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "simulator", "run", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


def test_cli_help_check_and_list() -> None:
    assert "--junit PATH" in cli("--help").stdout
    checked = cli("--check")
    assert checked.returncode == 0, checked.stderr
    assert "scenario file(s) valid" in checked.stdout
    assert "cash-and-carry" in cli("--list").stdout


def test_cli_needs_the_api_client_of_a_given_simulator(tmp_path: Path, sim: str) -> None:
    env_free = {k: v for k, v in os.environ.items() if not k.startswith("NEWSTORE_SIM_")}
    r = subprocess.run([sys.executable, "-m", "simulator", "run", str(write(tmp_path, GOOD)),
                        "--sim", sim, "--reference"], cwd=ROOT, env=env_free,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert "--sim needs that simulator's API client" in r.stderr


def test_cli_refuses_a_target_nobody_listens_at(tmp_path: Path, sim: str) -> None:
    r = cli(str(write(tmp_path, GOOD)), "--sim", sim, "--client-id", CLIENT[0],
            "--client-secret", CLIENT[1], "--target", "http://127.0.0.1:9/events")
    assert r.returncode == 2
    assert "cannot reach the integration at http://127.0.0.1:9/events" in r.stderr


def test_cli_invalid_file_and_missing_target_exit_2(tmp_path: Path) -> None:
    bad = write(tmp_path, "name: x\nsteps:\n  - wait: soon\n")
    r = cli(str(bad))
    assert r.returncode == 2
    assert f"{bad}:3: steps[0].wait:" in r.stderr
    r = cli(str(write(tmp_path, GOOD, "good.yaml")))
    assert r.returncode == 2 and "--target URL, or --reference" in r.stderr


@pytest.fixture(scope="module")
def sim() -> Iterator[str]:
    with running_server(make_settings(db=":memory:", retry_profile="fast")) as url:
        yield url


def test_cli_runs_against_a_target_and_exits_1_on_failure(tmp_path: Path, sim: str,
                                                         httpserver: Any) -> None:
    """A scenario that cannot hold (an ERP record nobody writes) fails, with its reason."""
    text = GOOD.replace("name: tiny", "name: nobody-books") + (
        "  - erp_record: {type: cash_sales, where: {newstore_order_id: '${sale.order_id}'},"
        " within: 1s}\n")
    path = write(tmp_path, text)
    httpserver.expect_request("/events").respond_with_data("ok")  # acknowledges, books nothing
    sink = httpserver.url_for("/events")
    r = cli(str(path), "--sim", sim, "--client-id", CLIENT[0], "--client-secret", CLIENT[1],
            "--target", sink, "--json", str(tmp_path / "r.json"),
            "--junit", str(tmp_path / "r.xml"))
    assert r.returncode == 1, r.stdout + r.stderr
    assert "the ERP has 0 cash_sales record(s) where newstore_order_id=" in r.stdout
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["scenarios"][0]["status"] == "failed"
    assert data["scenarios"][0]["outcomes"][-2]["ok"] is True  # the result expectation held
    assert (tmp_path / "r.xml").exists()


# -- the flow library and its front ends ----------------------------------------------------

def test_flows_as_python_functions(sim: str) -> None:
    client = SimClient(sim, client_id=CLIENT[0], client_secret=CLIENT[1])
    placed = flows.cash_and_carry(client, "flows1")
    order = flows.order(client, "flows1", placed["order_id"])
    assert order["status"] and order["items"]["nodes"]
    item = order["items"]["nodes"][0]
    done = flows.return_items(client, "flows1", placed["order_id"], [{"item_id": item["id"]}])
    assert "return.processed" in done["events"]
    assert "refund_request.issued" in flows.appease(client, "flows1", placed["order_id"],
                                                    1.0)["events"]
    with pytest.raises(flows.FlowFailed, match="-> 4"):
        flows.appease(client, "flows1", "no-such-order", 1.0)
    with pytest.raises(ValueError, match="unknown action"):
        flows.action(client, "flows1", "teleport")


def test_pytest_plugin_runs_scenario_files(tmp_path: Path, sim: str) -> None:
    """The pytest11 plugin: scenario files become tests; a failure shows its reasons."""
    write(tmp_path, GOOD, "good.yaml")
    write(tmp_path, GOOD.replace("name: tiny", "name: wrong-kind").replace(
        "match: {kind: cash_and_carry}", "match: {kind: endless_aisle}"), "bad.yaml")
    env = {**os.environ, "NEWSTORE_SIM_CLIENT_ID": CLIENT[0],
           "NEWSTORE_SIM_CLIENT_SECRET": CLIENT[1]}
    r = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
                        "--rootdir", str(tmp_path), "--newstore-sim-scenarios", str(tmp_path),
                        "--newstore-sim-url", sim, "--newstore-sim-target",
                        "http://127.0.0.1:9/x"], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "1 failed, 1 passed" in r.stdout
    assert "kind is \"cash_and_carry\", expected \"endless_aisle\"" in r.stdout
    assert "bad.yaml:8" in r.stdout


def test_locust_front_end(sim: str) -> None:
    env = {**os.environ, "NEWSTORE_SIM_CLIENT_ID": CLIENT[0],
           "NEWSTORE_SIM_CLIENT_SECRET": CLIENT[1], "NEWSTORE_SIM_TENANT": "locust1"}
    locust = Path(sys.executable).with_name("locust")
    r = subprocess.run([str(locust), "-f", str(ROOT / "loadtests" / "locustfile_flows.py"),
                        "--host", sim, "--headless", "-u", "2", "-r", "2", "-t", "3s",
                        "--only-summary", "--exit-code-on-error", "0"], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    summary = r.stdout + r.stderr
    assert "cash_and_carry" in summary and "Aggregated" in summary


def test_the_engine_imports_nothing_of_the_simulators_internals() -> None:
    for path in (ROOT / "simulator" / "scenario").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                assert not name.startswith("simulator") or name.startswith(
                    "simulator.scenario"), f"{path.name} imports {name}"


def test_processes_know_where_the_reference_integration_is() -> None:
    assert (processes.REFERENCE_DIR / "__main__.py").exists()


def test_a_dead_delivery_fails_at_once(tmp_path: Path, sim: str, httpserver: Any) -> None:
    """An event the integration rejected (4xx: a dead letter) will not be acknowledged later:
    the expectation fails without waiting out its 30 s."""
    text = GOOD.replace("name: tiny", "name: rejected") + (
        "  - event_acknowledged: {event: order.opened, within: 30s}\n")
    httpserver.expect_request("/events").respond_with_data("no", status=400)
    r = cli(str(write(tmp_path, text)), "--sim", sim, "--client-id", CLIENT[0],
            "--client-secret", CLIENT[1], "--target", httpserver.url_for("/events"),
            "--json", str(tmp_path / "r.json"))
    assert r.returncode == 1, r.stdout + r.stderr
    scenario = json.loads((tmp_path / "r.json").read_text())["scenarios"][0]
    assert "order.opened was not acknowledged: 1 attempt(s), last answer 400, delivery dead" \
        in scenario["reason"]
    assert scenario["seconds"] < 15
