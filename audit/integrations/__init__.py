"""Optional hand-offs of a finished run to other tools (MLflow); each imports its tool lazily."""
