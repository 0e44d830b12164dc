"""Loading model files without blind unpickling.

skops files are inspected first: every type they would construct must come from scikit-learn,
NumPy or SciPy (or be explicitly trusted by the suite). safetensors files hold tensors only.
pickle and joblib run arbitrary code when loaded, so they are refused unless the suite says
``trust: true`` for that file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from audit.errors import ModelError

SAFE_PREFIXES = ("sklearn.", "numpy.", "scipy.", "builtins.", "collections.")
SUFFIX_FORMATS = {".skops": "skops", ".safetensors": "safetensors", ".pkl": "pickle", ".pickle": "pickle", ".joblib": "joblib"}


def detect_format(path: Path, declared: str | None, key: str) -> str:
    fmt = declared or SUFFIX_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ModelError(
            f"{key}: cannot tell the format of '{path.name}' from its suffix; "
            "set load.format to skops, safetensors, pickle or joblib"
        )
    return fmt


def load_skops(path: Path, *, trust: bool = False, key: str = "load.path") -> Any:
    import skops.io as sio

    if not path.is_file():
        raise ModelError(f"{key}: model file '{path}' not found")
    try:
        untrusted = sio.get_untrusted_types(file=str(path))
    except Exception as exc:
        raise ModelError(f"{key}: '{path}' is not a valid skops file ({exc.__class__.__name__}: {exc})") from None
    risky = [t for t in untrusted if not t.startswith(SAFE_PREFIXES)]
    if risky and not trust:
        raise ModelError(
            f"{key}: '{path}' would construct types outside scikit-learn/NumPy/SciPy: "
            f"{', '.join(risky)}; review them and set load.trust: true to accept"
        )
    try:
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
