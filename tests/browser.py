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

INSTALL_HINT = "install it with: sudo apt-get install -y chromium (Debian/Ubuntu)"


def chromium_path() -> str:
    """The system Chromium, or skip (fail in CI) with how to install it."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    message = f"no Chromium on this machine; {INSTALL_HINT}"
    if os.environ.get("CI"):
        pytest.fail(message + " (CI must run the browser tests)")
    pytest.skip(message)


@contextmanager
def browser_page(width: int = 1280, height: int = 800) -> Iterator[object]:
    """A fresh Playwright page in headless Chromium; closed afterwards."""
    executable = chromium_path()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        message = "playwright is not installed: pip install -r requirements-dev.txt"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
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
