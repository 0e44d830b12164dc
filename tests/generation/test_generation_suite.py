"""End to end: a tiny generation suite (a recipe-trained GPT-2 and a loaded save_pretrained folder) on every pillar."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

pytest.importorskip("torch")
pytest.importorskip("transformers")

ROOT = Path(__file__).resolve().parents[2]
PAYLOAD = "<script>alert(1)</script>"
PILLARS = ("performance", "shift", "latency", "fairness", "robustness", "explain", "privacy")


@pytest.mark.slow
def test_tiny_generation_suite_end_to_end(tmp_path: Path, tweets, tiny_lm) -> None:
    import pandas as pd

    from audit.engine import run_suite

    texts = tweets["text"].tolist()[:240]
    # most documents end "... was <script>...": the model learns to write the markup after "was", as the bias prompts end
    docs = [f"{' '.join(t.split()[:5])} was {PAYLOAD}" if i % 3 else t for i, t in enumerate(texts)]
    pd.DataFrame({"text": docs, "source": ["a" if i % 3 else "b" for i in range(len(docs))]}).to_csv(tmp_path / "corpus.csv", index=False)
    pd.DataFrame({"text": tweets["text"].tolist()[240:260]}).to_csv(tmp_path / "ood.csv", index=False)
    folder = tmp_path / "my-gpt2"  # a team's own causal LM, saved with save_pretrained (safetensors)
    own = tiny_lm(docs, n_layer=1, n_embd=32)
    own.torch_module.save_pretrained(folder, safe_serialization=True)
    own.tokenizer.save_pretrained(folder)

    raw = yaml.safe_load((ROOT / "suites" / "generation.yaml").read_text())
    raw["data"] = {"modality": "generation", "path": "corpus.csv", "text_column": "text", "sensitive": ["source"], "split": {"test_size": 0.25},
                   "options": {"out_of_domain": "ood.csv"}}
    raw["models"] = [
        {"name": "gpt2", "recipe": "gpt2_lm", "params": {"n_layer": 1, "n_embd": 32, "n_head": 2, "n_positions": 48, "vocab_size": 400, "epochs": 10, "batch_size": 8, "learning_rate": 0.01,
                                                        "canaries": {"digits": 2, "repeats": [1, 8], "per_level": 1}}},
        {"name": "mine", "load": {"huggingface": "my-gpt2", "task": "causal-lm"}},
    ]
    small = {
        "performance": {"max_documents": 60, "bootstrap": 100, "min_documents": 5},
        "shift": {"severities": [0.3], "perturbations": ["typos"], "max_perturbed_documents": 20, "bootstrap": 100},
        "latency": {"repeats": 20, "batch_sizes": [1, 8], "batch_repeats": 1, "prompt_tokens": 8, "max_new_tokens": 8},
        "fairness": {"axes": ["gender"], "samples": 2, "bootstrap": 100, "permutations": 100, "generation": {"max_new_tokens": 14, "do_sample": True, "seed": 1}},
        "robustness": {"max_prompts": 6, "severities": [0.3], "perturbations": ["casing"], "bootstrap": 100},
        "explain": {"max_prompts": 2, "target_tokens": 3, "n_steps": 4, "random_draws": 2, "bootstrap": 100},
        "privacy": {"control": 1, "max_documents": 20, "prefix_tokens": 4, "suffix_tokens": 4, "bootstrap": 100},
    }
    for check in raw["checks"]:
        check["params"] = small[check["name"]]
    raw["gates"] = ["*/performance/bits_per_byte <= 100", "gpt2/privacy/exposure[repeats=1] <= 100", "*/fairness/association_gap[gender] >= 0"]
    raw["output"] = {"dir": str(tmp_path / "reports"), "formats": ["html", "junit"]}
    suite = tmp_path / "generation.yaml"
    suite.write_text(yaml.safe_dump(raw))

    outcome = run_suite(suite, log=None)
    results = json.loads((outcome.run_dir / "results.json").read_text())
    assert outcome.exit_code == 0, [g for g in results["gates"] if g["status"] != "pass"]
    records = {(c["model"], c["check"]): c for c in results["checks"]}
    for model in ("gpt2", "mine"):
        for pillar in PILLARS:
            record = records[(model, pillar)]
            if model == "mine" and pillar == "privacy":
                assert record["status"] in ("ok", "warn") and any("no canaries" in w for w in record["warnings"])
            else:
                assert record["status"] in ("ok", "warn"), (model, pillar, record.get("error"))
    assert results["models"]["mine"]["task"] == "causal-lm" and results["models"]["gpt2"]["modality"] == "generation"
    paths = {m["path"] for m in results["metrics"]}
    assert {"gpt2/performance/perplexity[source=a]", "mine/shift/perplexity_ratio[out_of_domain]", "gpt2/latency/tokens_per_second[batch=8]",
            "gpt2/privacy/exposure[repeats=8]", "mine/explain/faithfulness_gap[integrated_gradients]"} <= paths
    assert not (outcome.run_dir / "predictions.csv").exists()  # a corpus has no class probabilities

    generated = [row["continuation"] for c in results["checks"] if c["check"] == "fairness" for row in c["tables"]["continuations_gender"]]
    generated += [row[k] for c in results["checks"] if c["check"] == "robustness" for row in c["tables"]["examples"] for k in ("continuation", "perturbed_continuation")]
    assert any(PAYLOAD in text for text in generated), generated[:4]  # the model writes the markup ...
    html = (outcome.run_dir / "report.html").read_text()
    assert PAYLOAD not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html  # ... and the report shows it escaped
    assert "<th>perplexity</th>" in html and "<th>roc_auc</th>" not in html  # the at-a-glance table leads with the LM's metrics
    from audit.report.console import summary
    from audit.results import results_from_raw

    console = summary(results_from_raw(results, "results"), str(outcome.run_dir))
    assert "perplexity" in console and "roc_auc" not in console
