"""Pure-Python helpers behind the Streamlit dashboard (``dashboards/app.py``).

They read a reports folder only: discover run folders, load ``results.json`` through
``audit.results.load_results``, shape stored metrics into tables, compare two runs, turn figure
specs into plotly figures, and (for the what-if explorer) reload a run's cached model artefacts
through the same safe loaders as the CLI. None of them recomputes a metric stored in a run.
Streamlit itself is imported only by the app, never here.
"""
