"""Property-based fuzzing of suite files: ``audit validate`` / ``audit run`` exit 0, 1 or 2, never a traceback.

Inputs: random YAML documents and raw text, documents shaped like a suite with random values,
and mutations of the shipped credit suite (dropped keys, wrong types, unknown keys, bad gate
strings, unknown check / recipe / dataset names, out-of-range parameters). A subset of the
mutated small suites is also run end to end. The CLI is called in-process for speed.
"""

from __future__ import annotations

import atexit
import copy
import shutil
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml
from hardening_helpers import assert_clean_exit, invoke, tabular_frame
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[2]
CREDIT = yaml.safe_load((ROOT / "suites" / "credit.yaml").read_text())
TRIED: Counter[str] = Counter()
WORKDIR = Path(tempfile.mkdtemp(prefix="audit-fuzz-"))
atexit.register(shutil.rmtree, WORKDIR, True)
SETTINGS = {
    "deadline": None,
    "database": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
}

scalars = st.none() | st.booleans() | st.integers(-(10**12), 10**12) | st.floats() | st.text(max_size=12)
values = st.recursive(
    scalars,
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids, max_size=4),
    max_leaves=16,
)
KEYS = [
    "version",
    "name",
    "description",
    "seed",
    "data",
    "models",
    "checks",
    "gates",
    "output",
    "builtin",
    "path",
    "target",
    "params",
    "recipe",
    "load",
    "metric",
    "op",
    "threshold",
    "sensitive",
    "split",
    "test_size",
    "trust",
    "format",
    "on",
    "severity",
]
suite_like = st.dictionaries(st.sampled_from(KEYS), values, max_size=8)
EXTREMES = st.sampled_from(
    [
        -1,
        0,
        1,
        2**31,
        10**12,
        -1e308,
        1e308,
        0.5,
        1e-300,
        "ten",
        "",
        None,
        True,
        [],
        {},
        [1, 2],
        {"a": 1},
        float("inf"),
        float("-inf"),
        float("nan"),
    ]
)
NAMES = st.sampled_from(
    [
        "performanc",
        "fairness ",
        "",
        "FAIRNESS",
        "explain",
        "shap",
        "robustness",
        "x" * 300,
        "drift",
        "logistic_regresion",
        "credit_mlp",
        "german",
        "../etc/passwd",
        "<script>",
    ]
) | st.text(max_size=15)
GATE_METRICS = st.sampled_from(
    [
        "*/performance/roc_auc",
        "gbm/fairness/demographic_parity_difference[sex]",
        "**",
        "[",
        "]",
        "a b",
        "",
        "*/*/*[*]",
        "ci_low(x)",
    ]
)
GATE_OPS = st.sampled_from([">=", "<=", "=>", "=<", "==", "!=", "<", ">", "~", "", "= ="])
GATE_NUMBERS = st.sampled_from(["0.7", "-1", "1e999", "nan", "inf", "abc", "", ".5", "1e-400", "0x10", "1_000"])
bad_gates = (
    st.builds(
        lambda m, o, n, wrap: f"{wrap}({m}) {o} {n}" if wrap else f"{m} {o} {n}",
        GATE_METRICS,
        GATE_OPS,
        GATE_NUMBERS,
        st.sampled_from(["", "ci_low", "ci_high", "value", "mean"]),
    )
    | st.text(max_size=40)
    | values
)


def node_paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    """Every key path of a parsed YAML tree (dict keys and list indices)."""
    out = [prefix]
    if isinstance(node, dict):
        for key, child in node.items():
            out += node_paths(child, (*prefix, key))
    elif isinstance(node, list):
        for i, child in enumerate(node):
            out += node_paths(child, (*prefix, i))
    return out


def get(doc: Any, path: tuple) -> Any:
    for key in path:
        doc = doc[key]
    return doc


@st.composite
def mutated(draw: st.DrawFn, base: dict) -> dict:
    """``base`` with one to three random mutations applied."""
    doc = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in node_paths(doc) if p]
        op = draw(st.sampled_from(["drop", "retype", "unknown_key", "bad_gate", "unknown_name", "out_of_range"]))
        TRIED[f"mutation:{op}"] += 1
        if op == "drop" and paths:
            path = draw(st.sampled_from(paths))
            parent = get(doc, path[:-1])
            del parent[path[-1]]
        elif op == "retype" and paths:
            path = draw(st.sampled_from(paths))
            get(doc, path[:-1])[path[-1]] = draw(values)
        elif op == "unknown_key":
            dicts = [p for p in node_paths(doc) if isinstance(get(doc, p), dict)]
            get(doc, draw(st.sampled_from(dicts)))[draw(st.text(min_size=1, max_size=10))] = draw(values)
        elif op == "bad_gate":
            gates = doc.get("gates") if isinstance(doc.get("gates"), list) else []
            gates.append(draw(bad_gates))
            doc["gates"] = gates
        elif op == "unknown_name":
            targets = [
                p for p in paths if p[-1] in ("name", "recipe", "builtin") and p[0] in ("checks", "models", "data")
            ]
            targets += [p for p in paths if len(p) == 2 and p[0] == "checks" and isinstance(get(doc, p), str)]
            if targets:
                path = draw(st.sampled_from(targets))
                get(doc, path[:-1])[path[-1]] = draw(NAMES)
        elif op == "out_of_range":
            numeric = [p for p in paths if isinstance(get(doc, p), (int, float)) and not isinstance(get(doc, p), bool)]
            if numeric:
                path = draw(st.sampled_from(numeric))
                get(doc, path[:-1])[path[-1]] = draw(EXTREMES)
    return doc


def validate_text(text: str) -> int:
    path = WORKDIR / "suite.yaml"
    path.write_text(text, encoding="utf-8")
    code, _, err = invoke(["validate", str(path)])
    assert_clean_exit(code, err)
    TRIED["validate"] += 1
    TRIED[f"validate exit {code}"] += 1
    return code


def dump(doc: Any) -> str:
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)


@settings(max_examples=150, **SETTINGS)
@given(values)
def test_random_yaml_documents(doc):
    validate_text(dump(doc))


@settings(max_examples=100, **SETTINGS)
@given(st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=200))
def test_random_text(text):
    validate_text(text)


@settings(max_examples=100, **SETTINGS)
@given(suite_like)
def test_suite_shaped_documents(doc):
    validate_text(dump(doc))


@settings(max_examples=300, **SETTINGS)
@given(mutated(CREDIT))
def test_mutations_of_the_credit_suite(doc):
    validate_text(dump(doc))


@pytest.mark.parametrize(
    "text",
    [
        "version: 1\nname: x\nseed: 2020-13-45\ndata: {builtin: german_credit}\nmodels: [{name: m, recipe: logistic_regression}]\nchecks: [fairness]\n",
        "[" * 3000 + "]" * 3000,
        "a0: &a0 [x,x,x,x,x,x,x,x,x]\n"
        + "".join(f"a{i}: &a{i} [{','.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 9))
        + "name: *a8\n",
        "!!python/object/apply:os.system ['echo pwned']",
        "version: 1\nname: x\ndata: {builtin: german_credit}\nmodels: [{name: m, recipe: logistic_regression}]\nchecks: [fairness]\ngates: ['a >= 1e999', {metric: b, op: '<', threshold: .nan}]\n",
    ],
)
def test_known_nasty_documents(text):
    """Found while fuzzing: an impossible date, deep nesting, an alias bomb, python tags, inf/nan gates."""
    assert validate_text(text) == 2


def small_base() -> dict:
    folder = WORKDIR / "run"
    folder.mkdir(exist_ok=True)
    tabular_frame(200).to_csv(folder / "data.csv", index=False)
    return {
        "version": 1,
        "name": "fuzz",
        "seed": 0,
        "data": {
            "path": "data.csv",
            "target": "y",
            "positive_label": "yes",
            "sensitive": ["g"],
            "split": {"test_size": 0.3},
        },
        "models": [{"name": "lr", "recipe": "logistic_regression", "params": {"C": 1.0}}],
        "checks": [
            {"name": "performance", "params": {"bootstrap": 20, "min_group_size": 10}},
            {"name": "fairness", "params": {"bootstrap": 20}},
        ],
        "gates": ["*/performance/roc_auc >= 0.5"],
        "output": {"dir": str(folder / "reports"), "formats": ["html", "junit"]},
    }


@pytest.mark.slow
@settings(max_examples=30, **SETTINGS)
@given(mutated(small_base()))
def test_mutated_small_suites_run_without_tracebacks(doc):
    """Mutations that still validate are run end to end: exit 0, 1 (gate / check failed) or 2."""
    path = WORKDIR / "run" / "suite.yaml"
    path.write_text(dump(doc), encoding="utf-8")
    code, _, err = invoke(["validate", str(path)])
    assert_clean_exit(code, err)
    TRIED["run-subset validate"] += 1
    if code == 0:
        code, _, err = invoke(["run", str(path), "-q", "-o", str(WORKDIR / "run" / "out")])
        assert_clean_exit(code, err, allowed=(0, 1, 2))
        TRIED[f"run exit {code}"] += 1


PLAUSIBLE = {  # valid-looking but extreme settings that reach the data, model and check code
    ("data", "split", "test_size"): [0.01, 0.05, 0.5, 0.9, 0.99],
    ("data", "split", "stratify"): [True, False],
    ("data", "sensitive"): [[], ["cat"], ["g", "cat"], ["x"], ["y"], ["z", "g"]],
    ("data", "intersections"): [[["g", "cat"]], [["g", "g"]], []],
    ("data", "features"): [["x"], ["g"], ["cat"], ["x", "y"], []],
    ("data", "categorical"): [[], ["cat", "g"], ["x", "cat", "g", "z"], ["y"]],
    ("data", "drop"): [["x"], ["x", "z", "cat", "g"], ["y"]],
    ("data", "positive_label"): ["no", "maybe", 1, True],
    ("data", "id_column"): ["x", "g", "nope"],
    ("checks", 0, "params", "bootstrap"): [0, 1, 2],
    ("checks", 0, "params", "confidence"): [0.51, 0.999],
    ("checks", 0, "params", "calibration_bins"): [2, 100],
    ("checks", 0, "params", "slices"): [False],
    ("checks", 0, "params", "min_group_size"): [1, 10**6],
    ("checks", 1, "params", "bootstrap"): [0, 1],
    ("checks", 1, "params", "columns"): [[], ["g"], ["nope"], ["cat"]],
    ("models", 0, "params", "C"): [1e-9, 1e9],
    ("models", 0, "params", "max_iter"): [10],
    ("models", 0, "params", "class_weight"): ["balanced"],
    ("gates",): [["*/*/* >= 0"], ["ci_low(*/performance/accuracy) > 2"], ["lr/fairness/tpr[g=a] != 0.5"], []],
}


@st.composite
def plausible(draw: st.DrawFn, base: dict) -> dict:
    doc = copy.deepcopy(base)
    for path in draw(st.lists(st.sampled_from(sorted(PLAUSIBLE, key=str)), min_size=1, max_size=4, unique=True)):
        node = doc
        for key in path[:-1]:
            node = node.setdefault(key, {}) if isinstance(key, str) else node[key]
        node[path[-1]] = draw(st.sampled_from(PLAUSIBLE[path]))
        TRIED["plausible edits"] += 1
    if draw(st.booleans()):
        doc["models"].append(
            {"name": "gbm", "recipe": "hist_gradient_boosting", "params": {"max_iter": draw(st.sampled_from([1, 5]))}}
        )
    return doc


@pytest.mark.slow
@settings(max_examples=40, **SETTINGS)
@given(plausible(small_base()))
def test_plausible_extreme_suites_run_without_tracebacks(doc):
    """Valid-looking suites with extreme settings reach data loading, training and the checks."""
    path = WORKDIR / "run" / "plausible.yaml"
    path.write_text(dump(doc), encoding="utf-8")
    code, _, err = invoke(["run", str(path), "-q", "-o", str(WORKDIR / "run" / "out")])
    assert_clean_exit(code, err, allowed=(0, 1, 2))
    TRIED["plausible runs"] += 1
    TRIED[f"run exit {code}"] += 1


def test_report_counts():
    """Prints how many inputs the fuzzers above tried (run with -s to see it)."""
    total = TRIED["validate"] + TRIED["run-subset validate"] + TRIED["plausible runs"]
    print(f"\nfuzzing: {total} suite inputs tried; " + ", ".join(f"{k}={v}" for k, v in sorted(TRIED.items())))
    if TRIED["validate"]:  # when the fuzzers above ran in this session
        assert TRIED["validate exit 2"] > 0 and TRIED["validate exit 0"] > 0
