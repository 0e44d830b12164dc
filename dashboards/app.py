"""The audit dashboard: ``audit dashboard [REPORTS_DIR]`` or ``streamlit run dashboards/app.py``.

It reads the reports folder named by ``AUDIT_REPORTS_DIR`` (default ``reports``) and nothing
else a visitor can choose: runs are picked from a list and identified by their folder, files
are read only as plain files inside that folder (no symlinks at any level), a model or suite
outside a run folder is loaded only after the visitor confirms its path, and no metric stored in
a run is recomputed. Pages: Runs, Run detail, Compare runs,
Fairness explorer, Explanation explorer (``?page=detail&run=<suite>/<run-id>`` links to one).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # a source checkout: make `audit` and `dashboards` importable
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

from dashboards.views import common, compare, detail, explain, fairness, runs  # noqa: E402

PAGES = {
    "Runs": runs.render,
    "Run detail": detail.render,
    "Compare runs": compare.render,
    "Fairness explorer": fairness.render,
    "Explanation explorer": explain.render,
}


def main() -> None:
    # no page_icon: an emoji icon makes streamlit compile its emoji tables (~0.4 s) on the first run
    st.set_page_config(page_title="audit dashboard", layout="wide")
    page, ctx = common.sidebar()
    PAGES[page](ctx)


main()
