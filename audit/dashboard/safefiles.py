"""The one way the dashboard opens a file of a run: a plain file inside the reports folder.

A reports folder may be shared, or written by jobs and people the viewer does not control, so
anything in it can be planted: a ``results.json`` that is a symlink to ``~/.ssh/id_rsa``, an
``artefacts`` folder linked to ``/etc``, a figure path such as ``../../x``. ``safe_run_file``
therefore accepts a path only when every component from the reports root down is a real folder
(no symlink, checked with ``lstat``), the last one is a regular file, and the resolved path is
still inside the resolved root. ``read_run_bytes`` also opens the file without following links
and checks it is the very file that was checked, so swapping a link in meanwhile does not help.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)  # not on Windows: the inode comparison still applies


class PathOutsideRoot(ValueError):
    """A path that would escape the reports folder (``..``, an absolute path, a symlink out)."""


def safe_path(root: Path, relative: str | os.PathLike[str] = "") -> Path:
    """``root / relative`` resolved; raises ``PathOutsideRoot`` unless it stays inside ``root``.

    A containment check only (links inside the root pass); use ``safe_run_file`` to read.
    """
    text = os.fspath(relative)
    if "\x00" in text:
        raise PathOutsideRoot("path contains a NUL character")
    if Path(text).is_absolute() or text.startswith(("\\", "~")):
        raise PathOutsideRoot(f"absolute path '{text}' is not allowed; paths are relative to the reports folder")
    base = Path(root).resolve()
    target = (base / text).resolve()
    if target != base and not target.is_relative_to(base):
        raise PathOutsideRoot(f"path '{text}' leads outside the reports folder")
    return target


def relative_parts(relative: str | os.PathLike[str]) -> tuple[str, ...]:
    """The components of a path relative to a run folder; refuses ``..``, absolute paths, NUL, ``\\``."""
    text = os.fspath(relative)
    if "\x00" in text:
        raise PathOutsideRoot("path contains a NUL character")
    if "\\" in text or text.startswith("~") or Path(text).is_absolute():
        raise PathOutsideRoot(f"path '{text}' is not a plain relative path inside the run folder")
    parts = tuple(p for p in text.split("/") if p not in ("", "."))
    if ".." in parts:
        raise PathOutsideRoot(f"path '{text}' leads outside the reports folder ('..' is not allowed)")
    return parts


def default_root(run_dir: Path) -> Path:
    """The reports root of ``<root>/<suite>/<run-id>`` (callers that know the root pass it)."""
    return Path(run_dir).parent.parent


def _run_parts(root: Path, run_dir: Path) -> tuple[str, ...]:
    """``run_dir`` as components below ``root`` (lexically, so a link in between is still seen)."""
    run_dir = Path(os.path.abspath(run_dir))
    for base in (Path(os.path.abspath(root)), Path(root).resolve()):
        if run_dir.is_relative_to(base):
            return relative_parts(run_dir.relative_to(base).as_posix())
    raise PathOutsideRoot(f"run folder '{run_dir}' is not inside the reports folder")


def _walk(
    root: Path, run_dir: Path, relative: str | os.PathLike[str], want_dir: bool
) -> tuple[Path, os.stat_result] | None:
    """lstat every component from the root down; None when something is absent, raises when unsafe."""
    base = Path(root).resolve()
    parts = _run_parts(root, run_dir) + relative_parts(relative)
    try:
        current, st = base, base.stat()
    except OSError:
        return None
    for i, part in enumerate(parts):
        current = current / part
        shown = "/".join(parts[: i + 1])
        try:
            st = current.lstat()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise PathOutsideRoot(f"'{shown}' cannot be checked ({exc.strerror})") from None
        if stat.S_ISLNK(st.st_mode):
            raise PathOutsideRoot(f"'{shown}' is a symbolic link; the dashboard does not follow links")
        if i < len(parts) - 1 or want_dir:
            if not stat.S_ISDIR(st.st_mode):
                raise PathOutsideRoot(f"'{shown}' is not a folder")
        elif not stat.S_ISREG(st.st_mode):
            raise PathOutsideRoot(f"'{shown}' is not a regular file")
    if not current.resolve().is_relative_to(base):  # belt and braces: no component was a link
        raise PathOutsideRoot(f"'{'/'.join(parts)}' leads outside the reports folder")
    return current, st


def safe_run_file(root: Path, run_dir: Path, relative: str | os.PathLike[str]) -> Path | None:
    """``run_dir/relative`` when it is a regular file reached without links; None when absent.

    Raises ``PathOutsideRoot`` for ``..``, absolute paths, links at any level, special files.
    """
    found = _walk(root, run_dir, relative, want_dir=False)
    return None if found is None else found[0]


def safe_run_dir(root: Path, run_dir: Path, relative: str | os.PathLike[str] = "") -> Path | None:
    """Like ``safe_run_file`` for a folder, whose whole tree must also hold no links or special files."""
    found = _walk(root, run_dir, relative, want_dir=True)
    if found is None:
        return None
    try:
        for folder, dirs, files in os.walk(found[0], followlinks=False):
            for name in dirs + files:
                mode = os.lstat(os.path.join(folder, name)).st_mode
                if not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
                    raise PathOutsideRoot(f"'{name}' in '{found[0]}' is a link or special file")
    except OSError as exc:
        raise PathOutsideRoot(f"'{found[0]}' cannot be checked ({exc.strerror})") from None
    return found[0]


def read_run_bytes(root: Path, run_dir: Path, relative: str | os.PathLike[str]) -> bytes | None:
    """The bytes of ``safe_run_file(...)``, opened without following links; None when absent."""
    found = _walk(root, run_dir, relative, want_dir=False)
    if found is None:
        return None
    path, checked = found
    try:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise PathOutsideRoot(f"'{relative}' cannot be opened safely ({exc.strerror})") from None
    with os.fdopen(fd, "rb") as handle:
        opened = os.fstat(handle.fileno())
        if not stat.S_ISREG(opened.st_mode) or (opened.st_dev, opened.st_ino) != (checked.st_dev, checked.st_ino):
            raise PathOutsideRoot(f"'{relative}' changed while it was being opened")
        return handle.read()


def run_relative(run_dir: Path, text: str) -> str | None:
    """``text`` as a path relative to ``run_dir`` when it names something inside it lexically, else None.

    Relative texts are taken as relative to the run folder; ``..`` never counts as inside.
    """
    path = Path(text)
    if not path.is_absolute():
        return text
    for base in (Path(os.path.abspath(run_dir)), Path(run_dir).resolve()):
        if path.is_relative_to(base):
            return path.relative_to(base).as_posix()
    return None
