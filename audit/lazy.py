"""Modules imported on first use, so ``audit validate`` and ``audit --help`` stay light.

``from audit.lazy import pandas as pd`` behaves like ``import pandas as pd`` except that pandas is
imported the first time an attribute is read (``pd.DataFrame``, ``pd.api``...). Validation imports
every check module to read its ``Params`` and declared metrics; with this, none of them pulls in
pandas (about 0.35 s) until a check actually runs. Annotations are strings
(``from __future__ import annotations``), so ``pd.DataFrame`` in a signature costs nothing.
"""

from __future__ import annotations

import importlib
import types
from typing import Any


class LazyModule(types.ModuleType):
    """A stand-in that imports the real module on the first attribute access and then caches it."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.__dict__["_lazy_target"] = name

    def __getattr__(self, attr: str) -> Any:  # only called for attributes not yet cached
        module = importlib.import_module(self.__dict__["_lazy_target"])
        value = getattr(module, attr)
        self.__dict__[attr] = value
        return value


pandas: Any = LazyModule("pandas")
