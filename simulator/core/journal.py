"""The journal: every request the simulator received (in) and sent (out), with bodies.

Entries are rows of the store's `journal` table. Incoming calls are many and each one must
not pay for its own write transaction, so a JournalWriter batches them from a queue on a
daemon thread; outgoing calls are written by their caller, in the caller's transaction.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from simulator.core.clock import iso
from simulator.core.store import Store, Tx

log = logging.getLogger(__name__)

REDACTED = "[redacted]"
SECRET_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization", "set-cookie"})
FLUSH_SECONDS = 0.05


@dataclass
class Entry:
    """One request, incoming or outgoing; `ts` is simulated seconds since the epoch."""

    ts: float
    direction: str  # in | out
    system: str  # platform, control, webhook, ...
    method: str
    url: str
    tenant: str | None = None
    operation_id: str | None = None
    status: int | None = None
    duration_ms: float | None = None
    request_headers: dict[str, str] | None = None
    request_body: str | None = None
    response_body: str | None = None
    error: str | None = None


def redact(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Headers as a dict with credentials replaced (repeated headers joined by ', ')."""
    out: dict[str, str] = {}
    for name, value in headers:
        key = name.lower()
        value = REDACTED if key in SECRET_HEADERS else value
        out[key] = f"{out[key]}, {value}" if key in out and value != REDACTED else value
    return out


def clip(data: bytes | str | None, limit: int) -> str | None:
    """A body as text, cut to `limit` bytes (0 keeps no body)."""
    if data is None or limit <= 0:
        return None
    raw = data.encode() if isinstance(data, str) else data
    text = raw[:limit].decode("utf-8", "replace")
    return text + "…[truncated]" if len(raw) > limit else text


def record_many(tx: Tx, entries: Iterable[Entry]) -> int:
    """Insert entries in the caller's transaction; how many were written."""
    rows = [(e.tenant, iso(datetime.fromtimestamp(e.ts, UTC)), e.ts, e.direction, e.system,
             e.method, e.url, e.operation_id, e.status, e.duration_ms,
             json.dumps(e.request_headers) if e.request_headers is not None else None,
             e.request_body, e.response_body, e.error) for e in entries]
    tx.conn.executemany(
        "INSERT INTO journal (tenant, at, ts, direction, system, method, url, operation_id,"
        " status, duration_ms, request_headers, request_body, response_body, error)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    return len(rows)


def query(tx: Tx, *, tenant: str | None = None, direction: str | None = None,
          system: str | None = None, method: str | None = None,
          path_contains: str | None = None, status: int | None = None,
          since: float | None = None, until: float | None = None, limit: int = 100,
          offset: int = 0, with_bodies: bool = False) -> list[dict[str, Any]]:
    """Entries matching every given filter, newest first; `since`/`until` are timestamps."""
    where, args = [], []
    for column, value in (("tenant", tenant), ("direction", direction), ("system", system),
                          ("status", status)):
        if value is not None:
            where.append(f"{column}=?")
            args.append(value)
    if method is not None:
        where.append("method=?")
        args.append(method.upper())
    if path_contains is not None:
        where.append("instr(url, ?) > 0")
        args.append(path_contains)
    if since is not None:
        where.append("ts>=?")
        args.append(since)
    if until is not None:
        where.append("ts<?")
        args.append(until)
    sql = ("SELECT seq, tenant, at, direction, system, method, url, operation_id, status,"
           " duration_ms, request_headers, error, request_body, response_body FROM journal")
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY seq DESC LIMIT ? OFFSET ?"
    args += [limit, offset]
    entries = []
    for row in tx.conn.execute(sql, args):
        entry = {"seq": row[0], "tenant": row[1], "at": row[2], "direction": row[3],
                 "system": row[4], "method": row[5], "url": row[6], "operation_id": row[7],
                 "status": row[8], "duration_ms": row[9],
                 "request_headers": json.loads(row[10]) if row[10] else None,
                 "error": row[11]}
        if with_bodies:
            entry["request_body"] = row[12]
            entry["response_body"] = row[13]
        entries.append(entry)
    return entries


def clear(tx: Tx, tenant: str) -> int:
    """Delete a tenant's entries; how many there were."""
    return tx.conn.execute("DELETE FROM journal WHERE tenant=?", (tenant,)).rowcount


class JournalWriter:
    """Writes entries in batches from a background thread; synchronously when not started."""

    def __init__(self, store: Store, enabled: bool = True) -> None:
        self.store = store
        self.enabled = enabled
        self._queue: queue.SimpleQueue[Entry | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def add(self, entry: Entry) -> None:
        """Record one entry (soon when started, now when not)."""
        if not self.enabled:
            return
        if self._thread is None:
            self._write([entry])
        else:
            self._queue.put(entry)

    def start(self) -> None:
        """Start the background writer."""
        with self._lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._run, name="journal-writer",
                                            daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Write what is queued, then stop the thread."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is None:
            return
        self._queue.put(None)
        thread.join(timeout)
        self._write(self._drain())  # anything added while stopping

    def flush(self, timeout: float = 5.0) -> None:
        """Wait until everything queued so far is written (tests, shutdown)."""
        if self._thread is None:
            return
        done = threading.Event()
        self._queue.put(_Marker(done))  # type: ignore[arg-type]
        done.wait(timeout)

    def _drain(self) -> list[Entry]:
        batch: list[Entry] = []
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return batch
            if isinstance(item, Entry):
                batch.append(item)
            elif isinstance(item, _Marker):
                item.done.set()

    def _run(self) -> None:
        stopping = False
        while not stopping:
            item = self._queue.get()
            batch: list[Entry] = []
            markers: list[_Marker] = []
            time.sleep(FLUSH_SECONDS)  # gather a batch: one transaction per ~50 ms, not per call
            while True:
                if item is None:
                    stopping = True
                elif isinstance(item, _Marker):
                    markers.append(item)
                else:
                    batch.append(item)
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            self._write(batch)
            for marker in markers:
                marker.done.set()

    def _write(self, batch: list[Entry]) -> None:
        if not batch:
            return
        try:
            with self.store.tx() as tx:
                record_many(tx, batch)
        except Exception:  # noqa: BLE001 - losing journal rows must never break a request
            log.exception("could not write %d journal entries", len(batch))


@dataclass
class _Marker:
    done: threading.Event
