"""One exception hierarchy for all of Vigil.

Each error carries the HTTP status the API answers with and the exit code the CLI ends with, so
the edges (``vigil.web`` and ``vigil.cli``) translate errors once instead of every caller guessing.
"""

from __future__ import annotations

from typing import Any


class VigilError(Exception):
    """Base of every error Vigil raises on purpose. ``str(err)`` is meant for the user."""

    http_status: int = 500
    exit_code: int = 1

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        """The JSON body the API returns for this error."""
        body: dict[str, Any] = {"error": type(self).__name__, "message": self.message}
        if self.details:
            body["details"] = {k: v for k, v in self.details.items() if v is not None}
        return body


class InputError(VigilError):
    """The caller gave us something malformed: a file, a request body, an argument."""

    http_status = 400
    exit_code = 2


class DataError(InputError):
    """A data file is malformed. Names the file, row and column so a user can fix it by hand."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        row: int | None = None,
        column: str | None = None,
        expected: str | None = None,
    ) -> None:
        where = []
        if file is not None:
            where.append(str(file))
        if row is not None:
            where.append(f"row {row}")
        if column is not None:
            where.append(f"column {column!r}")
        text = message
        if expected is not None:
            text = f"{text}; expected {expected}"
        if where:
            text = f"{', '.join(where)}: {text}"
        super().__init__(text, file=file, row=row, column=column, expected=expected)
        self.file = file
        self.row = row
        self.column = column
        self.expected = expected


class SchemaError(DataError):
    """A table does not have the columns or types Vigil's schema requires."""


class ConfigError(VigilError):
    """Settings are missing or invalid. Exit code 78 is EX_CONFIG from sysexits.h."""

    http_status = 500
    exit_code = 78


class AuthenticationError(VigilError):
    """No credentials, or a key that is unknown, revoked or expired."""

    http_status = 401
    exit_code = 4


class PermissionDenied(VigilError):
    """The caller is known but may not do this (role or TLP forbids it)."""

    http_status = 403
    exit_code = 4


class NotFound(VigilError):
    """The thing asked for does not exist, or the caller may not know that it exists."""

    http_status = 404
    exit_code = 3


class Conflict(VigilError):
    """The request clashes with stored state (duplicate name, wrong workflow step)."""

    http_status = 409
    exit_code = 5


class PayloadTooLarge(InputError):
    """A request body or upload is larger than the configured limit."""

    http_status = 413


class UnsupportedMediaType(InputError):
    """The request's content type is not one this endpoint speaks."""

    http_status = 415


class NotAcceptable(InputError):
    """The client asked (Accept header) for a representation we do not produce."""

    http_status = 406


class ExternalServiceError(VigilError):
    """Another system (a TAXII server, a webhook receiver) failed or answered badly."""

    http_status = 502
    exit_code = 6
