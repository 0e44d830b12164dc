"""Exception hierarchy: every user mistake is an ``AuditError`` with a message for the suite's author.

The CLI turns any ``AuditError`` into a one-paragraph message and exit code 2, without a
traceback. Anything else is a bug in audit (or in a library it calls) and keeps its traceback.
"""

from __future__ import annotations


class AuditError(Exception):
    """Base class: a problem the user can fix (bad suite, data, model file, missing extra)."""

    exit_code = 2


class ConfigError(AuditError):
    """The suite file is malformed or refers to something that does not exist."""


class DataError(AuditError):
    """A dataset is missing, unreadable or does not match what the suite declares."""


class ModelError(AuditError):
    """A model cannot be trained, loaded or used as declared."""


class CheckError(AuditError):
    """A check cannot run on the given inputs (for example a required dataset is absent)."""


class MissingExtra(AuditError):
    """An optional dependency group is not installed."""

    def __init__(self, package: str, extra: str, purpose: str) -> None:
        super().__init__(
            f"{purpose} needs the package '{package}', which is not installed. "
            f"Install it with: pip install 'audit[{extra}]'"
        )
        self.package = package
        self.extra = extra
