"""A real browser for the tests: Debian's Chromium driven by Playwright, or a clear skip.

Playwright's own browser download cannot work offline, so the tests drive the system's
``chromium`` (``apt-get install -y chromium``). Where it is missing the browser tests skip
with the command that installs it, except in CI (``CI=true``), where they must run and a
missing browser fails.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

INSTALL = ("install it with: apt-get update && apt-get install -y chromium, and "
           ".venv/bin/python -m pip install -c constraints.txt -r requirements-dev.txt "
           "(make test does this)")


def chromium_path() -> str:
    """Chromium's path, or skip (fail in CI) with how to install what is missing."""
    in_ci = os.environ.get("CI", "").lower() == "true"
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    problem = None
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        problem = "the playwright package is not installed"
    if path is None:
        problem = "Chromium is not installed"
    if problem:
        message = f"{problem}; {INSTALL}"
        if in_ci:
            pytest.fail(f"CI=true and {message}")
        pytest.skip(message)
    return path


@contextmanager
def browser_page(width: int = 1280, height: int = 800) -> Iterator[object]:
    """A fresh Playwright page in headless Chromium; closed afterwards."""
    executable = chromium_path()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable,
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run"],
        )
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            yield page
        finally:
            browser.close()
