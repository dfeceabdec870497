"""Tenants and their generated worlds."""

from __future__ import annotations

from simulator.core.clock import Clock, iso
from simulator.core.store import Store
from simulator.core.world import World, WorldBuilder, tenant_seed
from simulator.platform import entities as E
from simulator.settings import WorldSize


def tenant_exists(store: Store, tenant: str) -> bool:
    """Whether the tenant has been created."""
    with store.read() as tx:
        return tx.conn.execute(
            "SELECT 1 FROM tenants WHERE name=?", (tenant,)).fetchone() is not None


def list_tenants(store: Store) -> list[str]:
    """All tenant names, sorted."""
    with store.read() as tx:
        return [r[0] for r in tx.conn.execute("SELECT name FROM tenants ORDER BY name")]


def ensure_tenant(store: Store, tenant: str, seed: int, size: WorldSize, clock: Clock) -> bool:
    """Create the tenant with its generated world unless it exists; True when created."""
    if tenant_exists(store, tenant):
        return False
    world = WorldBuilder(tenant, seed, products=size.products, stores=size.stores,
                         customers=size.customers, orders=size.orders).build()
    with store.tx() as tx:
        if tx.conn.execute("SELECT 1 FROM tenants WHERE name=?", (tenant,)).fetchone():
            return False
        tx.conn.execute("INSERT INTO tenants (name, seed, created_at) VALUES (?, ?, ?)",
                        (tenant, tenant_seed(seed, tenant), iso(clock.now())))
        write_world(tx, world)
    return True


def write_world(tx, world: World) -> None:  # type: ignore[no-untyped-def]
    """Store every document of a generated world."""
    t = world.tenant
    for kind, docs in (
        (E.PRODUCT, world.products), (E.LOCATION, world.locations),
        (E.CUSTOMER, world.customers), (E.ORDER, world.orders),
        (E.PAYMENT_ACCOUNT, world.payment_accounts),
        (E.FULFILLMENT_REQUEST, world.fulfillment_requests),
        (E.RETURN, world.returns), (E.REFUND, world.refunds),
    ):
        for doc in docs:
            E.save(tx, t, kind, doc)
