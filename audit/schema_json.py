"""The JSON Schema of suite files (``audit schema``), for editors and CI linters.

pydantic's schema of :class:`audit.suite.Suite` is the base. On top of it this module

* names the schema (``$id``, draft 2020-12 ``$schema``), so an editor can bind suite files to it;
* accepts the shorthands the loader accepts (a check or gate as a string, ``output.mlflow: true``,
  a predictions file as a path, a scalar split value);
* types each check's ``params`` by its ``name`` (and ``variant``) and each model's ``params`` by
  its ``recipe``, from the registered implementations' own ``Params`` models, so editors
  complete parameter names and a misspelt one is an error.

The data's modality is not known where a check is written, so a check without a variant takes
the parameters of any modality's default implementation.
"""

from __future__ import annotations

import copy
import re
from typing import Any

SCHEMA_ID = "https://audit.dev/schemas/suite-1.json"
DRAFT = "https://json-schema.org/draft/2020-12/schema"


def suite_json_schema() -> dict[str, Any]:
    """The JSON Schema of a suite file, with every check's and recipe's parameters typed."""
    from audit.registry import CHECKS, RECIPES
    from audit.suite import GATE_RE, Suite

    base = Suite.model_json_schema()
    defs: dict[str, Any] = base.pop("$defs")
    schema = {"$schema": DRAFT, "$id": SCHEMA_ID, **base, "$defs": defs}

    check = defs["CheckSpec"]
    implementations = CHECKS.implementations()
    check["properties"]["name"]["enum"] = sorted({name for name, *_ in implementations})
    check["allOf"] = _check_conditions(implementations, defs)
    defs["CheckSpec"] = {"anyOf": [{"type": "string", "enum": check["properties"]["name"]["enum"], "description": "Shorthand for {name: <check>}."}, check]}

    model = defs["ModelSpec"]
    recipes = {name: RECIPES.get(name) for name in RECIPES.names()}
    model["properties"]["recipe"]["anyOf"][0]["enum"] = sorted(recipes)
    model["allOf"] = [
        {
            "if": {"properties": {"recipe": {"const": name}}, "required": ["recipe"]},
            "then": {"properties": {"params": _embed(defs, f"recipe.{name}", cls.Params)}},
        }
        for name, cls in recipes.items()
    ]

    gate_pattern = re.sub(r"\(\?P<\w+>", "(?:", GATE_RE.pattern)  # ECMA-262 and Python both read (?:
    defs["GateSpec"] = {"anyOf": [{"type": "string", "pattern": gate_pattern, "description": "'<metric path> <op> <number>', e.g. '*/performance/roc_auc >= 0.7'"}, defs["GateSpec"]]}
    defs["PredictionsSpec"] = {"anyOf": [{"type": "string", "description": "Shorthand for {path: <file>}."}, defs["PredictionsSpec"]]}
    defs["MlflowSpec"] = {"anyOf": [{"type": "boolean", "description": "true: log with the defaults; false: do not log."}, defs["MlflowSpec"]]}
    for part in ("train", "test", "reference"):
        field = defs["SplitSpec"]["properties"][part]
        scalar = {"type": ["string", "integer"]}
        defs["SplitSpec"]["properties"][part] = {
            **{k: v for k, v in field.items() if k not in ("items", "type")},
            "anyOf": [scalar, {"type": "array", "items": scalar}],
        }
    return schema


def _check_conditions(implementations: list[tuple[str, str, str, Any]], defs: dict[str, Any]) -> list[dict[str, Any]]:
    """if/then entries typing ``params`` by ``name`` and ``variant``."""
    by_name: dict[str, dict[str, list[Any]]] = {}  # name -> variant -> classes (every modality)
    defaults: dict[str, list[Any]] = {}  # name -> each modality's default implementation
    seen_modality: set[tuple[str, str]] = set()
    for name, modality, variant, cls in implementations:
        by_name.setdefault(name, {}).setdefault(variant, []).append(cls)
        if (name, modality) not in seen_modality:  # implementations list each modality's default first
            seen_modality.add((name, modality))
            defaults.setdefault(name, []).append(cls)
    conditions = []
    no_variant = {"anyOf": [{"not": {"required": ["variant"]}}, {"properties": {"variant": {"type": "null"}}}]}
    for name, variants in sorted(by_name.items()):
        named = {"properties": {"name": {"const": name}}, "required": ["name"]}
        conditions.append({"if": named, "then": {"properties": {"variant": {"enum": [*variants, None]}}}})
        conditions.append({"if": {"allOf": [named, no_variant]}, "then": {"properties": {"params": _params_of(defaults[name], defs)}}})
        for variant, classes in variants.items():
            chosen = {"properties": {"name": {"const": name}, "variant": {"const": variant}}, "required": ["name", "variant"]}
            conditions.append({"if": chosen, "then": {"properties": {"params": _params_of(classes, defs)}}})
    return conditions


def _params_of(classes: list[Any], defs: dict[str, Any]) -> dict[str, Any]:
    refs = list({_embed(defs, f"check.{cls.__module__}.{cls.__qualname__}", cls.Params)["$ref"]: None for cls in classes})
    return {"$ref": refs[0]} if len(refs) == 1 else {"anyOf": [{"$ref": ref} for ref in refs]}


def _embed(defs: dict[str, Any], key: str, params: Any) -> dict[str, str]:
    """Put ``params``' schema (and its own definitions, renamed under ``key``) into ``defs``."""
    if key not in defs:
        schema = copy.deepcopy(params.model_json_schema())
        inner = schema.pop("$defs", {})
        renamed = {f"#/$defs/{name}": f"#/$defs/{key}.{name}" for name in inner}
        for name, sub in inner.items():
            defs[f"{key}.{name}"] = _rename_refs(sub, renamed)
        defs[key] = _rename_refs(schema, renamed)
    return {"$ref": f"#/$defs/{key}"}


def _rename_refs(node: Any, renamed: dict[str, str]) -> Any:
    if isinstance(node, dict):
        return {k: (renamed.get(v, v) if k == "$ref" and isinstance(v, str) else _rename_refs(v, renamed)) for k, v in node.items()}
    if isinstance(node, list):
        return [_rename_refs(v, renamed) for v in node]
    return node
