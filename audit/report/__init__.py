"""Renderers: they read ``results.json`` and the run folder only, never a model."""
