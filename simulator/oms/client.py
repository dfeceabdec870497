"""The platform's calls to a configured external OMS: timeout, Authorization header,
/_sim/faults (system "oms"), a journal entry per call, and every answer checked against the
contract in openapi/external-oms.yaml."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests

from simulator.core.journal import Entry, clip
from simulator.oms.contract import OPERATIONS, check

Doc = dict[str, Any]

def join(base: str, path: str, query: dict[str, str] | None = None) -> str:
    """`path` under the configured base URL, keeping the base's own query string (so that a
    base such as `https://oms/x?account=7` gives `https://oms/x/orders?account=7&...`)."""
    parts = urlsplit(base)
    pairs = parse_qsl(parts.query, keep_blank_values=True) + list((query or {}).items())
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/") + path,
                       urlencode(pairs), parts.fragment))


# fetch(method, url, headers, json_body_or_None, timeout) -> (status, text); raises
# requests exceptions on transport errors
Fetch = Callable[[str, str, dict[str, str], Doc | None, float], tuple[int, str]]

MAX_VIOLATIONS_IN_DETAIL = 5


def http_fetch(method: str, url: str, headers: dict[str, str], body: Doc | None,
               timeout: float) -> tuple[int, str]:
    """The real HTTP call (requests)."""
    response = requests.request(method, url, json=body, headers=headers, timeout=timeout)
    return response.status_code, response.text


@dataclass
class Result:
    """What the OMS answered, and whether the platform may use it."""

    operation: str
    ok: bool
    status: int | None = None
    body: Any = None  # the parsed answer when ok
    violations: list[str] = field(default_factory=list)
    failure: str | None = None  # why the answer cannot be used, said for a problem detail


def _faulted(p: Any, tenant: str, operation: str, fetch: Fetch, method: str, url: str,
             headers: dict[str, str], body: Doc | None, timeout: float) -> tuple[int, str]:
    """fetch(), unless a /_sim/faults rule on oms/<operation> answers for the OMS."""
    fault = p.faults.decide(tenant, "oms", operation)
    if fault is None:
        return fetch(method, url, headers, body, timeout)
    if fault.latency_s:  # a fault asking for latency is the one place a request may wait
        time.sleep(min(fault.latency_s, timeout))
        if fault.latency_s >= timeout:
            raise requests.Timeout(f"simulated fault {fault.fault_id}")
    if fault.status is None:
        return fetch(method, url, headers, body, timeout - fault.latency_s)
    return fault.status, ""


def call(p: Any, tenant: str, operation: str, method: str, url: str, api_key: str,
         timeout: float, body: Doc | None = None, fetch: Fetch | None = None,
         label: str = "the external OMS") -> Result:
    """One call of an OMS webhook; never raises for what the OMS does (see Result.failure).

    p is the Platform (faults, journal, clock); label names the webhook in failure texts.
    """
    if operation not in OPERATIONS:
        raise KeyError(f"unknown OMS operation {operation!r}")
    headers = {"Authorization": api_key, "Accept": "application/json"}
    if body is not None:
        headers["Content-Type"] = "application/json"
    started = time.perf_counter()
    status: int | None = None
    text = ""
    result = Result(operation, ok=False)
    try:
        status, text = _faulted(p, tenant, operation, fetch or http_fetch, method, url,
                                headers, body, timeout)
        result.status = status
        if status != 200:
            result.failure = f"{label} answered {status}"
        else:
            result.violations = check(operation, status, text)
            if result.violations:
                shown = "; ".join(result.violations[:MAX_VIOLATIONS_IN_DETAIL])
                more = len(result.violations) - MAX_VIOLATIONS_IN_DETAIL
                result.failure = (f"{label}'s answer is malformed (it breaks the contract of "
                                  f"external-oms.yaml): {shown}"
                                  + (f" (and {more} more)" if more > 0 else ""))
            else:
                result.ok, result.body = True, json.loads(text)
    except requests.Timeout:
        result.failure = f"{label} did not answer within {timeout:g} s"
    except requests.RequestException as exc:
        result.failure = f"{label} could not be reached ({type(exc).__name__})"
    p.journal.add(Entry(
        ts=p.clock.timestamp(), direction="out", system="oms", method=method, url=url,
        tenant=tenant, operation_id=operation, status=status,
        duration_ms=round((time.perf_counter() - started) * 1000, 3),
        request_headers={**headers, "Authorization": "[redacted]"},
        request_body=json.dumps(body) if body is not None else None,
        response_body=clip(text, 2000) if text else None, error=result.failure))
    return result
