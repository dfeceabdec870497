"""`newstore-sim action` against a real server: bodies from --set/--json/--body, the tenant,
the control token, and errors."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from simulator.cli import ACTIONS, _set_path, build_parser, main
from tests.conftest import make_settings
from tests.server import running_server, server_token
from tests.test_flow_aftersales import ORDERS_QUERY

TENANT = "cliaction"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    db = tmp_path_factory.mktemp("cliaction") / "sim.db"
    with running_server(make_settings(db=str(db), dispatch=False,
                                      control_token="ctl")) as url:
        yield url


@pytest.fixture(scope="module")
def orders(server: str) -> list[dict[str, Any]]:
    """Closed, captured, never refunded card orders of the test tenant (two lines or more)."""
    headers = {"tenant": TENANT, "Authorization": f"Bearer {server_token(server, TENANT)}"}
    r = requests.post(f"{server}/api/v1/org/data/query", json={"query": ORDERS_QUERY},
                      headers=headers, timeout=10)
    assert r.status_code == 200, r.text
    found = []
    for order in r.json()["data"]["orders"]["nodes"]:
        txs = [t["transactionType"] for t in order["paymentAccount"]["transactions"]["nodes"]]
        items = order["items"]["nodes"]
        if (order["status"] == "closed" and "capture" in txs and "refund" not in txs
                and len(items) >= 2 and all(i["status"] == "completed" for i in items)):
            found.append(order)
    assert len(found) >= 4
    return found


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def base(server: str) -> list[str]:
    return ["--url", server, "--control-token", "ctl", "--tenant", TENANT]


def test_return_with_sets(server, orders, capsys):
    order = orders[0]
    item = order["items"]["nodes"][0]
    code, out, err = run(capsys, "action", "return", *base(server),
                         "--set", f"order_id={order['id']}",
                         "--set", f"items.0.product_id={item['productId']}",
                         "--set", "items.0.quantity=1", "--set", "reason=Too small")
    assert code == 0, err
    answer = json.loads(out)
    assert answer["order_id"] == order["id"]
    assert answer["events"] == ["return.processed", "payment_account.amount_refunded"]
    r = requests.get(f"{server}/v0/d/orders/{order['id']}/returns/{answer['return_id']}",
                     headers={"tenant": TENANT,
                              "Authorization": f"Bearer {server_token(server, TENANT)}"},
                     timeout=10)
    assert r.status_code == 200
    assert r.json()["items"][0]["product_id"] == item["productId"]
    assert r.json()["items"][0]["return_reason"] == "Too small"


def test_appease_with_json_then_set_overrides(server, orders, capsys):
    order = orders[1]
    body = json.dumps({"order_id": order["id"], "amount": 1, "note": "from json"})
    code, out, err = run(capsys, "action", "appease", *base(server), "--json", body,
                         "--set", "amount=2.5")
    assert code == 0, err
    answer = json.loads(out)
    assert answer["refund_amount"] == 2.5
    assert answer["events"] == ["refund_request.issued", "payment_account.amount_refunded"]


def test_body_from_file_and_stdin(server, orders, capsys, tmp_path, monkeypatch):
    order = orders[2]
    path = tmp_path / "body.json"
    path.write_text(json.dumps({"order_id": order["id"], "amount": 1}))
    code, out, err = run(capsys, "action", "appease", *base(server), "--body", str(path))
    assert code == 0, err
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps({"order_id": order["id"],
                                                             "amount": 1})))
    code, out, err = run(capsys, "action", "appease", *base(server), "--body", "-")
    assert code == 0, err
    assert json.loads(out)["order_id"] == order["id"]


def test_server_problems_exit_1_with_the_detail(server, orders, capsys):
    order = orders[3]
    code, _, err = run(capsys, "action", "appease", *base(server),
                       "--set", f"order_id={order['id']}", "--set", "amount=100000")
    assert code == 1
    assert "400" in err and "refundable balance" in err
    code, _, err = run(capsys, "action", "return", *base(server),
                       "--set", f"order_id={order['id']}", "--set", "items.0.item_id=x",
                       "--set", "refund_method=gift_card")
    assert code == 1 and "refund option" in err
    code, _, err = run(capsys, "action", "no-such-action", *base(server))
    assert code == 1 and "404" in err


def test_control_token_is_sent(server, capsys):
    code, _, err = run(capsys, "action", "appease", "--url", server, "--tenant", TENANT,
                       "--control-token", "wrong", "--set", "order_id=x", "--set", "amount=1")
    assert code == 1 and "403" in err
    code, _, err = run(capsys, "action", "appease", "--url", server, "--tenant", TENANT,
                       "--control-token", "", "--set", "order_id=x", "--set", "amount=1")
    assert code == 1 and "401" in err


def test_unreachable_simulator(capsys):
    code, _, err = run(capsys, "action", "return", "--url", "http://127.0.0.1:9",
                       "--set", "order_id=x")
    assert code == 1 and "cannot reach" in err


@pytest.mark.parametrize(("argv", "message"), [
    (["--json", "[1]"], "JSON object"),
    (["--json", "{nope"], "not JSON"),
    (["--set", "novalue"], "PATH=VALUE"),
    (["--set", "items.3.product_id=1"], "not an index"),
    (["--set", "a..b=1"], "empty part"),
    (["--body", "/nonexistent/body.json"], "No such file"),
])
def test_local_errors_exit_2(capsys, argv, message):
    code, _, err = run(capsys, "action", "return", "--url", "http://127.0.0.1:9", *argv)
    assert code == 2 and message in err


def test_set_path_builds_nested_bodies():
    body: dict[str, Any] = {"items": [{"quantity": 1}]}
    _set_path(body, "items.0.quantity", 2)
    _set_path(body, "items.1.product_id", "1000061")
    _set_path(body, "payment_details.payment_method", "cash")
    _set_path(body, "new_items.0.product_id", "1000068")
    assert body == {"items": [{"quantity": 2}, {"product_id": "1000061"}],
                    "payment_details": {"payment_method": "cash"},
                    "new_items": [{"product_id": "1000068"}]}
    with pytest.raises(ValueError, match="already holds"):
        _set_path(body, "payment_details.payment_method.x", 1)


def test_ids_stay_strings(server, capsys, monkeypatch):
    sent: dict[str, Any] = {}

    def fake(command, method, url, path, token, body=None, timeout=30):
        sent.update(path=path, body=body)
        return 0

    monkeypatch.setattr("simulator.cli.call_control", fake)
    assert main(["action", "return", "--set", "items.0.product_id=1000061",
                 "--set", "items.0.quantity=2", "--tenant", "a b"]) == 0
    assert sent["body"] == {"items": [{"product_id": "1000061", "quantity": 2}]}
    assert sent["path"] == "/_sim/actions/return?tenant=a%20b"


def test_help_lists_every_action_with_examples(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["action", "--help"])
    out = capsys.readouterr().out
    for name in ("place-order", "pick", "hand-over", "cancel-items", "return", "appease",
                 "exchange"):
        assert name in ACTIONS and f"  {name} " in out
    assert "examples:" in out and "newstore-sim action return" in out
