"""The aiohttp.web application: a PokéAPI subset, the Text API stand-in and ``/_stats``.

One middleware simulates the network and the server's limits (latency, capacity, rate limit,
injected faults) in front of every API route, and counts what happened, so handlers stay
plain functions of the request.

Per request it does only what must be done per request: bodies are serialised once per
Pokémon and host (:mod:`.bodies`), a fault-free server draws no fate (``FaultPlan.constant``),
answers due together share a timer (:mod:`.wakeups`), a checked ``Host`` is remembered, and
arrival is an attribute of the connection's protocol (:mod:`.arrival`).
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import json
import os
import re
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from . import dashboard, textalgo
from .arrival import StampingProtocol
from .bodies import MAX_ROOTS, BodyCache
from .faults import FaultPlan, RateLimiter, retry_after_header
from .pokedex import Pokedex, Pokemon, parse_key
from .refs import ABILITY_IDS, STAT_IDS, TYPE_IDS
from .remote import Link, RemoteLimiter, RemoteStats, remote_take
from .settings import ServerSettings
from .sprites import sprite_handler
from .stats import CLIENT_HEADER, ClientStats, Stats
from .wakeups import Wakeups

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
RESOURCES = web.AppKey("resources", dict[str, dict[int, str]])
BODIES = web.AppKey("bodies", BodyCache)
WAKEUPS = web.AppKey("wakeups", Wakeups)
# Host header -> absolute API root, for the Host values already checked (see ``api_root``).
ROOTS = web.AppKey("roots", dict[str, str])

# The other resources a Pokémon body links to: listed, and answered with their id and name, so
# a client library that resolves every link (pokebase does) works against this server.
LINKED_KINDS = ("ability", "pokemon-form", "pokemon-species", "stat", "type")

_HOST = re.compile(r"[A-Za-z0-9_.\-]+(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?")


def plain(status: int, text: str, headers: dict[str, str] | None = None) -> web.Response:
    """A ``text/plain`` answer, the way PokéAPI reports errors (``Not Found``)."""
    return web.Response(status=status, text=text, headers=headers)


def json_error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def api_root(request: web.Request) -> str:
    """Absolute ``.../api/v2`` of this server, as the client addressed it.

    Kept per ``Host`` value once checked (at most :data:`MAX_ROOTS`, the oldest forgotten
    first: the header is the client's to choose). The server never speaks TLS, so the scheme
    is always ``http`` and the host alone decides the root.
    """
    host = request.headers.get("Host", "")
    roots = request.app[ROOTS]
    root = roots.get(host)
    if root is not None:
        return root
    if not _HOST.fullmatch(host):
        sockname = request.transport.get_extra_info("sockname") if request.transport else None
        addr = f"{sockname[0]}:{sockname[1]}" if sockname else request.app[SETTINGS].host
        return f"{request.scheme}://{addr}{API_PREFIX}"
    roots[host] = root = f"{request.scheme}://{host}{API_PREFIX}"
    if len(roots) > MAX_ROOTS:
        del roots[next(iter(roots))]
    return root


# --------------------------------------------------------------------------- middlewares


@web.middleware
async def simulate(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Latency, limits and faults in front of every route but ``/_stats`` and ``/_dashboard``;
    and the counting.

    It also turns aiohttp's own errors (no route, wrong method, body too large) into plain
    text, and refuses with 400 a ``Host`` header that is not a host name or address
    (``evil host/<x>``), as RFC 9112 asks: this server builds absolute URLs from it. One
    middleware does both because every layer of middleware is one more coroutine per request.
    """
    app = request.app
    host = request.headers.get("Host")
    if host is not None and host not in app[ROOTS] and not _HOST.fullmatch(host):
        return plain(400, "Bad Request")
    path = request.path
    if path.split("/")[1] in UNCOUNTED:
        return await _answer(handler, request)
    settings, stats = app[SETTINGS], app[STATS]
    loop = asyncio.get_running_loop()
    # Arrival is when the request's bytes reached the socket (``runner`` stamps it on the
    # connection's protocol), not when this middleware gets its turn: in a burst, parsing the
    # others first must not be added to the simulated latency. Without a stamp (a server not
    # started by ``runner``, or a connection already gone): now.
    now = loop.time()
    client = stats.arrive(request.headers.get(CLIENT_HEADER), request.remote)
    try:
        # Count a connection when it carries its first API request, so the connections that
        # only read /_stats (the launcher's own calls, one each) never inflate the count.
        transport = request.transport
        protocol = transport.get_protocol() if transport is not None else None
        if isinstance(protocol, StampingProtocol):
            arrived = min(protocol.arrived, now)
            if not protocol.counted:
                protocol.counted = True
                stats.connections_opened += 1
        else:
            arrived = now

        limiter = app[LIMITER]
        if limiter is not None:
            wait = limiter.acquire(request.remote or "?", arrived)
            if wait:
                return _count(stats, _too_many(retry_after_header(wait),
                                               "rate limit exceeded"), client)
        # Checked and entered at once (with several workers, in the one place that counts).
        if not stats.admit(client, settings.capacity):
            return _count(stats, _too_many(str(settings.retry_after), "server at capacity"),
                          client)

        plan = app[PLAN]
        fate = plan.constant if plan.constant is not None else plan.next_fate(
            f"{request.method} {request.path_qs}")
        settled = False
        try:
            response: web.StreamResponse | None = None
            if not fate.drop and not fate.error:
                # Build the answer first and then wait: the work is done during the simulated
                # latency, so a burst of requests due at the same moment is not answered late
                # by the time it takes to build all of their bodies one after another.
                response = await _answer(handler, request)
                # Serialise the status line and headers now too: aiohttp holds them back
                # until the body is written, so nothing is sent early, and after the wait
                # only one write remains. (Preparing a prepared response does nothing.)
                await response.prepare(request)
            # Wait until arrival + delay, so time spent queueing is not added on top;
            # answers due at the same loop time share one timer (``Wakeups``). Already due:
            # no wait.
            due = arrived + fate.delay
            waited = due > loop.time()
            if fate.drop:
                if waited:
                    await app[WAKEUPS].at(due)
                stats.drop(client)
                if request.transport is not None:
                    request.transport.abort()
                # Nothing reaches the client: aiohttp finds the transport closed and gives up.
                return web.Response(status=499)
            if response is None:
                response = plain(500, "Internal Server Error (injected fault)")
            answer = response

            def settle() -> None:
                # Counted before the answer leaves, so a client never sees an answer that
                # the counters do not show yet. When it waited, this runs as its timer fires,
                # for every answer due at that moment before any of them is written: with
                # --workers, their counts then reach the supervisor in one message.
                nonlocal settled
                settled = True
                stats.leave(client)
                _count(stats, answer, client)

            if waited:
                await app[WAKEUPS].at(due, settle)
            else:
                settle()
            if response.prepared:
                try:
                    await response.write_eof()
                except ConnectionError:
                    pass  # the client left while it waited; aiohttp closes the connection
                if waited:
                    # The answer is on the wire. Let the other answers due at this moment go
                    # out before aiohttp's own bookkeeping for this one (keep-alive, the next
                    # request).
                    await asyncio.sleep(0)
            return response
        finally:
            if not settled:
                stats.leave(client)
    finally:
        stats.release(client)


async def _answer(handler: Handler, request: web.Request) -> web.StreamResponse:
    """The handler's answer, with aiohttp's own errors (no route, wrong method, body too
    large) turned into PokéAPI-style plain text. Redirects and successes raised as
    exceptions (none today) would still propagate: only ``HTTPError`` (4xx, 5xx) is caught."""
    try:
        return await handler(request)
    except web.HTTPError as exc:
        allow = exc.headers.get("Allow")
        return plain(exc.status, exc.reason, headers={"Allow": allow} if allow else None)


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
    offset = _count_param(request.query.get("offset"))
    limit = _count_param(request.query.get("limit")) or DEFAULT_LIMIT
    count = len(items)
    page = items[offset : offset + limit]
    root = api_root(request)

    def page_url(new_offset: int) -> str:
        return f"{root}/{kind}/?offset={new_offset}&limit={limit}"

    return web.json_response(
        {
            "count": count,
            "next": page_url(offset + limit) if offset + limit < count else None,
            "previous": page_url(max(0, offset - limit)) if offset else None,
            "results": [{"name": name, "url": f"{root}/{kind}/{id_}/"} for id_, name in page],
        }
    )


def _count_param(raw: str | None) -> int:
    """``offset`` or ``limit`` as given, when it is up to nine ASCII digits; else 0 (which
    means "the default" to both: offset 0, and a limit of 0 is no limit asked)."""
    if raw is None or not raw.isascii() or not raw.isdigit() or len(raw) > 9:
        return 0
    return int(raw)


def _find_pokemon(request: web.Request) -> Pokemon | web.Response:
    """The Pokémon named by ``{key}`` (an id or a name), or the error PokéAPI gives."""
    try:
        found = request.app[POKEDEX].find(request.match_info["key"])
    except ValueError:
        return plain(400, "Bad Request")
    return plain(404, "Not Found") if found is None else found


async def pokemon_detail(request: web.Request) -> web.Response:
    found = _find_pokemon(request)
    if isinstance(found, web.Response):
        return found
    body = request.app[BODIES].pokemon(found, api_root(request))
    return web.Response(body=body, content_type="application/json", charset="utf-8")


async def pokemon_encounters(request: web.Request) -> web.Response:
    """``/pokemon/{id}/encounters``, the link in ``location_area_encounters``: none here."""
    found = _find_pokemon(request)
    return found if isinstance(found, web.Response) else web.json_response([])


async def linked_list(request: web.Request) -> web.Response:
    kind = request.match_info["kind"]
    return _paged_list(request, kind, sorted(request.app[RESOURCES][kind].items()))


async def linked_detail(request: web.Request) -> web.Response:
    """``/{kind}/{id or name}``: only ``id`` and ``name`` (the real API has much more)."""
    kind, key = request.match_info["kind"], request.match_info["key"]
    by_id = request.app[RESOURCES][kind]
    try:
        parsed = parse_key(key)
    except ValueError:
        return plain(400, "Bad Request")
    if isinstance(parsed, int):
        found = parsed if parsed in by_id else None
    else:
        found = next((i for i, name in by_id.items() if name == parsed), None)
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
    # One process unless started with --workers (then the ledger fills this in).
    body.setdefault("workers", {"count": 1, "restarts": 0, "lost_in_flight": 0,
                                "pids": [os.getpid()], "requests": [body["requests"]]})
    body["settings"] = app[SETTINGS].public()
    return body


async def reset_stats(request: web.Request) -> web.Response:
    """Zero the counters and restart the seeded fault streams and rate-limit buckets.

    Only from the server's own machine: on a classroom server bound to 0.0.0.0, one student
    must not be able to wipe the numbers the whole room is watching on the dashboard."""
    if not _is_loopback(request.remote):
        return plain(403, "Forbidden: counters can be reset only from the server's own machine")
    app = request.app
    app[STATS].reset()
    app[PLAN].reseed()
    if app[LIMITER] is not None:
        app[LIMITER].reset()
    return await get_stats(request)


def _is_loopback(address: str | None) -> bool:
    try:
        # A zone (``::1%lo``) is part of an IPv6 address to ipaddress since Python 3.9. On a
        # dual-stack socket (``--host ::``) an IPv4 peer is ``::ffff:127.0.0.1``.
        ip = ipaddress.ip_address(address or "")
        return (getattr(ip, "ipv4_mapped", None) or ip).is_loopback
    except ValueError:  # a Unix socket or no address (None, ""): not a remote peer
        return not address


# --------------------------------------------------------------------------- the app


def create_app(settings: ServerSettings | None = None, *, link: Link | None = None
               ) -> web.Application:
    """The application. ``link``: this process is one of several workers (``--workers``), and
    the counters, fault counts and rate limits live in the supervisor (:mod:`.ledger`).

    Served by :func:`.runner.start` (as every server of the course is), each connection's
    protocol stamps the time its bytes arrive: latency counts from a request's arrival, and
    ``/_stats`` counts ``connections_opened`` (those that carried an API request). Served any
    other way (``aiohttp.test_utils``, ``web.run_app``), latency counts from when the
    ``simulate`` middleware runs, and ``connections_opened`` stays 0."""
    settings = settings or ServerSettings()
    app = web.Application(middlewares=[simulate], client_max_size=MAX_BODY)
    app[SETTINGS] = settings
    if link is None:
        app[STATS] = Stats()
        app[PLAN] = FaultPlan(settings)
        app[LIMITER] = RateLimiter(settings.rate_limit) if settings.rate_limit else None
    else:
        app[STATS] = RemoteStats(link)  # type: ignore[assignment]
        app[PLAN] = FaultPlan(settings, take=remote_take(link))
        app[LIMITER] = RemoteLimiter(link) if settings.rate_limit else None  # type: ignore[assignment]
    app[BODIES] = BodyCache()
    app[WAKEUPS] = Wakeups(batch=link.batch if link is not None else None)
    app[ROOTS] = {}
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
    # The busiest route first: aiohttp tries the routes under one prefix in the order they
    # were added, and these never match the same path as the list's.
    r.add_get(f"{API_PREFIX}/pokemon/{{key}}", pokemon_detail)
    r.add_get(f"{API_PREFIX}/pokemon/{{key}}/", pokemon_detail)
    r.add_get(f"{API_PREFIX}/pokemon", pokemon_list)
    r.add_get(f"{API_PREFIX}/pokemon/", pokemon_list)
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
    r.add_get("/sprites/{file}", sprite_handler(POKEDEX, SETTINGS))
    r.add_get("/_stats", get_stats)
    r.add_post("/_stats/reset", reset_stats)
    dashboard.setup(app, app[STATS], lambda: stats_body(app))
    return app
