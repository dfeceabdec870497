"""What a run tells people and CI: a live progress line, a pass/fail table with reasons and
timings, JUnit XML (junitparser) and JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TextIO

from junitparser import Error, Failure, JUnitXml, TestCase, TestSuite
from rich.console import Console
from rich.table import Table

from simulator.scenario.engine import ScenarioResult
from simulator.scenario.runner import RunReport

STYLE = {"passed": "green", "failed": "red", "error": "magenta"}


def console(stream: TextIO | None = None) -> Console:
    """A console that degrades to plain text when not on a terminal."""
    plain = Console(file=stream, highlight=False, soft_wrap=True)
    if not plain.is_terminal:  # CI logs: wide enough that reasons stay on one line
        return Console(file=stream, highlight=False, soft_wrap=True, width=160)
    return plain


def progress_line(out: Console, total: int) -> Any:
    """A callback printing one line per finished scenario: `[3/12] PASS name (1.2s)`."""
    done = {"n": 0}

    def report(result: ScenarioResult) -> None:
        done["n"] += 1
        mark = {"passed": "PASS", "failed": "FAIL", "error": "ERROR"}[result.status]
        out.print(f"[{done['n']}/{total}] [{STYLE[result.status]}]{mark}[/] {result.name} "
                  f"({result.seconds:.1f}s)" + (f" - {result.reason()}"
                                                if result.status != "passed" else ""),
                  markup=True, crop=False)

    return report


def table(report: RunReport) -> Table:
    """Every scenario with its verdict, time, tenant and first failure."""
    t = Table(title=None, show_lines=False, expand=False)
    t.add_column("scenario", no_wrap=True)
    t.add_column("result")
    t.add_column("time", justify="right")
    t.add_column("why it failed (scenario file:line)", overflow="fold")
    for r in report.results:
        reasons = [f"{f.label}: {f.error}" + (f" ({Path(r.path).name}:{f.line})"
                                              if f.line else "") for f in r.failures]
        t.add_row(r.name, f"[{STYLE[r.status]}]{r.status}[/]", f"{r.seconds:.1f}s",
                  "\n".join(reasons))
    return t


def summary(report: RunReport) -> str:
    c = report.counts()
    text = f"{c['passed']} passed, {c['failed']} failed"
    if c["error"]:
        text += f", {c['error']} errors"
    return f"{text} in {report.seconds:.1f}s (run {report.run_id}, clock x{report.clock_scale:g})"


def as_dict(report: RunReport) -> dict[str, Any]:
    """The JSON report: the run, then each scenario with every step's outcome."""
    return {
        "run_id": report.run_id, "started_at": report.started_at,
        "seconds": round(report.seconds, 3), "simulator": report.sim_url,
        "target": report.target_url, "clock_scale": report.clock_scale,
        "passed": report.passed, "summary": report.counts(),
        "scenarios": [{
            "name": r.name, "file": r.path, "tenant": r.tenant, "status": r.status,
            "seconds": round(r.seconds, 3), "description": r.description,
            "reason": r.reason() or None,
            "outcomes": [{"label": o.label, "line": o.line, "seconds": round(o.seconds, 3),
                          "ok": o.error is None, "error": o.error} for o in r.outcomes],
        } for r in report.results],
    }


def write_json(report: RunReport, path: str | Path) -> None:
    Path(path).write_text(json.dumps(as_dict(report), indent=2) + "\n")


def write_junit(report: RunReport, path: str | Path) -> None:
    """One test suite, one test case per scenario (classname = file stem)."""
    suite = TestSuite("newstore-sim scenarios")
    for r in report.results:
        case = TestCase(r.name, classname=f"scenarios.{Path(r.path).stem}",
                        time=round(r.seconds, 3))
        lines = [f"{o.label} ({Path(r.path).name}:{o.line}): {o.error}" if o.line
                 else f"{o.label}: {o.error}" for o in r.failures]
        if r.status == "failed":
            case.result = [Failure(r.reason()[:500], "ExpectationFailed")]
            case.result[0].text = "\n".join(lines)
        elif r.status == "error":
            case.result = [Error(r.reason()[:500], "SimulatorError")]
            case.result[0].text = "\n".join(lines)
        case.system_out = "\n".join(
            f"{'ok  ' if o.error is None else 'FAIL'} {o.seconds:6.2f}s {o.label}"
            for o in r.outcomes) + f"\ntenant: {r.tenant}"
        suite.add_testcase(case)
    xml = JUnitXml()
    xml.add_testsuite(suite)
    xml.write(str(path), pretty=True)
