"""The course's website (helpers.book): links, offline assets, and a real browser's view.

The unit tests of the link check run everywhere. The tests of a built site run under
``make site-check`` (``SITE_DIR`` points at ``build/site``), after ``make site``.
"""

from __future__ import annotations

import functools
import http.server
import os
import threading
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from helpers.book import check_site, write_toc
from tests.browser import browser_page

ROOT = Path(__file__).resolve().parent.parent
SITE = os.environ.get("SITE_DIR")
needs_site = pytest.mark.skipif(not SITE, reason="runs under `make site-check`, after make site")


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_the_link_check_finds_what_breaks_offline(tmp_path):
    _write(tmp_path / "index.html", """<a href="a.html#here">ok</a><a href="a.html#gone">x</a>
        <a href="missing.html">x</a><a href="https://docs.aiohttp.org/">external link: fine</a>
        <script src="https://cdn.example.org/lib.js"></script><img src="img/plot.png">
        <link rel="stylesheet" href="//fonts.example.org/font.css">""")
    _write(tmp_path / "a.html", '<h2 id="here">H</h2><div style="background:url(https://x.org/b.png)">')
    _write(tmp_path / "img" / "plot.png", "png")
    _write(tmp_path / "_static" / "s.css", "@font-face{src:url('https://fonts.example.org/f.woff')}")
    problems = check_site(tmp_path)
    assert "index.html: a.html#gone: no element with id 'gone' in a.html" in problems
    assert "index.html: broken link missing.html" in problems
    assert "index.html: loads https://cdn.example.org/lib.js from another host" in problems
    assert "index.html: loads //fonts.example.org/font.css from another host" in problems
    assert "a.html: loads https://x.org/b.png from another host" in problems
    assert "_static/s.css: loads https://fonts.example.org/f.woff from another host" in problems
    assert len(problems) == 6, problems


def test_the_table_of_contents_follows_reading_order(tmp_path):
    write_toc(tmp_path / "_toc.yml")
    toc = (tmp_path / "_toc.yml").read_text()
    notebooks = sorted(p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    positions = [toc.index(f"notebooks/{name}") for name in notebooks]
    assert positions == sorted(positions) and len(positions) == len(notebooks)
    assert "root: README" in toc and "file: STYLE" in toc


@needs_site
def test_the_built_site_has_no_broken_link_and_no_remote_asset():
    assert check_site(Path(SITE)) == []


@pytest.fixture(scope="module")
def served_site():
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=SITE)
    handler.log_message = lambda *args: None  # type: ignore[method-assign]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _watch_hosts(page) -> list[str]:
    hosts: list[str] = []
    page.on("request", lambda request: hosts.append(urlsplit(request.url).hostname or ""))
    return hosts


@needs_site
def test_a_notebook_page_shows_its_title_and_plots_offline(served_site):
    results = ROOT / "results"
    results.mkdir(exist_ok=True)
    with browser_page(1280, 1000) as page:
        hosts = _watch_hosts(page)
        page.goto(f"{served_site}/notebooks/04_semaphore_gather.html")
        page.wait_for_load_state("networkidle")
        assert "04 · Semaphore and gather" in page.locator("h1").first.inner_text()
        plots = page.locator("article img[src$='.png']")
        assert plots.count() >= 1, "the stored plots are on the page"
        plots.first.scroll_into_view_if_needed()
        page.wait_for_function("img => img.complete && img.naturalWidth > 0",
                               arg=plots.first.element_handle())
        assert page.locator(".bd-sidebar-primary a[href*='05_aiohttp_session']").count() == 1
        assert page.locator(".bd-toc, #pst-page-toc-nav, .page-toc").count() >= 1, "an outline"
        page.screenshot(path=str(results / "site-light.png"))
        page.emulate_media(color_scheme="dark")
        page.evaluate("localStorage.setItem('theme', 'dark'); "
                      "document.documentElement.dataset.theme = 'dark'")
        page.reload()
        page.wait_for_load_state("networkidle")
        assert page.evaluate("document.documentElement.dataset.theme") == "dark"
        background = page.evaluate("getComputedStyle(document.body).backgroundColor")
        channels = [int(c) for c in background[background.index("(") + 1:-1].split(",")[:3]]
        assert sum(channels) < 3 * 80, f"the dark theme is dark, got {background}"
        page.screenshot(path=str(results / "site-dark.png"))
    assert set(hosts) == {"127.0.0.1"}, f"requests left the machine: {sorted(set(hosts))}"


@needs_site
def test_search_finds_a_word_from_a_notebook(served_site):
    with browser_page() as page:
        hosts = _watch_hosts(page)
        page.goto(f"{served_site}/search.html?q=semaphore")
        page.wait_for_selector("#search-results li a", timeout=30_000)
        found = page.locator("#search-results li a").evaluate_all(
            "links => links.map(a => a.getAttribute('href'))")
        assert any("04_semaphore_gather" in href for href in found), found
    assert set(hosts) == {"127.0.0.1"}, f"requests left the machine: {sorted(set(hosts))}"
