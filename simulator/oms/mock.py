"""The mock OMS: answers NewStore's webhooks from the simulator's world. Pure rules here; the
handlers (simulator/oms/handlers.py) hand in the world's stock and orders."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from simulator.core.errors import Forbidden, ValidationFailed

Doc = dict[str, Any]

Stock = Callable[[str, str], int]  # (location, product) -> quantity on hand


def check_key(given: str, accepted: Iterable[str]) -> None:
    """The mock OMS accepts the api_key of the tenant's configured webhooks (any key when the
    tenant configured none); a missing header is Connexion's 401 before this."""
    keys = set(accepted)
    if keys and given not in keys:
        raise Forbidden("the Authorization header is not the api_key of a configured OMS "
                        "webhook", error_code="invalid_api_key")


def availabilities(body: Doc, stock: Stock, known: set[str]) -> Doc:
    """ATP = stock on hand per asked product and location; unknown locations have none."""
    out = []
    for product in body["products"]:
        pid = product["product_id"]
        for loc in body["fulfillment_locations"]:
            out.append({"product_id": pid, "external_identifier": product["external_identifier"],
                        "fulfillment_location": loc,
                        "atp": max(0, stock(loc, pid)) if loc in known else 0})
    return {"availabilities": out}


def consumer_email(email: str | None, token: str | None) -> str:
    """The mock OMS knows customers by email; it does not detokenize consumer_token."""
    if token and not email:
        raise ValidationFailed("the mock OMS does not detokenize consumer_token; send "
                               "consumer_email", field="consumer_token")
    if not email:
        raise ValidationFailed("consumer_email or consumer_token is required",
                               field="consumer_email")
    return email
