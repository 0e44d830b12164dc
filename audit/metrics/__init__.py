"""Metric computations for the audit toolkit (exact, vectorised over bootstrap replicates)."""
