"""Helpers for the text checks: offline TextAttack set-up, perturbations, identity-term sets."""
