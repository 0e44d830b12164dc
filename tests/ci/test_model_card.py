"""``audit card``: a Markdown model card from results.json alone, with absent pillars named."""

from __future__ import annotations

from audit.card import render_card
from audit.cli import main
from audit.results import CheckRecord, Metric


def _section(card: str, title: str) -> str:
    start = card.index(f"## {title}\n")
    end = card.find("\n## ", start + 1)
    return card[start : end if end != -1 else None]


def test_card_of_the_credit_run(credit_run):
    r = credit_run.results
    card = render_card(r)
    titles = [line[3:] for line in card.splitlines() if line.startswith("## ")]
    assert titles == [
        "Key figures",
        "Model details",
        "Intended use",
        "Data",
        "Metrics",
        "Release gates",
        "Fairness",
        "Robustness and distribution shift",
        "Privacy",
        "Data and evaluation integrity",  # the integrity pillar every run adds
        *(["Other checks"] if any(c.check not in ("performance", "fairness") for c in r.checks) else []),
        "Limitations",
        "Provenance",
    ]
    assert "Three credit\\-scoring models" in card or "Three credit-scoring models" in card  # the suite description
    data = _section(card, "Data")
    assert r.manifest["data_sha256"] in data and "builtin:german\\_credit" in data and "700 train / 300 test" in data
    assert "sex, age\\_group, foreign\\_worker" in data
    acc = r.metric("logreg/performance/accuracy")
    metrics = _section(card, "Metrics")
    assert f"| accuracy | {acc.value:.3g} [{acc.ci[0]:.3f}, {acc.ci[1]:.3f}]" in metrics
    fairness = _section(card, "Fairness")
    dpd = r.metric("gbm/fairness/demographic_parity_difference[sex]")
    assert f"| gbm | sex | {dpd.value:.3g} [{dpd.ci[0]:.3f}, {dpd.ci[1]:.3f}]" in fairness
    rates = {
        m.group: m.value
        for m in r.metrics
        if m.path.startswith("gbm/fairness/selection_rate[sex=") and "&" not in m.group
    }
    top, low = max(rates, key=rates.get), min(rates, key=rates.get)
    assert f"{top} ({rates[top]:.3g}) / {low} ({rates[low]:.3g})" in fairness
    small = [w for c in r.checks if c.check == "fairness" for w in c.warnings]
    assert small and "**Small groups**" in fairness
    provenance = _section(card, "Provenance")
    assert r.manifest["suite_sha256"] in provenance and r.models["mlp"]["hash"] in provenance
    assert f"torch {r.manifest['packages']['torch']}" in provenance


def test_absent_pillars_are_named_not_assessed(small_run):
    card = render_card(small_run.results)
    assert "Not assessed: this run has no robustness, shift or drift checks." in _section(
        card, "Robustness and distribution shift"
    )
    assert "Not assessed in this run: explanations, robustness, distribution shift / drift, privacy." in _section(
        card, "Limitations"
    )
    assert "## Other checks" not in card


def test_robustness_shift_and_other_findings_are_reported(small_run):
    r = small_run.results.model_copy(deep=True)

    def m(
        check: str, name: str, value: float, group: str | None = None, direction: str | None = "lower", ci=None
    ) -> Metric:
        path = f"lr/{check}/{name}" + (f"[{group}]" if group else "")
        return Metric(
            path=path, value=value, ci=ci, n=50, direction=direction, model="lr", check=check, metric=name, group=group
        )

    r.checks += [
        CheckRecord(check="shift", model="lr", warnings=["scenario 'late' has 12 rows"]),
        CheckRecord(check="image_corruption", pillar="shift", model="lr"),  # a third-party check declares its pillar
        CheckRecord(check="robustness", model="lr", status="error", error="CheckError: needs a torch model"),
        CheckRecord(check="latency", model="lr"),
    ]
    r.metrics += [
        m("shift", "accuracy_drop", 0.12, "age>60", ci=(0.05, 0.2)),
        m("shift", "accuracy_drop", 0.01, "region", ci=(0.0, 0.03)),
        m("image_corruption", "worst_corruption_accuracy", 0.61, direction="higher"),
        m("latency", "p95_ms", 3.5),
    ]
    card = render_card(r)
    robust = _section(card, "Robustness and distribution shift")
    assert "### shift · lr (ok)" in robust and "### image\\_corruption · lr (ok)" in robust
    rows = [line for line in robust.splitlines() if line.startswith("| accuracy\\_drop")]
    assert rows == [
        "| accuracy\\_drop | age\\>60 | 0.12 [0.050, 0.200] | lower |",
        "| accuracy\\_drop | region | 0.01 [0.000, 0.030] | lower |",
    ]  # worst first
    assert "warning: scenario 'late' has 12 rows" in robust
    assert "The check raised: CheckError: needs a torch model" in robust
    assert "| p95\\_ms | overall | 3.5 | lower |" in _section(card, "Other checks")
    assert "lr/robustness did not complete" in _section(card, "Limitations")
    assert "Not assessed in this run: explanations, privacy." in card


def test_card_command_writes_into_the_run_folder(small_run, tmp_path, capsys):
    out = tmp_path / "card.md"
    assert main(["card", str(small_run.run_dir / "results.json"), "-o", str(out)]) == 0
    assert out.read_text() == render_card(small_run.results)
    assert capsys.readouterr().out == f"model card written to {out}\n"
    assert main(["card", str(small_run.run_dir), "-o", "-"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("---\n") and "\n---\n\n# Model card: small\n" in out  # front matter, then the card
    assert main(["card", str(tmp_path / "nothing")]) == 2
    assert "no results.json here" in capsys.readouterr().err
