"""The toolkit's own artefact format for fitted scikit-learn objects: JSON plus one ``.npz``.

Only for the hash-addressed, HMAC-sealed cache entries the toolkit writes itself (the
``logistic_regression`` / ``hist_gradient_boosting`` pipelines and the MLPs' preprocessor).
Users' model files still go through skops and the allow-list (``audit.models.safe_load``).

Why: loading a skops file costs more than the model. The first ``import skops.io`` walks
scikit-learn's ``all_estimators()`` (hundreds of modules, and torch along the way), and every
load re-checks types; on a warm credit run that was the largest single cost of loading the
cached logistic regression. This format needs nothing but NumPy and the classes it names.

What it stores: an object's instance dictionary, recursively, as a JSON tree; NumPy arrays
(numeric and structured dtypes) go into the ``.npz`` and are referenced by name; object arrays
(category labels, column names) must hold JSON scalars and are stored inline. Loading builds
each object with ``cls.__new__(cls)`` and assigns its saved attributes; no constructor,
``__setstate__`` or ``__reduce__`` of the file is ever called, and nothing is unpickled
(``np.load(allow_pickle=False)``). A class is built only if it is in ``ALLOWED`` (the estimators
and helpers the toolkit's recipes fit), a type used as a value only if it is a NumPy scalar type.

The file records the scikit-learn and NumPy versions it was written with; a different
scikit-learn refuses to load it (fitted attributes are private and change between releases).
Recipes put the scikit-learn version in their cache ``version``, so an upgrade retrains rather
than failing.
"""

from __future__ import annotations

import importlib
import json
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

FORMAT = "audit-sklearn-state/1"

# (module, class) the loader may build with __new__ + attribute assignment
ALLOWED = frozenset({
    "sklearn.compose._column_transformer.ColumnTransformer",
    "sklearn.pipeline.Pipeline",
    "sklearn.impute._base.SimpleImputer",
    "sklearn.preprocessing._data.StandardScaler",
    "sklearn.preprocessing._encoders.OneHotEncoder",
    "sklearn.preprocessing._label.LabelEncoder",
    "sklearn.linear_model._logistic.LogisticRegression",
    "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingClassifier",
    "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn._loss.loss.HalfBinomialLoss",
    "sklearn._loss.link.LogitLink",
    "sklearn._loss.link.Interval",
    "sklearn.utils._bunch.Bunch",
})  # fmt: skip
# stateless Cython objects (their __reduce__ is ``(cls, ())``): rebuilt by calling the class
STATELESS = frozenset({"sklearn._loss._loss.CyHalfBinomialLoss"})


class UnsupportedObject(TypeError):
    """``dump`` met something this format does not store; the caller falls back to skops."""


def sklearn_version() -> str:
    """The installed scikit-learn's version, read from its metadata (no import of sklearn)."""
    return metadata.version("scikit-learn")


def _slotted(cls: type) -> bool:
    """True when a class in the MRO declares non-empty ``__slots__`` (state outside ``__dict__``)."""
    return any(c.__dict__.get("__slots__") not in (None, (), []) for c in cls.__mro__ if c is not object)


def _name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


class _Writer:
    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}

    def encode(self, obj: Any) -> Any:  # noqa: C901, PLR0911 - one branch per stored kind
        if obj is None or isinstance(obj, (bool, str)):
            return obj
        if isinstance(obj, (int, float)) and type(obj) in (int, float):
            return obj if not (isinstance(obj, float) and not np.isfinite(obj)) else {"float": repr(obj)}
        if isinstance(obj, np.ndarray):
            if obj.dtype.hasobject:
                items = obj.ravel().tolist()
                if not all(x is None or type(x) in (str, int, float, bool) for x in items):
                    raise UnsupportedObject("an object array holding something other than str / int / float / bool / None")
                return {"objarray": items, "shape": list(obj.shape)}
            key = f"a{len(self.arrays)}"
            self.arrays[key] = obj
            return {"array": key}
        if isinstance(obj, np.generic):
            return {"scalar": obj.dtype.str, "array": self.encode(np.asarray(obj).reshape(1))["array"]}
        if isinstance(obj, np.dtype):
            if obj.hasobject and obj != np.dtype(object):
                raise UnsupportedObject(f"dtype {obj}")
            return {"dtype": obj.str if obj != np.dtype(object) else "object"}
        if isinstance(obj, type):
            if issubclass(obj, np.generic) and obj is not np.object_:
                return {"type": np.dtype(obj).str}
            raise UnsupportedObject(f"the type {_name(obj)} as a value")
        if isinstance(obj, list):
            return {"list": [self.encode(x) for x in obj]}
        if isinstance(obj, tuple):
            return {"tuple": [self.encode(x) for x in obj]}
        if isinstance(obj, slice):
            return {"slice": [self.encode(obj.start), self.encode(obj.stop), self.encode(obj.step)]}
        name = _name(type(obj))
        if isinstance(obj, dict) and name in ("builtins.dict", "sklearn.utils._bunch.Bunch"):
            items = [[self.encode(k), self.encode(v)] for k, v in obj.items()]
            return {"dict": items} if name == "builtins.dict" else {"bunch": items}
        if isinstance(obj, np.random.Generator):
            state = obj.bit_generator.state
            if state.get("bit_generator") != "PCG64":
                raise UnsupportedObject(f"a {state.get('bit_generator')} generator")
            return {"pcg64": self.encode(state)}
        if name in STATELESS:
            return {"stateless": name}
        if name in ALLOWED and hasattr(obj, "__dict__") and not _slotted(type(obj)):
            return {"object": name, "state": {k: self.encode(v) for k, v in vars(obj).items()}}
        raise UnsupportedObject(f"{name} is not in the own-format allow-list")


def dump(obj: Any, folder: Path, stem: str) -> None:
    """Write ``obj`` as ``<stem>.json`` + ``<stem>.npz`` in ``folder``; UnsupportedObject if it cannot."""
    writer = _Writer()
    tree = writer.encode(obj)
    document = {
        "format": FORMAT,
        "sklearn": sklearn_version(),
        "numpy": np.__version__,
        "root": tree,
    }
    (folder / f"{stem}.json").write_text(json.dumps(document, separators=(",", ":")))
    with (folder / f"{stem}.npz").open("wb") as handle:
        np.savez(handle, **writer.arrays)


def exists(folder: Path, stem: str) -> bool:
    return (folder / f"{stem}.json").is_file() and (folder / f"{stem}.npz").is_file()


class FormatError(ValueError):
    """The files are not a readable own-format artefact, or name something not allowed."""


class _Reader:
    def __init__(self, arrays: Any) -> None:
        self.arrays = arrays
        self.classes: dict[str, type] = {}

    def _class(self, name: str, allowed: frozenset[str]) -> type:
        if name not in allowed:
            raise FormatError(f"'{name}' is not an allowed class")
        if name not in self.classes:
            module, _, qualname = name.rpartition(".")
            cls = getattr(importlib.import_module(module), qualname, None)
            if not isinstance(cls, type) or _name(cls) != name:
                raise FormatError(f"'{name}' does not name a class")
            self.classes[name] = cls
        return self.classes[name]

    def decode(self, node: Any) -> Any:  # noqa: C901, PLR0911
        if node is None or isinstance(node, (bool, str, int, float)):
            return node
        if not isinstance(node, dict) or len(node) == 0:
            raise FormatError("malformed node")
        if "float" in node:
            return float(node["float"])
        if "scalar" in node:
            return self._array(node["array"]).astype(np.dtype(node["scalar"]), copy=False)[0]
        if "array" in node:
            return self._array(node["array"])
        if "objarray" in node:
            items = node["objarray"]
            if not all(x is None or type(x) in (str, int, float, bool) for x in items):
                raise FormatError("an object array holds a non-scalar")
            out = np.empty(len(items), dtype=object)
            out[:] = items
            return out.reshape([int(s) for s in node["shape"]])
        if "dtype" in node:
            return np.dtype(object) if node["dtype"] == "object" else self._dtype(node["dtype"])
        if "type" in node:
            return self._dtype(node["type"]).type
        if "list" in node:
            return [self.decode(x) for x in node["list"]]
        if "tuple" in node:
            return tuple(self.decode(x) for x in node["tuple"])
        if "slice" in node:
            return slice(*(self.decode(x) for x in node["slice"]))
        if "dict" in node:
            return {self.decode(k): self.decode(v) for k, v in node["dict"]}
        if "bunch" in node:
            bunch = self._class("sklearn.utils._bunch.Bunch", ALLOWED)()
            bunch.update({self.decode(k): self.decode(v) for k, v in node["bunch"]})
            return bunch
        if "pcg64" in node:
            generator = np.random.Generator(np.random.PCG64())
            generator.bit_generator.state = self.decode(node["pcg64"])
            return generator
        if "stateless" in node:
            return self._class(node["stateless"], STATELESS)()
        if "object" in node:
            cls = self._class(node["object"], ALLOWED)
            obj = cls.__new__(cls)
            state = node.get("state")
            if not isinstance(state, dict):
                raise FormatError("malformed object state")
            for key, value in state.items():
                obj.__dict__[str(key)] = self.decode(value)
            return obj
        raise FormatError(f"unknown node kind {sorted(node)[:3]}")

    def _array(self, key: Any) -> np.ndarray:
        if not isinstance(key, str) or key not in self.arrays.files:
            raise FormatError(f"missing array {key!r}")
        return self.arrays[key]

    @staticmethod
    def _dtype(text: Any) -> np.dtype:
        dtype = np.dtype(str(text))
        if dtype.hasobject:
            raise FormatError("object dtypes are stored inline, not as types")
        return dtype


def load(folder: Path, stem: str) -> Any:
    """Rebuild the object ``dump`` wrote; FormatError if the files are malformed or from another
    scikit-learn, or name a class outside ``ALLOWED``."""
    try:
        document = json.loads((folder / f"{stem}.json").read_text())
    except (OSError, ValueError) as exc:
        raise FormatError(f"{stem}.json is unreadable ({exc.__class__.__name__})") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise FormatError(f"{stem}.json is not in the {FORMAT} format")
    if document.get("sklearn") != sklearn_version():
        raise FormatError(
            f"{stem} was written with scikit-learn {document.get('sklearn')}; this is {sklearn_version()}"
        )
    with np.load(folder / f"{stem}.npz", allow_pickle=False) as arrays:
        return _Reader(arrays).decode(document["root"])
