"""The aiohttp.web application: a PokéAPI subset, the Text API stand-in and ``/_stats``.

One middleware simulates the network and the server's limits (latency, capacity, rate limit,
injected faults) in front of every API route, and counts what happened, so handlers stay
plain functions of the request.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import re
import weakref
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from . import dashboard, textalgo
from .faults import FaultPlan, RateLimiter, retry_after_header
from .pokedex import Pokedex, pokemon_body
from .refs import ABILITY_IDS, STAT_IDS, TYPE_IDS
from .settings import ServerSettings
from .stats import CLIENT_HEADER, ClientStats, Stats

API_PREFIX = "/api/v2"
TEXT_PREFIX = "/text"
MAX_BODY = 1024 * 1024
DEFAULT_LIMIT = 20
# The server's own pages (first path segment): neither counted nor delayed.
UNCOUNTED = frozenset({"_stats", "_dashboard"})

SETTINGS = web.AppKey("settings", ServerSettings)
STATS = web.AppKey("stats", Stats)
PLAN = web.AppKey("plan", FaultPlan)
LIMITER = web.AppKey("limiter", RateLimiter | None)
POKEDEX = web.AppKey("pokedex", Pokedex)
# Connections that have carried an API request; counted once each in ``connections_opened``.
CONNECTIONS = web.AppKey("connections", weakref.WeakSet)
# When bytes last reached each connection's socket (stamped by ``runner``): a request's arrival.
RECEIVED = web.AppKey("received", weakref.WeakKeyDictionary)
RESOURCES = web.AppKey("resources", dict[str, dict[int, str]])

# The other resources a Pokémon body links to: listed, and answered with their id and name, so
# a client library that resolves every link (pokebase does) works against this server.
LINKED_KINDS = ("ability", "pokemon-form", "pokemon-species", "stat", "type")

# The real PokéAPI's rule: digits (optionally signed) are ids, letters/digits/-/+ are names,
# anything else is malformed and answered 400.
_ID = re.compile(r"-?[0-9]+")
_NAME = re.compile(r"[0-9A-Za-z+-]+")
_HOST = re.compile(r"[A-Za-z0-9_.\-]+(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?")


def plain(status: int, text: str, headers: dict[str, str] | None = None) -> web.Response:
    """A ``text/plain`` answer, the way PokéAPI reports errors (``Not Found``)."""
    return web.Response(status=status, text=text, headers=headers)


def json_error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def api_root(request: web.Request) -> str:
    """Absolute ``.../api/v2`` of this server, as the client addressed it."""
    host = request.headers.get("Host", "")
    if not _HOST.fullmatch(host):
        sockname = request.transport.get_extra_info("sockname") if request.transport else None
        host = f"{sockname[0]}:{sockname[1]}" if sockname else request.app[SETTINGS].host
    return f"{request.scheme}://{host}{API_PREFIX}"


# --------------------------------------------------------------------------- middlewares


@web.middleware
async def plain_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn aiohttp's own errors (no route, wrong method, body too large) into plain text.

    A ``Host`` header that is not a host name or address (``evil host/<x>``) is refused with 400,
    as RFC 9112 asks: this server builds absolute URLs from it.
    """
    if "Host" in request.headers and not _HOST.fullmatch(request.headers["Host"]):
        return plain(400, "Bad Request")
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return plain(exc.status, exc.reason, headers=_allow_header(exc))


def _allow_header(exc: web.HTTPException) -> dict[str, str] | None:
    allow = exc.headers.get("Allow")
    return {"Allow": allow} if allow else None


@web.middleware
async def simulate(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Latency, limits and faults in front of every route but ``/_stats`` and ``/_dashboard``;
    and the counting."""
    path = request.path
    if path.startswith("/_") and path.split("/", 2)[1] in UNCOUNTED:
        return await handler(request)
    app = request.app
    settings, stats = app[SETTINGS], app[STATS]
    loop = asyncio.get_running_loop()
    # Arrival is when the request's bytes reached the socket (``runner`` stamps it), not when
    # this middleware gets its turn: in a burst, parsing the others first must not be added to
    # the simulated latency. Without a stamp (a server not started by ``runner``): now.
    now = loop.time()
    arrived = min(app[RECEIVED].get(request.transport, now), now)
    client = stats.arrive(request.headers.get(CLIENT_HEADER), request.remote)
    # Count a connection when it carries its first API request, so the connections that only
    # read /_stats (the launcher's own calls, one each) never inflate the count.
    transport = request.transport
    if transport is not None and transport not in app[CONNECTIONS]:
        app[CONNECTIONS].add(transport)
        stats.connections_opened += 1

    limiter = app[LIMITER]
    if limiter is not None:
        wait = limiter.acquire(request.remote or "?", arrived)
        if wait:
            return _count(stats, _too_many(retry_after_header(wait), "rate limit exceeded"),
                          client)
    if settings.capacity is not None and stats.in_flight >= settings.capacity:
        return _count(stats, _too_many(str(settings.retry_after), "server at capacity"), client)

    fate = app[PLAN].next_fate(f"{request.method} {request.path_qs}")
    stats.enter(client)
    answered = False
    try:
        response: web.StreamResponse | None = None
        if not fate.drop and not fate.error:
            # Build the answer first and then wait: the work is done during the simulated
            # latency, so a burst of requests due at the same moment is not answered late by
            # the time it takes to build all of their bodies one after another.
            try:
                response = await handler(request)
            except web.HTTPException as exc:
                if exc.status < 400:
                    raise
                response = plain(exc.status, exc.reason, headers=_allow_header(exc))
            if not response.prepared:
                # Serialise the status line and headers now too: aiohttp holds them back
                # until the body is written, so nothing is sent early, and after the wait
                # only one write remains.
                await response.prepare(request)
        if fate.delay:
            # Sleep until arrival + delay, so time spent queueing is not added on top.
            await asyncio.sleep(max(0.0, arrived + fate.delay - loop.time()))
        if fate.drop:
            stats.drop(client)
            if request.transport is not None:
                request.transport.abort()
            # Nothing reaches the client: aiohttp finds the transport closed and gives up.
            return web.Response(status=499)
        if response is None:
            response = plain(500, "Internal Server Error (injected fault)")
        # Counted before the answer leaves, so a client never sees an answer that the
        # counters do not show yet.
        stats.leave(client)
        answered = True
        _count(stats, response, client)
        if response.prepared:
            try:
                await response.write_eof()
            except ConnectionError:
                pass  # the client left while it waited; aiohttp closes the connection
            # The answer is on the wire. Let the other answers due at this moment go out
            # before aiohttp's own bookkeeping for this one (keep-alive, the next request).
            await asyncio.sleep(0)
        return response
    finally:
        if not answered:
            stats.leave(client)


def _too_many(retry_after: str, why: str) -> web.Response:
    return plain(429, f"Too Many Requests: {why}", headers={"Retry-After": retry_after})


def _count(
    stats: Stats, response: web.StreamResponse, client: ClientStats
) -> web.StreamResponse:
    stats.count(response.status, client)
    return response


# --------------------------------------------------------------------------- PokéAPI


async def index(request: web.Request) -> web.Response:
    root = api_root(request)
    kinds = sorted(("pokemon", *LINKED_KINDS))
    return web.json_response({kind: f"{root}/{kind}/" for kind in kinds})


async def pokemon_list(request: web.Request) -> web.Response:
    """``/pokemon/?offset=&limit=``; like PokéAPI, a missing or unusable value means its default."""
    return _paged_list(request, "pokemon", [(p.id, p.name) for p in request.app[POKEDEX].pokemon])


def _paged_list(request: web.Request, kind: str, items: list[tuple[int, str]]) -> web.Response:
    """One page of ``items`` (id, name), with PokéAPI's count, next, previous and results."""
    offset = _non_negative(request.query.get("offset"), default=0)
    limit = _non_negative(request.query.get("limit"), default=DEFAULT_LIMIT, zero_is_default=True)
    count = len(items)
    page = items[offset : offset + limit]
    root = api_root(request)

    def page_url(new_offset: int) -> str:
        return f"{root}/{kind}/?offset={new_offset}&limit={limit}"

    return web.json_response(
        {
            "count": count,
            "next": page_url(offset + limit) if offset + limit < count else None,
            "previous": page_url(max(0, offset - limit)) if offset > 0 else None,
            "results": [{"name": name, "url": f"{root}/{kind}/{id_}/"} for id_, name in page],
        }
    )


def _non_negative(raw: str | None, *, default: int, zero_is_default: bool = False) -> int:
    if raw is None or not raw.isascii() or not raw.isdigit() or len(raw) > 9:
        return default
    value = int(raw)
    return default if (zero_is_default and value == 0) else value


async def pokemon_detail(request: web.Request) -> web.Response:
    key = request.match_info["key"]
    dex = request.app[POKEDEX]
    if _ID.fullmatch(key):
        found = dex.by_id(int(key)) if len(key) <= 9 else None
    elif _NAME.fullmatch(key):
        found = dex.by_name(key)
    else:
        return plain(400, "Bad Request")
    if found is None:
        return plain(404, "Not Found")
    return web.json_response(pokemon_body(found, api_root(request)))


async def pokemon_encounters(request: web.Request) -> web.Response:
    """``/pokemon/{id}/encounters``, the link in ``location_area_encounters``: none here."""
    response = await pokemon_detail(request)
    return web.json_response([]) if response.status == 200 else response


async def linked_list(request: web.Request) -> web.Response:
    kind = request.match_info["kind"]
    return _paged_list(request, kind, sorted(request.app[RESOURCES][kind].items()))


async def linked_detail(request: web.Request) -> web.Response:
    """``/{kind}/{id or name}``: only ``id`` and ``name`` (the real API has much more)."""
    kind, key = request.match_info["kind"], request.match_info["key"]
    by_id = request.app[RESOURCES][kind]
    if _ID.fullmatch(key):
        found = int(key) if len(key) <= 9 and int(key) in by_id else None
    elif _NAME.fullmatch(key):
        found = next((i for i, name in by_id.items() if name == key.lower()), None)
    else:
        return plain(400, "Bad Request")
    if found is None:
        return plain(404, "Not Found")
    return web.json_response({"id": found, "name": by_id[found]})


# --------------------------------------------------------------------------- Text API


async def _text_request(request: web.Request) -> dict[str, Any] | web.Response:
    """Check the key and parse ``{"text": ...}``; an error response when either fails."""
    expected = request.app[SETTINGS].text_api_key.encode()
    given = request.headers.get("apikey", "").encode("utf-8", "surrogateescape")
    # Constant-time comparison; an unconfigured server (empty key) accepts nothing.
    if not expected or not hmac.compare_digest(given, expected):
        return json_error(401, "missing or invalid apikey header")
    raw = await request.read()
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):  # not UTF-8, not JSON, or nested too deeply
        return json_error(400, "body must be JSON, like {\"text\": \"...\"}")
    if not isinstance(data, dict) or "text" not in data:
        return json_error(400, "body must be a JSON object with a \"text\" field")
    if not isinstance(data["text"], str):
        return json_error(400, "\"text\" must be a string")
    return data


async def summarize(request: web.Request) -> web.Response:
    data = await _text_request(request)
    if isinstance(data, web.Response):
        return data
    return web.json_response({"summary": textalgo.summarize(data["text"])})


async def ner(request: web.Request) -> web.Response:
    data = await _text_request(request)
    if isinstance(data, web.Response):
        return data
    return web.json_response({"ner": textalgo.named_entities(data["text"])})


async def most_common_phrases(request: web.Request) -> web.Response:
    data = await _text_request(request)
    if isinstance(data, web.Response):
        return data
    n = data.get("num_phrases", 5)
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 100:
        return json_error(400, "\"num_phrases\" must be an integer from 1 to 100")
    return web.json_response({"most common phrases": textalgo.most_common_phrases(data["text"], n)})


# --------------------------------------------------------------------------- stats


async def get_stats(request: web.Request) -> web.Response:
    return web.json_response(stats_body(request.app))


def stats_body(app: web.Application) -> dict[str, Any]:
    """What ``/_stats`` answers: the counters and the settings (never the Text API key)."""
    body = app[STATS].as_dict()
    body["settings"] = app[SETTINGS].public()
    return body


async def reset_stats(request: web.Request) -> web.Response:
    """Zero the counters and restart the seeded fault streams and rate-limit buckets."""
    app = request.app
    app[STATS].reset()
    app[PLAN].reseed()
    if app[LIMITER] is not None:
        app[LIMITER].reset()
    return await get_stats(request)


# --------------------------------------------------------------------------- the app


def create_app(settings: ServerSettings | None = None) -> web.Application:
    settings = settings or ServerSettings()
    app = web.Application(middlewares=[plain_errors, simulate], client_max_size=MAX_BODY)
    app[SETTINGS] = settings
    app[STATS] = Stats()
    app[CONNECTIONS] = weakref.WeakSet()
    app[RECEIVED] = weakref.WeakKeyDictionary()
    app[PLAN] = FaultPlan(settings)
    app[LIMITER] = RateLimiter(settings.rate_limit) if settings.rate_limit else None
    app[POKEDEX] = dex = Pokedex()
    app[RESOURCES] = {
        "ability": {i: name for name, i in ABILITY_IDS.items()},
        "pokemon-form": {p.id: p.name for p in dex.pokemon},
        "pokemon-species": {p.id: p.species for p in dex.pokemon},
        "stat": {i: name for name, i in STAT_IDS.items()},
        "type": {i: name for name, i in TYPE_IDS.items()},
    }

    r = app.router
    r.add_get(f"{API_PREFIX}", index)
    r.add_get(f"{API_PREFIX}/", index)
    r.add_get(f"{API_PREFIX}/pokemon", pokemon_list)
    r.add_get(f"{API_PREFIX}/pokemon/", pokemon_list)
    r.add_get(f"{API_PREFIX}/pokemon/{{key}}", pokemon_detail)
    r.add_get(f"{API_PREFIX}/pokemon/{{key}}/", pokemon_detail)
    r.add_get(f"{API_PREFIX}/pokemon/{{key}}/encounters", pokemon_encounters)
    r.add_get(f"{API_PREFIX}/pokemon/{{key}}/encounters/", pokemon_encounters)
    kinds = "|".join(LINKED_KINDS)
    r.add_get(f"{API_PREFIX}/{{kind:{kinds}}}", linked_list)
    r.add_get(f"{API_PREFIX}/{{kind:{kinds}}}/", linked_list)
    r.add_get(f"{API_PREFIX}/{{kind:{kinds}}}/{{key}}", linked_detail)
    r.add_get(f"{API_PREFIX}/{{kind:{kinds}}}/{{key}}/", linked_detail)
    r.add_post(f"{TEXT_PREFIX}/summarize", summarize)
    r.add_post(f"{TEXT_PREFIX}/ner", ner)
    r.add_post(f"{TEXT_PREFIX}/most_common_phrases", most_common_phrases)
    r.add_get("/_stats", get_stats)
    r.add_post("/_stats/reset", reset_stats)
    dashboard.setup(app, app[STATS], lambda: stats_body(app))
    return app
