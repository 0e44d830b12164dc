"""SHAP values for a tabular model, with the explainer chosen by ``model.kind``.

- ``tree``: exact ``shap.TreeExplainer`` (tree-path-dependent) on ``model.estimator`` over the
  encoded matrix; it explains the raw margin, which for boosted classifiers is the log-odds.
- ``linear``: ``shap.LinearExplainer`` with the mean of all encoded background rows as background;
  a row's SHAP values are then exactly ``coef * (x - mean)`` on the log-odds (decision function).
- ``mlp`` with a ``torch_module``: ``shap.DeepExplainer`` on the module's logit, against a seeded
  sample of ``background_size`` encoded background rows (never a full kernel background).
- a scikit-learn ``Pipeline`` that takes raw rows (a user's model file): ``tree`` and ``linear``
  kinds are explained exactly as above on the final step, over ``pipeline[:-1]``'s output, when
  each transformed column can be traced to one original feature (``audit.explain.pipeline``).
- anything else: permutation SHAP (``audit.explain.permutation``) on the positive-class
  probability, each original feature one player (a one-hot feature's columns move together),
  against a seeded sample of ``background_size`` background rows: over the encoded matrix when the
  model has one (``proba_from_encoded``, or a pipeline's traced transform), else over the raw
  rows. Each row's feature orders are drawn from the seed and the row's own values, so a row gets
  the same values whichever other rows are explained with it. ``permutations`` (default: the
  background size, one antithetic order per background row) sets the work; ``progress`` is told
  how many rows are done.

``explain_rows`` is the one entry point: the ``explain`` check explains its test rows with it, and
the dashboard's what-if explains an edited row with it, from the same background rows, background
size and generator (``shap_rng``), so an unedited row gets the values the check stored.
``TabularShap.by_feature`` folds encoded columns back onto the original features.

shap draws from numpy's global RNG in places; every call runs inside ``numpy_global_seed`` which
seeds it from the check's generator and restores the caller's state afterwards.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from audit.lazy import pandas as pd  # imported on first use (audit validate stays light)

Progress = Callable[[int, int], None]  # (rows done, rows in all), for permutation SHAP


@dataclass
class TabularShap:
    """Per-row SHAP values of one model on the explained rows, in one output space."""

    explainer: str
    output_space: str  # "log-odds", "probability" or "margin"
    background: str
    values: np.ndarray  # (n_rows, n_columns), columns as in ``columns``
    base_values: np.ndarray  # (n_rows,)
    output: np.ndarray  # (n_rows,) the model's own output in ``output_space``
    columns: list[str] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)  # column -> original feature
    rows: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))  # positions in the test set
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    permutations: int = 0  # antithetic permutations per row (permutation SHAP only)

    @property
    def base_value(self) -> float:
        return float(np.mean(self.base_values)) if len(self.base_values) else float("nan")

    @property
    def additivity_error(self) -> float:
        """max |base + sum(SHAP) - output| over the rows, in the explained output space."""
        if not len(self.output):
            return 0.0
        return float(np.max(np.abs(self.base_values + self.values.sum(axis=1) - self.output)))

    def by_feature(self, preferred: Sequence[str] = ()) -> tuple[list[str], np.ndarray]:
        """(original features, (n_rows, n_features) SHAP values): each feature's encoded columns summed.

        Features come in ``preferred`` order first (e.g. the schema's), then as the columns name them.
        """
        from audit.explain.features import feature_order, to_features

        features = feature_order(self.columns, self.sources, preferred)
        return features, to_features(self.values, self.columns, self.sources, features)


@contextmanager
def numpy_global_seed(seed: int) -> Iterator[None]:
    """Seed numpy's global RNG for the block, then restore the caller's state."""
    state = np.random.get_state()
    np.random.seed(seed % 2**32)
    try:
        yield
    finally:
        np.random.set_state(state)


@contextmanager
def torch_global_seed(seed: int) -> Iterator[None]:
    """Seed torch's global CPU RNG for the block without disturbing the caller's stream."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


SHAP_STREAM = ("explain", "shap")  # keys of the run generator: ctx.rng("explain", <model>, "shap")


def shap_rng(rng: Callable[..., np.random.Generator], model_name: str) -> np.random.Generator:
    """The generator behind ``model_name``'s SHAP values in a run; ``rng`` is the run's ``Context.rng``.

    The ``explain`` check and the what-if both take it from here, so both draw the same seed,
    hence the same background sample (DeepExplainer, permutation) and the same feature orders.
    """
    return rng(SHAP_STREAM[0], model_name, SHAP_STREAM[1])


def explain_rows(
    model: Any,
    train_X: Any,
    rows_X: Any,
    *,
    rng: np.random.Generator,
    background_size: int = 100,
    p_pos: np.ndarray | None = None,
    permutations: int | None = None,
    progress: Progress | None = None,
) -> TabularShap:
    """SHAP values of ``model`` on the raw rows ``rows_X``, explainer chosen by ``model.kind``.

    ``train_X``: the raw training rows the background is built from (their encoded mean for the
    linear explainer, a seeded sample of ``background_size`` of them for DeepExplainer and the
    permutation fallback; trees use their own training cover). ``rng``: one seed is drawn from it
    (``shap_rng`` gives the run's). ``p_pos``: the model's positive-class probability on
    ``rows_X`` (computed when not given); it names the output space of a margin explanation.
    ``permutations`` and ``progress``: permutation SHAP only (see the module docstring).
    A row's values depend on the model, the training rows, the seed and that row only.
    """
    if p_pos is None:
        p_pos = np.asarray(model.predict_proba(rows_X), dtype=np.float64)[:, -1]
    seed = int(rng.integers(2**31 - 1))
    start = time.perf_counter()
    with numpy_global_seed(seed):
        result = _dispatch(
            model,
            train_X,
            rows_X,
            np.asarray(p_pos, dtype=np.float64).reshape(-1),
            _Budget(background_size, permutations, progress),
            np.random.default_rng(seed),
            seed,
        )
    result.seconds = time.perf_counter() - start
    return result


@dataclass
class _Budget:
    """How much background and permutation work the caller allows, and whom to tell progress."""

    background_size: int
    permutations: int | None = None
    progress: Progress | None = None


def _dispatch(
    model: Any, train_X: Any, X: Any, p_pos: np.ndarray, budget: _Budget, rng: np.random.Generator, seed: int
) -> TabularShap:
    try:
        Ztr, Z = model.transform(train_X), model.transform(X)
    except NotImplementedError:
        return _pipeline(model, train_X, X, p_pos, budget, rng, seed)
    columns, sources = list(model.feature_names_out), dict(model.feature_sources)
    notes: list[str] = []
    kind, estimator = getattr(model, "kind", "other"), getattr(model, "estimator", None)
    attempts: list[tuple[str, Callable[[], TabularShap]]] = []
    if kind == "tree" and estimator is not None:
        attempts.append(("TreeExplainer", lambda: _tree(estimator, Z, p_pos)))
    if kind == "linear" and estimator is not None:
        attempts.append(("LinearExplainer", lambda: _linear(estimator, Ztr, Z, p_pos)))
    if kind == "mlp" and getattr(model, "torch_module", None) is not None:
        attempts.append(
            ("DeepExplainer", lambda: _deep(model.torch_module, Ztr, Z, p_pos, budget.background_size, rng, seed))
        )
    for name, attempt in attempts:
        try:
            result = attempt()
            break
        except Exception as exc:  # an estimator the specialised explainer does not know: fall back
            notes.append(
                f"{name} could not explain this {kind} model ({exc.__class__.__name__}: {exc}); used the permutation explainer instead"
            )
    else:
        if not hasattr(model, "proba_from_encoded"):
            result = _raw_permutation(model, train_X, X, budget, rng, seed)
        else:
            result = _permutation(
                lambda M: model.proba_from_encoded(M)[:, -1], Ztr, Z, columns, sources, budget, rng, _row_seeds(seed, X)
            )
        result.notes = notes + result.notes
        return result
    if result.output_space == "margin":
        notes.append(
            "the explained output is the estimator's raw margin, which is not the log-odds of the positive class"
        )
    result.columns, result.sources, result.notes = columns, sources, notes + result.notes
    return result


def _pipeline(
    model: Any, train_X: Any, X: Any, p_pos: np.ndarray, budget: _Budget, rng: np.random.Generator, seed: int
) -> TabularShap:
    """A model without an encoder of its own: when it is a Pipeline whose transform can be traced
    per feature, explain its final step on the transformed rows (exactly for tree and linear kinds,
    else by permutation over the transformed rows); otherwise permutation SHAP on the raw rows."""
    from audit.explain.pipeline import Unmapped, column_sources, dense, split_pipeline

    parts = split_pipeline(getattr(model, "estimator", None))
    if parts is None or not isinstance(X, pd.DataFrame):
        return _raw_permutation(model, train_X, X, budget, rng, seed)
    transform, final = parts
    kind, notes = getattr(model, "kind", "other"), []
    try:
        probe = train_X.iloc[np.unique(np.linspace(0, len(train_X) - 1, min(64, len(train_X))).astype(int))]
        columns, sources = column_sources(transform, probe)
        Ztr, Z = dense(transform.transform(train_X)), dense(transform.transform(X))
    except Exception as exc:  # noqa: BLE001 - Unmapped, or a transformer that cannot name its columns
        why = str(exc) if isinstance(exc, Unmapped) else f"{exc.__class__.__name__}: {exc}"
        notes.append(
            f"the pipeline's transform cannot be split per feature ({why}); explained the whole pipeline by permutation"
        )
        result = _raw_permutation(model, train_X, X, budget, rng, seed)
        result.notes = notes + result.notes
        return result
    step = type(final).__name__
    try:
        if kind == "tree":
            result = _tree(final, Z, p_pos)
        elif kind == "linear":
            result = _linear(final, Ztr, Z, p_pos)
        else:
            result = None
    except Exception as exc:  # an estimator the specialised explainer does not know: fall back
        notes.append(
            f"the {kind} explainer could not explain the pipeline's final {step} ({exc.__class__.__name__}: {exc}); used the permutation explainer instead"
        )
        result = None
    if result is not None:
        if result.output_space == "margin":
            notes.append(
                "the explained output is the estimator's raw margin, which is not the log-odds of the positive class"
            )
        result.explainer += f" on the final {step} over the pipeline's {Z.shape[1]} transformed columns"
        result.columns, result.sources, result.notes = columns, sources, notes + result.notes
        return result
    if hasattr(final, "feature_names_in_"):  # it was fitted on a DataFrame: give it the pipeline's raw rows
        result = _raw_permutation(model, train_X, X, budget, rng, seed)
    else:
        k = _positive_column(final, Z[: min(len(Z), 50)], p_pos[: min(len(Z), 50)])
        result = _permutation(  # the raw features are the players; only the encoding is done once
            lambda M: np.asarray(final.predict_proba(M), dtype=np.float64)[:, k],
            Ztr,
            Z,
            columns,
            sources,
            budget,
            rng,
            _row_seeds(seed, X),
            features=[str(c) for c in X.columns],
            where="raw",
        )
    result.notes = notes + result.notes
    return result


def _orient(
    values: np.ndarray, base: np.ndarray, output: np.ndarray, p_pos: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """Name the output space of a margin explanation and make it favour the positive class.

    The margin is compared with the log-odds of the positive-class probability; a margin of the
    other class is negated (SHAP values are linear in the output). Anything else stays 'margin'.
    """
    inside = (p_pos > 1e-9) & (p_pos < 1 - 1e-9)
    if inside.any():
        logit = np.log(p_pos[inside] / (1 - p_pos[inside]))
        if np.allclose(output[inside], logit, rtol=1e-4, atol=1e-4):
            return values, base, output, "log-odds"
        if np.allclose(-output[inside], logit, rtol=1e-4, atol=1e-4):
            return -values, -base, -output, "log-odds"
    return values, base, output, "margin"


def _positive_column(estimator: Any, Z: np.ndarray, p_pos: np.ndarray) -> int:
    """The estimator's predict_proba column that equals the positive-class probability."""
    proba = np.asarray(estimator.predict_proba(Z), dtype=np.float64)
    return int(np.argmin(np.abs(proba - p_pos[:, None]).max(axis=0)))


def _tree(estimator: Any, Z: np.ndarray, p_pos: np.ndarray) -> TabularShap:
    import shap

    explainer = shap.TreeExplainer(estimator, feature_perturbation="tree_path_dependent")
    explanation = explainer(Z)  # check_additivity stays on: shap raises if the trees disagree
    values, base = (
        np.asarray(explanation.values, dtype=np.float64),
        np.asarray(explanation.base_values, dtype=np.float64),
    )
    how = "TreeExplainer (exact, tree_path_dependent)"
    background = "none: the trees' own training cover"
    if values.ndim == 3:  # one output per class (e.g. forests explain probabilities)
        k = _positive_column(estimator, Z, p_pos)
        values, base = values[..., k], base.reshape(len(Z), -1)[:, k]
        output = base + values.sum(axis=1)
        space = "probability" if np.allclose(output, p_pos, atol=1e-6) else "margin"
        return TabularShap(how, space, background, values, base, output if space == "margin" else p_pos)
    output = np.asarray(estimator.decision_function(Z), dtype=np.float64).reshape(-1)
    values, base, output, space = _orient(values, base.reshape(-1) * np.ones(len(Z)), output, p_pos)
    return TabularShap(how, space, background, values, base, output)


def _linear(estimator: Any, Ztr: np.ndarray, Z: np.ndarray, p_pos: np.ndarray) -> TabularShap:
    import shap

    Ztr = np.asarray(Ztr, dtype=np.float64)
    mean = Ztr.mean(axis=0)
    # (mean, cov) rather than the data: shap would otherwise subsample 100 rows for the mean
    explainer = shap.LinearExplainer(estimator, (mean, np.cov(Ztr, rowvar=False)))
    explanation = explainer(np.asarray(Z, dtype=np.float64))
    values, base = (
        np.asarray(explanation.values, dtype=np.float64),
        np.asarray(explanation.base_values, dtype=np.float64),
    )
    if values.ndim == 3:
        raise ValueError("multi-output linear models are not supported")
    output = np.asarray(estimator.decision_function(Z), dtype=np.float64).reshape(-1)
    values, base, output, space = _orient(values, base.reshape(-1) * np.ones(len(Z)), output, p_pos)
    return TabularShap(
        "LinearExplainer (interventional)",
        space,
        f"mean of all {len(Ztr)} encoded background rows",
        values,
        base,
        output,
    )


def _sample(n: int, size: int, rng: np.random.Generator) -> np.ndarray:
    return np.sort(rng.choice(n, size=min(size, n), replace=False))


def _deep(
    module: Any,
    Ztr: np.ndarray,
    Z: np.ndarray,
    p_pos: np.ndarray,
    background_size: int,
    rng: np.random.Generator,
    seed: int,
) -> TabularShap:
    """DeepExplainer's attributions (DeepLIFT rescale against each background row, averaged).

    A ``Sequential`` of ``Linear`` layers and elementwise activations (the recipes' MLPs) is
    explained by :func:`deeplift_rescale`: every explained row against every background row in a
    few batched matrix products, in float64. shap's ``DeepExplainer`` runs one forward and
    backward pass per explained row (300 rows: 300 passes); it remains the path for any other
    module. Both apply the same rule, so the values agree to float32 rounding (about 1e-7).
    """
    dtype = next(module.parameters()).dtype
    rows = _sample(len(Ztr), background_size, rng)
    background = np.asarray(Ztr)[rows]
    layers = _sequential_layers(module)
    if layers is not None:
        values, base, output = deeplift_rescale(layers, np.asarray(Z), background)
        how = "DeepExplainer rule (DeepLIFT rescale, all rows batched in float64)"
    else:
        values, base, output = _shap_deep(module, np.asarray(Z), background, dtype, seed)
        how = "DeepExplainer (DeepLIFT rescale)"
    values, base, output, space = _orient(values, base, output, p_pos)
    return TabularShap(how, space, f"seeded sample of {len(rows)} encoded background rows", values, base, output)


def _shap_deep(
    module: Any, Z: np.ndarray, background: np.ndarray, dtype: Any, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """shap's DeepExplainer (one pass per row) for modules ``deeplift_rescale`` does not cover."""
    import copy

    import shap
    import torch

    module = copy.deepcopy(module).eval()  # DeepExplainer hooks the module; keep the adapter's clean
    x = torch.as_tensor(Z, dtype=dtype)
    with torch.no_grad():
        output = module(x).detach().double().numpy().reshape(len(Z), -1)
    if output.shape[1] != 1:
        raise ValueError(f"the module gives {output.shape[1]} outputs per row; DeepExplainer here expects one logit")
    with torch_global_seed(seed):
        explainer = shap.DeepExplainer(module, torch.as_tensor(background, dtype=dtype))
        values = np.asarray(explainer.shap_values(x, check_additivity=False), dtype=np.float64).reshape(len(Z), -1)
    base = np.full(len(Z), float(np.ravel(explainer.expected_value)[0]))
    return values, base, output[:, 0]


# elementwise activations: name -> (f, f') on float64 arrays; f'(0) follows torch's autograd
_ACTIVATIONS: dict[str, tuple[Callable[[np.ndarray], np.ndarray], Callable[[np.ndarray], np.ndarray]]] = {
    "ReLU": (lambda z: np.maximum(z, 0.0), lambda z: (z > 0).astype(np.float64)),
    "Sigmoid": (
        lambda z: 1.0 / (1.0 + np.exp(-z)),
        lambda z: (1.0 / (1.0 + np.exp(-z))) * (1.0 - 1.0 / (1.0 + np.exp(-z))),
    ),
    "Tanh": (np.tanh, lambda z: 1.0 - np.tanh(z) ** 2),
}
_PASSTHROUGH = frozenset({"Dropout", "Identity", "Flatten"})  # eval mode: the identity on (n, d) rows
TINY_DELTA = 1e-6  # shap's DeepExplainer: below this input difference a unit uses its plain gradient
PAIR_BLOCK = 1 << 21  # (row, background row, unit) entries held at once by deeplift_rescale


def _sequential_layers(module: Any) -> list[tuple[str, Any]] | None:
    """The module as [("linear", (W, b)) | ("act", name)] in float64, or None when it is not a
    ``Sequential`` of ``Linear`` layers and the elementwise activations above ending in one output."""
    import torch.nn as nn

    if not isinstance(module, nn.Sequential):
        return None
    layers: list[tuple[str, Any]] = []
    for child in module:
        name = type(child).__name__
        if isinstance(child, nn.Linear) and type(child) is nn.Linear:
            W = child.weight.detach().double().cpu().numpy()
            b = child.bias.detach().double().cpu().numpy() if child.bias is not None else np.zeros(W.shape[0])
            layers.append(("linear", (W, b)))
        elif name in _ACTIVATIONS and type(child).__module__.startswith("torch.nn"):
            layers.append(("act", name))
        elif name in _PASSTHROUGH and type(child).__module__.startswith("torch.nn"):
            continue
        else:
            return None
    linears = [spec for kind, spec in layers if kind == "linear"]
    if not linears or linears[-1][0].shape[0] != 1:
        return None
    return layers


def _forward(layers: list[tuple[str, Any]], X: np.ndarray) -> list[np.ndarray]:
    """Every activation's input (pre-activation) for the rows of X, then the output as the last entry."""
    pre: list[np.ndarray] = []
    h = X
    for kind, spec in layers:
        if kind == "linear":
            W, b = spec
            h = h @ W.T + b
        else:
            pre.append(h)
            h = _ACTIVATIONS[spec][0](h)
    return [*pre, h]


def deeplift_rescale(
    layers: list[tuple[str, Any]], Z: np.ndarray, background: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(values (n, d), base values (n,), output (n,)) of DeepLIFT rescale, averaged over the background.

    For explained row x and background row r, each activation's multiplier is
    ``(f(z_x) - f(z_r)) / (z_x - z_r)``, or ``f'(z_r)`` where ``|z_x - z_r| < 1e-6`` (shap's rule:
    its DeepExplainer keeps the background half's plain gradient there); linear layers pass the
    multipliers through their weights. ``values[x] = mean_r(m(x, r) * (x - r))``; the base value
    is the mean output over the background. Row x's values depend on x and the background only,
    whatever other rows are explained with it (float64, blocks of rows).
    """
    Z = np.asarray(Z, dtype=np.float64)
    B = np.asarray(background, dtype=np.float64)
    n, d = Z.shape
    m = len(B)
    acts_x, acts_b = _forward(layers, Z), _forward(layers, B)
    output, reference = acts_x[-1].reshape(n), acts_b[-1].reshape(m)
    widest = max([d] + [a.shape[1] for a in acts_b])
    block = max(1, PAIR_BLOCK // max(m * widest, 1))
    values = np.empty((n, d))
    for lo in range(0, n, block):
        hi = min(n, lo + block)
        g = np.ones((hi - lo, m, 1))  # d output / d unit, per (row, background row)
        k = len(acts_b) - 2  # index of the last activation's input
        for kind, spec in reversed(layers):
            if kind == "linear":
                g = g @ spec[0]
            else:
                f, df = _ACTIVATIONS[spec]
                zx, zr = acts_x[k][lo:hi, None, :], acts_b[k][None, :, :]
                delta = zx - zr
                tiny = np.abs(delta) < TINY_DELTA
                slope = np.where(tiny, 0.0, (f(zx) - f(zr)) / np.where(tiny, 1.0, delta))
                g = g * np.where(tiny, df(zr), slope)
                k -= 1
        values[lo:hi] = np.einsum("nmd,nmd->nd", g, Z[lo:hi, None, :] - B[None, :, :]) / m
    return values, np.full(n, float(reference.mean())), output


def _row_seeds(seed: int, X: Any) -> np.ndarray:
    """One 32-bit seed per row, from ``seed`` and the row's own raw values (not its position)."""
    if isinstance(X, pd.DataFrame):
        digests = pd.util.hash_pandas_object(X.reset_index(drop=True), index=False).to_numpy(dtype=np.uint64)
    else:
        M = np.ascontiguousarray(np.asarray(X, dtype=np.float64))
        digests = np.array(
            [int.from_bytes(hashlib.sha256(r.tobytes()).digest()[:8], "little") for r in M], dtype=np.uint64
        )
    return np.array([np.random.SeedSequence([seed, int(d)]).generate_state(1)[0] for d in digests], dtype=np.uint32)


def _permutation(
    f: Callable[[np.ndarray], np.ndarray],
    Ztr: np.ndarray,
    Z: np.ndarray,
    columns: list[str],
    sources: dict[str, str],
    budget: _Budget,
    rng: np.random.Generator,
    row_seeds: np.ndarray,
    features: list[str] | None = None,
    where: str = "encoded",
) -> TabularShap:
    """Permutation SHAP over the encoded matrix, each original feature's columns one player.

    ``features``: the players, in order (default: the features the columns come from).
    """
    from audit.explain.features import feature_order
    from audit.explain.permutation import permutation_shap

    Ztr, Z = np.asarray(Ztr, dtype=np.float64), np.asarray(Z, dtype=np.float64)
    rows = _sample(len(Ztr), budget.background_size, rng)
    features = feature_order(columns, sources) if features is None else features
    players = [[j for j, c in enumerate(columns) if sources.get(c, c) == feature] for feature in features]
    found = permutation_shap(
        f,
        Ztr[rows],
        Z,
        row_seeds=row_seeds,
        permutations=budget.permutations,
        players=players,
        progress=budget.progress,
    )
    return _permutation_result(found, where, len(rows), features, Z.shape[1])


def _permutation_result(found: Any, where: str, n_background: int, features: list[str], n_columns: int) -> TabularShap:
    result = TabularShap(
        f"PermutationExplainer ({where} features)",
        "probability",
        f"seeded sample of {n_background} {where} background rows",
        found.values,
        found.base_values,
        found.output,
        columns=list(features),
        sources={f: f for f in features},
        permutations=found.permutations,
    )
    result.notes.append(
        f"permutation SHAP: {found.permutations} antithetic feature orders per row, each of the "
        f"{len(features)} original features one player ({n_columns} columns), "
        f"{found.evaluations} model evaluations; additivity is exact, the values are estimates"
    )
    return result


def _raw_permutation(
    model: Any, train_X: Any, X: Any, budget: _Budget, rng: np.random.Generator, seed: int
) -> TabularShap:
    """Permutation SHAP over the raw rows: each column one player, the model re-encodes them."""
    from audit.explain.permutation import permutation_shap

    train_X, X = pd.DataFrame(train_X), pd.DataFrame(X)
    rows = _sample(len(train_X), budget.background_size, rng)
    background = train_X.iloc[rows].reset_index(drop=True)
    found = permutation_shap(
        lambda frame: np.asarray(model.predict_proba(frame), dtype=np.float64)[:, -1],
        background,
        X.reset_index(drop=True),
        row_seeds=_row_seeds(seed, X),
        permutations=budget.permutations,
        progress=budget.progress,
    )
    columns = [str(c) for c in X.columns]
    return _permutation_result(found, "raw", len(rows), columns, len(columns))
