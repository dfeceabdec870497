"""Property-based contract sweep over openapi/erp.yaml (the mock ERP under /erp), as
tests/test_control_contract.py sweeps the control plane: no input may give a 5xx, and every
4xx is application/problem+json with a detail."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from simulator.app import create_app
from tests.conftest import make_settings
from tests.contracts import call_and_check

APP = create_app(make_settings(validate_responses=False, dispatch=False))
schema = schemathesis.openapi.from_asgi("/erp/openapi.json", APP)
schema.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE])


def _prepare() -> list[str]:
    """One record of each type in the demo tenant, so reads by id find something."""
    body = {"external_id": "seed-1", "currency": "USD", "total": 1.0,
            "items": [{"product_id": "P1", "quantity": 1, "amount": 1.0}]}
    ids = []
    with APP.test_client() as c:
        for plural in ("cash_sales", "sales_orders", "cash_refunds", "credit_memos"):
            r = c.post(f"/erp/{plural}", json=body, headers={"Authorization": "Bearer k"})
            assert r.status_code == 201, r.text
            ids.append(r.json()["id"])
    return ids


RECORD_IDS = _prepare()


@schema.hook
def flatmap_path_parameters(context, path_parameters):
    """Half the time, a record id that exists (in some record type)."""
    if not path_parameters or "record_id" not in path_parameters:
        return st.just(path_parameters)
    return st.one_of(st.just(path_parameters),
                     st.sampled_from(RECORD_IDS).map(
                         lambda i: {**path_parameters, "record_id": i}))


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_erp_input_yields_a_server_error(case):
    call_and_check(case, "Bearer any-key")  # the key itself has its own tests
