"""Scenario files: YAML read with line numbers and checked against the shipped JSON Schema,
so an invalid file is reported by file, line and field before anything runs."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

SCHEMA_PATH = Path(__file__).with_name("scenario.schema.json")
STEP_KINDS = ("action", "request", "graphql", "fault", "clear_faults", "psp", "clock", "wait",
              "redeliver", "expect")
EXPECTATION_KINDS = ("event_acknowledged", "event_rejected", "erp_record", "erp_duplicates",
                     "settled", "api_calls", "oms_calls", "http", "graphql", "result")


class ScenarioFileError(Exception):
    """A scenario file that cannot be run, with where and what."""

    def __init__(self, path: Path | str, line: int | None, field: str, message: str) -> None:
        self.path, self.line, self.field, self.message = str(path), line, field, message
        where = f"{self.path}:{line}" if line else self.path
        super().__init__(f"{where}: {field}: {message}" if field else f"{where}: {message}")


@dataclass
class Scenario:
    """One loaded, valid scenario."""

    name: str
    path: Path
    doc: dict[str, Any]
    lines: dict[tuple[Any, ...], int] = field(default_factory=dict, repr=False)

    @property
    def description(self) -> str:
        return self.doc.get("description", "")

    @property
    def exclusive(self) -> bool:
        return bool(self.doc.get("exclusive"))

    def line_of(self, *path: Any) -> int | None:
        """The line in the file where a part of the scenario is written."""
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get(())


@cache
def schema() -> dict[str, Any]:
    """The scenario JSON Schema shipped with the package."""
    return json.loads(SCHEMA_PATH.read_text())


def _lines(node: yaml.Node, path: tuple[Any, ...], out: dict[tuple[Any, ...], int]) -> None:
    out[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            out[path + (key.value,)] = key.start_mark.line + 1
            _lines(value, path + (key.value,), out)
            out[path + (key.value,)] = key.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for n, item in enumerate(node.value):
            _lines(item, path + (n,), out)


def _field(path: tuple[Any, ...]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def _message(error: ValidationError, doc: Any) -> tuple[tuple[Any, ...], str]:
    """A reader-friendly message for the error jsonschema found most relevant."""
    path = tuple(error.absolute_path)
    if error.validator == "oneOf" and isinstance(error.instance, dict):
        kinds = STEP_KINDS if "steps" in path[:1] and len(path) == 2 else EXPECTATION_KINDS
        found = [k for k in error.instance if k in kinds]
        if len(found) != 1:
            what = "a step" if kinds is STEP_KINDS else "an expectation"
            return path, (f"{what} needs exactly one of {', '.join(kinds)}; found "
                          f"{', '.join(found) if found else 'none'}")
        sub = best_match(error.context or [])
        if sub is not None:
            return tuple(error.absolute_path) + tuple(sub.relative_path), sub.message
    if error.validator == "additionalProperties":
        return path, error.message.replace("Additional properties are not allowed",
                                           "unknown field")
    return path, error.message


def load_file(path: Path | str) -> Scenario:
    """Read and check one scenario file (ScenarioFileError says what is wrong and where)."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise ScenarioFileError(path, None, "", f"cannot read: {e.strerror or e}") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        raise ScenarioFileError(path, mark.line + 1 if mark else None, "",
                                f"not valid YAML: {getattr(e, 'problem', e)}") from None
    lines: dict[tuple[Any, ...], int] = {}
    if node is not None:
        _lines(node, (), lines)
    if not isinstance(doc, dict):
        raise ScenarioFileError(path, 1, "", "a scenario is a mapping with name and steps")
    errors = sorted(Draft202012Validator(schema()).iter_errors(doc),
                    key=lambda e: (list(map(str, e.absolute_path)), e.validator))
    if errors:
        first = best_match(errors) if len(errors) > 1 else errors[0]
        where, message = _message(first, doc)
        scenario = Scenario(doc.get("name", ""), path, doc, lines)
        raise ScenarioFileError(path, scenario.line_of(*where), _field(where), message)
    scenario = Scenario(doc["name"], path, doc, lines)
    _check_references(scenario)
    return scenario


def _check_references(scenario: Scenario) -> None:
    """Step ids are unique, so ${id.field} means one thing."""
    seen: set[str] = set()
    for n, step in enumerate(scenario.doc["steps"]):
        sid = step.get("id")
        if sid is None:
            continue
        if sid in seen or sid in ("env", "tenant", "sim", "target", "n"):
            raise ScenarioFileError(scenario.path, scenario.line_of("steps", n, "id"),
                                    f"steps[{n}].id", f"{sid!r} is used twice or reserved")
        seen.add(sid)


def find_files(paths: list[str]) -> list[Path]:
    """Scenario files named or found (sorted) in the directories named."""
    files: list[Path] = []
    for given in paths:
        p = Path(given)
        if p.is_dir():
            files += sorted(q for q in p.rglob("*") if q.suffix in (".yaml", ".yml"))
        elif p.exists():
            files.append(p)
        else:
            raise ScenarioFileError(p, None, "", "no such file or directory")
    return files


def load_paths(paths: list[str]) -> list[Scenario]:
    """Every scenario under the paths; names must be unique within the run."""
    scenarios = [load_file(f) for f in find_files(paths)]
    names: dict[str, Path] = {}
    for s in scenarios:
        if s.name in names:
            raise ScenarioFileError(s.path, s.line_of("name"), "name",
                                    f"{s.name!r} is also the name in {names[s.name]}")
        names[s.name] = s.path
    return scenarios
