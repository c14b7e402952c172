"""A wheelhouse for a room without internet: every wheel the course needs, in one folder.

``python -m helpers.wheelhouse`` (``make wheelhouse``) downloads, into ``wheelhouse/``, every
wheel that ``requirements.txt`` pins for this machine, the course's own wheel and the build
backend that ``pip install -e .`` needs. With ``--platforms windows macos-arm64 ...`` it adds the
wheels of other systems: their dependency sets differ (Windows needs ``pywinpty`` and
``colorama``, and has no ``uvloop``), and ``pip download --platform`` evaluates environment
markers against *this* machine, so each platform's set is first resolved for that platform with
``uv pip compile --python-platform``, then downloaded wheel by wheel.

Copy the folder to a USB stick; on each laptop, ``make lab OFFLINE=1``, or by hand::

    python -m venv .venv
    .venv/bin/python -m pip install --no-index --find-links wheelhouse -r requirements.txt

``--verify`` proves the folder is complete: it installs a fresh virtual environment from it
with ``--no-index`` and imports the course's packages there.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import venv
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# grequests first: it monkey-patches ssl, which the others import.
IMPORTS = ["grequests", "gevent", "aiohttp", "requests", "httpx", "jupyterlab", "ipykernel",
           "matplotlib", "tqdm", "nbval", "nbclient", "jupyterlab_rise", "helpers"]


@dataclass(frozen=True)
class Platform:
    """A target system: uv's name for resolving, pip's wheel tags for downloading."""

    uv: str
    tags: tuple[str, ...]


def _macos_tags(arch: str) -> tuple[str, ...]:
    """pip takes exact tags: every macOS release a wheel may name, newest first."""
    releases = [f"{major}_0" for major in range(15, 10, -1)] + [
        f"10_{minor}" for minor in range(15, 8, -1)]
    return (*(f"macosx_{r}_{arch}" for r in releases),
            *(f"macosx_{r}_universal2" for r in releases))


PLATFORMS = {
    "linux-x86_64": Platform("x86_64-manylinux_2_28", (
        *(f"manylinux_2_{minor}_x86_64" for minor in range(28, 4, -1)),
        "manylinux2014_x86_64", "linux_x86_64")),
    "windows-x86_64": Platform("x86_64-pc-windows-msvc", ("win_amd64",)),
    "macos-arm64": Platform("aarch64-apple-darwin", _macos_tags("arm64")),
    "macos-x86_64": Platform("x86_64-apple-darwin", _macos_tags("x86_64")),
}
ALIASES = {"windows": "windows-x86_64", "macos": "macos-arm64", "linux": "linux-x86_64"}


def _pip(*args: str) -> None:
    command = [sys.executable, "-m", "pip", *args]
    print("+", " ".join(command), flush=True)
    subprocess.run(command, check=True)


def _third_party_requirements(folder: Path) -> Path:
    """requirements.txt without ``-e .`` (built as a wheel instead) and with the constraints."""
    lines = [line for line in (ROOT / "requirements.txt").read_text().splitlines()
             if not line.strip().startswith(("-e", "-c"))]
    path = folder / "requirements-third-party.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


def python_version() -> str:
    return ".".join(map(str, sys.version_info[:3]))


def _download_for(target: Platform, resolved: Path, dest: Path) -> None:
    """Wheels for another system; a package with no wheel for it comes as source, with a
    warning (that laptop then needs a compiler for it)."""
    tags = [arg for tag in target.tags for arg in ("--platform", tag)]
    common = ["download", "--quiet", "--no-deps", *tags, "--python-version", python_version(),
              "--implementation", "cp", "-d", str(dest)]
    pins = [line.strip() for line in resolved.read_text().splitlines()
            if line.strip() and not line.lstrip().startswith("#")]
    try:
        _pip(*common, "--only-binary=:all:", *pins, "setuptools>=69", "wheel")
        return
    except subprocess.CalledProcessError:
        print("some packages have no wheel for this platform; fetching them one by one",
              flush=True)
    for pin in pins:
        try:
            _pip(*common, "--only-binary=:all:", pin)
        except subprocess.CalledProcessError:
            print(f"WARNING: {pin} has no wheel for {target.uv}: its source is downloaded "
                  "instead, and installing it there needs a compiler", flush=True)
            _pip("download", "--quiet", "--no-deps", "--no-binary=:all:", "-d", str(dest), pin)


def build(dest: Path, platforms: list[str]) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    constraints = str(ROOT / "constraints.txt")
    with tempfile.TemporaryDirectory() as tmp:
        requirements = _third_party_requirements(Path(tmp))
        # This machine: pip resolves with the right markers by itself.
        _pip("download", "--quiet", "-d", str(dest), "-r", str(requirements), "-c", constraints)
        # What `pip install -e .` needs offline: the build backend, and the course's own wheel.
        _pip("download", "--quiet", "-d", str(dest), "setuptools>=69", "wheel")
        _pip("wheel", "--quiet", "--no-deps", "-w", str(dest), str(ROOT))
        for name in platforms:
            target = PLATFORMS[ALIASES.get(name, name)]
            resolved = Path(tmp) / f"{name}.txt"
            subprocess.run(
                [sys.executable, "-m", "uv", "pip", "compile", str(requirements), "-c", constraints,
                 "--python-platform", target.uv, "--python-version", python_version(),
                 "--no-header", "--no-annotate", "--quiet", "-o", str(resolved)],
                check=True,
            )
            _download_for(target, resolved, dest)
    wheels = sorted(dest.glob("*.whl"))
    print(f"{dest}: {len(wheels)} wheels, "
          f"{sum(w.stat().st_size for w in wheels) / 2**20:.0f} MiB", flush=True)


def verify(dest: Path) -> None:
    """Install a fresh venv from ``dest`` alone (``--no-index``) and import the course there."""
    with tempfile.TemporaryDirectory() as tmp:
        env_dir = Path(tmp) / "venv"
        venv.EnvBuilder(with_pip=True).create(env_dir)
        python = env_dir / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
        install = [str(python), "-m", "pip", "install", "--quiet", "--no-index",
                   "--find-links", str(dest.resolve()), "-r", "requirements.txt"]
        print("+", " ".join(install), flush=True)
        subprocess.run(install, check=True, cwd=ROOT)
        probe = "import importlib, sys\n" + "".join(
            f"importlib.import_module({name!r})\n" for name in IMPORTS
        ) + "print('imported from the wheelhouse:', ', '.join(sys.argv[1:]))"
        subprocess.run([str(python), "-c", probe, *IMPORTS], check=True, cwd=tmp)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m helpers.wheelhouse", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dest", type=Path, default=ROOT / "wheelhouse")
    parser.add_argument("--platforms", nargs="*", default=[],
                        help="other systems too: " + ", ".join([*PLATFORMS, *ALIASES]))
    parser.add_argument("--verify", action="store_true",
                        help="then install a fresh venv from it with --no-index and import")
    args = parser.parse_args(argv)
    unknown = [p for p in args.platforms if ALIASES.get(p, p) not in PLATFORMS]
    if unknown:
        parser.error(f"unknown platform(s) {', '.join(unknown)}; "
                     f"choose from {', '.join([*PLATFORMS, *ALIASES])}")
    build(args.dest, args.platforms)
    if args.verify:
        verify(args.dest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
