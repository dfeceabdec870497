"""Fault injection: per-tenant rules that make a system's operation fail or slow down.

Faults are entity documents (kind "fault"). Every platform request asks `decide`, so the
tenant's faults are cached in memory per store and the cache is dropped, after commit, by
every change to them; a tenant without faults costs two dict look-ups. A fault's `fired`
count (and its disarming after `times`) is written only when it actually fires.
"""

from __future__ import annotations

import random
import re
import threading
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from simulator.core.clock import Clock, iso, parse_iso
from simulator.core.errors import NotFound, ValidationFailed
from simulator.core.store import Store, Tx

FAULT = "fault"
SYSTEMS = ("platform", "psp", "erp", "oms")
DEFAULT_STATUS = 503
MAX_LATENCY_MS = 300_000
_OPERATION = re.compile(r"^[A-Za-z0-9_.*-]{1,200}$")


@dataclass(frozen=True)
class Decision:
    """What a firing fault asks of the call: wait latency_s, then fail with status (or go on)."""

    status: int | None
    latency_s: float
    fault_id: str


@dataclass(frozen=True)
class _Rule:
    """A fault as the hot path needs it (window as timestamps)."""

    id: str
    system: str
    operation: str
    status: int | None
    rate: float
    latency_s: float
    starts: float | None
    ends: float | None
    times: int | None


class _Cache:
    """Per store: tenant -> its armed rules, by system; a generation guards against stale loads."""

    def __init__(self) -> None:
        self.tenants: dict[str, dict[str, tuple[_Rule, ...]]] = {}
        self.generation = 0
        self.lock = threading.Lock()

    def drop(self, tenant: str | None = None) -> None:
        """Forget one tenant's rules (or every tenant's); the next decide reloads them."""
        with self.lock:
            self.generation += 1
            if tenant is None:
                self.tenants.clear()
            else:
                self.tenants.pop(tenant, None)


_CACHES: weakref.WeakKeyDictionary[Store, _Cache] = weakref.WeakKeyDictionary()
_CACHES_LOCK = threading.Lock()
_BY_CONN: dict[int, _Cache] = {}  # the writer connection of each cached store -> its cache


def cache_of(store: Store) -> _Cache:
    """The fault cache of a store, created on first use."""
    cache = _CACHES.get(store)
    if cache is None:
        with _CACHES_LOCK:
            cache = _CACHES.get(store)
            if cache is None:
                cache = _CACHES[store] = _Cache()
                _BY_CONN[id(store._conn)] = cache
                weakref.finalize(store, _BY_CONN.pop, id(store._conn), None)
    return cache


def invalidate(store: Store, tenant: str | None = None) -> None:
    """Drop cached faults, e.g. after a reset rewrote the store behind this module's back."""
    cache_of(store).drop(tenant)


def _rule(doc: dict[str, Any]) -> _Rule:
    window = doc.get("window") or {}
    return _Rule(id=doc["id"], system=doc["system"], operation=doc["operation"],
                 status=doc.get("status"), rate=float(doc.get("rate", 1)),
                 latency_s=doc.get("latency_ms", 0) / 1000.0,
                 starts=parse_iso(window["starts_at"]).timestamp()
                 if window.get("starts_at") else None,
                 ends=parse_iso(window["ends_at"]).timestamp() if window.get("ends_at") else None,
                 times=doc.get("times"))


def _armed(doc: dict[str, Any]) -> bool:
    return doc.get("times") is None or doc.get("fired", 0) < doc["times"]


def _load(tx: Tx, tenant: str) -> dict[str, tuple[_Rule, ...]]:
    by_system: dict[str, list[_Rule]] = {}
    for doc in tx.query(tenant, FAULT, ascending=True):
        if _armed(doc):
            by_system.setdefault(doc["system"], []).append(_rule(doc))
    return {system: tuple(rules) for system, rules in by_system.items()}


def _rules(store_or_tx: Store | Tx, tenant: str) -> dict[str, tuple[_Rule, ...]]:
    """The tenant's armed rules by system, from the cache when there is one."""
    if isinstance(store_or_tx, Tx):
        cache = _BY_CONN.get(id(store_or_tx.conn))
        if cache is None:
            return _load(store_or_tx, tenant)
        found = cache.tenants.get(tenant)
        if found is not None:
            return found
        generation = cache.generation
        found = _load(store_or_tx, tenant)
    else:
        cache = cache_of(store_or_tx)
        found = cache.tenants.get(tenant)
        if found is not None:
            return found
        generation = cache.generation
        with store_or_tx.read() as tx:
            found = _load(tx, tenant)
    with cache.lock:
        if cache.generation == generation:  # no change committed while loading
            cache.tenants[tenant] = found
    return found


def might_fault(store: Store, tenant: str, system: str) -> bool:
    """Cheap pre-check: False when the tenant surely has no armed fault for the system."""
    cache = _CACHES.get(store)
    if cache is not None:
        rules = cache.tenants.get(tenant)
        if rules is not None:
            return system in rules
    return True


def _timestamp(now: datetime | float) -> float:
    return now if isinstance(now, (int, float)) else now.timestamp()


def decide(store_or_tx: Store | Tx, tenant: str, system: str, operation: str,
           now: datetime | float, rng: random.Random) -> Decision | None:
    """The fault that fires on this call, if any (and count it); None: answer normally.

    Armed faults of the system are tried oldest first; one that matches the operation, is
    inside its window and wins its rate draw fires. Given a Tx, it must be a write
    transaction (the fired count is written in it).
    """
    rules = _rules(store_or_tx, tenant).get(system)
    if not rules:
        return None
    ts = _timestamp(now)
    for rule in rules:
        if rule.operation != "*" and rule.operation != operation:
            continue
        if (rule.starts is not None and ts < rule.starts) or (
                rule.ends is not None and ts >= rule.ends):
            continue
        if rule.rate < 1.0 and not rng.random() < rule.rate:
            continue
        if _fire(store_or_tx, tenant, rule.id):
            return Decision(status=rule.status, latency_s=rule.latency_s, fault_id=rule.id)
    return None


def _fire(store_or_tx: Store | Tx, tenant: str, fault_id: str) -> bool:
    """Count one firing; False when the fault is gone or already spent."""
    if isinstance(store_or_tx, Tx):
        return _fire_in(store_or_tx, tenant, fault_id, _BY_CONN.get(id(store_or_tx.conn)))
    with store_or_tx.tx() as tx:
        return _fire_in(tx, tenant, fault_id, cache_of(store_or_tx))


def _fire_in(tx: Tx, tenant: str, fault_id: str, cache: _Cache | None) -> bool:
    doc = tx.get(tenant, FAULT, fault_id)
    if doc is None or not _armed(doc):
        if cache is not None:
            tx.after_commit(lambda: cache.drop(tenant))
        return False
    doc["fired"] = doc.get("fired", 0) + 1
    _put(tx, tenant, doc)
    if cache is not None and not _armed(doc):  # just spent: the cache must forget it
        tx.after_commit(lambda: cache.drop(tenant))
    return True


def _put(tx: Tx, tenant: str, doc: dict[str, Any]) -> None:
    tx.put(tenant, FAULT, doc["id"], doc, sort_key=f"{doc['created_at']}|{doc['seq']:012d}")


def public(doc: dict[str, Any]) -> dict[str, Any]:
    """A fault as the control plane shows it."""
    out = {k: v for k, v in doc.items() if k != "seq"}
    out["armed"] = _armed(doc)
    return out


def validate(body: dict[str, Any], operations: dict[str, frozenset[str]]) -> dict[str, Any]:
    """The fault's settings with defaults, or ValidationFailed (422) naming the bad field."""

    def bad(field: str, detail: str) -> ValidationFailed:
        return ValidationFailed(detail, field=field, status=422, error_code="invalid_fault")

    system = body.get("system")
    if system not in SYSTEMS:
        raise bad("system", f"system must be one of {', '.join(SYSTEMS)}, got {system!r}")
    operation = body.get("operation")
    if not isinstance(operation, str) or not _OPERATION.match(operation):
        raise bad("operation", "operation must be '*' or an operation name")
    known = operations.get(system)
    if operation != "*" and known is not None and operation not in known:
        raise bad("operation", f"{system} has no operation {operation!r}"
                  f" (e.g. {', '.join(sorted(known)[:3])})")
    status = body.get("status", DEFAULT_STATUS)
    if status is not None and (isinstance(status, bool) or not isinstance(status, int)
                               or not 400 <= status <= 599):
        raise bad("status", "status must be an HTTP status from 400 to 599, or null")
    rate = body.get("rate", 1)
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate <= 1:
        raise bad("rate", "rate must be a number from 0 to 1")
    latency = body.get("latency_ms", 0)
    if isinstance(latency, bool) or not isinstance(latency, int) or not (
            0 <= latency <= MAX_LATENCY_MS):
        raise bad("latency_ms", f"latency_ms must be an integer from 0 to {MAX_LATENCY_MS}")
    if status is None and latency == 0:
        raise bad("latency_ms", "a fault without a status must ask for latency_ms > 0")
    times = body.get("times")
    if times is not None and (isinstance(times, bool) or not isinstance(times, int)
                              or times < 1):
        raise bad("times", "times must be an integer >= 1, or null")
    window = body.get("window") or None
    if window is not None:
        if not isinstance(window, dict) or set(window) - {"starts_at", "ends_at"}:
            raise bad("window", "window takes starts_at and ends_at only")
        parsed = {}
        for key in ("starts_at", "ends_at"):
            value = window.get(key)
            if value is None:
                parsed[key] = None
                continue
            try:
                parsed[key] = parse_iso(value) if isinstance(value, str) else None
            except ValueError:
                parsed[key] = None
            if parsed[key] is None:
                raise bad(f"window.{key}", f"window.{key} must be an ISO 8601 date-time")
        if parsed["starts_at"] and parsed["ends_at"] and parsed["ends_at"] <= parsed["starts_at"]:
            raise bad("window.ends_at", "window.ends_at must be after window.starts_at")
        window = {k: iso(v) if v else None for k, v in parsed.items()}
        if window == {"starts_at": None, "ends_at": None}:
            window = None
    return {"system": system, "operation": operation, "status": status, "rate": float(rate),
            "latency_ms": latency, "window": window, "times": times}


class Faults:
    """The faults service of one platform: CRUD, the cache, and the seeded random source."""

    def __init__(self, store: Store, clock: Clock, seed: int,
                 new_id: Callable[[], str]) -> None:
        self.store = store
        self.clock = clock
        self.rng = random.Random(seed)  # its draws are atomic under the GIL: no lock needed
        self._new_id = new_id
        self._cache = cache_of(store)
        self.operations: dict[str, frozenset[str]] = {}

    def register_operations(self, system: str, names: Iterable[str]) -> None:
        """Declare a system's operation names, so a fault naming another one is a 422."""
        self.operations[system] = frozenset(names)

    def decide(self, tenant: str, system: str, operation: str,
               tx: Tx | None = None) -> Decision | None:
        """The fault firing on this call of system/operation in tenant, or None (hot path)."""
        rules = self._cache.tenants.get(tenant)
        if rules is not None and system not in rules:
            return None
        return decide(tx or self.store, tenant, system, operation, self.clock.timestamp(),
                      self.rng)

    def might_fault(self, tenant: str, system: str) -> bool:
        """False when the tenant surely has no armed fault for the system (no I/O)."""
        rules = self._cache.tenants.get(tenant)
        return rules is None or system in rules

    def create(self, tenant: str, body: dict[str, Any]) -> dict[str, Any]:
        """Validate and arm a fault."""
        fault = validate(body, self.operations)
        with self.store.tx() as tx:
            seq = int(tx.meta("fault_seq") or 0) + 1
            tx.set_meta("fault_seq", str(seq))
            doc = {"id": self._new_id(), "tenant": tenant, **fault,
                   "created_at": iso(self.clock.now()), "fired": 0, "seq": seq}
            _put(tx, tenant, doc)
            tx.after_commit(lambda: self._cache.drop(tenant))
        return public(doc)

    def list(self, tenant: str) -> list[dict[str, Any]]:
        """Every fault of the tenant, oldest first."""
        with self.store.read() as tx:
            return [public(d) for d in tx.query(tenant, FAULT, ascending=True)]

    def get(self, tenant: str, fault_id: str) -> dict[str, Any]:
        """One fault, or NotFound."""
        with self.store.read() as tx:
            doc = tx.get(tenant, FAULT, fault_id)
        if doc is None:
            raise NotFound(f"fault {fault_id!r} not found", error_code="fault_not_found")
        return public(doc)

    def delete(self, tenant: str, fault_id: str) -> None:
        """Remove one fault, or NotFound."""
        with self.store.tx() as tx:
            if not tx.delete(tenant, FAULT, fault_id):
                raise NotFound(f"fault {fault_id!r} not found", error_code="fault_not_found")
            tx.after_commit(lambda: self._cache.drop(tenant))

    def clear(self, tenant: str) -> int:
        """Remove every fault of the tenant; how many there were."""
        with self.store.tx() as tx:
            docs = tx.query(tenant, FAULT)
            for doc in docs:
                tx.delete(tenant, FAULT, doc["id"])
            tx.after_commit(lambda: self._cache.drop(tenant))
        return len(docs)

    def invalidate(self, tenant: str | None = None) -> None:
        """Drop cached faults (call after rewriting the store directly, e.g. a reset)."""
        self._cache.drop(tenant)
