"""modecollapse report: one self-contained HTML page, checked in headless Chromium.

Chromium opens the page with a small check script added around it: it records every error
(script errors, images that fail to load, console.error), waits for each image to decode,
clicks a leaderboard column head to sort, and writes what it found into the DOM, which
``--dump-dom`` prints. The test skips only when no Chromium can be found."""
import json
import re
import shutil
import subprocess

import pytest

from modecollapse.bench.suite import load_suite
from modecollapse.bench.sweep import BenchOptions, run_suite
from modecollapse.cli import main

SUITE = """
name = "report-test"
seeds = 2
baseline = "plain"
[defaults]
options = ["--steps", "60", "--batch-size", "32", "--g-width", "16", "--d-width", "16", "--g-depth", "1",
           "--d-depth", "1", "--eval-every", "20", "--eval-samples", "200", "--checkpoint-every", "20"]
[[datasets]]
name = "ring"
data = "ring"
args = { modes = 4 }
[[methods]]
name = "plain"
options = []
[[methods]]
name = "pack"
options = ["--pack", "m=2"]
[methods.published]
ring = { modes = 3.9, hq_fraction = 0.9, source = "an anchor for the test" }
[[methods]]
name = "broken"
options = ["--device", "cuda:99"]
"""

CHECK_HEAD = """<script>
window.__errors = [];
window.addEventListener('error', function (e) {
  window.__errors.push(e.message || ('failed to load ' + (e.target && (e.target.src || e.target.href))));
}, true);
(function () { var orig = console.error; console.error = function () {
  window.__errors.push(Array.prototype.join.call(arguments, ' ')); orig.apply(console, arguments); }; })();
</script>"""

CHECK_TAIL = """<script>
// Synchronous on 'load' (every image, all data: URIs, has loaded by then, so naturalWidth is
// known): no promise that a loaded machine's virtual-time budget could cut short.
window.addEventListener('load', function () {
  var widths = Array.prototype.map.call(document.images, function (i) { return i.complete ? i.naturalWidth : 0; });
  var table = document.getElementById('leaderboard');
  var methods = function () { return Array.prototype.map.call(table.tBodies[0].rows, function (r) { return r.cells[1].textContent; }); };
  var before = methods();
  var head = Array.prototype.filter.call(table.tHead.rows[0].cells, function (c) { return c.textContent === 'hq_fraction'; })[0];
  head.click();
  var sorted = Array.prototype.map.call(table.tBodies[0].rows, function (r) { return r.cells[4].dataset.v; });
  var out = document.createElement('pre');
  out.id = 'mc-check';
  out.textContent = JSON.stringify({errors: window.__errors, widths: widths, rows: before, sorted: sorted,
                                    verdicts: document.querySelectorAll('.v-collapsed').length});
  document.body.appendChild(out);
});
</script>"""


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome"):
        if shutil.which(name):
            return shutil.which(name)
    return None


@pytest.fixture(scope="module")
def bench_dir(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("report")
    (tmp / "suite.toml").write_text(SUITE)
    out = tmp / "bench"
    run_suite(load_suite(str(tmp / "suite.toml")), BenchOptions(out=out, workers=1, progress=False), report=False)
    # a monitor's verdict in one run's summary (the keys CollapseMonitor adds)
    path = out / "ring" / "plain" / "seed-1" / "summary.json"
    summary = json.loads(path.read_text())
    summary.update(verdict="collapsed", reason="one mode holds 97% of the samples", collapse_step=40)
    path.write_text(json.dumps(summary))
    return out


def test_report_is_self_contained(bench_dir, tmp_path, capsys):
    html_path = tmp_path / "report.html"
    assert main(["report", str(bench_dir), "--out", str(html_path)]) == 0
    assert "(6 runs)" in capsys.readouterr().out
    page = html_path.read_text()
    srcs = re.findall(r'src="([^"]*)"', page)
    # 4 sample plots, 2 training plots, 1 scatter; every one embedded
    assert len(srcs) == 7 and all(s.startswith("data:image/png;base64,") for s in srcs)
    assert "http://" not in page and "https://" not in page and "<link" not in page
    assert "one mode holds 97% of the samples" in page and "at step 40" in page
    assert "no CUDA device is available" in page or "invalid device ordinal" in page  # the failed run's error


def test_report_opens_in_headless_chromium(bench_dir, tmp_path):
    chromium = _chromium()
    if chromium is None:
        pytest.skip("no Chromium found (apt-get install chromium); .ci/run installs it in CI")
    html_path = tmp_path / "report.html"
    assert main(["report", str(bench_dir), "--out", str(html_path)]) == 0
    page = html_path.read_text()
    check = tmp_path / "check.html"
    check.write_text(page.replace("<head>", "<head>" + CHECK_HEAD, 1).replace("</body>", CHECK_TAIL + "</body>", 1))
    flags = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", f"--user-data-dir={tmp_path / 'profile'}"]
    for _ in range(3):  # a browser starved of CPU by other jobs can dump the DOM before 'load'; try again
        dom = subprocess.run([*flags, "--enable-logging=stderr", "--virtual-time-budget=30000", "--dump-dom", check.as_uri()],
                             capture_output=True, text=True, timeout=120)
        found = re.search(r'<pre id="mc-check">(.*?)</pre>', dom.stdout, re.S)
        if found:
            break
    assert found, dom.stderr[-2000:]
    result = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert result["errors"] == []
    assert not [line for line in dom.stderr.splitlines() if "CONSOLE" in line and "Uncaught" in line]
    assert len(result["widths"]) == 7 and all(w > 0 for w in result["widths"])  # every image decodes
    assert result["rows"] == ["plain", "pack", "pack (published)", "broken"]
    values = [float(v) for v in result["sorted"] if v]
    assert values == sorted(values) and len(values) == 3  # clicking the column head sorted it
    assert result["verdicts"] >= 1

    shot = tmp_path / "shot.png"
    subprocess.run([*flags, f"--screenshot={shot}", "--window-size=1200,1600", html_path.as_uri()],
                   capture_output=True, timeout=120, check=True)
    from PIL import Image

    with Image.open(shot) as img:
        assert img.size == (1200, 1600)
        hist = img.convert("L").histogram()  # 256 grey levels
    colours = sum(1 for n in hist if n)
    dark = sum(hist[:128]) / (1200 * 1600)
    assert colours > 50 and 0.001 < dark < 0.5, "the screenshot looks blank"
