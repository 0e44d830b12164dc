"""One module per dashboard page, each with ``render(ctx)``; shared pieces in ``common``."""
