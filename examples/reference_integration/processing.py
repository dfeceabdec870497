"""One event through its playbook: dedupe, build, write to the ERP, park; counters; the flaws."""

from __future__ import annotations

import logging
import threading
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any

from erp import ErpClient, ErpRejected, ErpUnavailable
from newstore import NewStoreClient, NewStoreUnavailable
from parking import Store
from playbooks import PLAYBOOKS, Ignored, NotReady

log = logging.getLogger("reference_integration")

FLAWS = ("ignore-erp-down", "not-idempotent", "ignore-missing-payment")
COUNTERS = ("received", "processed", "duplicates_skipped", "parked", "erp_unavailable",
            "newstore_unavailable", "erp_rejected", "ignored")


@dataclass(frozen=True)
class Outcome:
    """What became of an event: `result` names it, `status` is the HTTP answer to the stream."""

    result: str  # processed, duplicate, parked, ignored, erp_unavailable, newstore_unavailable,
    # erp_rejected, dropped (a flaw swallowed an ERP failure)
    status: int
    detail: str = ""


class Processor:
    """Runs events through the playbooks against one NewStore and one ERP, for any tenant."""

    def __init__(self, newstore: NewStoreClient, erp: ErpClient, store: Store,
                 flaws: frozenset[str] = frozenset()) -> None:
        unknown = set(flaws) - set(FLAWS)
        if unknown:
            raise ValueError(f"unknown flaw(s): {sorted(unknown)}")
        self.newstore = newstore
        self.erp = erp
        self.store = store
        self.flaws = flaws
        self.counters: Counter[str] = Counter(dict.fromkeys(COUNTERS, 0))
        self._counter_lock = threading.Lock()
        self._key_locks: dict[tuple[str, str], threading.Lock] = {}
        self._key_locks_lock = threading.Lock()

    def count(self, name: str) -> None:
        with self._counter_lock:
            self.counters[name] += 1

    def status(self) -> dict[str, Any]:
        with self._counter_lock:
            out: dict[str, Any] = dict(self.counters)
        out["parked_queue_size"] = self.store.parked_count()
        out["parked_queue"] = [{"tenant": p["tenant"], "name": p["name"], "key": p["key"],
                                "retries": p["retries"], "reason": p["reason"]}
                               for p in self.store.parked()]
        out["failed"] = self.store.failed()
        out["flaws"] = sorted(self.flaws)
        return out

    def _key_lock(self, tenant: str, key: str) -> threading.Lock:
        with self._key_locks_lock:
            return self._key_locks.setdefault((tenant, key), threading.Lock())

    # -- the webhook path ---------------------------------------------------------------------

    def receive(self, envelope: dict[str, Any]) -> Outcome:
        """An event from the Event Stream: the outcome and the HTTP status to answer."""
        self.count("received")
        outcome = self._handle(envelope, from_park=False)
        log.info("%s %s: %s %s", envelope.get("tenant"), envelope.get("name"), outcome.result,
                 outcome.detail)
        return outcome

    def retry_parked(self, envelope: dict[str, Any]) -> tuple[str, str]:
        """A parked event's retry, for parking.Retrier: (done|parked|retry|drop, reason)."""
        outcome = self._handle(envelope, from_park=True)
        log.info("retry of parked %s %s: %s %s", envelope.get("tenant"), envelope.get("name"),
                 outcome.result, outcome.detail)
        if outcome.result in ("processed", "duplicate"):
            return "done", ""
        if outcome.result in ("ignored", "erp_rejected", "dropped"):
            return "drop", outcome.detail
        if outcome.result == "parked":
            return "parked", outcome.detail
        return "retry", outcome.detail

    def _handle(self, envelope: dict[str, Any], from_park: bool) -> Outcome:
        tenant, name = str(envelope["tenant"]), str(envelope["name"])
        payload = envelope.get("payload") or {}
        playbook = PLAYBOOKS.get(name)
        if playbook is None:
            self.count("ignored")
            return Outcome("ignored", 200, f"no playbook for {name}")
        try:
            key, external_id = playbook.key(payload)
        except (KeyError, TypeError) as exc:
            self.count("erp_rejected")
            return Outcome("erp_rejected", 200, f"payload without the fields needed: {exc}")
        idempotent = "not-idempotent" not in self.flaws
        if not idempotent:
            external_id = f"{external_id}-{uuid.uuid4().hex[:8]}"
        with self._key_lock(tenant, key):
            if idempotent and self.store.is_processed(tenant, key):
                self.count("duplicates_skipped")
                return Outcome("duplicate", 200, f"{key} already recorded")
            if idempotent and not from_park and self.store.is_parked(tenant, key):
                self.count("duplicates_skipped")
                return Outcome("duplicate", 200, f"{key} already parked")
            try:
                record = playbook.build(self.newstore, tenant, payload, external_id,
                                        "ignore-missing-payment" in self.flaws)
            except Ignored as exc:
                self.count("ignored")
                return Outcome("ignored", 200, str(exc))
            except NotReady as exc:
                if not from_park:
                    self.store.park(tenant, key, envelope, str(exc))
                    self.count("parked")
                return Outcome("parked", 200, str(exc))
            except NewStoreUnavailable as exc:
                self.count("newstore_unavailable")
                return Outcome("newstore_unavailable", 500, str(exc))
            try:
                written = self.erp.create(tenant, record.record_type, record.body)
            except ErpUnavailable as exc:
                self.count("erp_unavailable")
                if "ignore-erp-down" in self.flaws:
                    return Outcome("dropped", 200, f"flaw ignore-erp-down: {exc}")
                return Outcome("erp_unavailable", 500, str(exc))
            except ErpRejected as exc:
                log.error("ERP rejected %s %s: %s", record.record_type, external_id, exc)
                self.count("erp_rejected")
                return Outcome("erp_rejected", 200, str(exc))
            if idempotent:
                self.store.mark_processed(tenant, key, record.record_type, external_id,
                                          written.erp_id)
            self.count("processed")
            what = "created" if written.created else "already in the ERP"
            return Outcome("processed", 200,
                           f"{record.record_type} {external_id} {what} ({written.erp_id})")
