"""Sub-commands of ``audit`` that live outside ``audit/cli.py``.

Each module has ``register(subparsers)``, which adds its parser and sets ``func``; modules
import only the standard library at top level so ``audit --help`` stays instant.
"""
