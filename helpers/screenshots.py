"""``make screenshots``: every notebook as a learner sees it in JupyterLab, light and dark.

Why: nbval checks what the notebooks compute, not what they look like. A figure that reads
well on white can vanish on JupyterLab's dark theme, a legend can cover the data, a Mermaid
diagram can fail to render. A person has to look, and this makes the looking cheap: one PNG
per notebook and theme under ``results/screenshots/`` (``NN_name-light.png``,
``NN_name-dark.png``).

How: the pinned JupyterLab of ``.venv`` is started headless on a free port of 127.0.0.1 with a
random token, serving a throw-away copy of ``notebooks/`` (opening a notebook starts its kernel
and may touch the file; the course's copies stay as they are). Its user settings live in a
temporary folder: the theme, every cell attached to the page (``windowingMode: none``, so the
picture is not cut where the virtual scroller stops drawing) and no news pop-up. Playwright
drives Debian's ``/usr/bin/chromium`` (Playwright's own browser download cannot work here),
waits for the notebook's cells, images and Mermaid diagrams, makes the window as tall as the
notebook and takes the picture. Each picture's theme is checked twice: JupyterLab's own flag
on the page, and the brightness of the pixels (a "dark" picture that is mostly white fails).

Run: ``make screenshots`` (installs Chromium with apt-get where it is missing and the pinned
Playwright of requirements-dev.txt), or ``.venv/bin/python -m helpers.screenshots --help``.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
OUT = ROOT / "results" / "screenshots"
CHROMIUM = "/usr/bin/chromium"

#: JupyterLab's names of the two themes every notebook is pictured in.
THEMES = {"light": "JupyterLab Light", "dark": "JupyterLab Dark"}
WIDTH = 1280
#: The tallest picture taken, in CSS pixels; a longer notebook is cut there (and says so).
MAX_HEIGHT = 30_000
#: Mean brightness (0 black .. 255 white) a picture of each theme must stay on its side of.
DARK_MAX_BRIGHTNESS = 110.0
LIGHT_MIN_BRIGHTNESS = 170.0


@dataclass(frozen=True)
class Shot:
    """One picture taken: which notebook, which theme, where, how tall and how bright."""

    notebook: str
    theme: str
    path: Path
    height: int
    content_height: int
    brightness: float
    broken_diagrams: int = 0


def notebooks(folder: Path = NOTEBOOKS) -> list[Path]:
    """The course's notebooks in order (``NN_name.ipynb``), whatever their number."""
    return sorted(folder.glob("[0-9][0-9]_*.ipynb"))


def user_settings(theme: str) -> dict[str, dict[str, object]]:
    """JupyterLab user settings for a picture: ``{plugin id: settings}``."""
    if theme not in THEMES:
        raise ValueError(f"theme must be one of {sorted(THEMES)}, got {theme!r}")
    return {
        "@jupyterlab/apputils-extension:themes": {"theme": THEMES[theme]},
        "@jupyterlab/apputils-extension:notification": {
            "fetchNews": "false", "checkForUpdates": False},
        "@jupyterlab/notebook-extension:tracker": {
            "windowingMode": "none", "maxNumberOutputs": 10_000, "scrollPastEnd": False,
            "showMinimap": False},
    }


def write_user_settings(folder: Path, theme: str) -> None:
    """Write :func:`user_settings` where ``--LabApp.user_settings_dir=folder`` reads them."""
    for plugin, values in user_settings(theme).items():
        package, name = plugin.split(":")
        path = folder / package / f"{name}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values, indent=2), encoding="utf-8")


def brightness(png: Path, columns: tuple[int, int] | None = None) -> float:
    """Median brightness, 0 (black) to 255 (white), of a picture or of a band of its columns.

    The band used is the notebook's prompt column (``[1]:``), the page's own background from
    top to bottom: the figures, opaque white by design, never reach into it, and could
    otherwise fill half a dark page and make it look light.
    """
    from PIL import Image, ImageStat

    with Image.open(png) as image:
        region = image if columns is None else image.crop((columns[0], 0, columns[1],
                                                           image.height))
        return float(ImageStat.Stat(region.convert("L")).median[0])


def check_brightness(theme: str, value: float) -> None:
    """Raise when a picture's pixels contradict its theme (e.g. a 'dark' one mostly white)."""
    if theme == "dark" and value > DARK_MAX_BRIGHTNESS:
        raise RuntimeError(f"the dark picture is not dark: mean brightness {value:.0f} of 255 "
                           f"(at most {DARK_MAX_BRIGHTNESS:.0f} expected)")
    if theme == "light" and value < LIGHT_MIN_BRIGHTNESS:
        raise RuntimeError(f"the light picture is not light: mean brightness {value:.0f} of "
                           f"255 (at least {LIGHT_MIN_BRIGHTNESS:.0f} expected)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Lab:
    url: str
    token: str
    settings: Path

    def api(self, method: str, path: str) -> object:
        request = urllib.request.Request(f"{self.url}{path}", method=method,
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
        return json.loads(body) if body else None

    def close_sessions(self) -> None:
        """Shut down the kernels the opened notebooks started."""
        for session in self.api("GET", "/api/sessions") or []:  # type: ignore[union-attr]
            self.api("DELETE", f"/api/sessions/{session['id']}")


@contextmanager
def jupyterlab(notebook_dir: Path, work: Path, *, timeout: float = 90.0) -> Iterator[Lab]:
    """The venv's JupyterLab on 127.0.0.1:<free port>, token-protected, settings in ``work``."""
    port, token = free_port(), secrets.token_hex(16)
    settings = work / "settings"
    settings.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable, "-m", "jupyterlab", "--no-browser",
        "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={notebook_dir}",
        f"--LabApp.user_settings_dir={settings}",
        f"--LabApp.workspaces_dir={work / 'workspaces'}",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(work / "config"),
           "JUPYTER_RUNTIME_DIR": str(work / "runtime")}
    log = (work / "jupyterlab.log").open("wb")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    lab = Lab(f"http://127.0.0.1:{port}", token, settings)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"JupyterLab exited with {process.returncode}: see "
                                   f"{work / 'jupyterlab.log'}")
            try:
                lab.api("GET", "/api/status")
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"JupyterLab did not answer in {timeout:.0f} s") from None
                time.sleep(0.5)
        yield lab
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


# Runs in the page: true once the notebook, its images and its Mermaid diagrams are drawn.
# A ```mermaid fence is first drawn as code, then replaced by a .jp-RenderedMermaid figure.
_RENDERED = """() => {
  const nb = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook');
  if (!nb || nb.querySelectorAll('.jp-Cell').length === 0) return false;
  if ([...nb.querySelectorAll('img')].some(i => !i.complete)) return false;
  if (nb.querySelector('.jp-RenderedMarkdown code.language-mermaid')) return false;
  return [...nb.querySelectorAll('.jp-RenderedMermaid')].every(
    m => m.querySelector('svg, img') || m.classList.contains('jp-mod-warning'));
}"""

# Runs in the page: the notebook's full height and how much of the window is not notebook.
_HEIGHTS = """() => {
  const nb = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook');
  const scroller = nb.querySelector('.jp-WindowedPanel-outer') || nb;
  const prompt = nb.querySelector('.jp-InputPrompt').getBoundingClientRect();
  return {content: scroller.scrollHeight, visible: scroller.clientHeight,
          window: window.innerHeight,
          promptLeft: Math.ceil(prompt.left), promptRight: Math.floor(prompt.right),
          brokenDiagrams: nb.querySelectorAll('.jp-RenderedMermaid.jp-mod-warning').length,
          light: document.body.dataset.jpThemeLight, name: document.body.dataset.jpThemeName};
}"""


def _settled(page: object, *, quiet_ms: int = 1200, timeout: float = 90.0) -> dict:
    """Wait until the notebook is drawn and its height has not changed for ``quiet_ms``."""
    page.wait_for_function(_RENDERED, timeout=120_000, polling=250)  # type: ignore[attr-defined]
    last, since = None, time.monotonic()
    deadline = since + timeout
    while True:
        heights = page.evaluate(_HEIGHTS)  # type: ignore[attr-defined]
        if heights["content"] != last:
            last, since = heights["content"], time.monotonic()
        elif (time.monotonic() - since) * 1000 >= quiet_ms or time.monotonic() > deadline:
            return heights
        page.wait_for_timeout(200)  # type: ignore[attr-defined]


def take(lab: Lab, browser: object, notebook: str, theme: str, out: Path) -> Shot:
    """Open one notebook in a fresh page, wait until it is drawn, and picture all of it."""
    page = browser.new_page(viewport={"width": WIDTH, "height": 1000})  # type: ignore[attr-defined]
    try:
        page.goto(f"{lab.url}/doc/tree/{notebook}?token={lab.token}&reset",
                  wait_until="domcontentloaded", timeout=120_000)
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=120_000)
        page.wait_for_function(_RENDERED, timeout=120_000, polling=250)
        heights = _settled(page)
        expected_light = "true" if theme == "light" else "false"
        if heights["light"] != expected_light or heights["name"] != THEMES[theme]:
            raise RuntimeError(f"{notebook}: the page shows theme {heights['name']!r}, "
                               f"not {THEMES[theme]!r}")
        height = 1000
        for _ in range(8):  # grow the window until it holds the whole (settled) notebook
            chrome = heights["window"] - heights["visible"]
            wanted = min(MAX_HEIGHT, heights["content"] + chrome)
            if wanted == height:
                break
            height = wanted
            page.set_viewport_size({"width": WIDTH, "height": height})
            heights = _settled(page)
        path = out / f"{Path(notebook).stem}-{theme}.png"
        page.screenshot(path=str(path), full_page=False)
    finally:
        page.close()
    value = brightness(path, (heights["promptLeft"] + 2, heights["promptRight"] - 2))
    check_brightness(theme, value)
    return Shot(notebook, theme, path, height, heights["content"], value,
                heights["brokenDiagrams"])


def describe(shot: Shot) -> str:
    """One line per picture: where, how big, how bright, and what looks wrong."""
    where = shot.path.relative_to(ROOT) if shot.path.is_relative_to(ROOT) else shot.path
    line = f"{where}  {WIDTH}x{shot.height} px, background {shot.brightness:.0f}/255"
    if shot.content_height > shot.height:
        line += f"; CUT: the notebook is {shot.content_height} px tall"
    if shot.broken_diagrams:
        line += f"; {shot.broken_diagrams} Mermaid diagram(s) failed to render"
    return line


def run(names: Sequence[str] | None = None, out: Path = OUT,
        chromium: str = CHROMIUM, folder: Path = NOTEBOOKS) -> list[Shot]:
    """Picture the notebooks (all of them, or ``names``) in both themes; return what was taken."""
    from playwright.sync_api import sync_playwright

    chosen = notebooks(folder)
    if names:
        chosen = [p for p in chosen if p.name in names or p.stem in names or p.name[:2] in names]
        if not chosen:
            raise SystemExit(f"no notebook matches {list(names)}")
    if not Path(chromium).exists():
        raise SystemExit(f"{chromium} is missing: apt-get install -y chromium (make screenshots "
                         "does it for you)")
    out.mkdir(parents=True, exist_ok=True)
    shots: list[Shot] = []
    with tempfile.TemporaryDirectory(prefix="course-screenshots-") as tmp:
        work = Path(tmp)
        served = work / "notebooks"
        shutil.copytree(folder, served, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
        write_user_settings(work / "settings", "light")
        with jupyterlab(served, work) as lab, sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=chromium, headless=True,
                args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                      "--disable-background-networking", "--disable-component-update",
                      "--disable-sync", "--no-first-run"])
            try:
                for theme in THEMES:
                    write_user_settings(lab.settings, theme)
                    for path in chosen:
                        shot = take(lab, browser, path.name, theme, out)
                        shots.append(shot)
                        print(describe(shot), flush=True)
                        lab.close_sessions()
            finally:
                browser.close()
    return shots


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m helpers.screenshots",
        description="Picture every notebook in JupyterLab (light and dark) with headless "
                    "Chromium, into results/screenshots/.")
    parser.add_argument("notebooks", nargs="*",
                        help="only these (name, stem or number, e.g. 04); default: all")
    parser.add_argument("--out", type=Path, default=OUT, help=f"default: {OUT}")
    parser.add_argument("--chromium", default=CHROMIUM, help=f"default: {CHROMIUM}")
    parser.add_argument("--dir", type=Path, default=NOTEBOOKS,
                        help=f"the folder of notebooks (default: {NOTEBOOKS})")
    args = parser.parse_args(argv)
    started = time.monotonic()
    shots = run(args.notebooks, args.out, args.chromium, args.dir.resolve())
    print(f"{len(shots)} pictures of {len(shots) // len(THEMES)} notebooks in "
          f"{time.monotonic() - started:.0f} s under {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
