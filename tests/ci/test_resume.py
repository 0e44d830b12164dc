"""Checkpoints and ``audit run --resume``: interrupted runs finish with the metrics of an uninterrupted one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from audit import checkpoint
from audit.checks.fairness import FairnessCheck
from audit.checks.performance import PerformanceCheck
from audit.cli import main
from audit.engine import run_suite
from audit.results import load_results


def values(results) -> dict[str, tuple]:
    return {m.path: (m.value, m.ci, m.n) for m in results.metrics}


def interrupt_at(monkeypatch, call: int) -> None:
    """Make the ``call``-th fairness check raise KeyboardInterrupt, as Ctrl-C would."""
    original, calls = FairnessCheck.run, {"n": 0}

    def run(self, ctx, model):
        calls["n"] += 1
        if calls["n"] == call:
            raise KeyboardInterrupt
        return original(self, ctx, model)

    monkeypatch.setattr(FairnessCheck, "run", run)


def count_calls(monkeypatch) -> dict[str, int]:
    counts = {"performance": 0, "fairness": 0}
    for cls in (PerformanceCheck, FairnessCheck):
        original = cls.run

        def run(self, ctx, model, _original=original):
            counts[self.name] += 1
            return _original(self, ctx, model)

        monkeypatch.setattr(cls, "run", run)
    return counts


@pytest.fixture
def interrupted(small_suite, tmp_path, monkeypatch, capsys):
    """A suite and the partial folder of its run, stopped by Ctrl-C at the 4th of 4 steps."""
    suite = small_suite(bootstrap=100)
    with monkeypatch.context() as patch:
        interrupt_at(patch, 2)  # steps: perf lr, perf gbm, fairness lr, fairness gbm <- here
        assert main(["run", str(suite), "-o", str(tmp_path / "out"), "-q"]) == 130
    err = capsys.readouterr().err
    partials = list((tmp_path / "out" / "small").glob(".*.partial"))
    assert len(partials) == 1
    assert f"audit: run interrupted; finished checks are saved. Resume with: audit run --resume {partials[0]}" in err
    return suite, partials[0]


def test_ctrl_c_keeps_a_resumable_partial_folder(interrupted):
    _, partial = interrupted
    assert sorted(p.name for p in (partial / "checkpoints").iterdir()) == [
        "001__lr__performance.json",
        "002__gbm__performance.json",
        "003__lr__fairness.json",
    ]
    assert not (partial / "results.json").exists()
    assert [p.name for p in partial.parent.iterdir()] == [partial.name]  # no finished run folder
    state = json.loads((partial / "run_state.json").read_text())
    assert state["run_id"] == partial.name[1 : -len(".partial")] and state["seed"] == 3


def test_resume_runs_only_missing_checks_and_matches_an_uninterrupted_run(interrupted, tmp_path, monkeypatch):
    suite, partial = interrupted
    reference = run_suite(suite, output=tmp_path / "ref", log=None)
    counts = count_calls(monkeypatch)
    resumed = run_suite(None, resume=partial, log=None)
    assert counts == {"performance": 0, "fairness": 1}
    assert resumed.run_dir == partial.parent / partial.name[1 : -len(".partial")]
    assert not partial.exists()
    assert sorted(p.name for p in resumed.run_dir.iterdir()) == [
        "junit.xml",
        "predictions.csv",
        "report.html",
        "results.json",
    ]
    assert values(resumed.results) == values(reference.results)
    assert [(g.metric, g.status) for g in resumed.results.gates] == [
        (g.metric, g.status) for g in reference.results.gates
    ]
    assert resumed.results.manifest["resumed"] == {"reused_checks": 3, "from": str(partial)}
    assert load_results(resumed.run_dir).run_id == resumed.results.run_id


def test_resume_through_the_cli(interrupted, capsys):
    _, partial = interrupted
    assert main(["run", "--resume", str(partial)]) == 0
    err = capsys.readouterr().err
    assert f"resume {partial}: 3 finished checks reused" in err
    assert "[1/4] lr · performance: reused from checkpoint" in err and "[4/4] gbm · fairness: ok" in err


@pytest.mark.parametrize("change", ["suite", "data", "seed"])
def test_resume_refuses_changed_inputs(interrupted, change, capsys):
    suite, partial = interrupted
    args = ["run", str(suite), "--resume", str(partial)]
    if change == "suite":
        suite.write_text(suite.read_text() + "\n# edited\n")
        expected = "the suite file changed since the run was interrupted (sha256 "
    elif change == "data":
        data = suite.parent / "data.csv"
        data.write_text(data.read_text().replace("north", "nord"))
        expected = "the data changed since the run was interrupted"
    else:
        args += ["--seed", "9"]
        expected = "the seed changed since the run was interrupted (it ran with seed 3, this resume would use seed 9)"
    before = sorted(p.name for p in (partial / "checkpoints").iterdir())
    assert main(args) == 2
    err = capsys.readouterr().err
    assert expected in err and "Start a new run instead" in err and "Traceback" not in err
    assert sorted(p.name for p in (partial / "checkpoints").iterdir()) == before  # refused runs touch nothing


def test_resume_refuses_what_is_not_a_partial_run(small_run, tmp_path, capsys):
    assert main(["run", "--resume", str(tmp_path / "nope")]) == 2
    assert "no such run folder" in capsys.readouterr().err
    assert main(["run", "--resume", str(small_run.run_dir)]) == 2
    assert "this run is already complete (it has results.json); nothing to resume" in capsys.readouterr().err
    (tmp_path / ".x.partial").mkdir()
    assert main(["run", "--resume", str(tmp_path / ".x.partial")]) == 2
    assert "A run stopped before its first check cannot be resumed: run the suite again" in capsys.readouterr().err
    assert main(["run"]) == 2
    assert "audit run needs a suite file (or --resume RUN_DIR)" in capsys.readouterr().err


def test_a_locked_partial_is_not_resumed_twice(interrupted, capsys):
    _, partial = interrupted
    lock = checkpoint.RunLock(partial)
    lock.acquire()  # as if another process were resuming it
    try:
        assert main(["run", "--resume", str(partial), "-q"]) == 2
        assert "another audit process is working on this run right now" in capsys.readouterr().err
    finally:
        lock.release()
    assert main(["run", "--resume", str(partial), "-q"]) == 0


def test_a_damaged_checkpoint_is_run_again(interrupted, tmp_path, monkeypatch):
    suite, partial = interrupted
    (partial / "checkpoints" / "002__gbm__performance.json").write_text('{"key": "002__gbm__perf')  # torn
    (partial / "checkpoints" / ".003__lr__fairness.json.tmp123").write_text("{")  # a temp file a kill left
    counts = count_calls(monkeypatch)
    resumed = run_suite(None, resume=partial, log=None)
    assert counts == {"performance": 1, "fairness": 1}
    assert values(resumed.results) == values(run_suite(suite, output=tmp_path / "ref", log=None).results)


def test_step_keys_are_file_safe_and_ordered():
    assert checkpoint.step_key(7, "data", "image_shift") == "007__data__image_shift"
    assert checkpoint.step_key(12, "m", "a/b c") == "012__m__a_b_c"


def test_concurrent_runs_into_one_folder_get_distinct_run_ids(small_suite, tmp_path, monkeypatch):
    import audit.engine as engine

    ids = iter(["20260101T000000Z-aaaaaa", "20260101T000000Z-aaaaaa", "20260101T000000Z-bbbbbb"])
    monkeypatch.setattr(engine, "new_run_id", lambda: next(ids))
    first = engine._claim_partial(tmp_path)
    second = engine._claim_partial(tmp_path)  # the same id comes up again: it takes the next free one
    assert first == ("20260101T000000Z-aaaaaa", tmp_path / ".20260101T000000Z-aaaaaa.partial")
    assert second == ("20260101T000000Z-bbbbbb", tmp_path / ".20260101T000000Z-bbbbbb.partial")


def test_model_cache_store_tolerates_a_concurrent_winner(tmp_path):
    """Two runs training the same key: the second rename fails (folder exists) and is dropped cleanly."""
    from concurrent.futures import ThreadPoolExecutor

    from audit.models.cache import store_entry

    class SlowRecipe:
        def __init__(self, tag: str) -> None:
            self.tag = tag

        def save(self, model, folder: Path) -> None:
            (folder / "model.bin").write_text(self.tag)

    folder = tmp_path / "models" / "recipe-abc"
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: store_entry(folder, "abc", "recipe", lambda tmp: SlowRecipe(f"writer {i}").save(None, tmp)), range(8)))
    assert sorted(p.name for p in folder.iterdir()) == ["manifest.json", "model.bin"]
    assert (folder / "model.bin").read_text().startswith("writer ")
    assert [p.name for p in folder.parent.iterdir()] == ["recipe-abc"]  # no temp folders left behind
    store_entry(folder, "abc", "recipe", lambda tmp: SlowRecipe("late").save(None, tmp))  # the folder exists and is full: os.replace fails, handled
    assert (folder / "model.bin").read_text() != "late"
