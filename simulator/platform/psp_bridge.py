"""What the platform books when the PSP settles an operation: the transaction on the payment
account, the refund record's status and the payment_account.* event (refund_request.issued
first for appeasements), all in the transaction that settles it."""

from __future__ import annotations

import functools
import logging
import random
from collections.abc import Callable
from typing import Any

from simulator.core.clock import parse_iso
from simulator.core.ids import seeded_uuid
from simulator.core.store import Tx
from simulator.core.world import add_transaction, money
from simulator.oms import contract as oms_contract
from simulator.platform import entities as E
from simulator.platform import events
from simulator.platform.context import Platform
from simulator.psp.provider import KINDS, FaultVerdict

log = logging.getLogger(__name__)

Doc = dict[str, Any]


# Flows waiting on the PSP: context["then"] names what runs after the settlement is booked
# (success or failure), in the same transaction. Registered by the flow modules.
Continuation = Callable[[Platform, Tx, str, Doc], None]
CONTINUATIONS: dict[str, Continuation] = {}


def install(p: Platform) -> None:
    """Register the platform's completion handler for every PSP operation kind."""
    from simulator.platform import checkout  # noqa: F401  (registers its continuation)

    for kind in KINDS:
        p.psp.register(kind, functools.partial(settled_then_continue, p))
    p.psp.fault = functools.partial(_fault_for, p)
    p.faults.register_operations("psp", set(KINDS))  # a typo in a psp fault is a 422
    p.faults.register_operations("oms", set(oms_contract.OPERATIONS))  # calls to the OMS


def _fault_for(p: Platform, tx: Tx, tenant: str, operation: str,
               now: float) -> FaultVerdict | None:
    """What an armed /_sim/faults rule of system "psp" does to an operation settling now:
    its status fails it (reason simulated_fault), its latency defers it; None: no fault."""
    faults = getattr(p, "faults", None)
    if faults is None or not faults.might_fault(tenant, "psp"):
        return None
    decision = faults.decide(tenant, "psp", operation, tx=tx)
    if decision is None:
        return None
    return FaultVerdict(failed=decision.status is not None, delay_s=decision.latency_s,
                        fault_id=decision.fault_id)


def settled_then_continue(p: Platform, tx: Tx, tenant: str, op: Doc) -> None:
    """Book a settled operation, then let the flow waiting on it go on (context["then"])."""
    settled(p, tx, tenant, op)
    then = (op.get("context") or {}).get("then")
    if then:
        CONTINUATIONS[then](p, tx, tenant, op)


def settled(p: Platform, tx: Tx, tenant: str, op: Doc) -> None:
    """Book a settled PSP operation: the transaction and its events, or the failure."""
    context = op.get("context") or {}
    refund = tx.get(tenant, E.REFUND, context["refund_id"]) if context.get("refund_id") else None
    if op["status"] != "succeeded":
        if refund is not None:
            refund.update(status="failed", failure_reason=op.get("reason"))
            E.save(tx, tenant, E.REFUND, refund)
        return
    account = tx.get(tenant, E.PAYMENT_ACCOUNT, op["account_id"])
    if account is None:  # reset meanwhile: nothing left to book on
        log.warning("PSP %s %s settled for missing account %s", op["kind"], op["id"],
                    op["account_id"])
        return
    added = context.get("new_instrument")  # a refund to a new instrument (gift card, ...)
    if added and not any(i["id"] == added["id"] for i in account["instruments"]):
        account["instruments"].append(dict(added))
    transaction = add_transaction(account, random.Random(op["id"]), op["instrument_id"],
                                  op["kind"], op["amount"], parse_iso(op["completed_at"]),
                                  correlation_id=op["correlation_id"])
    if context.get("transaction_id"):
        transaction["id"] = context["transaction_id"]
    E.save(tx, tenant, E.PAYMENT_ACCOUNT, account)
    if refund is not None:
        refund["status"] = "completed"
        E.save(tx, tenant, E.REFUND, refund)
        if refund.get("type") == "appeasement":  # sent when the refund is done [playbook]
            events.emit(p, tx, tenant, "refund_request.issued",
                        events.refund_request_issued(refund))
    events.emit(p, tx, tenant, events.PAYMENT_EVENTS[op["kind"]],
                events.payment_account_event(account, [transaction]))


def refund_instrument(account: Doc) -> Doc:
    """The instrument a refund goes to: the one captured (the first when several were)."""
    captured = [t["instrument_id"] for t in account["transactions"]
                if t["transaction_type"] == "capture"]
    wanted = captured[0] if captured else account["instruments"][0]["id"]
    return next((i for i in account["instruments"] if i["id"] == wanted),
                {"id": wanted, "payment_method": None})


def request_refund(p: Platform, tx: Tx, tenant: str, account: Doc, rng: random.Random,
                   amount: float, correlation_id: str, refund_id: str,
                   instrument: Doc | None = None) -> Doc:
    """Ask the PSP to refund an amount to the account's captured instrument, or to the given
    one (an instrument not yet on the account, e.g. a new gift card, is added when the PSP
    settles: see settled())."""
    known = instrument is not None and any(i["id"] == instrument["id"]
                                           for i in account["instruments"])
    new_instrument = instrument if instrument is not None and not known else None
    instrument = instrument or refund_instrument(account)
    transaction_id = seeded_uuid(rng)  # drawn first: the same id as before the PSP existed
    context: Doc = {"refund_id": refund_id, "transaction_id": transaction_id}
    if new_instrument is not None:
        context["new_instrument"] = new_instrument
    return p.psp.refund(
        tx, tenant, id=seeded_uuid(rng), account_id=account["id"],
        order_id=account["order_id"], instrument_id=instrument["id"],
        method=instrument.get("payment_method"), amount=money(amount),
        currency=account["currency"], correlation_id=correlation_id, context=context)


def pending_refunds(p: Platform, tx: Tx, tenant: str, account_id: str) -> float:
    """Refunds the PSP has not settled yet on an account."""
    return money(p.psp.pending_amount(tx, tenant, account_id, "refund"))
