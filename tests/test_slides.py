"""Slides: metadata derived from each notebook's structure, and a slideshow that really renders."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from helpers.slides import LONG_CODE, apply, slide_type, stale
from tests.browser import browser_page

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def test_slide_roles_follow_the_course_structure():
    cells = [
        new_markdown_cell("# 00 · Title\n\n## Overview"),
        new_code_cell("api = start_local_api()"),
        new_markdown_cell("## A section\n\nText."),
        new_code_cell("x = 1"),
        new_markdown_cell("One idea."),
        new_code_cell("\n".join(f"line_{i} = {i}" for i in range(LONG_CODE + 1))),
        new_markdown_cell("**1. Task.**", metadata={"tags": ["exercise"]}),
        new_code_cell("answer = 42", metadata={"tags": ["solution"]}),
        new_code_cell("assert answer == 42", metadata={"tags": ["check"]}),
        new_code_cell("api.stop()"),
    ]
    roles = [slide_type(cells, i) for i in range(len(cells))]
    assert roles == ["slide", "fragment", "slide", "fragment", "subslide", "subslide",
                     "subslide", "skip", "skip", "skip"]


def test_apply_is_idempotent_and_keeps_other_metadata():
    nb = new_notebook(cells=[new_markdown_cell("# T", metadata={"tags": ["x"]}),
                             new_code_cell("y = 2")])
    assert apply(nb) is True
    assert apply(nb) is False
    assert nb.cells[0].metadata["tags"] == ["x"]
    assert stale(nb) == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_every_notebook_carries_fresh_slide_metadata(path):
    nb = nbformat.read(path, as_version=4)
    assert stale(nb) == [], "run: python -m helpers.slides notebooks"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def jupyterlab(tmp_path_factory):
    """The pinned JupyterLab with jupyterlab-rise, on a free port, serving notebooks/."""
    port, token = _free_port(), "slides-test"
    home = tmp_path_factory.mktemp("lab-home")
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(home / "config"),
               JUPYTER_RUNTIME_DIR=str(home / "runtime"))
    args = [sys.executable, "-m", "jupyterlab", "--no-browser", f"--ServerApp.port={port}",
            "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={ROOT / 'notebooks'}", "--ServerApp.open_browser=False"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args.append("--allow-root")
    process = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2).close()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail("JupyterLab did not start within 60 s")
            time.sleep(0.3)
    yield url, token
    process.terminate()
    process.wait(timeout=20)


def test_a_slide_renders_its_markdown_and_its_code(jupyterlab):
    """RISE in the pinned JupyterLab: walk the slideshow of 04 to a slide with code on it."""
    url, token = jupyterlab
    path = ROOT / "notebooks" / "04_semaphore_gather.ipynb"
    nb = nbformat.read(path, as_version=4)
    title = nb.cells[0].source.splitlines()[0].lstrip("# ").strip()
    with browser_page() as page:
        page.goto(f"{url}/rise/{path.name}?token={token}")
        page.wait_for_selector(".reveal .slides section.present", timeout=60_000)
        first = page.locator(".reveal .slides section.present").last
        assert title in first.inner_text(), "the title slide shows the notebook's title"
        assert first.locator("h1").count() >= 1, "Markdown is rendered (a heading element)"
        for _ in range(40):  # walk until a slide shows rendered Markdown and a code cell
            page.keyboard.press("Space")
            page.wait_for_timeout(250)
            present = page.locator(".reveal .slides section.present").last
            code = present.locator(".jp-CodeCell:not(.fragment), .jp-CodeCell.fragment.visible")
            markdown = present.locator(".jp-MarkdownCell .jp-RenderedMarkdown")
            if code.count() and markdown.count():
                break
        else:
            pytest.fail("no slide in the first 40 steps showed both Markdown and code")
        shown_code = code.first.locator(".cm-content").inner_text()
        assert re.search(r"\w+", shown_code), "the code cell shows its source"
        assert shown_code.strip().splitlines()[0] in "\n".join(
            c.source for c in nb.cells if c.cell_type == "code"), "the code is the notebook's"
        assert markdown.first.inner_text().strip(), "the Markdown cell shows its text"
