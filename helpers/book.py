"""The course as a website: ``make site`` builds ``build/site/`` from the stored notebooks.

Why Jupyter Book 1 (Sphinx, MyST-NB, sphinx-book-theme): it renders the stored outputs without
executing anything (CI already proved them), turns links between notebooks and ``#anchors``
into links between pages, gives a sidebar in reading order, full-text search that runs in the
browser, a page outline, and light and dark themes. Everything it serves is in the built folder,
so the site works from a USB stick. Jupyter Book 2 (mystmd) fetches its theme from the internet
at build time and cannot build offline.

Two assets are not in any Python package: Mermaid (the diagrams) and MathJax (the formulas).
They come from their npm packages at pinned versions, checked against the registry's sha512
integrity, cached in ``build/book-assets/`` and served from the site's own ``_static/``.

``python -m helpers.book build`` builds; ``python -m helpers.book check build/site`` walks every
page and fails on a broken internal link or anchor, and on any page that loads a script, style,
font or image from another host.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import html.parser
import json
import re
import shutil
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build"
ASSETS = BUILD / "book-assets"
GUIDES = ["INSTRUCTORS.md", "STYLE.md", "mutation/SURVIVORS.md"]
STRICT = ["--warningiserror"]  # a broken cross-reference fails the build
RELATIVE_LINK = re.compile(r"\]\((?!https?:|mailto:|#)([^)\s]+)\)")
MERMAID_FENCE = re.compile(r"^```mermaid\s*$", re.MULTILINE)


@dataclass(frozen=True)
class NpmAsset:
    """Files taken from one pinned npm package, checked against its published integrity."""

    package: str
    version: str
    integrity: str  # the registry's dist.integrity (sha512, base64)
    members: dict[str, str]  # path in the tarball (or a folder ending in "/") -> path in ASSETS


NPM_ASSETS = [
    NpmAsset("mermaid", "11.17.2",
             "sha512-V6K3C8EBdEsPFZXSKMJe6ppQOENxuHARr9GvHX4hh47lAbhMRD9qf4oEK7LoaRQxULMa80/qt5gHO73aCleBBg==",
             {"package/dist/mermaid.min.js": "mermaid/mermaid.min.js",
              "package/LICENSE": "mermaid/LICENSE"}),
    NpmAsset("mathjax", "3.2.2",
             "sha512-Bt+SSVU8eBG27zChVewOicYs7Xsdt40qm4+UpHyX7k0/O9NliPc+x77k1/FEsPsjKPZGJvtRZM1vO+geW0OhGw==",
             {"package/es5/": "mathjax/", "package/LICENSE": "mathjax/LICENSE"}),
]


# sphinxcontrib-mermaid loads Mermaid with ``import mermaid from "..."``. Mermaid's ES-module
# build is 200 ``.mjs`` chunks, which some static hosts serve with a type browsers refuse for
# modules; its single-file build is a classic script that sets ``globalThis.mermaid``. This
# module loads the classic script and hands it on, so the site needs only ``.js`` files.
MERMAID_MODULE = """\
await new Promise((resolve, reject) => {
  const script = document.createElement("script");
  script.src = new URL("./mermaid.min.js", import.meta.url).href;
  script.onload = resolve;
  script.onerror = () => reject(new Error("could not load " + script.src));
  document.head.append(script);
});
export default globalThis.mermaid;
"""


def _integrity(path: Path) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(path.read_bytes()).digest()).decode()


def vendor_assets(assets: Path = ASSETS) -> None:
    """Mermaid and MathJax into ``assets``, from npm once, then from the cache."""
    for asset in NPM_ASSETS:
        stamp = assets / f".{asset.package}-{asset.version}"
        if stamp.exists():
            continue
        tarballs = assets / "tarballs"
        tarballs.mkdir(parents=True, exist_ok=True)
        tarball = tarballs / f"{asset.package}-{asset.version}.tgz"
        if not tarball.exists():
            if shutil.which("npm") is None:
                raise SystemExit(
                    f"npm is needed once to fetch {asset.package}@{asset.version} for the site "
                    f"(or put {tarball.name} from `npm pack` in {tarballs})")
            subprocess.run(["npm", "pack", f"{asset.package}@{asset.version}", "--silent",
                            "--pack-destination", str(tarballs)], check=True,
                           stdout=subprocess.DEVNULL)
        if _integrity(tarball) != asset.integrity:
            tarball.unlink()
            raise SystemExit(f"{tarball.name} does not match its published sha512 integrity")
        with tarfile.open(tarball) as archive:
            for member in archive.getmembers():
                for source, target in asset.members.items():
                    if member.isfile() and (member.name == source or (
                            source.endswith("/") and member.name.startswith(source))):
                        destination = assets / (target + member.name[len(source):]
                                                if source.endswith("/") else target)
                        destination.parent.mkdir(parents=True, exist_ok=True)
                        extracted = archive.extractfile(member)
                        assert extracted is not None
                        destination.write_bytes(extracted.read())
        stamp.touch()
    (assets / "mermaid" / "mermaid-module.js").write_text(MERMAID_MODULE)


def write_toc(path: Path) -> None:
    """The table of contents in reading order: README, the numbered notebooks, the guides."""
    notebooks = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    lines = ["format: jb-book", "root: README", "parts:", "  - caption: The course",
             "    chapters:"]
    lines += [f"      - file: notebooks/{nb.stem}" for nb in notebooks]
    guides = [g for g in GUIDES if (ROOT / g).exists()]
    if guides:
        lines += ["  - caption: Guides", "    chapters:"]
        lines += [f"      - file: {Path(g).with_suffix('')}" for g in guides]
    path.write_text("\n".join(lines) + "\n")


def stage(source: Path) -> None:
    """Copy what the site shows into ``source``: the guides, and the notebooks with each
    exercise's solution folded away (tag ``hide-input``), as JupyterLab folds it
    (``source_hidden``), so a reader tries the exercise before seeing the answer."""
    if source.exists():
        shutil.rmtree(source)
    shutil.copytree(ROOT / "notebooks", source / "notebooks",
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    for guide in ["README.md", *GUIDES]:
        if (ROOT / guide).exists():
            (source / guide).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / guide, source / guide)
    # Other files the guides link to (mutation/SURVIVORS.md, ...): the site offers them too.
    for guide in ["README.md", *GUIDES]:
        if not (ROOT / guide).exists():
            continue
        for target in RELATIVE_LINK.findall((ROOT / guide).read_text()):
            path = (ROOT / target.split("#")[0]).resolve()
            if path.is_file() and ROOT in path.parents and not (source / target).exists():
                (source / target.split("#")[0]).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, source / target.split("#")[0])
    # The notebooks link to the helpers' source now and then: the site offers it as a download.
    shutil.copytree(ROOT / "helpers", source / "helpers",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "static", "data"))
    for path in sorted((source / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        nb = json.loads(path.read_text())
        for cell in nb["cells"]:
            if cell["cell_type"] == "markdown":
                # JupyterLab renders a ```mermaid fence; Sphinx needs the {mermaid} directive.
                text = "".join(cell["source"])
                cell["source"] = MERMAID_FENCE.sub("```{mermaid}", text)
            tags = cell.get("metadata", {}).get("tags", [])
            if "solution" in tags and "hide-input" not in tags:
                cell["metadata"]["tags"] = [*tags, "hide-input"]
        path.write_text(json.dumps(nb, indent=1, ensure_ascii=False))
    shutil.copytree(ASSETS, source / "vendor", ignore=shutil.ignore_patterns("tarballs", ".*"))


def build(out: Path) -> None:
    vendor_assets()
    source = BUILD / "book-src"
    stage(source)
    write_toc(source / "_toc.yml")
    # jupyter-book has no ``python -m`` entry point: call its console script's function.
    command = [sys.executable, "-c", "from jupyter_book.cli.main import main; main()",
               "build", str(source), "--config", str(ROOT / "site" / "_config.yml"),
               "--toc", str(source / "_toc.yml"), "--path-output", str(BUILD / "jb"),
               "--builder", "html", *STRICT, "--keep-going", "--all"]
    subprocess.run(command, check=True, cwd=source)
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(BUILD / "jb" / "_build" / "html", out)
    print(f"the site is in {out}: python -m http.server -d {out.relative_to(ROOT)}")


# --- the link check ---------------------------------------------------------------------------

ASSET_TAGS = {("script", "src"), ("img", "src"), ("iframe", "src"), ("source", "src"),
              ("video", "src"), ("audio", "src"), ("embed", "src"), ("object", "data")}
CSS_URL = re.compile(r"url\(\s*['\"]?([^'\")]+)['\"]?\s*\)")
IMPORT_URL = re.compile(r"@import\s+['\"]([^'\"]+)['\"]")


class _Page(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.links: list[str] = []
        self.assets: list[str] = []
        self.styles: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        for key in ("id", "name") if tag == "a" else ("id",):
            if values.get(key):
                self.ids.add(values[key])
        if tag == "a" and "href" in values:
            self.links.append(values["href"])
        if tag == "link" and "href" in values:
            rel = values.get("rel", "").lower()
            if any(r in rel for r in ("stylesheet", "preload", "icon", "modulepreload")):
                self.assets.append(values["href"])
            else:
                self.links.append(values["href"])
        for asset_tag, attribute in ASSET_TAGS:
            if tag == asset_tag and values.get(attribute):
                self.assets.append(values[attribute])
        if values.get("style"):
            self.styles.append(values["style"])
        self._in_style = tag == "style"

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.styles.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "style":
            self._in_style = False


def _is_external(url: str) -> bool:
    parts = urlsplit(url)
    return bool(parts.scheme and parts.scheme not in ("file",)) or url.startswith("//")


def check_site(site: Path) -> list[str]:
    """Broken internal links and anchors, and assets loaded from another host."""
    site = site.resolve()
    pages: dict[Path, _Page] = {}
    for page_path in sorted(site.rglob("*.html")):
        if page_path.relative_to(site).parts[0] in ("_static", "_sources"):
            continue  # theme templates and copied sources, not pages a reader opens
        parser = _Page()
        parser.feed(page_path.read_text(errors="replace"))
        pages[page_path] = parser
    problems = []
    for page_path, page in pages.items():
        name = page_path.relative_to(site)
        urls = [(u, True) for u in page.assets] + [(u, False) for u in page.links]
        for style in page.styles:
            urls += [(u, True) for u in CSS_URL.findall(style) + IMPORT_URL.findall(style)]
        for url, is_asset in urls:
            if url.startswith(("mailto:", "data:", "javascript:")):
                continue
            if _is_external(url):
                if is_asset:
                    problems.append(f"{name}: loads {url} from another host")
                continue
            parts = urlsplit(url)
            target = page_path if not parts.path else (page_path.parent / unquote(parts.path))
            target = target.resolve()
            if target.is_dir():
                target = target / "index.html"
            if not target.exists() or (site not in target.parents and target != site):
                problems.append(f"{name}: broken link {url}")
                continue
            if parts.fragment and target.suffix == ".html":
                ids = pages[target].ids if target in pages else set()
                if unquote(parts.fragment) not in ids:
                    problems.append(f"{name}: {url}: no element with id "
                                    f"{unquote(parts.fragment)!r} in {target.relative_to(site)}")
    for css_path in sorted(site.rglob("*.css")):
        text = css_path.read_text(errors="replace")
        for url in CSS_URL.findall(text) + IMPORT_URL.findall(text):
            if _is_external(url):
                problems.append(f"{css_path.relative_to(site)}: loads {url} from another host")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m helpers.book", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    build_cmd = sub.add_parser("build", help="build the site into --out (default build/site)")
    build_cmd.add_argument("--out", type=Path, default=BUILD / "site")
    check_cmd = sub.add_parser("check", help="link-check a built site")
    check_cmd.add_argument("site", type=Path, nargs="?", default=BUILD / "site")
    args = parser.parse_args(argv)
    if args.command == "build":
        build(args.out.resolve())
        return 0
    if not (args.site / "index.html").exists():
        parser.error(f"{args.site} holds no built site: run make site first")
    problems = check_site(args.site)
    for line in problems:
        print(line)
    print(f"{len(problems)} problems in the site at {args.site}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
