"""The documentation site: `mkdocs build --strict` passes, and the built pages hold no broken link
or image.

The build runs once per module into a temporary folder (strict: a broken link, anchor or API
reference fails it). Every built page's `<img src>` and relative `<a href>` is then checked
against the files of the site, fragments against the target page's ids. Headless Chromium opens
the home page and one API page with a small check script beside them (as tests/test_report.py
does): it records resources that fail to load, waits for every image to decode, and lists every
link as the browser resolved it. The README's links into docs/ must resolve too, so they work on
GitHub."""
import html.parser
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

ROOT = Path(__file__).resolve().parent.parent

CHECK = """<script>
window.__failed = [];
window.addEventListener('error', function (e) {
  var t = e.target;
  if (t && t !== window && (t.src || t.href)) window.__failed.push(t.src || t.href);
}, true);
window.addEventListener('load', function () {
  var out = document.createElement('pre');
  out.id = 'mc-check';
  out.textContent = JSON.stringify({
    failed: window.__failed,
    images: Array.prototype.map.call(document.images, function (i) { return [i.src, i.complete ? i.naturalWidth : 0]; }),
    links: Array.prototype.map.call(document.querySelectorAll('a[href]'), function (a) { return a.href; })});
  document.body.appendChild(out);
});
</script>"""


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    if importlib.util.find_spec("mkdocs") is None:
        pytest.skip("mkdocs is not installed: `make test` installs it (the `docs` extra in pyproject.toml)")
    out = tmp_path_factory.mktemp("docs") / "site"
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "-f", str(ROOT / "mkdocs.yml"),
                           "-d", str(out)], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return out


class _Refs(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.refs, self.ids = [], set()

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(a["id"])
        if tag == "img" and a.get("src"):
            self.refs.append(("img", a["src"]))
        if tag == "a" and a.get("href"):
            self.refs.append(("a", a["href"]))


def _parse(path: Path) -> _Refs:
    p = _Refs()
    p.feed(path.read_text())
    return p


def _ids_cache():
    cache = {}

    def ids_of(path: Path) -> set:
        if path not in cache:
            cache[path] = _parse(path).ids
        return cache[path]
    return ids_of


def _broken(site: Path, page: Path, ref: str, ids_of) -> str | None:
    """Why `ref` (as written in `page`) does not resolve inside the site, or None."""
    parts = urlsplit(ref)
    if parts.scheme in ("http", "https", "mailto", "data", "javascript"):
        return None
    if parts.scheme == "file":
        target = Path(unquote(parts.path))
    elif parts.scheme or parts.netloc:
        return f"{ref}: unexpected scheme"
    elif parts.path.startswith("/"):  # root-relative (the 404 page's links): the site is served at /
        target = site / unquote(parts.path).lstrip("/")
    else:
        target = (page.parent / unquote(parts.path)) if parts.path else page
    target = target.resolve()
    if site.resolve() not in target.parents and target != site.resolve():
        return f"{ref}: outside the site"
    if target.is_dir():
        target = target / "index.html"
    if not target.is_file():
        return f"{ref}: no such file"
    if parts.fragment and target.suffix == ".html" and unquote(parts.fragment) not in ids_of(target):
        return f"{ref}: no id {parts.fragment!r} in {target.name}"
    return None


def test_the_site_builds_strictly_with_every_page_and_the_api(site):
    pages = {p.relative_to(site).as_posix() for p in site.rglob("*.html")}
    expected = {"index.html", "architecture.html", "stacked_mnist.html"}
    expected |= {f"guide/{n}.html" for n in ("setup", "lab", "techniques", "measure", "monitor", "bench", "diagnostics",
                                             "scenarios", "reliability")}
    expected |= {f"results/{n}.html" for n in ("leaderboard", "papers", "monitor-accuracy", "metrics", "performance",
                                               "diagnostics", "scenarios")}
    expected |= {f"api/{n}.html" for n in ("metrics", "monitor", "features", "data", "models", "techniques",
                                           "diagnostics", "scenarios", "errors", "registry")}
    assert expected <= pages, sorted(expected - pages)
    api = (site / "api" / "metrics.html").read_text()
    # mkdocstrings rendered the docstrings: the package's classes and the functions at their modules
    for ident in ("modecollapse.metrics.StreamingFID", "modecollapse.metrics.precision_recall.precision_recall",
                  "modecollapse.metrics.fid.fid"):
        assert f'id="{ident}"' in api, ident
    assert 'id="modecollapse.monitor.CollapseMonitor"' in (site / "api" / "monitor.html").read_text()


def test_every_built_link_and_image_resolves(site):
    ids_of = _ids_cache()
    broken, images = [], 0
    for page in sorted(site.rglob("*.html")):
        for kind, ref in _parse(page).refs:
            images += kind == "img"
            why = _broken(site, page, ref, ids_of)
            if why:
                broken.append(f"{page.relative_to(site)}: <{kind}> {why}")
    assert broken == []
    assert images >= 20  # the report screenshot, the diagnostics' and scenarios' plots


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome"):
        if shutil.which(name):
            return shutil.which(name)
    return None


@pytest.mark.parametrize("page", ["index.html", "api/metrics.html"])
def test_pages_open_in_headless_chromium_without_broken_images_or_links(site, page, tmp_path):
    chromium = _chromium()
    if chromium is None:
        pytest.skip("no Chromium found (apt-get install chromium); .ci/run installs it in CI")
    path = site / page
    check = path.with_name("mc-check-" + path.name)  # beside the page, so its relative links resolve alike
    check.write_text(path.read_text().replace("</body>", CHECK + "</body>", 1))
    flags = [chromium, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={tmp_path / 'profile'}",
             "--allow-file-access-from-files"]
    for _ in range(3):  # a browser starved of CPU by other jobs can dump the DOM before 'load'; try again
        dom = subprocess.run([*flags, "--virtual-time-budget=20000", "--dump-dom", check.as_uri()],
                             capture_output=True, text=True, timeout=120)
        found = re.search(r'<pre id="mc-check">(.*?)</pre>', dom.stdout, re.S)
        if found:
            break
    check.unlink()
    assert found, dom.stderr[-2000:]
    result = json.loads(html.unescape(found.group(1)))
    assert result["failed"] == []
    assert [src for src, width in result["images"] if width == 0] == []
    assert len(result["links"]) > 20
    ids_of = _ids_cache()
    broken = [why for href in result["links"] if (why := _broken(site, path, href.replace(check.name, path.name), ids_of))]
    assert broken == []
    if page == "index.html":
        assert len(result["images"]) >= 1  # the report screenshot, decoded


def _github_slug(heading: str) -> str:
    text = re.sub(r"[`*_]|\[([^\]]*)\]\([^)]*\)", lambda m: m.group(1) or "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def test_readme_links_into_docs_resolve():
    readme = (ROOT / "README.md").read_text()
    links = re.findall(r"\]\(([^)\s]+)\)", readme)
    local = [l for l in links if not re.match(r"[a-z]+:", l)]
    assert sum(l.startswith("docs/") for l in local) >= 10
    broken = []
    for link in local:
        path, _, anchor = link.partition("#")
        target = ROOT / path if path else ROOT / "README.md"
        if not target.exists():
            broken.append(f"{link}: no such file")
        elif anchor and target.suffix == ".md":
            slugs = {_github_slug(h) for h in re.findall(r"^#+ (.*)$", target.read_text(), re.M)}
            if anchor not in slugs:
                broken.append(f"{link}: no heading {anchor!r}")
    assert broken == []
