"""Screenshot a dashboard page with headless Chromium (for docs and visual checks).

    .venv/bin/python scripts/screenshot_dashboard.py REPORTS_DIR --out /tmp/dashboard_run_detail.png

Starts ``audit dashboard REPORTS_DIR`` on a free loopback port, waits for Streamlit's health
endpoint, opens the page in headless Chromium (Streamlit draws client-side over a websocket: the
script drives Chromium over the DevTools protocol and waits until the page has settled rather
than relying on ``--screenshot``, which fires before the websocket data arrives), writes the PNG
and stops the server and browser it started.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_healthy(port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as reply:
                if reply.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"the dashboard did not answer on port {port} within {timeout:.0f}s")


class DevTools:
    """A minimal Chrome DevTools Protocol client over one websocket (``websockets`` ships with streamlit)."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.next_id = 0

    def call(self, method: str, **params: object) -> dict:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv(timeout=60))
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})

    def evaluate(self, expression: str) -> object:
        return self.call("Runtime.evaluate", expression=expression, returnByValue=True).get("result", {}).get("value")


# Settled: the app has drawn a heading, no skeleton placeholders or running spinner remain, and
# the page text has stopped changing (checked over successive polls).
READY_JS = """(() => {
  const app = document.querySelector('[data-testid="stApp"]');
  if (!app || !document.querySelector('h1')) return null;
  if (document.querySelector('[data-testid="stSkeleton"], [data-testid="stSpinner"]')) return null;
  return document.body.innerText.length + ':' + document.querySelectorAll('.js-plotly-plot, .main-svg').length;
})()"""


def capture(chromium: str, address: str, width: int, height: int, timeout: float, tab: str | None = None) -> bytes:
    """Open ``address`` in headless Chromium, wait until Streamlit has settled, return a PNG."""
    with tempfile.TemporaryDirectory(prefix="audit-chromium-") as profile:
        browser = subprocess.Popen([
            chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
            f"--user-data-dir={profile}", f"--window-size={width},{height}", "--remote-debugging-port=0",
            "--remote-allow-origins=*", "about:blank",
        ], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        try:
            port_file = Path(profile) / "DevToolsActivePort"
            deadline = time.monotonic() + 30
            while not port_file.is_file() or not port_file.read_text().strip():
                if time.monotonic() > deadline:
                    raise SystemExit("Chromium did not open its DevTools port")
                time.sleep(0.2)
            port = int(port_file.read_text().split()[0])
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as reply:
                pages = [t for t in json.load(reply) if t.get("type") == "page"]
            from websockets.sync.client import connect

            with connect(pages[0]["webSocketDebuggerUrl"], max_size=None, open_timeout=20) as ws:
                return _shoot(DevTools(ws), address, width, height, timeout, tab)
        finally:
            browser.terminate()
            try:
                browser.wait(timeout=10)
            except subprocess.TimeoutExpired:
                browser.kill()


def _settle(tools: DevTools, timeout: float) -> None:
    deadline, last, stable = time.monotonic() + timeout, None, 0
    while time.monotonic() < deadline and stable < 3:
        time.sleep(1.0)
        state = tools.evaluate(READY_JS)
        stable = stable + 1 if state is not None and state == last else 0
        last = state


def _shoot(tools: DevTools, address: str, width: int, height: int, timeout: float, tab: str | None) -> bytes:
    tools.call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False)
    tools.call("Page.enable")
    tools.call("Page.navigate", url=address)
    _settle(tools, timeout)
    if tab:
        found = tools.evaluate(
            "(() => { const t = [...document.querySelectorAll('[role=tab]')].find(b => b.innerText.trim() === "
            + json.dumps(tab)
            + "); if (t) { t.click(); t.scrollIntoView(); return true; } return false; })()"
        )
        if not found:
            raise SystemExit(f"no tab named {tab!r} on the page")
        _settle(tools, timeout)
    time.sleep(1.0)  # let plotly finish its transitions
    shot = tools.call("Page.captureScreenshot", format="png")
    return base64.b64decode(shot["data"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("reports", help="reports folder (<suite>/<run-id>/results.json)")
    parser.add_argument("--out", default="/tmp/dashboard_run_detail.png", help="PNG to write")
    parser.add_argument("--page", default="detail", help="page: runs, detail, compare, fairness, explain")
    parser.add_argument("--run", default=None, help="suite/run-id to show (default: the newest run)")
    parser.add_argument("--tab", default=None, help="click the tab with this label first (e.g. shift)")
    parser.add_argument("--size", default="1400,2000", help="window width,height in pixels")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for the page to settle")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    args = parser.parse_args()

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "audit.cli", "dashboard", args.reports, "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_healthy(port, 90)
        query = {"page": args.page} | ({"run": args.run} if args.run else {})
        address = f"http://127.0.0.1:{port}/?{urllib.parse.urlencode(query)}"
        out = Path(args.out).resolve()
        out.unlink(missing_ok=True)
        width, height = (int(v) for v in args.size.split(","))
        out.write_bytes(capture(args.chromium, address, width, height, args.timeout, args.tab))
        if not out.is_file():
            raise SystemExit("Chromium wrote no screenshot")
        print(f"{out} ({out.stat().st_size} bytes) from {address}")
        return 0
    finally:
        os.killpg(server.pid, signal.SIGTERM)  # the process group this script started
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)


if __name__ == "__main__":
    raise SystemExit(main())
