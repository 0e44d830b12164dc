"""The CLI's manners: plain help text, quiet exits on a closed pipe, ``--json`` documents, progress
bars on terminals only, rich kept out of ``--help`` / ``validate``, import time told apart."""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from audit.cli import CLOSED_PIPE, build_parser, main

ROOT = Path(__file__).resolve().parents[1]
AUDIT = [sys.executable, "-m", "audit"]


def _commands() -> list[str]:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sorted(sub.choices)


@pytest.mark.parametrize("command", ["", *_commands()])
def test_help_text_is_plain(command, capsys):
    with pytest.raises(SystemExit) as stop:
        main([command, "--help"] if command else ["--help"])
    assert stop.value.code == 0
    text = capsys.readouterr().out
    assert text.startswith("usage: audit")
    for markup in ("``", "%%", ":func:", ":class:", ":mod:"):
        assert markup not in text, f"audit {command} --help shows {markup!r}"


def test_every_command_is_covered_by_the_help_test():
    assert {"run", "validate", "schema", "list", "gate", "diff", "card", "dashboard"} <= set(_commands())


def test_diff_help_names_the_interval_once_plainly(capsys):
    with pytest.raises(SystemExit):
        main(["diff", "--help"])
    assert "95% intervals" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv", [["schema"], ["schema", "--results"], ["list", "--params"], ["list", "--json"], ["--help"]]
)
def test_a_closed_pipe_ends_quietly(argv):
    """The reader is gone before the first write (a real pipe): no traceback, exit 141 (argparse's
    own --help ignores a failed write and exits 0, also without a word)."""
    proc = subprocess.Popen([*AUDIT, *argv], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()
    err = proc.stderr.read().decode()
    code = proc.wait(timeout=60)
    assert code in ((0, CLOSED_PIPE) if argv == ["--help"] else (CLOSED_PIPE,))
    assert CLOSED_PIPE == 141 and err == ""


def test_head_of_a_long_output_is_quiet():
    """What a user types: `audit schema | head -1` (the schema is larger than a pipe buffer)."""
    out = subprocess.run(
        ["bash", "-c", f"{' '.join(AUDIT)} schema | head -1; echo \"status=${{PIPESTATUS[0]}}\""],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.stdout.splitlines() == ["{", "status=141"]
    assert out.stderr == ""


def test_help_and_validate_never_import_rich():
    code = textwrap.dedent(
        f"""
        import sys
        from audit.cli import main
        try:
            main(["--help"])
        except SystemExit:
            pass
        main(["validate", "--no-data", {str(ROOT / "suites" / "credit.yaml")!r}])
        print(sorted(m for m in sys.modules if m.split(".")[0] == "rich"))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_validate_json(capsys, tmp_path):
    assert main(["validate", "--json", str(ROOT / "suites" / "credit.yaml")]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["command"] == "validate" and doc["valid"] is True and doc["exit_code"] == 0
    assert doc["name"] == "credit" and doc["models"] == 3 and doc["problems"] == []
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nname: x\nmodels: 3\n")
    assert main(["validate", "--json", str(bad)]) == 2
    captured = capsys.readouterr()
    doc = json.loads(captured.out)
    assert doc["valid"] is False and doc["exit_code"] == 2 and doc["name"] is None
    keys = {p["key"] for p in doc["problems"]}
    assert "data" in keys and "models" in keys and all(p["file"] == str(bad) for p in doc["problems"])
    assert "audit: error:" in captured.err  # the human text goes to stderr


def test_list_json_matches_the_registries(capsys):
    from audit.registry import CHECKS, DATASETS, RECIPES

    assert main(["list", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert {c["name"] for c in doc["checks"]} == set(CHECKS.names())
    assert [r["name"] for r in doc["recipes"]] == list(RECIPES.names())
    assert doc["datasets"] == list(DATASETS.names())
    performance = next(c for c in doc["checks"] if c["name"] == "performance")
    assert performance["params"]["bootstrap"] == {
        "required": False,
        "default": CHECKS.get("performance").Params().bootstrap,
    }


def test_bad_input_with_json_still_prints_one_document(capsys, tmp_path):
    assert main(["run", str(tmp_path / "missing.yaml"), "--json"]) == 2
    captured = capsys.readouterr()
    doc = json.loads(captured.out)
    assert doc["command"] == "run" and doc["exit_code"] == 2 and "missing.yaml" in doc["error"]
    assert "audit: error:" in captured.err


# --- progress -----------------------------------------------------------------------------------


def test_console_log_off_a_terminal_writes_plain_lines_through_the_context(tmp_path):
    from audit.commands.progress import ConsoleLog
    from audit.context import Context

    stream = io.StringIO()
    log = ConsoleLog(stream)
    assert log.progress is None  # not a terminal: Context.progress falls back to lines
    report = Context(None, None, {}, 0, tmp_path, log).progress("svc", "explain: rows", min_seconds=0.0)
    for done in range(1, 101):
        report(done, 100)
    lines = stream.getvalue().splitlines()
    assert (
        9 <= len(lines) <= 11
        and lines[-1].startswith("        svc · explain: rows 100/100 (100%)")
        and "ETA" in lines[0]
    )
    assert "\x1b[" not in stream.getvalue()  # no escape codes in a log file


PTY_SCRIPT = textwrap.dedent(
    """
    import time
    from pathlib import Path
    from audit.commands.progress import ConsoleLog
    from audit.context import Context

    log = ConsoleLog()  # stderr is the pty
    report = Context(None, None, {}, 0, Path("."), log).progress("gbm", "shift: perturbed set", min_seconds=0.0)
    for done in range(1, 21):
        time.sleep(0.02)
        report(done, 20, "noise@1.0")
    log("  [11/24] gbm · shift: ok (0.5s)")
    half = Context(None, None, {}, 0, Path("."), log).progress("gbm", "explain: rows", min_seconds=0.0)
    half(3, 10)  # the check raised half way: the next step line clears the bar
    log("  [12/24] gbm · explain: ERROR (0.1s)")
    log.close()
    """
)


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")
def test_a_terminal_gets_a_bar_with_eta_instead_of_lines():
    master, slave = os.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-c", PTY_SCRIPT], cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=slave, env={**os.environ, "TERM": "xterm-256color", "COLUMNS": "160"},
    )  # fmt: skip
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # the child closed the pty
            break
        if not data:
            break
        chunks.append(data)
    assert proc.wait(timeout=60) == 0
    os.close(master)
    screen = b"".join(chunks).decode("utf-8", "replace")
    assert "gbm · shift: perturbed set (noise@1.0)" in screen and "ETA" in screen and "━" in screen
    assert re.search(r"\b\d{1,2}/20\b", re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen))  # done/total on the bar
    assert "perturbed set 10/20" not in screen  # the plain progress lines are replaced by the bar
    assert "[11/24] gbm · shift: ok" in screen and "[12/24] gbm · explain: ERROR" in screen


def test_import_clock_times_first_imports_apart(tmp_path, monkeypatch):
    from audit.import_clock import import_clock

    package = tmp_path / "slowpkg_for_audit_test"
    package.mkdir()
    (package / "__init__.py").write_text("import time\ntime.sleep(0.3)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    start = time.perf_counter()
    with import_clock() as imported:
        import slowpkg_for_audit_test  # noqa: F401

        time.sleep(0.2)  # the "loading" part, not an import
    total = time.perf_counter() - start
    assert imported.packages == ["slowpkg_for_audit_test"]
    assert 0.3 <= imported.seconds < 0.3 + 0.15 and total - imported.seconds >= 0.2
    with import_clock() as again:
        import slowpkg_for_audit_test  # noqa: F401, F811 - already loaded: costs nothing

        time.sleep(0.05)
    assert again.packages == [] and again.seconds == 0.0
    monkeypatch.delitem(sys.modules, "slowpkg_for_audit_test")
