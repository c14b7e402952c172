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
    "Mark": "timing",
    "WAITING": "timing",
    "IN_FLIGHT": "timing",
    "BACKOFF": "timing",
    "FAILED": "timing",
    "WORKING": "timing",
    "BLOCKED": "timing",
    "OVERHEAD": "timing",
    "in_flight_steps": "timing",
    "use_course_style": "plots",
    "plot_gantt": "plots",
    "plot_in_flight": "plots",
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
    from .plots import (  # noqa: F401
        plot_gantt,
        plot_in_flight,
        plot_time_vs_concurrency,
        plot_timeline,
        use_course_style,
    )
    from .timing import (  # noqa: F401
        BACKOFF,
        BLOCKED,
        FAILED,
        IN_FLIGHT,
        OVERHEAD,
        WAITING,
        WORKING,
        Mark,
        Span,
        Stopwatch,
        Timeline,
        in_flight_steps,
        theoretical_time,
    )


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
