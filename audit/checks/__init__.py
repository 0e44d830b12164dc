"""Checks: one module per family, each check registered by name in ``audit.registry``."""
