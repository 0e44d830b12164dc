"""Checkpoints of an unfinished run, so an interrupted run can be resumed.

A run works in a hidden partial folder (``.<run_id>.partial``). Before its first check it writes
``run_state.json`` (what the run is: suite, data and model hashes, seed); after each finished
check it writes ``checkpoints/<step>__<model>__<check>.json`` (the check record and its
metrics). Every file is written atomically (temporary file, fsync, rename), so a process killed
at any instant leaves files that are either complete or absent, never truncated.

``audit run --resume PARTIAL`` reads the state, refuses to continue when the suite, data, models
or seed differ, and re-runs only the checks without a checkpoint. A lock (``flock``, released by
the kernel even on SIGKILL) stops two processes from working on the same partial folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

from audit.errors import ConfigError
from audit.results import CheckRecord, Metric, _clean, atomic_write_text

STATE_FILE = "run_state.json"
CHECKPOINT_DIR = "checkpoints"
LOCK_FILE = ".lock"
STATE_VERSION = 1
IDENTITY_KEYS = ("suite_sha256", "data_sha256", "seed", "models")


def suite_sha256(suite: Any) -> str:
    """Hash of the suite file's bytes (or of the parsed suite when it has no file)."""
    data = suite.source.read_bytes() if suite.source else suite.model_dump_json().encode()
    return hashlib.sha256(data).hexdigest()


def step_key(step: int, who: str, check: str) -> str:
    """File-safe, order-preserving name of one planned (model, check) step."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", f"{who}__{check}")
    return f"{step:03d}__{safe}"


class RunLock:
    """An exclusive ``flock`` on the partial folder; the kernel drops it when the process dies."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> None:
        try:
            import fcntl
        except ImportError:  # not POSIX: no locking, resumes must not overlap
            return
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise ConfigError(
                f"{self.path.parent}: another audit process is working on this run right now; "
                "wait for it to finish (or stop it) before resuming"
            ) from None
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def write_state(folder: Path, state: dict[str, Any]) -> None:
    payload = {"state_version": STATE_VERSION, **state}
    atomic_write_text(folder / STATE_FILE, json.dumps(payload, indent=1, sort_keys=True) + "\n")


def read_state(folder: Path) -> dict[str, Any]:
    """The state of a resumable partial run folder; a ConfigError says why it is not one."""
    if not folder.is_dir():
        raise ConfigError(f"--resume {folder}: no such run folder")
    path = folder / STATE_FILE
    if not path.is_file():
        if (folder / "results.json").is_file() and not folder.name.endswith(".partial"):
            raise ConfigError(
                f"--resume {folder}: this run is already complete (it has results.json); nothing to resume"
            )
        raise ConfigError(
            f"--resume {folder}: not a resumable run folder (no {STATE_FILE}); resume takes the hidden "
            "'.<run id>.partial' folder an interrupted run leaves next to the finished runs. "
            "A run stopped before its first check cannot be resumed: run the suite again"
        )
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"--resume {folder}: {STATE_FILE} is unreadable ({exc})") from None
    missing = [k for k in ("run_id", *IDENTITY_KEYS) if k not in state]
    if not isinstance(state, dict) or state.get("state_version") != STATE_VERSION or missing:
        raise ConfigError(f"--resume {folder}: {STATE_FILE} was written by an incompatible audit version")
    return state


def verify_identity(state: dict[str, Any], current: dict[str, Any], folder: Path) -> None:
    """Refuse to resume when the suite, data, models or seed are not those of the stopped run."""
    labels = {"suite_sha256": "the suite file", "data_sha256": "the data", "seed": "the seed", "models": "the models"}
    for key in IDENTITY_KEYS:
        if state[key] != current[key]:
            before, now = state[key], current[key]
            if key == "models":
                changed = sorted(k for k in set(before) | set(now) if before.get(k) != now.get(k))
                detail = f"model(s) {', '.join(changed)} differ (recipe, parameters or model file changed)"
            elif key == "seed":
                detail = f"it ran with seed {before}, this resume would use seed {now}"
            else:
                detail = f"sha256 {str(before)[:12]}... then, {str(now)[:12]}... now"
            raise ConfigError(
                f"--resume {folder}: {labels[key]} changed since the run was interrupted ({detail}); "
                "a resumed run must see the same suite, data, models and seed. Start a new run instead"
            )


def save_checkpoint(folder: Path, key: str, record: CheckRecord, metrics: list[Metric]) -> None:
    payload = {
        "key": key,
        "record": record.model_dump(mode="json"),
        "metrics": [m.model_dump(mode="json") for m in metrics],
    }
    text = json.dumps(_clean(payload), allow_nan=False) + "\n"
    atomic_write_text(folder / CHECKPOINT_DIR / f"{key}.json", text)


def load_checkpoints(folder: Path, log: Any = None) -> dict[str, tuple[CheckRecord, list[Metric]]]:
    """Finished steps by key. An unreadable checkpoint is dropped (its check simply runs again)."""
    done: dict[str, tuple[CheckRecord, list[Metric]]] = {}
    for path in sorted((folder / CHECKPOINT_DIR).glob("[!.]*.json")):
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            record = CheckRecord.model_validate(raw["record"])
            metrics = [Metric.model_validate(m) for m in raw["metrics"]]
            if raw["key"] != path.stem:
                raise ValueError("key does not match the file name")
        except Exception as exc:  # a damaged file costs a re-run, never the resume
            if log:
                log(f"  resume: ignoring damaged checkpoint {path.name} ({exc.__class__.__name__})")
            continue
        done[path.stem] = (record, metrics)
    return done


def cleanup(folder: Path) -> None:
    """Remove resume bookkeeping from a finished run folder (best effort)."""
    import shutil

    shutil.rmtree(folder / CHECKPOINT_DIR, ignore_errors=True)
    for name in (STATE_FILE, LOCK_FILE):
        (folder / name).unlink(missing_ok=True)
