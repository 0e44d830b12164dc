"""Suite validation for the generation modality: errors name the file and the key; the registry picks its checks."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from audit.errors import ConfigError

BASE = {
    "version": 1,
    "name": "gen",
    "data": {"modality": "generation", "builtin": "tweets"},
    "models": [{"name": "lm", "recipe": "gpt2_lm", "params": {"n_layer": 1, "n_embd": 32, "n_head": 2}}],
    "checks": ["performance"],
}


def _write(tmp_path: Path, **changes) -> Path:
    raw = {**BASE, **changes}
    path = tmp_path / "gen.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def _problems(path: Path) -> str:
    from audit.suite import load_suite

    with pytest.raises(ConfigError) as info:
        load_suite(path)
    return str(info.value)


def test_the_generation_modality_gets_its_own_performance_and_latency() -> None:
    from audit.checks.latency import LatencyCheck
    from audit.checks.performance import PerformanceCheck
    from audit.modalities.generation.latency import GenerationLatencyCheck
    from audit.modalities.generation.performance import GenerationPerformanceCheck
    from audit.registry import CHECKS

    assert CHECKS.resolve("performance", "generation") is GenerationPerformanceCheck
    assert CHECKS.resolve("latency", "generation") is GenerationLatencyCheck
    assert CHECKS.resolve("performance", "tabular") is PerformanceCheck  # the others keep the shared implementation
    assert CHECKS.resolve("latency", "text") is LatencyCheck
    assert CHECKS.resolve("drift", "generation") is not None  # unchanged: a shared check without a generation override
    for pillar in ("shift", "fairness", "robustness", "explain", "privacy"):
        assert CHECKS.resolve(pillar, "generation").modalities == ("generation",)


def test_a_corpus_needs_no_target_and_the_shipped_suite_validates(tmp_path: Path) -> None:
    from audit.suite import load_suite

    assert load_suite(_write(tmp_path)).data.modality == "generation"
    suite = load_suite(Path(__file__).resolve().parents[2] / "suites" / "generation.yaml")
    assert [c.name for c in suite.checks] == ["performance", "shift", "latency", "fairness", "robustness", "explain", "privacy"]


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"checks": [{"name": "performance", "params": {"max_document": 10}}]}, "checks[0].params.max_document: unknown parameter; did you mean 'max_documents'?"),
        ({"checks": [{"name": "fairness", "params": {"generation": {"temperature": 0.5}}}]}, "checks[0].params.generation: 'temperature' applies to sampling; set do_sample: true or remove it"),
        ({"checks": [{"name": "shift", "params": {"severities": [0.0]}}]}, "checks[0].params.severities: severities must be distinct numbers in (0, 1]"),
        ({"checks": [{"name": "privacy", "variant": "membership"}]}, "checks[0].variant: check 'privacy' has no variant 'membership' for generation data"),
        ({"models": [{"name": "lm", "recipe": "gpt2_lm", "params": {"n_embd": 30, "n_head": 4}}]}, "models[0].params: n_embd (30) must be a multiple of n_head (4)"),
        ({"models": [{"name": "lm", "recipe": "gpt2_lm", "params": {"canaries": {"digits": 1, "per_level": 3}}}]}, "models[0].params.canaries: too many canaries for the secret space; add digits"),
        ({"checks": [{"name": "explain", "params": {"methods": ["saliency"]}}]}, "checks[0].params.methods[0]: Input should be 'feature_ablation' or 'integrated_gradients'"),
    ],
)
def test_bad_keys_name_the_file_and_the_key_path(tmp_path: Path, changes: dict, expected: str) -> None:
    path = _write(tmp_path, **changes)
    message = _problems(path)
    assert message.startswith(f"{path}: ") and expected in message


def test_cli_validate_exits_2_without_a_traceback(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = _write(tmp_path, checks=[{"name": "latency", "params": {"batch_sizes": [0]}}])
    done = subprocess.run([sys.executable, "-m", "audit", "validate", str(path)], capture_output=True, text=True)
    assert done.returncode == 2
    assert f"{path}: checks[0].params.batch_sizes: every batch size must lie in [1, 4096]" in done.stderr
    assert "Traceback" not in done.stderr


def test_corpus_data_errors_name_the_key(tmp_path: Path) -> None:
    import pandas as pd

    from audit.data.corpus import build_corpus_bundle
    from audit.errors import DataError
    from audit.suite import load_suite

    pd.DataFrame({"doc": ["a b c", "d e f"] * 10}).to_csv(tmp_path / "corpus.csv", index=False)
    cases = [
        ({"modality": "generation", "path": "corpus.csv"}, "data.text_column: required for a corpus from a file"),
        ({"modality": "generation", "path": "corpus.csv", "text_column": "text"}, "data.text_column: no column 'text'"),
        ({"modality": "generation", "path": "corpus.csv", "text_column": "doc", "options": {"out_of_domain": "missing.csv"}}, "missing.csv"),
        ({"modality": "generation", "path": "corpus.csv", "text_column": "doc", "options": {"max_test_document": 3}}, "data.options: unknown option 'max_test_document' for a corpus file"),
        ({"modality": "generation", "builtin": "tweets", "options": {"labels": ["angry"]}}, "data.options.labels: expected two or three of negative, neutral, positive"),
    ]
    for data, expected in cases:
        suite = load_suite(_write(tmp_path, data=data))
        with pytest.raises(DataError) as info:
            build_corpus_bundle(suite)
        assert expected in str(info.value), str(info.value)


def test_a_corpus_bundle_has_no_classes_and_an_out_of_domain_part(tmp_path: Path) -> None:
    from audit.data.corpus import build_corpus_bundle
    from audit.suite import load_suite

    suite = load_suite(_write(tmp_path, data={"modality": "generation", "builtin": "tweets", "options": {"max_train_documents": 50, "max_test_documents": 20, "max_out_of_domain_documents": 10}}))
    bundle = build_corpus_bundle(suite)
    assert (len(bundle.train), len(bundle.test), len(bundle.extra["out_of_domain"])) == (50, 20, 10)
    assert bundle.schema.classes == () and bundle.schema.positive_label is None and bundle.schema.sensitive == ("topic",)
    assert set(bundle.test.sensitive["topic"]) <= {"airline", "other"}
    assert not set(bundle.train.X) & set(bundle.test.X)


def test_gpt2_lm_refuses_classification_data() -> None:
    import numpy as np

    from audit.data.base import Dataset, Schema
    from audit.errors import ModelError
    from audit.models.gpt2 import GPT2Params, GPT2Recipe

    schema = Schema(target="y", classes=(0, 1), features=("text",), numeric=(), categorical=(), modality="text")
    with pytest.raises(ModelError, match="set data.modality: generation"):
        GPT2Recipe(GPT2Params(), 0).fit("lm", Dataset("train", ["a"], np.zeros(1, dtype=np.int64)), schema)


def test_bias_templates_file_errors_name_the_file_and_key(tmp_path: Path) -> None:
    import json

    from audit.errors import CheckError
    from audit.modalities.generation.fairness import load_templates

    shipped = load_templates("shipped", tmp_path)
    assert set(shipped.axes) == {"gender", "religion", "nationality", "age"}
    bad = tmp_path / "t.json"
    bad.write_text(json.dumps({"axes": {"g": ["a", "b"]}, "sentences": ["The {group} is here."], "attributes": {"positive": ["x"], "negative": ["y"]}, "prompts": ["{group}"]}))
    with pytest.raises(CheckError, match=r"t.json: sentences: every sentence needs '\{group\}' and '\{attribute\}'"):
        load_templates("t.json", tmp_path)
