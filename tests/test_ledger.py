"""``--workers N`` in one process: the supervisor's ledger and the workers' side of it.

What ``/_stats`` says with several workers is decided by the ledger (``helpers.server.ledger``)
from the events the workers send (``helpers.server.remote``). Starting worker processes takes
seconds, so these tests run the same code in this process: the ledger's protocol is called
directly where a real worker's events are the point, and otherwise two worker apps (each with
its own ``Link``, as a worker process has) serve real HTTP while a thread plays the
supervisor's loop (``Supervisor.drain``). ``tests/test_workers.py`` keeps what only real
processes show (SO_REUSEPORT, restarts, dying with the parent).
"""

from __future__ import annotations

import asyncio
import contextlib
import selectors
import socket
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest

from helpers.server import runner
from helpers.server.app import STATS
from helpers.server.ledger import MAX_MESSAGE, Ledger, decode, socket_pair
from helpers.server.remote import Link, RemoteStats, remote_take
from helpers.server.settings import ServerSettings
from helpers.server.workers import Supervisor, _encode_answer
from tests.conftest import ROOT, TEST_KEY, serve

ADDR = "127.0.0.1"


SEND_TIMEOUT = 1.0
"""A worker's events socket blocks while the supervisor's queue is full; here a send that
waits this long fails the test (a bug, never load: the queue holds megabytes)."""


def _pairs() -> tuple[socket.socket, ...]:
    """The events pair (ledger's end, worker's end) and one worker's replies pair."""
    ledger_end, worker_end = socket_pair()
    replies_ledger, replies_worker = socket_pair()
    worker_end.settimeout(SEND_TIMEOUT)
    return ledger_end, worker_end, replies_ledger, replies_worker


def _ledger(workers: int = 2, **options: object) -> Ledger:
    return Ledger(ServerSettings(text_api_key=TEST_KEY, **options), workers)  # type: ignore[arg-type]


def _ask(ledger: Ledger, worker: int, name: str, *args: object) -> object:
    """A worker's question, as a real one sends it: the ledger's answer."""
    [(seq, answer)] = ledger.apply(worker, [("?", 7, name, *args)])
    assert seq == 7
    return answer


# --------------------------------------------------------------------------- the ledger's protocol


def test_events_of_two_workers_add_up_to_one_servers_counters():
    """Whatever worker takes a request, /_stats counts it once: totals, statuses, per client
    and per worker; the peak is the peak of the sum (3 + 2 at once: 5)."""
    ledger = _ledger()
    ledger.apply(0, [("A", 1, "alice", ADDR), ("A", 2, "alice", ADDR), ("A", 3, None, ADDR)])
    ledger.apply(1, [("A", 1, "alice", ADDR), ("A", 2, "bob", ADDR), ("n", 2)])
    mid = ledger.as_dict()
    assert mid["in_flight"] == 5 and mid["peak_in_flight"] == 5
    assert mid["clients"]["alice"]["in_flight"] == 3
    # Worker 1's request 1 and worker 0's request 1 are two requests, not one.
    ledger.apply(1, [("L", 1, 200), ("L", 2, 404)])
    ledger.apply(0, [("L", 1, 200), ("L", 3, 500), ("L", 2, 200), ("n", 1)])
    stats = ledger.as_dict()
    assert stats["requests"] == 5 and stats["in_flight"] == 0 and stats["peak_in_flight"] == 5
    assert stats["by_status"] == {"200": 3, "404": 1, "500": 1}
    assert stats["connections_opened"] == 3
    alice, bob, anon = (stats["clients"][k] for k in ("alice", "bob", ADDR))
    assert (alice["requests"], alice["peak_in_flight"], alice["by_status"]) == (3, 3, {"200": 3})
    assert (bob["requests"], bob["in_flight"], bob["by_status"]) == (1, 0, {"404": 1})
    assert (anon["requests"], anon["errors"]) == (1, 1)
    assert stats["workers"] == {"count": 2, "restarts": 0, "lost_in_flight": 0,
                                "pids": [0, 0], "requests": [3, 2]}


def test_peaks_at_different_moments_in_two_workers_are_not_added():
    """Three requests in worker 0, answered, then three in worker 1: never more than three at
    once, so the peak is 3 (the sum of each worker's own peak, 6, would be wrong)."""
    ledger = _ledger()
    ledger.apply(0, [("A", i, "c", ADDR) for i in range(3)] + [("L", i, 200) for i in range(3)])
    ledger.apply(1, [("A", i, "c", ADDR) for i in range(3)] + [("L", i, 200) for i in range(3)])
    stats = ledger.as_dict()
    assert stats["peak_in_flight"] == 3 and stats["clients"]["c"]["peak_in_flight"] == 3
    assert stats["requests"] == 6 and stats["workers"]["requests"] == [3, 3]


def test_refused_dropped_and_failed_requests_are_counted_as_one_server_counts_them():
    """A 429 at the door (R) counts a request and its status and never enters; a dropped
    one (D) counts a drop and leaves; one that failed with an exception after entering (X)
    leaves without a status; one that failed before entering (Z) is a request and nothing
    else."""
    ledger = _ledger()
    ledger.apply(0, [("R", "r", ADDR, 429), ("A", 1, "d", ADDR), ("A", 2, "e", ADDR)])
    ledger.apply(1, [("Z", "z", ADDR), ("A", 1, "x", ADDR), ("D", 1)])
    ledger.apply(0, [("D", 1), ("X", 2), ("X", 99)])  # X of an unknown request: nothing
    # Without a name, a client is its address.
    ledger.apply(0, [("R", None, "10.0.0.7", 429)])
    ledger.apply(1, [("Z", None, "10.0.0.8")])
    stats = ledger.as_dict()
    assert stats["requests"] == 7 and stats["in_flight"] == 0 and stats["peak_in_flight"] == 3
    assert stats["by_status"] == {"429": 2} and stats["dropped"] == 2
    c = stats["clients"]
    assert (c["10.0.0.7"]["too_many"], c["10.0.0.8"]["requests"]) == (1, 1)
    assert (c["r"]["requests"], c["r"]["too_many"], c["r"]["peak_in_flight"]) == (1, 1, 0)
    assert (c["z"]["requests"], c["z"]["by_status"], c["z"]["peak_in_flight"]) == (1, {}, 0)
    assert (c["d"]["dropped"], c["d"]["in_flight"], c["x"]["dropped"]) == (1, 0, 1)
    assert (c["e"]["dropped"], c["e"]["in_flight"], c["e"]["by_status"]) == (0, 0, {})
    assert stats["workers"]["requests"] == [4, 3]


def test_capacity_is_checked_and_entered_at_once_for_every_worker():
    """``--capacity 2``: whatever worker asks, the third request in flight is refused (its
    429 counted once, as C) and never enters; a refused request that then fails (X) does not
    leave what it never entered."""
    ledger = _ledger(capacity=2)
    assert _ask(ledger, 0, "admit", 1, "a", ADDR, 2) is True
    assert _ask(ledger, 1, "admit", 1, "b", ADDR, 2) is True
    assert _ask(ledger, 1, "admit", 2, "b", ADDR, 2) is False
    assert ledger.as_dict()["in_flight"] == 2
    ledger.apply(1, [("C", 2, 429), ("L", 1, 200)])
    assert _ask(ledger, 1, "admit", 3, "b", ADDR, 2) is True
    assert _ask(ledger, 0, "admit", 2, "a", ADDR, 2) is False
    ledger.apply(0, [("X", 2), ("L", 1, 200)])
    ledger.apply(1, [("L", 3, 200)])
    stats = ledger.as_dict()
    assert stats["requests"] == 5 and stats["in_flight"] == 0 and stats["peak_in_flight"] == 2
    assert stats["by_status"] == {"200": 3, "429": 1}
    assert stats["clients"]["b"]["too_many"] == 1 and stats["clients"]["b"]["in_flight"] == 0
    assert stats["workers"]["requests"] == [2, 3]


def test_a_large_capacity_is_held_exactly():
    """``--capacity 300`` (a classroom's): the 301st request in flight is refused, whichever
    worker asks, and the 300th is not."""
    ledger = _ledger(capacity=300)
    admitted = [_ask(ledger, rid % 2, "admit", rid, "c", ADDR, 300) for rid in range(301)]
    assert admitted == [True] * 300 + [False]
    assert ledger.as_dict()["peak_in_flight"] == 300


def test_each_workers_dashboard_gets_every_peak():
    """Two dashboards, served by two workers, sample "the most in flight since my last
    sample": each sees the burst of 4, neither steals it from the other; the next window
    starts at what is in flight then."""
    ledger = _ledger()
    assert _ask(ledger, 1, "window") == 0  # nothing yet
    ledger.apply(0, [("A", i, "c", ADDR) for i in range(3)])
    ledger.apply(1, [("A", 0, "c", ADDR)])
    ledger.apply(0, [("L", i, 200) for i in range(3)])
    assert _ask(ledger, 0, "window") == 4
    ledger.apply(0, [("A", 5, "c", ADDR)])
    assert _ask(ledger, 1, "window") == 4
    assert _ask(ledger, 0, "window") == 2
    assert _ask(ledger, 1, "window") == 2
    assert _ask(ledger, 0, "in_flight") == 2 and _ask(ledger, 1, "requests") == 5


def test_a_dead_workers_requests_in_flight_leave_and_are_counted_lost():
    """A worker dies with four requests in flight (and one refused at capacity, not in
    flight): the four leave the counters, ``workers.lost_in_flight`` says 4; the other
    worker's request is still in flight and finishes normally. Likewise the other way."""
    ledger = _ledger(capacity=5)
    ledger.apply(0, [("A", 1, "a", ADDR), ("A", 2, "b", ADDR)])
    ledger.apply(1, [("A", 1, "a", ADDR)])
    assert [_ask(ledger, 0, "admit", rid, "a", ADDR, 5) for rid in (3, 4, 5)] == [
        True, True, False]
    assert ledger.worker_died(0) == 4
    assert ledger.as_dict()["in_flight"] == 1
    assert ledger.worker_died(0) == 0
    ledger.apply(1, [("L", 1, 200)])
    stats = ledger.as_dict()
    assert stats["in_flight"] == 0 and stats["clients"]["a"]["in_flight"] == 0
    assert stats["by_status"] == {"200": 1}
    assert stats["workers"]["lost_in_flight"] == 4
    # The dead worker's numbers are free again: its successor's request 1 is a new request.
    ledger.apply(0, [("A", 1, "a", ADDR), ("L", 1, 200)])
    assert ledger.as_dict()["by_status"] == {"200": 2}
    # Worker 1 dies too: only its own request is lost, worker 0's goes on.
    ledger.apply(0, [("A", 2, "a", ADDR)])
    ledger.apply(1, [("A", 2, "a", ADDR)])
    assert ledger.worker_died(1) == 1
    ledger.apply(0, [("L", 2, 200)])
    stats = ledger.as_dict()
    assert stats["in_flight"] == 0 and stats["by_status"] == {"200": 3}
    assert stats["workers"]["lost_in_flight"] == 5


def test_reset_zeroes_every_workers_counters_and_keeps_what_is_in_flight():
    """``/_stats/reset`` through any worker: counters and per-worker requests are zero,
    requests still in flight stay counted (and are the new peak, for the dashboards too),
    restarts and lost requests are kept (they describe the processes)."""
    ledger = _ledger()
    ledger.apply(0, [("A", 1, "a", ADDR), ("A", 2, "a", ADDR), ("L", 2, 200)])
    ledger.apply(1, [("A", 1, "b", ADDR), ("A", 2, "b", ADDR), ("L", 1, 200), ("L", 2, 200)])
    ledger.restarts, ledger.lost_in_flight = 1, 3
    after = _ask(ledger, 1, "reset")
    assert after["requests"] == 0 and after["by_status"] == {}
    assert after["in_flight"] == 1 and after["peak_in_flight"] == 1
    assert list(after["clients"]) == ["a"]
    assert after["workers"]["requests"] == [0, 0]
    assert (after["workers"]["restarts"], after["workers"]["lost_in_flight"]) == (1, 3)
    assert _ask(ledger, 0, "window") == 1 and _ask(ledger, 1, "window") == 1
    ledger.apply(0, [("L", 1, 200)])
    assert _ask(ledger, 0, "stats")["in_flight"] == 0


def test_fault_counts_and_rate_buckets_are_shared_and_reset():
    """The k-th draw of a request and the rate limit's bucket are the same whatever worker
    asks; a reset replays the draws from the start and refills the buckets."""
    ledger = _ledger(rate_limit=2)
    assert [_ask(ledger, w, "take", "GET /x") for w in (0, 1, 1, 0)] == [0, 1, 2, 3]
    assert _ask(ledger, 1, "take", "GET /y") == 0
    waits = [_ask(ledger, w, "acquire", ADDR, 100.0) for w in (0, 1, 0)]
    assert waits[:2] == [0.0, 0.0] and waits[2] > 0
    assert _ask(ledger, 1, "acquire", "10.0.0.9", 100.0) == 0.0  # another client's bucket
    _ask(ledger, 0, "reset")
    assert _ask(ledger, 1, "take", "GET /x") == 0
    assert _ask(ledger, 1, "acquire", ADDR, 100.0) == 0.0
    unlimited = _ledger()
    assert [_ask(unlimited, 0, "acquire", ADDR, 100.0) for _ in range(3)] == [0.0] * 3


def test_the_ledger_refuses_what_no_worker_sends():
    """A message the ledger does not understand is an error, never silently miscounted."""
    ledger = _ledger()
    for kind in ("!", "Q", "~"):
        with pytest.raises(ValueError, match="event"):
            ledger.apply(0, [(kind, 1)])
    for name in ("a", "nonsense", "zzz"):
        with pytest.raises(ValueError, match="question"):
            _ask(ledger, 0, name)


# --------------------------------------------------------------------------- a worker's side


def test_a_requests_steps_leave_the_worker_before_it_waits_or_is_answered():
    """What makes /_stats exact after any answer: a request's entry and its answer are sent
    to the ledger at once (not at the end of the loop's turn); the answers due at one moment
    (``batch``) go together in one message when the last is counted; a count of connections
    goes by the end of the turn at the latest, with whatever comes first."""
    ledger_end, worker_end, replies_ledger, replies_worker = _pairs()
    ledger_end.setblocking(False)

    def sent() -> list[list[tuple]]:
        messages = []
        with contextlib.suppress(BlockingIOError):
            while True:
                worker, events = decode(ledger_end.recv(MAX_MESSAGE))
                assert worker == 3
                messages.append(events)
        return messages

    async def main() -> None:
        link = Link(3, worker_end, replies_worker)
        link.post(("n", 1))
        link.post(("n", 2))
        assert sent() == []
        await asyncio.sleep(0)
        assert sent() == [[("n", 1), ("n", 2)]]
        link.post(("A", 1, "a", ADDR), now=True)
        assert sent() == [[("A", 1, "a", ADDR)]]
        link.post(("n", 3))
        await asyncio.sleep(0)
        assert sent() == [[("n", 3)]]
        with link.batch():
            link.post(("L", 1, 200), now=True)
            link.post(("L", 2, 200), now=True)
            assert sent() == []
        assert sent() == [[("L", 1, 200), ("L", 2, 200)]]
        link.post(("n", 4))
        link.post(("D", 3), now=True)
        assert sent() == [[("n", 4), ("D", 3)]]
        await asyncio.sleep(0)
        assert sent() == []

    try:
        asyncio.run(main())
    finally:
        for s in (ledger_end, worker_end, replies_ledger, replies_worker):
            s.close()


def test_each_step_of_a_request_is_sent_before_the_worker_goes_on():
    """A request's entry, its answer, its refusal at the door, its drop and its failure each
    reach the ledger as the middleware reports them, before the worker does anything else
    (waits, writes the answer, cuts the connection): so no client can see an answer or a
    drop that /_stats, asked through another worker, does not count yet."""
    ledger_end, worker_end, replies_ledger, replies_worker = _pairs()
    ledger_end.setblocking(False)

    def kinds_sent() -> list[str]:
        kinds = []
        with contextlib.suppress(BlockingIOError):
            while True:
                kinds += [event[0] for event in decode(ledger_end.recv(MAX_MESSAGE))[1]]
        return kinds

    async def main() -> None:
        stats = RemoteStats(Link(0, worker_end, replies_worker))
        answered, dropped, refused, early, failed = (stats.arrive(n, ADDR) for n in "adrzx")
        stats.enter(answered)
        assert kinds_sent() == ["A"]
        stats.leave(answered)
        stats.count(200, answered)
        assert kinds_sent() == ["L"]
        stats.release(answered)
        stats.enter(dropped)
        stats.drop(dropped)
        assert kinds_sent() == ["A", "D"]
        stats.leave(dropped)
        stats.release(dropped)
        stats.count(429, refused)
        assert kinds_sent() == ["R"]
        stats.release(early)
        assert kinds_sent() == ["Z"]
        stats.enter(failed)
        stats.leave(failed)
        stats.release(failed)
        assert kinds_sent() == ["A", "X"]
        await asyncio.sleep(0)
        assert kinds_sent() == []  # nothing more: every step was sent once

    try:
        asyncio.run(main())
    finally:
        for s in (ledger_end, worker_end, replies_ledger, replies_worker):
            s.close()


def test_a_worker_whose_supervisor_is_gone_fails_instead_of_waiting():
    """A worker that asks a question of a supervisor that has died gets an error at once
    (its request fails) rather than waiting for an answer that cannot come."""
    ledger_end, worker_end, replies_ledger, replies_worker = _pairs()
    replies_ledger.close()
    try:
        with pytest.raises(ConnectionError, match="supervisor"):
            Link(0, worker_end, replies_worker).ask("stats")
    finally:
        for s in (ledger_end, worker_end, replies_worker):
            s.close()


def test_requests_that_fail_with_an_exception_are_counted_like_one_servers():
    """The middleware's calls for requests that end in an exception (no answer written):
    one that had entered leaves ``in_flight``; one refused at capacity and one that failed
    before entering are requests, never in flight; neither gets a status. An answered
    request is counted once, its ``release`` adds nothing."""
    with _supervised(1) as [link]:
        stats = RemoteStats(link)
        entered = stats.arrive("a", ADDR)
        stats.enter(entered)
        assert stats.in_flight == 1 and stats.requests == 1
        stats.leave(entered)
        stats.release(entered)
        early = stats.arrive("b", ADDR)
        stats.release(early)
        busy = stats.arrive("c", ADDR)
        assert stats.admit(busy, 1) is True
        refused = stats.arrive("c", ADDR)
        assert stats.admit(refused, 1) is False
        stats.release(refused)
        stats.leave(busy)
        stats.count(200, busy)
        stats.release(busy)
        body = stats.as_dict()
    assert body["requests"] == 4 and body["in_flight"] == 0 and body["peak_in_flight"] == 1
    assert body["by_status"] == {"200": 1}
    assert {k: c["requests"] for k, c in body["clients"].items()} == {"a": 1, "b": 1, "c": 2}
    assert all(c["in_flight"] == 0 for c in body["clients"].values())


def test_a_restarted_worker_never_takes_its_predecessors_answer():
    """A worker killed while it waited for an answer leaves that answer in its slot's reply
    socket; the worker started in its place skips it and gets its own (here: the next draw
    of a request, not the one before). Whichever of the two process ids is larger: the
    successor is a newer process here, then (as after the ids wrap around) an older one."""
    ledger_end, worker_end, replies_ledger, replies_worker = _pairs()
    ledger = _ledger()
    ledger_end.settimeout(20)
    fds = (worker_end.fileno(), replies_worker.fileno())
    script = ("import socket, sys\n"
              "from helpers.server.remote import Link, remote_take\n"
              "e, r = (socket.socket(fileno=int(f)) for f in sys.argv[1:])\n"
              "print(remote_take(Link(0, e, r))('GET /x'))\n")

    def worker() -> subprocess.Popen[str]:
        return subprocess.Popen([sys.executable, "-c", script, *map(str, fds)], cwd=ROOT,
                                pass_fds=fds, stdout=subprocess.PIPE, text=True)

    def answer_one_message() -> None:
        sender, events = decode(ledger_end.recv(MAX_MESSAGE))
        for seq, answer in ledger.apply(sender, events):
            replies_ledger.send(_encode_answer(seq, answer))

    def killed_while_waiting() -> None:
        predecessor = worker()
        try:
            worker_id, events = decode(ledger_end.recv(MAX_MESSAGE))  # its question
        finally:
            predecessor.kill()
            predecessor.communicate()
        for seq, answer in ledger.apply(worker_id, events):
            replies_ledger.send(_encode_answer(seq, answer))  # left unread

    try:
        killed_while_waiting()  # draw 0
        successor = worker()
        try:
            answer_one_message()
            out, _ = successor.communicate(timeout=20)
        finally:
            successor.kill()
            successor.communicate()
        assert out.strip() == "1"
        killed_while_waiting()  # draw 2, by a process newer than this one
        got: list[int] = []
        here = threading.Thread(
            target=lambda: got.append(remote_take(Link(0, worker_end, replies_worker))("GET /x")))
        here.start()
        answer_one_message()
        here.join(20)
        assert got == [3]
    finally:
        for s in (ledger_end, worker_end, replies_ledger, replies_worker):
            s.close()


# --------------------------------------------------------------------------- workers in one process


@contextlib.contextmanager
def _supervised(n: int = 2, **options: object) -> Iterator[list[Link]]:
    """The links of ``n`` workers, as worker processes have them, and a thread that does
    what the supervisor's loop does: drain the events and answer the questions.

    The worker ends of the sockets are the supervisor's private attributes: a real worker
    gets them as inherited file descriptors, which one process cannot show.
    """
    settings = ServerSettings(text_api_key=TEST_KEY, **options)  # type: ignore[arg-type]
    sup = Supervisor(settings, n)
    done = threading.Event()
    failed: list[BaseException] = []

    def supervise() -> None:
        try:
            with selectors.DefaultSelector() as sel:
                sel.register(sup.events, selectors.EVENT_READ)
                while not done.is_set():
                    if sel.select(0.02):
                        sup.drain()
        except BaseException as exc:  # as a supervisor that dies: its workers' asks fail
            failed.append(exc)
            for s in sup.replies:
                s.shutdown(socket.SHUT_RDWR)

    thread = threading.Thread(target=supervise, daemon=True)
    thread.start()
    sup._events_child.settimeout(SEND_TIMEOUT)
    try:
        yield [Link(i, sup._events_child, sup._replies_child[i]) for i in range(n)]
    finally:
        done.set()
        thread.join()
        for s in (sup.events, sup._events_child, *sup.replies, *sup._replies_child):
            s.close()
    if failed:
        raise failed[0]


@contextlib.asynccontextmanager
async def _workers(n: int = 2, **options: object) -> AsyncIterator[list[runner.RunningServer]]:
    """``n`` worker apps on their own ports (see ``_supervised``)."""
    settings = ServerSettings(text_api_key=TEST_KEY, **options)  # type: ignore[arg-type]
    with _supervised(n, **options) as links:
        servers: list[runner.RunningServer] = []
        try:
            for link in links:
                servers.append(await runner.start(settings, link=link))
            yield servers
        finally:
            for server in servers:
                await server.close()


async def _get(session: aiohttp.ClientSession, url: str) -> int:
    async with session.get(url) as response:
        await response.read()
        return response.status


async def _stats(session: aiohttp.ClientSession, server: runner.RunningServer) -> dict:
    async with session.get(server.origin + "/_stats") as response:
        return await response.json()


def test_two_workers_answer_and_count_like_one_server():
    """6 requests to one worker and 4 to the other, all in flight at once (latency 0.8 s,
    sent on 10 connections): each worker's /_stats says 10 requests, peak 10, every client
    and status, as one server would; the connections are counted once each.

    Margin: the 10 requests leave the client within a few milliseconds, and each is held
    0.8 s, over a hundred times longer; a machine too slow for that would see a lower peak
    (never a higher one), so the test can fail on a starved machine but never pass wrongly."""

    async def main():
        async with _workers(latency=0.8) as (w0, w1), aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0),
                headers={"X-Client-Name": "alice"}) as session:
            urls = [w0.base_url + f"/pokemon/{i}" for i in range(1, 7)]
            urls += [w1.base_url + f"/pokemon/{i}" for i in range(7, 10)]
            urls += [w1.base_url + "/pokemon/0"]
            statuses = await asyncio.gather(*(_get(session, u) for u in urls))
            return statuses, await _stats(session, w0), await _stats(session, w1)

    statuses, s0, s1 = asyncio.run(main())
    assert statuses == [200] * 9 + [404]
    assert s0 == s1 | {"settings": s0["settings"]}
    assert s0["requests"] == 10 and s0["in_flight"] == 0 and s0["peak_in_flight"] == 10
    assert s0["by_status"] == {"200": 9, "404": 1}
    assert s0["connections_opened"] == 10
    assert s0["clients"]["alice"]["peak_in_flight"] == 10
    assert s0["workers"]["requests"] == [6, 4] and s0["workers"]["count"] == 2


def test_faults_with_two_workers_are_those_of_one_server():
    """With a seed, the k-th ``GET /pokemon/1`` draws the same fate whichever worker takes it:
    sent alternately to two workers, the statuses are those one server gives; dropped
    requests are counted as drops, and a reset replays the same statuses."""
    paths = [f"/pokemon/{1 + i % 3}" for i in range(24)]
    options = {"seed": 5, "error_rate": 0.3, "drop_rate": 0.2}

    async def raw_get(port: int, path: str) -> int | str:
        # By raw socket: aiohttp sends a request again, unasked, when the connection closes
        # without an answer, and that would be another draw.
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(f"GET /api/v2{path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                     .encode())
        line = await reader.readline()
        writer.close()
        return int(line.split()[1]) if line else "dropped"

    async def run(servers):
        return [await raw_get(servers[i % len(servers)].port, p) for i, p in enumerate(paths)]

    async def main():
        async with serve(**options) as one:
            alone = await run([one])
        async with _workers(**options) as (w0, w1), aiohttp.ClientSession() as session:
            together = await run([w0, w1])
            stats = await _stats(session, w1)
            async with session.post(w0.origin + "/_stats/reset") as r:
                assert r.status == 200
            again = await run([w1, w0])
        return alone, together, stats, again

    alone, together, stats, again = asyncio.run(main())
    assert together == alone == again
    assert {200, 500, "dropped"} == set(alone)
    assert stats["dropped"] == alone.count("dropped")
    assert stats["by_status"] == {"200": alone.count(200), "500": alone.count(500)}
    assert stats["in_flight"] == 0


def test_capacity_and_rate_limit_hold_across_two_workers():
    """``--capacity 3``: 8 requests at once over two workers, 3 answered and 5 refused
    (429); ``--rate-limit 2``: a client's bucket is one, whichever worker it reaches.

    Margin: the 8 requests are all sent within a few milliseconds and each answer is held
    0.8 s, so the first 3 are still being served when the other 5 arrive. The 4 rate-limited
    requests are sent one after another with no latency: the bucket (2 per second, burst 2)
    cannot have refilled a whole token between the 2nd and the 4th unless they are 0.5 s
    apart; ``429 in limited[2:]`` holds as long as the four take under half a second."""

    async def main():
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
            async with _workers(latency=0.8, capacity=3) as (w0, w1):
                urls = [(w0, w1)[i % 2].base_url + f"/pokemon/{i + 1}" for i in range(8)]
                capped = await asyncio.gather(*(_get(session, u) for u in urls))
                cap_stats = await _stats(session, w0)
            async with _workers(rate_limit=2) as (w0, w1):
                limited = [await _get(session, w.base_url + "/pokemon/1")
                           for w in (w0, w1, w0, w1)]
                rate_stats = await _stats(session, w1)
        return capped, cap_stats, limited, rate_stats

    capped, cap_stats, limited, rate_stats = asyncio.run(main())
    assert sorted(capped) == [200] * 3 + [429] * 5
    assert cap_stats["requests"] == 8 and cap_stats["clients"][ADDR]["too_many"] == 5
    assert cap_stats["peak_in_flight"] == 3 and cap_stats["in_flight"] == 0
    assert cap_stats["by_status"] == {"200": 3, "429": 5}
    assert cap_stats["workers"]["requests"] == [4, 4]
    assert limited[:2] == [200, 200] and 429 in limited[2:]
    assert rate_stats["requests"] == 4 and rate_stats["by_status"]["429"] == limited.count(429)


def test_a_workers_dashboard_samples_the_whole_servers_counters():
    """A worker's dashboard (its hub samples requests, in flight and the window's peak from
    the ledger) shows the requests the other worker is serving."""

    async def main():
        async with _workers(latency=0.8) as (w0, w1), aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0)) as session:
            burst = asyncio.gather(*(_get(session, w1.base_url + f"/pokemon/{i}")
                                     for i in range(1, 6)))
            counters = w0.runner.app[STATS]  # what its dashboard samples
            while counters.in_flight < 5:  # the requests reach the other worker
                await asyncio.sleep(0.01)
            seen = (counters.requests, counters.in_flight, counters.take_window_peak())
            await burst
            return seen, counters.in_flight

    seen, after = asyncio.run(main())
    assert seen == (5, 5, 5) and after == 0
