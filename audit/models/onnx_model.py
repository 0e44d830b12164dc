"""ONNX models run by onnxruntime (CPU): an exported scikit-learn pipeline or an exported network.

How rows reach the session (decided once, from the session's inputs):

* ``columns``: every input is named after a feature column (what skl2onnx gives a
  ``ColumnTransformer`` pipeline: one ``[None, 1]`` tensor per raw column, strings for the
  categorical ones). Each column is cast to its input's element type.
* ``matrix``: one float input that is not a column name (a torch.onnx-exported network, or a
  pipeline exported on a float array): the numeric features in ``schema.features`` order.
  Only when every feature is numeric; the adapter then also exposes ``transform`` and
  ``proba_from_encoded``, so the black-box attacks and the explainers work on that matrix.
* ``images``: one float input; NCHW pixels, flattened when the input has rank 2.

Text ONNX models are not supported (tokenisation is not part of an exported graph).

What comes out: a sequence of maps (skl2onnx's default ZipMap) or a float tensor. The tensor is
read as probabilities when its name says so ("prob"), as logits when it says "logit", else by a
probe on a few rows: rows in [0, 1] that sum to 1 are probabilities, anything else logits
(softmax; a single column is the positive class's logit, sigmoid). Class labels written in the
graph (``classlabels_*`` attributes of the classifier / ZipMap node) are matched to the data's
classes by code or label, as for scikit-learn estimators; without them the columns are taken in
the data's class order and their number must match.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd

from audit.data.base import DataBundle, Schema, take
from audit.errors import MissingExtra, ModelError
from audit.models.base import ModelAdapter
from audit.models.tabular import _class_columns

PROBE_ROWS = 64
BATCH_ROWS = {"columns": 8192, "matrix": 8192, "images": 256}
NUMPY_TYPES = {
    "tensor(float)": np.float32, "tensor(double)": np.float64, "tensor(float16)": np.float16,
    "tensor(int64)": np.int64, "tensor(int32)": np.int32, "tensor(bool)": np.bool_,
}  # fmt: skip


def session_for(path: Path, key: str) -> Any:
    """An onnxruntime session on the CPU with a modest thread count (the machine is shared)."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise MissingExtra("onnxruntime", "onnx", "Loading an ONNX model") from None
    options = ort.SessionOptions()
    options.intra_op_num_threads = min(4, os.cpu_count() or 1)
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # errors only
    try:
        return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise ModelError(
            f"{key}.path: '{path.name}' is not a valid ONNX model ({exc.__class__.__name__}: {exc})"
        ) from None


def graph_class_labels(path: Path) -> list[Any] | None:
    """Class labels written in the graph by skl2onnx (ZipMap / classifier node), if any."""
    try:
        import onnx
    except ImportError:
        raise MissingExtra("onnx", "onnx", "Reading the class labels of an ONNX model") from None
    model = onnx.load(str(path), load_external_data=False)
    for node in model.graph.node:
        for attr in node.attribute:
            if attr.name in ("classlabels_strings",) and attr.strings:
                return [s.decode() for s in attr.strings]
            if attr.name in ("classlabels_int64s", "classlabels_ints") and attr.ints:
                return [int(i) for i in attr.ints]
    return None


class OnnxModel(ModelAdapter):
    """An ``onnxruntime.InferenceSession`` scoring tabular rows or images (see module doc)."""

    kind = "other"

    def __init__(
        self,
        name: str,
        schema: Schema,
        session: Any,
        *,
        feed: str,
        output: str,
        read: str,
        columns: np.ndarray | None,
        labels: list[Any] | None,
    ) -> None:
        super().__init__(name, schema.classes)
        self.schema = schema
        self.modality = schema.modality
        self.session = session
        self.feed = feed  # "columns" | "matrix" | "images"
        self.output = output  # name of the output read
        self.read = read  # "map" | "probabilities" | "logits"
        self.columns = columns  # output column of each schema class (None: the data's class order)
        self.labels = labels  # map outputs: the key of each schema class
        self.batch_size = BATCH_ROWS[feed]
        self._inputs = {i.name: i for i in session.get_inputs()}

    # -- inputs ----------------------------------------------------------------------------------
    def transform(self, X: Any) -> np.ndarray:
        """The numeric feature matrix a ``matrix`` model takes (float32, ``schema.features`` order)."""
        if self.feed != "matrix":
            return super().transform(X)
        return numeric_matrix(X, self.schema)

    def _feeds(self, X: Any) -> dict[str, Any]:
        if self.feed == "columns":
            return {name: _column(X, name, spec) for name, spec in self._inputs.items()}
        ((name, spec),) = self._inputs.items()
        values = np.asarray(X, dtype=NUMPY_TYPES.get(spec.type, np.float32))
        if self.feed == "images" and len(spec.shape) == 2:
            values = values.reshape(len(values), -1)
        return {name: values}

    # -- outputs ---------------------------------------------------------------------------------
    def _scores(self, feeds: dict[str, Any]) -> np.ndarray:
        (raw,) = self.session.run([self.output], feeds)
        if self.read == "map":
            return np.asarray([[row[k] for k in self.labels] for row in raw], dtype=np.float64).reshape(
                len(raw), len(self.classes)
            )
        return np.asarray(raw, dtype=np.float64).reshape(len(raw), -1)

    def _proba(self, scores: np.ndarray) -> np.ndarray:
        if self.read == "map":
            return scores
        if scores.shape[1] == 1:
            p = scores[:, 0] if self.read == "probabilities" else 1.0 / (1.0 + np.exp(-scores[:, 0]))
            return np.column_stack([1.0 - p, p])
        if self.read == "logits":
            shifted = np.exp(scores - scores.max(axis=1, keepdims=True))
            scores = shifted / shifted.sum(axis=1, keepdims=True)
        return scores[:, self.columns] if self.columns is not None else scores

    def _run(self, X: Any, encoded: bool = False) -> np.ndarray:
        n = len(X)
        out = np.zeros((n, len(self.classes)), dtype=np.float64)
        for start in range(0, n, self.batch_size):
            part = (
                take(X, np.arange(start, min(n, start + self.batch_size)))
                if not encoded
                else X[start : start + self.batch_size]
            )
            if self.feed == "matrix" and not encoded:
                part = numeric_matrix(part, self.schema)
            out[start : start + len(part)] = self._proba(self._scores(self._feeds(part)))
        return out

    def predict_proba(self, X: Any) -> np.ndarray:
        return self._run(X)

    @property
    def feature_names_out(self) -> list[str]:
        return list(self.schema.features) if self.modality == "tabular" else []


class OnnxMatrixModel(OnnxModel):
    """An ONNX model over the numeric feature matrix: that matrix is its encoded input space."""

    def proba_from_encoded(self, Z: np.ndarray) -> np.ndarray:
        """Probabilities for rows already in ``transform``'s space (attacks and explainers work there)."""
        return self._run(np.asarray(Z, dtype=np.float32), encoded=True)


def numeric_matrix(X: Any, schema: Schema) -> np.ndarray:
    """The features of tabular rows as a float32 matrix, in ``schema.features`` order."""
    frame = X if isinstance(X, pd.DataFrame) else pd.DataFrame(X, columns=list(schema.features))
    values = (
        frame[list(schema.features)].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float32, na_value=np.nan)
    )
    return np.require(values, requirements=["C", "W"])  # torch.from_numpy wants a writable array


def _column(X: pd.DataFrame, name: str, spec: Any) -> np.ndarray:
    series = X[name]
    if spec.type == "tensor(string)":
        values = series.astype(str).to_numpy(dtype=object)
    else:
        values = (
            pd.to_numeric(series, errors="coerce")
            .to_numpy(dtype=np.float64, na_value=np.nan)
            .astype(NUMPY_TYPES[spec.type])
        )
    return values.reshape(-1, 1) if len(spec.shape) == 2 else values


def load_onnx_model(name: str, path: Path, bundle: DataBundle, key: str) -> OnnxModel:
    """An ``OnnxModel`` for the suite's data, its input and output layout checked on a few rows."""
    schema = bundle.schema
    if schema.modality == "text":
        raise ModelError(
            f"{key}.path: ONNX text models are not supported (the tokenizer is not part of the graph); "
            "save the model with save_pretrained and load it as a Hugging Face folder (load.huggingface)"
        )
    session = session_for(path, key)
    feed = _feed_mode(session, schema, f"{key}.path", path.name)
    output, read = _pick_output(session, f"{key}.path", path.name)
    labels = graph_class_labels(path)
    columns, keys = _class_order(labels, read, schema, name, f"{key}.path")
    adapter = OnnxMatrixModel if feed == "matrix" else OnnxModel
    model = adapter(
        name,
        schema,
        session,
        feed=feed,
        output=output,
        read="logits" if read == "probe" else read,
        columns=columns,
        labels=keys,
    )
    probe = probe_rows(bundle)
    if probe is None:
        return model
    try:
        scores = model._scores(model._feeds(numeric_matrix(probe, schema) if feed == "matrix" else probe))
    except ModelError:
        raise
    except Exception as exc:
        raise ModelError(
            f"{key}.path: '{path.name}' cannot score the suite's {schema.modality} rows ({exc.__class__.__name__}: {exc})"
        ) from None
    if read != "map":
        if read == "probe":
            model.read = _probabilities_or_logits(scores)
        width = scores.shape[1]
        expected = len(schema.classes)
        if width != expected and not (width == 1 and expected == 2):
            raise ModelError(
                f"{key}.path: output '{output}' of '{path.name}' has {width} columns; the data has {expected} classes"
            )
        if width == 1 and model.read == "probabilities" and ((scores < 0) | (scores > 1)).any():
            raise ModelError(f"{key}.path: output '{output}' of '{path.name}' is named a probability but leaves [0, 1]")
    return model


def _feed_mode(session: Any, schema: Schema, key: str, file: str) -> str:
    inputs = session.get_inputs()
    if schema.modality == "image":
        if (
            len(inputs) != 1
            or inputs[0].type not in ("tensor(float)", "tensor(double)")
            or len(inputs[0].shape) not in (2, 4)
        ):
            shown = ", ".join(f"{i.name} {i.type} {i.shape}" for i in inputs)
            raise ModelError(
                f"{key}: '{file}' must take one float tensor of images (N, C, H, W) or flattened (N, C*H*W); it takes {shown}"
            )
        return "images"
    features = list(schema.features)
    names = [i.name for i in inputs]
    if all(n in features for n in names):
        return "columns"
    if len(inputs) == 1 and inputs[0].type in ("tensor(float)", "tensor(double)"):
        width = inputs[0].shape[-1] if len(inputs[0].shape) == 2 else None
        text = [f for f in features if f not in schema.numeric]
        if text:
            raise ModelError(
                f"{key}: '{file}' takes one float matrix ('{names[0]}'), but the features {text[:8]} are not numeric; "
                "export the preprocessing with the model (e.g. skl2onnx on the whole Pipeline, one input per column)"
            )
        if isinstance(width, int) and width != len(features):
            raise ModelError(
                f"{key}: '{file}' takes {width} values per row ('{names[0]}'); the data has {len(features)} features {features[:8]}"
            )
        return "matrix"
    missing = [n for n in names if n not in features]
    raise ModelError(
        f"{key}: '{file}' takes the input '{missing[0]}', which is not a feature column of the data "
        f"(inputs: {names}; the data's feature columns: {features})"
    )


def _pick_output(session: Any, key: str, file: str) -> tuple[str, str]:
    """(output name, how to read it: map / probabilities / logits / probe)."""
    outputs = session.get_outputs()
    for out in outputs:
        if out.type.startswith("seq(map("):
            return out.name, "map"
    floats = [o for o in outputs if o.type in ("tensor(float)", "tensor(double)", "tensor(float16)")]
    if not floats:
        raise ModelError(
            f"{key}: '{file}' has no float output of scores (outputs: {[f'{o.name} {o.type}' for o in outputs]})"
        )
    for out in floats:
        if "prob" in out.name.lower():
            return out.name, "probabilities"
    for out in floats:
        if "logit" in out.name.lower():
            return out.name, "logits"
    return floats[0].name, "probe"


def _class_order(
    labels: list[Any] | None, read: str, schema: Schema, name: str, key: str
) -> tuple[np.ndarray | None, list[Any] | None]:
    """(tensor column of each schema class, map key of each schema class)."""
    if labels is None:
        if read == "map":
            raise ModelError(f"{key}: the model's probability maps carry no class labels in the graph")
        return None, None
    try:
        columns = _class_columns(SimpleNamespace(classes_=labels, predict_proba=None), schema, name)
    except ModelError as exc:
        raise ModelError(f"{key}: {exc}") from None
    if read == "map":
        return None, [labels[int(c)] for c in columns]
    return columns, None


def _probabilities_or_logits(scores: np.ndarray) -> str:
    if scores.shape[1] == 1:
        return "logits"
    finite = np.isfinite(scores).all()
    in_range = finite and (scores >= -1e-6).all() and (scores <= 1 + 1e-6).all()
    return "probabilities" if in_range and np.allclose(scores.sum(axis=1), 1.0, atol=1e-4) else "logits"


def probe_rows(bundle: DataBundle) -> Any:
    """A few rows to try a loaded model on: from the test data, else train, else reference."""
    for dataset in (bundle.test, bundle.train, bundle.reference):
        if dataset is not None and len(dataset):
            return take(dataset.X, np.arange(min(PROBE_ROWS, len(dataset))))
    return None
