"""The scenario library (scenarios/) against the reference integration: every scenario passes
in under 60 s, and each deliberately broken integration fails exactly the scenarios that
catch its flaw, with a reason that names it. One simulator serves every run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from simulator.scenario import processes
from simulator.scenario.client import SimClient
from simulator.scenario.engine import Target
from simulator.scenario.loader import Scenario, load_paths
from simulator.scenario.runner import RunReport, run_all

LIBRARY = Path(__file__).resolve().parent.parent / "scenarios"
API_KEY = "reference-key"
BUDGET_S = 60.0

# flaw -> the scenarios it must fail, and a word each failure's reason must contain
FLAWS = {
    "ignore-erp-down": ({"return-erp-unavailable"}, "500"),
    "not-idempotent": ({"duplicate-delivery"}, "duplicate"),
    "ignore-missing-payment": ({"return-payment-details-delayed"}, "payments"),
}

# Every flow and documented exception of the issue has its file.
EXPECTED_FILES = {
    "cash-and-carry", "endless-aisle-available", "endless-aisle-not-available",
    "endless-aisle-atp-webhook-down", "mixed-cart", "store-fulfillment-bopis",
    "store-fulfillment-ship-from-store", "store-fulfillment-mispick-reroute",
    "store-fulfillment-unconfigured-store", "return-erp", "return-erp-unavailable",
    "return-payment-details-delayed", "cancellation-credit-memo", "appeasement-refund",
    "duplicate-delivery", "out-of-order-delivery", "purchase-history-over-100",
}


@pytest.fixture(scope="module")
def library() -> list[Scenario]:
    return load_paths([str(LIBRARY)])


@pytest.fixture(scope="module")
def sim() -> Iterator[SimClient]:
    with processes.simulator(60.0) as url:
        yield SimClient(url, client_id=processes.RUNNER_CLIENT[0],
                        client_secret=processes.RUNNER_CLIENT[1])


def run_against(sim: SimClient, scenarios: list[Scenario], *flaws: str) -> RunReport:
    """The scenarios against a reference integration of its own (with those flaws)."""
    with processes.reference_integration(sim.url, api_key=API_KEY, flaws=flaws) as target:
        return run_all(scenarios, sim, Target(target, API_KEY), jobs=4)


def failures(report: RunReport) -> str:
    return "\n".join(f"{r.name} ({r.status}): {r.reason()}" for r in report.results
                     if r.status != "passed") or "none"


def test_library_has_a_described_file_per_flow_and_exception(library: list[Scenario]):
    names = {s.name for s in library}
    assert names >= EXPECTED_FILES, sorted(EXPECTED_FILES - names)
    for s in library:
        assert s.path.stem == s.name, s.path
        assert len(s.description.split()) >= 25, f"{s.name}: describe the flow"
        assert s.doc.get("tags"), f"{s.name}: no tags"
        assert s.doc.get("expect"), f"{s.name}: expects nothing"


def test_every_scenario_passes_against_the_reference_integration_in_time(
        sim: SimClient, library: list[Scenario]):
    report = run_against(sim, library)
    assert report.passed, f"failed scenarios:\n{failures(report)}"
    assert report.seconds < BUDGET_S, (
        f"the library took {report.seconds:.1f}s, more than {BUDGET_S:g}s: "
        + ", ".join(f"{r.name} {r.seconds:.1f}s" for r in
                    sorted(report.results, key=lambda r: -r.seconds)[:5]))


@pytest.mark.parametrize("flaw", sorted(FLAWS))
def test_a_broken_integration_fails_exactly_the_scenarios_that_catch_it(
        sim: SimClient, library: list[Scenario], flaw: str):
    expected, word = FLAWS[flaw]
    # the scenarios where the integration writes to the ERP: the flaws live there
    scenarios = [s for s in library if "erp" in s.doc.get("tags", [])]
    assert expected <= {s.name for s in scenarios}
    report = run_against(sim, scenarios, flaw)
    failed = {r.name for r in report.results if r.status != "passed"}
    assert failed == expected, (
        f"--flaw {flaw}: expected exactly {sorted(expected)} to fail; failures:\n"
        f"{failures(report)}")
    for r in report.results:
        if r.name in expected:
            assert r.status == "failed", f"{r.name}: {r.status}: {r.reason()}"
            assert word in r.reason(), f"{r.name}: the reason does not say {word!r}: " \
                                       f"{r.reason()}"
