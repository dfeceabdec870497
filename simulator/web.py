"""What handlers share: the platform of this app, the request's tenant, and auth checks."""

from __future__ import annotations

import asyncio
import json
import re
import time
from typing import Any
from urllib.parse import parse_qsl

import anyio.to_thread
from connexion.context import scope as current_scope
from connexion.datastructures import MediaTypeDict
from connexion.exceptions import BadRequestProblem
from connexion.http_facts import HTTP_STATUS_CODES
from connexion.json_schema import Draft4RequestValidator
from connexion.jsonifier import Jsonifier
from connexion.lifecycle import ConnexionRequest
from connexion.security import BearerSecurityHandler
from connexion.utils import inspect_function_arguments, is_null, is_nullable
from connexion.validators import (
    VALIDATOR_MAP,
    FormDataValidator,
    JSONRequestBodyValidator,
    MultiPartFormDataValidator,
    ParameterValidator,
)
from jsonschema import Draft4Validator, ValidationError
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from simulator.core import codec, journal
from simulator.core.errors import NotFound
from simulator.core.faults import Decision
from simulator.platform.auth import Principal
from simulator.platform.context import Platform
from simulator.problems import PROBLEM, problem_body

SCOPE_KEY = "newstore_sim.platform"
TENANT_KEY = "newstore_sim.tenant"

# {tenant}.p.newstore.net, {tenant}.x.newstore.net and any {tenant}.<stage>.newstore.net
_HOST = re.compile(r"^(?P<tenant>[A-Za-z0-9_-]+)\.[A-Za-z0-9-]+\.newstore\.net(?::\d+)?$")


def tenant_from_headers(headers: Any, default: str) -> str:
    """Host header first, then the tenant header, then the default tenant."""
    match = _HOST.match(headers.get("host", ""))
    if match and match["tenant"] != "id":
        return match["tenant"]
    return headers.get("tenant") or default


class PlatformMiddleware:
    """Puts the platform and the request's tenant into the ASGI scope."""

    def __init__(self, app: ASGIApp, platform: Platform) -> None:
        self.app = app
        self.platform = platform

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            if any(ord(ch) < 0x20 or ch == "\x7f" for ch in scope["path"]):
                # Connexion's router and Flask's disagree on such paths; no operation has one
                raise NotFound(f"no operation at {scope['path']!r}")
            headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
            scope[SCOPE_KEY] = self.platform
            scope[TENANT_KEY] = tenant_from_headers(headers, self.platform.settings.tenant)
        await self.app(scope, receive, send)


# not journaled: health checks, API docs, and reading/clearing the journal itself
_UNJOURNALED = re.compile(r"^(/_sim)?/(health|docs|openapi\.json|ui)(/|$)|^/_sim/journal/?$")


class JournalMiddleware:
    """Records each incoming request (status, duration, redacted headers, clipped bodies) in
    the journal; sits outside Connexion's exception handling, so it sees the final answer."""

    def __init__(self, app: ASGIApp, platform: Platform) -> None:
        self.app = app
        self.platform = platform
        self.limit = platform.settings.journal_body_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] != "http" or not self.platform.journal.enabled
                or _UNJOURNALED.match(scope["path"])):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        ts = self.platform.clock.timestamp()
        extensions = scope.setdefault("extensions", {})  # shared with Connexion's routing copy
        request_body = bytearray()
        response_body = bytearray()
        status: list[int] = []
        limit = self.limit

        async def receive_and_keep() -> Message:
            message = await receive()
            if message["type"] == "http.request" and len(request_body) <= limit:
                request_body.extend(message.get("body", b"")[:limit + 1 - len(request_body)])
            return message

        async def send_and_keep(message: Message) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])
            elif message["type"] == "http.response.body" and len(response_body) <= limit:
                response_body.extend(message.get("body", b"")[:limit + 1 - len(response_body)])
            await send(message)

        error = None
        try:
            await self.app(scope, receive_and_keep, send_and_keep)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"[:1000]
            raise
        finally:
            self._record(scope, extensions, ts, started, status, request_body, response_body,
                         error)

    def _record(self, scope: Scope, extensions: dict[str, Any], ts: float, started: float,
                status: list[int], request_body: bytearray, response_body: bytearray,
                error: str | None) -> None:
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]
        path = scope["path"]
        control = path == "/_sim" or path.startswith("/_sim/")
        erp = path == "/erp" or path.startswith("/erp/")
        query = scope.get("query_string", b"").decode("latin-1")
        tenant = scope.get(TENANT_KEY) or tenant_from_headers(dict(headers),
                                                              self.platform.settings.tenant)
        if control:  # a control call acts on its `tenant` query parameter when given
            tenant = next((v for k, v in parse_qsl(query) if k == "tenant"), tenant)
        routing = extensions.get("connexion_routing") or {}
        self.platform.journal.add(journal.Entry(
            ts=ts, direction="in", system="control" if control else "erp" if erp else "platform",
            method=scope["method"], url=path + (f"?{query}" if query else ""), tenant=tenant,
            operation_id=_spec_operation_id(routing.get("operation_id")),
            status=status[0] if status else None,
            duration_ms=round((time.perf_counter() - started) * 1000, 3),
            request_headers=journal.redact(headers),
            request_body=journal.clip(bytes(request_body), self.limit) if request_body else None,
            response_body=journal.clip(bytes(response_body), self.limit) if response_body
            else None,
            error=error))


def _spec_operation_id(resolved: str | None) -> str | None:
    """The operationId as the spec writes it (Connexion reports the resolved module path)."""
    for prefix in ("simulator.platform.handlers.", "simulator.control.", ERP_HANDLERS + "."):
        if resolved and resolved.startswith(prefix):
            return resolved[len(prefix):]
    return resolved


# Connexion builds its validators for every request (a fresh jsonschema validator per
# parameter and body, after a deep copy of the parameter); a spec's schemas never change, so
# one validator per schema object is built once and reused (jsonschema validators are
# immutable and thread-safe). Keyed by id() with the schema kept alive, so ids are not reused.
# Bounded: every app (tests build many) brings its own copy of the specs.
_VALIDATORS: dict[int, tuple[Any, Any]] = {}
_VALIDATORS_KEPT = 4096


def _cached_validator(schema: Any, cls: Any) -> Any:
    """The validator of `cls` for a schema object of the spec, built on first use."""
    hit = _VALIDATORS.get(id(schema))
    if hit is not None and hit[0] is schema and type(hit[1]) is cls:
        return hit[1]
    validator = cls(schema, format_checker=Draft4Validator.FORMAT_CHECKER)
    if len(_VALIDATORS) >= _VALIDATORS_KEPT:
        _VALIDATORS.clear()
    _VALIDATORS[id(schema)] = (schema, validator)
    return validator


class CachedParameterValidator(ParameterValidator):
    """Connexion's parameter validator, with one jsonschema validator per spec parameter."""

    def validate_parameter(self, parameter_type: str, value: Any, param: dict[str, Any],
                           param_name: str | None = None) -> str | None:
        """Connexion's validate_parameter with the same outcome and messages."""
        if is_nullable(param) and is_null(value):
            return None
        if value is not None:
            try:
                _cached_validator(param.get("schema", param), Draft4Validator).validate(value)
            except ValidationError as exception:
                return str(exception)
            return None
        if param.get("required"):
            return f"Missing {parameter_type} parameter '{param['name']}'"
        return None


class JSONBodyValidator(JSONRequestBodyValidator):
    """Connexion's JSON body validator, answering 400 for a body that is not UTF-8, with one
    jsonschema validator per spec schema."""

    @property
    def _validator(self) -> Any:
        return _cached_validator(self._schema, Draft4RequestValidator)

    async def _parse(self, stream: Any, scope: Scope) -> Any:
        chunks = [message async for message in stream]

        async def replay() -> Any:
            for chunk in chunks:
                yield chunk

        try:
            b"".join(chunks).decode(self._encoding)
        except UnicodeDecodeError as exc:
            raise BadRequestProblem(
                detail=f"request body is not valid {self._encoding}: {exc.reason}") from exc
        return await super()._parse(replay(), scope)


# Connexion replaces the whole "body" entry, so every media type is listed again
VALIDATORS: dict[str, Any] = {
    **VALIDATOR_MAP,
    "parameter": CachedParameterValidator,
    "body": MediaTypeDict({
        "*/*json": JSONBodyValidator,
        "application/x-www-form-urlencoded": FormDataValidator,
        "multipart/form-data": MultiPartFormDataValidator,
    }),
}


class FastJsonifier(Jsonifier):
    """Connexion's jsonifier writing answers with orjson: compact, keys in the handler's order."""

    def dumps(self, data: Any, **kwargs: Any) -> bytes:  # type: ignore[override]
        """The answer's body as UTF-8 JSON and a newline, as Connexion's own ends."""
        return codec.dumps(data) + b"\n"


# Handlers read the ASGI scope itself: every attribute of `connexion.request` builds a new
# request object (and its headers) from the scope, several times per call otherwise


def platform() -> Platform:
    """The platform serving the current request."""
    return current_scope[SCOPE_KEY]


def tenant() -> str:
    """The current request's tenant, created on first use."""
    scope = current_scope._get_current_object()  # type: ignore[attr-defined]
    return scope[SCOPE_KEY].require_tenant(scope[TENANT_KEY])


def header(name: str) -> str | None:
    """A header of the current request, repeated values joined by ', '."""
    key = name.lower().encode("latin-1")
    values = [v.decode("latin-1") for k, v in current_scope["headers"] if k.lower() == key]
    return ", ".join(values) if values else None


def bearer_info(token: str, request: ConnexionRequest) -> dict[str, Any]:
    """Connexion's bearer check: 403 for a token that is invalid, expired or foreign."""
    p: Platform = request.scope[SCOPE_KEY]
    principal: Principal = p.auth.verify(token, request.scope[TENANT_KEY])
    return {"sub": principal.client_id, "tenant": principal.tenant}


class PlatformBearerHandler(BearerSecurityHandler):
    """Connexion's bearer handler; which keywords the info function accepts is read once per
    function, not from its signature on every request."""

    _accepts: dict[tuple[Any, str], bool] = {}

    @staticmethod
    def _accepts_kwarg(func: Any, keyword: str) -> bool:
        accepts = PlatformBearerHandler._accepts
        key = (func, keyword)
        if key not in accepts:
            arguments, has_kwargs = inspect_function_arguments(func)
            accepts[key] = has_kwargs or keyword in arguments
        return accepts[key]


PLATFORM_SECURITY = {"bearer": PlatformBearerHandler}  # the platform API's security_map

PLATFORM_HANDLERS = "simulator.platform.handlers"  # the platform API's resolver prefix
ERP_HANDLERS = "simulator.erp.handlers"  # the mock ERP's resolver prefix
# resolver prefix -> the fault system its operations belong to
FAULTED_SYSTEMS = ((PLATFORM_HANDLERS, "platform"), (ERP_HANDLERS, "erp"))
NEVER_FAULTED = frozenset({"system.health"})


class FaultMiddleware:
    """After routing: a platform or ERP operation's firing fault waits, then fails or passes
    on."""

    def __init__(self, app: ASGIApp, platform: Platform) -> None:
        self.app = app
        self.platform = platform

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            routing = scope.get("extensions", {}).get("connexion_routing", {})
            # Connexion gives the resolved name (the resolver's module prefix + operationId)
            resolved = routing.get("operation_id") or ""
            prefix, system = next(((pre, sys) for pre, sys in FAULTED_SYSTEMS
                                   if resolved.startswith(pre + ".")), ("", ""))
            operation = resolved[len(prefix) + 1:]
            tenant_name = scope.get(TENANT_KEY)
            faults = self.platform.faults
            if (system and tenant_name and operation not in NEVER_FAULTED
                    and faults.might_fault(tenant_name, system)):
                decision = await anyio.to_thread.run_sync(
                    faults.decide, tenant_name, system, operation)
                if decision is not None:
                    if decision.latency_s > 0:
                        await asyncio.sleep(decision.latency_s)  # the one allowed wait
                    if decision.status is not None:
                        await _fault_response(scope, decision, operation)(scope, receive, send)
                        return
        await self.app(scope, receive, send)


def _fault_response(scope: Scope, decision: Decision, operation: str) -> Response:
    """The simulated failure as application/problem+json."""
    status = decision.status or 503
    body = problem_body(status, HTTP_STATUS_CODES.get(status, "Error"),
                        f"simulated fault {decision.fault_id} on {operation}",
                        error_code="simulated_fault", extra={"fault_id": decision.fault_id},
                        instance=scope.get("path"))
    return Response(json.dumps(body), status_code=status, media_type=PROBLEM,
                    headers={"X-Sim-Fault": decision.fault_id})
