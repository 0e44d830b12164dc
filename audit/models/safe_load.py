"""Loading model files without blind unpickling.

skops files are inspected first, by reading their schema as plain JSON: every object they would
construct must be on the explicit allow-list of ``audit.models.skops_allow`` (containers, NumPy and
SciPy arrays, scikit-learn estimators and their fitted helpers; never a function, method, partial
or builtin), or the suite must say ``trust: true`` for that file. Nothing from the file is
imported, built or called before it passes. safetensors files hold tensors only; ONNX files are
graphs that onnxruntime interprets (``audit.models.onnx_model``), never Python code.
pickle and joblib run arbitrary code when loaded, so they are refused unless the suite says
``trust: true`` for that file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from audit.errors import ModelError

SUFFIX_FORMATS = {".skops": "skops", ".onnx": "onnx", ".safetensors": "safetensors", ".pkl": "pickle", ".pickle": "pickle", ".joblib": "joblib"}


def detect_format(path: Path, declared: str | None, key: str) -> str:
    fmt = declared or SUFFIX_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ModelError(
            f"{key}: cannot tell the format of '{path.name}' from its suffix; "
            "set load.format to skops, onnx, safetensors, pickle or joblib"
        )
    return fmt


def load_skops(path: Path, *, trust: bool = False, key: str = "load.path") -> Any:
    from audit.models.skops_allow import SchemaError, refused_types

    if not path.is_file():
        raise ModelError(f"{key}: model file '{path}' not found")
    try:
        refused = refused_types(path)
    except SchemaError as exc:
        raise ModelError(f"{key}: '{path}' is not a valid skops file ({exc})") from None
    if refused and not trust:
        shown = ", ".join(refused[:12]) + (f" and {len(refused) - 12} more" if len(refused) > 12 else "")
        raise ModelError(
            f"{key}: '{path}' would construct objects outside the allow-list "
            f"(scikit-learn estimators, NumPy/SciPy arrays, plain containers; no functions): {shown}. "
            "Nothing was loaded; review them and set load.trust: true to accept"
        )
    import skops.io as sio

    try:
        untrusted = sio.get_untrusted_types(file=str(path))
        return sio.load(str(path), trusted=untrusted)
    except Exception as exc:
        raise ModelError(f"{key}: cannot load '{path}' ({exc.__class__.__name__}: {exc})") from None


def dump_skops(obj: Any, path: Path) -> None:
    import skops.io as sio

    sio.dump(obj, str(path))


def load_safetensors(path: Path, key: str = "load.path") -> dict[str, Any]:
    from safetensors.torch import load_file

    if not path.is_file():
        raise ModelError(f"{key}: model file '{path}' not found")
    try:
        return load_file(str(path))
    except Exception as exc:
        raise ModelError(f"{key}: '{path}' is not a valid safetensors file ({exc.__class__.__name__}: {exc})") from None


def load_pickle_like(path: Path, fmt: str, *, trust: bool, key: str = "load.path") -> Any:
    if not trust:
        raise ModelError(
            f"{key}: refusing to load '{path.name}' as {fmt}: unpickling can run arbitrary code. "
            "Save the model with skops (or safetensors for torch), or set load.trust: true "
            "if you trust where this file came from"
        )
    if not path.is_file():
        raise ModelError(f"{key}: model file '{path}' not found")
    try:
        if fmt == "joblib":
            import joblib

            return joblib.load(path)
        import pickle

        with path.open("rb") as handle:
            return pickle.load(handle)  # noqa: S301 - the suite explicitly trusts this file
    except Exception as exc:
        raise ModelError(f"{key}: cannot load '{path}' as {fmt} ({exc.__class__.__name__}: {exc})") from None
