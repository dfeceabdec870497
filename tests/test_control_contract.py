"""Property-based contract sweep over openapi/control.yaml (the /_sim control plane), the
same way tests/test_contract.py sweeps newstore.yaml: no input may give a 5xx, and every 4xx
is application/problem+json with a detail."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from simulator.app import create_app
from simulator.eventstream import outbox
from tests.conftest import make_settings
from tests.contracts import call_and_check

APP = create_app(make_settings(validate_responses=False, dispatch=False,
                               control_token="ctl"))
schema = schemathesis.openapi.from_asgi("/_sim/openapi.json", APP)
schema.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE])


def _prepare() -> list[int]:
    """One integration and a few deliveries in the demo tenant, so reads find something."""
    with APP.platform.store.tx() as tx:  # type: ignore[attr-defined]
        tx.put("dodici", outbox.INTEGRATION, "erp", {
            "tenant": "dodici", "id": "erp", "status": "running", "filter_conditions": {},
            "simulator": {}, "callback_parameters": {"callback_url": "http://127.0.0.1:9/x"}})
    with APP.test_client() as c:
        r = c.post("/_sim/events", json={"name": "order.opened", "count": 3},
                   headers={"Authorization": "Bearer ctl"})
        assert r.status_code == 201, r.text
        found = c.get("/_sim/eventstream/deliveries",
                      headers={"Authorization": "Bearer ctl"}).json()["deliveries"]
    return [d["delivery_id"] for d in found]


DELIVERY_IDS = _prepare()


@schema.hook
def flatmap_path_parameters(context, path_parameters):
    """Half the time, a delivery that exists."""
    if not path_parameters or "delivery_id" not in path_parameters:
        return st.just(path_parameters)
    return st.one_of(st.just(path_parameters),
                     st.sampled_from(DELIVERY_IDS).map(
                         lambda i: {**path_parameters, "delivery_id": i}))


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_control_input_yields_a_server_error(case):
    call_and_check(case, "Bearer ctl")  # the token itself has its own tests
