"""The external OMS contract: every answer of a configured OMS checked against
openapi/external-oms.yaml, so a wrong OMS is reported with what exactly was wrong."""

from __future__ import annotations

import functools
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft7Validator

SPEC = Path(__file__).resolve().parent.parent.parent / "openapi" / "external-oms.yaml"
OPERATIONS = ("availability", "purchase_history", "order_details")
HISTORY_LIMIT = 100  # documented: the last 100 orders, newest first (cut by NewStore)


def _plain(node: Any) -> Any:
    """OpenAPI 3.0 schema -> JSON Schema: `nullable: true` becomes a null type."""
    if isinstance(node, list):
        return [_plain(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _plain(v) for k, v in node.items() if k != "nullable"}
    if node.get("nullable") and isinstance(node.get("type"), str):
        out["type"] = [node["type"], "null"]
    return out


@functools.cache
def _validators(path: Path = SPEC) -> dict[tuple[str, int], Draft7Validator]:
    """(operation, status) -> a validator of the documented response body; loaded once."""
    spec = yaml.safe_load(path.read_text())
    components = _plain(spec.get("components", {}))
    found: dict[tuple[str, int], Draft7Validator] = {}
    for item in spec["paths"].values():
        for op in item.values():
            if not isinstance(op, dict) or "operationId" not in op:
                continue
            for status, response in op.get("responses", {}).items():
                schema = response.get("content", {}).get("application/json", {}).get("schema")
                if schema is not None:
                    root = {**_plain(schema), "components": components}
                    found[(op["operationId"], int(status))] = Draft7Validator(root)
    return found


def _path(parts: Any) -> str:
    out = "$"
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def check(operation: str, status: int, body: Any) -> list[str]:
    """Violations of the contract by an answer (body parsed, or the raw text if it was not
    JSON), each prefixed by its JSON path; [] when the answer keeps the contract."""
    if operation not in OPERATIONS:
        raise KeyError(f"unknown OMS operation {operation!r}")
    validator = _validators().get((operation, status))
    if validator is None:
        return [f"$: status {status} is not a documented answer of {operation}"]
    if isinstance(body, str | bytes):
        try:
            body = json.loads(body)
        except ValueError:
            return ["$: the body is not JSON"]
    errors = sorted(validator.iter_errors(body), key=lambda e: list(map(str, e.absolute_path)))
    return [f"{_path(e.absolute_path)}: {e.message}" for e in errors]


def newest_first(orders: list[dict[str, Any]], limit: int = HISTORY_LIMIT) -> list[dict[str, Any]]:
    """Orders by placed_at, newest first (offset-less times are UTC, unreadable ones last),
    at most limit of them."""
    def key(order: dict[str, Any]) -> tuple[int, float]:
        try:
            stamp = datetime.fromisoformat(str(order.get("placed_at")))
        except ValueError:
            return (1, 0.0)
        if stamp.tzinfo is None:
            stamp = stamp.replace(tzinfo=UTC)
        return (0, -stamp.timestamp())
    return sorted(orders, key=key)[:limit]
