"""LGCRON_METRICS_ADDRESS: the address the metrics port binds to (the chart's metrics.address)."""

from __future__ import annotations

import inspect

import pytest
from langgraph_cron.controller import startup
from langgraph_cron.core.settings import Settings


def test_metrics_bind_every_ipv4_interface_by_default():
    assert Settings.from_env({}).metrics_address == "0.0.0.0"
    assert Settings.from_env({"LGCRON_METRICS_ADDRESS": ""}).metrics_address == "0.0.0.0"  # empty is unset


@pytest.mark.parametrize("address", ["127.0.0.1", "::", "10.1.2.3"])
def test_metrics_address_is_read_from_the_environment(address):
    settings = Settings.from_env({"LGCRON_METRICS_PORT": "9090", "LGCRON_METRICS_ADDRESS": address})
    assert (settings.metrics_port, settings.metrics_address) == (9090, address)


def test_metrics_address_is_documented_by_its_env_var():
    assert Settings.model_fields["metrics_address"].description.startswith("LGCRON_METRICS_ADDRESS:")


def test_startup_binds_the_metrics_port_to_the_address():
    source = inspect.getsource(startup.start)
    assert "start_http_server(config.metrics_port, addr=config.metrics_address)" in source
