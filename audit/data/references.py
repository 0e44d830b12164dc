"""Column names a suite mentions outside ``data:``, checked against the loaded data before training.

Check parameters name columns (a shift scenario's ``column``, drift ``features``, fairness
``columns``, explain ``proxies``, robustness ``immutable`` / ``counterfactuals``, text_shift
``domain_column``) and gates name groups (``gbm/fairness/tpr[sex=female]``). The checks would
find a typo only when they run, after every model is trained, and a gate naming a group the
data lacks would only error at the end. Here both are found once the data is loaded and before
any model is built, all at once, each naming its key path.
"""

from __future__ import annotations

import fnmatch
import re
from typing import TYPE_CHECKING, Any

from audit.registry import CHECKS, suggest
from audit.validation import has_wildcard, run_pairs, split_metric_path

if TYPE_CHECKING:
    from audit.data.base import DataBundle, Schema
    from audit.suite import Suite

# check name -> (path inside its params, what the value must be). In a path, '*' is every list
# item or mapping value and '&' every mapping key.
COLUMN_REFERENCES: dict[str, list[tuple[str, str]]] = {
    "shift": [("scenarios.*.column", "column"), ("features.*", "feature")],
    "drift": [("features.*", "feature")],
    "fairness": [("columns.*", "group")],
    "explain": [("proxies.&", "sensitive"), ("proxies.*.*", "feature")],
    "robustness": [
        ("immutable.*", "feature"),
        ("counterfactuals.&", "sensitive"),
        ("counterfactuals.*.feature", "feature"),
    ],
    "text_shift": [("domain_column", "sensitive")],
}
KINDS = {
    "feature": "is not a feature column",
    "sensitive": "is not a sensitive column (data.sensitive)",
    "group": "is not a sensitive column or intersection",
    "column": "is not a feature or sensitive column",
}
# Implementations (by ``Check.name``) whose metric groups are sensitive columns ('sex', 'sex&age_group') or their groups
# ('sex=female', 'sex=female&age_group=<25'); performance adds 'class=<label>' for multiclass.
GROUPED_CHECKS = ("fairness", "performance")


def data_reference_problems(suite: Suite, bundle: DataBundle) -> list[tuple[str, str]]:
    """(key path, message) for every column or group name the loaded data does not have."""
    schema = bundle.schema
    return _param_problems(suite, schema) + _gate_group_problems(suite, schema, _group_values(bundle))


def _param_problems(suite: Suite, schema: Schema) -> list[tuple[str, str]]:
    allowed = {
        "feature": list(schema.features),
        "sensitive": list(schema.sensitive),
        "group": list(schema.group_columns),
        "column": list(dict.fromkeys([*schema.features, *schema.sensitive])),
    }
    problems = []
    target_kind = "binary" if len(schema.classes) == 2 else "multiclass"
    for i, spec in enumerate(suite.checks):
        if spec.name not in CHECKS:
            continue
        cls = CHECKS.resolve(spec.name, schema.modality, spec.variant)
        if target_kind not in cls.targets:
            shown = ", ".join(map(str, schema.classes[:6])) + (", ..." if len(schema.classes) > 6 else "")
            problems.append((f"checks[{i}].name", f"'{spec.name}' on {schema.modality} data supports {' and '.join(cls.targets)} targets; '{schema.target}' has {len(schema.classes)} classes ({shown}): remove the check or audit one class against the rest"))
            continue
        if cls.name not in COLUMN_REFERENCES or schema.modality not in cls.modalities:
            continue  # nothing to look up, or the check is skipped for this data
        for path, kind in COLUMN_REFERENCES[cls.name]:
            for loc, value in _walk(spec.params, path.split("."), f"checks[{i}].params"):
                if isinstance(value, str) and value not in allowed[kind]:
                    problems.append((loc, f"'{value}' {KINDS[kind]}; {suggest(value, allowed[kind])}"))
    return problems


def _walk(node: Any, steps: list[str], loc: str) -> list[tuple[str, Any]]:
    """(key path, value) of every node ``steps`` reaches."""
    if not steps:
        return [(loc, node)]
    step, rest = steps[0], steps[1:]
    if step == "&":
        return [(f"{loc}.{key}", key) for key in node] if isinstance(node, dict) else []
    if step == "*":
        items = enumerate(node) if isinstance(node, list) else node.items() if isinstance(node, dict) else []
        return [
            hit
            for key, child in items
            for hit in _walk(child, rest, f"{loc}[{key}]" if isinstance(key, int) else f"{loc}.{key}")
        ]
    return _walk(node[step], rest, f"{loc}.{step}") if isinstance(node, dict) and step in node else []


def _group_values(bundle: DataBundle) -> dict[str, list[str]]:
    values: dict[str, set[str]] = {}
    for dataset in (bundle.train, bundle.test):
        for column in dataset.sensitive.columns:
            values.setdefault(str(column), set()).update(dataset.sensitive[column].astype(str).unique().tolist())
    values["class"] = {str(c) for c in bundle.schema.classes}
    return {k: sorted(v) for k, v in values.items()}


def _gate_group_problems(suite: Suite, schema: Schema, values: dict[str, list[str]]) -> list[tuple[str, str]]:
    """Gates on fairness / performance whose [group] names a column or value the data lacks."""
    problems = []
    pairs = run_pairs(suite)
    for i, gate in enumerate(suite.gates):
        segments, group, well_formed = split_metric_path(gate.metric)
        if group is None or not well_formed or len(segments) != 3 or has_wildcard(group):
            continue
        model, check, metric = segments
        if not any(fnmatch.fnmatchcase(o, model) and c == check and cls is not None and cls.name in GROUPED_CHECKS for o, c, cls in pairs):
            continue
        message = _group_problem(suite, schema, values, check, metric, group)
        if message:
            problems.append((f"gates[{i}].metric", message))
    return problems


def _group_problem(
    suite: Suite, schema: Schema, values: dict[str, list[str]], check: str, metric: str, group: str
) -> str | None:
    specs = [s for s in suite.checks if s.name == check and CHECKS.resolve(s.name, schema.modality, s.variant).name in GROUPED_CHECKS]
    if check == "performance":
        if not any(s.params.get("slices", True) for s in specs):
            return "performance has slices: false, so it measures no groups"
        if group in schema.group_columns:
            return f"performance measures each group of a column: write [{group}=<value>]"
        return _label_problem(group, [*schema.group_columns, "class"], values)
    from audit.checks.base import metric_specs
    from audit.checks.fairness import DISPARITY_DIRECTION, FairnessCheck

    chosen = [s.params.get("columns") for s in specs]
    columns = (
        list(schema.group_columns)
        if any(c is None for c in chosen)
        else list(dict.fromkeys(c for cs in chosen for c in cs))
    )
    matched = [m for m in metric_specs(FairnessCheck) if fnmatch.fnmatchcase(m, metric)]
    disparity = [m for m in matched if m in DISPARITY_DIRECTION]
    per_group = [m for m in matched if m not in DISPARITY_DIRECTION]
    base, sep, cls = group.rpartition("|class=")  # multiclass one-vs-rest: sex=female|class=x, sex|class=x
    if sep and base:
        classes = [str(c) for c in schema.classes]
        if len(classes) <= 2:
            return "'|class=<label>' groups exist only for multiclass targets; binary targets use the plain group"
        if cls not in classes:
            return f"'{cls}' is not a class of the target; {suggest(cls, classes)}"
        group = base
    if group in schema.group_columns or "=" not in group:  # a column (whose name may hold '=')
        if group not in columns:
            where = (
                "in the data"
                if group not in schema.group_columns
                else "audited by this fairness check (params.columns)"
            )
            return f"no sensitive column or intersection '{group}' {where}; {suggest(group, columns)}"
        return None if disparity else f"'{metric}' is measured for each group: write [{group}=<value>]"
    if not per_group:
        return f"'{metric}' compares the groups of a column: write [{_columns_of(group)}], not one group"
    named = _columns_of(group)
    if named in schema.group_columns and named not in columns:
        return f"'{named}' is not audited by this fairness check (params.columns); {suggest(named, columns)}"
    return _label_problem(group, columns, values)


def _label_problem(label: str, columns: list[str], values: dict[str, list[str]]) -> str | None:
    """Why the group label ``<column>=<value>[&<column>=<value>...]`` names no group of the data."""
    value_problem = None
    for column in columns:
        names = column.split("&")
        match = re.fullmatch("&".join(f"{re.escape(n)}=(.*)" for n in names), label, flags=re.DOTALL)
        if match is None:
            continue
        for name, value in zip(names, match.groups(), strict=True):
            if value not in values.get(name, []):
                value_problem = (
                    f"'{value}' is not a value of '{name}' in the data; {suggest(value, values.get(name, []))}"
                )
                break
        else:
            return None
    if value_problem:
        return value_problem
    named = _columns_of(label)
    return f"no sensitive column or intersection '{named}' in the data (groups are written [<column>=<value>]); {suggest(named, columns)}"


def _columns_of(label: str) -> str:
    """'sex&age_group' for the label 'sex=female&age_group=<25' (values holding '&' aside)."""
    return "&".join(part.split("=", 1)[0] for part in label.split("&"))
