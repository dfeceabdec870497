"""The seeded world: same seed, same world; it persists; its numbers add up."""

from __future__ import annotations

import json

from simulator.core.clock import Clock
from simulator.core.store import Store
from simulator.core.world import SAMPLE_ORDER_ID, WorldBuilder
from simulator.platform import entities as E
from simulator.platform.tenants import ensure_tenant, list_tenants
from simulator.settings import WorldSize
from tests.conftest import SMALL


def dump(store: Store) -> list[tuple]:
    with store.read() as tx:
        return list(tx.conn.execute(
            "SELECT tenant, kind, id, external_id, parent_id, email, sort_key, doc"
            " FROM entities ORDER BY tenant, kind, id"))


def test_same_seed_gives_identical_worlds():
    a, b = Store(":memory:"), Store(":memory:")
    for store in (a, b):
        ensure_tenant(store, "dodici", 7, SMALL, Clock())
        ensure_tenant(store, "acme", 7, SMALL, Clock())
    assert dump(a) == dump(b)
    assert len(dump(a)) > 100


def test_other_seed_or_tenant_gives_another_world():
    one = WorldBuilder("acme", 1, orders=20).build()
    two = WorldBuilder("acme", 2, orders=20).build()
    three = WorldBuilder("other", 1, orders=20).build()
    assert one.orders[0]["id"] != two.orders[0]["id"]
    assert one.orders[0]["id"] != three.orders[0]["id"]


def test_default_sizes_match_the_issue():
    world = WorldBuilder("acme", 42).build()
    assert len(world.products) == 200
    assert len([loc for loc in world.locations if loc["type"] == "store"]) == 10
    assert len(world.customers) == 100
    assert len(world.orders) == 500
    channels = {o["channel_type"] for o in world.orders}
    assert channels == {"store", "web"}
    assert world.returns and world.refunds and world.fulfillment_requests


def test_order_totals_add_up():
    world = WorldBuilder("acme", 3, orders=50).build()
    for order in world.orders:
        items = order["items"]
        assert order["subtotal"] == round(sum(i["pricebook_price"] for i in items), 2)
        expected = (order["subtotal"] - order["discount_total"] + order["shipping_total"]
                    + order["tax_total"])
        assert abs(order["grand_total"] - expected) < 0.011
        account = next(a for a in world.payment_accounts if a["id"] == order["id"])
        auth = [t for t in account["transactions"] if t["transaction_type"] == "authorize"]
        assert auth[0]["amount"] == order["grand_total"]


def test_sample_order_only_in_dodici():
    assert any(o["id"] == SAMPLE_ORDER_ID for o in WorldBuilder("dodici", 42, orders=5)
               .build().orders)
    assert not any(o["id"] == SAMPLE_ORDER_ID for o in WorldBuilder("acme", 42, orders=5)
                   .build().orders)


def test_world_survives_a_restart(tmp_path):
    path = str(tmp_path / "sim.db")
    store = Store(path)
    assert ensure_tenant(store, "dodici", 42, WorldSize(10, 2, 5, 10), Clock())
    before = dump(store)
    store.close()
    reopened = Store(path)
    assert not ensure_tenant(reopened, "dodici", 42, WorldSize(10, 2, 5, 10), Clock())
    assert dump(reopened) == before
    assert list_tenants(reopened) == ["dodici"]
    with reopened.read() as tx:
        order = tx.get("dodici", E.ORDER, SAMPLE_ORDER_ID)
    assert json.dumps(order)
