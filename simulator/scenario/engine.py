"""Runs one scenario in its own tenant: setup, steps, expectations; every failure is kept as
a sentence that says what the integration did and what was expected."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from simulator.scenario import flows, matching
from simulator.scenario.client import RUNNER_AGENT, Answer, SimClient, SimUnreachable
from simulator.scenario.loader import EXPECTATION_KINDS, STEP_KINDS, Scenario
from simulator.scenario.refs import RefError, interpolate

DEFAULT_WITHIN = 15.0
POLL = 0.1
MOCK_OMS_KEY = "mock-oms-key-from-the-runner"
WORLD_KEY = "scenario"  # every scenario tenant's world is drawn from its seed and this
# the mock OMS is part of the test bench, not under test: it gets ~15 s of retries, so a busy
# machine cannot lose a re-route to the fast profile's 1.6 s
MOCK_OMS_RETRIES = {"delays": [0.1, 0.25, 0.5, 1, 2, 4, 8], "jitter": 0}


def seconds(value: Any, default: float = DEFAULT_WITHIN) -> float:
    """A schema duration (number, '500ms', '2s', '1.5m') in seconds."""
    if value is None:
        return default
    if isinstance(value, int | float):
        return float(value)
    m = re.fullmatch(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m)?", value)
    if not m:
        raise ValueError(f"not a duration: {value!r}")
    n = float(m[1])
    return {"ms": n / 1000, "m": n * 60}.get(m[2] or "s", n)


@dataclass
class Target:
    """The integration under test, as the runner registers it."""

    url: str | None
    api_key: str | None = None
    integration_id: str = "under-test"
    register: bool = True


class Failed(Exception):
    """A step or expectation that did not hold."""


@dataclass
class Outcome:
    """What happened to one step or expectation."""

    label: str
    line: int | None
    seconds: float
    error: str | None = None


@dataclass
class ScenarioResult:
    """One scenario's verdict, failures and timings."""

    name: str
    path: str
    tenant: str
    status: str = "passed"  # passed | failed | error
    seconds: float = 0.0
    outcomes: list[Outcome] = field(default_factory=list)
    description: str = ""

    @property
    def failures(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.error]

    def reason(self) -> str:
        """The first failure, as the table shows it."""
        first = next(iter(self.failures), None)
        return f"{first.label}: {first.error}" if first else ""


def _status_ok(status: int, want: Any) -> bool:
    if want is None:
        return 200 <= status < 300
    if isinstance(want, int):
        return status == want
    if isinstance(want, list):
        return status in want
    return str(status)[0] == str(want)[0]


def _count_ok(n: int, want: Any) -> tuple[bool, str]:
    if isinstance(want, int):
        return n == want, f"exactly {want}"
    ok = n >= want.get("gte", 0) and n <= want.get("lte", n)
    text = " and ".join(f"{'at least' if k == 'gte' else 'at most'} {v}"
                        for k, v in want.items())
    return ok, text


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


class ScenarioRun:
    """The state of one scenario while it runs."""

    def __init__(self, scenario: Scenario, sim: SimClient, target: Target, tenant: str,
                 clock_scale: float = 1.0, deadline: float | None = None) -> None:
        self.scenario, self.sim, self.target, self.tenant = scenario, sim, target, tenant
        self.clock_scale = clock_scale or 1.0
        self.values: dict[str, Any] = {"tenant": tenant, "sim": {"url": sim.url},
                                       "target": {"url": target.url or ""}}
        self.deadline = deadline
        self.result = ScenarioResult(scenario.name, str(scenario.path), tenant,
                                     description=scenario.description)

    # -- running -----------------------------------------------------------------------------

    def run(self) -> ScenarioResult:
        """Setup, steps, then expectations; stops at the first failing step."""
        started = time.perf_counter()
        doc = self.scenario.doc
        try:
            self._timed("setup", self.scenario.line_of("setup"), self.setup)
            for n, step in enumerate(doc["steps"]):
                label = step.get("label") or self._label(step, STEP_KINDS, n, "step")
                self._timed(label, self.scenario.line_of("steps", n),
                            lambda step=step: self.step(step))
            for n, exp in enumerate(doc.get("expect", [])):
                label = exp.get("label") or self._label(exp, EXPECTATION_KINDS, n, "expect")
                try:
                    self._timed(label, self.scenario.line_of("expect", n),
                                lambda exp=exp: self.expect(exp))
                except Failed:
                    continue  # every expectation is checked and reported
        except Failed:
            pass
        except SimUnreachable as e:
            self.result.outcomes.append(Outcome("simulator", None, 0.0, str(e)))
            self.result.status = "error"
        self.result.seconds = time.perf_counter() - started
        if self.result.status == "passed" and self.result.failures:
            self.result.status = "failed"
        return self.result

    def _label(self, item: dict[str, Any], kinds: tuple[str, ...], n: int, prefix: str) -> str:
        kind = next((k for k in kinds if k in item), "?")
        detail = item.get(kind)
        if kind == "action":
            detail = item["action"]
        elif isinstance(detail, dict):
            detail = (detail.get("event") or detail.get("type") or detail.get("system")
                      or (detail.get("request") or {}).get("path") or detail.get("path")
                      or detail.get("operation") or detail.get("of") or "")
        else:
            detail = "" if detail is True or detail is None else detail
        return f"{prefix} {n + 1}: {kind}" + (f" {detail}" if detail not in ("", None) else "")

    def _timed(self, label: str, line: int | None, fn: Any) -> None:
        started = time.perf_counter()
        try:
            fn()
        except (Failed, RefError) as e:
            self.result.outcomes.append(Outcome(label, line, time.perf_counter() - started,
                                                str(e)))
            raise Failed(str(e)) from None
        self.result.outcomes.append(Outcome(label, line, time.perf_counter() - started))

    def _i(self, value: Any) -> Any:
        return interpolate(value, self.values)

    def _need(self, answer: Answer, status: Any, what: str) -> Any:
        if not _status_ok(answer.status, status):
            expected = status if status is not None else "2xx"
            raise Failed(f"{what} answered {answer.status}, expected {expected}: "
                         f"{answer.describe()}")
        return answer.body

    # -- setup -----------------------------------------------------------------------------

    def setup(self) -> None:
        """A fresh world for the tenant, then the integration, PSP and configuration."""
        doc = self.scenario.doc
        setup = self._i(doc.get("setup") or {})
        # keyed on WORLD_KEY, not the tenant's (per-run) name: the same world every run
        self._need(self.sim.control("POST", "/seed", self.tenant,
                                    json={"seed": doc.get("seed", 1), "key": WORLD_KEY,
                                          "tenant": self.tenant}),
                   None, "resetting the tenant")
        integration = setup.get("integration") or {}
        if self.target.register and integration.get("register", True):
            if not self.target.url:
                raise Failed("no target: give --target URL (or --reference)")
            body: dict[str, Any] = {
                "id": self.target.integration_id,
                "callback_parameters": {"callback_url": self.target.url,
                                        **({"api_key": self.target.api_key}
                                           if self.target.api_key else {})},
                "simulator": {"retry_profile": integration.get("retry_profile", "fast")}}
            if integration.get("events"):
                body["filter_conditions"] = {"event_filter": integration["events"]}
            if integration.get("chaos"):
                body["simulator"]["chaos"] = integration["chaos"]
            self._need(self.sim.platform("POST", "/api/v1/org/integrations/eventstream",
                                         self.tenant, json=body),
                       None, "registering the integration under test")
        if setup.get("mock_oms"):
            self._mock_oms()
        if setup.get("psp"):
            self._need(self.sim.control("PUT", "/psp", self.tenant, json=setup["psp"]),
                       None, "setting the PSP")
        for n, req in enumerate(setup.get("config") or []):
            self._request(req, f"setup config {n + 1}")

    def _mock_oms(self) -> None:
        """The simulator's mock OMS answers ATP, order details and purchase history, and
        re-routes. Its URLs name the tenant (?tenant=, kept under the order webhook's base):
        NewStore's webhook calls carry none, and the mock would answer from the default
        tenant's world."""
        base = self.sim.url
        self._need(self.sim.platform("PUT", "/v0/config/availability/webhook", self.tenant,
                                     json={"url": f"{base}/oms/availabilities?tenant="
                                                  f"{self.tenant}",
                                           "api_key": MOCK_OMS_KEY,
                                           "external_identifier": "product_id",
                                           "timeout": 5}), None, "configuring the mock OMS")
        self._need(self.sim.platform("PUT", "/v0/config/sales_order/order_webhook", self.tenant,
                                     json={"url": f"{base}/oms?tenant={self.tenant}",
                                           "api_key": MOCK_OMS_KEY, "timeout": 5}),
                   None, "configuring the mock OMS as the order webhook")
        self._need(self.sim.platform("POST", "/api/v1/org/integrations/eventstream",
                                     self.tenant, json={
                                         "id": "mock-oms", "callback_parameters": {
                                             "callback_url": f"{base}/oms/events",
                                             "api_key": MOCK_OMS_KEY},
                                         "filter_conditions": {
                                             "event_filter": ["order.cancelled"]},
                                         "simulator": {"retry_profile": MOCK_OMS_RETRIES}}),
                   None, "registering the mock OMS on the Event Stream")

    # -- steps ---------------------------------------------------------------------------

    def step(self, raw: dict[str, Any]) -> None:
        """Do one step (`repeat` times, with ${n}); its result is kept under its id."""
        step = {k: v for k, v in raw.items() if k not in ("label",)}
        sid = step.pop("id", None)
        repeat = step.pop("repeat", None)
        if repeat is None:
            result = self._do(step)
        else:
            result = []
            for n in range(1, repeat + 1):
                self.values["n"] = n
                result.append(self._do(step))
            self.values.pop("n", None)
        if sid:
            self.values[sid] = result

    def _do(self, step: dict[str, Any]) -> Any:
        step = dict(step)
        status = step.pop("status", None)
        result: Any = None
        if "action" in step:
            body = self._i(step.get("with") or {})
            answer = flows.call_action(self.sim, self.tenant, step["action"], body)
            result = self._need(answer, status, f"action {step['action']}")
        elif "request" in step:
            result = self._request(self._i(step["request"]), "request", status)
        elif "graphql" in step:
            result = self._graphql(self._i(step["graphql"]))
        elif "fault" in step:
            result = self._need(self.sim.control("POST", "/faults", self.tenant,
                                                 json=self._i(step["fault"])),
                                status, "arming the fault")
        elif "clear_faults" in step:
            self._need(self.sim.control("DELETE", "/faults", self.tenant), None,
                       "clearing faults")
        elif "psp" in step:
            result = self._need(self.sim.control("PUT", "/psp", self.tenant,
                                                 json=self._i(step["psp"])), status,
                                "setting the PSP")
        elif "clock" in step:
            result = self._need(self.sim.control(
                "POST", "/clock/advance", self.tenant,
                json={"seconds": seconds(self._i(step["clock"]["advance"]))}), status,
                "advancing the clock")
        elif "wait" in step:
            time.sleep(seconds(self._i(step["wait"])))
        elif "redeliver" in step:
            result = self._redeliver(self._i(step["redeliver"]))
        elif "expect" in step:
            result = self.expect(step["expect"])
        return result

    def _request(self, req: dict[str, Any], what: str, status: Any = None) -> Any:
        answer = self.sim.api(req.get("api", "platform"), req["method"], req["path"],
                              self.tenant, json=req.get("body"), params=req.get("query"))
        return self._need(answer, req.get("status", status),
                          f"{what} {req['method']} {req['path']}")

    def _graphql(self, q: dict[str, Any]) -> Any:
        answer = self.sim.graphql(self.tenant, q["query"], q.get("variables"))
        body = self._need(answer, None, "the GraphQL query")
        if body.get("errors"):
            raise Failed("the GraphQL query failed: " + "; ".join(
                e.get("message", "?") for e in body["errors"]))
        return body.get("data")

    def _deliveries(self, event: str | None = None, entity: str | None = None,
                    integration: str | None = None) -> list[dict[str, Any]]:
        params = {"integration_id": integration or self.target.integration_id,
                  "limit": 1000}
        if event:
            params["event_name"] = event
        body = self._need(self.sim.control("GET", "/eventstream/deliveries", self.tenant,
                                           params=params), None, "listing deliveries")
        found = body["deliveries"]
        return [d for d in found if entity is None or d.get("domain_entity_id") == entity]

    def _redeliver(self, spec: dict[str, Any]) -> dict[str, Any]:
        event, entity = spec["event"], spec.get("entity")
        found = self._poll(lambda: (self._deliveries(event, entity) or None, "no delivery "
                           f"of {event}" + (f" for {entity}" if entity else "") + " yet"),
                           DEFAULT_WITHIN)
        delivery = found[0]
        for _ in range(spec.get("times", 1)):
            self._need(self.sim.control(
                "POST", f"/eventstream/deliveries/{delivery['delivery_id']}/_redeliver",
                self.tenant), None, "redelivering")
        return {"delivery_id": delivery["delivery_id"], "event_id": delivery["event_id"]}

    # -- expectations ---------------------------------------------------------------------

    def _poll(self, check: Any, within: float) -> Any:
        """Call check() -> (value, why_not) until value is truthy or time is up."""
        end = time.monotonic() + within
        if self.deadline is not None:
            end = min(end, self.deadline)
        while True:
            value, why = check()
            if value:
                return value
            if time.monotonic() >= end:
                raise Failed(why)
            time.sleep(POLL)

    def expect(self, raw: dict[str, Any]) -> Any:
        """Check one expectation, polling until it holds or its time is up."""
        kind = next(k for k in EXPECTATION_KINDS if k in raw)
        spec = self._i(raw[kind])
        within = seconds(spec.get("within")) if isinstance(spec, dict) else DEFAULT_WITHIN
        return getattr(self, f"_expect_{kind}")(spec, within)

    def _expect_event_acknowledged(self, spec: dict[str, Any], within: float) -> Any:
        event, entity = spec["event"], spec.get("entity")
        want_attempts = spec.get("attempts")

        def check() -> tuple[Any, str]:
            found = self._deliveries(event, entity)
            if not found:
                return None, (f"{event} was never delivered to the integration "
                              f"{self.target.integration_id!r}"
                              + (f" for {entity}" if entity else ""))
            done = [d for d in found if d["status"] == "delivered"]
            if not done:
                d = found[0]
                why = (f"{event} was not acknowledged within {within:g}s: "
                       f"{d['attempts']} attempt(s), last answer "
                       f"{d.get('last_status_code') or d.get('last_error') or 'none'},"
                       f" delivery {d['status']}")
                if all(x["status"] == "dead" for x in found):  # retries are over
                    raise Failed(why.replace(f" within {within:g}s", ""))
                return None, why
            d = done[0]
            if want_attempts is not None:
                ok, text = _count_ok(d["attempts"], want_attempts)
                if not ok:
                    return None, (f"{event} was acknowledged after {d['attempts']} "
                                  f"attempt(s), expected {text}")
            return d, ""

        d = self._poll(check, within)
        published, acked = _time(d.get("published_at")), _time(d.get("acknowledged_at"))
        if published and acked:
            real = (acked - published).total_seconds() / self.clock_scale
            if real > within:
                raise Failed(f"{event} was acknowledged {real:.2f}s after publication, "
                             f"expected within {within:g}s")
        return d

    def _expect_event_rejected(self, spec: dict[str, Any], within: float) -> Any:
        event, entity, want = spec["event"], spec.get("entity"), spec.get("status", "5xx")

        def check() -> tuple[Any, str]:
            answers: list[Any] = []
            for d in self._deliveries(event, entity):
                body = self._need(self.sim.control(
                    "GET", "/eventstream/attempts", self.tenant,
                    params={"delivery_id": d["delivery_id"]}), None, "listing attempts")
                answers += [a.get("status_code") for a in body["attempts"]]
                hits = [s for s in answers if s is not None and _status_ok(s, want)]
                if hits:
                    return {"statuses": answers}, ""
            return None, (f"the integration never answered {event} with {want} "
                          f"(its answers: {answers or 'none'})")

        return self._poll(check, within)

    def _expect_erp_record(self, spec: dict[str, Any], within: float) -> Any:
        kind, where = spec["type"], spec.get("where") or {}
        count, match = spec.get("count", 1), spec.get("match") or {}
        shown = ", ".join(f"{k}={v}" for k, v in where.items()) or "any"

        def check() -> tuple[Any, str]:
            body = self._need(self.sim.erp("GET", f"/{kind}", self.tenant,
                                           params={**where, "limit": 1000}), None,
                              f"reading ERP {kind}")
            records = body["records"]
            ok, text = _count_ok(len(records), count)
            if not ok:
                return None, (f"the ERP has {len(records)} {kind} record(s) where {shown}, "
                              f"expected {text}")
            for record in records:
                wrong = matching.check_all(record, match)
                if wrong:
                    why = (f"ERP {kind} {record.get('id')} (external_id "
                           f"{record.get('external_id')}): " + "; ".join(wrong))
                    if isinstance(count, int):  # records do not change: no use waiting
                        raise Failed(why)
                    return None, why
            return {"records": records, "record": records[0] if records else None}, ""

        return self._poll(check, within)

    def _expect_erp_duplicates(self, spec: dict[str, Any], within: float) -> Any:
        body = self._need(self.sim.erp("GET", "/stats", self.tenant), None, "ERP stats")
        kinds = [spec["type"]] if spec.get("type") else list(body)
        n = sum(body.get(k, {}).get("duplicates_rejected", 0) for k in kinds
                if isinstance(body.get(k), dict))
        ok, text = _count_ok(n, spec.get("count", 0))
        if not ok:
            raise Failed(f"the ERP rejected {n} duplicate create(s), expected {text}: the "
                         "integration wrote the same record more than once")
        return {"duplicates": n}

    def _expect_settled(self, spec: dict[str, Any], within: float) -> Any:
        def check() -> tuple[Any, str]:
            open_ = [d for d in self._deliveries() if d["status"] in ("pending", "held")]
            if open_:
                names = ", ".join(sorted({d["event_name"] for d in open_}))
                return None, (f"{len(open_)} deliveries are still pending after "
                              f"{within:g}s ({names})")
            return {"settled": True}, ""

        return self._poll(check, within)

    def _journal(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        body = self._need(self.sim.control("GET", "/journal", self.tenant,
                                           params={**params, "limit": 1000}), None,
                          "reading the journal")
        return body["entries"]

    def _expect_api_calls(self, spec: dict[str, Any], within: float) -> Any:
        params = {"direction": "in", "system": spec.get("system", "platform")}
        if spec.get("method"):
            params["method"] = spec["method"]
        if spec.get("path_contains"):
            params["path_contains"] = spec["path_contains"]
        want = spec.get("count", {"gte": 1})

        def check() -> tuple[Any, str]:
            calls = [e for e in self._journal(params)
                     if not (e.get("request_headers") or {}).get("user-agent", "")
                     .startswith(RUNNER_AGENT)
                     and (spec.get("status") is None
                          or _status_ok(e.get("status") or 0, spec["status"]))]
            ok, text = _count_ok(len(calls), want)
            what = " ".join(str(params[k]) for k in ("method", "path_contains") if k in params)
            return ({"calls": len(calls)} if ok else None,
                    f"the integration made {len(calls)} {what or 'API'} call(s), expected "
                    f"{text}")

        return self._poll(check, within)

    def _expect_oms_calls(self, spec: dict[str, Any], within: float) -> Any:
        entries = self._journal({"direction": "out", "system": "oms"})
        if spec.get("operation"):
            entries = [e for e in entries if e.get("operation_id") == spec["operation"]]
        ok, text = _count_ok(len(entries), spec.get("count", {"gte": 1}))
        if not ok:
            raise Failed(f"NewStore called the OMS {len(entries)} time(s), expected {text}")
        problems = []
        for e in entries:
            if spec.get("valid", True) and (e.get("status") != 200 or e.get("error")):
                problems.append(f"{e['method']} {e['url']} -> {e.get('status')}: "
                                f"{e.get('error') or 'not 200'}")
            if spec.get("max_ms") is not None and (e.get("duration_ms") or 0) > spec["max_ms"]:
                problems.append(f"{e['url']} took {e['duration_ms']:.0f} ms, more than "
                                f"{spec['max_ms']:g} ms")
        if problems:
            raise Failed("; ".join(problems[:3]))
        return {"calls": len(entries)}

    def _expect_http(self, spec: dict[str, Any], within: float) -> Any:
        req = spec["request"]

        def check() -> tuple[Any, str]:
            answer = self.sim.api(req.get("api", "platform"), req["method"], req["path"],
                                  self.tenant, json=req.get("body"), params=req.get("query"))
            if not _status_ok(answer.status, req.get("status")):
                return None, (f"{answer.describe()}, expected "
                              f"{req.get('status') or '2xx'}")
            wrong = matching.check_all(answer.body, spec.get("match") or {})
            return (answer.body or {"status": answer.status}) if not wrong else None, \
                f"{req['method']} {req['path']}: " + "; ".join(wrong)

        return self._poll(check, within)

    def _expect_graphql(self, spec: dict[str, Any], within: float) -> Any:
        def check() -> tuple[Any, str]:
            data = self._graphql(spec)
            wrong = matching.check_all(data, spec.get("match") or {})
            return (data or {"data": None}) if not wrong else None, "; ".join(wrong)

        return self._poll(check, within)

    def _expect_result(self, spec: dict[str, Any], within: float) -> Any:
        of = spec["of"]
        if of not in self.values:
            raise Failed(f"no step with id {of!r} ran")
        wrong = matching.check_all(self.values[of], spec["match"])
        if wrong:
            raise Failed(f"result of {of}: " + "; ".join(wrong))
        return self.values[of]
