"""Configuration APIs: external OMS, ATP webhook, order injection, fulfillment, payment and
Associate App settings, per tenant and persistent."""

from __future__ import annotations

import copy

import pytest

from simulator.app import create_app
from simulator.platform import config as C
from tests.conftest import get_token, make_settings

PROBLEM = "application/problem+json"
EXT_OMS = "/v0/config/sales_order/external_oms"
WEBHOOK = "/v0/config/availability/webhook"
ATP = "/v0/config/routing/uses_external_atp"
INJECTION = "/v1/r/config/order_injection"
FULFILLMENT = "/_/v0/dontuse/fulfillment_config"
PAYMENT_OPTIONS = "/v1/p/config/payment_options"
PAYMENT_ACCOUNT = "/v1/p/config/payment_account"
AA = "/api/v1/associate-app/config"

GOOD_WEBHOOK = {"url": "https://oms.example.com/atp", "api_key": "k" * 20,
                "external_identifier": "product_id", "timeout": 10}

# The sample document of NewStore's external OMS playbook.
SEED_FULFILLMENT = {"fulfillment_config": {
    "provider_rates": {"Priority": {
        "return_provider_rate": "", "service_level": "Priority", "shipping_carrier_name": "USPS",
        "shipping_type": "traditional_carrier", "use_as_customer_facing_cost": False}},
    "routes": [{"destination_region": {"countries": ["US"], "zip_codes": ["*"]},
                "fulfilled_by": {"Priority": [{"fulfillment_node_id": "9801",
                                               "provider_rate": "Priority"}]}}],
    "service_levels": {"Priority": {
        "currency_code": "USD", "delivery_time": "2-4 business days",
        "delivery_time_after_cutoff_hour": "", "display_name": "Priority", "price": 0,
        "remorse_period": 0, "tax_code": ""}},
    "sl_levels_priority": ["Priority"],
}}


def assert_problem(r, status: int, field: str | None = None, code: str | None = None) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    body = r.json()
    if field is not None:
        assert body.get("field") == field or field in body["detail"], body
    if code is not None:
        assert body["error_code"] == code, body
    return body


@pytest.fixture
def acme(client) -> dict[str, str]:
    """Headers for tenant acme (token issued by acme's realm)."""
    return {"Authorization": f"Bearer {get_token(client, 'acme')}", "tenant": "acme"}


# -- external OMS -----------------------------------------------------------------------

def test_external_oms_is_disabled_by_default(client, auth):
    r = client.get(EXT_OMS, headers=auth)
    assert r.status_code == 200
    assert r.json() == {"enabled": False}


@pytest.mark.parametrize("method", ["put", "post"])
def test_external_oms_can_be_enabled_and_disabled(client, auth, method):
    send = getattr(client, method)
    r = send(EXT_OMS, headers=auth, json={"enabled": True})
    assert r.status_code == 200 and r.json() == {"enabled": True}
    assert client.get(EXT_OMS, headers=auth).json() == {"enabled": True}
    assert send(EXT_OMS, headers=auth, json={"enabled": False}).json() == {"enabled": False}
    assert client.get(EXT_OMS, headers=auth).json() == {"enabled": False}


@pytest.mark.parametrize("body", [{}, {"enabled": "yes"}, {"enabled": 1},
                                  {"enabled": True, "other": 1}, [], "true"])
def test_external_oms_rejects_bad_bodies(client, auth, body):
    assert_problem(client.put(EXT_OMS, headers=auth, json=body), 400)


def test_malformed_json_is_400_problem(client, auth):
    r = client.put(EXT_OMS, headers={**auth, "Content-Type": "application/json"},
                   content=b"{not json")
    assert_problem(r, 400)


def test_config_needs_a_token(client):
    assert_problem(client.get(EXT_OMS), 401)


# -- availability webhook ---------------------------------------------------------------

def test_availability_webhook_is_404_until_configured(client, auth):
    assert_problem(client.get(WEBHOOK, headers=auth), 404, code="not_found")


@pytest.mark.parametrize("method", ["put", "post"])
def test_availability_webhook_set_get(client, auth, method):
    r = getattr(client, method)(WEBHOOK, headers=auth, json=GOOD_WEBHOOK)
    assert r.status_code == 200, r.text
    body = client.get(WEBHOOK, headers=auth).json()
    assert body["api_key"] == "k" * 20
    assert body["external_identifier"] == "product_id"
    assert body["timeout"] == 10
    assert body["url"] == "https://oms.example.com/atp"
    assert "updated_at" in body


def test_availability_webhook_replace(client, auth):
    client.put(WEBHOOK, headers=auth, json=GOOD_WEBHOOK)
    client.put(WEBHOOK, headers=auth, json={**GOOD_WEBHOOK, "timeout": 60})
    assert client.get(WEBHOOK, headers=auth).json()["timeout"] == 60


@pytest.mark.parametrize("timeout", [5, 60])
def test_availability_webhook_timeout_bounds_are_inclusive(client, auth, timeout):
    r = client.put(WEBHOOK, headers=auth, json={**GOOD_WEBHOOK, "timeout": timeout})
    assert r.status_code == 200 and r.json()["timeout"] == timeout


@pytest.mark.parametrize("url", ["http://127.0.0.1:8082/oms/availabilities",
                                 "http://localhost:9000/atp"])
def test_availability_webhook_takes_http_on_this_machine(client, auth, url):
    r = client.put(WEBHOOK, headers=auth, json={**GOOD_WEBHOOK, "url": url})
    assert r.status_code == 200, r.text
    assert client.get(WEBHOOK, headers=auth).json()["url"] == url


@pytest.mark.parametrize("change,field", [
    ({"url": "http://oms.example.com/atp"}, "url"),
    ({"url": "http://10.0.0.1/atp"}, "url"),
    ({"url": "not a url"}, "url"),
    ({"url": "https://"}, "url"),
    ({"url": "https://[oms"}, "url"),  # urlsplit raises on an unclosed bracket
    ({"api_key": "k" * 19}, "api_key"),
    ({"timeout": 4}, "timeout"),
    ({"timeout": 61}, "timeout"),
    ({"external_identifier": "sku"}, "external_identifier"),
])
def test_availability_webhook_rules(client, auth, change, field):
    body = assert_problem(client.put(WEBHOOK, headers=auth, json={**GOOD_WEBHOOK, **change}),
                          400)
    assert body["field"] == field
    assert_problem(client.get(WEBHOOK, headers=auth), 404)


@pytest.mark.parametrize("missing", ["url", "api_key", "external_identifier", "timeout"])
def test_availability_webhook_requires_each_field(client, auth, missing):
    body = {k: v for k, v in GOOD_WEBHOOK.items() if k != missing}
    assert missing in assert_problem(client.put(WEBHOOK, headers=auth, json=body),
                                     400)["detail"]


@pytest.mark.parametrize("timeout", [10.5, "10", True, None])
def test_availability_webhook_timeout_must_be_integer(client, auth, timeout):
    assert_problem(client.put(WEBHOOK, headers=auth, json={**GOOD_WEBHOOK, "timeout": timeout}),
                   400)


def test_availability_webhook_delete_disables(client, auth):
    client.put(WEBHOOK, headers=auth, json=GOOD_WEBHOOK)
    r = client.delete(WEBHOOK, headers=auth)
    assert r.status_code == 204
    assert_problem(client.get(WEBHOOK, headers=auth), 404)
    assert_problem(client.delete(WEBHOOK, headers=auth), 404)


def test_uses_external_atp(client, auth, platform):
    assert client.get(ATP, headers=auth).json() == {"value": False}
    r = client.post(ATP, headers=auth, json={"value": True})
    assert r.status_code == 200 and r.json() == {"value": True}
    assert client.get(ATP, headers=auth).json() == {"value": True}
    with platform.store.read() as tx:
        assert C.uses_external_atp(tx, "dodici") is True
    assert_problem(client.post(ATP, headers=auth, json={"value": "true"}), 400)
    assert_problem(client.post(ATP, headers=auth, json={}), 400)


# -- order injection --------------------------------------------------------------------

def test_order_injection_is_404_before_first_write(client, auth, platform):
    assert_problem(client.get(INJECTION, headers=auth), 404, code="not_found")
    with platform.store.read() as tx:
        assert C.order_injection_config(tx, "dodici") == C.DEFAULT_ORDER_INJECTION


def test_order_injection_create_replace_patch(client, auth, platform):
    r = client.post(f"{INJECTION}?version=1", headers=auth, json={
        "big_sales_order": {"hard_limit_for_big_orders": 50, "soft_limit_for_big_orders": 20},
        "skip_soft_routing_on_injection": False})
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["version"] == 1
    assert doc["updated_by"] == "test-client"
    assert doc["value"]["big_sales_order"]["hard_limit_for_big_orders"] == 50
    assert client.get(INJECTION, headers=auth).json() == doc

    r = client.patch(f"{INJECTION}?version=1", headers=auth,
                     json={"skip_soft_routing_on_injection": True})
    assert r.status_code == 200, r.text
    assert r.json()["version"] == 2
    assert r.json()["value"] == {
        "big_sales_order": {"hard_limit_for_big_orders": 50, "soft_limit_for_big_orders": 20},
        "skip_soft_routing_on_injection": True}

    r = client.patch(f"{INJECTION}?version=2", headers=auth,
                     json={"big_sales_order": {"hard_limit_for_big_orders": 100}})
    assert r.json()["version"] == 3
    assert r.json()["value"]["big_sales_order"] == {"hard_limit_for_big_orders": 100,
                                                    "soft_limit_for_big_orders": 20}

    r = client.post(f"{INJECTION}?version=3", headers=auth,
                    json={"skip_soft_routing_on_injection": False})
    assert r.json()["version"] == 4
    assert r.json()["value"]["big_sales_order"]["hard_limit_for_big_orders"] is None
    with platform.store.read() as tx:
        assert C.order_injection_config(tx, "dodici")["skip_soft_routing_on_injection"] is False


@pytest.mark.parametrize("version", [0, 2])
def test_order_injection_create_needs_version_1(client, auth, version):
    r = client.post(f"{INJECTION}?version={version}", headers=auth,
                    json={"skip_soft_routing_on_injection": True})
    assert_problem(r, 400 if version == 0 else 409)
    if version == 2:
        assert r.json()["error_code"] == "conflict_version"


def test_order_injection_stale_version_conflicts(client, auth):
    client.post(f"{INJECTION}?version=1", headers=auth, json={})
    client.patch(f"{INJECTION}?version=1", headers=auth,
                 json={"skip_soft_routing_on_injection": True})
    for method in ("post", "patch"):
        r = getattr(client, method)(f"{INJECTION}?version=1", headers=auth, json={})
        assert_problem(r, 409, code="conflict_version")
        assert r.json()["current_version"] == 2
    assert client.get(INJECTION, headers=auth).json()["version"] == 2


def test_order_injection_patch_before_create_is_404(client, auth):
    assert_problem(client.patch(f"{INJECTION}?version=1", headers=auth, json={}), 404)


@pytest.mark.parametrize("query,body", [
    ("", {}),
    ("?version=abc", {}),
    ("?version=1", {"unknown": True}),
    ("?version=1", {"skip_soft_routing_on_injection": "yes"}),
    ("?version=1", {"big_sales_order": {"hard_limit_for_big_orders": 0}}),
    ("?version=1", {"big_sales_order": {"hard_limit_for_big_orders": 5,
                                        "soft_limit_for_big_orders": 10}}),
])
def test_order_injection_rejects_bad_input(client, auth, query, body):
    assert_problem(client.post(f"{INJECTION}{query}", headers=auth, json=body), 400)


# -- fulfillment config -----------------------------------------------------------------

def test_fulfillment_config_default_covers_the_world(client, auth):
    r = client.get(FULFILLMENT, headers=auth)
    assert r.status_code == 200
    cfg = r.json()["fulfillment_config"]
    levels = {"GROUND", "EXPRESS", "PRIORITY", "IN_STORE_HANDOVER"}
    assert set(cfg["service_levels"]) == levels
    assert set(cfg["sl_levels_priority"]) == levels
    route = cfg["routes"][0]
    assert set(route["fulfilled_by"]) == levels
    assert {n["fulfillment_node_id"] for n in route["fulfilled_by"]["GROUND"]} == {"DC01", "DC02"}
    assert {n["fulfillment_node_id"] for n in route["fulfilled_by"]["IN_STORE_HANDOVER"]} == {
        "US01", "US02", "US03", "US04"}
    for nodes in route["fulfilled_by"].values():
        assert all(n["provider_rate"] in cfg["provider_rates"] for n in nodes)
    C.check_fulfillment_config(r.json())


def test_fulfillment_config_put_seed_document(client, auth):
    r = client.put(FULFILLMENT, headers=auth, json=SEED_FULFILLMENT)
    assert r.status_code == 200, r.text
    assert r.json() == SEED_FULFILLMENT
    assert client.get(FULFILLMENT, headers=auth).json() == SEED_FULFILLMENT


def _seed() -> dict:
    return copy.deepcopy(SEED_FULFILLMENT)


def test_service_level_missing_from_priority(client, auth):
    doc = _seed()
    doc["fulfillment_config"]["sl_levels_priority"] = []
    body = assert_problem(client.put(FULFILLMENT, headers=auth, json=doc), 400,
                          code="missing_service_level")
    assert "Priority" in body["detail"] and body["field"] == "sl_levels_priority"


def test_service_level_missing_from_a_route(client, auth):
    doc = _seed()
    cfg = doc["fulfillment_config"]
    cfg["routes"].append({"destination_region": {"countries": ["CA"], "zip_codes": ["*"]},
                          "fulfilled_by": {}})
    body = assert_problem(client.put(FULFILLMENT, headers=auth, json=doc), 400,
                          code="missing_service_level")
    assert "Priority" in body["detail"] and body["field"] == "routes[1].fulfilled_by"


def test_service_level_only_in_service_levels_is_missing_from_routes(client, auth):
    doc = _seed()
    cfg = doc["fulfillment_config"]
    cfg["service_levels"]["Ground"] = {"display_name": "Ground"}
    cfg["sl_levels_priority"].append("Ground")
    body = assert_problem(client.put(FULFILLMENT, headers=auth, json=doc), 400,
                          code="missing_service_level")
    assert "'Ground'" in body["detail"] and body["service_level"] == "Ground"


def test_service_level_only_in_a_route_is_missing_from_priority(client, auth):
    doc = _seed()
    cfg = doc["fulfillment_config"]
    cfg["routes"][0]["fulfilled_by"]["Express"] = [
        {"fulfillment_node_id": "9801", "provider_rate": "Priority"}]
    body = assert_problem(client.put(FULFILLMENT, headers=auth, json=doc), 400,
                          code="missing_service_level")
    assert body["service_level"] == "Express" and body["field"] == "sl_levels_priority"


def test_undefined_provider_rate(client, auth):
    doc = _seed()
    doc["fulfillment_config"]["routes"][0]["fulfilled_by"]["Priority"][0]["provider_rate"] = "X"
    body = assert_problem(client.put(FULFILLMENT, headers=auth, json=doc), 400,
                          code="undefined_provider_rate")
    assert "'X'" in body["detail"]
    assert client.get(FULFILLMENT, headers=auth).json() != doc


@pytest.mark.parametrize("doc", [
    {},
    {"fulfillment_config": None},
    {"fulfillment_config": {"provider_rates": {}, "routes": [], "service_levels": {},
                            "sl_levels_priority": []}},
    {"fulfillment_config": {"provider_rates": {}, "routes": [{"fulfilled_by": {}}],
                            "service_levels": {}, "sl_levels_priority": []}},
    {"fulfillment_config": {"provider_rates": {}, "service_levels": {},
                            "sl_levels_priority": [], "routes": [{
                                "destination_region": {"countries": ["US"]},
                                "fulfilled_by": {"X": [{"fulfillment_node_id": "A"}]}}]}},
    [],
])
def test_fulfillment_config_malformed(client, auth, doc):
    assert_problem(client.put(FULFILLMENT, headers=auth, json=doc), 400)


# -- payment configuration --------------------------------------------------------------

def test_payment_options_default_and_replace(client, auth, platform):
    assert client.get(PAYMENT_OPTIONS, headers=auth).json() == {
        "refund_options": ["original"], "store_mapping": {}}
    doc = {"refund_options": ["original", "gift_card"],
           "store_mapping": {"US01": {"refund_options": ["e_gift_card", "credit_card",
                                                         "external"]}}}
    r = client.put(PAYMENT_OPTIONS, headers=auth, json=doc)
    assert r.status_code == 200 and r.json() == doc
    assert client.get(PAYMENT_OPTIONS, headers=auth).json() == doc
    with platform.store.read() as tx:
        assert C.refund_options_for(tx, "dodici", "US01") == ["e_gift_card", "credit_card",
                                                              "external"]
        assert C.refund_options_for(tx, "dodici", "US02") == ["original", "gift_card"]


@pytest.mark.parametrize("doc,field", [
    ({"refund_options": ["original", "store_credit"]}, "refund_options"),
    ({"refund_options": ["original"],
      "store_mapping": {"US01": {"refund_options": ["cash_back"]}}},
     "store_mapping.US01.refund_options"),
])
def test_unknown_refund_option(client, auth, doc, field):
    body = assert_problem(client.put(PAYMENT_OPTIONS, headers=auth, json=doc), 400,
                          code="unknown_refund_option")
    assert body["field"] == field
    assert body["refund_option"] in body["detail"]


@pytest.mark.parametrize("doc", [{}, {"refund_options": "original"},
                                 {"refund_options": [], "store_mapping": {"US01": {}}}])
def test_payment_options_malformed(client, auth, doc):
    assert_problem(client.put(PAYMENT_OPTIONS, headers=auth, json=doc), 400)


def test_payment_account_use_charge_api(client, auth, platform):
    doc = client.get(PAYMENT_ACCOUNT, headers=auth).json()
    assert doc["use_charge_api"] is False
    assert doc["available_strategies"]["ordered"]
    r = client.put(PAYMENT_ACCOUNT, headers=auth, json={"use_charge_api": True})
    assert r.status_code == 200
    assert r.json()["use_charge_api"] is True
    assert r.json()["available_strategies"] == doc["available_strategies"]
    with platform.store.read() as tx:
        assert C.use_charge_api(tx, "dodici") is True
    assert_problem(client.put(PAYMENT_ACCOUNT, headers=auth, json={"use_charge_api": "y"}), 400)


# -- Associate App ----------------------------------------------------------------------

def test_associate_app_default(client, auth):
    assert client.get(AA, headers=auth).json() == {
        "use_new_om_ui": False, "capabilities": {"cash_for_endless_aisle_orders_enabled": False}}


def test_associate_app_patch_keeps_other_keys(client, auth):
    r = client.put(AA, headers=auth, json={"external_integration": {"url": "https://x"},
                                           "capabilities": {"other": 1}})
    assert r.status_code == 200
    assert r.json()["use_new_om_ui"] is False
    r = client.patch(AA, headers=auth, json={"use_new_om_ui": True})
    assert r.status_code == 200
    r = client.patch(AA, headers=auth,
                     json={"capabilities": {"cash_for_endless_aisle_orders_enabled": True}})
    assert r.json() == {
        "use_new_om_ui": True, "external_integration": {"url": "https://x"},
        "capabilities": {"other": 1, "cash_for_endless_aisle_orders_enabled": True}}
    assert client.get(AA, headers=auth).json() == r.json()


@pytest.mark.parametrize("doc", [{"use_new_om_ui": "true"}, {"capabilities": []},
                                 {"capabilities": {"cash_for_endless_aisle_orders_enabled": 1}},
                                 []])
def test_associate_app_malformed(client, auth, doc):
    assert_problem(client.patch(AA, headers=auth, json=doc), 400)
    assert_problem(client.put(AA, headers=auth, json=doc), 400)


# -- tenancy and persistence ------------------------------------------------------------

def test_config_is_per_tenant(client, auth, acme):
    client.put(EXT_OMS, headers=auth, json={"enabled": True})
    client.put(WEBHOOK, headers=auth, json=GOOD_WEBHOOK)
    client.post(f"{INJECTION}?version=1", headers=auth, json={})
    client.put(FULFILLMENT, headers=auth, json=SEED_FULFILLMENT)
    client.patch(AA, headers=auth, json={"use_new_om_ui": True})
    assert client.get(EXT_OMS, headers=acme).json() == {"enabled": False}
    assert_problem(client.get(WEBHOOK, headers=acme), 404)
    assert_problem(client.get(INJECTION, headers=acme), 404)
    assert client.get(FULFILLMENT, headers=acme).json() != SEED_FULFILLMENT
    assert client.get(AA, headers=acme).json()["use_new_om_ui"] is False
    assert client.get(EXT_OMS, headers=auth).json() == {"enabled": True}


def test_dodici_token_cannot_write_acme_config(client, auth):
    r = client.put(EXT_OMS, headers={**auth, "tenant": "acme"}, json={"enabled": True})
    assert_problem(r, 403)


def test_config_survives_restart(tmp_path):
    settings = make_settings(db=str(tmp_path / "sim.db"))
    with create_app(settings).test_client() as c:
        h = {"Authorization": f"Bearer {get_token(c)}"}
        assert c.put(EXT_OMS, headers=h, json={"enabled": True}).status_code == 200
        assert c.post(f"{INJECTION}?version=1", headers=h, json={}).status_code == 200
    with create_app(settings).test_client() as c:
        h = {"Authorization": f"Bearer {get_token(c)}"}
        assert c.get(EXT_OMS, headers=h).json() == {"enabled": True}
        assert c.get(INJECTION, headers=h).json()["version"] == 1
