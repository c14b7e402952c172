"""The dashboard in a real browser: headless Chromium, driven by Playwright, watches a server
while named clients (one of them named like a script) send it traffic.

Chromium is Debian's package (``apt-get install chromium``), not a browser Playwright
downloads. Without it the test skips and says how to install it; in CI (``CI=true``), where
``.ci/run`` installs it, a missing Chromium is a failure.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from typing import Any

import aiohttp
import pytest

from helpers import gather_with_concurrency, start_local_api
from helpers.launcher import LocalAPI
from tests.browser import chromium_path

HOSTILE = "<script>alert(1)</script>"
HOSTILE_IMG = '<img src=x onerror="window.__sentinel=\'pwned\'">'
# Run before the page's own script: any alert() or injected handler would leave a mark.
SENTINEL = """
window.__sentinel = "untouched";
window.alert = () => { window.__sentinel = "alert called"; };
"""


# JavaScript run in the page: everything it shows, as text.
READ_PAGE = """
() => {
  const t = (id) => document.getElementById(id).textContent;
  const rows = Array.from(document.querySelectorAll("#clients tbody tr"));
  return {
    connection: t("connection"),
    updates: Number(t("updates")),
    rps: t("rps"),
    requests: Number(t("requests")),
    in_flight: Number(t("in-flight")),
    peak: Number(t("peak")),
    connections: Number(t("connections")),
    s200: Number(t("status-200")), s404: Number(t("status-404")),
    s429: Number(t("status-429")), s500: Number(t("status-500")),
    dropped: Number(t("dropped")),
    chart: document.getElementById("line").getAttribute("points"),
    clients: Object.fromEntries(rows.map((r) => [r.cells[0].textContent,
      Array.from(r.cells).slice(1).map((c) => Number(c.textContent))])),
    injected: document.querySelectorAll("#clients script, #clients img").length,
    sentinel: window.__sentinel,
  };
}
"""


async def _traffic(
    api: LocalAPI, name: str, n: int, limit: int, pause: float = 0.0
) -> list[int]:
    """``n`` GETs from the client ``name``, ``limit`` at a time (some 404s by design), each
    followed by ``pause`` seconds."""
    async with aiohttp.ClientSession(headers={"X-Client-Name": name}) as session:

        async def one(i: int) -> int:
            async with session.get(f"{api.base_url}/pokemon/{i % 160 + 1}") as response:
                await response.read()
            await asyncio.sleep(pause)
            return response.status

        return await gather_with_concurrency(limit, *(one(i) for i in range(n)))


async def _wave(api: LocalAPI, scale: int) -> None:
    """75 requests per ``scale``, plus 15 a tenth of a second apart (at least 1.5 s)."""
    await asyncio.gather(
        _traffic(api, "alice", 40 * scale, 10),
        _traffic(api, "bob", 20 * scale, 3),
        _traffic(api, HOSTILE, 10 * scale, 2),
        _traffic(api, HOSTILE_IMG, 5 * scale, 1),
        _traffic(api, "carol", 15, 1, pause=0.1),
    )


def _expected(stats: dict[str, Any]) -> dict[str, Any]:
    """What the page must show once it has caught up with these ``/_stats``."""
    by = stats["by_status"]
    return {
        "requests": stats["requests"], "in_flight": stats["in_flight"],
        "peak": stats["peak_in_flight"], "connections": stats["connections_opened"],
        "s200": by.get("200", 0), "s404": by.get("404", 0), "s429": by.get("429", 0),
        "s500": by.get("500", 0), "dropped": stats["dropped"],
        "clients": {name: [c["requests"], c["in_flight"], c["peak_in_flight"], c["too_many"],
                           c["errors"]] for name, c in stats["clients"].items()},
    }


async def _settle(page: Any, expected: dict[str, Any]) -> tuple[dict[str, Any], dict]:
    """Read the page until it shows ``expected`` (nothing moves now), at most 5 s."""
    deadline = time.monotonic() + 5
    while True:
        shown = await page.evaluate(READ_PAGE)
        if {k: shown[k] for k in expected} == expected or time.monotonic() > deadline:
            return shown, expected
        await asyncio.sleep(0.1)


async def _watch(api: LocalAPI, chromium: str) -> dict[str, Any]:
    from playwright.async_api import async_playwright

    seen: dict[str, Any] = {"dialogs": [], "errors": []}
    async with async_playwright() as p:
        browser = await p.chromium.launch(
            executable_path=chromium,
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run"],
        )
        try:
            page = await browser.new_page()
            await page.add_init_script(SENTINEL)
            page.on("dialog", lambda d: seen["dialogs"].append(d.message))
            page.on("pageerror", lambda e: seen["errors"].append(str(e)))
            page.on("console", lambda m: m.type == "error" and seen["errors"].append(m.text))
            await page.goto(api.dashboard_url)
            # Polled by hand: Playwright's wait_for_function evaluates a string, which the
            # page's Content-Security-Policy (no 'unsafe-eval') rightly forbids.
            deadline = time.monotonic() + 10
            while (shown := await page.evaluate(READ_PAGE))["updates"] < 2:
                assert time.monotonic() < deadline, "the page received no frame in 10 s"
                await asyncio.sleep(0.05)
            seen["idle"] = shown

            await _wave(api, 1)
            stats = await api.wait_idle_async()
            seen["first"], seen["first_expected"] = await _settle(page, _expected(stats))

            # While the second wave runs, read the page every 0.1 s: its numbers climb, and
            # never run ahead of what /_stats says right after.
            polls: list[tuple[dict[str, Any], int]] = []

            async def poll() -> None:
                while True:
                    shown = await page.evaluate(READ_PAGE)
                    polls.append((shown, api.stats()["requests"]))
                    await asyncio.sleep(0.1)

            poller = asyncio.create_task(poll())
            await _wave(api, 2)
            await asyncio.sleep(0.3)
            poller.cancel()
            seen["polls"] = polls
            stats = await api.wait_idle_async()
            seen["final"], seen["expected"] = await _settle(page, _expected(stats))

            # Liveness: frames keep coming while nothing happens.
            before = await page.evaluate(READ_PAGE)
            t0 = time.monotonic()
            await asyncio.sleep(2.0)
            after = await page.evaluate(READ_PAGE)
            seen["frames_per_s"] = (after["updates"] - before["updates"]) / (
                time.monotonic() - t0)
            seen["html"] = await page.content()
        finally:
            await browser.close()
    return seen


def test_dashboard_in_chromium_shows_live_numbers_that_agree_with_stats():
    chromium = chromium_path()
    with start_local_api(latency=0.05, capacity=8) as api:
        seen = asyncio.run(_watch(api, chromium))
        key = api.text_api_key

    assert seen["dialogs"] == [], "the page opened a dialog: a client name ran as script"
    assert seen["errors"] == [], seen["errors"]  # no script error, no CSP violation

    # Before any traffic: zeros, and no client.
    idle = seen["idle"]
    assert (idle["requests"], idle["peak"], idle["clients"]) == (0, 0, {})

    # Once the traffic stops, the page shows exactly what /_stats says.
    first, final = seen["first"], seen["final"]
    assert {k: first[k] for k in seen["first_expected"]} == seen["first_expected"]
    assert first["requests"] == 90
    assert {k: final[k] for k in seen["expected"]} == seen["expected"]
    assert final["requests"] == 90 + 165
    # While it runs, the numbers change: several different totals, never going back, never
    # ahead of the server, and a non-zero rate.
    totals = [shown["requests"] for shown, _ in seen["polls"]]
    assert len(set(totals)) >= 3, totals
    assert totals == sorted(totals)
    assert all(shown["requests"] <= server for shown, server in seen["polls"])
    assert max(float(shown["rps"]) for shown, _ in seen["polls"]) > 0
    assert final["s429"] > 0  # capacity 8, and 16 at a time were sent: some were refused
    assert final["peak"] == 8
    assert final["clients"]["alice"][2] <= 8  # alice's own peak: at most the capacity
    assert final["chart"] != first["chart"] and final["chart"].count(",") > 10

    # The hostile names are text in the table, and nothing they contain ran.
    assert HOSTILE in final["clients"] and HOSTILE_IMG in final["clients"]
    assert final["injected"] == 0
    assert final["sentinel"] == "untouched"
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in seen["html"]
    assert key not in seen["html"]

    # At least four updates a second reach the page (five are sent); the machine is shared,
    # so three is the floor that still tells a live page from one updating once a second.
    assert seen["frames_per_s"] >= 3.0, seen["frames_per_s"]
    assert final["connection"] == "live"


def test_without_chromium_the_test_skips_and_says_how_to_install(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"apt-get install -y chromium"):
        chromium_path()
    monkeypatch.setenv("CI", "true")  # in CI a missing browser is a failure, never a skip
    with pytest.raises(pytest.fail.Exception, match=r"CI=true and Chromium is not installed"):
        chromium_path()
