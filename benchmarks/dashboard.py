"""Time the first render of every dashboard page for one run (the credit run by default).

Two measures, both honest about what they include:

* ``script``: Streamlit's ``AppTest`` runs a page headless in a **fresh Python process** per
  page (nothing imported or cached yet beyond streamlit itself), and times ``at.run()``: reading
  the reports folder, loading results.json, building every table and figure and serialising
  them. It then times a rerun of the same page (what a widget click costs) and, for the
  Explanation explorer, the rerun that loads the what-if model once the visitor has confirmed
  the run's suite and model files.
* ``browser`` (``--browser``, needs Chromium): ``streamlit run dashboards/app.py`` and headless
  Chromium open ``?page=<page>&run=<run>``; ``content`` is when the heading is drawn, the script
  has finished and nothing is loading, ``settled`` when the page last changed (stable for 3 s
  after), so plotly drawing in the browser is included; server start-up is not. ``cold``: a
  fresh server and browser profile per page; ``warm``: a server and browser that showed every
  page once (each navigation is still a new session and a new script run). ``floor`` times a
  page holding only a title and one plotly chart the same way: what Streamlit and plotly.js
  cost in this browser on this machine whatever the app does.

Usage:

    .venv/bin/python benchmarks/dashboard.py --reports reports --run credit/<run-id> [--browser]

Without ``--run`` the newest credit run in the folder is used. On a shared machine wall time
follows the load: the script prints the load average next to the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "dashboards" / "app.py"
PAGES = ("runs", "detail", "compare", "fairness", "explain")
BUDGET_S = 3.0

# Runs in a child process: one page, first render, rerun, and (explain) the confirmed what-if.
CHILD = r"""
import json, os, sys, time
from streamlit.testing.v1 import AppTest
app, page, run = sys.argv[1], sys.argv[2], sys.argv[3]
at = AppTest.from_file(app, default_timeout=600)
at.query_params.update({"page": page, "run": run})
t = time.perf_counter(); at.run(); first = time.perf_counter() - t
errors = [str(e.value)[:200] for e in at.exception]
t = time.perf_counter(); at.run(); rerun = time.perf_counter() - t
out = {"first": first, "rerun": rerun, "errors": errors}
boxes = [b for b in at.checkbox if str(b.key).startswith("wi_trust_")]
if page == "explain" and boxes:
    for box in boxes:
        box.check()
    t = time.perf_counter(); at.run(); out["whatif"] = time.perf_counter() - t
    out["errors"] += [str(e.value)[:200] for e in at.exception]
print("RESULT " + json.dumps(out))
"""


def newest_run(reports: Path, suite: str = "credit") -> str:
    folders = sorted(p for p in (reports / suite).iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        raise SystemExit(f"no {suite} run in {reports}; run `audit run suites/{suite}.yaml` first")
    created = {p.name: json.loads((p / "results.json").read_text()).get("created_at", "") for p in folders}
    return f"{suite}/{max(created, key=lambda k: (created[k], k))}"


def script_times(reports: Path, run: str, app: Path) -> dict[str, dict]:
    env = {**os.environ, "AUDIT_REPORTS_DIR": str(reports), "PYTHONPATH": str(app.parents[1])}
    found = {}
    for page in PAGES:
        proc = subprocess.run(
            [sys.executable, "-c", CHILD, str(app), page, run],
            env=env,
            capture_output=True,
            text=True,
            cwd=app.parents[1],
        )
        line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
        if line is None:
            raise SystemExit(f"page {page} did not render:\n{proc.stderr[-2000:]}")
        found[page] = json.loads(line[len("RESULT ") :])
    return found


# (script done, page state): the heading is drawn and the script has finished, and a summary of
# what is on the page (text length, charts drawn, skeletons still loading) to see when it settles.
STATE_JS = """(() => {
  const app = document.querySelector('[data-testid="stApp"]');
  if (!app || !document.querySelector('h1')) return null;
  const done = app.getAttribute('data-test-script-state') !== 'running';
  const loading = document.querySelectorAll('[data-testid="stSkeleton"], [data-testid="stSpinner"]').length;
  return [done && loading === 0, document.body.innerText.length + ':' + document.querySelectorAll('.js-plotly-plot').length + ':' + loading];
})()"""


def _page_times(tools: Any, url: str, limit: float = 300) -> tuple[float, float]:
    """(content, settled): seconds from navigation until the script finished with the heading drawn
    and nothing loading, and until the page last changed (then stable for 3 s)."""
    start = time.monotonic()
    tools.call("Page.navigate", url=url)
    content = float("nan")
    last, changed_at = None, 0.0
    while time.monotonic() - start < limit:
        time.sleep(0.1)
        state = tools.evaluate(STATE_JS)
        now = time.monotonic() - start
        ready = bool(state and state[0])
        if ready and content != content:
            content = now
        summary = state[1] if state else None
        if summary != last:
            last, changed_at = summary, now
        elif ready and now - changed_at >= 3.0:
            return content, changed_at
    return content, float("nan")


class _Browser:
    """A streamlit server on a free port and headless Chromium with a fresh profile, driven over DevTools."""

    def __init__(self, reports: Path, app: Path, chromium: str) -> None:
        self.reports, self.app, self.chromium = reports, app, chromium

    def __enter__(self) -> _Browser:
        from websockets.sync.client import connect

        sys.path.insert(0, str(ROOT / "scripts"))
        from screenshot_dashboard import DevTools, free_port, wait_healthy  # the screenshot script's client and helpers

        self.port = free_port()
        self.server = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(self.app), "--server.headless", "true",
             "--server.port", str(self.port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false",
             "--server.fileWatcherType", "none"],
            env={**os.environ, "AUDIT_REPORTS_DIR": str(self.reports)}, cwd=self.app.parents[1],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        self.profile = tempfile.mkdtemp(prefix="audit-bench-chromium-")
        self.browser = None
        wait_healthy(self.port, 90)
        self.browser = subprocess.Popen(
            [self.chromium, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={self.profile}",
             "--window-size=1400,1000", "--remote-debugging-port=0", "--remote-allow-origins=*", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        port_file = Path(self.profile) / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not port_file.is_file() or not port_file.read_text().strip():
            if time.monotonic() > deadline:
                raise SystemExit("Chromium did not open its DevTools port")
            time.sleep(0.1)
        dport = int(port_file.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{dport}/json/list", timeout=10) as reply:
            target = next(t for t in json.load(reply) if t.get("type") == "page")
        self.ws = connect(target["webSocketDebuggerUrl"], max_size=None, open_timeout=20)
        self.tools = DevTools(self.ws)
        self.tools.call("Page.enable")
        return self

    def times(self, page: str, run: str) -> tuple[float, float]:
        return _page_times(self.tools, f"http://127.0.0.1:{self.port}/?page={page}&run={run}")

    def __exit__(self, *exc: object) -> None:
        self.ws.close()
        if self.browser is not None:
            self.browser.terminate()
            self.browser.wait(timeout=10)
        os.killpg(self.server.pid, signal.SIGTERM)
        self.server.wait(timeout=15)
        shutil.rmtree(self.profile, ignore_errors=True)


def browser_times(reports: Path, run: str, app: Path, chromium: str) -> dict[str, dict[str, tuple[float, float]]]:
    """Per page: ``cold`` (a fresh server and browser for the page) and ``warm`` (a server and browser
    that showed every page once already; each navigation is still a new session and a new script run)."""
    found: dict[str, dict[str, tuple[float, float]]] = {page: {} for page in PAGES}
    for page in PAGES:
        with _Browser(reports, app, chromium) as browser:
            found[page]["cold"] = browser.times(page, run)
    with _Browser(reports, app, chromium) as browser:
        for page in PAGES:
            browser.times(page, run)
        for page in PAGES:
            found[page]["warm"] = browser.times(page, run)
    return found


FLOOR_APP = """import plotly.graph_objects as go
import streamlit as st
st.title("floor")
st.plotly_chart(go.Figure(go.Bar(x=[1, 2], y=[3, 4])))
"""


def floor_times(chromium: str) -> tuple[float, float]:
    """Cold browser times of a page with a title and one plotly chart (the framework's own cost)."""
    with tempfile.TemporaryDirectory(prefix="audit-bench-floor-") as folder:
        app = Path(folder) / "dashboards" / "app.py"
        app.parent.mkdir()
        app.write_text(FLOOR_APP)
        with _Browser(Path(folder), app, chromium) as browser:
            return browser.times("floor", "none")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=Path, default=ROOT / "reports", help="reports folder")
    parser.add_argument("--run", default=None, help="suite/run-id (default: the newest credit run)")
    parser.add_argument("--app", type=Path, default=APP, help="the app to time (e.g. an older checkout's)")
    parser.add_argument("--browser", action="store_true", help="also time the page in headless Chromium")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    args = parser.parse_args()
    reports = args.reports.resolve()
    run = args.run or newest_run(reports)
    print(f"run {run} in {reports}; {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    script = script_times(reports, run, args.app.resolve())
    browser = browser_times(reports, run, args.app.resolve(), args.chromium) if args.browser else {}
    floor = floor_times(args.chromium) if args.browser else None
    print()
    print("script: AppTest in a fresh process per page (imports and first read included); rerun: the same page again")
    if browser:
        print("browser: Chromium; content = heading drawn, script done, nothing loading; settled = last change")
        print("         cold = fresh server and browser for the page; warm = both have shown every page once")
    header = f"{'page':<10} {'script':>8} {'rerun':>7}"
    if browser:
        header += f" {'cold content':>13} {'settled':>8} {'warm content':>13} {'settled':>8}"
    print(header)
    worst = 0.0
    for page in PAGES:
        s = script[page]
        line = f"{page:<10} {s['first']:7.2f}s {s['rerun']:6.2f}s"
        worst = max(worst, s["first"])
        if browser:
            (cc, cs), (wc, ws) = browser[page]["cold"], browser[page]["warm"]
            line += f" {cc:12.2f}s {cs:7.2f}s {wc:12.2f}s {ws:7.2f}s"
        if "whatif" in s:
            line += f"  (what-if model loaded after confirming its files: {s['whatif']:.2f}s)"
        if s["errors"]:
            line += f"  ERRORS: {s['errors']}"
        print(line)
    if floor is not None:
        print(f"{'floor':<10} {'':>8} {'':>7} {floor[0]:12.2f}s {floor[1]:7.2f}s   (a title and one plotly chart)")
    print(
        f"load average now {os.getloadavg()[0]:.2f}; slowest script first render {worst:.2f}s (budget {BUDGET_S:.0f}s)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
