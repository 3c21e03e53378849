"""report.html in a real browser: headless Chromium opens it from a file:// URL.

Checks that every plot renders (a visible SVG with visible marks inside it), that the page
logs no console error and requests nothing but itself, and saves a full-page screenshot
into the test's temporary folder. Needs the Debian packages ``chromium`` and
``chromium-driver`` (``make test`` installs them).
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tunegym.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")

pytestmark = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER),
    reason="needs chromium and chromedriver (apt-get install chromium chromium-driver)",
)

# A workload with every kind of plot: a log-scale continuous dimension, a categorical one,
# an env param, failures with stderr, and two objectives (a Pareto front).
BENCH = """
import argparse, json, sys
p = argparse.ArgumentParser()
p.add_argument("--x", type=float)
p.add_argument("--mode")
p.add_argument("--load", type=int)
a = p.parse_args()
if a.mode == "c" and a.x > 1.5:
    print("Traceback (most recent call last): mode c cannot take x > 1.5", file=sys.stderr)
    sys.exit(3)
score = -(a.x - 3) ** 2 + {"a": 0.0, "b": 1.0, "c": 0.5}[a.mode] + 0.3 * a.load
json.dump({"score": score, "latency_ms": 10 + abs(a.x - 1.5) * a.load}, open("result.json", "w"))
"""

MIXED = {
    "name": "mixed",
    "command": ["{python}", "{workload_dir}/bench.py", "--x={x}", "--mode={mode}", "--load={load}"],
    "params": {
        "x": {"low": 0.5, "high": 6.0, "log": True},
        "mode": ["a", "b", "c"],
        "load": [1, 2],
    },
    "env_params": {"load": {}},
    "metrics": [
        {"name": "score", "json": "result.json:score"},
        {"name": "latency_ms", "json": "result.json:latency_ms"},
    ],
    "agent": {
        "type": "random",
        "max_steps": 24,
        "metrics": ["score", "latency_ms"],
        "objectives": ["max", "min"],
        "seed": 3,
    },
}

PLOTS_JS = """
return Array.from(document.querySelectorAll('figure.plot')).map(function (figure) {
  var svg = figure.querySelector('svg');
  var box = svg ? svg.getBoundingClientRect() : {left: 0, top: 0, width: 0, height: 0};
  var marks = svg ? Array.from(svg.querySelectorAll('.mark')) : [];
  var inside = marks.filter(function (m) {
    var b = m.getBoundingClientRect();
    var cx = b.left + b.width / 2, cy = b.top + b.height / 2;
    return (b.width > 0 || b.height > 0) && cx >= box.left - 1 && cx <= box.left + box.width + 1
      && cy >= box.top - 1 && cy <= box.top + box.height + 1;
  });
  return {plot: figure.dataset.plot, width: box.width, height: box.height,
          marks: marks.length, visible: inside.length};
});
"""


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-dev-shm-usage",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        "--window-size=1400,1000",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    try:
        yield driver
    finally:
        driver.quit()


def _run(args: list[str], output: Path) -> Path:
    assert main(["run", *args, "--output", str(output), "--quiet"]) == 0
    (run_dir,) = output.iterdir()
    return run_dir


def _open(driver: Any, page: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Load ``page``; return its plots and its console entries (after draining old ones)."""
    driver.get_log("browser")
    driver.get_log("performance")
    driver.get(page.as_uri())
    assert driver.execute_script("return document.readyState") == "complete"
    plots = driver.execute_script(PLOTS_JS)
    return plots, driver.get_log("browser")


def _requested_urls(driver: Any) -> list[str]:
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def _screenshot(driver: Any, path: Path) -> Path:
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1400, min(int(height) + 40, 12000))
    assert driver.save_screenshot(str(path))
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
    return path


def _assert_rendered(plots: list[dict[str, Any]], expected: set[str]) -> None:
    assert {p["plot"] for p in plots} == expected
    for plot in plots:
        assert plot["width"] > 200 and plot["height"] > 100, plot
        assert plot["marks"] > 0 and plot["visible"] == plot["marks"], plot


def test_example_run_report_renders_in_chromium(
    browser: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = ROOT / "examples" / "sqlite-insert" / "scenario.toml"
    run_dir = _run([str(scenario), "--max-steps", "8"], tmp_path / "runs")
    plots, console = _open(browser, run_dir / "report.html")
    dims = {"journal_mode", "synchronous", "cache_size", "page_size", "rows_per_txn"}
    _assert_rendered(
        plots, {"reward", "best-so-far", "env-row_bytes"} | {f"param-{d}" for d in dims}
    )
    assert [e for e in console if e["level"] == "SEVERE"] == [], console
    assert all(u.startswith(("file://", "data:")) for u in _requested_urls(browser))
    title = browser.title
    assert title == "tunegym report: sqlite-insert"
    _screenshot(browser, tmp_path / "report-sqlite-insert.png")
    print(f"screenshot: {tmp_path / 'report-sqlite-insert.png'}", file=sys.stderr)
    capsys.readouterr()


def test_every_plot_kind_renders_and_console_errors_would_be_seen(
    browser: Any, tmp_path: Path, write_toml: Callable[[str, dict[str, Any]], Path]
) -> None:
    (tmp_path / "bench.py").write_text(BENCH)
    workload = write_toml("mixed.toml", MIXED)
    run_dir = _run([str(workload)], tmp_path / "runs")
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["jobs"][0]["counts"]["failed"] > 0  # the failures section has content
    plots, console = _open(browser, run_dir / "report.html")
    _assert_rendered(
        plots, {"reward", "best-so-far", "param-x", "param-mode", "env-load", "pareto"}
    )
    assert [e for e in console if e["level"] == "SEVERE"] == [], console
    failures = browser.execute_script(
        "return Array.from(document.querySelectorAll('details.failure[open] pre'))"
        ".map(function (p) { return p.innerText; });"
    )
    assert failures and all("mode c cannot take x > 1.5" in text for text in failures)
    _screenshot(browser, tmp_path / "report-mixed.png")
    # The console check is live: an error the page would log is seen.
    browser.execute_script("console.error('tunegym probe')")
    assert any("tunegym probe" in e["message"] for e in browser.get_log("browser"))


SLOW = """
import sys, time
time.sleep(float(sys.argv[2]))
print(f"score: {-(int(sys.argv[1]) - 5) ** 2}")
"""


def _trials_shown(browser: Any) -> int:
    """The job's trial count on the page, read in one script call: the watch script
    swaps the section in place, so an element found first may be gone when read."""
    text = browser.execute_script("return document.querySelector('section.job table.kv').innerText")
    found = re.search(r"trials\s+(\d+)\s+of", text)
    assert found, text
    return int(found.group(1))


def test_watch_shows_a_trial_that_finished_after_the_page_was_opened(
    browser: Any, tmp_path: Path, write_toml: Callable[[str, dict[str, Any]], Path]
) -> None:
    import subprocess
    import threading
    import time

    from tunegym.report.watch import ReportWatcher, make_server

    (tmp_path / "slow.py").write_text(SLOW)
    workload = write_toml(
        "slow.toml",
        {
            "name": "slow",
            "command": ["{python}", "{workload_dir}/slow.py", "{x}", "1.0"],
            "params": {"x": list(range(12))},
            "metrics": [{"name": "score", "regex": r"score: (\S+)"}],
            "agent": {"type": "grid", "max_steps": 12},
        },
    )
    out = tmp_path / "runs"
    run = subprocess.Popen(
        [sys.executable, "-m", "tunegym.cli.main", "run", str(workload), "--output", str(out), "-q"]
    )
    try:
        deadline = time.monotonic() + 60
        while not list(out.glob("*/slow/0/2/stdout.txt")) and time.monotonic() < deadline:
            time.sleep(0.05)
        (run_dir,) = out.iterdir()
        watcher = ReportWatcher(run_dir, interval_s=0.2)
        server = make_server(watcher)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1})
        thread.start()
        try:
            url = f"http://127.0.0.1:{server.server_address[1]}/"
            browser.get(url)
            first = browser.execute_script("return document.documentElement.dataset.state")
            trials_then = _trials_shown(browser)
            assert trials_then < 12
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                if _trials_shown(browser) > trials_then:
                    break
                time.sleep(0.2)
            else:
                raise AssertionError(f"the page never showed more than {trials_then} trials")
            assert browser.execute_script("return document.documentElement.dataset.state") != first
            errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
            assert errors == [], errors  # the watch script ran under its CSP
        finally:
            server.shutdown()
            server.server_close()
            thread.join()
    finally:
        assert run.wait(timeout=120) == 0
    # The static report stays script-free.
    assert "<script" not in (run_dir / "report.html").read_text()
