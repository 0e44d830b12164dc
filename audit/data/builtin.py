"""Built-in datasets that ship with the project and work offline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from audit.errors import DataError

SUITES_DATA = Path(__file__).resolve().parents[2] / "suites" / "data"


def load_german_credit() -> tuple[pd.DataFrame, dict[str, Any]]:
    """UCI Statlog German Credit (1,000 rows), decoded, with derived sensitive attributes.

    ``sex`` comes from ``personal_status_sex``, ``age_group`` splits age at 25 (Kamiran &
    Calders, 2009); both derived columns are kept out of the features (their sources stay in).
    Provenance and licence: suites/data/README.md.
    """
    path = SUITES_DATA / "german_credit.csv"
    if not path.is_file():
        raise DataError(f"{path}: the shipped German Credit file is missing; restore it from git")
    frame = pd.read_csv(path)
    frame["sex"] = frame["personal_status_sex"].str.split(":").str[0].str.strip()
    frame["age_group"] = np.where(frame["age"] < 25, "<25", ">=25")
    defaults = {
        "target": "credit_risk",
        "positive_label": "good",
        "sensitive": ["sex", "age_group", "foreign_worker"],
        "intersections": [["sex", "age_group"]],
        "drop": ["sex", "age_group"],
    }
    return frame, defaults
