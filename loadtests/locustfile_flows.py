"""Locust front end of the flow library: associates placing orders, returns and
appeasements against a simulator, each flow timed as one Locust request; the Event Stream
then loads the integration under test with real traffic.

    newstore-sim serve --api-client load:load-secret &
    NEWSTORE_SIM_CLIENT_ID=load NEWSTORE_SIM_CLIENT_SECRET=load-secret \\
        locust -f loadtests/locustfile_flows.py --host http://127.0.0.1:8082 \\
        --headless -u 10 -r 5 -t 1m

NEWSTORE_SIM_TENANT picks the tenant (default dodici). Webhook latency percentiles of the
integration: GET /_sim/eventstream/latency afterwards.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable
from typing import Any

from locust import User, between, task

from simulator.scenario import SimClient, flows


class Associate(User):
    """A store associate doing what the flows do, at a human-ish pace."""

    wait_time = between(0.05, 0.2)

    def on_start(self) -> None:
        self.tenant = os.environ.get("NEWSTORE_SIM_TENANT", "dodici")
        self.sim = SimClient(self.host or "http://127.0.0.1:8082",
                             client_id=os.environ.get("NEWSTORE_SIM_CLIENT_ID"),
                             client_secret=os.environ.get("NEWSTORE_SIM_CLIENT_SECRET"),
                             control_token=os.environ.get("SIM_CONTROL_TOKEN"))
        self.orders: list[str] = []

    def _timed(self, name: str, flow: Callable[[], Any]) -> Any:
        """Run one flow and report it to Locust as a request named after the flow."""
        started = time.perf_counter()
        error: Exception | None = None
        result = None
        try:
            result = flow()
        except (flows.FlowFailed, OSError) as e:
            error = e
        self.environment.events.request.fire(
            request_type="flow", name=name, response_time=(time.perf_counter() - started) * 1000,
            response_length=0, exception=error, context={})
        return result

    @task(5)
    def cash_and_carry(self) -> None:
        placed = self._timed("cash_and_carry", lambda: flows.cash_and_carry(self.sim,
                                                                             self.tenant))
        if placed:
            self.orders = (self.orders + [placed["order_id"]])[-20:]

    @task(3)
    def endless_aisle(self) -> None:
        self._timed("endless_aisle", lambda: flows.endless_aisle(self.sim, self.tenant))

    @task(1)
    def appease(self) -> None:
        if self.orders:  # an appeased order is not returned (its refundable balance shrank)
            order_id = self.orders.pop(random.randrange(len(self.orders)))
            self._timed("appease", lambda: flows.appease(self.sim, self.tenant, order_id, 1.0))

    @task(1)
    def return_one(self) -> None:
        if not self.orders:
            return
        order_id = self.orders.pop(0)

        def flow() -> Any:
            item = flows.order(self.sim, self.tenant, order_id)["items"]["nodes"][0]
            return flows.return_items(self.sim, self.tenant, order_id, [{"item_id": item["id"]}])

        self._timed("return", flow)
