"""ServerSettings: every bound accepted exactly where it is documented, and one set of defaults
whichever way the server is started (Python, the launcher, the command line)."""

from __future__ import annotations

import math
import os
import subprocess
import sys

import pytest
import requests

from helpers.server.settings import ServerSettings
from tests.conftest import ROOT

ACCEPTED = [
    {"latency": 0}, {"latency": 0.0}, {"latency": 2.5}, {"jitter": 0}, {"slow_seconds": 0},
    {"error_rate": 0.0}, {"error_rate": 1.0}, {"drop_rate": 1}, {"slow_rate": 1.0},
    {"error_rate": 0.4, "drop_rate": 0.6}, {"port": 0}, {"port": 65535}, {"seed": -3},
    {"retry_after": 0}, {"capacity": 1}, {"rate_limit": 1e-9}, {"rate_limit": 3},
    {"host": "::1"}, {"text_api_key": ""}, {"sprite_kb": 1}, {"sprite_kb": 16384},
]
REFUSED = [
    ({"latency": -1e-9}, ValueError, "latency must be at least 0.0, got -1e-09"),
    ({"latency": math.inf}, ValueError, "latency must be finite, got inf"),
    ({"latency": True}, TypeError, "latency must be a number, got bool True"),
    ({"jitter": -0.5}, ValueError, "jitter must be at least 0.0"),
    ({"slow_seconds": -1}, ValueError, "slow_seconds must be at least 0.0, got -1"),
    ({"error_rate": 1.0000001}, ValueError, "error_rate must be at most 1.0"),
    ({"drop_rate": 1.5}, ValueError, "drop_rate must be at most 1.0"),
    ({"slow_rate": -0.1}, ValueError, "slow_rate must be at least 0.0"),
    ({"error_rate": 0.75, "drop_rate": 0.5}, ValueError,
     "error_rate + drop_rate must be at most 1, got 1.25"),
    ({"error_rate": 0.5, "drop_rate": 0.5000001}, ValueError, "error_rate + drop_rate"),
    ({"port": -1}, ValueError, "port must be at least 0, got -1"),
    ({"port": 65536}, ValueError, "port must be at most 65535, got 65536"),
    ({"port": 80.0}, TypeError, "port must be an integer, got float 80.0"),
    ({"seed": True}, TypeError, "seed must be an integer"),
    ({"retry_after": -1}, ValueError, "retry_after must be at least 0"),
    ({"capacity": 0}, ValueError, "capacity must be at least 1, got 0"),
    ({"rate_limit": 0}, ValueError, "rate_limit must be greater than 0.0, got 0"),
    ({"rate_limit": -1}, ValueError, "rate_limit must be greater than 0.0"),
    ({"rate_limit": "5"}, TypeError, "rate_limit must be a number, got str '5'"),
    ({"host": ""}, ValueError, "host must be a non-empty string"),
    ({"host": None}, ValueError, "host must be a non-empty string"),
    ({"text_api_key": None}, TypeError, "text_api_key must be a string"),
    # --sprite-kb's help says "1 to 16384"
    ({"sprite_kb": 0}, ValueError, "sprite_kb must be at least 1, got 0"),
    ({"sprite_kb": 16385}, ValueError, "sprite_kb must be at most 16384, got 16385"),
]


@pytest.mark.parametrize("options", ACCEPTED, ids=str)
def test_bounds_are_inclusive_where_documented(options):
    settings = ServerSettings(**options)
    for name, value in options.items():
        assert getattr(settings, name) == value


@pytest.mark.parametrize(("options", "error", "message"), REFUSED, ids=str)
def test_out_of_bounds_values_are_refused_with_a_clear_message(options, error, message):
    with pytest.raises(error) as info:
        ServerSettings(**options)
    assert message in str(info.value)


# Documented in ServerSettings and in `python -m helpers.server --help`: every fault off.
DEFAULTS = {
    "host": "127.0.0.1", "latency": 0.0, "jitter": 0.0, "seed": 0, "capacity": None,
    "error_rate": 0.0, "drop_rate": 0.0, "slow_rate": 0.0, "slow_seconds": 1.0,
    "rate_limit": None, "retry_after": 1, "sprite_kb": 16,
}


def test_the_same_defaults_from_python_the_launcher_and_the_command_line(api):
    from_python = ServerSettings().public()
    assert from_python == {**DEFAULTS, "port": 0}
    from_launcher = api.stats()["settings"]
    assert from_launcher == from_python  # the launcher asks for port 0 too
    env = dict(os.environ, PYTHONPATH=str(ROOT), TEXT_API_KEY="k")
    proc = subprocess.Popen([sys.executable, "-m", "helpers.server", "--managed"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, cwd=ROOT)
    try:
        assert proc.stdout is not None
        base = proc.stdout.readline().decode().strip()
        from_cli = requests.get(base.removesuffix("/api/v2") + "/_stats", timeout=10).json()
    finally:
        proc.stdin.close()  # type: ignore[union-attr]
        proc.wait(timeout=10)
        proc.stdout.close()  # type: ignore[union-attr]
    assert from_cli["settings"] == from_python


def test_settings_cannot_be_changed_after_validation():
    """Validation happens once, when the settings are made: so they must stay as made."""
    import dataclasses

    settings = ServerSettings()
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.latency = -1  # type: ignore[misc]
    assert settings.latency == 0.0


def test_public_settings_leave_out_only_the_key():
    settings = ServerSettings(text_api_key="secret", latency=0.2)
    public = settings.public()
    assert "text_api_key" not in public
    assert set(public) == set(DEFAULTS) | {"port"}
    assert public["latency"] == 0.2
    assert settings.text_api_key == "secret"  # public() did not change the settings
