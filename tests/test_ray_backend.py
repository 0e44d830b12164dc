"""The Ray backend: steps and shards as Ray tasks give the local backend's numbers exactly.

Every test uses a local Ray with 2 CPUs (``ray.init(num_cpus=2)``) and shuts it down.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

ray = pytest.importorskip("ray")

from audit.engine import run_suite  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _frame(n: int = 400, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    return pd.DataFrame({
        "x": x,
        "z": rng.normal(size=n),
        "count": rng.integers(0, 12, size=n),
        "colour": rng.choice(["red", "green", "blue"], size=n),
        "g": rng.choice(["a", "b"], size=n),
        "y": np.where(x + rng.normal(scale=0.7, size=n) > 0, "good", "bad"),
    })


def _synthetic_suite(suite_writer, **extra):
    return suite_writer(
        _frame(),
        data={"sensitive": ["g"], "positive_label": "good"},
        models=[
            {"name": "lr", "recipe": "logistic_regression"},
            {"name": "gbm", "recipe": "hist_gradient_boosting", "params": {"max_iter": 20}},
            {"name": "mlp", "recipe": "credit_mlp", "params": {"hidden": [8], "epochs": 3}},
        ],
        checks=[
            {"name": "performance", "params": {"bootstrap": 100}},
            {"name": "fairness", "params": {"bootstrap": 100, "min_group_size": 10}},
            {"name": "explain", "params": {"local_rows": 5}},
            {"name": "robustness", "params": {"epsilons": [0, 0.1, 0.3], "max_rows": 60, "immutable": [], "bootstrap": 50}},
            {"name": "shift", "params": {"perturbations": ["noise"], "severities": [0.5], "bootstrap": 50}},
            "drift",
        ],
        **extra,
    )


def _metrics(results) -> list[tuple]:
    return [(m.path, m.value, m.ci, m.n) for m in results.metrics]


def _untimed(value):
    """``value`` without the wall-clock fields (``*seconds``) some tables carry: no two runs share those."""
    if isinstance(value, dict):
        return {k: _untimed(v) for k, v in value.items() if not str(k).endswith("seconds")}
    if isinstance(value, list):
        return [_untimed(v) for v in value]
    return value


def _records(results) -> list[tuple]:
    return [(r.model, r.check, r.status, r.reason, r.error, r.warnings, _untimed(r.tables), r.figures, r.artefacts) for r in results.checks]


def _assert_same_run(local, remote) -> None:
    """Every metric (value, ci, n), every record and every artefact file equal."""
    a, b = _metrics(local.results), _metrics(remote.results)
    assert [m[0] for m in a] == [m[0] for m in b]
    different = [(x, y) for x, y in zip(a, b, strict=True) if x != y]
    assert not different, different[:5]
    for x, y in zip(_records(local.results), _records(remote.results), strict=True):
        assert x == y, next((i, u, v) for i, (u, v) in enumerate(zip(x, y, strict=True)) if u != v)
    files = [f for r in local.results.checks for f in r.artefacts]
    for rel in files:
        assert (local.run_dir / rel).read_bytes() == (remote.run_dir / rel).read_bytes(), rel


@pytest.fixture(scope="module")
def ray_session():
    """A local Ray with 2 CPUs for this module's tests, shut down after them."""
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    yield ray
    ray.shutdown()


def test_synthetic_suite_gives_identical_results_on_ray(suite_writer, tmp_path):
    """(a) several checks on three models: the suite's `execution: {backend: ray, num_cpus: 2}`
    starts (and stops) a local Ray; every metric, record and artefact equals the local run's."""
    path = _synthetic_suite(suite_writer)
    session_open = ray.is_initialized()  # another test's session (when run out of file order) is used as is
    local = run_suite(path, log=None)
    doc = yaml.safe_load(path.read_text())
    doc["execution"] = {"backend": "ray", "num_cpus": 2}
    ray_path = tmp_path / "ray_suite.yaml"
    ray_path.write_text(yaml.safe_dump(doc, sort_keys=False))
    lines: list[str] = []
    remote = run_suite(ray_path, log=lines.append)
    assert ray.is_initialized() == session_open  # the backend shut down the Ray it started, and only that
    _assert_same_run(local, remote)
    assert remote.results.manifest["execution"]["backend"] == "ray" and "execution" not in local.results.manifest
    assert any(line.startswith("  ray    ") and ": 2 CPUs; independent checks" in line for line in lines)
    steps = [line.split("]")[0].strip() for line in lines if line.lstrip().startswith("[")]
    assert steps == [f"[{i}/{len(steps)}" for i in range(1, len(steps) + 1)]  # released in plan order
    assert any(f.endswith("local_shap.json") for r in remote.results.checks for f in r.artefacts)  # files came home


@pytest.mark.slow
def test_credit_suite_gives_identical_metrics_on_ray(tmp_path, ray_session):
    """(b) every check of suites/credit.yaml (smaller bootstrap counts), local vs Ray (2 CPUs).

    Latency measures wall-clock times, which no two runs share; of its metrics only the model
    size is compared.
    """
    import time

    doc = yaml.safe_load((ROOT / "suites" / "credit.yaml").read_text())
    for check in doc["checks"]:
        params = check.get("params", {})
        if "bootstrap" in params:
            params["bootstrap"] = min(params["bootstrap"], 200)
        if check["name"] == "latency":
            params.update(repeats=120, max_seconds=1.0)
    doc["data"]["builtin"] = "german_credit"
    doc["output"] = {"dir": str(tmp_path / "reports")}
    path = tmp_path / "credit.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    t = time.perf_counter()
    local = run_suite(path, log=None)
    t_local = time.perf_counter() - t
    t = time.perf_counter()
    remote = run_suite(path, log=None, execution={"backend": "ray"})
    t_ray = time.perf_counter() - t
    print(f"credit suite: local {t_local:.1f}s, ray (2 CPUs) {t_ray:.1f}s")
    timed = ("/latency/",)
    a = [m for m in _metrics(local.results) if not any(k in m[0] for k in timed) or "model_size_bytes" in m[0]]
    b = [m for m in _metrics(remote.results) if not any(k in m[0] for k in timed) or "model_size_bytes" in m[0]]
    assert len(a) > 500 and [m[0] for m in a] == [m[0] for m in b]
    different = [(x, y) for x, y in zip(a, b, strict=True) if x != y]
    assert not different, different[:5]
    # a latency record warns when its time budget stops the loop early: wall-clock, like its metrics
    assert [(r.model, r.check, r.status if r.check != "latency" else "timed") for r in local.results.checks] == [
        (r.model, r.check, r.status if r.check != "latency" else "timed") for r in remote.results.checks
    ]
    assert [g.status for g in local.results.gates if "latency" not in g.expression] == [g.status for g in remote.results.gates if "latency" not in g.expression]


def _context(suite_writer):
    from audit.context import Context
    from audit.data.tabular import build_bundle
    from audit.models.build import build_model
    from audit.suite import load_suite

    suite = load_suite(_synthetic_suite(suite_writer))
    bundle = build_bundle(suite)
    models = {spec.name: build_model(spec, i, suite, bundle, suite.seed)[0] for i, spec in enumerate(suite.models)}
    return suite, Context(suite, bundle, models, suite.seed, Path(suite.output.dir), lambda message: None)


def test_shards_on_ray_equal_the_loop_and_errors_keep_their_type(ray_session, suite_writer):
    """``ctx.map`` on Ray: robustness's (attack, budget) shards and a failing shard."""
    from audit.errors import CheckError
    from audit.execution.base import execute_step
    from audit.execution.ray_backend import RayBackend
    from audit.registry import CHECKS

    suite, ctx = _context(suite_writer)
    backend = RayBackend(ray_session, owned=False, description="test")
    check_cls = CHECKS.resolve("robustness", "tabular")
    check = check_cls(check_cls.Params(epsilons=[0, 0.1, 0.3], max_rows=60, immutable=[], bootstrap=20))
    local = [(m.path, m.value, m.ci, m.n) for m in check.run(ctx, ctx.models["mlp"]).metrics]
    backend.attach(ctx)
    calls: list[int] = []
    ray_map = ctx._map
    ctx._map = lambda fn, items, label: calls.append(len(items)) or ray_map(fn, items, label)
    remote = [(m.path, m.value, m.ci, m.n) for m in check.run(ctx, ctx.models["mlp"]).metrics]
    assert calls == [9] and local == remote  # fgsm, pgd, blackbox at 3 budgets

    def fails(item):
        if item == 2:
            raise CheckError("shard 2 cannot run")
        return item * 10

    ctx._map = ray_map
    assert ctx.map(lambda i: i * i, [1, 2, 3]) == [1, 4, 9]
    with pytest.raises(CheckError, match="^shard 2 cannot run$"):
        ctx.map(fails, [1, 2, 3])

    class Broken:
        check_name, name = "broken", "broken"

        def run(self, ctx, model):
            return ctx.map(fails, [1, 2])

    from audit.execution import Step

    outcome = execute_step(ctx, Step(1, "k", Broken(), {}, None, {"pillar": "broken", "implementation": "broken"}))
    assert outcome.record.error == "CheckError: shard 2 cannot run"  # as the local backend writes it


def test_permutation_shap_blocks_on_ray_equal_the_rows_bit_for_bit(ray_session):
    from audit.context import Context
    from audit.execution.base import ambient
    from audit.execution.ray_backend import RayBackend
    from audit.explain.permutation import permutation_shap

    rng = np.random.default_rng(3)
    w = rng.normal(size=6)

    def f(M):
        return 1 / (1 + np.exp(-(np.asarray(M) @ w)))

    background, rows = rng.normal(size=(20, 6)), rng.normal(size=(45, 6))
    players = [[0, 1], [2], [3], [4, 5]]
    seeds = rng.integers(0, 2**31, size=len(rows))
    plain = permutation_shap(f, background, rows, row_seeds=seeds, players=players, permutations=30)
    ctx = Context(None, None, {}, 0, Path("."), lambda message: None)
    RayBackend(ray_session, owned=False, description="test").attach(ctx)
    done: list[tuple[int, int]] = []
    with ambient(ctx):
        sharded = permutation_shap(f, background, rows, row_seeds=seeds, players=players, permutations=30, progress=lambda *a: done.append(a))
    assert np.array_equal(plain.values, sharded.values) and np.array_equal(plain.base_values, sharded.base_values)
    assert np.array_equal(plain.output, sharded.output)
    assert (plain.permutations, plain.evaluations) == (sharded.permutations, sharded.evaluations)
    assert done == [(45, 45)]
    frame_bg, frame_rows = pd.DataFrame(background).add_prefix("c"), pd.DataFrame(rows).add_prefix("c")
    g = lambda frame: f(frame.to_numpy())  # noqa: E731
    plain = permutation_shap(g, frame_bg, frame_rows, row_seeds=seeds)
    with ambient(ctx):
        sharded = permutation_shap(g, frame_bg, frame_rows, row_seeds=seeds)
    assert np.array_equal(plain.values, sharded.values) and plain.evaluations == sharded.evaluations


def test_a_model_ray_cannot_ship_runs_in_this_process(ray_session, suite_writer):
    """An adapter that does not serialise (here: it holds a lock) keeps its steps on the driver."""
    from audit.engine import _run_checks
    from audit.execution.ray_backend import RayBackend
    from audit.registry import CHECKS

    suite, ctx = _context(suite_writer)
    ctx.models["lr"]._lock = threading.Lock()
    ctx.run_dir.mkdir(parents=True, exist_ok=True)
    local_records, local_metrics = _run_checks(ctx, suite, CHECKS, {}, lambda m: None)
    lines: list[str] = []
    backend = RayBackend(ray_session, owned=False, description="test")
    backend.attach(ctx)
    records, metrics = _run_checks(ctx, suite, CHECKS, {}, lines.append, None, backend)
    assert any("model 'lr' cannot be sent to Ray workers (TypeError" in line and "its checks run in this process" in line for line in lines)
    assert [(m.path, m.value, m.ci, m.n) for m in local_metrics] == [(m.path, m.value, m.ci, m.n) for m in metrics]
    assert [(r.model, r.check, r.status) for r in local_records] == [(r.model, r.check, r.status) for r in records]


def test_ray_flag_is_parsed():
    from audit.cli import build_parser

    parser = build_parser()
    assert parser.parse_args(["run", "s.yaml"]).ray is None
    assert parser.parse_args(["run", "s.yaml", "--ray"]).ray == ""
    assert parser.parse_args(["run", "s.yaml", "--ray", "ray://head:10001"]).ray == "ray://head:10001"


@pytest.mark.parametrize("address", ["ray://127.0.0.1:1", "127.0.0.1:1"])
def test_an_unreachable_cluster_exits_2_without_a_traceback(address, suite_writer, tmp_path):
    path = suite_writer(_frame(100))
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "audit", "run", str(path), "--ray", address, "-o", str(out)],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1] == (
        f"audit: error: execution: cannot connect to the Ray cluster at '{address}': nothing answers at 127.0.0.1:1 "
        "(Connection refused). Start one with 'ray start --head' and use the address 'auto', give the head node's "
        "client address (ray://<head>:10001), or leave the address out to start a local Ray."
    )
    assert not out.exists()  # bad input writes nothing


def test_without_ray_the_backend_names_the_extra(monkeypatch):
    from audit.errors import MissingExtra
    from audit.execution import open_backend
    from audit.suite import ExecutionSpec

    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    with pytest.raises(MissingExtra, match=r"The Ray execution backend .* needs the package 'ray'.*pip install 'audit\[ray\]'"):
        open_backend(ExecutionSpec(backend="ray"), lambda m: None)


class _Keyword:
    """P(positive) = 0.9 when 'great' is a word of the text, else 0.1 (a text model in a few lines)."""

    modality, kind, name, classes, can_score = "text", "other", "keyword", ("negative", "positive"), True

    def predict_proba(self, X):
        import re

        p = np.asarray([0.9 if re.search(r"(?<!\w)great(?!\w)", str(t), re.I) else 0.1 for t in X])
        return np.column_stack([1.0 - p, p])


@pytest.mark.slow
def test_textattack_examples_on_ray_equal_the_loop(ray_session, tmp_path):
    """TextAttack: blocks of examples as Ray tasks give the loop's outcomes (each text seeds its own attack)."""
    from ray import cloudpickle

    from audit.errors import MissingExtra
    from audit.text.textattack_setup import import_textattack

    try:
        import_textattack()  # offline: prepares NLTK's stop words first
    except MissingExtra as exc:
        pytest.skip(str(exc))

    from audit.context import Context
    from audit.data.base import DataBundle, Dataset, Schema
    from audit.execution.ray_backend import RayBackend
    from audit.registry import CHECKS

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the workers cannot import this test module
    texts = [f"{w} flight today was great and the crew was kind" if i % 2 else f"{w} delay again, the worst service" for i, w in enumerate(["my", "our", "the", "a", "this", "that", "his", "her", "one", "their"])]
    y = np.asarray([i % 2 for i in range(len(texts))])
    data = Dataset("test", texts, y, pd.DataFrame(index=range(len(texts))))
    schema = Schema(target="label", classes=("negative", "positive"), features=("text",), numeric=(), categorical=(), sensitive=(), modality="text", extra=(("text_column", "text"),))
    bundle = DataBundle(schema=schema, train=data, test=data, frame=pd.DataFrame({"text": texts}), source="memory", data_hash="x")
    ctx = Context(None, bundle, {"keyword": _Keyword()}, 5, tmp_path, lambda message: None)
    cls = CHECKS.resolve("robustness", "text")
    check = cls(cls.Params(recipes=["deepwordbug", "pruthi"], sample_size=10, query_budget=60, bootstrap=20))
    plain = check.run(ctx, ctx.models["keyword"])
    RayBackend(ray_session, owned=False, description="test").attach(ctx)
    sharded = check.run(ctx, ctx.models["keyword"])
    assert [(m.path, m.value, m.ci, m.n) for m in plain.metrics] == [(m.path, m.value, m.ci, m.n) for m in sharded.metrics]
    assert plain.tables == sharded.tables and plain.metrics
