"""The dashboard's file-reading rules against a planted reports folder.

Only regular files inside the reports folder, reached without a symlink at any level, are read;
a run is identified by its folder, never by what its results.json claims; and the what-if loads
no suite or model from a path results.json names outside the run folder unless the visitor
confirmed that path.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from dashboard_helpers import APP, make_results, metric, write_run
from streamlit.testing.v1 import AppTest

from audit.dashboard.figures import to_plotly
from audit.dashboard.runs import discover_runs, find_run, load_run, run_file
from audit.dashboard.safefiles import PathOutsideRoot, read_run_bytes, safe_run_dir, safe_run_file
from audit.dashboard.whatif import NeedsConfirmation, WhatIfUnavailable, open_whatif
from audit.errors import AuditError
from audit.results import RunResults, load_results, save_results

REAL = "20250101T000000Z-aaaaaa"
ARTEFACT = "logistic_regression-" + "0" * 20


def _results(run_id: str = REAL, created_at: str = "2025-01-01T00:00:00+00:00", suite: str = "toy") -> RunResults:
    return make_results(run_id, created_at, [metric("m/performance/accuracy", 0.8)], suite=suite)


@pytest.fixture
def layout(tmp_path: Path) -> tuple[Path, Path, Path]:
    """``(root, run, outside)``: a reports folder with one real run, and a folder outside it."""
    root, outside = tmp_path / "reports", tmp_path / "outside"
    run = write_run(root, _results())
    outside.mkdir()
    save_results(_results("20990101T000000Z-planted", "2099-01-01T00:00:00+00:00"), outside / "results.json")
    (outside / "secret.png").write_bytes(b"\x89PNG\r\n\x1a\nsecret")
    return root, run, outside


def _keys(root: Path) -> list[str]:
    return [e.key for e in discover_runs(root)]


# ---- 1. plain files inside the reports folder only ----------------------------------------


def test_a_results_json_symlinked_outside_is_not_listed(layout) -> None:
    root, _, outside = layout
    planted = root / "toy" / "20990101T000000Z-planted"
    planted.mkdir()
    (planted / "results.json").symlink_to(outside / "results.json")
    assert _keys(root) == [f"toy/{REAL}"]
    with pytest.raises(AuditError, match="symbolic link"):
        load_run(planted, root)


def test_a_results_json_symlinked_to_another_run_inside_is_not_listed_either(layout) -> None:
    root, run, _ = layout
    twin = root / "toy" / "20990101T000000Z-twin"
    twin.mkdir()
    (twin / "results.json").symlink_to(run / "results.json")  # stays inside the root: still a link
    assert _keys(root) == [f"toy/{REAL}"]


@pytest.mark.parametrize("level", ["suite", "run"])
def test_a_symlinked_folder_is_not_followed_even_inside_the_root(layout, level: str) -> None:
    root, run, _ = layout
    if level == "suite":
        (root / "alias").symlink_to(root / "toy", target_is_directory=True)
    else:
        (root / "toy" / "20990101T000000Z-alias").symlink_to(run, target_is_directory=True)
    assert _keys(root) == [f"toy/{REAL}"]


def test_a_symlinked_intermediate_folder_inside_a_run_is_not_followed(layout) -> None:
    root, run, outside = layout
    (run / "artefacts").symlink_to(outside, target_is_directory=True)
    entry = find_run(discover_runs(root), f"toy/{REAL}")
    assert run_file(entry, "artefacts/secret.png") is None
    with pytest.raises(PathOutsideRoot, match="'toy/.*/artefacts' is a symbolic link"):
        safe_run_file(root, run, "artefacts/secret.png")
    with pytest.raises(PathOutsideRoot):
        read_run_bytes(root, run, "artefacts/secret.png")
    shown = to_plotly({"kind": "image", "path": "artefacts/secret.png"}, run, root)
    assert shown.kind == "error" and shown.data is None and "symbolic link" in shown.error


def test_a_symlinked_image_file_is_not_shown(layout) -> None:
    root, run, outside = layout
    (run / "figure.png").symlink_to(outside / "secret.png")
    shown = to_plotly({"kind": "image", "path": "figure.png"}, run, root)
    assert shown.kind == "error" and shown.data is None


def test_a_run_folder_reached_through_a_link_above_it_is_refused(layout) -> None:
    root, run, _ = layout
    (root / "alias").symlink_to(root / "toy", target_is_directory=True)
    with pytest.raises(PathOutsideRoot, match="'alias' is a symbolic link"):
        safe_run_file(root, root / "alias" / REAL, "results.json")


@pytest.mark.parametrize(
    "relative", ["../../x", "artefacts/../../../x", "/etc/passwd", "~/x", "a\\..\\..\\x", "a\x00b", ".."]
)
def test_traversal_is_refused_before_anything_is_opened(layout, relative: str) -> None:
    root, run, _ = layout
    with pytest.raises(PathOutsideRoot):
        safe_run_file(root, run, relative)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_special_files_are_refused(layout) -> None:
    root, run, _ = layout
    os.mkfifo(run / "pipe.png")
    with pytest.raises(PathOutsideRoot, match="not a regular file"):
        read_run_bytes(root, run, "pipe.png")


def test_a_folder_holding_a_link_is_refused_as_a_whole(layout) -> None:
    root, run, outside = layout
    (run / "model").mkdir()
    (run / "model" / "weights").symlink_to(outside / "secret.png")
    with pytest.raises(PathOutsideRoot, match="link or special file"):
        safe_run_dir(root, run, "model")


def test_plain_files_inside_are_read(layout) -> None:
    root, run, _ = layout
    (run / "artefacts").mkdir()
    (run / "artefacts" / "x.png").write_bytes(b"\x89PNG\r\n\x1a\nok")
    assert read_run_bytes(root, run, "artefacts/x.png") == b"\x89PNG\r\n\x1a\nok"
    assert read_run_bytes(root, run, "artefacts/missing.png") is None
    assert load_run(run, root).run_id == REAL


# ---- 2. identity from the folder ----------------------------------------------------------


def test_a_run_claiming_another_runs_id_is_keyed_by_its_folder(layout) -> None:
    root, run, _ = layout
    planted = root / "toy" / "20990101T000000Z-planted"
    planted.mkdir()
    save_results(_results(REAL, "2099-01-01T00:00:00+00:00"), planted / "results.json")  # claims REAL's id
    other = root / "other" / "20990101T000000Z-suite"
    other.mkdir(parents=True)
    save_results(_results("20990101T000000Z-suite", suite="toy"), other / "results.json")  # claims suite toy
    entries = discover_runs(root)
    assert sorted(e.key for e in entries) == sorted(
        [f"toy/{REAL}", "toy/20990101T000000Z-planted", "other/20990101T000000Z-suite"]
    )
    assert find_run(entries, f"toy/{REAL}").path == run  # the real run keeps its link
    impostor = find_run(entries, "toy/20990101T000000Z-planted")
    assert impostor.run_id == "20990101T000000Z-planted" and impostor.path == planted
    assert "claims to be run toy/" + REAL in impostor.warning
    assert "claims to be run toy/" in find_run(entries, "other/20990101T000000Z-suite").warning
    assert find_run(entries, f"toy/{REAL}").warning is None


# ---- 3. what-if: no model or suite from a path results.json names, unless confirmed ---------


def _whatif_run(root: Path, suite_file: str, artefact: str, load: bool = False) -> tuple[RunResults, Path]:
    results = _results()
    results.manifest["suite_file"] = suite_file
    results.models["m"] = {"recipe": "logistic_regression", "modality": "tabular", "hash": "0" * 64}
    if load:
        results.models["m"] = {"load": artefact, "modality": "tabular"}
    else:
        results.models["m"]["artefact"] = artefact
    run = root / "toy" / REAL
    save_results(results, run / "results.json")
    return load_results(run), run


@pytest.fixture
def no_loading(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if the what-if reaches a suite or model loader."""

    def refuse(*args, **kwargs):
        raise AssertionError("a loader was called")

    monkeypatch.setattr("audit.suite.load_suite", refuse)
    monkeypatch.setattr("audit.data.tabular.build_bundle", refuse)


def test_what_if_refuses_paths_outside_the_run_until_confirmed(layout, no_loading) -> None:
    root, _, outside = layout
    suite_file, artefact = str(outside / "suite.yaml"), str(outside / ARTEFACT)
    results, run = _whatif_run(root, suite_file, artefact)
    with pytest.raises(NeedsConfirmation) as caught:
        open_whatif(results, run, "m", root=root)
    assert caught.value.paths == [("suite file", suite_file), ("model artefact folder", artefact)]
    assert "only after you confirm" in str(caught.value)
    with pytest.raises(NeedsConfirmation):  # confirming other paths does not count
        open_whatif(results, run, "m", root=root, trusted_paths={suite_file + "x", artefact + "/"})
    with pytest.raises(WhatIfUnavailable, match="not on this machine") as caught:  # confirmed: past the gate
        open_whatif(results, run, "m", root=root, trusted_paths={suite_file, artefact})
    assert not isinstance(caught.value, NeedsConfirmation)


@pytest.mark.parametrize("artefact", ["../../x", "../../outside", "artefacts/../../../outside", "{outside}/../x"])
def test_what_if_refuses_traversal_in_artefact_paths(layout, no_loading, artefact: str) -> None:
    root, _, outside = layout
    text = artefact.format(outside=outside)
    results, run = _whatif_run(root, str(outside / "suite.yaml"), text)
    with pytest.raises(WhatIfUnavailable, match="refused") as caught:
        open_whatif(results, run, "m", root=root, trusted_paths={text, str(outside / "suite.yaml")})
    assert not isinstance(caught.value, NeedsConfirmation)


def test_what_if_refuses_a_model_folder_in_the_run_that_links_outside(layout, no_loading) -> None:
    root, run, outside = layout
    (run / "models").mkdir()
    (run / "models" / ARTEFACT).symlink_to(outside, target_is_directory=True)
    results, run = _whatif_run(root, str(outside / "suite.yaml"), str(run / "models" / ARTEFACT))
    with pytest.raises(WhatIfUnavailable, match="symbolic link"):
        open_whatif(results, run, "m", root=root, trusted_paths={str(outside / "suite.yaml")})


def test_a_suite_file_in_the_run_folder_needs_no_confirmation_but_what_it_names_does(layout) -> None:
    """A suite inside the run is as untrusted as the run: its ``trust: true`` model is always asked for."""
    root, run, _ = layout
    (run / "data.csv").write_text("x,y\n1,0\n2,1\n")
    (run / "model.pkl").write_bytes(b"not really a pickle")
    (run / "suite.yaml").write_text(
        "version: 1\nname: toy\ndata: {path: data.csv, target: y}\n"
        "models: [{name: m, load: {path: model.pkl, trust: true}}]\nchecks: [{name: performance}]\n"
    )
    results, run = _whatif_run(root, str(run / "suite.yaml"), str(run / "model.pkl"), load=True)
    with pytest.raises(NeedsConfirmation) as caught:
        open_whatif(results, run, "m", root=root)
    assert caught.value.paths == [("model file", str((run / "model.pkl").resolve()))]


def test_what_if_page_asks_with_unticked_boxes_and_escaped_paths(layout, monkeypatch) -> None:
    root, _, _ = layout
    evil = "/nowhere/[click](http://evil.example)/<img src=x onerror=alert(1)>"
    _whatif_run(root, f"{evil}/suite.yaml", f"{evil}/{ARTEFACT}")
    monkeypatch.setenv("AUDIT_REPORTS_DIR", str(root))
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.query_params.update({"page": "explain"})
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    boxes = [b for b in at.checkbox if str(b.key).startswith("wi_trust_")]
    assert len(boxes) == 2 and not any(b.value for b in boxes)
    for element in [*boxes, *at.warning]:
        text = str(getattr(element, "label", None) or element.value)
        assert not re.search(r"(?<!\\)<img|(?<!\\)\[click", text), text
    assert any("What-if is not loaded" in str(w.value) for w in at.warning)
    assert not at.form_submit_button


@pytest.mark.parametrize("swap", ["file", "folder"])
def test_a_link_swapped_in_after_the_check_is_not_read(layout, monkeypatch, swap: str) -> None:
    """``read_run_bytes`` opens without following the last link and compares inodes with the checked file."""
    import audit.dashboard.safefiles as safefiles

    root, run, outside = layout
    (run / "artefacts").mkdir()
    (run / "artefacts" / "secret.png").write_bytes(b"\x89PNG\r\n\x1a\nok")
    checked = safefiles._walk

    def walk_then_swap(*args, **kwargs):
        found = checked(*args, **kwargs)
        if swap == "file":
            (run / "artefacts" / "secret.png").unlink()
            (run / "artefacts" / "secret.png").symlink_to(outside / "secret.png")
        else:
            (run / "artefacts").rename(run / "old")
            (run / "artefacts").symlink_to(outside, target_is_directory=True)
        return found

    monkeypatch.setattr(safefiles, "_walk", walk_then_swap)
    with pytest.raises(PathOutsideRoot):
        read_run_bytes(root, run, "artefacts/secret.png")
