"""``audit dashboard``: command line, bad input, the missing extra, and a real server start/stop."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from audit.cli import main
from audit.commands import dashboard


def test_dry_run_binds_loopback_headless(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dashboard", str(tmp_path), "--port", "8600", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"AUDIT_REPORTS_DIR={tmp_path.resolve()} ")
    assert f"-m streamlit run {dashboard.app_path()}" in out
    for flag in (
        "--server.address 127.0.0.1",
        "--server.port 8600",
        "--server.headless true",
        "--browser.gatherUsageStats false",
        "--server.fileWatcherType none",
    ):
        assert flag in out


def test_missing_reports_folder_is_a_user_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dashboard", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert (
        f"audit: error: {tmp_path / 'nope'}: no such reports folder; run a suite first (audit run suites/credit.yaml)"
        in err
    )


@pytest.mark.parametrize("port", ["0", "70000", "http"])
def test_bad_port_is_refused(port: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["dashboard", "--port", port])
    assert stop.value.code == 2 and "argument --port: must be" in capsys.readouterr().err


def test_missing_extra_names_the_install_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "streamlit" else real(name, *a))
    assert main(["dashboard", str(tmp_path)]) == 2
    assert (
        "needs the package 'streamlit', which is not installed. Install it with: pip install 'audit[dashboard]'"
        in capsys.readouterr().err
    )


def test_url_brackets_ipv6() -> None:
    assert dashboard.url("127.0.0.1", 8501) == "http://127.0.0.1:8501/"
    assert dashboard.url("::1", 8501) == "http://[::1]:8501/"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _listen_addresses(port: int) -> set[str] | None:
    """Local addresses (hex, as in /proc/net/tcp*) listening on ``port``; None off Linux."""
    found: set[str] = set()
    tables = [Path("/proc/net/tcp"), Path("/proc/net/tcp6")]
    if not tables[0].is_file():
        return None
    for table in (t for t in tables if t.is_file()):
        for line in table.read_text().splitlines()[1:]:
            fields = line.split()
            address, _, hex_port = fields[1].rpartition(":")
            if fields[3] == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                found.add(address)
    return found


def test_server_starts_on_loopback_and_stops_with_its_parent(tmp_path: Path) -> None:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "audit.cli", "dashboard", str(tmp_path), "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        first = process.stdout.readline()
        assert first.startswith(f"audit dashboard: http://127.0.0.1:{port}/  (reports: {tmp_path.resolve()}")
        deadline, healthy = time.monotonic() + 90, False
        while time.monotonic() < deadline and not healthy:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as reply:
                    healthy = reply.read().strip() == b"ok"
            except OSError:
                time.sleep(0.5)
        assert healthy, "streamlit did not become healthy"
        addresses = _listen_addresses(port)
        assert addresses is None or addresses == {"0100007F"}  # 127.0.0.1 only, nothing on 0.0.0.0
        process.send_signal(signal.SIGTERM)  # to `audit dashboard` only: it must take streamlit down too
        assert process.wait(timeout=30) == 0
        deadline = time.monotonic() + 15
        while _listening(port) and time.monotonic() < deadline:
            time.sleep(0.3)
        assert not _listening(port)
    finally:  # the whole session we started (audit dashboard and its streamlit child)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
