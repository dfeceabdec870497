"""Event Stream integrations: register, change, start, stop and delete the webhooks a tenant's
events are delivered to (NewStore's Event Stream configuration API)."""

from __future__ import annotations

import copy
import math
import re
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from simulator.core.clock import iso, parse_iso
from simulator.core.errors import Conflict, NotFound, ValidationFailed
from simulator.core.store import Tx
from simulator.eventstream import deliveries, outbox, profiles
from simulator.eventstream.outbox import INTEGRATION

Doc = dict[str, Any]

MAX_INTEGRATIONS = 25  # per tenant, stopped and temporary ones included (NewStore documents it)
TYPES = ("permanent", "temporary")
STOP_REASONS = ("manual", "consecutive_failures", "ended")
MAX_TIMEOUT = 120.0
MAX_FILTER_ENTRIES = 200
MAX_RETRY_DELAYS = 50
MAX_URL = 2048
MAX_API_KEY = 1024

_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_EVENT = re.compile(r"^(\*|[a-z0-9_]+(\.[a-z0-9_]+)*(\.\*)?)$")
_ENTITY = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_REGISTER_KEYS = {"id", "integration_type", "callback_parameters", "starts_at", "ends_at",
                  "filter_conditions", "simulator"}
_SIM_KEYS = {"retry_profile", "timeout_seconds", "pause_after_failures", "chaos"}
_CHAOS_KEYS = {"duplicate_rate", "out_of_order_window_ms", "latency_ms"}


def _bad(detail: str, field: str, code: str = "validation_error") -> ValidationFailed:
    return ValidationFailed(detail, error_code=code, field=field)


def _not_found(integration_id: str) -> NotFound:
    return NotFound(f"resource_not_found: no Event Stream integration with id {integration_id!r}",
                    error_code="resource_not_found")


# -- validation -------------------------------------------------------------------------

def _object(value: Any, field: str) -> Doc:
    if not isinstance(value, dict):
        raise _bad(f"{field} must be an object", field)
    return value


def _unknown(value: Doc, allowed: set[str], prefix: str) -> None:
    extra = sorted(set(value) - allowed)
    if extra:
        name = f"{prefix}.{extra[0]}" if prefix else extra[0]
        raise _bad(f"unknown field {name!r}", name)


def _number(value: Any, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _bad(f"{field} must be a number", field)
    return float(value)


def _timestamp(value: Any, field: str) -> str:
    """An ISO 8601 date-time as UTC text with milliseconds and Z (compares as text)."""
    if not isinstance(value, str):
        raise _bad(f"{field} must be an ISO 8601 date-time", field)
    try:
        return iso(parse_iso(value.strip()))
    except (ValueError, OverflowError):
        raise _bad(f"{field} is not an ISO 8601 date-time: {value!r}", field) from None


def _callback_url(value: Any) -> str:
    field = "callback_parameters.callback_url"
    if not isinstance(value, str) or not value:
        raise _bad("callback_url must be a non-empty string", field)
    if len(value) > MAX_URL or any(ord(ch) <= 0x20 or ch == "\x7f" for ch in value):
        raise _bad("callback_url must be a URL without spaces or control characters, at most "
                   f"{MAX_URL} characters", field)
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        raise _bad(f"callback_url is not a valid URL: {value!r}", field) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _bad("callback_url must be an absolute http or https URL", field)
    return value


def _api_key(value: Any) -> str:
    field = "callback_parameters.api_key"
    if not isinstance(value, str) or len(value) > MAX_API_KEY:
        raise _bad(f"api_key must be a string of at most {MAX_API_KEY} characters", field)
    return value


def _callback_parameters(value: Any) -> Doc:
    params = _object(value, "callback_parameters")
    _unknown(params, {"callback_url", "api_key"}, "callback_parameters")
    if "callback_url" not in params:
        raise _bad("callback_url is required", "callback_parameters.callback_url")
    found = {"callback_url": _callback_url(params["callback_url"])}
    if params.get("api_key") is not None:
        found["api_key"] = _api_key(params["api_key"])
    return found


def _name_list(value: Any, field: str, pattern: re.Pattern[str], what: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > MAX_FILTER_ENTRIES:
        raise _bad(f"{field} must be a list of at most {MAX_FILTER_ENTRIES} {what}", field)
    for item in value:
        if not isinstance(item, str) or not pattern.match(item):
            raise _bad(f"{field} holds an invalid {what[:-1]}: {item!r}", field)
    return list(dict.fromkeys(value))


def _filter_conditions(value: Any, current: Doc | None = None) -> Doc:
    found = copy.deepcopy(current) if current else {"event_filter": [], "entity_filter": []}
    if value is None:
        return found
    conditions = _object(value, "filter_conditions")
    _unknown(conditions, {"event_filter", "entity_filter"}, "filter_conditions")
    if "event_filter" in conditions:
        found["event_filter"] = _name_list(conditions["event_filter"],
                                           "filter_conditions.event_filter", _EVENT,
                                           "event names")
    if "entity_filter" in conditions:
        found["entity_filter"] = _name_list(conditions["entity_filter"],
                                            "filter_conditions.entity_filter", _ENTITY,
                                            "entity types")
    return found


def _retry_profile(value: Any) -> Any:
    field = "simulator.retry_profile"
    if isinstance(value, dict):
        _unknown(value, {"delays", "jitter"}, field)
        delays = value.get("delays")
        if not isinstance(delays, list) or len(delays) > MAX_RETRY_DELAYS:
            raise _bad(f"retry_profile.delays must be a list of at most {MAX_RETRY_DELAYS}"
                       " numbers of seconds", f"{field}.delays")
        for delay in delays:
            if _number(delay, f"{field}.delays") < 0:
                raise _bad("retry delays must not be negative", f"{field}.delays")
        if "jitter" in value and not 0 <= _number(value["jitter"], f"{field}.jitter") <= 1:
            raise _bad("retry_profile.jitter must be between 0 and 1", f"{field}.jitter")
    elif not isinstance(value, str):
        raise _bad("retry_profile must be a profile name or {delays, jitter}", field)
    try:
        profiles.resolve(value)
    except (ValueError, TypeError, AttributeError) as exc:
        raise _bad(str(exc), field, "unknown_retry_profile") from None
    return copy.deepcopy(value)


def _chaos(value: Any) -> Doc:
    chaos = _object(value, "simulator.chaos")
    _unknown(chaos, _CHAOS_KEYS, "simulator.chaos")
    for key, upper in (("duplicate_rate", 1.0), ("out_of_order_window_ms", math.inf),
                       ("latency_ms", math.inf)):
        if key in chaos:
            field = f"simulator.chaos.{key}"
            number = _number(chaos[key], field)
            if not 0 <= number <= upper:
                raise _bad(f"{key} must be between 0 and {upper:g}", field)
    return dict(chaos)


def _simulator(value: Any, current: Doc | None = None) -> Doc:
    """The simulator-only settings; a None value (PATCH) drops a key back to the default."""
    found = copy.deepcopy(current) if current else {}
    if value is None:
        return found
    settings = _object(value, "simulator")
    _unknown(settings, _SIM_KEYS, "simulator")
    for key, given in settings.items():
        if given is None:
            found.pop(key, None)
        elif key == "retry_profile":
            found[key] = _retry_profile(given)
        elif key == "timeout_seconds":
            if not 0 < _number(given, "simulator.timeout_seconds") <= MAX_TIMEOUT:
                raise _bad(f"timeout_seconds must be above 0 and at most {MAX_TIMEOUT:g}",
                           "simulator.timeout_seconds")
            found[key] = given
        elif key == "pause_after_failures":
            if isinstance(given, bool) or not isinstance(given, int) or given < 1:
                raise _bad("pause_after_failures must be an integer of at least 1",
                           "simulator.pause_after_failures")
            found[key] = given
        else:
            found[key] = _chaos(given)
    return found


def _window(integration_type: str, starts_at: str, ends_at: str | None) -> None:
    if integration_type == "temporary" and ends_at is None:
        raise _bad("a temporary integration needs ends_at", "ends_at")
    if integration_type == "permanent" and ends_at is not None:
        raise _bad("ends_at is only for temporary integrations", "ends_at")
    if ends_at is not None and ends_at <= starts_at:
        raise _bad("ends_at must be after starts_at", "ends_at")


# -- reading ----------------------------------------------------------------------------

def _load(tx: Tx, tenant: str, integration_id: str) -> Doc:
    doc = tx.get(tenant, INTEGRATION, integration_id)
    if doc is None:
        raise _not_found(integration_id)
    return doc


def _view(tx: Tx, doc: Doc) -> Doc:
    """The stored document plus its delivery counts, as the API answers it."""
    return {**doc, "delivery": deliveries.counts(tx, doc["tenant"], doc["id"])}


def _save(tx: Tx, doc: Doc) -> None:
    tx.put(doc["tenant"], INTEGRATION, doc["id"], doc, sort_key=doc["created_at"])


def list_integrations(tx: Tx, tenant: str) -> list[Doc]:
    """Every integration of the tenant, oldest first."""
    return [_view(tx, doc) for doc in tx.query(tenant, INTEGRATION, ascending=True)]


def get(tx: Tx, tenant: str, integration_id: str) -> Doc:
    """One integration with its delivery counts."""
    return _view(tx, _load(tx, tenant, integration_id))


# -- changing ---------------------------------------------------------------------------

def register(tx: Tx, tenant: str, body: Any, now: datetime) -> Doc:
    """Register and start an integration; a past starts_at replays retained events."""
    body = _object(body, "body")
    _unknown(body, _REGISTER_KEYS, "")
    integration_id = body.get("id")
    if not isinstance(integration_id, str) or not _ID.match(integration_id):
        raise _bad("id must be 1-64 letters, digits, '-', '_' or '.'", "id")
    integration_type = body.get("integration_type", "permanent")
    if integration_type not in TYPES:
        raise _bad("integration_type must be permanent or temporary", "integration_type")
    if "callback_parameters" not in body:
        raise _bad("callback_parameters is required", "callback_parameters")
    callback = _callback_parameters(body["callback_parameters"])
    stamp = iso(now)
    starts_at = stamp if body.get("starts_at") is None else _timestamp(body["starts_at"],
                                                                        "starts_at")
    ends_at = None if body.get("ends_at") is None else _timestamp(body["ends_at"], "ends_at")
    _window(integration_type, starts_at, ends_at)
    conditions = _filter_conditions(body.get("filter_conditions"))
    simulator = _simulator(body.get("simulator"))
    if tx.get(tenant, INTEGRATION, integration_id) is not None:
        raise Conflict(f"an Event Stream integration with id {integration_id!r} already exists",
                       error_code="integration_already_exists", field="id")
    if tx.count(tenant, INTEGRATION) >= MAX_INTEGRATIONS:
        raise Conflict(f"a tenant may hold at most {MAX_INTEGRATIONS} Event Stream integrations"
                       " (stopped and temporary ones included); delete one first",
                       error_code="integration_limit_reached", field="id")
    doc: Doc = {
        "tenant": tenant, "id": integration_id, "integration_type": integration_type,
        "callback_parameters": callback, "starts_at": starts_at, "ends_at": ends_at,
        "filter_conditions": conditions, "simulator": simulator, "status": "running",
        "stopped_reason": None, "consecutive_failures": 0, "created_at": stamp,
        "updated_at": stamp,
    }
    _save(tx, doc)
    if starts_at < stamp:
        outbox.replay(tx, doc, now)
    return _view(tx, doc)


def patch(tx: Tx, tenant: str, integration_id: str, body: Any, now: datetime) -> Doc:
    """Merge a change into an integration; its id, type and start cannot change."""
    body = _object(body, "body")
    doc = _load(tx, tenant, integration_id)
    _unknown(body, _REGISTER_KEYS, "")
    if "id" in body and body["id"] != integration_id:
        raise _bad("an integration's id cannot be changed", "id", "immutable_field")
    for key in ("integration_type", "starts_at"):
        given = body.get(key)
        if key == "starts_at" and given is not None:
            given = _timestamp(given, key)
        if key in body and given != doc[key]:
            raise _bad(f"an integration's {key} cannot be changed", key, "immutable_field")
    changed = copy.deepcopy(doc)
    if "callback_parameters" in body:
        given = _object(body["callback_parameters"], "callback_parameters")
        _unknown(given, {"callback_url", "api_key"}, "callback_parameters")
        params = changed["callback_parameters"]
        if "callback_url" in given:
            params["callback_url"] = _callback_url(given["callback_url"])
        if "api_key" in given:
            if given["api_key"] is None:
                params.pop("api_key", None)
            else:
                params["api_key"] = _api_key(given["api_key"])
    if "ends_at" in body:
        changed["ends_at"] = (None if body["ends_at"] is None
                              else _timestamp(body["ends_at"], "ends_at"))
        _window(changed["integration_type"], changed["starts_at"], changed["ends_at"])
    if "filter_conditions" in body:
        changed["filter_conditions"] = _filter_conditions(body["filter_conditions"],
                                                          changed["filter_conditions"])
    if "simulator" in body:
        changed["simulator"] = _simulator(body["simulator"], changed["simulator"])
    if changed != doc:
        changed["updated_at"] = iso(now)
        _save(tx, changed)
    return _view(tx, changed)


def delete(tx: Tx, tenant: str, integration_id: str) -> None:
    """Delete an integration with its deliveries and attempt logs."""
    _load(tx, tenant, integration_id)
    deliveries.remove(tx, tenant, integration_id)
    tx.delete(tenant, INTEGRATION, integration_id)


def start(tx: Tx, tenant: str, integration_id: str, now: datetime) -> Doc:
    """Run an integration again: its failure count resets and held deliveries fall due."""
    doc = _load(tx, tenant, integration_id)
    doc.update(status="running", stopped_reason=None, consecutive_failures=0,
               updated_at=iso(now))
    _save(tx, doc)
    deliveries.release(tx, tenant, integration_id, now.timestamp())
    return _view(tx, doc)


def stop(tx: Tx, tenant: str, integration_id: str, now: datetime,
         reason: str = "manual") -> Doc:
    """Stop an integration (by hand, after consecutive failures, or at the end of its window);
    its pending deliveries are held. Stopping a stopped integration keeps its first reason."""
    if reason not in STOP_REASONS:
        raise ValueError(f"unknown stop reason {reason!r}")
    doc = _load(tx, tenant, integration_id)
    if doc["status"] != "stopped":
        doc.update(status="stopped", stopped_reason=reason, updated_at=iso(now))
        _save(tx, doc)
    deliveries.hold(tx, tenant, integration_id)
    return _view(tx, doc)

