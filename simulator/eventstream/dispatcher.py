"""The dispatcher: a thread in the server process that delivers due deliveries through a pool
of senders, records every attempt, retries by profile, dead-letters and pauses."""

from __future__ import annotations

import json
import logging
import queue
import random
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import urllib3
from urllib3.exceptions import HTTPError, NewConnectionError, ProtocolError
from urllib3.exceptions import TimeoutError as Urllib3Timeout

from simulator import __version__
from simulator.core import codec, journal
from simulator.core.clock import Clock
from simulator.core.loop import BackgroundLoop, due_now, real_wait
from simulator.core.store import Store, Tx
from simulator.eventstream import deliveries, integrations, outbox, profiles
from simulator.eventstream.deliveries import Due, Outcome

log = logging.getLogger(__name__)

IDEMPOTENCY_HEADER = "Idempotency-Key"  # the event id: the same on every attempt and duplicate
ATTEMPT_HEADER = "X-NewStore-Sim-Attempt"
BODY_SAMPLE = 500  # characters of the callback's answer kept with each attempt
USER_AGENT = f"newstore-sim/{__version__} event-stream"


def verdict(status_code: int | None) -> str:
    """ok (2xx), retry (5xx, 429, 408, 3xx, no answer) or reject (any other 4xx)."""
    if status_code is None:
        return "retry"
    if 200 <= status_code < 300:
        return "ok"
    if 400 <= status_code < 500 and status_code not in (408, 429):
        return "reject"
    return "retry"


class Dispatcher(BackgroundLoop):
    """Delivers the outbox; safe to kill at any moment (unacknowledged deliveries stay due)."""

    name = "eventstream-dispatcher"

    def __init__(self, store: Store, clock: Clock, *, retry_profile: str = "realistic",
                 timeout: float = 10.0, pause_after: int = 50, workers: int = 16,
                 seed: int = 0, journal: bool = True) -> None:
        super().__init__(store.bell)
        self.store = store
        self.journal = journal  # one journal entry per attempt, in the attempt's transaction
        self.clock = clock
        self.default_profile = retry_profile
        self.timeout = timeout
        self.pause_after = pause_after
        self.workers = workers
        self._rng = random.Random(seed)
        self._inflight: set[int] = set()
        self._results: queue.SimpleQueue[list[Outcome]] = queue.SimpleQueue()
        # urllib3 (which requests is built on) straight: a quarter of the CPU per POST that
        # requests.Session costs, and callbacks ignore *_PROXY settings, as a local sink wants
        self._http = urllib3.PoolManager(num_pools=64, maxsize=workers, retries=False,
                                         headers={"User-Agent": USER_AGENT})
        self._pool: ThreadPoolExecutor | None = None
        self._last_sweep = 0.0
        clock.listen(store.bell.set)

    # life cycle -----------------------------------------------------------------------------
    def on_start(self) -> None:
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="eventstream-send")

    def on_stop(self) -> None:
        """What the attempts in flight do not record is sent again later."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        self._record(self._drain())
        self._pool = None

    # one turn of the loop -------------------------------------------------------------------
    def cycle(self) -> float | None:
        self._record(self._drain())
        now = due_now(self.clock)
        capacity = self.workers * 4 - len(self._inflight)
        claimed = 0
        if capacity > 0:
            claimed = self._claim(now, capacity)
        if now - self._last_sweep >= 1.0 or self._last_sweep > now:
            self._last_sweep = now
            self._end_temporaries()
        if claimed >= capacity > 0:
            return None
        return self._wait_seconds(now)

    def _claim(self, now: float, capacity: int) -> int:
        with self.store.read() as tx:
            due = deliveries.claim_due(tx, now, capacity, self._inflight)
            if not due:
                return 0
            events = outbox.events(tx, {d.event_seq for d in due})
            docs = {key: tx.get(key[0], outbox.INTEGRATION, key[1])
                    for key in {(d.tenant, d.integration_id) for d in due}}
        assert self._pool is not None
        for d in due:
            integration = docs.get((d.tenant, d.integration_id))
            event = events.get(d.event_seq)
            if integration is None or event is None or integration.get("status") != "running":
                continue  # a consistent snapshot makes this rare: stop and delete move rows too
            self._inflight.add(d.id)
            self._pool.submit(self._send, d, event, integration)
        return len(due)

    def _wait_seconds(self, now: float) -> float:
        with self.store.read() as tx:
            row = tx.conn.execute(
                "SELECT MIN(due_at) FROM deliveries WHERE status='pending' AND due_at>?",
                (now,)).fetchone()
        return real_wait(self.clock, row[0], now)

    # sending (in the pool) ------------------------------------------------------------------
    def _send(self, due: Due, event: outbox.Event, integration: dict[str, Any]) -> None:
        attempt = due.attempts + 1
        try:
            options = integration.get("simulator") or {}
            params = integration.get("callback_parameters") or {}
            body = json.dumps(event.envelope(), separators=(",", ":")).encode()
            headers = {"Content-Type": "application/json", IDEMPOTENCY_HEADER: event.id,
                       ATTEMPT_HEADER: str(attempt)}
            if params.get("api_key"):
                headers["Authorization"] = f"Bearer {params['api_key']}"
            timeout = float(options.get("timeout_seconds") or self.timeout)
            outcomes = [self._post(due, event, integration, params["callback_url"], body,
                                   headers, timeout, attempt)]
            rate = float((options.get("chaos") or {}).get("duplicate_rate") or 0)
            if (rate and verdict(outcomes[0].status_code) == "ok"
                    and self._rng.random() < rate):
                duplicate = self._post(due, event, integration, params["callback_url"], body,
                                       headers, timeout, attempt)
                duplicate.duplicate = True
                outcomes.append(duplicate)
        except Exception as exc:  # noqa: BLE001 - a broken integration doc must not lose the row
            outcomes = [Outcome(due.id, due.tenant, due.integration_id, event.id, attempt,
                                due.due_at, self.clock.timestamp(), 0.0, None,
                                f"{type(exc).__name__}: {exc}", None)]
        self._results.put(outcomes)
        self.store.bell.set()

    def _post(self, due: Due, event: outbox.Event, integration: dict[str, Any], url: str,
              body: bytes, headers: dict[str, str], timeout: float, attempt: int) -> Outcome:
        sent = self.clock.timestamp()
        started = time.perf_counter()
        status: int | None = None
        error = text = None
        try:
            response = self._http.request("POST", url, body=body, headers=headers,
                                          timeout=urllib3.Timeout(total=timeout),
                                          redirect=False)
            status = response.status
            text = response.data[:BODY_SAMPLE * 4].decode("utf-8", "replace")[:BODY_SAMPLE]
        except (NewConnectionError, ProtocolError, ConnectionError) as exc:
            # before timeouts: urllib3's NewConnectionError is also a ConnectTimeoutError
            error = f"connection error: {_reason(exc)}"
        except Urllib3Timeout:
            error = f"timeout after {timeout:g} s"
        except (HTTPError, ValueError, OSError) as exc:
            error = f"{type(exc).__name__}: {exc}"
        return Outcome(due.id, due.tenant, due.integration_id, event.id, attempt, due.due_at,
                       sent, (time.perf_counter() - started) * 1000, status, error, text)

    # recording (in the dispatcher thread) ---------------------------------------------------
    def _drain(self) -> list[list[Outcome]]:
        batch = []
        while True:
            try:
                batch.append(self._results.get_nowait())
            except queue.Empty:
                return batch

    def _record(self, batch: list[list[Outcome]]) -> None:
        if not batch:
            return
        now = self.clock.timestamp()
        with self.store.tx() as tx:
            docs: dict[tuple[str, str], dict[str, Any] | None] = {}
            for outcomes in batch:
                first = outcomes[0]
                key = (first.tenant, first.integration_id)
                if key not in docs:
                    docs[key] = tx.get(first.tenant, outbox.INTEGRATION, first.integration_id)
                integration = docs[key]
                if integration is None:
                    continue  # deleted meanwhile, with its deliveries and logs
                for outcome in outcomes:
                    deliveries.record_attempt(tx, outcome)
                if self.journal:
                    body = _envelope(tx, first.tenant, first.event_id)
                    journal.record_many(tx, [_entry(o, integration, body) for o in outcomes])
                docs[key] = self._settle(tx, first, integration, now)
        for outcomes in batch:
            self._inflight.discard(outcomes[0].delivery_id)

    def _settle(self, tx: Tx, outcome: Outcome, integration: dict[str, Any],
                now: float) -> dict[str, Any]:
        """Move the delivery on and keep the integration's consecutive failure count."""
        result = verdict(outcome.status_code)
        failures = int(integration.get("consecutive_failures") or 0)
        if result == "ok":
            deliveries.mark(tx, outcome, "delivered")
            if failures:
                integration = {**integration, "consecutive_failures": 0}
                _save(tx, integration)
            return integration
        options = integration.get("simulator") or {}
        running = integration.get("status") == "running"
        if result == "reject":
            deliveries.mark(tx, outcome, "dead")
        else:
            profile = profiles.resolve(options.get("retry_profile"), self.default_profile)
            delay = profile.delay_after(outcome.attempt, self._rng)
            if delay is None:
                deliveries.mark(tx, outcome, "dead")
            else:
                deliveries.mark(tx, outcome, "pending" if running else "held", now + delay)
        failures += 1
        limit = int(options.get("pause_after_failures") or self.pause_after)
        if running and failures >= limit:
            log.warning("pausing integration %s/%s after %d consecutive failures",
                        outcome.tenant, outcome.integration_id, failures)
            _save(tx, {**integration, "consecutive_failures": failures})
            integrations.stop(tx, outcome.tenant, outcome.integration_id,
                              datetime.fromtimestamp(now, UTC), reason="consecutive_failures")
            return tx.get(outcome.tenant, outbox.INTEGRATION, outcome.integration_id) or integration
        integration = {**integration, "consecutive_failures": failures}
        _save(tx, integration)
        return integration

    def _end_temporaries(self) -> None:
        """A temporary integration stops itself once its window has closed and it has sent
        everything in it."""
        now = self.clock.now()
        stamp = deliveries.stamp(now.timestamp()) or ""
        with self.store.read() as tx:
            rows = tx.conn.execute(
                "SELECT tenant, doc FROM entities WHERE kind=?", (outbox.INTEGRATION,)).fetchall()
            ending = []
            for tenant, raw in rows:
                doc = codec.load_doc(raw)
                if (doc.get("integration_type") == "temporary" and doc.get("status") == "running"
                        and doc.get("ends_at") and doc["ends_at"] <= stamp
                        and deliveries.open_count(tx, tenant, doc["id"]) == 0):
                    ending.append((tenant, doc["id"]))
        for tenant, integration_id in ending:
            with self.store.tx() as tx:
                integrations.stop(tx, tenant, integration_id, now, reason="ended")

def _envelope(tx: Tx, tenant: str, event_id: str) -> str | None:
    """The body POSTed for an event, as the journal keeps it (compact JSON)."""
    row = tx.conn.execute("SELECT name, published_at, payload FROM outbox WHERE tenant=? AND id=?",
                          (tenant, event_id)).fetchone()
    if row is None:
        return None
    return (f'{{"tenant":{json.dumps(tenant)},"name":{json.dumps(row[0])},'
            f'"published_at":{json.dumps(row[1])},"payload":{row[2]}}}')


def _entry(outcome: Outcome, integration: dict[str, Any], envelope: str | None) -> journal.Entry:
    """The journal's view of one webhook attempt (direction out, system webhook)."""
    return journal.Entry(
        ts=outcome.sent_ts, direction="out", system="webhook", method="POST",
        url=(integration.get("callback_parameters") or {}).get("callback_url", ""),
        tenant=outcome.tenant, operation_id=f"eventstream:{outcome.integration_id}",
        status=outcome.status_code, duration_ms=outcome.duration_ms,
        request_body=envelope, response_body=outcome.response_body, error=outcome.error)


def _save(tx: Tx, doc: dict[str, Any]) -> None:
    tx.put(doc["tenant"], outbox.INTEGRATION, doc["id"], doc, sort_key=doc.get("created_at"))


def _reason(exc: Exception) -> str:
    text = str(exc)
    for marker in ("Connection refused", "Name or service not known", "Connection reset",
                   "Remote end closed connection"):
        if marker in text:
            return marker
    return text[:200]
