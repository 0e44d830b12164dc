"""The model card: Hugging Face front matter (read back by huggingface_hub), key figures first,
relative paths only, and clean Markdown (backslash escapes, no HTML entities, inert when rendered)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from audit.card import relative, render_card
from audit.cli import main


def _front(card: str) -> str:
    assert card.startswith("---\n")
    return card[4 : card.index("\n---\n", 4)]


def test_front_matter_is_read_back_by_huggingface_hub(small_run):
    hub = pytest.importorskip("huggingface_hub")
    r = small_run.results
    for model in r.models:
        card = hub.ModelCard(render_card(r, model=model, license="apache-2.0"))
        data = card.data
        assert data.license == "apache-2.0" and data.model_name == model
        assert {"audit", "tabular-classification", "fairness"} <= set(data.tags)
        results = {e.metric_type: e for e in data.eval_results}
        for ours, hub_id in (("accuracy", "accuracy"), ("roc_auc", "roc_auc"), ("f1", "f1")):
            m = r.metric(f"{model}/performance/{ours}")
            entry = results[hub_id]
            assert entry.metric_value == pytest.approx(m.value, abs=1e-6)
            assert f"95% bootstrap interval {m.ci[0]:.3f} to {m.ci[1]:.3f}" in entry.metric_name
            assert (entry.task_type, entry.dataset_split) == ("tabular-classification", "test")
        assert set(data.metrics) >= {"accuracy", "roc_auc", "f1"}


def test_a_card_of_the_whole_run_indexes_every_model(small_run):
    import yaml

    r = small_run.results
    meta = yaml.safe_load(_front(render_card(r)))
    assert [entry["name"] for entry in meta["model-index"]] == list(r.models)
    assert meta["model-index"][0]["results"][0]["dataset"] == {"type": "data", "name": "data.csv", "split": "test"}
    assert "license" not in meta  # the run does not know it: never invented


def test_key_figures_come_first_and_carry_the_numbers(small_run):
    from audit.findings import findings

    r = small_run.results
    card = render_card(r)
    titles = [line[3:] for line in card.splitlines() if line.startswith("## ")]
    assert titles[0] == "Key figures"
    key = card[card.index("## Key figures") : card.index("## Model details")]
    assert f"Gate verdict: **{r.status.upper()}** ({len(r.gates)} gates:" in key
    auc = r.metric("lr/performance/roc_auc")
    assert f"{auc.value:.3g} [{auc.ci[0]:.3f}, {auc.ci[1]:.3f}]" in key
    for model in r.models:
        worst = max(
            (m for m in r.metrics if m.model == model and m.metric == "demographic_parity_difference"),
            key=lambda m: m.value,
        )
        assert f"- {model}: {worst.group} {worst.value:.3g} [{worst.ci[0]:.3f}, {worst.ci[1]:.3f}], n={worst.n}" in key
    top = findings(r, limit=5)
    assert top and all(f"{f.rank}. **{f.severity}**:" in key for f in top)


def test_only_relative_paths(small_run, tmp_path, monkeypatch):
    r = small_run.results
    assert Path(r.manifest["suite_file"]).is_absolute()  # what the run recorded
    card = render_card(r)
    assert str(tmp_path.parents[1]) not in card and not re.search(r"(?<![\w.])/(tmp|home|work|root|Users)/", card)
    assert "| suite file | suite.yaml |" in card  # outside the working folder: the file name
    monkeypatch.chdir(Path(r.manifest["suite_file"]).parents[1])
    assert relative(r.manifest["suite_file"]) == f"{Path(r.manifest['suite_file']).parent.name}/suite.yaml"
    assert relative("train=/srv/data/train.csv, test=/srv/data/test.csv") == "train=train.csv, test=test.csv"
    assert relative("builtin:german_credit") == "builtin:german_credit"


HOSTILE = "<script>alert(1)</script> & co | *x* [l](javascript:y) `z`"


def test_markdown_is_clean_and_inert(small_run):
    from markdown_it import MarkdownIt

    r = small_run.results.model_copy(deep=True)
    r.suite["description"] = HOSTILE
    r.checks[0].warnings.append(f"group {HOSTILE} too small")
    card = render_card(r)
    for entity in ("&lt;", "&gt;", "&amp;", "&#"):
        assert entity not in card
    assert "\\<script\\>alert(1)\\</script\\> \\& co \\| \\*x\\* \\[l\\](javascript:y) \\`z\\`" in card
    html = MarkdownIt("commonmark", {"html": True}).enable("table").render(card)
    assert (
        "<script" not in html and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co | *x* [l](javascript:y) `z`" in html
    )
    assert "<a href" not in html and "<code>" not in html and "<em>" not in html


def test_card_command_options(small_run, tmp_path, capsys):
    out = tmp_path / "README.md"
    assert main(["card", str(small_run.run_dir), "--model", "gbm", "--license", "mit", "-o", str(out)]) == 0
    text = out.read_text()
    assert text.startswith("---\nlicense: mit\n") and "\n- name: gbm\n" in text and "- name: lr" not in text
    assert "| lr |" not in text.split("## Model details")[1].split("##")[0]  # the other model is left out
    assert main(["card", str(small_run.run_dir), "--model", "nope"]) == 2
    assert "--model: the run has no model 'nope'; its models: lr, gbm" in capsys.readouterr().err
