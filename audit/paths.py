"""Where audit keeps files outside the working tree: the artefact cache and the cache key.

The cache defaults to the user's cache directory (``$XDG_CACHE_HOME/audit``, else
``~/.cache/audit``), never the working directory, so a cloned repository cannot ship cache
entries that a run would pick up. ``AUDIT_CACHE_DIR`` moves it (e.g. a CI cache). The key that
seals cache entries lives in the user's config directory (``$XDG_CONFIG_HOME/audit``), apart
from the cache, so whoever can write the cache cannot forge an entry.
"""

from __future__ import annotations

import os
from pathlib import Path


def _xdg(variable: str, fallback: str) -> Path:
    value = os.environ.get(variable, "")
    path = Path(value).expanduser() if value else Path.home() / fallback
    return path if path.is_absolute() else Path.home() / fallback  # the XDG spec ignores relative values


def cache_dir() -> Path:
    """The audit cache folder (model artefacts, TextAttack's offline files)."""
    override = os.environ.get("AUDIT_CACHE_DIR", "")
    if override:
        return Path(override).expanduser()
    return _xdg("XDG_CACHE_HOME", ".cache") / "audit"


def config_dir() -> Path:
    """The audit config folder, holding the per-user cache key."""
    override = os.environ.get("AUDIT_CONFIG_DIR", "")
    if override:
        return Path(override).expanduser()
    return _xdg("XDG_CONFIG_HOME", ".config") / "audit"
