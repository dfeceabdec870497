"""Configuration APIs: external OMS, ATP webhook, order injection, fulfillment, payment,
Associate App."""

from __future__ import annotations

from typing import Any

from connexion.context import context

from simulator.platform import config as C
from simulator.web import platform, tenant

Doc = dict[str, Any]


def _now() -> str:
    return C.stamp(platform().clock.now())


def _client() -> str | None:
    """Who makes the change (the API client of the bearer token)."""
    try:
        return context.get("user")
    except LookupError:
        return None


# -- external OMS -----------------------------------------------------------------------

def get_external_oms() -> Doc:
    """GET /v0/config/sales_order/external_oms."""
    with platform().store.read() as tx:
        return {"enabled": C.external_oms_enabled(tx, tenant())}


def set_external_oms(body: Doc) -> Doc:
    """PUT or POST /v0/config/sales_order/external_oms."""
    return C.set_external_oms(platform().store, tenant(), body["enabled"], _now())


# -- availability webhook ---------------------------------------------------------------

def get_availability_webhook() -> Doc:
    """GET /v0/config/availability/webhook."""
    return C.get_availability_webhook(platform().store, tenant())


def set_availability_webhook(body: Doc) -> Doc:
    """PUT or POST /v0/config/availability/webhook."""
    return C.set_availability_webhook(platform().store, tenant(), body, _now())


def delete_availability_webhook() -> tuple[str, int]:
    """DELETE /v0/config/availability/webhook."""
    C.delete_availability_webhook(platform().store, tenant())
    return "", 204


def get_uses_external_atp() -> Doc:
    """GET /v0/config/routing/uses_external_atp."""
    with platform().store.read() as tx:
        return {"value": C.uses_external_atp(tx, tenant())}


def set_uses_external_atp(body: Doc) -> Doc:
    """POST /v0/config/routing/uses_external_atp."""
    return C.set_uses_external_atp(platform().store, tenant(), body["value"], _now())


# -- order injection --------------------------------------------------------------------

def get_order_injection() -> Doc:
    """GET /v1/r/config/order_injection."""
    return C.get_order_injection(platform().store, tenant())


def replace_order_injection(version: int, body: Doc) -> Doc:
    """POST /v1/r/config/order_injection?version=N."""
    return C.replace_order_injection(platform().store, tenant(), body, version, _now(),
                                     _client())


def update_order_injection(version: int, body: Doc) -> Doc:
    """PATCH /v1/r/config/order_injection?version=N."""
    return C.update_order_injection(platform().store, tenant(), body, version, _now(),
                                    _client())


# -- fulfillment ------------------------------------------------------------------------

def get_fulfillment_config() -> Doc:
    """GET /_/v0/dontuse/fulfillment_config."""
    return C.get_fulfillment_config(platform().store, tenant())


def set_fulfillment_config(body: Doc) -> Doc:
    """PUT /_/v0/dontuse/fulfillment_config."""
    return C.set_fulfillment_config(platform().store, tenant(), body)


# -- payment ----------------------------------------------------------------------------

def get_payment_options() -> Doc:
    """GET /v1/p/config/payment_options."""
    return C.get_payment_options(platform().store, tenant())


def set_payment_options(body: Doc) -> Doc:
    """PUT /v1/p/config/payment_options."""
    return C.set_payment_options(platform().store, tenant(), body)


def get_payment_account_config() -> Doc:
    """GET /v1/p/config/payment_account."""
    return C.get_payment_account_config(platform().store, tenant())


def set_payment_account_config(body: Doc) -> Doc:
    """PUT /v1/p/config/payment_account."""
    return C.set_payment_account_config(platform().store, tenant(), body)


# -- Associate App ----------------------------------------------------------------------

def get_associate_app_config() -> Doc:
    """GET /api/v1/associate-app/config."""
    return C.get_associate_app_config(platform().store, tenant())


def replace_associate_app_config(body: Doc) -> Doc:
    """PUT /api/v1/associate-app/config."""
    return C.replace_associate_app_config(platform().store, tenant(), body)


def update_associate_app_config(body: Doc) -> Doc:
    """PATCH /api/v1/associate-app/config."""
    return C.update_associate_app_config(platform().store, tenant(), body)


post_external_oms = set_external_oms
post_availability_webhook = set_availability_webhook
