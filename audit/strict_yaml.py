"""YAML loading for suite files: ``yaml.safe_load`` semantics, but a repeated key is an error.

PyYAML keeps the last of two equal keys in a mapping, so a suite with two ``seed:`` lines runs
with whichever comes last and nobody notices. The loader here reports every repeated key with
both lines, at any nesting level. Merge keys (``<<: *defaults``) still work: keys that a merge
brings in may be overridden by the mapping's own keys, as YAML intends.
"""

from __future__ import annotations

from typing import Any

import yaml

from audit.errors import ConfigError

MERGE_TAG = "tag:yaml.org,2002:merge"


class StrictSafeLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that records repeated mapping keys instead of silently keeping the last."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.duplicates: list[tuple[Any, yaml.Mark, yaml.Mark]] = []  # (key, first mark, repeat mark)
        self._checked: set[int] = set()

    def flatten_mapping(self, node: yaml.MappingNode) -> None:
        # Called on every mapping (and every merged-in mapping) before PyYAML rewrites its
        # ``value`` in place to apply merge keys, so each node is inspected as written.
        self._record_duplicates(node)
        super().flatten_mapping(node)

    def _record_duplicates(self, node: yaml.MappingNode) -> None:
        if id(node) in self._checked:
            return
        self._checked.add(id(node))
        first: dict[Any, yaml.Node] = {}
        for key_node, _ in node.value:
            if key_node.tag == MERGE_TAG or not isinstance(key_node, yaml.ScalarNode):
                continue  # merge keys are allowed to repeat; complex keys are rare and left to PyYAML
            key = self.construct_object(key_node)
            try:
                earlier = first.setdefault(key, key_node)
            except TypeError:  # unhashable: PyYAML reports it itself
                continue
            if earlier is not key_node:
                self.duplicates.append((key, earlier.start_mark, key_node.start_mark))


def _shown(key: Any) -> str:
    text = str(key)
    return f"'{text[:80]}...'" if len(text) > 80 else f"'{text}'"


def load_yaml(text: str, where: str) -> Any:
    """Parse one YAML document; every problem is a ConfigError naming ``where`` and the line."""
    loader = None
    try:
        loader = StrictSafeLoader(text)  # the reader already refuses control characters here
        data = loader.get_single_data()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        pos = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{where}{pos}: invalid YAML: {problem}") from None
    except (ValueError, RecursionError) as exc:  # e.g. a date like 2020-13-45, or absurd nesting
        problem = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise ConfigError(f"{where}: invalid YAML value: {problem}") from None
    finally:
        if loader is not None:
            loader.dispose()
    if loader.duplicates:
        lines = [
            f"{where}:{again.line + 1}:{again.column + 1}: duplicate key {_shown(key)} (first at line {first.line + 1})"
            for key, first, again in sorted(loader.duplicates, key=lambda d: (d[2].line, d[2].column))
        ]
        raise ConfigError("\n".join(lines))
    return data
