"""Distribution-shift helpers for tabular data: subpopulation conditions, covariate
perturbations and train-vs-test drift statistics (used by the ``shift`` and ``drift`` checks)."""
