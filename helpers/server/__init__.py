"""The local server: a PokéAPI subset and a Text API stand-in on aiohttp.web.

Run it with ``python -m helpers.server --help``; start it from Python with
:func:`helpers.start_local_api`. Modules: ``settings`` (the knobs), ``pokedex`` (data and
bodies), ``refs`` (ids of types, abilities, stats), ``textalgo`` (the Text API's
algorithms), ``faults`` (seeded faults and the rate limiter), ``stats`` (counters, in total
and per client), ``dashboard`` (the live page at ``/_dashboard``, its files in ``static/``),
``app`` (routes and middleware), ``runner`` (sockets), ``cli`` (the command line).
"""

from .app import create_app
from .settings import ServerSettings

__all__ = ["ServerSettings", "create_app"]
