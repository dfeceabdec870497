"""End to end: the reference ERP integration (examples/reference_integration, a subprocess on a
real port) against a live simulator, driven by /_sim actions over HTTP. Checks each playbook's
ERP record against the order or return, ERP downtime, PSP delays (parking), duplicate
delivery, the deliberate flaws, and that the example imports nothing from simulator/."""

from __future__ import annotations

import ast
import itertools
import select
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests

from simulator.scenario import processes
from tests.conftest import CLIENT, make_settings
from tests.server import fixed_world, running_server, server_token, wait_for
from tests.test_injection import body as injection_body

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "reference_integration"
API_KEY = "ri-s3cret"
INTEGRATION = "reference-integration"
HANDLED = ["order.items_cancelled", "order.opened", "refund_request.issued", "return.processed"]
_tenants = itertools.count(1)

ORDER = """query($id: String!, $tenant: String!) { order(id: $id, tenant: $tenant) {
  id externalId currency demandLocationId grandTotal
  items { nodes { id productId quantity pricebookPrice itemDiscounts orderDiscounts tax } }
} }"""


# -- the simulator and the integration ----------------------------------------------------------

@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    db = tmp_path_factory.mktemp("refint") / "sim.db"
    with running_server(make_settings(db=str(db), retry_profile="fast")) as url:
        yield url


@contextmanager
def integration(sim: str, tmp: Path, *extra: str) -> Iterator[str]:
    """Run the reference integration as a subprocess; yields its base URL (from stdout)."""
    tmp.mkdir(parents=True, exist_ok=True)
    stderr = (tmp / "stderr.log").open("w")
    cmd = [sys.executable, str(EXAMPLE), "--sim", sim, "--port", "0", "--api-key", API_KEY,
           "--client-id", CLIENT[0], "--client-secret", CLIENT[1], "--retry-profile", "fast",
           "--park-interval", "0.2", "--db", str(tmp / "ri.db"), *extra]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=stderr, text=True, cwd=ROOT)
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 30)
        line = proc.stdout.readline() if ready else ""  # type: ignore[union-attr]
        prefix = "reference-integration listening on "
        assert line.startswith(prefix), (line, (tmp / "stderr.log").read_text())
        url = line[len(prefix):].strip()
        assert requests.get(f"{url}/health", timeout=5).json() == {"status": "ok"}
        yield url
    finally:
        processes.stop(proc)
        stderr.close()


@pytest.fixture(scope="module")
def ri(sim: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The well-behaved integration, registered at start-up in tenant `riboot`."""
    with integration(sim, tmp_path_factory.mktemp("ri"), "--register", "riboot") as url:
        yield url


class Tenant:
    """A fresh tenant whose Event Stream posts to an integration at `ri_url`."""

    def __init__(self, sim: str, ri_url: str, register: bool = True) -> None:
        self.sim, self.ri = sim, ri_url
        self.name = f"ri{next(_tenants)}"
        fixed_world(sim, self.name)
        self.headers = {"tenant": self.name,
                        "Authorization": f"Bearer {server_token(sim, self.name)}"}
        if register:
            r = requests.post(f"{sim}/api/v1/org/integrations/eventstream", headers=self.headers,
                              json={"id": INTEGRATION, "callback_parameters": {
                                  "callback_url": f"{ri_url}/events", "api_key": API_KEY},
                                  "filter_conditions": {"event_filter": HANDLED},
                                  "simulator": {"retry_profile": "fast"}}, timeout=10)
            assert r.status_code == 201, r.text

    def control(self, method: str, path: str, expect: int = 200, **body: Any) -> Any:
        r = requests.request(method, f"{self.sim}/_sim{path}", json=body or None,
                             headers={"tenant": self.name}, timeout=10)
        assert r.status_code == expect, r.text
        return r.json() if r.content else None

    def act(self, name: str, **body: Any) -> dict[str, Any]:
        return self.control("POST", f"/actions/{name}", 201, **body)

    def order(self, order_id: str) -> dict[str, Any]:
        r = requests.post(f"{self.sim}/api/v1/org/data/query", headers=self.headers,
                          json={"query": ORDER, "variables": {"id": order_id,
                                                              "tenant": self.name}}, timeout=10)
        assert r.status_code == 200 and "errors" not in r.json(), r.text
        return r.json()["data"]["order"]

    def erp(self, collection: str, **params: str) -> list[dict[str, Any]]:
        r = requests.get(f"{self.sim}/erp/{collection}", params=params, timeout=10,
                         headers={"tenant": self.name, "Authorization": "Bearer test"})
        assert r.status_code == 200, r.text
        return r.json()["records"]

    def erp_stats(self) -> dict[str, Any]:
        r = requests.get(f"{self.sim}/erp/stats", timeout=10,
                         headers={"tenant": self.name, "Authorization": "Bearer test"})
        assert r.status_code == 200, r.text
        return r.json()

    def wait_record(self, collection: str, count: int = 1, **params: str) -> list[dict]:
        return wait_for(lambda: (lambda rs: rs if len(rs) >= count else None)(
            self.erp(collection, **params)), what=f"{count} {collection} {params}")

    def deliveries(self, event_name: str) -> list[dict[str, Any]]:
        return self.control("GET", f"/eventstream/deliveries?event_name={event_name}"
                            f"&integration_id={INTEGRATION}")["deliveries"]

    def attempts(self, event_id: str) -> list[dict[str, Any]]:
        r = requests.get(f"{self.sim}/_sim/eventstream/attempts", timeout=10,
                         headers={"tenant": self.name}, params={"event_id": event_id})
        assert r.status_code == 200, r.text
        return r.json()["attempts"]

    def inject(self, external_id: str) -> dict[str, Any]:
        r = requests.post(f"{self.sim}/v0/d/fulfill_order", json=injection_body(external_id),
                          headers=self.headers, timeout=10)
        assert r.status_code == 200, r.text
        return r.json()


def status(ri_url: str) -> dict[str, Any]:
    r = requests.get(f"{ri_url}/status", timeout=5)
    assert r.status_code == 200
    return r.json()


def expected_items(order: dict[str, Any]) -> list[dict[str, Any]]:
    return sorted(({"product_id": i["productId"], "quantity": i["quantity"],
                    "amount": round(i["pricebookPrice"] * i["quantity"] - i["itemDiscounts"]
                                    - i["orderDiscounts"], 2), "tax": i["tax"]}
                   for i in order["items"]["nodes"]), key=_item_key)


def sorted_items(record: dict[str, Any]) -> list[dict[str, Any]]:
    return sorted(record["items"], key=_item_key)


def _item_key(item: dict[str, Any]) -> tuple[str, float]:
    return item["product_id"], item["amount"]


@contextmanager
def manual_clock(t: Tenant) -> Iterator[None]:
    """The simulator's (global) clock stands still inside; back to real time after."""
    t.control("PUT", "/clock", mode="manual")
    try:
        yield
    finally:
        t.control("PUT", "/clock", mode="real")


# -- start-up and the webhook surface ------------------------------------------------------------

def test_registers_at_start_up_with_its_url_key_filters_and_retry_profile(sim: str, ri: str):
    headers = {"tenant": "riboot", "Authorization": f"Bearer {server_token(sim, 'riboot')}"}
    r = requests.get(f"{sim}/api/v1/org/integrations/eventstream/{INTEGRATION}",
                     headers=headers, timeout=10)
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["callback_parameters"] == {"callback_url": f"{ri}/events", "api_key": API_KEY}
    assert doc["simulator"]["retry_profile"] == "fast"
    assert sorted(doc["filter_conditions"]["event_filter"]) == HANDLED
    assert doc["status"] == "running"


def test_webhook_auth_malformed_json_and_ignored_events(sim: str, ri: str):
    before = status(ri)
    envelope = {"tenant": "riboot", "name": "order.completed", "published_at": "x",
                "payload": {"id": "o1"}}
    assert requests.post(f"{ri}/events", json=envelope, timeout=5).status_code == 401
    assert requests.post(f"{ri}/events", json=envelope, timeout=5,
                         headers={"Authorization": "Bearer wrong"}).status_code == 401
    auth = {"Authorization": f"Bearer {API_KEY}"}
    r = requests.post(f"{ri}/events", data=b"{not json", timeout=5,
                      headers={**auth, "Content-Type": "application/json"})
    assert r.status_code == 400
    r = requests.post(f"{ri}/events", json=envelope, headers=auth, timeout=5)
    assert r.status_code == 200 and r.json()["result"] == "ignored"
    after = status(ri)
    assert after["ignored"] == before["ignored"] + 1
    assert after["received"] == before["received"] + 1
    assert {"received", "processed", "duplicates_skipped", "parked", "erp_unavailable",
            "ignored", "parked_queue_size", "failed"} <= set(after)


def test_historical_order_is_ignored(sim: str, ri: str):
    t = Tenant(sim, ri)
    before = status(ri)["ignored"]
    t.control("POST", "/events", 201, name="order.opened", set={"is_historical": True})
    wait_for(lambda: status(ri)["ignored"] == before + 1, what="ignored historical order")
    assert t.erp("cash_sales") == [] and t.erp("sales_orders") == []


# -- the playbooks ---------------------------------------------------------------------------------

@pytest.mark.parametrize("kind, collection", [("cash_and_carry", "cash_sales"),
                                              ("endless_aisle", "sales_orders"),
                                              ("mixed_cart", "sales_orders")])
def test_order_opened_writes_a_cash_sale_or_sales_order(sim: str, ri: str, kind: str,
                                                        collection: str):
    t = Tenant(sim, ri)
    placed = t.act("place-order", kind=kind)
    order_id = placed["order_id"]
    [record] = t.wait_record(collection, newstore_order_id=order_id)
    order = t.order(order_id)
    assert record["external_id"] == order_id
    assert record["location"] == order["demandLocationId"] == "US01"
    assert record["currency"] == order["currency"] == "USD"
    assert sorted_items(record) == expected_items(order)
    assert record["total"] == order["grandTotal"]
    assert record["payments"] == [{"method": "credit_card", "amount": order["grandTotal"]}]
    other = "sales_orders" if collection == "cash_sales" else "cash_sales"
    assert t.erp(other) == []


def test_return_writes_a_cash_refund(sim: str, ri: str):
    t = Tenant(sim, ri)
    two = [{"product_id": "1000061"}, {"product_id": "1000068"}]  # the default cart may be 1
    order_id = t.act("place-order", kind="cash_and_carry", items=two)["order_id"]
    order = t.order(order_id)
    first, second = order["items"]["nodes"][:2]
    done = t.act("return", order_id=order_id, items=[{"item_id": first["id"]},
                                                     {"item_id": second["id"]}])
    [record] = t.wait_record("cash_refunds", newstore_return_id=done["return_id"])
    assert record["external_id"] == done["return_id"]
    assert record["newstore_order_id"] == order_id
    assert record["location"] == "US01" and record["currency"] == "USD"
    gross = [round(i["pricebookPrice"] + i["tax"], 2) for i in (first, second)]
    assert sorted((i["product_id"], i["quantity"], i["amount"]) for i in record["items"]) == \
        sorted([(first["productId"], 1, gross[0]), (second["productId"], 1, gross[1])])
    assert record["total"] == done["refund_amount"] == round(sum(gross), 2)
    assert record["payments"] == [{"method": "credit_card", "amount": done["refund_amount"]}]


def test_cancelled_items_write_a_credit_memo(sim: str, ri: str):
    t = Tenant(sim, ri)
    injected = t.inject("RI-CM-1")
    order_id = injected["id"]
    first = injected["items"][0]["id"]
    t.wait_record("sales_orders", newstore_order_id=order_id)  # web order: a sales order
    t.act("cancel-items", order_id=order_id, reason="customer_request",
          items=[{"item_id": first}])
    [memo] = t.wait_record("credit_memos", newstore_order_id=order_id)
    assert memo["external_id"].startswith(order_id) and len(memo["external_id"]) <= 64
    assert memo["items"] == [{"product_id": "1000061", "quantity": 1, "amount": 50.0,
                              "tax": 4.0}]
    assert memo["total"] == 54.0 and memo["currency"] == "USD"
    assert "customer_request" in memo["memo"]
    # the rest of the order: a second credit memo with its own external id
    t.act("cancel-items", order_id=order_id, reason="fraud")
    memos = t.wait_record("credit_memos", 2, newstore_order_id=order_id)
    assert len({m["external_id"] for m in memos}) == 2
    assert sorted(m["total"] for m in memos) == [32.4, 54.0]


def test_appeasement_writes_a_cash_refund(sim: str, ri: str):
    t = Tenant(sim, ri)
    order_id = t.act("place-order", kind="endless_aisle")["order_id"]
    done = t.act("appease", order_id=order_id, amount=12.5, note="late delivery")
    [record] = t.wait_record("cash_refunds", newstore_order_id=order_id)
    assert record["external_id"] == done["refund_id"]
    assert record["total"] == done["refund_amount"] == 12.5
    assert record["payments"] == [{"method": "credit_card", "amount": record["total"]}]
    assert "late delivery" in record["memo"] and record["items"] == []
    assert record["newstore_return_id"] is None


# -- exceptions: ERP down, PSP delay, duplicates ---------------------------------------------------

def test_erp_down_answers_500_until_the_stream_retry_writes_one_record(sim: str, ri: str):
    t = Tenant(sim, ri)
    before = status(ri)
    t.control("POST", "/faults", 201, system="erp", operation="records.create_cash_sale",
              status=503, times=3)
    order_id = t.act("place-order", kind="cash_and_carry")["order_id"]
    [record] = t.wait_record("cash_sales", newstore_order_id=order_id)
    [delivery] = wait_for(lambda: [d for d in t.deliveries("order.opened")
                                   if d["status"] == "delivered"], what="acknowledged")
    codes = [a["status_code"] for a in t.attempts(delivery["event_id"])]
    assert codes == [500, 500, 500, 200]
    assert len(t.erp("cash_sales")) == 1 and record["external_id"] == order_id
    after = status(ri)
    assert after["erp_unavailable"] == before["erp_unavailable"] + 3
    assert after["parked_queue_size"] == 0


def test_psp_refund_delay_parks_the_return_until_the_refund_settles(sim: str, ri: str):
    t = Tenant(sim, ri)
    order_id = t.act("place-order", kind="cash_and_carry")["order_id"]
    item = t.order(order_id)["items"]["nodes"][0]
    t.wait_record("cash_sales", newstore_order_id=order_id)
    t.control("PUT", "/psp", credit_card={"refund_delay_s": 600})
    before = status(ri)["parked"]
    with manual_clock(t):
        done = t.act("return", order_id=order_id, items=[{"item_id": item["id"]}])
        assert done["refund_status"] == "pending"
        parked = wait_for(lambda: [p for p in status(ri)["parked_queue"]
                                   if p["tenant"] == t.name], what="the parked return")
        assert parked[0]["name"] == "return.processed"
        assert status(ri)["parked"] == before + 1
        # answered 200 although nothing was written
        wait_for(lambda: [d for d in t.deliveries("return.processed")
                          if d["status"] == "delivered" and d["attempts"] == 1],
                 what="the return acknowledged at the first attempt")
        wait_for(lambda: [p for p in status(ri)["parked_queue"]
                          if p["tenant"] == t.name and p["retries"] >= 2], what="retries")
        assert t.erp("cash_refunds") == []
        t.control("POST", "/clock/advance", seconds=601)
        [record] = t.wait_record("cash_refunds", newstore_return_id=done["return_id"])
    assert record["payments"] == [{"method": "credit_card", "amount": done["refund_amount"]}]
    assert record["total"] == done["refund_amount"]
    wait_for(lambda: not [p for p in status(ri)["parked_queue"] if p["tenant"] == t.name],
             what="the parked queue to empty")
    assert len(t.erp("cash_refunds")) == 1


def test_duplicate_deliveries_write_no_second_record(sim: str, ri: str):
    t = Tenant(sim, ri)
    before = status(ri)["duplicates_skipped"]
    order_id = t.act("place-order", kind="cash_and_carry")["order_id"]
    t.wait_record("cash_sales", newstore_order_id=order_id)
    [delivery] = wait_for(lambda: [d for d in t.deliveries("order.opened")
                                   if d["status"] == "delivered"], what="acknowledged")
    t.control("POST", f"/eventstream/deliveries/{delivery['delivery_id']}/_redeliver")
    wait_for(lambda: len(t.attempts(delivery["event_id"])) == 2, what="the redelivery")
    wait_for(lambda: status(ri)["duplicates_skipped"] == before + 1, what="a skipped duplicate")
    # chaos: every event is sent twice
    r = requests.patch(f"{sim}/api/v1/org/integrations/eventstream/{INTEGRATION}",
                       headers=t.headers, json={"simulator": {"chaos": {"duplicate_rate": 1}}},
                       timeout=10)
    assert r.status_code == 200, r.text
    second = t.act("place-order", kind="endless_aisle")["order_id"]
    t.wait_record("sales_orders", newstore_order_id=second)
    wait_for(lambda: status(ri)["duplicates_skipped"] >= before + 2, what="a chaos duplicate")
    assert len(t.erp("cash_sales")) == 1 and len(t.erp("sales_orders")) == 1
    stats = t.erp_stats()
    assert stats["cash_sales"] == {"created": 1, "duplicates_rejected": 0}
    assert stats["sales_orders"] == {"created": 1, "duplicates_rejected": 0}


def _sold_then_returned_under_psp_delay(t: Tenant) -> dict[str, Any]:
    """A cash & carry sale in the ERP, then its first item returned while the PSP holds the
    refund for 600 s; call it with the clock stopped (manual_clock)."""
    order_id = t.act("place-order", kind="cash_and_carry")["order_id"]
    item = t.order(order_id)["items"]["nodes"][0]
    t.wait_record("cash_sales", newstore_order_id=order_id)
    t.control("PUT", "/psp", credit_card={"refund_delay_s": 600})
    return t.act("return", order_id=order_id, items=[{"item_id": item["id"]}])


def test_parked_event_is_given_up_after_max_age(sim: str, tmp_path: Path):
    with integration(sim, tmp_path, "--park-max-age", "0.6") as url:
        t = Tenant(sim, url)
        with manual_clock(t):
            done = _sold_then_returned_under_psp_delay(t)
            [failed] = wait_for(lambda: status(url)["failed"], what="a failed parked event")
        assert failed["name"] == "return.processed" and failed["tenant"] == t.name
        assert done["return_id"] in failed["key"]
        assert status(url)["parked_queue_size"] == 0
        assert t.erp("cash_refunds") == []


# -- the deliberate flaws --------------------------------------------------------------------------

def test_flaw_ignore_erp_down_acknowledges_and_drops(sim: str, tmp_path: Path):
    with integration(sim, tmp_path, "--flaw", "ignore-erp-down") as url:
        t = Tenant(sim, url)
        t.control("POST", "/faults", 201, system="erp", operation="*", status=503)
        t.act("place-order", kind="cash_and_carry")
        [delivery] = wait_for(lambda: [d for d in t.deliveries("order.opened")
                                       if d["status"] == "delivered"], what="acknowledged")
        assert [a["status_code"] for a in t.attempts(delivery["event_id"])] == [200]
        assert status(url)["erp_unavailable"] == 1
        t.control("DELETE", "/faults", 204)
        assert t.erp("cash_sales") == []


def test_flaw_not_idempotent_writes_a_second_record_on_redelivery(sim: str, tmp_path: Path):
    with integration(sim, tmp_path, "--flaw", "not-idempotent") as url:
        t = Tenant(sim, url)
        order_id = t.act("place-order", kind="cash_and_carry")["order_id"]
        t.wait_record("cash_sales", newstore_order_id=order_id)
        [delivery] = wait_for(lambda: [d for d in t.deliveries("order.opened")
                                       if d["status"] == "delivered"], what="acknowledged")
        t.control("POST", f"/eventstream/deliveries/{delivery['delivery_id']}/_redeliver")
        records = t.wait_record("cash_sales", 2, newstore_order_id=order_id)
        assert len({r["external_id"] for r in records}) == 2
        assert all(r["external_id"].startswith(order_id) for r in records)
        assert status(url)["duplicates_skipped"] == 0


def test_flaw_ignore_missing_payment_writes_at_once_without_payments(sim: str, tmp_path: Path):
    with integration(sim, tmp_path, "--flaw", "ignore-missing-payment") as url:
        t = Tenant(sim, url)
        with manual_clock(t):
            done = _sold_then_returned_under_psp_delay(t)
            [record] = t.wait_record("cash_refunds", newstore_return_id=done["return_id"])
            assert record["payments"] == []
            assert status(url)["parked"] == 0 and status(url)["parked_queue_size"] == 0
            t.control("POST", "/clock/advance", seconds=601)


# -- the example stands apart from the simulator -------------------------------------------------

def test_reference_integration_imports_nothing_from_simulator():
    files = sorted(EXAMPLE.glob("*.py"))
    assert {f.name for f in files} >= {"__main__.py", "app.py", "newstore.py", "erp.py",
                                       "playbooks.py", "parking.py"}
    for path in files:
        tree = ast.parse(path.read_text(), filename=str(path))
        assert ast.get_docstring(tree), f"{path.name} has no module docstring"
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            for name in names:
                assert name.split(".")[0] not in {"simulator", "tests"}, (path.name, name)
