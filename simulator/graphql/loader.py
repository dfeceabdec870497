"""Per-request document loading: each document is read from the store at most once.

The loader also records what it read (each query and a digest of the rows it returned), so
that a cached response can be proven current by re-running those reads (see executor.py).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from simulator.core import codec
from simulator.core.store import Tx

Doc = dict[str, Any]
# (sql, args, digest of the raw rows)
Read = tuple[str, tuple[Any, ...], bytes]

# Kinds as the platform stores them (simulator/platform/entities.py sits above this layer).
ORDER = "order"
PAYMENT_ACCOUNT = "payment_account"
FULFILLMENT_REQUEST = "fulfillment_request"
RETURN = "return"
REFUND = "refund"

_GET = "SELECT doc FROM entities WHERE tenant=? AND kind=? AND id=?"
_LIST = "SELECT doc FROM entities WHERE tenant=? AND kind=?{where} ORDER BY sort_key {order}, id"


def _digest(rows: list[str]) -> bytes:
    return hashlib.blake2b("\x00".join(rows).encode(), digest_size=16).digest()


def _raw(tx: Tx, sql: str, args: tuple[Any, ...]) -> list[str]:
    return [row[0] for row in tx.conn.execute(sql, args)]


def still_current(tx: Tx, reads: list[Read]) -> bool:
    """Whether every recorded read returns the same rows today."""
    return all(_digest(_raw(tx, sql, args)) == digest for sql, args, digest in reads)


class Loader:
    """Reads one tenant's documents inside one read transaction, caching what it read."""

    def __init__(self, tx: Tx, tenant: str) -> None:
        self.tx = tx
        self.tenant = tenant
        self.reads: list[Read] = []
        self.rows_read = 0
        self._docs: dict[tuple[str, str], Doc | None] = {}
        self._lists: dict[tuple[str, str, str, bool], list[Doc]] = {}

    def _load(self, kind: str, sql: str, args: tuple[Any, ...]) -> list[Doc]:
        rows = _raw(self.tx, sql, args)
        self.reads.append((sql, args, _digest(rows)))
        self.rows_read += len(rows)
        docs = [codec.load_doc(row) for row in rows]
        return [self._docs.setdefault((kind, doc["id"]), doc) or doc for doc in docs]

    def get(self, kind: str, id: str) -> Doc | None:
        """One document by id, or None."""
        key = (kind, id)
        if key not in self._docs:
            found = self._load(kind, _GET, (self.tenant, kind, id))
            self._docs[key] = found[0] if found else None
        return self._docs[key]

    def _list(self, kind: str, column: str = "", value: str = "",
              ascending: bool = False) -> list[Doc]:
        key = (kind, column, value, ascending)
        if key not in self._lists:
            where = f" AND {column}=?" if column else ""
            sql = _LIST.format(where=where, order="ASC" if ascending else "DESC")
            args = (self.tenant, kind, value) if column else (self.tenant, kind)
            self._lists[key] = self._load(kind, sql, args)
        return self._lists[key]

    def children(self, kind: str, parent_id: str) -> list[Doc]:
        """Documents of a kind belonging to a parent (an order), oldest first."""
        return self._list(kind, "parent_id", parent_id, ascending=True)

    def by_external_id(self, kind: str, external_id: str) -> list[Doc]:
        """Documents whose indexed external id is this one."""
        return self._list(kind, "external_id", external_id)

    def by_email(self, kind: str, email: str) -> list[Doc]:
        """Documents whose indexed email is this one."""
        return self._list(kind, "email", email)

    def all(self, kind: str) -> list[Doc]:
        """Every document of a kind, newest sort key first."""
        return self._list(kind)

    def orders_with_items(self, item_ids: list[str]) -> list[Doc]:
        """Orders holding any of these item ids (items live inside order documents)."""
        if not item_ids:
            return []
        marks = ",".join("?" * len(item_ids))
        sql = ("SELECT doc FROM entities WHERE tenant=? AND kind=? AND id IN ("
               " SELECT e.id FROM entities e, json_each(e.doc, '$.items') j"
               " WHERE e.tenant=? AND e.kind=? AND json_extract(j.value, '$.id') IN"
               f" ({marks})) ORDER BY sort_key DESC, id")
        return self._load(ORDER, sql, (self.tenant, ORDER, self.tenant, ORDER, *item_ids))


@dataclass
class GraphQLContext:
    """What resolvers see of the request: its tenant, the loader and the timezone header."""

    tenant: str
    loader: Loader
    force_timezone: bool = False
    # how many more connection nodes this response may hold
    nodes_left: int = 20_000
