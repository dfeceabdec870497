"""What every schemathesis sweep checks: no input yields a 5xx; every 4xx is problem+json."""

from __future__ import annotations

from typing import Any


def call_and_check(case: Any, authorization: str) -> None:
    """Send the generated case with a valid Authorization header and check the answer."""
    headers = dict(case.headers or {})
    headers["Authorization"] = authorization
    response = case.call(headers=headers)
    assert response.status_code < 500, (
        f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:300]}")
    if 400 <= response.status_code < 500:
        assert response.headers["content-type"][0].startswith("application/problem+json"), \
            f"{case.method} {case.formatted_path}: {response.headers}"
        assert response.json()["detail"]
