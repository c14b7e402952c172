"""Pokémon bodies serialised once per Pokémon and host, then served as bytes.

Why: building a body's dict and encoding it as JSON was the largest piece of work this server
did per request (about as much as all of aiohttp's own). A body depends only on the Pokémon
and on the absolute URL root the client addressed (``http://host:port/api/v2``), so its bytes
are computed on first use and kept. The ``Host`` header is the client's to choose, so the
cache holds at most :data:`MAX_ROOTS` roots: a client cycling through host names cannot grow
the server's memory without bound (the oldest root's bodies are forgotten first).
"""

from __future__ import annotations

import json

from .pokedex import Pokemon, pokemon_body

MAX_ROOTS = 64


class BodyCache:
    """``bytes`` of ``/pokemon/{id}`` per URL root; the same bytes ``json_response`` sends."""

    def __init__(self, max_roots: int = MAX_ROOTS) -> None:
        self._max_roots = max_roots
        self._by_root: dict[str, dict[int, bytes]] = {}

    def pokemon(self, p: Pokemon, root: str) -> bytes:
        bodies = self._by_root.get(root)
        if bodies is None:
            bodies = self._by_root[root] = {}
            if len(self._by_root) > self._max_roots:
                del self._by_root[next(iter(self._by_root))]  # dicts keep insertion order
        body = bodies.get(p.id)
        if body is None:
            body = bodies[p.id] = json.dumps(pokemon_body(p, root)).encode("utf-8")
        return body
