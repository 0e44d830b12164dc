"""Which files named by a run the what-if may load: inside the run's folder, or confirmed by the visitor.

``results.json`` is plain data that anyone able to write the reports folder can edit, and it
names absolute paths (``manifest.suite_file``, ``models.<name>.artefact``) that the what-if
hands to the suite and model loaders. Without a rule, a planted run could make the dashboard
load any model file on the machine (a ``trust: true`` suite even loads pickles). So a path is
used only when it is a plain file or folder inside the run's own folder (``safefiles`` rules),
or when the visitor ticked "I trust this file" for that exact path text. A suite file found in
the run folder is itself untrusted: the data and model files it names pass the same gate, and
a model it marks ``trust: true`` always needs the visitor's confirmation.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import TYPE_CHECKING

from audit.dashboard.safefiles import PathOutsideRoot, run_relative, safe_run_dir, safe_run_file

if TYPE_CHECKING:
    from audit.suite import Suite


class WhatIfUnavailable(Exception):
    """The what-if cannot run for this run/model; the message says why, for the visitor."""


class NeedsConfirmation(WhatIfUnavailable):
    """Files outside the run folder the what-if would load; each needs the visitor's confirmation."""

    def __init__(self, paths: list[tuple[str, str]]) -> None:
        self.paths = paths  # (what it is, the path text exactly as the run names it)
        listing = "; ".join(f"{what} {path}" for what, path in paths)
        super().__init__(
            f"it would load files that this run names outside its own folder ({listing}). "
            "results.json is plain data that anyone who can write to the reports folder can change, so the "
            "dashboard loads a suite or model from such a path only after you confirm that you trust that file. "
            "Tick the box for each file you recognise (e.g. your own suite file and model cache), "
            "or leave them unticked and use the explanations saved with the run"
        )


class PathGate:
    """Decides, path by path, whether the what-if may load a file the run names."""

    def __init__(self, root: Path, run_dir: Path, trusted: Collection[str] = ()) -> None:
        self.root, self.run_dir = Path(root), Path(run_dir)
        self.trusted = frozenset(trusted)
        self.pending: list[tuple[str, str]] = []

    def allow(self, text: str, what: str, *, folder: bool = False, always_ask: bool = False) -> Path | None:
        """The path to load, or None (kept in ``pending``) while it awaits confirmation.

        Raises ``WhatIfUnavailable`` for a path that is refused outright: ``..``, NUL, a link
        or special file inside the run folder, or a relative path that leaves it.
        """
        if "\x00" in text or ".." in Path(text).parts:
            raise WhatIfUnavailable(f"the {what} path in results.json ('{text}') is refused: it contains '..'")
        if self.is_confirmed(text):
            return Path(text)
        relative = None if always_ask else run_relative(self.run_dir, text)
        if relative is None:
            if not Path(text).is_absolute():
                raise WhatIfUnavailable(f"the {what} path in results.json ('{text}') is not an absolute path")
            self.pending.append((what, text))
            return None
        try:
            found = (safe_run_dir if folder else safe_run_file)(self.root, self.run_dir, relative)
        except PathOutsideRoot as exc:
            raise WhatIfUnavailable(f"the {what} path in results.json ('{text}') is refused: {exc}") from None
        if found is None:
            raise WhatIfUnavailable(f"the {what} '{text}' is not in the run folder")
        return found

    def is_confirmed(self, text: str) -> bool:
        """True when the visitor confirmed exactly this absolute path text."""
        return Path(text).is_absolute() and text in self.trusted

    def check(self) -> None:
        """Raise ``NeedsConfirmation`` when any path so far awaits the visitor's confirmation."""
        if self.pending:
            raise NeedsConfirmation(list(dict.fromkeys(self.pending)))


def gate_suite_files(suite: Suite, gate: PathGate, model: str) -> None:
    """For a suite that is not itself confirmed: its data file and the model file of ``model``."""
    if suite.data.path:
        gate.allow(str(suite.resolve(suite.data.path)), "data file")
    spec = next((s for s in suite.models if s.name == model), None)
    if spec is None or spec.load is None:
        return
    load = spec.load
    path = suite.resolve(load.source)  # a model file, or a Hugging Face folder
    recipe_folder = load.module is None and (path.suffix == ".safetensors" or load.format == "safetensors")
    if load.huggingface is not None or path.is_dir() or recipe_folder:
        folder = path if path.is_dir() or load.huggingface is not None else path.parent  # safetensors recipes read the whole folder
        gate.allow(str(folder), "model folder", folder=True, always_ask=load.trust)
    else:  # skops / ONNX / pickle files, and a state dict for the user's module class (trust: always asked)
        gate.allow(str(path), "model file", always_ask=load.trust)
