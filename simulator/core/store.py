"""The one store: SQLite (a file in WAL mode, or :memory:), with a versioned schema.

Entities are JSON documents keyed by (tenant, kind, id), with a few indexed columns
for the lookups the APIs need. One writer connection behind a lock; on a file, each
thread reads through its own connection (WAL lets readers run beside the writer), and
every read sees one committed snapshot.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from simulator.core import codec

# Each entry moves the schema one version up; never edit a released entry, append a new one.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE tenants (name TEXT PRIMARY KEY, seed INTEGER NOT NULL, created_at TEXT NOT NULL);
    CREATE TABLE api_clients (
        client_id TEXT PRIMARY KEY, secret TEXT NOT NULL, demo INTEGER NOT NULL DEFAULT 0);
    CREATE TABLE entities (
        tenant TEXT NOT NULL, kind TEXT NOT NULL, id TEXT NOT NULL,
        external_id TEXT, parent_id TEXT, email TEXT, sort_key TEXT,
        doc TEXT NOT NULL,
        PRIMARY KEY (tenant, kind, id));
    CREATE INDEX entities_external ON entities (tenant, kind, external_id);
    CREATE INDEX entities_parent ON entities (tenant, kind, parent_id, sort_key);
    CREATE INDEX entities_email ON entities (tenant, kind, email, sort_key);
    CREATE TABLE outbox (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE,
        tenant TEXT NOT NULL, name TEXT NOT NULL, published_at TEXT NOT NULL,
        entity_type TEXT, entity_id TEXT, payload TEXT NOT NULL);
    CREATE INDEX outbox_tenant ON outbox (tenant, published_at);
    """,
    """
    CREATE INDEX outbox_entity ON outbox (tenant, entity_type, entity_id);
    CREATE TABLE deliveries (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        tenant TEXT NOT NULL, integration_id TEXT NOT NULL, event_seq INTEGER NOT NULL,
        status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, due_at REAL NOT NULL,
        published_ts REAL NOT NULL, first_sent_ts REAL, acked_ts REAL,
        last_status INTEGER, last_error TEXT,
        UNIQUE (tenant, integration_id, event_seq));
    CREATE INDEX deliveries_due ON deliveries (status, due_at);
    CREATE INDEX deliveries_event ON deliveries (event_seq);
    CREATE TABLE attempts (
        id INTEGER PRIMARY KEY AUTOINCREMENT, delivery_id INTEGER NOT NULL,
        tenant TEXT NOT NULL, integration_id TEXT NOT NULL, event_id TEXT NOT NULL,
        attempt INTEGER NOT NULL, duplicate INTEGER NOT NULL DEFAULT 0,
        scheduled_at TEXT NOT NULL, sent_at TEXT NOT NULL, status_code INTEGER,
        duration_ms REAL NOT NULL, error TEXT, response_body TEXT);
    CREATE INDEX attempts_delivery ON attempts (delivery_id);
    CREATE INDEX attempts_event ON attempts (tenant, event_id);
    """,
    """
    CREATE TABLE timers (
        id INTEGER PRIMARY KEY AUTOINCREMENT, tenant TEXT NOT NULL, kind TEXT NOT NULL,
        due_at REAL NOT NULL, payload TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'pending',
        fired_at REAL, error TEXT);
    CREATE INDEX timers_due ON timers (status, due_at);
    CREATE TABLE journal (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, tenant TEXT, at TEXT NOT NULL, ts REAL NOT NULL,
        direction TEXT NOT NULL, system TEXT NOT NULL, method TEXT NOT NULL, url TEXT NOT NULL,
        operation_id TEXT, status INTEGER, duration_ms REAL, request_headers TEXT,
        request_body TEXT, response_body TEXT, error TEXT);
    CREATE INDEX journal_tenant ON journal (tenant, seq);
    CREATE INDEX journal_system ON journal (system, seq);
    """,
    # documents that may hold an integer beyond 64 bits are marked for the json module
    # (simulator.core.codec); 19 digits in a row, in a number or in a string, are enough
    f"""
    UPDATE entities SET doc = ' ' || doc WHERE doc GLOB '*{'[0-9]' * 19}*'
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)

_COLUMNS = ("external_id", "parent_id", "email", "sort_key")


class StoreError(RuntimeError):
    """The database file cannot be used (newer schema, not a database)."""


class Tx:
    """A view of the store inside a lock (and, for writes, a transaction)."""

    def __init__(self, conn: sqlite3.Connection, hooks: list[Callable[[], None]] | None = None,
                 bell: threading.Event | None = None):
        self.conn = conn
        self._hooks = hooks
        self.bell = bell

    def after_commit(self, hook: Callable[[], None]) -> None:
        """Run hook once the outermost transaction commits (never on rollback)."""
        if self._hooks is None:
            raise RuntimeError("after_commit needs a write transaction")
        if hook not in self._hooks:
            self._hooks.append(hook)

    def get(self, tenant: str, kind: str, id: str) -> dict[str, Any] | None:
        """One document by id, or None."""
        row = self.conn.execute(
            "SELECT doc FROM entities WHERE tenant=? AND kind=? AND id=?", (tenant, kind, id)
        ).fetchone()
        return codec.load_doc(row[0]) if row else None

    def query(
        self,
        tenant: str,
        kind: str,
        *,
        limit: int | None = None,
        ascending: bool = False,
        **where: str,
    ) -> list[dict[str, Any]]:
        """Documents matching indexed columns, ordered by sort_key (newest first by default)."""
        sql = "SELECT doc FROM entities WHERE tenant=? AND kind=?"
        args: list[Any] = [tenant, kind]
        for column, value in where.items():
            if column not in _COLUMNS and column != "id":
                raise ValueError(f"not an indexed column: {column}")
            sql += f" AND {column}=?"
            args.append(value)
        sql += f" ORDER BY sort_key {'ASC' if ascending else 'DESC'}, id"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        return [codec.load_doc(r[0]) for r in self.conn.execute(sql, args)]

    def count(self, tenant: str, kind: str) -> int:
        """How many documents of a kind a tenant holds."""
        return self.conn.execute(
            "SELECT COUNT(*) FROM entities WHERE tenant=? AND kind=?", (tenant, kind)
        ).fetchone()[0]

    def put(
        self,
        tenant: str,
        kind: str,
        id: str,
        doc: dict[str, Any],
        *,
        external_id: str | None = None,
        parent_id: str | None = None,
        email: str | None = None,
        sort_key: str | None = None,
    ) -> None:
        """Insert or replace one document."""
        self.conn.execute(
            "INSERT OR REPLACE INTO entities"
            " (tenant, kind, id, external_id, parent_id, email, sort_key, doc)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (tenant, kind, id, external_id, parent_id, email, sort_key, codec.dump_doc(doc)),
        )

    def delete(self, tenant: str, kind: str, id: str) -> bool:
        """Remove one document; True when it existed."""
        cur = self.conn.execute(
            "DELETE FROM entities WHERE tenant=? AND kind=? AND id=?", (tenant, kind, id)
        )
        return cur.rowcount > 0

    def meta(self, key: str) -> str | None:
        """A value from the meta table."""
        row = self.conn.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        """Set a value in the meta table."""
        self.conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))


class Store:
    """The SQLite database behind every tenant's world."""

    def __init__(self, path: str = ":memory:") -> None:
        self.path = path
        self._lock = threading.RLock()
        self._depth = 0
        self._writer: int | None = None
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()  # not the writer's lock: readers never wait on it
        self._hooks: list[Callable[[], None]] = []
        # rung after commits that asked for it (new events); the dispatcher waits on it
        self.bell = threading.Event()
        try:
            self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            if path != ":memory:":
                self._conn.execute("PRAGMA journal_mode=WAL")
                self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute("PRAGMA busy_timeout=5000")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot use {path} as the simulator's database: {exc}") from exc

    @property
    def schema_version(self) -> int:
        """The schema version the database file is at."""
        return self._conn.execute("PRAGMA user_version").fetchone()[0]

    def _migrate(self) -> None:
        version = self.schema_version
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} has schema version {version}, newer than this simulator's "
                f"{SCHEMA_VERSION}; upgrade newstore-sim or use another --db"
            )
        for number in range(version, SCHEMA_VERSION):
            with self.tx() as tx:
                for statement in MIGRATIONS[number].split(";"):
                    if statement.strip():
                        tx.conn.execute(statement)
                tx.conn.execute(f"PRAGMA user_version={number + 1}")

    @contextmanager
    def tx(self) -> Iterator[Tx]:
        """A write transaction; nested calls join the outer one."""
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield Tx(self._conn, self._hooks, self.bell)
                finally:
                    self._depth -= 1
                return
            self._conn.execute("BEGIN IMMEDIATE")
            self._depth = 1
            self._writer = threading.get_ident()
            hooks: list[Callable[[], None]] = []
            self._hooks = hooks
            try:
                yield Tx(self._conn, hooks, self.bell)
            except BaseException:
                self._conn.execute("ROLLBACK")
                hooks.clear()
                raise
            else:
                self._conn.execute("COMMIT")
            finally:
                self._depth = 0
                self._writer = None
        for hook in hooks:
            hook()

    def get(self, tenant: str, kind: str, id: str) -> dict[str, Any] | None:
        """One document by id, read by one statement: atomic on its own, so no transaction
        (two fewer statements, each of which lets go of the GIL, on the hottest reads)."""
        if self._on_writer():
            with self.read() as tx:
                return tx.get(tenant, kind, id)
        return Tx(self._reader()).get(tenant, kind, id)

    def _on_writer(self) -> bool:
        """Whether reads go through the writer's connection: in memory, or inside the open
        write of this thread."""
        return self.path == ":memory:" or self._writer == threading.get_ident()

    @contextmanager
    def read(self) -> Iterator[Tx]:
        """A consistent read: a snapshot on this thread's reader, or inside the open write."""
        if self._on_writer():
            with self._lock:
                yield Tx(self._conn)
            return
        conn = self._reader()
        conn.execute("BEGIN")
        try:
            yield Tx(conn)
        finally:
            conn.execute("COMMIT")

    def _reader(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            conn.execute("PRAGMA busy_timeout=5000")
            self._local.conn = conn
            with self._readers_lock:
                self._readers.append(conn)
        return conn

    def close(self) -> None:
        """Close the writer and every reader connection."""
        with self._lock, self._readers_lock:
            for conn in self._readers:
                conn.close()
            self._readers.clear()
            self._conn.close()
