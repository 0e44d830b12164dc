"""``audit dashboard [REPORTS_DIR]``: browse finished runs in a local Streamlit app.

Starts ``streamlit run dashboards/app.py`` on 127.0.0.1 (this machine only) with the reports
folder passed in the ``AUDIT_REPORTS_DIR`` environment variable, and prints the address. The app
reads that folder only and recomputes no stored metric. It has no login: use ``--host`` to
share it on a network only where everyone on that network may see the reports.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number from 1 to 65535; got '{text}'") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"must be from 1 to 65535; got {port}")
    return port


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "dashboard",
        help="browse run folders in a local Streamlit dashboard (needs the 'dashboard' extra)",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
    )
    parser.add_argument(
        "reports",
        nargs="?",
        default="reports",
        metavar="REPORTS_DIR",
        help="folder holding <suite>/<run-id>/results.json (default: reports)",
    )
    parser.add_argument("--port", type=_port, default=8501, help="port to serve on (default: 8501)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1, this machine only)")
    parser.add_argument("--dry-run", action="store_true", help="print the streamlit command instead of starting it")
    parser.set_defaults(func=run)


def app_path() -> Path:
    """``dashboards/app.py`` of the source checkout this package lives in."""
    return Path(__file__).resolve().parents[2] / "dashboards" / "app.py"


def url(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/"


def streamlit_command(app: Path, host: str, port: int) -> list[str]:
    """The streamlit invocation: headless, no usage statistics, no file watching or reloading."""
    return [
        sys.executable, "-m", "streamlit", "run", str(app),
        "--server.address", host,
        "--server.port", str(port),
        "--server.headless", "true",
        "--server.fileWatcherType", "none",
        "--server.runOnSave", "false",
        "--browser.gatherUsageStats", "false",
        "--client.toolbarMode", "viewer",
    ]  # fmt: skip


def _stop_on_sigterm() -> None:
    """Treat SIGTERM like Ctrl-C so a supervisor stopping us also stops the streamlit child."""
    import contextlib
    import signal

    def stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    with contextlib.suppress(ValueError):  # not the main thread (embedded use): leave signals alone
        signal.signal(signal.SIGTERM, stop)


def run(args: argparse.Namespace) -> int:
    from audit.errors import AuditError, MissingExtra

    for package in ("streamlit", "plotly"):
        if importlib.util.find_spec(package) is None:
            raise MissingExtra(package, "dashboard", "audit dashboard")
    reports = Path(args.reports).expanduser().resolve()
    if not reports.is_dir():
        raise AuditError(
            f"{args.reports}: no such reports folder; run a suite first (audit run suites/credit.yaml) "
            "or name the folder that holds <suite>/<run-id>/results.json"
        )
    app = app_path()
    if not app.is_file():
        raise AuditError(
            f"{app}: the dashboard app is missing; it ships with the audit source checkout (dashboards/app.py)"
        )
    command = streamlit_command(app, args.host, args.port)
    env = {**os.environ, "AUDIT_REPORTS_DIR": str(reports)}
    if args.dry_run:
        print(f"AUDIT_REPORTS_DIR={shlex.quote(str(reports))} {shlex.join(command)}")
        return 0
    print(f"audit dashboard: {url(args.host, args.port)}  (reports: {reports}; Ctrl-C stops it)", flush=True)
    if args.host not in LOOPBACK:
        print(
            f"audit dashboard: warning: bound to {args.host}, so other machines can open it; it has no login",
            file=sys.stderr,
            flush=True,
        )
    process = subprocess.Popen(command, env=env)
    _stop_on_sigterm()
    try:
        return process.wait()
    except KeyboardInterrupt:  # Ctrl-C, or SIGTERM via _stop_on_sigterm: take the server down too
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        return 0
