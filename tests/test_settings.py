"""Settings come from defaults, SIM_* variables and overrides, and are checked."""

from __future__ import annotations

import pytest

from simulator.settings import Settings, parse_api_clients


def test_defaults_match_the_documented_flags():
    s = Settings()
    assert (s.host, s.port, s.db, s.tenant) == ("127.0.0.1", 8082, "./newstore-sim.db", "dodici")


def test_env_then_overrides():
    env = {"SIM_PORT": "9000", "SIM_API_CLIENTS": "a:b,c:d", "SIM_TENANT": "acme",
           "SIM_WORLD_ORDERS": "12"}
    s = Settings.from_env(env, port=9100)
    assert s.port == 9100
    assert s.api_clients == (("a", "b"), ("c", "d"))
    assert s.tenant == "acme" and s.world.orders == 12
    assert s.all_tenants == ("acme", "dodici")


@pytest.mark.parametrize("env, message", [
    ({"SIM_PORT": "eighty"}, "SIM_PORT must be an integer"),
    ({"SIM_PORT": "0"}, "port must be between"),
    ({"SIM_API_CLIENTS": "nocolon"}, "ID:SECRET"),
    ({"SIM_TENANT": "bad tenant!"}, "invalid tenant"),
])
def test_bad_settings_are_refused_with_a_reason(env, message):
    with pytest.raises(ValueError, match=message):
        Settings.from_env(env)


def test_parse_api_clients_keeps_colons_in_secrets():
    assert parse_api_clients(["id:se:cret"]) == (("id", "se:cret"),)
