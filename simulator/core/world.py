"""The seeded world of a tenant: catalog, stores, customers and historical orders.

Everything here comes from one Faker and one random.Random seeded from (seed, tenant),
and every timestamp is placed before a fixed epoch, so the same seed always gives the
same world, byte for byte.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from faker import Faker

from simulator.core.clock import iso
from simulator.core.ids import seeded_uuid

# Historical orders are placed in the year before this moment.
WORLD_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)

# The order that NewStore's returns playbook queries in its sample (tenant "dodici").
SAMPLE_ORDER_ID = "012345Ab-CdEf-GhIj-KlMn-OpQrStUvWxYz"
SAMPLE_TENANT = "dodici"

TAX_RATE = 0.08
IN_STORE_HANDOVER = "IN_STORE_HANDOVER"
SERVICE_LEVELS = ("GROUND", "EXPRESS", "PRIORITY")
CARRIERS = {"GROUND": "UPS", "EXPRESS": "FedEx", "PRIORITY": "USPS"}
RETURN_REASONS = ("Too small", "Too large", "Changed my mind", "Damaged", "Not as described")
COLORS = ("black", "white", "navy", "olive", "red", "grey", "sand", "blue")
SIZES = ("XS", "S", "M", "L", "XL")
CATEGORIES = ("Shirt", "Sweater", "Jacket", "Pants", "Dress", "Sneaker", "Scarf", "Bag")


@dataclass
class World:
    """The documents of one tenant's generated world, by kind."""

    tenant: str
    products: list[dict[str, Any]] = field(default_factory=list)
    locations: list[dict[str, Any]] = field(default_factory=list)
    customers: list[dict[str, Any]] = field(default_factory=list)
    orders: list[dict[str, Any]] = field(default_factory=list)
    payment_accounts: list[dict[str, Any]] = field(default_factory=list)
    fulfillment_requests: list[dict[str, Any]] = field(default_factory=list)
    returns: list[dict[str, Any]] = field(default_factory=list)
    refunds: list[dict[str, Any]] = field(default_factory=list)
    # stock on hand at the distribution centers, so endless-aisle orders work out of the box
    stock: list[dict[str, Any]] = field(default_factory=list)


def tenant_seed(seed: int, tenant: str) -> int:
    """A stable per-tenant seed, independent of Python's hash randomisation."""
    digest = hashlib.sha256(f"{seed}:{tenant}".encode()).digest()
    return int.from_bytes(digest[:7], "big")


def money(value: float) -> float:
    """Round to cents."""
    return round(value + 1e-9, 2)


class WorldBuilder:
    """Generates one tenant's world from a seed."""

    def __init__(
        self,
        tenant: str,
        seed: int,
        *,
        products: int = 200,
        stores: int = 10,
        customers: int = 100,
        orders: int = 500,
        key: str | None = None,
    ) -> None:
        self.tenant = tenant
        self.rng = random.Random(tenant_seed(seed, key or tenant))
        self.fake = Faker("en_US")
        self.fake.seed_instance(tenant_seed(seed, key or tenant))
        self.sizes = {"products": products, "stores": stores, "customers": customers,
                      "orders": orders}
        self.world = World(tenant=tenant)
        self._order_number = 0

    def build(self) -> World:
        """Generate the whole world."""
        self._products()
        self._locations()
        self._customers()
        for _ in range(self.sizes["orders"]):
            placed = WORLD_EPOCH - timedelta(seconds=self.rng.randint(3600, 365 * 86400))
            self._historical_order(placed)
        if self.tenant == SAMPLE_TENANT and self.world.products:
            self._sample_order()
        self._stock(random.Random(self.rng.getrandbits(64)))  # last: earlier draws unchanged
        return self.world

    def _stock(self, rng: random.Random) -> None:
        """Most products in stock at every distribution center, a few sold out."""
        for loc in self.world.locations:
            if loc["type"] != "distribution_center":
                continue
            for product in self.world.products:
                self.world.stock.append({
                    "id": f"{loc['id']}/{product['id']}", "fulfillment_location_id": loc["id"],
                    "product_id": product["id"],
                    "quantity": 0 if rng.random() < 0.1 else rng.randint(5, 60),
                    "updated_at": iso(WORLD_EPOCH), "import_id": None})

    # -- catalog, locations, customers -------------------------------------------------

    def _products(self) -> None:
        for n in range(self.sizes["products"]):
            category = self.rng.choice(CATEGORIES)
            color = self.rng.choice(COLORS)
            size = self.rng.choice(SIZES)
            price = money(self.rng.choice((19, 29, 39, 49, 59, 79, 99, 129, 149, 199)) + 0.0)
            pid = str(1000000 + n * 7 + 61)
            self.world.products.append({
                "id": pid,
                "title": f"{self.fake.word().capitalize()} {category}",
                "category": category,
                "brand": self.fake.company(),
                "color": color,
                "size": size,
                "list_price": price,
                "price": price,
                "currency": "USD",
                "pricebook_id": "default",
                "tax_code": "PC040100",
                "external_identifiers": {
                    "sku": f"SKU-{pid}",
                    "ean13": self.fake.ean13(),
                    "upc": self.fake.ean(length=13)[1:],
                },
            })

    def _address(self, first: str | None = None, last: str | None = None) -> dict[str, Any]:
        return {
            "first_name": first or self.fake.first_name(),
            "last_name": last or self.fake.last_name(),
            "address_line_1": self.fake.street_address(),
            "address_line_2": "",
            "city": self.fake.city(),
            "state": self.fake.state_abbr(),
            "zip_code": self.fake.zipcode(),
            "country": "US",
            "phone": self.fake.numerify("+1##########"),
        }

    def _locations(self) -> None:
        for n in range(self.sizes["stores"]):
            sid = f"US{n + 1:02d}"
            self.world.locations.append({
                "id": sid,
                "type": "store",
                "name": f"{self.fake.city()} Store",
                "fulfillment_node_id": sid,
                "address": self._address(),
                "timezone": "America/New_York",
                "currency": "USD",
                "is_active": True,
                "created_at": iso(WORLD_EPOCH - timedelta(days=400)),
            })
        for n in range(2):
            did = f"DC{n + 1:02d}"
            self.world.locations.append({
                "id": did,
                "type": "distribution_center",
                "name": f"{self.fake.city()} Distribution Center",
                "fulfillment_node_id": did,
                "address": self._address(),
                "timezone": "America/Chicago",
                "currency": "USD",
                "is_active": True,
                "created_at": iso(WORLD_EPOCH - timedelta(days=400)),
            })

    def _customers(self) -> None:
        for _ in range(self.sizes["customers"]):
            first, last = self.fake.first_name(), self.fake.last_name()
            cid = seeded_uuid(self.rng)
            self.world.customers.append({
                "id": cid,
                "email": f"{first}.{last}.{cid[:4]}@example.com".lower(),
                "first_name": first,
                "last_name": last,
                "phone": self.fake.numerify("+1##########"),
                "address": self._address(first, last),
                "created_at": iso(WORLD_EPOCH - timedelta(days=self.rng.randint(366, 900))),
            })

    @property
    def stores(self) -> list[dict[str, Any]]:
        return [loc for loc in self.world.locations if loc["type"] == "store"]

    # -- orders ----------------------------------------------------------------------

    def _next_order_number(self) -> str:
        self._order_number += 1
        return f"GD{self._order_number:09d}"

    def _historical_order(self, placed: datetime) -> None:
        kind = self.rng.choices(
            ("cash_and_carry", "endless_aisle", "web"), weights=(45, 15, 40))[0]
        if not self.stores:
            kind = "web"
        store = self.rng.choice(self.stores) if kind != "web" else None
        customer = (self.rng.choice(self.world.customers)
                    if self.world.customers and (kind == "web" or self.rng.random() < 0.7)
                    else None)
        lines = self.rng.choices(self.world.products, k=self.rng.randint(1, 4))
        service_level = (IN_STORE_HANDOVER if kind == "cash_and_carry"
                         else self.rng.choice(SERVICE_LEVELS))
        if kind == "cash_and_carry":
            node = store["id"]
        else:
            node = self.rng.choice([loc["id"] for loc in self.world.locations])
        order = self._order_doc(
            order_id=seeded_uuid(self.rng), placed=placed, channel_type=(
                "web" if kind == "web" else "store"),
            store=store, customer=customer, products=lines, service_level=service_level,
            node=node)
        cancelled = kind != "cash_and_carry" and self.rng.random() < 0.06
        self._finish(order, placed, cancelled=cancelled)
        if not cancelled and self.rng.random() < 0.12:
            self._return(order, placed + timedelta(days=self.rng.randint(1, 20)))
        if not cancelled and self.rng.random() < 0.04:
            self._appeasement(order, placed + timedelta(days=self.rng.randint(1, 10)))

    def _order_doc(
        self,
        *,
        order_id: str,
        placed: datetime,
        channel_type: str,
        store: dict[str, Any] | None,
        customer: dict[str, Any] | None,
        products: list[dict[str, Any]],
        service_level: str,
        node: str,
        external_id: str | None = None,
    ) -> dict[str, Any]:
        discounts: list[dict[str, Any]] = []
        items = []
        coupon = None
        if self.rng.random() < 0.2:
            coupon = self.fake.bothify("SAVE##??").upper()
            discounts.append({
                "coupon_code": coupon, "discount_ref": f"promo-{coupon.lower()}",
                "type": "percentage", "original_value": 10.0, "level": "order",
                "description": "10% off the order", "price_adjustment": 0.0,
            })
        for product in products:
            pricebook = product["price"]
            item_discount = money(pricebook * 0.2) if self.rng.random() < 0.1 else 0.0
            order_discount = money((pricebook - item_discount) * 0.1) if coupon else 0.0
            net = pricebook - item_discount - order_discount
            tax = money(net * TAX_RATE)
            items.append({
                "id": seeded_uuid(self.rng),
                "external_item_id": f"EXT{product['id']}-{len(items) + 1}",
                "item_type": "product",
                "product_id": product["id"],
                "product_name": product["title"],
                "pricebook_id": product["pricebook_id"],
                "pricebook_price": pricebook,
                "list_price": product["list_price"],
                "item_discounts": item_discount,
                "order_discounts": order_discount,
                "tax": tax,
                "tax_provider_details": [{"name": "STATE TAX", "amount": tax, "rate": TAX_RATE}],
                "quantity": 1,
                "status": "pending",
                "extended_attributes": [],
                "external_identifiers": dict(product["external_identifiers"]),
                "shipping_service_level": service_level,
                "fulfillment_location_id": node,
                "is_preorder": False,
                "carrier": None,
                "tracking_code": None,
                "shipped_at": None,
                "rejection_reason": None,
                "cancellation_reason": None,
            })
        if coupon:
            discounts[0]["price_adjustment"] = money(sum(i["order_discounts"] for i in items))
        shipping = 0.0 if service_level == IN_STORE_HANDOVER else 9.95
        shipping_tax = money(shipping * TAX_RATE)
        associate = None if channel_type == "web" else seeded_uuid(self.rng)
        address = (customer["address"] if customer else
                   (store["address"] if store else self._address()))
        addresses = [dict(address, address_type="billing")]
        if service_level != IN_STORE_HANDOVER:
            addresses.append(dict(address, address_type="shipping"))
        order = {
            "id": order_id,
            "tenant": self.tenant,
            "external_id": external_id or self._next_order_number(),
            "created_at": iso(placed),
            "placed_at": iso(placed),
            "updated_at": iso(placed),
            "channel_type": channel_type,
            "channel": store["id"] if store else "web",
            "channel_name": store["name"] if store else "webshop",
            "demand_location_id": store["id"] if store else None,
            "associate_id": associate,
            "associate_email": (f"associate.{associate[:6]}@{self.tenant}.example.com"
                                if associate else None),
            "customer_id": customer["id"] if customer else None,
            "customer_email": customer["email"] if customer else None,
            "customer_name": (f"{customer['first_name']} {customer['last_name']}"
                              if customer else None),
            "is_exchange": False,
            "exchanges": [],
            "is_historical": True,
            "price_method": "tax_excluded",
            "currency": "USD",
            "shop": "storefront",
            "shop_locale": "en-US",
            "tax_strategy": "avalara",
            "tax_exempt": False,
            "status": "open",
            "fulfillment_type": ("in_store_purchase" if service_level == IN_STORE_HANDOVER
                                 else "traditional"),
            "extended_attributes": [],
            "addresses": addresses,
            "discounts": discounts,
            "items": items,
            "shipping_service_level": service_level,
            "shipping_total": shipping,
            "shipping_tax": shipping_tax,
        }
        recompute_totals(order)
        return order

    def _payment_account(self, order: dict[str, Any], method: str, at: datetime,
                         captured: bool) -> dict[str, Any]:
        provider = {"cash": "cash", "credit_card": "adyen", "gift_card": "newstore_gift_card"}[
            method]
        instrument_id = seeded_uuid(self.rng)
        amount = order["grand_total"]
        account = {
            "id": order["id"],
            "order_id": order["id"],
            "currency": order["currency"],
            "instruments": [{
                "id": instrument_id,
                "payment_method": method,
                "payment_provider": provider,
                "payment_wallet": None,
                "payment_origin": "newstore",
                "currency": order["currency"],
                "metadata": {"card_brand": "visa", "last4": self.fake.numerify("####")}
                if method == "credit_card" else {},
            }],
            "transactions": [],
        }
        add_transaction(account, self.rng, instrument_id, "authorize", amount, at,
                        correlation_id=order["id"])
        if captured:
            add_transaction(account, self.rng, instrument_id, "capture", amount,
                            at + timedelta(minutes=2), correlation_id=order["id"])
        return account

    def _finish(self, order: dict[str, Any], placed: datetime, *, cancelled: bool) -> None:
        method = ("cash" if order["channel_type"] == "store" and self.rng.random() < 0.3
                  else "credit_card")
        if order["channel_type"] == "store" and order["shipping_service_level"] != \
                IN_STORE_HANDOVER:
            method = "credit_card"
        account = self._payment_account(order, method, placed, captured=not cancelled)
        if cancelled:
            for item in order["items"]:
                item["status"] = "cancelled"
                item["cancellation_reason"] = "insufficient_stock"
            order["status"] = "cancelled"
            add_transaction(account, self.rng, account["instruments"][0]["id"], "void",
                            order["grand_total"], placed + timedelta(hours=1),
                            correlation_id=order["id"])
        elif order["shipping_service_level"] == IN_STORE_HANDOVER:
            for item in order["items"]:
                item["status"] = "completed"
            order["status"] = "closed"
        else:
            shipped = placed + timedelta(hours=self.rng.randint(4, 72))
            fr = {
                "id": seeded_uuid(self.rng),
                "order_id": order["id"],
                "node_id": order["items"][0]["fulfillment_location_id"],
                "fulfillment_location_id": order["items"][0]["fulfillment_location_id"],
                "associate_id": None,
                "service_level": order["shipping_service_level"],
                "status": "completed",
                "logical_timestamp": 3,
                "created_at": iso(placed + timedelta(minutes=5)),
                "updated_at": iso(shipped),
                "items": [],
            }
            carrier = CARRIERS[order["shipping_service_level"]]
            tracking = self.fake.bothify("1Z#########???").upper()
            for item in order["items"]:
                item.update(status="completed", carrier=carrier, tracking_code=tracking,
                            shipped_at=iso(shipped))
                fr["items"].append({
                    "id": item["id"], "product_id": item["product_id"], "status": "completed",
                    "carrier": carrier, "tracking_code": tracking, "shipped_at": iso(shipped),
                    "rejection_reason": None,
                })
            order["status"] = "closed"
            self.world.fulfillment_requests.append(fr)
        order["updated_at"] = iso(placed + timedelta(hours=1))
        self.world.orders.append(order)
        self.world.payment_accounts.append(account)

    def _return(self, order: dict[str, Any], at: datetime) -> None:
        candidates = [i for i in order["items"] if i["status"] == "completed"]
        if not candidates:
            return
        returned = self.rng.sample(candidates, k=self.rng.randint(1, len(candidates)))
        location = order["demand_location_id"] or self.rng.choice(self.stores)["id"] \
            if self.stores else None
        ret = build_return(self.rng, order, returned, at, location,
                           reason=self.rng.choice(RETURN_REASONS))
        for item in returned:
            item["status"] = "returned"
        account = self._account_of(order["id"])
        add_transaction(account, self.rng, account["instruments"][0]["id"], "refund",
                        ret["total_refund_amount"], at, correlation_id=ret["id"])
        self.world.returns.append(ret)
        self.world.refunds.append({
            "id": seeded_uuid(self.rng), "order_id": order["id"],
            "payment_account_id": order["id"], "return_id": ret["id"], "type": "return",
            "amount": ret["total_refund_amount"], "currency": order["currency"],
            "requested_at": iso(at), "status": "completed", "reason_code": None,
            "return_reason": None, "note": None,
        })

    def _appeasement(self, order: dict[str, Any], at: datetime) -> None:
        amount = money(min(order["grand_total"], self.rng.choice((5, 10, 15, 20))))
        account = self._account_of(order["id"])
        refund_id = seeded_uuid(self.rng)
        add_transaction(account, self.rng, account["instruments"][0]["id"], "refund",
                        amount, at, correlation_id=refund_id)
        self.world.refunds.append({
            "id": refund_id, "order_id": order["id"], "payment_account_id": order["id"],
            "return_id": None, "type": "appeasement", "amount": amount,
            "currency": order["currency"], "requested_at": iso(at), "status": "completed",
            "reason_code": 2, "return_reason": "Price adjustment", "note": "Goodwill refund",
        })

    def _account_of(self, order_id: str) -> dict[str, Any]:
        return next(a for a in reversed(self.world.payment_accounts) if a["id"] == order_id)

    def _sample_order(self) -> None:
        """The order of the returns playbook's sample query: a store sale, partly returned."""
        placed = WORLD_EPOCH - timedelta(days=3, hours=5)
        store = self.stores[0] if self.stores else None
        customer = self.world.customers[0] if self.world.customers else None
        products = self.world.products[:2]
        order = self._order_doc(
            order_id=SAMPLE_ORDER_ID, placed=placed, channel_type="store", store=store,
            customer=customer, products=products, service_level=IN_STORE_HANDOVER,
            node=store["id"] if store else "DC01", external_id="GD-DODICI-0001")
        order["discounts"] = [{
            "coupon_code": "WELCOME10", "discount_ref": "promo-welcome10", "type": "percentage",
            "original_value": 10.0, "level": "order", "description": "10% welcome discount",
            "price_adjustment": 0.0}]
        for item in order["items"]:
            item["order_discounts"] = money(item["pricebook_price"] * 0.1)
            item["tax"] = money((item["pricebook_price"] - item["order_discounts"]) * TAX_RATE)
            item["tax_provider_details"][0]["amount"] = item["tax"]
        order["discounts"][0]["price_adjustment"] = money(
            sum(i["order_discounts"] for i in order["items"]))
        recompute_totals(order)
        self.rng.random()
        self._finish(order, placed, cancelled=False)
        self._return(order, placed + timedelta(days=2))


def recompute_totals(order: dict[str, Any]) -> None:
    """Derive the order totals from its items (tax excluded pricing)."""
    items = order["items"]
    order["subtotal"] = money(sum(i["pricebook_price"] * i["quantity"] for i in items))
    order["discount_total"] = money(sum(i["item_discounts"] + i["order_discounts"] for i in items))
    order["tax_total"] = money(sum(i["tax"] for i in items) + order.get("shipping_tax", 0.0))
    order["grand_total"] = money(order["subtotal"] - order["discount_total"]
                                 + order.get("shipping_total", 0.0) + order["tax_total"])


def add_transaction(
    account: dict[str, Any],
    rng: random.Random,
    instrument_id: str,
    transaction_type: str,
    amount: float,
    at: datetime,
    *,
    correlation_id: str,
) -> dict[str, Any]:
    """Append a transaction to a payment account document."""
    tx = {
        "id": seeded_uuid(rng),
        "instrument_id": instrument_id,
        "transaction_type": transaction_type,
        "amount": money(amount),
        "currency": account["currency"],
        "correlation_id": correlation_id,
        "created_at": iso(at),
        "metadata": {},
    }
    account["transactions"].append(tx)
    return tx


def build_return(
    rng: random.Random,
    order: dict[str, Any],
    items: list[dict[str, Any]],
    at: datetime,
    location: str | None,
    *,
    reason: str,
) -> dict[str, Any]:
    """A processed return of some order items, refunding what was paid for them."""
    ret_items = []
    for item in items:
        excl = money(item["pricebook_price"] - item["item_discounts"] - item["order_discounts"])
        ret_items.append({
            "id": seeded_uuid(rng), "order_item_id": item["id"], "product_id": item["product_id"],
            "quantity": item["quantity"], "refund_amount": money(excl + item["tax"]),
            "refund_amount_adjusted": money(excl + item["tax"]), "refund_excl_tax": excl,
            "refund_tax": item["tax"], "item_condition": "Sellable", "condition_code": 1,
            "return_reason": reason, "return_code": 1,
        })
    total_excl = money(sum(i["refund_excl_tax"] for i in ret_items))
    total_tax = money(sum(i["refund_tax"] for i in ret_items))
    return {
        "id": seeded_uuid(rng),
        "order_id": order["id"],
        "origin": "newstore",
        "status": "processed",
        "returned_at": iso(at),
        "created_at": iso(at),
        "total_refund_amount": money(total_excl + total_tax),
        "total_refund_amount_adjusted": money(total_excl + total_tax),
        "total_refund_excl_tax": total_excl,
        "total_refund_tax": total_tax,
        "return_fee": 0.0,
        "currency": order["currency"],
        "return_location_id": location,
        "customer_id": order.get("customer_id"),
        "customer_email": order.get("customer_email"),
        "associate_id": order.get("associate_id"),
        "associate_email": order.get("associate_email"),
        "items": ret_items,
    }


def payment_status(account: dict[str, Any]) -> str:
    """What Omnichannel Manager shows for a payment: pending (nothing booked yet), authorized,
    partially_captured, captured, partially_refunded, refunded or voided."""
    sums = {"authorize": 0.0, "capture": 0.0, "refund": 0.0, "void": 0.0}
    for t in account.get("transactions") or []:
        if t["transaction_type"] in sums:
            sums[t["transaction_type"]] += t["amount"]
    authorized, captured, refunded = (money(sums["authorize"]), money(sums["capture"]),
                                      money(sums["refund"]))
    if refunded > 0:
        return "refunded" if refunded >= captured else "partially_refunded"
    if captured > 0:
        return "captured" if captured >= money(authorized - sums["void"]) else \
            "partially_captured"
    if authorized > 0:
        return "voided" if sums["void"] >= authorized else "authorized"
    return "pending"
