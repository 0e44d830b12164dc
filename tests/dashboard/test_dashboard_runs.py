"""Run discovery and path containment: the dashboard lists runs and never leaves the reports folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from dashboard_helpers import make_results, metric, write_run

from audit.dashboard.runs import PathOutsideRoot, discover_runs, find_run, latest_per_suite, run_file, safe_path


@pytest.fixture
def reports(tmp_path: Path) -> Path:
    root = tmp_path / "reports"
    write_run(
        root,
        make_results("20250101T000000Z-aaaaaa", "2025-01-01T00:00:00+00:00", [metric("m/performance/accuracy", 0.8)]),
    )
    write_run(
        root,
        make_results(
            "20250301T000000Z-bbbbbb",
            "2025-03-01T00:00:00+00:00",
            [metric("m/performance/accuracy", 0.7)],
            status="fail",
        ),
    )
    write_run(
        root,
        make_results(
            "20250201T000000Z-cccccc",
            "2025-02-01T00:00:00+00:00",
            [metric("m/performance/accuracy", 0.9)],
            suite="other",
        ),
    )
    partial = root / "toy" / ".20250401T000000Z-dddddd.partial"
    partial.mkdir()
    (partial / "results.json").write_text("{}")
    hidden_suite = root / ".cache" / "run"
    hidden_suite.mkdir(parents=True)
    (hidden_suite / "results.json").write_text("{}")
    broken = root / "toy" / "20250501T000000Z-eeeeee"
    broken.mkdir()
    (broken / "results.json").write_text("{not json")
    (root / "toy" / "no-results-yet").mkdir()
    return root


def test_discovery_lists_complete_runs_newest_first_and_skips_partial_and_hidden(reports: Path) -> None:
    entries = discover_runs(reports)
    readable = [e for e in entries if e.error is None]
    assert [e.key for e in readable] == [
        "toy/20250301T000000Z-bbbbbb",
        "other/20250201T000000Z-cccccc",
        "toy/20250101T000000Z-aaaaaa",
    ]
    assert [e.status for e in readable] == ["fail", "pass", "pass"]
    assert readable[0].models == ("m",)
    assert not any(".partial" in e.run_id or e.suite == ".cache" for e in entries)
    broken = [e for e in entries if e.error is not None]
    assert [e.run_id for e in broken] == ["20250501T000000Z-eeeeee"]
    assert "not a readable results file" in broken[0].error


def test_latest_per_suite_is_the_newest_readable_run(reports: Path) -> None:
    latest = latest_per_suite(discover_runs(reports))
    assert {s: e.run_id for s, e in latest.items()} == {
        "toy": "20250301T000000Z-bbbbbb",
        "other": "20250201T000000Z-cccccc",
    }


def test_discovery_of_a_missing_folder_is_empty(tmp_path: Path) -> None:
    assert discover_runs(tmp_path / "nowhere") == []


def test_results_are_reread_when_the_file_changes(reports: Path) -> None:
    entry = find_run(discover_runs(reports), "toy/20250101T000000Z-aaaaaa")
    assert entry.load().metric("m/performance/accuracy").value == 0.8
    results = make_results(
        "20250101T000000Z-aaaaaa", "2025-01-01T00:00:00+00:00", [metric("m/performance/accuracy", 0.55)]
    )
    from audit.results import save_results

    save_results(results, entry.path / "results.json")
    os.utime(entry.path / "results.json", ns=(1, 10**18))
    assert entry.load().metric("m/performance/accuracy").value == 0.55


@pytest.mark.parametrize(
    "relative", ["../x", "a/../../x", "..", "/etc/passwd", "~/.ssh/id_rsa", "a\x00b", "\\\\server\\share"]
)
def test_safe_path_rejects_escapes(tmp_path: Path, relative: str) -> None:
    (tmp_path / "a").mkdir()
    with pytest.raises(PathOutsideRoot):
        safe_path(tmp_path / "a", relative)


def test_safe_path_accepts_paths_inside(tmp_path: Path) -> None:
    assert safe_path(tmp_path, "a/b/../c.png") == (tmp_path / "a" / "c.png").resolve()
    assert safe_path(tmp_path, "") == tmp_path.resolve()


def test_safe_path_rejects_a_symlink_that_points_outside(tmp_path: Path) -> None:
    root, secret = tmp_path / "reports", tmp_path / "secret.txt"
    root.mkdir()
    secret.write_text("do not show")
    (root / "link.png").symlink_to(secret)
    with pytest.raises(PathOutsideRoot):
        safe_path(root, "link.png")


def test_a_suite_folder_symlinked_outside_the_root_is_not_listed(tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    write_run(
        outside,
        make_results("20250101T000000Z-ffffff", "2025-01-01T00:00:00+00:00", [metric("m/performance/accuracy", 0.8)]),
    )
    root = tmp_path / "reports"
    root.mkdir()
    (root / "toy").symlink_to(outside / "toy")
    assert discover_runs(root) == []


def test_run_keys_are_looked_up_never_joined(reports: Path) -> None:
    entries = discover_runs(reports)
    assert find_run(entries, "toy/20250101T000000Z-aaaaaa") is not None
    for key in (
        "toy/../other/20250201T000000Z-cccccc",
        "../toy/20250101T000000Z-aaaaaa",
        "/etc",
        "toy/.20250401T000000Z-dddddd.partial",
    ):
        assert find_run(entries, key) is None


def test_run_file_stays_inside_the_run_folder(reports: Path) -> None:
    entry = find_run(discover_runs(reports), "toy/20250101T000000Z-aaaaaa")
    assert run_file(entry, "results.json") == (entry.path / "results.json").resolve()
    assert run_file(entry, "../20250301T000000Z-bbbbbb/results.json") is None
    assert run_file(entry, "../../other/20250201T000000Z-cccccc/results.json") is None
    assert run_file(entry, "missing.png") is None
