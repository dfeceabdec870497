"""The payment provider: authorize, capture and refund as transitions the clock fires, with a
delay and a failure rate per tenant and payment method.

With every delay zero (the default) an operation completes inside the caller's transaction,
so flows behave as if there were no PSP. Otherwise the operation is a `psp_operation`
document plus a timer; until the timer fires, the platform has not booked the transaction
(the "payment details unavailable" exception of NewStore's returns playbook).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from simulator.core.clock import Clock, iso
from simulator.core.errors import NotFound, ValidationFailed
from simulator.core.store import Tx
from simulator.core.timers import TimerRunner

Doc = dict[str, Any]

OPERATION = "psp_operation"  # entity kind of a deferred (or failed) operation
CONFIG = "psp_config"  # entity kind of a tenant's PSP settings (one document, id CONFIG_ID)
CONFIG_ID = "psp"
TIMER_KIND = "psp.complete"

KINDS = ("authorize", "capture", "refund")
METHODS = ("credit_card", "gift_card", "cash", "e_gift_card", "store_credit", "external",
           "default")
FIELDS = {"authorize": "authorize_delay_s", "capture": "capture_delay_s",
          "refund": "refund_delay_s"}
SETTINGS = (*FIELDS.values(), "failure_rate")
MAX_DELAY = 30 * 24 * 3600.0  # a month of simulated time
DEFAULTS: Doc = dict.fromkeys(SETTINGS, 0.0)
STATUSES = ("pending", "succeeded", "failed")

# handler(tx, tenant, operation) booked by the platform when an operation settles (the
# operation's status says succeeded or failed)
Completion = Callable[[Tx, str, Doc], None]


@dataclass(frozen=True)
class FaultVerdict:
    """What a simulated fault asks of an operation: wait delay_s more, then fail or go on."""

    failed: bool
    delay_s: float = 0.0
    fault_id: str | None = None


# fault(tx, tenant, kind, now) -> the verdict of a fault firing on this operation, or None
Fault = Callable[[Tx, str, str, float], FaultVerdict | None]


def _stamp(ts: float) -> str:
    return iso(datetime.fromtimestamp(ts, UTC))


def _effective(stored: Doc, method: str) -> Doc:
    return {**DEFAULTS, **(stored.get("default") or {}), **(stored.get(method) or {})}


def validate_config(patch: Any) -> Doc:
    """A config patch as floats; ValidationFailed naming the first bad field."""
    if not isinstance(patch, dict):
        raise ValidationFailed("the PSP configuration must be an object of payment methods",
                               error_code="invalid_psp_config")
    clean: Doc = {}
    for method, values in patch.items():
        if method not in METHODS:
            raise ValidationFailed(
                f"unknown payment method {method!r}; known: {', '.join(METHODS)}",
                error_code="invalid_psp_config", field=str(method))
        if not isinstance(values, dict):
            raise ValidationFailed(f"{method} must be an object of settings",
                                   error_code="invalid_psp_config", field=method)
        clean[method] = {}
        for name, value in values.items():
            field = f"{method}.{name}"
            if name not in SETTINGS:
                raise ValidationFailed(
                    f"unknown setting {field!r}; known: {', '.join(SETTINGS)}",
                    error_code="invalid_psp_config", field=field)
            if isinstance(value, bool) or not isinstance(value, int | float) \
                    or not math.isfinite(value):
                raise ValidationFailed(f"{field} must be a number",
                                       error_code="invalid_psp_config", field=field)
            high = 1.0 if name == "failure_rate" else MAX_DELAY
            if not 0 <= value <= high:
                raise ValidationFailed(f"{field} must be between 0 and {high:g}",
                                       error_code="invalid_psp_config", field=field)
            clean[method][name] = float(value)
    return clean


class PaymentProvider:
    """The simulated PSP of every tenant; the platform registers what settling books."""

    def __init__(self, clock: Clock, timers: TimerRunner, seed: int = 0,
                 fault: Fault | None = None) -> None:
        self.clock = clock
        self.timers = timers
        self.fault = fault
        self._rng = random.Random(f"psp-{seed}")  # drawn only inside write transactions
        self._handlers: dict[str, Completion] = {}
        timers.register(TIMER_KIND, self._fire)

    def register(self, kind: str, handler: Completion) -> None:
        """Call handler(tx, tenant, operation) when an operation of `kind` settles."""
        if kind not in KINDS:
            raise ValueError(f"PSP operation kind must be one of {KINDS}, got {kind!r}")
        self._handlers[kind] = handler

    # configuration --------------------------------------------------------------------------
    def config(self, tx: Tx, tenant: str) -> Doc:
        """The effective settings of every payment method (unset ones inherit `default`)."""
        stored = tx.get(tenant, CONFIG, CONFIG_ID) or {}
        return {method: _effective(stored, method) for method in METHODS}

    def update_config(self, tx: Tx, tenant: str, patch: Any) -> Doc:
        """Merge a partial per-method patch into the stored settings; the effective result."""
        clean = validate_config(patch)
        stored = tx.get(tenant, CONFIG, CONFIG_ID) or {}
        for method, values in clean.items():
            stored[method] = {**(stored.get(method) or {}), **values}
        tx.put(tenant, CONFIG, CONFIG_ID, stored)
        return self.config(tx, tenant)

    def settings_for(self, tx: Tx, tenant: str, method: str | None) -> Doc:
        """The effective settings of one payment method (unknown methods use `default`)."""
        stored = tx.get(tenant, CONFIG, CONFIG_ID) or {}
        return _effective(stored, method if method in METHODS else "default")

    # operations -----------------------------------------------------------------------------
    def authorize(self, tx: Tx, tenant: str, **request: Any) -> Doc:
        """Authorize an amount on an instrument; see request()."""
        return self.request(tx, tenant, "authorize", **request)

    def capture(self, tx: Tx, tenant: str, **request: Any) -> Doc:
        """Capture an amount on an instrument; see request()."""
        return self.request(tx, tenant, "capture", **request)

    def refund(self, tx: Tx, tenant: str, **request: Any) -> Doc:
        """Refund an amount to an instrument; see request()."""
        return self.request(tx, tenant, "refund", **request)

    def request(self, tx: Tx, tenant: str, kind: str, *, id: str, account_id: str,
                order_id: str, instrument_id: str, method: str | None, amount: float,
                currency: str, correlation_id: str, context: Doc | None = None) -> Doc:
        """Start an operation in the caller's transaction. With no delay it settles at once
        (the completion handler runs here); else it is stored pending with a timer."""
        if kind not in self._handlers:
            raise RuntimeError(f"no PSP completion handler registered for {kind!r}")
        now = self.clock.timestamp()
        settings = self.settings_for(tx, tenant, method)
        delay = settings[FIELDS[kind]]
        op: Doc = {"id": id, "account_id": account_id, "order_id": order_id, "kind": kind,
                   "instrument_id": instrument_id, "method": method, "amount": amount,
                   "currency": currency, "correlation_id": correlation_id,
                   "status": "pending", "requested_at": _stamp(now), "due_at": None,
                   "completed_at": None, "reason": None, "timer_id": None, "fault": None,
                   "context": dict(context or {})}
        if delay <= 0:
            return self._settle(tx, tenant, op, now, settings, stored=False)
        op["due_at"] = _stamp(now + delay)
        op["timer_id"] = self.timers.schedule(tx, tenant, TIMER_KIND, now + delay,
                                              {"operation_id": id})
        _save(tx, tenant, op)
        return op

    def _fire(self, tx: Tx, tenant: str, payload: Doc) -> None:
        op = tx.get(tenant, OPERATION, payload["operation_id"])
        if op is None or op["status"] != "pending":
            return  # reset or settled by hand meanwhile: nothing left to do
        now = self.clock.timestamp()
        self._settle(tx, tenant, op, now, self.settings_for(tx, tenant, op.get("method")),
                     stored=True)

    def _settle(self, tx: Tx, tenant: str, op: Doc, now: float, settings: Doc,
                stored: bool) -> Doc:
        reason = None
        if op.get("fault") is None and self.fault is not None:
            verdict = self.fault(tx, tenant, op["kind"], now)
            if verdict is not None:
                op["fault"] = {"id": verdict.fault_id, "failed": verdict.failed}
                if verdict.delay_s > 0:  # a slow PSP: settle (or fail) after the latency
                    op["due_at"] = _stamp(now + verdict.delay_s)
                    op["timer_id"] = self.timers.schedule(
                        tx, tenant, TIMER_KIND, now + verdict.delay_s, {"operation_id": op["id"]})
                    _save(tx, tenant, op)
                    return op
        if (op.get("fault") or {}).get("failed"):
            reason = "simulated_fault"
        rate = settings["failure_rate"]
        if reason is None and rate > 0 and self._rng.random() < rate:
            reason = "declined"
        op["completed_at"] = _stamp(now)
        op["status"] = "failed" if reason else "succeeded"
        op["reason"] = reason
        if stored or reason:  # an instant success leaves no trace but the transaction
            _save(tx, tenant, op)
        self._handlers[op["kind"]](tx, tenant, op)
        return op

    # reading --------------------------------------------------------------------------------
    def operations(self, tx: Tx, tenant: str, *, status: str | None = None,
                   account_id: str | None = None, order_id: str | None = None,
                   limit: int = 100) -> list[Doc]:
        """Stored operations, newest first, filtered."""
        where = {"parent_id": account_id} if account_id else {}
        found = []
        for op in tx.query(tenant, OPERATION, **where):
            if (status and op["status"] != status) or (order_id and op["order_id"] != order_id):
                continue
            found.append(op)
            if len(found) >= limit:
                break
        return found

    def operation(self, tx: Tx, tenant: str, operation_id: str) -> Doc:
        """One stored operation, or NotFound."""
        op = tx.get(tenant, OPERATION, operation_id)
        if op is None:
            raise NotFound(f"PSP operation {operation_id!r} not found",
                           error_code="psp_operation_not_found")
        return op

    def pending_amount(self, tx: Tx, tenant: str, account_id: str, kind: str) -> float:
        """What pending operations of a kind will still book on an account."""
        return sum(op["amount"] for op in tx.query(tenant, OPERATION, parent_id=account_id)
                   if op["kind"] == kind and op["status"] == "pending")


def _save(tx: Tx, tenant: str, op: Doc) -> None:
    tx.put(tenant, OPERATION, op["id"], op, parent_id=op["account_id"],
           external_id=op["order_id"], sort_key=f"{op['requested_at']}|{op['id']}")
