"""Explanations of tabular models: SHAP by model kind, Captum for torch modules, and helpers.

``shap_tab`` picks the SHAP explainer from ``model.kind``; its ``explain_rows`` is the one tabular
SHAP implementation, used by the ``explain`` check and by the dashboard's what-if (both seeded by
``shap_rng``, so a row gets the same values in either). ``captum_tab`` runs gradient methods on
``model.torch_module``; ``features`` folds encoded-column attributions back onto the original
features; ``agreement`` compares rankings; ``proxies`` measures association with sensitive
attributes. Heavy libraries (shap, torch, captum) are imported inside the functions that use them.
"""
