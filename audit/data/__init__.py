"""Datasets: loaders, splits and the in-memory ``Dataset`` every check reads."""
