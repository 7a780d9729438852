"""python-ipfix's ``ipfix.reader``: records of an IPFIX message stream (an
RFC 5655 file, a TCP stream, any binary file object), decoded by ferrofix's
core at C speed, as python-ipfix's value types (naive UTC datetimes,
``ipaddress`` objects, ints, MAC addresses as bytes).

>>> import io
>>> from ferrofix.compat import reader
>>> r = reader.from_stream(io.BytesIO(b""))
>>> list(r.namedict_iterator())
[]

Deliberate differences from python-ipfix 0.9.7, each with its reason:

1. Records are decoded by ferrofix's reader, not by ``MessageBuffer``: the
   IEs are named by the compat model (:mod:`ferrofix.compat.ie`) for
   enterprise IEs, by ferrofix's IANA registry otherwise, and records come
   from every template, data and options (python-ipfix's default too).
2. Malformed input (a set overrunning its message, a zero-length set, a
   bad template) is skipped with a :class:`ferrofix.FerrofixWarning` naming
   what and where, as are data sets that come before their template;
   python-ipfix raised a ``struct`` error, looped for ever (a zero-length
   set, a withdrawn template) or called its unknown-set hook.
3. ``tuple_iterator`` keeps python-ipfix's documented behaviour of leaving
   out records whose template lacks one of the IEs asked for, and warns
   how many it left out (python-ipfix dropped them silently).
4. When a hook is set on ``msg`` (``template_record_hook``,
   ``ignored_data_set_hook``, ``unknown_data_set_hook``,
   ``message_header_hook``: python-ipfix's ipfixstat uses them), records
   are read message by message through ``msg``, in Python, so that the hooks
   see every template and set as python-ipfix's do; otherwise ``msg`` is
   left empty and ``msgcount`` is set once an iterator is exhausted.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from itertools import chain
from typing import IO, Any

from .. import _ferrofix
from .._errors import FerrofixWarning
from . import ie as _ie
from . import message

_KNOWN_PENS = (0, _ie.REVERSE_PEN)


def registry_specs() -> list[str]:
    """IESpecs of the compat model's enterprise IEs, for ferrofix's reader
    and writer (IANA and RFC 5103 reverse IEs they know already)."""
    out = []
    for e in _ie.dump_infomodel():
        if e.pen in _KNOWN_PENS or e.name.startswith("_ipfix_"):
            continue
        out.append(e._ferrofix_spec())
    return out


class MessageStreamReader:
    """Reads records from a stream of IPFIX messages; get one with
    :func:`from_stream`."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.stream = stream
        self.msg = message.MessageBuffer()
        self.msgcount = 0

    def _reader(self) -> Any:
        return _ferrofix._Reader(
            self.stream,
            on_bad_records="warn",
            specs=registry_specs(),
            spec_files=[],
            compat=True,
        )

    def _hooked(self) -> bool:
        m = self.msg
        return any(
            h is not None
            for h in (
                m.template_record_hook,
                m.ignored_data_set_hook,
                m.unknown_data_set_hook,
                m.message_header_hook,
            )
        )

    def _by_message(self, each: Any) -> Iterator[Any]:
        """Read message by message through ``msg`` (hooks see everything)."""
        while True:
            try:
                self.msg.read_message(self.stream)
            except EOFError:
                return
            yield from each(self.msg)
            self.msgcount += 1

    def namedict_iterator(self) -> Iterator[dict[str, Any]]:
        """Iterate the records of the stream as dicts keyed by IE name."""
        if self._hooked():
            return self._by_message(lambda m: m.namedict_iterator())
        r = self._reader()
        r.configure(shape="dict", kind="all")
        return self._counted(r, None)

    def tuple_iterator(self, ielist: Any) -> Iterator[tuple[Any, ...]]:
        """Iterate the records of the stream as tuples of the IEs of
        ``ielist`` (an :class:`~ferrofix.compat.ie.InformationElementList`),
        in that order. Records whose template lacks any of them are left out
        (python-ipfix's behaviour); a warning says how many."""
        if self._hooked():
            return self._by_message(lambda m: m.tuple_iterator(ielist))
        r = self._reader()
        r.configure(
            shape="tuple",
            columns=[e._ferrofix_spec() for e in ielist],
            require_all=True,
            kind="all",
        )
        return self._counted(r, "tuple_iterator")

    def _counted(self, r: Any, what: str | None) -> Iterator[Any]:
        # The batches chained at C speed (no Python frame per record); the
        # end-of-stream work runs when the chain reaches the second part.
        return chain(chain.from_iterable(iter(r.next_batch, None)), self._finish(r, what))

    def _finish(self, r: Any, what: str | None) -> Iterator[Any]:
        """Warn about the problems skipped and the records left out; set
        ``msgcount``. Yields nothing."""
        for msg in r.take_warnings():
            warnings.warn(msg, FerrofixWarning, stacklevel=3)
        h = r.health()
        self.msgcount = int(h["messages"])
        skipped = int(h["records_filtered"])
        if what and skipped:
            warnings.warn(
                f"{what} left out {skipped} records whose template lacks one of the IEs asked for",
                FerrofixWarning,
                stacklevel=3,
            )
        yield from ()


def from_stream(stream: IO[bytes]) -> MessageStreamReader:
    """A :class:`MessageStreamReader` over a binary stream."""
    return MessageStreamReader(stream)
