"""The store: versioned schema, WAL on files, transactions that roll back."""

from __future__ import annotations

import sqlite3
import threading
from decimal import Decimal

import pytest

from simulator.core import codec
from simulator.core.store import SCHEMA_VERSION, Store, StoreError


def test_file_store_uses_wal_and_current_schema(tmp_path):
    store = Store(str(tmp_path / "a.db"))
    assert store.schema_version == SCHEMA_VERSION
    with store.read() as tx:
        assert tx.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "future.db"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(StoreError, match="newer"):
        Store(str(path))


def test_not_a_database_is_refused(tmp_path):
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError):
        Store(str(path))


def test_failed_transaction_rolls_back():
    store = Store()
    with pytest.raises(RuntimeError), store.tx() as tx:
        tx.put("t", "order", "1", {"id": "1"})
        raise RuntimeError("boom")
    with store.read() as tx:
        assert tx.get("t", "order", "1") is None


def test_nested_transactions_join_the_outer_one():
    store = Store()
    with store.tx() as outer:
        outer.put("t", "k", "1", {"a": 1})
        with store.tx() as inner:
            inner.put("t", "k", "2", {"a": 2}, sort_key="b")
    with store.read() as tx:
        assert [d["a"] for d in tx.query("t", "k", ascending=True)] == [1, 2]
        assert tx.count("t", "k") == 2


def test_file_reads_see_committed_state_only_and_their_own_open_write(tmp_path):
    store = Store(str(tmp_path / "r.db"))
    seen: list[object] = []
    with store.tx() as tx:
        tx.put("t", "k", "1", {"a": 1})
        with store.read() as inner:  # the writing thread reads its own uncommitted write
            assert inner.get("t", "k", "1") == {"a": 1}
        other = threading.Thread(target=lambda: seen.append(_read(store)))
        other.start()
        other.join()
    assert seen == [None]  # another thread's reader did not see the open write
    other = threading.Thread(target=lambda: seen.append(_read(store)))
    other.start()
    other.join()
    assert seen == [None, {"a": 1}]
    store.close()


def _read(store: Store) -> object:
    with store.read() as tx:
        return tx.get("t", "k", "1")


@pytest.mark.parametrize("value", [
    {"big": 2 ** 70, "negative": -(2 ** 64), "list": [123456789012345678901234567890]},
    {"max_u64": 2 ** 64 - 1, "min_i64": -(2 ** 63), "text": "é ✓ \u2028", "f": 85.32},
    {"nested": {"deep": [{"x": 10 ** 25}]}, "float": 1e-05, "none": None, "b": True},
])
def test_documents_come_back_exactly_as_stored(value):
    store = Store()
    with store.tx() as tx:
        tx.put("t", "k", "1", value)
    with store.read() as tx:
        back = tx.get("t", "k", "1")
    assert back == value
    assert {k: type(v) for k, v in back.items()} == {k: type(v) for k, v in value.items()}


def test_answers_keep_big_integers_and_the_handlers_key_order():
    assert codec.dumps({"b": 1, "a": 2 ** 70}) == b'{"b":1,"a":1180591620717411303424}'
    assert codec.dumps({"z": "é", "a": Decimal("1.5")}) == '{"z":"é","a":1.5}'.encode()
    with pytest.raises(TypeError):
        codec.dumps({"x": object()})
    assert codec.load_doc(codec.dump_doc({"b": 1, "a": 2})) == {"a": 2, "b": 1}
    assert codec.dump_doc({"b": 1, "a": 2}) == '{"a":2,"b":1}'  # stored sorted, as before


def test_upgrade_marks_stored_documents_that_may_hold_big_integers(tmp_path):
    path = tmp_path / "old.db"
    Store(str(path))._conn.close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION - 1}")
    for id, doc in (("1", '{"n":123456789012345678901234567890}'), ("2", '{"n":12}')):
        conn.execute("INSERT INTO entities (tenant, kind, id, doc) VALUES ('t', 'k', ?, ?)",
                     (id, doc))
    conn.commit()
    conn.close()
    store = Store(str(path))
    with store.read() as tx:
        assert tx.get("t", "k", "1") == {"n": 123456789012345678901234567890}
        assert tx.get("t", "k", "2") == {"n": 12}


@pytest.mark.parametrize("where", ["file", ":memory:"])
def test_single_document_read_sees_committed_state_and_its_own_open_write(tmp_path, where):
    store = Store(str(tmp_path / "g.db") if where == "file" else ":memory:")
    assert store.get("t", "k", "1") is None
    with store.tx() as tx:
        tx.put("t", "k", "1", {"v": 1})
        assert store.get("t", "k", "1") == {"v": 1}  # the writing thread reads its own write
        if where == "file":
            seen: list[object] = []
            other = threading.Thread(target=lambda: seen.append(store.get("t", "k", "1")))
            other.start()
            other.join()
            assert seen == [None]  # not committed yet
    assert store.get("t", "k", "1") == {"v": 1}
