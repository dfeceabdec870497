"""The parked-event queue and the processed business keys (SQLite), and the thread that retries."""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger("reference_integration.parking")

SCHEMA = """
CREATE TABLE IF NOT EXISTS processed (
    tenant TEXT NOT NULL, key TEXT NOT NULL, record_type TEXT NOT NULL,
    external_id TEXT NOT NULL, erp_id TEXT, at REAL NOT NULL,
    PRIMARY KEY (tenant, key));
CREATE TABLE IF NOT EXISTS parked (
    id INTEGER PRIMARY KEY AUTOINCREMENT, tenant TEXT NOT NULL, key TEXT NOT NULL,
    name TEXT NOT NULL, envelope TEXT NOT NULL, parked_at REAL NOT NULL,
    retries INTEGER NOT NULL DEFAULT 0, reason TEXT,
    UNIQUE (tenant, key));
CREATE TABLE IF NOT EXISTS failed (
    id INTEGER PRIMARY KEY AUTOINCREMENT, tenant TEXT NOT NULL, key TEXT NOT NULL,
    name TEXT NOT NULL, envelope TEXT NOT NULL, parked_at REAL NOT NULL,
    failed_at REAL NOT NULL, retries INTEGER NOT NULL, reason TEXT);
"""


class Store:
    """One SQLite file shared by the request threads and the retry thread (one lock)."""

    def __init__(self, path: str) -> None:
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._lock = threading.Lock()
        with self._lock:
            self._db.executescript(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- processed business keys --------------------------------------------------------------

    def is_processed(self, tenant: str, key: str) -> bool:
        with self._lock:
            row = self._db.execute("SELECT 1 FROM processed WHERE tenant=? AND key=?",
                                   (tenant, key)).fetchone()
        return row is not None

    def mark_processed(self, tenant: str, key: str, record_type: str, external_id: str,
                       erp_id: str | None) -> None:
        with self._lock:
            self._db.execute("INSERT OR IGNORE INTO processed VALUES (?,?,?,?,?,?)",
                             (tenant, key, record_type, external_id, erp_id, time.time()))

    # -- parked events ------------------------------------------------------------------------

    def is_parked(self, tenant: str, key: str) -> bool:
        with self._lock:
            row = self._db.execute("SELECT 1 FROM parked WHERE tenant=? AND key=?",
                                   (tenant, key)).fetchone()
        return row is not None

    def park(self, tenant: str, key: str, envelope: dict[str, Any], reason: str) -> bool:
        """Park the event (once per business key); False if it was parked already."""
        with self._lock:
            cur = self._db.execute(
                "INSERT OR IGNORE INTO parked (tenant, key, name, envelope, parked_at, reason) "
                "VALUES (?,?,?,?,?,?)",
                (tenant, key, envelope.get("name", ""), json.dumps(envelope), time.time(),
                 reason))
        return cur.rowcount == 1

    def parked(self) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute("SELECT id, tenant, key, name, envelope, parked_at, retries, "
                                    "reason FROM parked ORDER BY id").fetchall()
        return [{"id": r[0], "tenant": r[1], "key": r[2], "name": r[3],
                 "envelope": json.loads(r[4]), "parked_at": r[5], "retries": r[6],
                 "reason": r[7]} for r in rows]

    def parked_count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM parked").fetchone()[0])

    def unpark(self, parked_id: int) -> None:
        with self._lock:
            self._db.execute("DELETE FROM parked WHERE id=?", (parked_id,))

    def still_parked(self, parked_id: int, reason: str) -> None:
        with self._lock:
            self._db.execute("UPDATE parked SET retries = retries + 1, reason=? WHERE id=?",
                             (reason, parked_id))

    def give_up(self, parked_id: int) -> None:
        """Move a parked event to the failed list."""
        with self._lock:
            self._db.execute("BEGIN")
            self._db.execute(
                "INSERT INTO failed (tenant, key, name, envelope, parked_at, failed_at, retries,"
                " reason) SELECT tenant, key, name, envelope, parked_at, ?, retries, reason "
                "FROM parked WHERE id=?", (time.time(), parked_id))
            self._db.execute("DELETE FROM parked WHERE id=?", (parked_id,))
            self._db.execute("COMMIT")

    def failed(self) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute("SELECT tenant, key, name, parked_at, failed_at, retries, "
                                    "reason FROM failed ORDER BY id").fetchall()
        return [{"tenant": r[0], "key": r[1], "name": r[2], "parked_at": r[3],
                 "failed_at": r[4], "retries": r[5], "reason": r[6]} for r in rows]


# What a retry of a parked event came to: "done" (unpark), "parked" (keep), "retry" (keep: a
# system was down), "drop" (unpark: ignored or rejected).
RetryOutcome = str


class Retrier(threading.Thread):
    """Every `interval` seconds, retries each parked event; gives up after `max_age` seconds."""

    def __init__(self, store: Store, retry: Callable[[dict[str, Any]], tuple[RetryOutcome, str]],
                 interval: float, max_age: float) -> None:
        super().__init__(name="parked-retrier", daemon=True)
        self.store = store
        self.retry = retry
        self.interval = interval
        self.max_age = max_age
        self._stop = threading.Event()

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.run_once()
            except Exception:  # keep retrying whatever one round hit
                log.exception("retrying parked events failed")

    def run_once(self) -> None:
        for row in self.store.parked():
            if self._stop.is_set():
                return
            if time.time() - row["parked_at"] > self.max_age:
                log.warning("giving up on parked %s (%s): %s", row["name"], row["key"],
                            row["reason"])
                self.store.give_up(row["id"])
                continue
            outcome, reason = self.retry(row["envelope"])
            if outcome in ("done", "drop"):
                self.store.unpark(row["id"])
            else:
                self.store.still_parked(row["id"], reason)
