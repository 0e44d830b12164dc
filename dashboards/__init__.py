"""The Streamlit dashboard (``dashboards/app.py``); its pages live in ``dashboards.views``."""
