"""The ferrofix exception tree (raised by the Rust core through one mapping file,
``src/python/errors.rs``).

Every decode error carries ``offset`` (absolute byte offset in the decompressed
stream) and ``message_index`` (zero-based message number) when they are known.
"""

from __future__ import annotations


class FerrofixError(Exception):
    """Base class of every ferrofix error."""

    offset: int | None = None
    message_index: int | None = None


class DecodeError(FerrofixError, ValueError):
    """Malformed input: a bad message header, set, template or record."""


class MissingTemplateError(DecodeError):
    """A data set arrived before (or without) its template (RFC 7011 §8)."""

    observation_domain_id: int | None = None
    template_id: int | None = None


class LimitExceededError(FerrofixError):
    """A configured limit (templates held, list depth, ...) was reached."""


class SpecError(FerrofixError, ValueError):
    """An IESpec string or spec file could not be parsed, or names no IE."""


class EncodeError(FerrofixError, ValueError):
    """A value, record or template cannot be written as asked: the wrong
    type for its IE, out of range, too long for its field or the message, or
    an unknown template. The message names the column or field."""


class InternalError(FerrofixError):
    """A bug in ferrofix, caught before it could take the interpreter down
    (a Rust panic). The message says which input was being read or written
    and where; the object that raised it is not usable afterwards. Please
    report it with the input."""


class FerrofixWarning(UserWarning):
    """A problem skipped under ``on_bad_records="warn"``."""
