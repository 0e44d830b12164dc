"""Model adapters, training recipes, the artefact cache and safe loading."""
