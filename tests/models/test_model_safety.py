"""Model files that try to run code: the skops allow-list, and the sealed artefact cache.

Every payload here writes a marker file when it runs. Each refused file is checked twice: the
marker is absent after the refusal, and (the control) loading the same file with trust and
scoring it does create the marker, so the payload was live and the refusal is what stopped it.
"""

from __future__ import annotations

import functools
import itertools
import operator
import os
import random
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from audit.cli import main
from audit.errors import ModelError
from audit.models.safe_load import load_skops

X = np.random.default_rng(0).normal(size=(40, 3))
Y = (X[:, 0] > 0).astype(int)


def _fitted_lr():
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression().fit(X, Y)


def _payload_chain(marker: Path, sink):
    """FunctionTransformers that turn any input into a code string and hand it to ``sink``."""
    from sklearn.preprocessing import FunctionTransformer

    code = f"open({str(marker)!r}, 'w').write('ran')"
    return [
        ("fill", FunctionTransformer(np.full_like, kw_args={"fill_value": code, "dtype": object})),
        ("first", FunctionTransformer(np.take, kw_args={"indices": 0})),
        ("run", FunctionTransformer(sink)),
    ]


SINKS = {
    "exec": exec,
    "eval": eval,
    "partial(exec)": functools.partial(exec),
    "partial(eval)": functools.partial(eval),
}


def _executing_pipelines(marker: Path):
    """Allowed estimators around a live payload, in several containers (seeded choice of layouts)."""
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import MinMaxScaler, StandardScaler

    prefixes = {"none": [], "scaler": [("scale", StandardScaler().fit(X))], "minmax": [("mm", MinMaxScaler().fit(X))]}
    for (sink_name, sink), (prefix_name, prefix), nested in itertools.product(SINKS.items(), prefixes.items(), (False, True)):
        chain = _payload_chain(marker, sink)
        steps = [*prefix, ("payload", Pipeline(chain))] if nested else [*prefix, *chain]
        yield f"{sink_name}/{prefix_name}/{'nested' if nested else 'flat'}", Pipeline([*steps, ("model", _fitted_lr())])


def _inert_callables():
    """Callables that run nothing harmful but are function objects all the same: all refused."""
    from sklearn.preprocessing import normalize

    return {
        "numpy ufunc log1p": np.log1p,
        "numpy ufunc exp": np.exp,
        "numpy function sum": np.sum,
        "partial(numpy.add)": functools.partial(np.add, 1),
        "operator.itemgetter": operator.itemgetter(0),
        "operator.attrgetter": operator.attrgetter("T"),
        "builtins.abs": abs,
        "builtins.getattr": getattr,
        "method str.upper": str.upper,
        "sklearn function normalize": normalize,
    }


def test_the_exec_pipeline_is_refused_without_running(tmp_path, suite_writer, capsys):
    """The reported attack: full_like -> take -> exec inside a Pipeline, run through `audit run`."""
    import skops.io as sio

    marker = tmp_path / "pwned"
    frame = pd.DataFrame(X, columns=["a", "b", "c"]).assign(y=np.where(Y == 1, "yes", "no"))
    pipe = dict(_executing_pipelines(marker))["exec/none/flat"]
    sio.dump(pipe, tmp_path / "evil.skops")
    assert {"builtins.exec", "numpy.full_like", "numpy.take"} <= set(sio.get_untrusted_types(file=str(tmp_path / "evil.skops")))
    suite = suite_writer(frame, data={"positive_label": "yes"}, models=[{"name": "evil", "load": {"path": "evil.skops"}}])
    assert main(["run", str(suite), "-q"]) == 2
    err = capsys.readouterr().err
    assert "builtins.exec (a callable)" in err and "numpy.full_like (a callable)" in err and "load.trust: true" in err
    assert "Traceback" not in err
    assert not marker.exists()
    assert not (tmp_path / "reports").exists()


def test_fuzzed_pipelines_with_callables_are_refused_unless_trusted(tmp_path):
    import skops.io as sio
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    marker = tmp_path / "marker"
    executing = list(_executing_pipelines(marker))
    inert = [
        (f"inert {name}", Pipeline([("scale", StandardScaler().fit(X)), ("f", FunctionTransformer(fn)), ("model", _fitted_lr())]))
        for name, fn in _inert_callables().items()
    ]
    cases = executing + inert
    random.Random(0).shuffle(cases)
    assert len(cases) >= 30
    for name, pipe in cases:
        path = tmp_path / "case.skops"
        sio.dump(pipe, path)
        with pytest.raises(ModelError, match=r"outside the allow-list"):
            load_skops(path)
        assert not marker.exists(), f"{name}: the payload ran although the file was refused"
    for name, pipe in executing:  # control: trusted, the same files do run their payload
        path = tmp_path / "case.skops"
        sio.dump(pipe, path)
        loaded = load_skops(path, trust=True)
        with pytest.raises(Exception):  # noqa: B017 - the payload returns None, which the model then rejects
            loaded.predict_proba(X)
        assert marker.read_text() == "ran", f"{name}: control payload did not run"
        marker.unlink()


@pytest.mark.parametrize(
    "make",
    [
        "LogisticRegression()", "HistGradientBoostingClassifier(max_iter=5)", "RandomForestClassifier(5)",
        "GradientBoostingClassifier(n_estimators=5)", "DecisionTreeClassifier()", "SVC(probability=True)",
        "KNeighborsClassifier(algorithm='kd_tree')", "KNeighborsClassifier(algorithm='ball_tree')", "MLPClassifier(max_iter=20)",
        "GaussianNB()", "CalibratedClassifierCV(LogisticRegression())", "CalibratedClassifierCV(LogisticRegression(), method='isotonic')",
        "make_pipeline(ColumnTransformer([('n', make_pipeline(SimpleImputer(), StandardScaler()), [0, 1]), ('o', OneHotEncoder(handle_unknown='ignore'), [2])]), LogisticRegression())",
        "make_pipeline(PCA(2), KBinsDiscretizer(3), LogisticRegression())",
        "StackingClassifier([('a', LogisticRegression()), ('b', DecisionTreeClassifier())])",
    ],
)  # fmt: skip
def test_ordinary_estimators_load_without_trust(tmp_path, make):
    """The allow-list is not so tight that ordinary scikit-learn models need trust."""
    import warnings

    import skops.io as sio
    from sklearn.calibration import CalibratedClassifierCV  # noqa: F401 - used by eval
    from sklearn.compose import ColumnTransformer  # noqa: F401
    from sklearn.decomposition import PCA  # noqa: F401
    from sklearn.ensemble import (  # noqa: F401
        GradientBoostingClassifier,
        HistGradientBoostingClassifier,
        RandomForestClassifier,
        StackingClassifier,
    )
    from sklearn.impute import SimpleImputer  # noqa: F401
    from sklearn.linear_model import LogisticRegression  # noqa: F401
    from sklearn.naive_bayes import GaussianNB  # noqa: F401
    from sklearn.neighbors import KNeighborsClassifier  # noqa: F401
    from sklearn.neural_network import MLPClassifier  # noqa: F401
    from sklearn.pipeline import make_pipeline  # noqa: F401
    from sklearn.preprocessing import KBinsDiscretizer, OneHotEncoder, StandardScaler  # noqa: F401
    from sklearn.svm import SVC  # noqa: F401
    from sklearn.tree import DecisionTreeClassifier  # noqa: F401

    model = eval(make)  # noqa: S307 - fixed expressions above
    data = np.column_stack([X[:, :2], (X[:, 2] > 0).astype(float)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(data, Y)
    sio.dump(model, tmp_path / "m.skops")
    loaded = load_skops(tmp_path / "m.skops")
    np.testing.assert_array_equal(loaded.predict_proba(data), model.predict_proba(data))


# --- the artefact cache -----------------------------------------------------------------


@pytest.fixture
def cached_lr(tmp_path, suite_writer, monkeypatch):
    """A suite with one logistic regression, trained once into a fresh cache; returns (suite, entry)."""
    from audit.models.cache import cache_root

    monkeypatch.setenv("AUDIT_CACHE_DIR", str(tmp_path / "cache"))
    frame = pd.DataFrame(X, columns=["a", "b", "c"]).assign(y=np.where(Y == 1, "yes", "no"))
    suite = suite_writer(frame, data={"positive_label": "yes"})
    assert main(["run", str(suite), "-q"]) == 0
    (entry,) = [p for p in cache_root().iterdir() if not p.name.startswith(".")]
    assert (entry / "manifest.json").is_file()
    return suite, entry


def _rerun(suite, capsys) -> str:
    capsys.readouterr()
    code = main(["run", str(suite), "-q"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    return err


def test_an_intact_cache_entry_is_reused(cached_lr, capsys):
    suite, entry = cached_lr
    from audit.models.cache import verify

    verify(entry, __import__("json").loads((entry / "manifest.json").read_text())["key"], "logistic_regression")
    assert main(["run", str(suite)]) == 0
    assert "model  lr: cached" in capsys.readouterr().err


def test_a_replaced_cache_artefact_is_refused_and_never_run(cached_lr, capsys, tmp_path):
    """The attack: swap the cached model.skops for the exec pipeline and fix up the file hash."""
    import hashlib
    import json

    import skops.io as sio

    suite, entry = cached_lr
    marker = tmp_path / "pwned"
    evil = dict(_executing_pipelines(marker))["exec/none/flat"]
    sio.dump({"pre": evil, "model": _fitted_lr()}, entry / "model.skops")
    manifest = json.loads((entry / "manifest.json").read_text())
    manifest["files"]["model.skops"] = hashlib.sha256((entry / "model.skops").read_bytes()).hexdigest()
    (entry / "manifest.json").write_text(json.dumps(manifest))
    err = _rerun(suite, capsys)
    assert "model cache altered" in err and "was not sealed with this user's cache key" in err
    assert not marker.exists()


@pytest.mark.parametrize("tamper", ["edit file", "extra file", "no manifest", "other key", "symlinked file"])
def test_altered_cache_entries_are_refused(cached_lr, capsys, monkeypatch, tamper):
    suite, entry = cached_lr
    artefact = "model.npz" if (entry / "model.npz").exists() else "model.skops"  # the toolkit's own format, or skops
    if tamper == "edit file":
        with (entry / artefact).open("ab") as handle:
            handle.write(b"\0")
        expected = f"files differ from the sealed manifest: {artefact}"
    elif tamper == "extra file":
        (entry / "sitecustomize.py").write_text("import os\n")
        expected = "files differ from the sealed manifest: sitecustomize.py"
    elif tamper == "no manifest":
        (entry / "manifest.json").unlink()
        expected = "it has no manifest.json seal"
    elif tamper == "other key":
        monkeypatch.setenv("AUDIT_CACHE_KEY", "a different team's key, at least thirty-two bytes")
        expected = "was not sealed with this user's cache key"
    else:
        (entry / artefact).rename(entry.parent / "elsewhere")
        os.symlink(entry.parent / "elsewhere", entry / artefact)
        expected = f"'{artefact}' is not a regular file"
    err = _rerun(suite, capsys)
    assert "model cache altered" in err and expected in err, err


def test_a_planted_entry_folder_that_is_a_symlink_is_refused(cached_lr, capsys, tmp_path):
    suite, entry = cached_lr
    moved = tmp_path / "planted"
    entry.rename(moved)
    os.symlink(moved, entry)
    assert "the entry is not a plain folder" in _rerun(suite, capsys)


def test_the_cache_key_lives_outside_the_cache_and_is_private(cached_lr):
    from audit.paths import cache_dir, config_dir

    key = config_dir() / "cache.key"
    assert key.is_file() and (key.stat().st_mode & 0o077) == 0
    assert cache_dir().resolve() not in key.resolve().parents


def test_default_cache_is_the_users_cache_directory(monkeypatch, tmp_path):
    from audit.paths import cache_dir, config_dir

    monkeypatch.delenv("AUDIT_CACHE_DIR", raising=False)
    monkeypatch.delenv("AUDIT_CONFIG_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    assert cache_dir() == tmp_path / "xdg-cache" / "audit"
    assert config_dir() == tmp_path / "xdg-config" / "audit"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / ".cache" / "audit"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/path")  # ignored, as the XDG spec says
    assert cache_dir() == tmp_path / "home" / ".cache" / "audit"
    assert Path.cwd() not in cache_dir().parents
