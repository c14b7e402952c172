"""The parts of ``make screenshots`` that need no browser: settings, file names, the dark check.

The browser run itself is ``make screenshots`` (it needs Chromium and takes minutes).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from helpers import screenshots


def test_user_settings_choose_the_theme_and_draw_every_cell(tmp_path: Path):
    for theme, name in (("light", "JupyterLab Light"), ("dark", "JupyterLab Dark")):
        screenshots.write_user_settings(tmp_path, theme)
        themes = tmp_path / "@jupyterlab" / "apputils-extension" / "themes.jupyterlab-settings"
        assert json.loads(themes.read_text()) == {"theme": name}
    tracker = tmp_path / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings"
    settings = json.loads(tracker.read_text())
    assert settings["windowingMode"] == "none"  # no cell left out of the picture
    assert settings["maxNumberOutputs"] >= 1000  # 0 trims every output in JupyterLab 4.6
    with pytest.raises(ValueError, match="theme"):
        screenshots.user_settings("sepia")


def test_every_numbered_notebook_is_pictured_including_09(tmp_path: Path):
    for name in ("00_start_here.ipynb", "09_extra.ipynb", "08_showdown.ipynb", "notes.ipynb"):
        (tmp_path / name).write_text("{}")
    assert [p.name for p in screenshots.notebooks(tmp_path)] == [
        "00_start_here.ipynb", "08_showdown.ipynb", "09_extra.ipynb"]
    assert len(screenshots.notebooks()) >= 9  # the course's own 00-08


@pytest.mark.parametrize(("theme", "grey", "ok"), [
    ("dark", 30, True), ("dark", 240, False), ("light", 245, True), ("light", 40, False)])
def test_brightness_check_catches_a_theme_that_did_not_apply(tmp_path, theme, grey, ok):
    png = tmp_path / "shot.png"
    Image.new("RGB", (40, 30), (grey, grey, grey)).save(png)
    value = screenshots.brightness(png)
    assert value == pytest.approx(grey, abs=1)
    if ok:
        screenshots.check_brightness(theme, value)
    else:
        with pytest.raises(RuntimeError, match=f"{theme} picture is not {theme}"):
            screenshots.check_brightness(theme, value)


def test_brightness_looks_at_the_page_beside_the_figures(tmp_path: Path):
    png = tmp_path / "page.png"
    image = Image.new("RGB", (400, 3000), (30, 30, 30))  # a dark page...
    image.paste((255, 255, 255), (100, 500, 400, 2900))  # ...most of it a white figure
    image.save(png)
    assert screenshots.brightness(png) > screenshots.DARK_MAX_BRIGHTNESS
    assert screenshots.brightness(png, (10, 90)) == pytest.approx(30, abs=1)


def test_describe_says_when_a_picture_is_cut_or_a_diagram_broke(tmp_path: Path):
    shot = screenshots.Shot("03_x.ipynb", "dark", tmp_path / "03_x-dark.png", 30_000, 41_000,
                            35.0, broken_diagrams=1)
    line = screenshots.describe(shot)
    assert "CUT: the notebook is 41000 px tall" in line
    assert "1 Mermaid diagram(s) failed to render" in line
    assert "background 35/255" in line


def test_free_port_is_a_local_port():
    port = screenshots.free_port()
    assert 1024 <= port <= 65535
