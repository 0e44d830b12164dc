"""The artefact cache: trained models stored by content hash, sealed so they cannot be swapped.

An entry is a folder ``<recipe>-<key prefix>`` holding the recipe's files plus ``manifest.json``:
the full artefact key, the SHA-256 of every file, and an HMAC-SHA256 of all of that under a
per-user secret kept outside the cache (``audit.paths.config_dir() / "cache.key"``, mode 0600,
created on first use; ``AUDIT_CACHE_KEY`` supplies one instead, e.g. a CI secret shared by the
jobs that share a cache). Before a cached entry is loaded, the folder, the manifest's seal and
every file hash are verified: an entry that was edited, replaced, planted without the key,
holds a symlink or an extra file, or was sealed under another key is refused with a
"cache altered" error and never loaded. The files are then read through the same explicit
allow-list as a user's model file.

Entries are written to a temporary folder and renamed into place, so a killed run never
leaves a half-written entry.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import shutil
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from audit.errors import ModelError
from audit.paths import cache_dir, config_dir

MANIFEST = "manifest.json"
FORMAT = 1
T = TypeVar("T")


def cache_root() -> Path:
    return cache_dir() / "models"


def entry_folder(recipe: str, key: str) -> Path:
    return cache_root() / f"{recipe}-{key[:20]}"


def _secret() -> bytes:
    """The per-user sealing key: AUDIT_CACHE_KEY, else a random key in the config folder."""
    env = os.environ.get("AUDIT_CACHE_KEY", "")
    if env:
        return env.encode()
    path = config_dir() / "cache.key"
    try:
        return _read_key(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    except FileExistsError:  # another process created it first
        return _read_key(path)
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_hex(32) + "\n")
    return _read_key(path)


def _read_key(path: Path) -> bytes:
    info = os.lstat(path)
    if not stat.S_ISREG(info.st_mode):
        raise ModelError(f"cache key '{path}' is not a regular file; remove it to create a new key")
    if info.st_mode & 0o022:
        raise ModelError(f"cache key '{path}' is writable by other users; make it private (chmod 600) or remove it")
    key = path.read_text().strip().encode()
    if len(key) < 32:
        raise ModelError(f"cache key '{path}' is too short; remove it to create a new key")
    return key


def _file_hashes(folder: Path) -> dict[str, str]:
    """SHA-256 of every regular file under ``folder`` except the manifest; refuses links."""
    hashes: dict[str, str] = {}
    for current, dirs, files in os.walk(folder, followlinks=False):
        for name in (*dirs, *files):
            path = Path(current) / name
            if not stat.S_ISDIR(os.lstat(path).st_mode) and not stat.S_ISREG(os.lstat(path).st_mode):
                raise _Altered(f"'{path.relative_to(folder).as_posix()}' is not a regular file")
        for name in files:
            path = Path(current) / name
            rel = path.relative_to(folder).as_posix()
            if rel == MANIFEST:
                continue
            digest = hashlib.sha256()
            with path.open("rb") as handle:
                for block in iter(lambda h=handle: h.read(1 << 20), b""):
                    digest.update(block)
            hashes[rel] = digest.hexdigest()
    return hashes


def _seal(body: dict) -> str:
    payload = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    return hmac.new(_secret(), payload, hashlib.sha256).hexdigest()


class _Altered(Exception):
    pass


def seal(folder: Path, key: str, recipe: str) -> None:
    """Write the manifest of a freshly saved entry."""
    body = {"format": FORMAT, "key": key, "recipe": recipe, "files": _file_hashes(folder)}
    (folder / MANIFEST).write_text(json.dumps({**body, "hmac": _seal(body)}, indent=1, sort_keys=True))


def verify(folder: Path, key: str, recipe: str) -> None:
    """Raise ModelError ("cache altered") unless ``folder`` is the sealed entry for ``key``."""
    try:
        info = os.lstat(folder)
        if not stat.S_ISDIR(info.st_mode):
            raise _Altered("the entry is not a plain folder (a symlink or a file)")
        manifest = folder / MANIFEST
        if not manifest.exists() or not stat.S_ISREG(os.lstat(manifest).st_mode):
            raise _Altered(f"it has no {MANIFEST} seal (written by another tool or an older audit, or planted)")
        try:
            stored = json.loads(manifest.read_text())
            body = {k: stored[k] for k in ("format", "key", "recipe", "files")}
            mac = str(stored["hmac"])
        except (ValueError, KeyError, TypeError) as exc:
            raise _Altered(f"its {MANIFEST} is unreadable ({exc.__class__.__name__})") from None
        if not hmac.compare_digest(mac, _seal(body)):
            raise _Altered(f"its {MANIFEST} was not sealed with this user's cache key")
        if body["key"] != key or body["recipe"] != recipe:
            raise _Altered("it holds a different model than its name says")
        actual = _file_hashes(folder)
        if actual != body["files"]:
            changed = sorted(set(actual) ^ set(body["files"]) | {f for f in actual if body["files"].get(f) != actual[f]})
            raise _Altered(f"files differ from the sealed manifest: {', '.join(changed[:5])}")
    except _Altered as exc:
        raise ModelError(
            f"model cache altered: '{folder}' fails its integrity check ({exc}); it was not loaded. "
            f"Delete that folder to retrain, and find out who can write to {cache_root()}"
        ) from None


def load_entry(folder: Path, key: str, recipe: str, load: Callable[[Path], T]) -> T:
    """Verify the entry, then load it with ``load(folder)``."""
    verify(folder, key, recipe)
    return load(folder)


def store_entry(folder: Path, key: str, recipe: str, save: Callable[[Path], None]) -> None:
    """Save into a temporary folder, seal it, and rename it into place."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        save(tmp)
        seal(tmp, key, recipe)
        try:
            os.replace(tmp, folder)
        except OSError:  # another run stored the same key first: theirs is as good as ours
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
