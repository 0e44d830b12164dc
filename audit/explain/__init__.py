"""Explanations of tabular models: SHAP by model kind, Captum for torch modules, and helpers.

``shap_tab`` picks the SHAP explainer from ``model.kind``; ``captum_tab`` runs gradient methods
on ``model.torch_module``; ``features`` folds encoded-column attributions back onto the original
features; ``agreement`` compares rankings; ``proxies`` measures association with sensitive
attributes. Heavy libraries (shap, torch, captum) are imported inside the functions that use them.
"""
