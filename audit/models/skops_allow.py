"""The explicit allow-list for skops files: what a model file may construct without ``trust: true``.

A skops file is a zip whose ``schema.json`` names, for every object it will build, the node kind
that builds it (``__loader__``) and its type (``__module__`` + ``__class__``). This module reads
that schema as plain JSON, so nothing from the file is imported, constructed or called, and
accepts it only when every node is one of:

- containers and JSON primitives (dict, list, tuple, set, slice, str, int, float, bool, None);
- NumPy arrays, dtypes, scalar types and random states; SciPy sparse matrices;
- scikit-learn estimator classes (subclasses of ``sklearn.base.BaseEstimator`` defined in a
  scikit-learn module, tests excluded) and the fitted helper classes listed in
  ``SKLEARN_HELPERS`` (trees, losses, links, distance metrics, neighbour trees, optimisers).

Function objects are never allowed: ``FunctionNode``, ``MethodNode``, ``PartialNode``,
``OperatorFuncNode`` (builtins such as ``exec``/``eval``/``getattr``, ``operator.*``,
``functools.partial``, NumPy functions and ufuncs), nor ``ConstructorFromReduceNode`` and
``DefaultDictNode`` (both call something stored in the file). skops itself trusts NumPy ufuncs
by default; this list does not. A type used as a value (``TypeNode``, e.g. ``dtype=np.float64``)
must be a NumPy scalar type or a builtin primitive, because a type is a callable.
"""

from __future__ import annotations

import importlib
import json
import re
import zipfile
from pathlib import Path
from typing import Any

BUILTIN_PRIMITIVES = frozenset({"builtins.str", "builtins.int", "builtins.float", "builtins.bool", "builtins.NoneType", "builtins.complex"})
BUILTIN_TYPES = BUILTIN_PRIMITIVES | {"builtins.object"}  # as values, e.g. dtype=object
NUMPY_SCALARS = frozenset(
    f"numpy.{t}"
    for t in (
        "bool", "bool_", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
        "float16", "float32", "float64", "longdouble", "complex64", "complex128", "clongdouble",
        "str_", "bytes_", "object_", "intc", "uintc", "longlong", "ulonglong", "datetime64", "timedelta64",
    )
)  # fmt: skip
SCIPY_SPARSE = frozenset(
    f"scipy.sparse._{fmt}.{fmt}_{kind}"
    for fmt in ("csr", "csc", "coo", "bsr", "dia", "lil", "dok")
    for kind in ("matrix", "array")
)
SKLEARN_HELPERS = frozenset({
    "sklearn.tree._tree.Tree",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "sklearn.neighbors._kd_tree.KDTree",
    "sklearn.neighbors._ball_tree.BallTree",
    "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
    "sklearn.neural_network._stochastic_optimizers.SGDOptimizer",
    "sklearn.utils._bunch.Bunch",
    *(f"sklearn._loss.link.{c}" for c in ("HalfLogitLink", "IdentityLink", "Interval", "LogitLink", "LogLink", "MultinomialLogit")),
    *(
        f"sklearn._loss.loss.{c}"
        for c in (
            "AbsoluteError", "ExponentialLoss", "HalfBinomialLoss", "HalfGammaLoss", "HalfMultinomialLoss",
            "HalfPoissonLoss", "HalfSquaredError", "HalfTweedieLoss", "HalfTweedieLossIdentity", "HuberLoss", "PinballLoss",
        )
    ),
    *(
        f"sklearn.metrics._dist_metrics.{c}{bits}"
        for c in (
            "EuclideanDistance", "SEuclideanDistance", "ManhattanDistance", "ChebyshevDistance", "MinkowskiDistance",
            "MahalanobisDistance", "HammingDistance", "CanberraDistance", "BrayCurtisDistance", "JaccardDistance",
            "MatchingDistance", "DiceDistance", "KulsinskiDistance", "RogersTanimotoDistance", "RussellRaoDistance",
            "SokalMichenerDistance", "SokalSneathDistance", "HaversineDistance",
        )
        for bits in ("64", "32")
    ),
})  # fmt: skip

# node kind -> the exact type names it may build (None: decided by _allowed_object)
ALLOWED_NODES: dict[str, frozenset[str] | None] = {
    "DictNode": frozenset({"builtins.dict", "collections.OrderedDict", "sklearn.utils._bunch.Bunch"}),
    "ListNode": frozenset({"builtins.list"}),
    "TupleNode": frozenset({"builtins.tuple"}),
    "SetNode": frozenset({"builtins.set", "builtins.frozenset"}),
    "SliceNode": frozenset({"builtins.slice"}),
    "JsonNode": BUILTIN_PRIMITIVES,
    "BytesNode": frozenset({"builtins.bytes"}),
    "BytearrayNode": frozenset({"builtins.bytearray"}),
    "NdArrayNode": frozenset({"numpy.ndarray"}) | NUMPY_SCALARS,
    "MaskedArrayNode": frozenset({"numpy.ma.core.MaskedArray"}),
    "DTypeNode": frozenset({"numpy.dtype"}),
    "TypeNode": BUILTIN_TYPES | NUMPY_SCALARS,
    "RandomStateNode": frozenset({"numpy.random.mtrand.RandomState"}),
    "RandomGeneratorNode": frozenset({"numpy.random._generator.Generator"}),
    "SparseMatrixNode": SCIPY_SPARSE,
    "TreeNode": frozenset({"sklearn.tree._tree.Tree"}),
    "LossNode": frozenset(
        f"sklearn._loss._loss.Cy{c}"
        for c in (
            "HalfSquaredError", "AbsoluteError", "PinballLoss", "HuberLoss", "HalfPoissonLoss", "HalfGammaLoss",
            "HalfTweedieLoss", "HalfTweedieLossIdentity", "HalfBinomialLoss", "ExponentialLoss", "HalfMultinomialLoss",
        )
    ),  # fmt: skip
    "ObjectNode": None,
}
CALLABLE_NODES = frozenset({"FunctionNode", "MethodNode", "PartialNode", "OperatorFuncNode", "ConstructorFromReduceNode", "DefaultDictNode"})
_MODULE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class SchemaError(ValueError):
    """The file is not a readable skops archive."""


def schema_nodes(path: Path) -> list[tuple[str, str]]:
    """Every (node kind, type name) the file's schema would build, read without constructing."""
    try:
        with zipfile.ZipFile(path) as archive:
            schema = json.loads(archive.read("schema.json"))
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError, UnicodeDecodeError, OSError, RecursionError) as exc:
        raise SchemaError(f"{exc.__class__.__name__}: {exc}") from None
    found: list[tuple[str, str]] = []
    stack: list[Any] = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if "__loader__" in node or "__class__" in node or "__module__" in node:
                found.append((str(node.get("__loader__")), f"{node.get('__module__')}.{node.get('__class__')}"))
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


def refused_types(path: Path) -> list[str]:
    """Sorted ``type (node kind)`` descriptions the allow-list refuses; empty when the file passes."""
    refused: set[str] = set()
    verdicts: dict[tuple[str, str], bool] = {}
    for loader, name in schema_nodes(path):
        key = (loader, name)
        if key not in verdicts:
            verdicts[key] = _allowed(loader, name)
        if not verdicts[key]:
            what = "a callable" if loader in CALLABLE_NODES or loader == "TypeNode" else loader
            refused.add(f"{name} ({what})")
    return sorted(refused)


def _allowed(loader: str, name: str) -> bool:
    if loader in CALLABLE_NODES or loader not in ALLOWED_NODES:
        return False
    exact = ALLOWED_NODES[loader]
    if exact is not None:
        return name in exact
    return name in SKLEARN_HELPERS or _is_sklearn_estimator(name)


def _is_sklearn_estimator(name: str) -> bool:
    """True for a class defined in a scikit-learn module that subclasses ``BaseEstimator``.

    Only a well-formed ``sklearn.*`` module path is ever imported (scikit-learn's own code),
    and the class must be defined there, so a name cannot alias anything else.
    """
    module, _, cls = name.rpartition(".")
    parts = module.split(".")
    if parts[0] != "sklearn" or not _MODULE.match(module) or not _IDENT.match(cls):
        return False
    if any(p in ("tests", "_testing", "_mocking") for p in parts):
        return False
    try:
        from sklearn.base import BaseEstimator

        target = getattr(importlib.import_module(module), cls, None)
    except Exception:  # noqa: BLE001 - any failure means "not an estimator we know"
        return False
    return isinstance(target, type) and target.__module__ == module and issubclass(target, BaseEstimator)
