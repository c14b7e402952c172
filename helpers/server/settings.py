"""The knobs of the local server, in one validated dataclass.

The command line, the launcher and the tests all build a :class:`ServerSettings`, so a bad
value (a negative latency, an error rate of 2) is refused in one place with one clear message,
whichever way the server was started.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

MAX_SPRITE_KB = 16 * 1024  # 16 MiB: large enough to show streaming, small enough to draw


@dataclass(frozen=True)
class ServerSettings:
    """How the simulated API behaves. Every fault is off by default."""

    host: str = "127.0.0.1"
    port: int = 0
    latency: float = 0.0
    """Seconds every API response is held back, measured from the request's arrival."""
    jitter: float = 0.0
    """Extra seconds drawn uniformly from [0, jitter) per request, seeded."""
    seed: int = 0
    capacity: int | None = None
    """Most requests served at once; one more is refused with 429 and ``Retry-After``."""
    error_rate: float = 0.0
    """Probability that a request is answered with 500."""
    drop_rate: float = 0.0
    """Probability that the connection is closed without any response."""
    slow_rate: float = 0.0
    """Probability that a request takes ``slow_seconds`` longer than usual."""
    slow_seconds: float = 1.0
    rate_limit: float | None = None
    """Requests per second allowed per client address (burst of the same size); then 429."""
    retry_after: int = 1
    """Whole seconds sent in ``Retry-After`` when capacity is exceeded."""
    sprite_kb: int = 16
    """Size of every ``/sprites/{id}.png`` in KiB (1024 bytes), exactly; from 1 to 16384."""
    text_api_key: str = field(default="", repr=False)
    """The key the Text API expects in its ``apikey`` header. Never printed by ``repr``."""

    def __post_init__(self) -> None:
        _check_number("latency", self.latency, low=0.0)
        _check_number("jitter", self.jitter, low=0.0)
        _check_number("slow_seconds", self.slow_seconds, low=0.0)
        for name in ("error_rate", "drop_rate", "slow_rate"):
            _check_number(name, getattr(self, name), low=0.0, high=1.0)
        if self.error_rate + self.drop_rate > 1.0:
            raise ValueError(
                f"error_rate + drop_rate must be at most 1, got {self.error_rate + self.drop_rate}"
            )
        _check_int("port", self.port, low=0, high=65535)
        _check_int("seed", self.seed)
        _check_int("retry_after", self.retry_after, low=0)
        _check_int("sprite_kb", self.sprite_kb, low=1, high=MAX_SPRITE_KB)
        if self.capacity is not None:
            _check_int("capacity", self.capacity, low=1)
        if self.rate_limit is not None:
            _check_number("rate_limit", self.rate_limit, low=0.0, strict_low=True)
        if not isinstance(self.host, str) or not self.host:
            raise ValueError("host must be a non-empty string")
        if not isinstance(self.text_api_key, str):
            raise TypeError("text_api_key must be a string")

    def public(self) -> dict[str, Any]:
        """The settings as a dict, without the Text API key (safe to print or serve)."""
        data = asdict(self)
        data.pop("text_api_key")
        return data


def _check_number(
    name: str,
    value: object,
    *,
    low: float | None = None,
    high: float | None = None,
    strict_low: bool = False,
) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number, got {type(value).__name__} {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if low is not None and (value <= low if strict_low else value < low):
        bound = f"greater than {low}" if strict_low else f"at least {low}"
        raise ValueError(f"{name} must be {bound}, got {value!r}")
    if high is not None and value > high:
        raise ValueError(f"{name} must be at most {high}, got {value!r}")


def _check_int(
    name: str, value: object, *, low: int | None = None, high: int | None = None
) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__} {value!r}")
    if low is not None and value < low:
        raise ValueError(f"{name} must be at least {low}, got {value!r}")
    if high is not None and value > high:
        raise ValueError(f"{name} must be at most {high}, got {value!r}")
