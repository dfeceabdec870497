"""`newstore-sim emit` against a real server: generated, with payload and --set, errors."""

from __future__ import annotations

import io
import json
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
import requests

from simulator.cli import _parse_sets, main
from tests.conftest import make_settings
from tests.server import running_server


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("emit") / "sim.db"


@pytest.fixture(scope="module")
def server(db: Path) -> Iterator[str]:
    with running_server(make_settings(db=str(db), dispatch=False,
                                      control_token="ctl")) as url:
        yield url


def stored(db: Path, event_id: str) -> tuple[str, dict]:
    """(tenant, payload) of a published event, read from the server's database file."""
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        tenant, payload = conn.execute("SELECT tenant, payload FROM outbox WHERE id=?",
                                       (event_id,)).fetchone()
    return tenant, json.loads(payload)


def deliveries_of(url: str, **params: str) -> list[dict]:
    r = requests.get(f"{url}/_sim/eventstream/deliveries", params=params,
                     headers={"Authorization": "Bearer ctl"}, timeout=10)
    r.raise_for_status()
    return r.json()["deliveries"]


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_emit_generated(server, capsys):
    code, out, err = run(capsys, "emit", "order.opened", "--url", server,
                         "--control-token", "ctl")
    assert code == 0, err
    answer = json.loads(out)
    assert answer["count"] == 1 and answer["events"][0]["name"] == "order.opened"


def test_emit_payload_file_set_count_tenant(server, db, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("SIM_URL", server)
    monkeypatch.setenv("SIM_CONTROL_TOKEN", "ctl")
    payload = tmp_path / "p.json"
    payload.write_text(json.dumps({"id": "o-1", "items": [{"quantity": 1}]}))
    code, out, err = run(capsys, "emit", "order.created", "--payload", str(payload),
                         "--set", "items.0.quantity=3", "--set", "note=hello world",
                         "--set", "flags={\"vip\": true}", "--count", "3", "--tenant", "acme")
    assert code == 0, err
    events = json.loads(out)["events"]
    assert len(events) == 3
    assert len({e["id"] for e in events}) == 3
    tenant, payload = stored(db, events[2]["id"])
    assert tenant == "acme"
    assert payload == {"id": "o-1", "items": [{"quantity": 3}], "note": "hello world",
                       "flags": {"vip": True}}
    assert deliveries_of(server, tenant="acme") == []  # no integration in acme: no delivery


def test_emit_payload_from_stdin(server, db, capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO('{"broken": true}'))
    code, out, err = run(capsys, "emit", "order.created", "--payload", "-", "--url", server,
                         "--control-token", "ctl")
    assert code == 0, err
    assert stored(db, json.loads(out)["events"][0]["id"]) == ("dodici", {"broken": True})


def test_emit_unknown_name_exits_1_with_detail(server, capsys):
    code, out, err = run(capsys, "emit", "order.exploded", "--url", server,
                         "--control-token", "ctl")
    assert code == 1 and out == ""
    assert "422" in err and "unknown event name 'order.exploded'" in err


def test_emit_wrong_token_exits_1(server, capsys, monkeypatch):
    monkeypatch.delenv("SIM_CONTROL_TOKEN", raising=False)
    code, _, err = run(capsys, "emit", "order.opened", "--url", server)
    assert code == 1 and "401" in err
    code, _, err = run(capsys, "emit", "order.opened", "--url", server, "--control-token", "x")
    assert code == 1 and "403" in err and "control token is wrong" in err


def test_emit_bad_set_path_exits_1(server, capsys):
    code, _, err = run(capsys, "emit", "order.opened", "--url", server, "--control-token",
                       "ctl", "--set", "items.99.quantity=1")
    assert code == 1 and "items.99" in err


def test_emit_server_not_reachable(capsys):
    code, _, err = run(capsys, "emit", "order.opened", "--url", "http://127.0.0.1:9")
    assert code == 1
    assert "cannot reach the simulator at http://127.0.0.1:9" in err


def test_emit_bad_arguments_exit_2(capsys, tmp_path):
    code, _, err = run(capsys, "emit", "order.opened", "--set", "novalue")
    assert code == 2 and "PATH=VALUE" in err
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    code, _, err = run(capsys, "emit", "order.opened", "--payload", str(bad))
    assert code == 2 and "not JSON" in err
    code, _, err = run(capsys, "emit", "order.opened", "--payload", str(tmp_path / "missing"))
    assert code == 2


def test_set_values_are_json_when_they_parse():
    assert _parse_sets(["a=3", "b=true", "c=x y", "d=\"3\"", "e={\"k\": [1]}", "f=", "g=a=b"]) \
        == {"a": 3, "b": True, "c": "x y", "d": "3", "e": {"k": [1]}, "f": "", "g": "a=b"}


def test_emit_help_has_an_example(capsys):
    with pytest.raises(SystemExit) as done:
        main(["emit", "--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert "newstore-sim emit order.opened --set items.0.quantity=3" in out
