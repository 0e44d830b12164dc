"""Checks of a suite that its pydantic schema cannot express, run before anything is trained.

* **Booleans are not numbers.** pydantic reads ``true`` as 1 for an ``int`` or ``float`` field;
  YAML turns ``yes``/``on``/``true`` into booleans, so ``seed: yes`` would silently mean seed 1.
  :func:`boolean_errors` walks a parsed document along a model's field types and reports every
  boolean given where a number is expected (suite keys, check and recipe parameters alike).
* **Data keys that contradict each other**: the target listed as sensitive, a column repeated in
  a list or an intersection, an intersection column that is not sensitive.
* **Gates that can never match**: each gate's ``<model>/<check>/<metric>`` must name a model of
  the suite (``data`` for data-scoped checks), a check of the suite that runs on it, and a metric
  that check declares (``Check.metrics``), so a typo is found by ``audit validate`` instead of
  after a whole run.
* **Where the run folder goes**: :func:`output_dir_error` (called by the engine and the CLI).
* **Everything at once**: :func:`validate_suite` (``audit validate``) adds the data files'
  headers (:mod:`audit.data.preflight`) and, when the schema refuses part of the suite, still
  checks the parts that are well formed, so one call lists every problem.

This module runs for ``audit validate``: it imports nothing heavy (no pandas, numpy or torch;
the check classes it resolves may).
"""

from __future__ import annotations

import fnmatch
import os
import types
import typing
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, Union

if TYPE_CHECKING:
    from pydantic import BaseModel

    from audit.suite import DataSpec, Suite

Loc = tuple[str | int, ...]
WILDCARDS = "*?"
PATH_SHAPE = "expected '<model>/<check>/<metric>' with an optional '[<group>]', e.g. gbm/fairness/demographic_parity_difference[sex]"


# -- booleans where numbers are expected -------------------------------------------------------


def boolean_errors(annotation: Any, value: Any, loc: Loc = ()) -> list[tuple[Loc, str]]:
    """(location, message) for every boolean in ``value`` where ``annotation`` expects a number."""
    from pydantic import BaseModel

    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return boolean_errors(args[0], value, loc)
    if isinstance(value, bool):
        message = _boolean_message(annotation, value)
        return [(loc, message)] if message else []
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return _model_boolean_errors(annotation, value, loc) if isinstance(value, dict) else []
    if origin in (Union, types.UnionType):
        shaped = [a for a in args if _same_shape(a, value)]
        return boolean_errors(shaped[0], value, loc) if shaped else []
    if isinstance(value, list) and origin in (list, set, frozenset, tuple):
        if origin is tuple and args and args[-1] is not Ellipsis:
            items = list(args)
        else:
            items = [args[0] if args else Any] * len(value)
        return [
            e
            for i, (item, kind) in enumerate(zip(value, items, strict=False))
            for e in boolean_errors(kind, item, (*loc, i))
        ]
    if isinstance(value, dict) and origin is dict and len(args) == 2:
        return [e for key, item in value.items() for e in boolean_errors(args[1], item, (*loc, str(key)))]
    return []


def _model_boolean_errors(model: type[BaseModel], value: dict[str, Any], loc: Loc) -> list[tuple[Loc, str]]:
    errors = []
    by_alias = model.model_config.get("validate_by_alias", True)
    by_name = model.model_config.get("validate_by_name", False) or not by_alias
    for name, field in model.model_fields.items():
        keys = ([field.alias] if field.alias and by_alias else []) + ([name] if by_name or not field.alias else [])
        for key in keys:
            if key in value:
                errors += boolean_errors(field.annotation, value[key], (*loc, key))
    return errors


def _numeric_kind(annotation: Any) -> str | None:
    """'number' / 'text or number' when ``annotation`` takes numbers but not booleans, else None."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return _numeric_kind(args[0])
    if annotation in (int, float):
        return "a number"
    if origin is Literal:
        if any(isinstance(a, bool) for a in args):
            return None
        return "a number" if any(isinstance(a, (int, float)) for a in args) else None
    if origin in (Union, types.UnionType):
        arms = [a for a in args if a is not type(None)]
        if any(a is bool or a is Any or a is object for a in arms):
            return None
        kinds = [_numeric_kind(a) for a in arms]
        if not any(kinds):
            return None
        return "text or a number" if str in arms else "a number"
    return None


def _boolean_message(annotation: Any, value: bool) -> str | None:
    kind = _numeric_kind(annotation)
    if kind is None:
        return None
    hint = "; quote it if you mean text" if kind.startswith("text") else ""
    return f"expected {kind}, not a boolean (got {'true' if value else 'false'}){hint}"


def _same_shape(annotation: Any, value: Any) -> bool:
    """Whether a union arm could take ``value`` as a container of the same kind."""
    from pydantic import BaseModel

    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _same_shape(typing.get_args(annotation)[0], value)
    if isinstance(value, dict):
        return origin is dict or (isinstance(annotation, type) and issubclass(annotation, BaseModel))
    if isinstance(value, list):
        return origin in (list, set, frozenset, tuple)
    return False


# -- data keys ---------------------------------------------------------------------------------


def data_spec_errors(spec: DataSpec) -> list[tuple[str, str]]:
    """(key path, message) for data keys that contradict each other.

    A built-in dataset may supply the target and the sensitive columns; what only the loaded
    data can tell is checked again by the loaders.
    """
    errors: list[tuple[str, str]] = []
    target = spec.target
    for key in ("features", "categorical", "drop", "sensitive"):
        errors += [(f"data.{key}[{i}]", f"column '{c}' is listed twice") for i, c in _repeats(getattr(spec, key) or [])]
    for i, column in enumerate(spec.features or []):
        if target is not None and column == target:
            errors.append(
                (f"data.features[{i}]", f"'{column}' is the target (data.target); the target cannot be a feature")
            )
    for i, column in enumerate(spec.sensitive or []):
        if target is not None and column == target:
            errors.append(
                (
                    f"data.sensitive[{i}]",
                    f"'{column}' is the target (data.target); the target cannot be a sensitive column",
                )
            )
    sensitive = spec.sensitive if spec.sensitive is not None else ([] if spec.builtin is None else None)
    seen: dict[tuple[str, ...], int] = {}
    for i, group in enumerate(spec.intersections or []):
        for j, column in _repeats(group):
            errors.append((f"data.intersections[{i}][{j}]", f"column '{column}' is repeated in this intersection"))
        if sensitive is not None:
            for j, column in enumerate(group):
                if column not in sensitive:
                    errors.append(
                        (
                            f"data.intersections[{i}][{j}]",
                            f"'{column}' is not listed in data.sensitive; intersections combine sensitive columns",
                        )
                    )
        if tuple(group) in seen:
            errors.append(
                (f"data.intersections[{i}]", f"same intersection as data.intersections[{seen[tuple(group)]}]")
            )
        seen.setdefault(tuple(group), i)
    return errors


def _repeats(items: list[str]) -> list[tuple[int, str]]:
    seen: set[str] = set()
    out = []
    for i, item in enumerate(items):
        if item in seen:
            out.append((i, item))
        seen.add(item)
    return out


# -- gates ---------------------------------------------------------------------------------------


def split_metric_path(pattern: str) -> tuple[list[str], str | None, bool]:
    """(segments before any '[', the group text or None, whether the bracket is well formed)."""
    base, bracket, rest = pattern.partition("[")
    if not bracket:
        return base.split("/"), None, True
    return base.split("/"), rest[:-1], rest.endswith("]") and "]" not in rest[:-1]


def has_wildcard(text: str) -> bool:
    return any(ch in text for ch in WILDCARDS)


def run_pairs(suite: Suite) -> list[tuple[str, str, Any]]:
    """(owner, check name, check class or None) for every check the suite runs: owner is a model or 'data'."""
    from audit.errors import ConfigError
    from audit.registry import CHECKS

    models = [m.name for m in suite.models]
    pairs = []
    for spec in suite.planned_checks():  # with the implicit integrity pillar
        try:
            cls = CHECKS.resolve(spec.name, suite.data.modality, spec.variant) if spec.name in CHECKS else None
        except ConfigError:
            cls = None
        owners = ["data"] if cls is not None and cls.scope == "data" else (spec.models or models)
        pairs += [(owner, spec.name, cls) for owner in owners]
    return pairs


def gate_errors(suite: Suite, indices: list[int] | None = None) -> list[tuple[str, str]]:
    """(key path, message) for every gate whose metric path no metric of this suite can match.

    ``indices``: each gate's position in the suite file, when ``suite.gates`` holds only some.
    """
    pairs = run_pairs(suite)
    errors = []
    for i, gate in zip(indices or range(len(suite.gates)), suite.gates, strict=True):
        message = gate_path_error(gate.metric, pairs, [m.name for m in suite.models])
        if message:
            errors.append((f"gates[{i}].metric", message))
    return errors


def gate_path_error(pattern: str, pairs: list[tuple[str, str, Any]], models: list[str]) -> str | None:
    """Why ``pattern`` can match no metric of the planned (owner, check) pairs; None when it can."""
    from audit.checks.base import metric_specs
    from audit.registry import suggest

    segments, group, well_formed = split_metric_path(pattern)
    wild = has_wildcard(pattern)
    if not well_formed or len(segments) != 3:
        return None if wild else f"cannot match any metric: {PATH_SHAPE}; got '{pattern}'"
    model, check, metric = segments
    owners = list(dict.fromkeys([*models, *(o for o, _, _ in pairs)]))
    hit = [p for p in pairs if fnmatch.fnmatchcase(p[0], model)]
    if not any(fnmatch.fnmatchcase(o, model) for o in owners):
        data_checks = sorted({c for o, c, _ in pairs if o == "data"})
        extra = f" ('data' is for the data-scoped checks: {', '.join(data_checks)})" if data_checks else ""
        return f"no model matches '{model}'; {suggest(model, owners)}{extra}"
    checks_here = sorted({c for _, c, _ in hit})
    hit = [p for p in hit if fnmatch.fnmatchcase(p[1], check)]
    if not hit:
        every = sorted({c for _, c, _ in pairs})
        if any(fnmatch.fnmatchcase(c, check) for c in every):
            return f"check '{check}' does not run on '{model}'; checks that do: {', '.join(checks_here) or 'none'}"
        return f"no check of the suite matches '{check}'; {suggest(check, every)}"
    classes = {(c, cls) for _, c, cls in hit}  # one check name may run several variants (privacy)
    if any(cls is None or getattr(cls, "metrics", None) is None for _, cls in classes):
        return None  # a check that does not declare its metrics: judged at run time
    declared = sorted({m for _, cls in classes for m in metric_specs(cls)})
    if not any(fnmatch.fnmatchcase(m, metric) for m in declared):
        names = ", ".join(f"'{c}'" for c in sorted({c for c, _ in classes}))
        return f"no metric of check {names} matches '{metric}'; {suggest(metric, declared)}"
    return None


# -- unknown parameters ----------------------------------------------------------------------------


def unknown_parameter_message(model: type[BaseModel], loc: Loc) -> str | None:
    """"unknown parameter; did you mean 'x'? accepted: a, b, ..." for the extra key at ``loc``
    of ``model``'s input (nested models followed), or None when its model is not found."""
    from audit.registry import suggest

    parent = _model_at(model, loc[:-1])
    if parent is None or not loc or not isinstance(loc[-1], str):
        return None
    accepted = [field.alias or name for name, field in parent.model_fields.items()]
    hint = suggest(loc[-1], accepted).partition("available: ")[0]
    return f"unknown parameter; {hint}accepted: {', '.join(accepted) or 'none'}"


def _model_at(annotation: Any, loc: Loc) -> type[BaseModel] | None:
    """The pydantic model that validates the value at ``loc`` under ``annotation``."""
    from pydantic import BaseModel

    for part in loc:
        annotation = _unwrap(annotation, expect_model=isinstance(part, str))
        if isinstance(annotation, type) and issubclass(annotation, BaseModel) and isinstance(part, str):
            field = next((f for n, f in annotation.model_fields.items() if part in (n, f.alias)), None)
            if field is None:
                return None
            annotation = field.annotation
        else:
            args = typing.get_args(annotation)
            if typing.get_origin(annotation) is dict and len(args) == 2:
                annotation = args[1]
            elif typing.get_origin(annotation) in (list, tuple, set, frozenset) and args:
                annotation = args[0]
            else:
                return None
    annotation = _unwrap(annotation, expect_model=True)
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


def _unwrap(annotation: Any, expect_model: bool) -> Any:
    """Optional / Annotated / union arms removed: the model arm first, else the container arm."""
    from pydantic import BaseModel

    while True:
        origin, args = typing.get_origin(annotation), typing.get_args(annotation)
        if origin is typing.Annotated:
            annotation = args[0]
        elif origin in (Union, types.UnionType):
            arms = [a for a in args if a is not type(None)]
            models = [a for a in arms if isinstance(a, type) and issubclass(a, BaseModel)]
            containers = [a for a in arms if typing.get_origin(a) in (list, tuple, dict, set, frozenset)]
            annotation = (models or containers or arms or [None])[0] if expect_model else (containers or models or arms or [None])[0]
        else:
            return annotation


# -- the whole suite, data files included ----------------------------------------------------------


class Problem(NamedTuple):
    """One problem of a suite: printed ``<file>: <key path>: <message>``."""

    file: str
    key: str | None  # None: ``message`` is a whole line already (a YAML error with its line)
    message: str

    def __str__(self) -> str:
        return self.message if self.key is None else f"{self.file}: {self.key}: {self.message}"


def validate_suite(path: str | Path, *, data_files: bool = True) -> tuple[Suite | None, list[Problem]]:
    """Every problem of the suite file at ``path`` in one list: YAML, schema, registry names,
    check and recipe parameters, gates, and (with ``data_files``) the data files' headers.
    (The suite, or None when the schema refuses it; the problems, empty for a valid suite.)"""
    from audit.errors import ConfigError
    from audit.suite import Suite, _schema_problems, read_suite_document, reference_problems, rewrite_legacy_names

    where = str(path)
    try:
        raw = read_suite_document(path)
    except ConfigError as exc:
        return None, [Problem(where, None, line) for line in str(exc).splitlines()]
    if not isinstance(raw, dict):
        return None, [Problem(where, None, f"{where}: expected a mapping of keys (version, name, data, ...) at the top")]
    raw, notes, found = rewrite_legacy_names(raw)
    suite, schema = _schema_problems(Suite, raw)
    found += schema
    if suite is None:
        found += _partial_problems(raw, Path(path), {loc for loc, _ in found}, data_files)
    else:
        from audit.data.preflight import data_file_problems

        suite._source = Path(path).resolve()
        suite._deprecations = [f"{where}: {note}" for note in notes]
        found += reference_problems(suite)
        found += data_file_problems(suite) if data_files else []
    found = sorted(dict.fromkeys(found), key=lambda problem: _section_rank(problem[0]))  # in the file's order
    return suite, [Problem(where, loc, message) for loc, message in found]


SECTIONS = ("version", "name", "description", "seed", "data", "models", "checks", "gates", "output")


def _section_rank(loc: str) -> int:
    head = loc.split(".", 1)[0].split("[", 1)[0]
    return SECTIONS.index(head) if head in SECTIONS else len(SECTIONS)


def _partial_problems(raw: dict[str, Any], source: Path, told: set[str], data_files: bool) -> list[tuple[str, str]]:
    """What can still be checked when the schema refused the suite: the well-formed data
    section's files, each well-formed check's and recipe's parameters, and the well-formed gates
    when every model and check is well formed."""
    from pydantic import ValidationError

    from audit.data.preflight import data_file_problems
    from audit.suite import CheckSpec, DataSpec, GateSpec, ModelSpec, Suite, check_problems, recipe_problems

    def valid(model: Any, value: Any) -> Any:
        try:
            return model.model_validate(value)
        except (ValidationError, ValueError, TypeError):
            return None

    data = valid(DataSpec, raw.get("data"))
    listed = {key: raw.get(key) if isinstance(raw.get(key), list) else [] for key in ("models", "checks", "gates")}
    models = [(i, valid(ModelSpec, m)) for i, m in enumerate(listed["models"])]
    checks = [(i, valid(CheckSpec, c)) for i, c in enumerate(listed["checks"])]
    gates = [(i, g) for i, g in ((i, valid(GateSpec, g)) for i, g in enumerate(listed["gates"])) if g is not None]
    modality = data.modality if data is not None else "tabular"
    names = [m.name for _, m in models if m is not None]
    complete = data is not None and all(m is not None for _, m in models) and all(c is not None for _, c in checks)
    problems: list[tuple[str, str]] = []
    for i, model in models:
        if model is not None:
            problems += recipe_problems(i, model)
    for i, check in checks:
        if check is not None:
            problems += check_problems(i, check, modality, names if complete else None)
    if data is None:
        return [p for p in problems if p[0] not in told]
    suite = Suite.model_construct(
        version=1, name=str(raw.get("name")), seed=0, data=data,
        models=[m for _, m in models if m is not None], checks=[c for _, c in checks if c is not None],
        gates=[g for _, g in gates],
    )
    suite._source = source.resolve()
    problems += data_spec_errors(data) + (data_file_problems(suite) if data_files else [])
    if complete and listed["models"] and listed["checks"]:
        problems += gate_errors(suite, [i for i, _ in gates])
    return [p for p in problems if p[0] not in told]


# -- the output folder ---------------------------------------------------------------------------


def output_dir_error(folder: str | Path, subfolder: str | None = None) -> str | None:
    """Why run folders cannot be created under ``folder`` (and its ``subfolder``); None when they can.

    The folder need not exist yet: then its nearest existing parent must be a writable folder.
    Nothing is created here, so a refused run leaves no trace.
    """
    path = Path(folder).expanduser()
    target = path / subfolder if subfolder else path
    probe = target
    while not os.path.lexists(probe) and probe.parent != probe:
        probe = probe.parent
    if probe == path:
        subject = f"'{folder}'"
    elif probe == target:
        subject = f"'{folder}': '{target}', the folder of this suite's runs,"
    else:
        subject = f"'{folder}' cannot be created: '{probe}'"
    if not probe.exists():
        return f"{subject} is a broken link"
    if not probe.is_dir():
        kind = "a file" if probe.is_file() else "a special file (a FIFO, device or socket)"
        return f"{subject} is {kind}, not a folder"
    if not os.access(probe, os.W_OK | os.X_OK):
        return f"{subject} is a folder you cannot write to"
    return None
