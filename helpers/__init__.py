"""Infrastructure for the course "Async Requests in Python".

What a notebook needs and is not there to teach: the local API server and its launcher,
clocks, pictures and the benchmark. The techniques themselves (the loop, the semaphore, the
session, the retries) are written out in the notebooks.

Imports are lazy, so ``python -m helpers.server`` starts without loading matplotlib.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._lazy import lazy_exports

_EXPORTS = {
    "start_local_api": "launcher",
    "LocalAPI": "launcher",
    "pokeapi_base_url": "launcher",
    "gather_with_concurrency": "concurrency",
    "Stopwatch": "timing",
    "Timeline": "timing",
    "Span": "timing",
    "plot_timeline": "plots",
    "plot_time_vs_concurrency": "plots",
    "theoretical_time": "timing",
    "client_headers": "identity",
    "client_name": "identity",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:
    from .concurrency import gather_with_concurrency  # noqa: F401
    from .identity import client_headers, client_name  # noqa: F401
    from .launcher import LocalAPI, pokeapi_base_url, start_local_api  # noqa: F401
    from .plots import plot_time_vs_concurrency, plot_timeline  # noqa: F401
    from .timing import Span, Stopwatch, Timeline, theoretical_time  # noqa: F401


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
