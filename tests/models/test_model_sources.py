"""More model sources: ONNX (skl2onnx pipeline, torch.onnx network), a Hugging Face folder
(sequence classifier; causal LM refused in a classification suite), and a safetensors state dict
for the user's own torch module class (trust only).

Every loaded model is checked against the framework that made it: the probabilities audit reads
equal the original model's own to 1e-5 on the same rows.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from audit.cli import main
from audit.errors import ConfigError, ModelError

TOL = 1e-5
CREDIT_DATA = {
    "builtin": "german_credit",
    "positive_label": "good",
    "sensitive": ["sex", "age_group"],
    "split": {"test_size": 0.3, "stratify": True},
}


def _suite(folder: Path, *, data: dict, models: list, checks: list | None = None, seed: int = 0) -> Path:
    suite = {
        "version": 1,
        "name": "sources",
        "seed": seed,
        "data": data,
        "models": models,
        "checks": checks or [{"name": "performance", "params": {"bootstrap": 20}}],
        "output": {"dir": str(folder / "reports")},
    }
    path = folder / "suite.yaml"
    path.write_text(yaml.safe_dump(suite, sort_keys=False))
    return path


def _bundle(path: Path):
    from audit.data.tabular import build_bundle
    from audit.suite import load_suite

    return build_bundle(load_suite(path))


def _built(path: Path, index: int = 0):
    """(adapter, manifest info, bundle) for the suite's model ``index``, as ``audit run`` builds it."""
    from audit.data.tabular import build_bundle
    from audit.models.build import build_model
    from audit.suite import load_suite

    suite = load_suite(path)
    bundle = build_bundle(suite)
    model, info = build_model(suite.models[index], index, suite, bundle, suite.seed)
    return model, info, bundle


def _run(path: Path, tmp_path: Path):
    from audit.engine import run_suite

    outcome = run_suite(path, output=tmp_path / "runs", log=None)
    preds = pd.read_csv(outcome.run_dir / "predictions.csv")
    return outcome, preds[preds["dataset"] == "test"].sort_values(
        "row_id"
    ) if "dataset" in preds else preds.sort_values("row_id")


def _numeric_frame(n: int = 240, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    y = (X[:, 0] + 0.5 * X[:, 1] - 0.3 * X[:, 2] + rng.normal(scale=0.5, size=n) > 0).astype(int)
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"]).assign(group=np.where(rng.random(n) < 0.5, "x", "z"))
    return frame.assign(y=np.where(y == 1, "yes", "no"))


NUMERIC_DATA = {
    "path": "data.csv",
    "target": "y",
    "positive_label": "yes",
    "sensitive": ["group"],
    "drop": ["group"],
    "split": {"test_size": 0.5, "stratify": True},
}


# -- ONNX: a skl2onnx-exported scikit-learn pipeline ------------------------------------------
def _credit_pipeline(bundle, rename: dict[str, str] | None = None):
    """ColumnTransformer (scaler + one-hot) and logistic regression, fitted on the train rows."""
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    rename = rename or {}
    schema = bundle.schema
    numeric = [rename.get(c, c) for c in schema.numeric]
    pre = ColumnTransformer(
        [("num", StandardScaler(), numeric), ("cat", OneHotEncoder(handle_unknown="ignore"), list(schema.categorical))]
    )
    labels = np.asarray(schema.classes, dtype=object)[bundle.train.y]  # fit on the label strings: 'bad' / 'good'
    return Pipeline([("pre", pre), ("lr", LogisticRegression(max_iter=2000))]).fit(
        bundle.train.X.rename(columns=rename), labels
    )


def _to_onnx(pipe, schema, path: Path, rename: dict[str, str] | None = None, **options) -> None:
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    rename = rename or {}
    inputs = [
        (rename.get(c, c), FloatTensorType([None, 1]) if c in schema.numeric else StringTensorType([None, 1]))
        for c in schema.features
    ]
    path.write_bytes(convert_sklearn(pipe, initial_types=inputs, target_opset=17, **options).SerializeToString())


def test_skl2onnx_pipeline_audited_like_sklearn(tmp_path):
    from sklearn.metrics import roc_auc_score

    suite = _suite(
        tmp_path, data=CREDIT_DATA, models=[{"name": "onnx_lr", "load": {"path": "model.onnx"}}],
        checks=[{"name": "performance", "params": {"bootstrap": 50}}, {"name": "fairness", "params": {"bootstrap": 50, "min_group_size": 30}}],
    )  # fmt: skip
    bundle = _bundle(suite)
    pipe = _credit_pipeline(bundle)
    _to_onnx(pipe, bundle.schema, tmp_path / "model.onnx")  # default: probabilities as a sequence of maps (ZipMap)
    outcome, preds = _run(suite, tmp_path)
    assert outcome.results.models["onnx_lr"]["format"] == "onnx"
    expected = pipe.predict_proba(bundle.test.X)[:, list(pipe.classes_).index("good")]
    order = np.argsort(bundle.test.ids)
    got = preds["score"].to_numpy()
    gap = float(np.abs(got - expected[order]).max())
    assert gap < TOL, gap
    y = bundle.test.y[order]
    auc = outcome.results.metric("onnx_lr/performance/roc_auc").value
    assert auc == pytest.approx(roc_auc_score(y, got), abs=1e-12)
    assert auc == pytest.approx(roc_auc_score(y, expected[order]), abs=1e-3)
    assert outcome.results.metric("onnx_lr/fairness/demographic_parity_difference[sex]").value is not None
    print(
        f"skl2onnx zipmap: max |p - sklearn| = {gap:.2e}; roc_auc {auc:.6f} vs sklearn {roc_auc_score(y, expected[order]):.6f}"
    )

    # the same pipeline exported without ZipMap: a (rows, classes) probability tensor
    _to_onnx(pipe, bundle.schema, tmp_path / "model.onnx", options={id(pipe): {"zipmap": False}})
    model, _, _ = _built(suite)
    assert model.read == "probabilities" and model.feed == "columns"
    proba = model.predict_proba(bundle.test.X)
    gap = float(
        np.abs(
            proba - pipe.predict_proba(bundle.test.X)[:, [list(pipe.classes_).index(c) for c in bundle.schema.classes]]
        ).max()
    )
    assert gap < TOL, gap
    print(f"skl2onnx tensor: max |p - sklearn| = {gap:.2e}")


def test_onnx_input_that_is_not_a_column_is_named(tmp_path):
    suite = _suite(tmp_path, data=CREDIT_DATA, models=[{"name": "m", "load": {"path": "model.onnx"}}])
    bundle = _bundle(suite)
    rename = {"age": "age_years"}
    _to_onnx(_credit_pipeline(bundle, rename), bundle.schema, tmp_path / "model.onnx", rename)
    with pytest.raises(ModelError) as err:
        _built(suite)
    message = str(err.value)
    assert (
        "models[0].load.path: 'model.onnx' takes the input 'age_years', which is not a feature column of the data"
        in message
    )
    assert "the data's feature columns: ['checking_status'" in message


# -- ONNX: a torch.onnx-exported network -------------------------------------------------------
def _export(module, example, path: Path) -> None:
    import warnings

    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(
            module,
            (example,),
            str(path),
            input_names=["x"],
            output_names=["out"],
            dynamic_axes={"x": {0: "n"}, "out": {0: "n"}},
            dynamo=False,
        )


def _train(module, X, y, steps: int = 30, binary: bool = False):
    import torch

    torch.manual_seed(0)
    opt = torch.optim.Adam(module.parameters(), lr=0.01)
    loss_fn = torch.nn.BCEWithLogitsLoss() if binary else torch.nn.CrossEntropyLoss()
    X, y = (
        torch.tensor(np.array(X), dtype=torch.float32),
        torch.tensor(np.array(y), dtype=torch.float32 if binary else torch.long),
    )
    for _ in range(steps):
        opt.zero_grad()
        out = module(X)
        loss_fn(out.reshape(-1) if binary else out, y).backward()
        opt.step()
    return module.eval()


def test_torch_onnx_network_on_numeric_rows_single_logit(tmp_path):
    import torch

    _numeric_frame().to_csv(tmp_path / "data.csv", index=False)
    suite = _suite(tmp_path, data=NUMERIC_DATA, models=[{"name": "net", "load": {"path": "net.onnx"}}],
                   checks=[{"name": "performance", "params": {"bootstrap": 20}}, {"name": "robustness", "params": {"attacks": ["blackbox"], "epsilons": [0, 0.1], "counterfactuals": {}}}])  # fmt: skip
    bundle = _bundle(suite)
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))  # one logit: sigmoid
    X = bundle.train.X[list(bundle.schema.features)].to_numpy(np.float32)
    _train(net, X, bundle.train.y, binary=True)
    _export(net, torch.zeros(2, 4), tmp_path / "net.onnx")
    model, _, _ = _built(suite)
    assert model.feed == "matrix" and model.read == "logits"
    Xt = bundle.test.X[list(bundle.schema.features)].to_numpy(np.float32)
    with torch.no_grad():
        p = torch.sigmoid(net(torch.tensor(Xt))).double().numpy().reshape(-1)
    gap = float(np.abs(model.predict_proba(bundle.test.X) - np.column_stack([1 - p, p])).max())
    assert gap < TOL, gap
    assert (
        np.abs(model.proba_from_encoded(model.transform(bundle.test.X)) - model.predict_proba(bundle.test.X)).max() == 0
    )
    outcome, preds = _run(suite, tmp_path)
    assert outcome.results.metric("net/performance/roc_auc").value is not None
    assert outcome.results.metric("net/robustness/robust_accuracy[blackbox@0.1]").value is not None
    print(f"torch.onnx tabular (sigmoid): max |p - torch| = {gap:.2e}")


def test_torch_onnx_network_on_digit_images(tmp_path):
    import torch

    suite = _suite(tmp_path, data={"modality": "image", "builtin": "digits", "split": {"test_size": 0.3, "stratify": True}},
                   models=[{"name": "cnn", "load": {"path": "cnn.onnx"}}])  # fmt: skip
    bundle = _bundle(suite)
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(64, 10),
    )
    _train(net, bundle.train.X, bundle.train.y, steps=20)
    _export(net, torch.zeros(2, 1, 8, 8), tmp_path / "cnn.onnx")
    model, _, _ = _built(suite)
    assert model.feed == "images" and model.read == "logits" and model.modality == "image"
    with torch.no_grad():
        expected = torch.softmax(net(torch.as_tensor(bundle.test.X, dtype=torch.float32)).double(), dim=1).numpy()
    gap = float(np.abs(model.predict_proba(bundle.test.X) - expected).max())
    assert gap < TOL, gap
    print(f"torch.onnx image (softmax): max |p - torch| = {gap:.2e}")


def test_onnx_on_text_data_is_refused(tmp_path):
    (tmp_path / "model.onnx").write_bytes(b"not read")
    pd.DataFrame({"text": ["good", "bad"] * 10, "label": ["pos", "neg"] * 10}).to_csv(
        tmp_path / "texts.csv", index=False
    )
    suite = _suite(tmp_path, data={"modality": "text", "path": "texts.csv", "text_column": "text", "target": "label", "positive_label": "pos"},
                   models=[{"name": "m", "load": {"path": "model.onnx"}}])  # fmt: skip
    with pytest.raises(ModelError, match=r"models\[0\]\.load\.path: ONNX text models are not supported"):
        _built(suite)


# -- a Hugging Face folder: fine-tuned MiniLM, and a causal LM ---------------------------------
POSITIVE = [
    "great service",
    "I loved it",
    "wonderful flight",
    "really nice staff",
    "happy with the trip",
    "excellent food",
    "best day ever",
    "so good",
]
NEGATIVE = [
    "awful service",
    "I hated it",
    "terrible flight",
    "really rude staff",
    "angry about the delay",
    "disgusting food",
    "worst day ever",
    "so bad",
]


def _texts(n_each: int) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for i in range(n_each):
        rows.append({"text": f"{POSITIVE[i % 8]} {['today', 'again', 'thanks', '!'][i % 4]}", "sentiment": "positive"})
        rows.append({"text": f"{NEGATIVE[i % 8]} {['today', 'again', 'sigh', '!'][i % 4]}", "sentiment": "negative"})
    return pd.DataFrame(rows).sample(frac=1, random_state=int(rng.integers(1000))).reset_index(drop=True)


def test_fine_tuned_minilm_folder_audited_as_text_classifier(tmp_path):
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from audit.models.text_models import _quietly, packaged_minilm

    base = packaged_minilm()
    tokenizer = AutoTokenizer.from_pretrained(str(base), local_files_only=True)
    # labels in the opposite order to the data's classes (negative, positive): matched by name
    net = _quietly(AutoModelForSequenceClassification.from_pretrained, str(base), num_labels=2, id2label={0: "POSITIVE", 1: "NEGATIVE"},
                                                             label2id={"POSITIVE": 0, "NEGATIVE": 1}, local_files_only=True)  # fmt: skip
    train = _texts(16)
    torch.manual_seed(0)
    opt = torch.optim.AdamW(net.parameters(), lr=5e-5)
    net.train()
    for batch in np.array_split(np.arange(len(train)), 3):  # a few optimizer steps on 32 short texts
        enc = tokenizer(list(train["text"].iloc[batch]), padding=True, return_tensors="pt")
        labels = torch.as_tensor((train["sentiment"].iloc[batch] == "negative").to_numpy().astype(int))
        net(**enc, labels=labels).loss.backward()
        opt.step()
        opt.zero_grad()
    net.eval()
    folder = tmp_path / "finetuned"
    net.save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))

    _texts(20).to_csv(tmp_path / "texts.csv", index=False)
    suite = _suite(tmp_path, data={"modality": "text", "path": "texts.csv", "text_column": "text", "target": "sentiment",
                                   "positive_label": "positive", "split": {"test_size": 0.5, "stratify": True}},
                   models=[{"name": "minilm", "load": {"huggingface": "finetuned"}}])  # fmt: skip
    outcome, preds = _run(suite, tmp_path)
    info = outcome.results.models["minilm"]
    assert info["format"] == "huggingface" and info["labels"] == "by label name" and len(info["hash"]) == 64
    bundle = _bundle(suite)
    order = np.argsort(bundle.test.ids)
    texts = [bundle.test.X[i] for i in order]
    with torch.no_grad():
        logits = net(**tokenizer(texts, padding=True, truncation=True, return_tensors="pt")).logits
    p_positive = torch.softmax(logits.double(), dim=-1)[:, 0].numpy()  # the model's label 0 is POSITIVE
    gap = float(np.abs(preds["score"].to_numpy() - p_positive).max())
    assert gap < TOL, gap
    assert outcome.results.metric("minilm/performance/accuracy").value is not None
    print(f"MiniLM folder: max |p - transformers| = {gap:.2e}")

    model, _, _ = _built(suite)  # the text adapter: what Integrated Gradients and TextAttack use
    from audit.models.text_models import TokenClassifier

    assert isinstance(model, TokenClassifier) and model.kind == "transformer"
    ids, mask, _ = model.encode(texts[:3])
    assert torch.allclose(
        torch.softmax(model.forward(ids, mask).double(), -1)[:, 1], torch.as_tensor(p_positive[:3]), atol=TOL
    )


def _tiny_causal_lm(folder: Path) -> None:
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from tokenizers import decoders as tk_decoders
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = tk_decoders.ByteLevel()
    corpus = ["the cat sat on the mat", "a dog ran in the park", "audits read results", "hello world"] * 4
    bpe.train_from_iterator(
        corpus,
        trainers.BpeTrainer(
            vocab_size=300,
            show_progress=False,
            special_tokens=["<|endoftext|>"],
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        ),
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe, eos_token="<|endoftext|>", bos_token="<|endoftext|>", unk_token="<|endoftext|>"
    )
    config = GPT2Config(
        n_layer=1,
        n_embd=32,
        n_head=2,
        n_positions=64,
        vocab_size=len(tokenizer),
        bos_token_id=tokenizer.eos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    GPT2LMHeadModel(config).save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))


def test_causal_lm_folder_loads_and_is_refused_by_a_classification_suite(tmp_path, capsys):
    from audit.models.huggingface import CausalLanguageModel, load_causal_lm

    folder = tmp_path / "gpt"
    _tiny_causal_lm(folder)
    lm = load_causal_lm(folder, name="tiny")
    assert isinstance(lm, CausalLanguageModel) and type(lm.torch_module).__name__ == "GPT2LMHeadModel"
    completions = lm.generate(["the cat", "hello"], max_new_tokens=3)
    assert len(completions) == 2 and all(isinstance(c, str) for c in completions)
    scores = lm.loglikelihood(["the cat sat on"], [" the mat"])
    assert scores.shape == (1,) and np.isfinite(scores).all() and scores[0] < 0

    _numeric_frame().to_csv(tmp_path / "data.csv", index=False)
    suite = _suite(
        tmp_path, data=NUMERIC_DATA, models=[{"name": "lm", "load": {"huggingface": "gpt", "task": "causal-lm"}}]
    )
    assert main(["run", str(suite), "-q"]) == 2
    err = capsys.readouterr().err
    assert (
        "models[0].load.task: a causal language model (task: causal-lm) generates text; audit it with a generation suite "
        "(data.modality: generation)"
    ) in err
    assert "Traceback" not in err

    # the same folder as a sequence classifier: it has no classification head
    suite = _suite(tmp_path, data={"modality": "text", "path": "texts.csv", "text_column": "text", "target": "sentiment", "positive_label": "positive"},
                   models=[{"name": "lm", "load": {"huggingface": "gpt"}}])  # fmt: skip
    _texts(10).to_csv(tmp_path / "texts.csv", index=False)
    with pytest.raises(
        ModelError,
        match=r"holds a GPT2LMHeadModel, not a sequence classifier; it is a causal language model: set load.task: causal-lm",
    ):
        _built(suite)

    # custom modelling code in the folder (auto_map) is refused without trust, before anything loads
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(
        json.dumps({**config, "auto_map": {"AutoModelForCausalLM": "modeling_evil.EvilLM"}})
    )
    with pytest.raises(
        ModelError,
        match=r"names custom modelling code \(auto_map: AutoModelForCausalLM\), which would run on loading. Nothing was loaded",
    ):
        load_causal_lm(folder)


def test_hugging_face_folder_errors(tmp_path):
    from audit.models.text_models import packaged_minilm

    _texts(10).to_csv(tmp_path / "texts.csv", index=False)
    data = {
        "modality": "text",
        "path": "texts.csv",
        "text_column": "text",
        "target": "sentiment",
        "positive_label": "positive",
    }
    suite = _suite(tmp_path, data=data, models=[{"name": "m", "load": {"huggingface": "nowhere"}}])
    with pytest.raises(ModelError, match=r"models\[0\]\.load\.huggingface: model folder '.*nowhere' not found"):
        _built(suite)
    suite = _suite(tmp_path, data=data, models=[{"name": "m", "load": {"huggingface": str(packaged_minilm())}}])
    with pytest.raises(
        ModelError, match=r"holds a BertModel, not a sequence classifier; fine-tune a classification head"
    ):
        _built(suite)
    pickled = tmp_path / "pickled"
    pickled.mkdir()
    (pickled / "config.json").write_text(
        json.dumps({"model_type": "bert", "architectures": ["BertForSequenceClassification"]})
    )
    (pickled / "pytorch_model.bin").write_bytes(b"never unpickled")
    suite = _suite(tmp_path, data=data, models=[{"name": "m", "load": {"huggingface": "pickled"}}])
    with pytest.raises(ModelError, match=r"holds its weights as pytorch_model.bin \(a pickle, which can run code\)"):
        _built(suite)


# -- safetensors + the user's module class -----------------------------------------------------
MODULE_CODE = """
import torch


class TinyNet(torch.nn.Module):
    def __init__(self, n_inputs, hidden=8, n_outputs=2):
        super().__init__()
        self.body = torch.nn.Sequential(torch.nn.Linear(n_inputs, hidden), torch.nn.ReLU())
        self.head = torch.nn.Linear(hidden, n_outputs)

    def forward(self, x):
        return self.head(self.body(x))
"""


def test_safetensors_with_user_module_class(tmp_path):
    import torch
    from safetensors.torch import save_file

    from audit.suite import load_suite

    name = f"tinynet_{uuid.uuid4().hex[:8]}"  # a fresh module name: sys.modules keeps imports
    (tmp_path / f"{name}.py").write_text(MODULE_CODE)
    _numeric_frame().to_csv(tmp_path / "data.csv", index=False)
    load = {"path": "net.safetensors", "module": f"{name}:TinyNet", "module_params": {"n_inputs": 4, "hidden": 8}}
    untrusted = _suite(tmp_path, data=NUMERIC_DATA, models=[{"name": "net", "load": load}])
    with pytest.raises(
        ConfigError, match=rf"'module' imports and runs your code \('{name}:TinyNet'\); set trust: true to allow it"
    ):
        load_suite(untrusted)

    suite = _suite(tmp_path, data=NUMERIC_DATA, models=[{"name": "net", "load": {**load, "trust": True}}],
                   checks=[{"name": "performance", "params": {"bootstrap": 20}}, {"name": "robustness", "params": {"attacks": ["fgsm"], "epsilons": [0, 0.1], "counterfactuals": {}}}])  # fmt: skip
    bundle = _bundle(suite)
    import importlib
    import sys

    sys.path.insert(0, str(tmp_path))
    try:
        net = importlib.import_module(name).TinyNet(4, hidden=8)
    finally:
        sys.path.remove(str(tmp_path))
    _train(net, bundle.train.X[list(bundle.schema.features)].to_numpy(np.float32), bundle.train.y)
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(tmp_path / "net.safetensors"))

    model, info, _ = _built(suite)
    assert model.torch_module is not None and info["module"] == f"{name}:TinyNet"
    with torch.no_grad():
        expected = torch.softmax(
            net(torch.tensor(bundle.test.X[list(bundle.schema.features)].to_numpy(np.float32))).double(), 1
        ).numpy()
    gap = float(np.abs(model.predict_proba(bundle.test.X) - expected).max())
    assert gap < TOL, gap
    outcome, _ = _run(suite, tmp_path)
    assert (
        outcome.results.metric("net/robustness/robust_accuracy[fgsm@0.1]").value is not None
    )  # gradients reach the module
    print(f"safetensors + module: max |p - torch| = {gap:.2e}")

    # a state dict for another shape of network: the keys are listed
    save_file({"body.0.weight": torch.zeros(8, 4), "extra": torch.zeros(1)}, str(tmp_path / "net.safetensors"))
    with pytest.raises(ModelError) as err:
        _built(suite)
    assert (
        "models[0].load.path: the state dict in 'net.safetensors' does not fit TinyNet: missing keys body.0.bias, head.bias, head.weight; unexpected keys extra"
        in str(err.value)
    )


def test_user_module_needs_numeric_features_and_an_importable_class(tmp_path):
    import torch
    from safetensors.torch import save_file

    name = f"tinynet_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(MODULE_CODE)
    save_file({"w": torch.zeros(1)}, str(tmp_path / "net.safetensors"))
    frame = _numeric_frame().assign(colour=lambda f: np.where(f["a"] > 0, "red", "blue"))
    frame.to_csv(tmp_path / "data.csv", index=False)
    load = {"path": "net.safetensors", "module": f"{name}:TinyNet", "module_params": {"n_inputs": 5}, "trust": True}
    suite = _suite(tmp_path, data=NUMERIC_DATA, models=[{"name": "net", "load": load}])
    with pytest.raises(
        ModelError,
        match=r"a torch module gets the numeric feature matrix, but the features \['colour'\] are categorical",
    ):
        _built(suite)
    _numeric_frame().to_csv(tmp_path / "data.csv", index=False)
    suite = _suite(
        tmp_path, data=NUMERIC_DATA, models=[{"name": "net", "load": {**load, "module": "no_such_module_xyz:Net"}}]
    )
    with pytest.raises(
        ModelError, match=r"models\[0\]\.load\.module: cannot import 'no_such_module_xyz' \(ModuleNotFoundError"
    ):
        _built(suite)


def test_pickle_is_still_refused_without_trust(tmp_path, capsys):
    import pickle

    marker = tmp_path / "ran"

    class Payload:  # unpickling it would create the marker file
        def __reduce__(self):
            return open, (str(marker), "w")

    (tmp_path / "model.pkl").write_bytes(pickle.dumps(Payload()))
    _numeric_frame().to_csv(tmp_path / "data.csv", index=False)
    suite = _suite(tmp_path, data=NUMERIC_DATA, models=[{"name": "m", "load": {"path": "model.pkl"}}])
    assert main(["run", str(suite), "-q"]) == 2
    err = capsys.readouterr().err
    assert "models[0].load: refusing to load 'model.pkl' as pickle: unpickling can run arbitrary code" in err
    assert not marker.exists() and "Traceback" not in err


def test_a_file_that_is_not_onnx_is_reported(tmp_path):
    (tmp_path / "model.onnx").write_bytes(b"not an onnx graph")
    _numeric_frame().to_csv(tmp_path / "data.csv", index=False)
    suite = _suite(tmp_path, data=NUMERIC_DATA, models=[{"name": "m", "load": {"path": "model.onnx"}}])
    with pytest.raises(ModelError, match=r"models\[0\]\.load\.path: 'model.onnx' is not a valid ONNX model \("):
        _built(suite)
