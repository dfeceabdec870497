"""The one place where errors become application/problem+json answers."""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

from connexion.exceptions import ProblemException
from connexion.http_facts import HTTP_STATUS_CODES
from connexion.lifecycle import ConnexionRequest, ConnexionResponse
from starlette.exceptions import HTTPException

from simulator.core.errors import SimError

log = logging.getLogger(__name__)

PROBLEM = "application/problem+json"


def problem_body(status: int, title: str, detail: str, *, error_code: str | None = None,
                 field: str | None = None, extra: dict[str, Any] | None = None,
                 instance: str | None = None) -> dict[str, Any]:
    """RFC 7807 fields plus NewStore's error_code, message and messages."""
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": instance,
        "request_id": str(uuid.uuid4()),
        "error_code": error_code or _default_code(status),
        "message": detail,
        "messages": [detail],
    }
    if field:
        body["field"] = field
    if extra:
        # extra members add to the problem; they never replace its standard members
        body.update({k: v for k, v in extra.items() if k not in body})
    return body


def _default_code(status: int) -> str:
    return {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
            405: "method_not_allowed", 409: "conflict", 415: "unsupported_media_type",
            422: "unprocessable_entity"}.get(status, "internal_error" if status >= 500
                                              else "client_error")


def _response(body: dict[str, Any], headers: dict[str, str] | None = None) -> ConnexionResponse:
    return ConnexionResponse(status_code=body["status"], body=json.dumps(body),
                             content_type=PROBLEM, headers=headers or {})


def sim_error(request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
    """A domain error raised anywhere below the web layer."""
    assert isinstance(exc, SimError)
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    title = HTTP_STATUS_CODES.get(exc.status, exc.title)
    return _response(problem_body(exc.status, title, exc.detail, error_code=exc.error_code,
                                  field=exc.field, extra=exc.extra,
                                  instance=request.url.path), headers)


def connexion_problem(request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
    """Connexion's own validation and security problems, in the same shape."""
    assert isinstance(exc, ProblemException)
    code = None
    if exc.status == 401:
        code = "unauthorized"
    elif exc.status == 403:
        code = "invalid_token"
    elif exc.status == 400:
        code = "validation_error"
    headers = dict(exc.headers or {})
    if exc.status == 401:
        headers.setdefault("WWW-Authenticate", "Bearer")
    return _response(problem_body(exc.status, exc.title or "Error", str(exc.detail),
                                  error_code=code, instance=request.url.path), headers)


def http_error(request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
    """Routing errors (unknown path, wrong method) as problems too."""
    assert isinstance(exc, HTTPException)
    titles = {404: "Not Found", 405: "Method Not Allowed"}
    detail = exc.detail
    if exc.status_code == 404:
        detail = f"no operation at {request.url.path}"
    return _response(problem_body(exc.status_code, titles.get(exc.status_code, "Error"),
                                  str(detail), instance=request.url.path), exc.headers)


def unexpected(request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
    """A bug: logged with its traceback, answered without one."""
    log.exception("unhandled error on %s", request.url.path, exc_info=exc)
    return _response(problem_body(500, "Internal Server Error",
                                  "the simulator failed to handle this request; see its log",
                                  instance=request.url.path))
