"""The suite file: a strict pydantic schema and a YAML loader whose errors name file and key.

A suite declares data, models, checks and gates. Every key is checked (unknown keys are
rejected), every name is looked up in its registry (with a did-you-mean), and each check's and
recipe's parameters are validated against that check's own ``Params`` model before anything
runs, so ``audit validate`` catches the same mistakes ``audit run`` would.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from audit.errors import ConfigError

SCHEMA_VERSION = 1
NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$"
GATE_RE = re.compile(
    r"^\s*(?:(?P<on>value|ci_low|ci_high)\(\s*(?P<wrapped>[^()]+?)\s*\)|(?P<metric>[^\s\[<>=!]+(?:\[[^\]]*\])?))"
    r"\s*(?P<op><=|>=|==|!=|<|>)\s*(?P<threshold>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*$"
)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False)


class SplitSpec(Strict):
    """How the rows of one file are split into train and test: at random (seeded, stratified by
    the target by default), or by the values of a split column."""

    test_size: float = Field(0.3, gt=0.0, lt=1.0, description="Share of rows held out for test (random split).")
    stratify: bool = Field(True, description="Keep the target's class balance in both parts (random split).")
    column: str | None = Field(None, description="Split by this column's values instead of at random; the column is never a feature.")
    train: list[str] = Field(default_factory=lambda: ["train"], description="Values of the split column that mark training rows.")
    test: list[str] = Field(default_factory=lambda: ["test"], description="Values of the split column that mark test rows.")
    reference: list[str] = Field(default_factory=list, description="Values of the split column that mark reference rows (drift baseline, explainer background).")

    @model_validator(mode="before")
    @classmethod
    def _scalars(cls, value: Any) -> Any:
        if isinstance(value, dict):
            value = {k: ([v] if k in ("train", "test", "reference") and isinstance(v, (str, int)) and not isinstance(v, bool) else v) for k, v in value.items()}
            value = {k: ([str(x) for x in v] if k in ("train", "test", "reference") and isinstance(v, list) else v) for k, v in value.items()}
        return value

    @model_validator(mode="after")
    def _column_or_random(self) -> SplitSpec:
        set_keys = self.model_fields_set
        if self.column is None:
            named = sorted(set_keys & {"train", "test", "reference"})
            if named:
                raise ValueError(f"'{named[0]}' lists split-column values; name the column with 'column'")
        else:
            random = sorted(set_keys & {"test_size", "stratify"})
            if random:
                raise ValueError(f"'{random[0]}' is for a random split; with 'column' the column's values decide")
            seen: dict[str, str] = {}
            for part in ("train", "test", "reference"):
                for v in getattr(self, part):
                    if v in seen:
                        raise ValueError(f"value '{v}' is listed under both '{seen[v]}' and '{part}'")
                    seen[v] = part
            if not self.test:
                raise ValueError("'test' needs at least one value of the split column")
        return self


class DataSpec(Strict):
    """The data: a built-in dataset, one file split by the suite, or the team's own files.

    Exactly one source: ``builtin``, ``path`` (split at random or by ``split.column``), or
    ``train`` / ``test`` files (``test`` alone audits loaded models without training data).
    ``reference`` adds a file that drift compares the test data with and explainers draw their
    background from (default: the training rows).
    """

    modality: Literal["tabular", "image", "text", "generation"] = Field("tabular", description="What the rows are (generation: a corpus of documents for a causal language model).")
    builtin: str | None = Field(None, description="Name of a built-in dataset, e.g. german_credit.")
    path: str | None = Field(None, description="One data file (CSV / Parquet / JSONL / NPZ / image folder), relative to the suite file; split by data.split.")
    train: str | None = Field(None, description="Training-data file (the rows recipes train on), relative to the suite file.")
    test: str | None = Field(None, description="Test (current) data file the models are audited on; alone, an evaluation-only run.")
    reference: str | None = Field(None, description="Reference data file: the drift baseline and explainer background (default: the training rows). Labels optional.")
    format: Literal["csv", "parquet", "jsonl", "npz", "folder"] | None = Field(None, description="Default: from the suffix.")
    text_column: str | None = Field(None, description="Text datasets: the column holding the text.")
    options: dict[str, Any] = Field(default_factory=dict, description="Loader-specific options (see the loader's docs).")
    target: str | None = Field(None, description="Target column (built-ins have a default).")
    positive_label: str | int | bool | None = Field(
        None, description="Target value treated as the positive (favourable) outcome."
    )
    features: list[str] | None = Field(None, description="Feature columns (default: all others).")
    categorical: list[str] | None = Field(
        None, description="Columns to treat as categorical (default: non-numeric columns)."
    )
    drop: list[str] = Field(default_factory=list, description="Columns never used as features.")
    sensitive: list[str] | None = Field(None, description="Sensitive columns for fairness/slices.")
    intersections: list[list[str]] | None = Field(
        None, description="Groups of sensitive columns audited jointly, e.g. [[sex, age_group]]."
    )
    id_column: str | None = Field(None, description="Row identifier column (default: row number).")
    split: SplitSpec = Field(default_factory=SplitSpec)

    @model_validator(mode="after")
    def _one_source(self) -> DataSpec:
        files = self.train is not None or self.test is not None
        sources = [name for name, given in (("builtin", self.builtin is not None), ("path", self.path is not None), ("train/test", files)) if given]
        if len(sources) != 1:
            raise ValueError(
                "give exactly one data source: 'builtin' (a dataset name), 'path' (one file the suite splits) "
                f"or 'test' (with 'train' if models are trained) files; got {' and '.join(sources) or 'none'}"
            )
        if self.train is not None and self.test is None:
            raise ValueError("'train' needs a 'test' file to audit the models on")
        if self.builtin is None and self.target is None and self.modality != "generation":  # a corpus has no target
            raise ValueError("'target' is required when the data comes from files")
        if files and "split" in self.model_fields_set:
            raise ValueError("'split' is for one file ('path' or 'builtin'); with 'train' and 'test' files the split is given")
        if self.split.column is not None and self.split.column == self.target:
            raise ValueError(f"split.column '{self.split.column}' is the target")
        for group in self.intersections or []:
            if len(group) < 2:
                raise ValueError("each entry of 'intersections' needs at least two columns")
        return self

    def files(self) -> dict[str, str]:
        """Declared data files by part: ``path`` (split by the suite) or train/test/reference."""
        parts = {"path": self.path, "train": self.train, "test": self.test, "reference": self.reference}
        return {part: file for part, file in parts.items() if file is not None}

    @property
    def has_training_rows(self) -> bool:
        """Whether the data gives rows to train on (evaluation-only runs have none)."""
        return self.builtin is not None or self.path is not None or self.train is not None


class LoadSpec(Strict):
    """A user's trained model: a file, or a local Hugging Face folder.

    Formats: skops (scikit-learn, checked against an allow-list), ONNX (run by onnxruntime),
    safetensors (a state dict for a recipe's network, or for the user's own ``torch.nn.Module``
    class named by ``module``; the latter imports user code, so it needs ``trust: true``),
    a Hugging Face ``save_pretrained`` folder, and pickle / joblib (refused unless ``trust: true``).
    """

    path: str | None = Field(None, description="Model file or folder, relative to the suite file.")
    huggingface: str | None = Field(None, description="A local Hugging Face model folder (save_pretrained), relative to the suite file.")
    task: Literal["sequence-classification", "causal-lm"] = Field(
        "sequence-classification", description="Hugging Face folders: the head to load."
    )
    format: Literal["skops", "onnx", "safetensors", "pickle", "joblib"] | None = Field(
        None, description="Default: from the suffix (.skops, .onnx, .safetensors, .pkl, .joblib)."
    )
    module: str | None = Field(
        None, description="safetensors state dicts: the torch.nn.Module class to build, as 'package.module:Class' (needs trust: true)."
    )
    module_params: dict[str, Any] = Field(default_factory=dict, description="Keyword arguments for the 'module' class.")
    trust: bool = Field(
        False, description="Allow loading that can run code: pickle/joblib files, or importing the 'module' class."
    )

    @model_validator(mode="after")
    def _one_source(self) -> LoadSpec:
        if (self.path is None) == (self.huggingface is None):
            raise ValueError("give exactly one of 'path' (a model file) or 'huggingface' (a local model folder)")
        if self.huggingface is not None and self.format is not None:
            raise ValueError("'format' is for files; a Hugging Face folder is read as such")
        if "task" in self.model_fields_set and self.huggingface is None:
            raise ValueError("'task' is for Hugging Face folders ('huggingface')")
        if self.module is not None:
            if ":" not in self.module or not all(part.strip() for part in self.module.split(":", 1)):
                raise ValueError(f"'module' must read 'package.module:Class'; got '{self.module}'")
            if not self.trust:
                raise ValueError(f"'module' imports and runs your code ('{self.module}'); set trust: true to allow it")
        if self.module_params and self.module is None:
            raise ValueError("'module_params' needs 'module'")
        return self

    @property
    def source(self) -> str:
        return self.path if self.path is not None else self.huggingface  # type: ignore[return-value]


class PredictionsSpec(Strict):
    """A predictions-only model: its scores on the test rows, joined to the data by row id.

    The file holds the join key, and the class probabilities (``proba[<class>]`` columns, as in
    audit's own predictions.csv, or ``score`` for the positive class of a binary task), and
    optionally the predicted label. Checks that must score new inputs are skipped.
    """

    path: str = Field(description="CSV / Parquet / JSONL file of predictions, relative to the suite file.")
    key: str | None = Field(None, description="Join column in the predictions file (default: data.id_column's name).")
    score: str | None = Field(None, description="Binary tasks: column of the positive class's probability (default: 'score' or the proba[...] columns).")
    proba: dict[str, str] | None = Field(None, description="Class label -> column of its probability (default: columns named proba[<class>]).")
    label: str | None = Field(None, description="Column of the predicted label; checked against the probabilities when given.")

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return {"path": value} if isinstance(value, str) else value

    @model_validator(mode="after")
    def _score_or_proba(self) -> PredictionsSpec:
        if self.score is not None and self.proba is not None:
            raise ValueError("give 'score' (binary) or 'proba' (one column per class), not both")
        return self


class ModelSpec(Strict):
    """A model to audit: trained by a recipe, loaded from a file or folder, or its predictions only."""

    name: str = Field(pattern=NAME_PATTERN, description="Short name used in metric paths.")
    recipe: str | None = Field(None, description="Training recipe, e.g. hist_gradient_boosting.")
    params: dict[str, Any] = Field(default_factory=dict, description="The recipe's parameters.")
    load: LoadSpec | None = Field(None, description="Load a trained model instead of training.")
    predictions: PredictionsSpec | None = Field(None, description="Audit from a file of predictions alone (no model).")

    @model_validator(mode="after")
    def _recipe_or_load(self) -> ModelSpec:
        if self.predictions is not None:
            if self.recipe is not None or self.load is not None:
                raise ValueError("'predictions' audits a model from its scores alone; drop 'recipe' and 'load'")
            return self
        if self.recipe is None and self.load is None:
            raise ValueError("give a 'recipe' to train, 'load' to read a model, or 'predictions' to audit from scores")
        if self.load is not None and self.load.module is None and self.load.path is not None:
            safetensors = self.load.path.endswith(".safetensors") or self.load.format == "safetensors"
            if safetensors and not self.recipe:
                raise ValueError("a safetensors state dict needs the 'recipe' that builds the network, or load.module naming your torch.nn.Module class")
        if self.load is not None and self.load.module is not None and self.recipe is not None:
            raise ValueError("give load.module (your network class) or 'recipe' (ours), not both")
        return self

    @property
    def source(self) -> str:
        """What the model comes from: 'recipe', 'load', 'predictions' or 'memory'."""
        if self.predictions is not None:
            return "predictions"
        if self.load is not None:
            return "load"
        return "recipe" if self.recipe is not None else "memory"  # the Python API's model objects (model_construct)


class CheckSpec(Strict):
    """One check to run; a bare string is shorthand for ``{name: <string>}``."""

    name: str = Field(description="Registered check (pillar) name, e.g. performance, fairness, shift.")
    variant: str | None = Field(
        None, description="Which of the modality's implementations of the pillar (default: the first), e.g. fairness 'classes'."
    )
    params: dict[str, Any] = Field(default_factory=dict, description="The check's parameters.")
    models: list[str] | None = Field(None, description="Restrict to these models (default: all).")

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return {"name": value} if isinstance(value, str) else value


class GateSpec(Strict):
    """A threshold on a metric path; ``*`` and ``?`` in the path match several metrics."""

    metric: str = Field(description="Metric path, e.g. gbm/fairness/demographic_parity_difference[sex]")
    op: Literal["<=", ">=", "<", ">", "==", "!="]
    threshold: float = Field(allow_inf_nan=False)
    on: Literal["value", "ci_low", "ci_high"] = Field(
        "value", description="Compare the value or a bound of its 95% interval."
    )
    severity: Literal["fail", "warn"] = Field("fail", description="What a breach means.")
    description: str = ""

    @model_validator(mode="before")
    @classmethod
    def _parse_string(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        match = GATE_RE.match(value)
        if not match:
            raise ValueError(
                f"cannot read gate {value!r}; expected '<metric path> <op> <number>' "
                "(op one of <=, >=, <, >, ==, !=), optionally 'ci_low(<path>) >= <number>'"
            )
        return {
            "metric": match["metric"] or match["wrapped"],
            "op": match["op"],
            "threshold": float(match["threshold"]),
            "on": match["on"] or "value",
        }

    def expression(self) -> str:
        target = self.metric if self.on == "value" else f"{self.on}({self.metric})"
        return f"{target} {self.op} {self.threshold:g}"


class MlflowSpec(Strict):
    """Log the finished run to MLflow: metrics, gate outcomes, params and the report files."""

    tracking_uri: str | None = Field(None, description="MLflow tracking URI (default: MLFLOW_TRACKING_URI, else ./mlruns).")
    experiment: str | None = Field(None, description="Experiment name (default: the suite name).")
    run_name: str | None = Field(None, description="MLflow run name (default: the audit run id).")

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return {} if value is True else value


class OutputSpec(Strict):
    dir: str = Field("reports", description="Folder for run folders (relative to the cwd).")
    formats: list[Literal["html", "junit", "predictions"]] = Field(
        default_factory=lambda: ["html", "junit", "predictions"],
        description="Files written besides results.json.",
    )
    mlflow: MlflowSpec | None = Field(None, description="Also log the run to MLflow ('true' for the defaults).")

    @model_validator(mode="before")
    @classmethod
    def _no_mlflow(cls, value: Any) -> Any:
        if isinstance(value, dict) and value.get("mlflow") is False:
            value = {k: v for k, v in value.items() if k != "mlflow"}
        return value


class ExecutionSpec(Strict):
    """Where the work runs: this process (default) or a Ray cluster.

    With ``ray``, independent (model, check) steps and the shard-keyed work inside checks
    (``Context.map``: bootstrap blocks, SHAP rows, attack rows, TextAttack examples) run as Ray
    tasks. Every shard draws from its own seeded generator, so the numbers equal the local run's.
    """

    backend: Literal["local", "ray"] = Field("local", description="local: this process; ray: Ray tasks.")
    address: str | None = Field(None, description="Ray cluster address (e.g. ray://head:10001 or auto); default: start a local Ray.")
    num_cpus: int | None = Field(None, ge=1, description="CPUs for a Ray started locally (default: all).")

    @model_validator(mode="after")
    def _ray_only(self) -> ExecutionSpec:
        if self.backend == "local" and (self.address is not None or self.num_cpus is not None):
            raise ValueError("'address' and 'num_cpus' are for backend: ray")
        return self


class Suite(Strict):
    """A whole audit: data, models, checks and the gates that decide the exit code."""

    version: Literal[1] = Field(description="Suite schema version.")
    name: str = Field(pattern=NAME_PATTERN, description="Suite name; the run folder's parent.")
    description: str = ""
    seed: int = Field(0, ge=0, le=2**32 - 1, description="Seed for splits, training, bootstrap.")
    data: DataSpec
    models: list[ModelSpec] = Field(min_length=1)
    checks: list[CheckSpec] = Field(min_length=1)
    gates: list[GateSpec] = Field(default_factory=list)
    output: OutputSpec = Field(default_factory=OutputSpec)
    execution: ExecutionSpec = Field(default_factory=ExecutionSpec)
    integrity: bool = Field(
        True,
        description="Run the integrity pillar (train/test overlap, leakage, a model trained on the test rows) with its default gates even when 'checks' does not list it.",
    )

    _source: Path | None = PrivateAttr(None)
    # what the loader rewrote (old check names), told to the user by validate and run
    _deprecations: list[str] = PrivateAttr(default_factory=list)
    # the Python API's objects: {"frames": {part: DataFrame}, "models": {name: object}, "array_input": {part}}
    _memory: dict[str, Any] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _unique_names(self) -> Suite:
        names = [m.name for m in self.models]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"model names must be unique; repeated: {', '.join(dupes)}")
        if not self.data.has_training_rows:
            trained = [m.name for m in self.models if m.recipe is not None and m.load is None]
            if trained:
                raise ValueError(
                    f"model '{trained[0]}' has a recipe to train, but the data gives only a test file (an evaluation-only run); "
                    "add data.train, or load the trained model (load:) or its predictions (predictions:)"
                )
        return self

    def planned_checks(self) -> list[CheckSpec]:
        """The checks that run: the suite's, plus the integrity pillar unless the suite lists it
        itself or sets ``integrity: false`` (the data variant, and the model variant for every
        model the suite did not train: loaded, predictions-only or in memory)."""
        if not self.integrity or any(c.name == "integrity" for c in self.checks):
            return list(self.checks)
        implicit = [CheckSpec(name="integrity", variant="data")]
        outside = [m.name for m in self.models if m.source != "recipe"]  # models whose training rows the run does not know
        if outside:
            implicit.append(CheckSpec(name="integrity", variant="model", models=outside))
        return [*self.checks, *implicit]

    def effective_gates(self) -> list[GateSpec]:
        """The suite's gates, plus the ``default_gates`` of each planned check the suite sets no gate on."""
        from audit.registry import CHECKS
        from audit.validation import split_metric_path

        gated = {split_metric_path(g.metric)[0][1] for g in self.gates if len(split_metric_path(g.metric)[0]) == 3}
        extra: list[GateSpec] = []
        for spec in self.planned_checks():
            if spec.name in gated or spec.name not in CHECKS:
                continue
            try:
                cls = CHECKS.resolve(spec.name, self.data.modality, spec.variant)
            except Exception:  # noqa: BLE001 - an unresolvable check is reported by validation
                continue
            for text in getattr(cls, "default_gates", ()):
                gate = GateSpec.model_validate(text)
                gate.description = f"default gate of '{spec.name}' (set a gate on {spec.name} in the suite to replace the defaults)"
                if all(g.expression() != gate.expression() for g in extra):
                    extra.append(gate)
        return [*self.gates, *extra]

    @property
    def source(self) -> Path | None:
        return self._source

    @property
    def deprecations(self) -> list[str]:
        return list(self._deprecations)

    @property
    def base_dir(self) -> Path:
        return self._source.parent if self._source else Path.cwd()

    def resolve(self, relative: str) -> Path:
        path = Path(relative).expanduser()
        return path if path.is_absolute() else self.base_dir / path


def format_loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif str(part).startswith(("function-", "tagged-union")):
            continue
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def validation_problems(exc: ValidationError, prefix: str = "") -> list[tuple[str, str]]:
    """(key path, message) for each error of a pydantic validation."""
    problems = []
    for err in exc.errors():
        loc = format_loc(tuple(p for p in ((*prefix.split("."),) if prefix else ()) + err["loc"]))
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key (not allowed here)"
        elif err["type"] == "missing":
            msg = "required key is missing"
        shown = err.get("input")
        if err["type"] not in ("missing", "extra_forbidden") and not isinstance(shown, dict):
            msg += f" (got {_short_repr(shown)})"
        problems.append((loc, msg))
    return problems


def describe_validation_error(exc: ValidationError, where: str, prefix: str = "") -> str:
    return "\n".join(f"{where}: {loc}: {msg}" for loc, msg in validation_problems(exc, prefix))


def _schema_problems(model: type[BaseModel], raw: Any, prefix: str = "", *, params: bool = False) -> tuple[Any, list[tuple[str, str]]]:
    """Validate ``raw`` against ``model``: (the instance or None, every problem found).

    Besides pydantic's errors this refuses booleans given where numbers are expected, which
    pydantic would quietly read as 1 or 0 (``seed: yes``). With ``params`` (a check's
    parameters) an unknown key is answered with a did-you-mean and the accepted parameters.
    """
    from audit.validation import boolean_errors, unknown_parameter_message

    head = tuple(prefix.split(".")) if prefix else ()
    booleans = [(format_loc(head + loc), msg) for loc, msg in boolean_errors(model, raw)]
    try:
        return model.model_validate(raw), booleans
    except ValidationError as exc:
        found = validation_problems(exc, prefix)
        if params:
            found = [
                (loc, unknown_parameter_message(model, err["loc"]) or msg) if err["type"] == "extra_forbidden" else (loc, msg)
                for (loc, msg), err in zip(found, exc.errors(), strict=True)
            ]
    told = {loc for loc, msg in found if "boolean" in msg}  # the model's own message about a boolean wins
    booleans = [(loc, msg) for loc, msg in booleans if not any(loc == t or loc.startswith((t + ".", t + "[")) for t in told)]
    shown = {loc for loc, _ in booleans}
    return None, booleans + [(loc, msg) for loc, msg in found if loc not in shown]


def _raise(problems: list[tuple[str, str]], where: str) -> None:
    if problems:
        raise ConfigError("\n".join(f"{where}: {loc}: {msg}" for loc, msg in problems))


def _short_repr(value: Any) -> str:
    """A bounded repr: YAML aliases can make a tiny file hold a huge (shared) structure."""
    import reprlib

    short = reprlib.Repr()
    short.maxlevel, short.maxlist, short.maxdict, short.maxstring, short.maxother = 3, 6, 6, 80, 80
    return short.repr(value)


def parse_suite(raw: Any, where: str = "<suite>") -> Suite:
    """Validate a parsed YAML document against the schema, the registries and the gates.

    Every problem found is reported at once, one line each, naming the key path.
    """
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a mapping of keys (version, name, data, ...) at the top")
    raw, notes, problems = rewrite_legacy_names(raw)
    _raise(problems, where)
    suite, problems = _schema_problems(Suite, raw)
    _raise(problems, where)
    _raise(reference_problems(suite), where)
    suite._deprecations = [f"{where}: {note}" for note in notes]
    return suite


_LEGACY_GATE = re.compile(r"^(?P<head>\s*(?:(?:value|ci_low|ci_high)\(\s*)?[^/\s()]+/)(?P<check>[A-Za-z_]+)(?=/)")


def rewrite_legacy_names(raw: dict[str, Any]) -> tuple[dict[str, Any], list[str], list[tuple[str, str]]]:
    """Old prefixed check names (``image_shift``, ``text_fairness``, ``class_disparity``, ...) ->
    their pillar, in ``checks`` and in gate paths: (the rewritten document, one deprecation note
    per rewrite, problems). A name meant for another modality is a problem, not a rewrite.
    """
    from audit.modalities import LEGACY_CHECKS

    data = raw.get("data")
    modality = data.get("modality", "tabular") if isinstance(data, dict) else "tabular"
    notes: list[str] = []
    problems: list[tuple[str, str]] = []
    checks = raw.get("checks")
    if isinstance(checks, list):
        new_checks = []
        for i, entry in enumerate(checks):
            spec = {"name": entry} if isinstance(entry, str) else entry
            name = spec.get("name") if isinstance(spec, dict) else None
            if isinstance(name, str) and name in LEGACY_CHECKS:
                pillar, variant, meant_for = LEGACY_CHECKS[name]
                if meant_for is not None and meant_for != modality:
                    problems.append((f"checks[{i}].name", f"'{name}' was the {meant_for} implementation of '{pillar}'; this suite's data is {modality}: use '{pillar}'"))
                    new_checks.append(entry)
                    continue
                if variant is not None and spec.get("variant") not in (None, variant):
                    problems.append((f"checks[{i}].variant", f"'{name}' means {pillar} variant '{variant}'; drop the variant or use '{pillar}'"))
                    new_checks.append(entry)
                    continue
                spec = {**spec, "name": pillar, **({"variant": variant} if variant else {})}
                how = f"name: {pillar}, variant: {variant}" if variant and modality != "image" else f"name: {pillar}"
                notes.append(f"checks[{i}].name: '{name}' is deprecated and will be removed in the next release; use '{how}' (same parameters; metric paths now read <model>/{pillar}/...)")
                if variant and modality == "image":
                    spec.pop("variant")  # per-class disparity is image fairness' default
                new_checks.append(spec)
                continue
            new_checks.append(entry)
        raw = {**raw, "checks": new_checks}
    gates = raw.get("gates")
    if isinstance(gates, list):
        new_gates = []
        for i, gate in enumerate(gates):
            text = gate if isinstance(gate, str) else gate.get("metric") if isinstance(gate, dict) else None
            match = _LEGACY_GATE.match(text) if isinstance(text, str) else None
            if match and match["check"] in LEGACY_CHECKS:
                pillar = LEGACY_CHECKS[match["check"]][0]
                fixed = f"{match['head']}{pillar}{text[match.end():]}"
                notes.append(f"gates[{i}]: '{match['check']}' in the metric path is deprecated; the path is now {fixed.strip()}")
                gate = fixed if isinstance(gate, str) else {**gate, "metric": fixed}
            new_gates.append(gate)
        raw = {**raw, "gates": new_gates}
    return raw, notes, problems


def validate_references(suite: Suite, where: str) -> None:
    """Raise a ConfigError listing every problem :func:`reference_problems` finds."""
    _raise(reference_problems(suite), where)


def reference_problems(suite: Suite) -> list[tuple[str, str]]:
    """Names looked up in the registries, parameters validated, data keys and gates cross-checked."""
    from audit.registry import DATASETS
    from audit.validation import data_spec_errors, gate_errors

    problems: list[tuple[str, str]] = []

    def lookup(registry: Any, name: str, key: str) -> bool:
        try:
            registry.check_name(name)
        except ConfigError as exc:
            problems.append((key, str(exc)))
            return False
        return True

    if suite.data.builtin is not None:
        lookup(DATASETS, suite.data.builtin, "data.builtin")
    problems += data_spec_errors(suite.data)
    model_names = [m.name for m in suite.models]
    for i, model in enumerate(suite.models):
        problems += recipe_problems(i, model)
    for i, check in enumerate(suite.checks):
        problems += check_problems(i, check, suite.data.modality, model_names)
    problems += gate_errors(suite)
    return problems


def recipe_problems(i: int, model: ModelSpec) -> list[tuple[str, str]]:
    """The problems of ``models[i]``'s recipe name and parameters."""
    from audit.registry import RECIPES

    if model.recipe is None:
        return []
    try:
        RECIPES.check_name(model.recipe)
    except ConfigError as exc:
        return [(f"models[{i}].recipe", str(exc))]
    return _schema_problems(RECIPES.get(model.recipe).Params, model.params, f"models[{i}].params")[1]


def check_problems(i: int, check: CheckSpec, modality: str, model_names: list[str] | None) -> list[tuple[str, str]]:
    """The problems of ``checks[i]``: its name, variant and parameters, and the models it names
    (not checked when ``model_names`` is None: the suite's models are not all known)."""
    from audit.registry import CHECKS, suggest

    problems: list[tuple[str, str]] = []
    try:
        CHECKS.check_name(check.name)
    except ConfigError as exc:
        problems.append((f"checks[{i}].name", str(exc)))
    else:
        try:
            cls = CHECKS.resolve(check.name, modality, check.variant)
        except ConfigError as exc:
            problems.append((f"checks[{i}].variant" if check.variant else f"checks[{i}].name", str(exc)))
        else:
            problems += _schema_problems(cls.Params, check.params, f"checks[{i}].params", params=True)[1]
    for j, model_name in enumerate(check.models or []):
        if model_names is not None and model_name not in model_names:
            problems.append((f"checks[{i}].models[{j}]", f"unknown model '{model_name}'; {suggest(model_name, model_names)}"))
    return problems


def read_suite_document(path: str | Path) -> Any:
    """The parsed YAML of a suite file; a ConfigError naming the file (and line) when unreadable."""
    from audit.strict_yaml import load_yaml

    path = Path(path)
    where = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{where}: suite file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{where}: cannot read the suite file ({exc})") from None
    return load_yaml(text, where)


def load_suite(path: str | Path, *, check_data: bool = False) -> Suite:
    """Read and validate a suite file; every problem is a ConfigError naming the file and key.

    With ``check_data`` the declared data files are opened too (headers and the target's
    values, see :func:`audit.validation.validate_suite`) and every problem is reported at once.
    """
    if check_data:
        from audit.validation import validate_suite

        suite, problems = validate_suite(path)
        if problems or suite is None:
            raise ConfigError("\n".join(str(p) for p in problems))
        return suite
    path = Path(path)
    raw = read_suite_document(path)
    suite = parse_suite(raw, str(path))
    suite._source = path.resolve()
    return suite
