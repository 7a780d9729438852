"""python-ipfix's ``ipfix.message``: one IPFIX message in a buffer, read
(``read_message``/``from_bytes``, then the record iterators) or written
(``begin_export``, ``add_template``, ``export_ensure_set``, the export
functions, then ``to_bytes``/``write_message``); templates are kept per
(observation domain, template id) from message to message.

>>> from ferrofix.compat import ie, message, template
>>> ie.use_iana_default()
>>> msg = message.MessageBuffer()
>>> msg.begin_export(8304)
>>> msg.add_template(template.for_specs(256, "packetDeltaCount"))
>>> msg.export_ensure_set(256)
>>> msg.export_tuple((27,))
>>> msg
<MessageBuffer domain 8304 length 40 (writing set 256)>

This is the message-level API, decoded and encoded in Python (record by
record, as python-ipfix does); :mod:`ferrofix.compat.reader` and
:mod:`ferrofix.compat.writer` run whole streams through ferrofix's core.

Deliberate differences from python-ipfix 0.9.7, each with its reason:

1. Template withdrawals are applied when read (RFC 7011 §8.1: one template,
   or all of a domain's templates or options templates); python-ipfix
   registered the withdrawal as an empty template and then looped for ever
   on the next data set of that id.
2. ``delete_template`` works and exports the withdrawal (python-ipfix
   raised AttributeError).
3. A set shorter than its header (a zero-length set) or running past the
   message raises IpfixDecodeError; a message may be as short as its
   16-octet header (python-ipfix wanted 20, and looped for ever on a
   zero-length set).
4. ``set_export_time()`` without an argument and the automatic export time
   use the current time without the deprecated ``datetime.utcnow``.
"""

from __future__ import annotations

import io
import struct
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import IO, Any
from warnings import warn

from . import template, types
from .template import IpfixDecodeError, IpfixEncodeError

__all__ = [
    "EndOfMessage",
    "IpfixDecodeError",
    "IpfixEncodeError",
    "MessageBuffer",
    "accept_all_templates",
]

_sethdr_st = struct.Struct("!HH")
_msghdr_st = struct.Struct("!HHLLL")


class EndOfMessage(Exception):
    """A write did not fit the message (its MTU): write the message out,
    begin a new one and export again."""

    def __init__(self, *args: Any) -> None:
        super().__init__(args)


def accept_all_templates(tmpl: template.Template) -> bool:
    """Template filter accepting every template."""
    return True


Hook = Callable[..., Any] | None


class MessageBuffer:
    """A buffer for reading or writing one IPFIX message at a time."""

    def __init__(self) -> None:
        self.mbuf = memoryview(bytearray(65536))
        self.length = 0
        self.sequence: int | None = None
        self.export_epoch: int | None = None
        self.odid = 0
        self.streamid = 0
        self.templates: dict[tuple[int, int], template.Template] = {}
        self.accepted_tids: set[tuple[int, int]] = set()
        self.sequences: dict[tuple[int, int], int] = {}
        self.setlist: list[tuple[int, int, int]] = []
        self.auto_export_time = True
        self.cursetoff = 0
        self.cursetid: int | None = None
        self.curtmpl: template.Template | None = None
        self.last_tuple_iterator_ielist: Any = None
        self.mtu = 65535
        self.template_record_hook: Hook = None
        self.unknown_data_set_hook: Hook = None
        self.ignored_data_set_hook: Hook = None
        self.message_header_hook: Hook = None

    def __repr__(self) -> str:
        if self.cursetid:
            extra = f" (writing set {self.cursetid})"
        elif self.setlist:
            extra = f" (deframed {len(self.setlist)} sets)"
        elif self.length:
            extra = " (writing)"
        else:
            extra = ""
        return f"<MessageBuffer domain {self.odid} length {self.length}{extra}>"

    # -- reading ----------------------------------------------------------

    def get_export_time(self) -> datetime:
        """The export time of the last message read or written (naive UTC)."""
        return types._dec_sec(self.export_epoch or 0)

    def set_export_time(self, dt: datetime | None = None) -> None:
        """Fix the export time of the messages written next (default: now);
        turns the automatic export time off."""
        if dt is None:
            self.export_epoch = int(time.time())
        else:
            self.export_epoch = types._enc_sec(dt)
        self.auto_export_time = False

    def _increment_sequence(self) -> None:
        key = (self.odid, self.streamid)
        self.sequences[key] = self.sequences.get(key, 0) + 1

    def _scan_setlist(self) -> None:
        self.cursetoff = 0
        self.cursetid = None
        self.curtmpl = None
        self.setlist.clear()
        offset = _msghdr_st.size
        while offset < self.length:
            if offset + _sethdr_st.size > self.length:
                raise IpfixDecodeError(f"set header cut at offset {offset} of the message")
            setid, setlen = _sethdr_st.unpack_from(self.mbuf, offset)
            if setlen < _sethdr_st.size:
                raise IpfixDecodeError(
                    f"set {setid} at offset {offset} has length {setlen}, shorter than its header"
                )
            if offset + setlen > self.length:
                raise IpfixDecodeError(f"set {setid} at offset {offset} runs past the message")
            self.setlist.append((offset, setid, setlen))
            offset += setlen

    def read_message(self, stream: IO[bytes]) -> None:
        """Read the next message of ``stream`` into the buffer (EOFError at
        the end of the stream).

        :raises: IpfixDecodeError, EOFError
        """
        head = stream.read(_msghdr_st.size)
        if not head:
            raise EOFError()
        if len(head) < _msghdr_st.size:
            raise IpfixDecodeError(f"Short read in message header ({len(head)})")
        self.mbuf[0 : _msghdr_st.size] = head
        version, length, epoch, sequence, odid = _msghdr_st.unpack_from(self.mbuf, 0)
        if version != 10:
            raise IpfixDecodeError(f"Illegal or unsupported version {version}")
        if length < _msghdr_st.size:
            raise IpfixDecodeError(f"Illegal message length {length}")
        body = stream.read(length - _msghdr_st.size)
        if len(body) < length - _msghdr_st.size:
            raise IpfixDecodeError(
                f"Short read in message body (got {len(body)}, expected {length - _msghdr_st.size})"
            )
        self.length, self.export_epoch, self.sequence, self.odid = length, epoch, sequence, odid
        self.mbuf[_msghdr_st.size : length] = body
        self._scan_setlist()
        if self.message_header_hook:
            self.message_header_hook(self)

    def from_bytes(self, bytes: bytes) -> None:  # python-ipfix names it so
        """Read a message from bytes holding one whole message.

        :raises: IpfixDecodeError
        """
        self.read_message(io.BytesIO(bytes))

    def _template_set(self, setid: int, offset: int, end: int, accept: Any) -> None:
        view = self.mbuf[:end]
        while offset + 4 <= end:
            tmpl, offset = template.decode_template_from(view, offset, setid)
            key = (self.odid, tmpl.tid)
            if tmpl.count() == 0:
                self._withdraw(setid, tmpl.tid)
                continue
            self.templates[key] = tmpl
            if accept(tmpl):
                self.accepted_tids.add(key)
            else:
                self.accepted_tids.discard(key)
            if self.template_record_hook:
                self.template_record_hook(self, tmpl)

    def _withdraw(self, setid: int, tid: int) -> None:
        if tid in (template.TEMPLATE_SET_ID, template.OPTIONS_SET_ID):
            # All of this domain's templates (set 2) or options templates (3).
            options = tid == template.OPTIONS_SET_ID
            gone = [
                k
                for k, t in self.templates.items()
                if k[0] == self.odid and bool(t.scopecount) == options
            ]
        else:
            gone = [(self.odid, tid)]
        for k in gone:
            self.templates.pop(k, None)
            self.accepted_tids.discard(k)

    def record_iterator(
        self,
        decode_fn: Callable[..., Any] = template.Template.decode_namedict_from,
        tmplaccept_fn: Callable[[template.Template], bool] = accept_all_templates,
        recinf: Any = None,
    ) -> Iterator[Any]:
        """Iterate the records of the message read last, decoded by
        ``decode_fn`` (a decode method of Template), of the templates
        ``tmplaccept_fn`` accepts; templates are learned in set order."""
        for offset, setid, setlen in self.setlist:
            end = offset + setlen
            offset += _sethdr_st.size
            if setid in (template.TEMPLATE_SET_ID, template.OPTIONS_SET_ID):
                self._template_set(setid, offset, end, tmplaccept_fn)
            elif setid < 256:
                warn(f"skipping illegal set id {setid}", stacklevel=2)
            else:
                key = (self.odid, setid)
                tmpl = self.templates.get(key)
                if tmpl is None:
                    if self.unknown_data_set_hook:
                        self.unknown_data_set_hook(self, self.mbuf[offset - 4 : end])
                    continue
                if key not in self.accepted_tids:
                    if self.ignored_data_set_hook:
                        self.ignored_data_set_hook(self, tmpl, self.mbuf[offset - 4 : end])
                    continue
                view = self.mbuf[:end]
                step = max(tmpl.minlength, 1)
                while offset + step <= end:
                    rec, offset = decode_fn(tmpl, view, offset, recinf=recinf)
                    yield rec
                    self._increment_sequence()

    def namedict_iterator(self) -> Iterator[dict[str, Any]]:
        """Iterate the message's records as dicts keyed by IE name."""
        # It accepts every template: a later tuple_iterator must choose
        # again (python-ipfix kept its last choice and then raised).
        self.last_tuple_iterator_ielist = None
        return self.record_iterator(decode_fn=template.Template.decode_namedict_from)

    def _recache_accepted_tids(self, accept: Callable[[template.Template], bool]) -> None:
        for tid in self.active_template_ids():
            key = (self.odid, tid)
            if accept(self.templates[key]):
                self.accepted_tids.add(key)
            else:
                self.accepted_tids.discard(key)

    def tuple_iterator(self, ielist: Any) -> Iterator[tuple[Any, ...]]:
        """Iterate the message's records whose template holds every IE of
        ``ielist``, as tuples in ``ielist`` order (the others are left out)."""

        def accept(tmpl: template.Template) -> bool:
            return all(e in tmpl.ies for e in ielist)

        if self.last_tuple_iterator_ielist is None or ielist is not self.last_tuple_iterator_ielist:
            self._recache_accepted_tids(accept)
        self.last_tuple_iterator_ielist = ielist
        return self.record_iterator(
            decode_fn=template.Template.decode_tuple_from, tmplaccept_fn=accept, recinf=ielist
        )

    def active_template_ids(self) -> Iterator[int]:
        """The template ids of the current domain."""
        for odid, tid in list(self.templates):
            if odid == self.odid:
                yield tid

    def template_for_id(self, tid: int) -> template.Template:
        """The template ``tid`` of the current domain (KeyError if none)."""
        return self.templates[(self.odid, tid)]

    # -- writing ----------------------------------------------------------

    def to_bytes(self) -> bytes:
        """The message written so far, its header completed (length, export
        time, sequence number, domain)."""
        self._export_close_set()
        if self.auto_export_time:
            self.export_epoch = int(datetime.now(UTC).timestamp())
        _msghdr_st.pack_into(
            self.mbuf, 0, 10, self.length, self.export_epoch or 0, self.sequence or 0, self.odid
        )
        return self.mbuf[0 : self.length].tobytes()

    def write_message(self, stream: IO[bytes]) -> None:
        """Write the message to a stream (see :meth:`to_bytes`)."""
        stream.write(self.to_bytes())

    def add_template(self, tmpl: template.Template, export: bool = True) -> None:
        """Make a template available for export, and export it unless
        ``export`` is False.

        :raises: EndOfMessage
        """
        self.templates[(self.odid, tmpl.tid)] = tmpl
        if export:
            self.export_template(tmpl.tid)
        if self.template_record_hook:
            self.template_record_hook(self, tmpl)

    def delete_template(self, tid: int, export: bool = True) -> None:
        """Forget template ``tid`` and export its withdrawal unless
        ``export`` is False.

        :raises: EndOfMessage, KeyError
        """
        setid = self.templates[(self.odid, tid)].native_setid()
        del self.templates[(self.odid, tid)]
        if export:
            self.export_template_withdrawal(setid, tid)

    def begin_export(self, odid: int | None = None) -> None:
        """Start a new message (templates are kept); ``odid`` switches the
        observation domain.

        :raises: IpfixEncodeError
        """
        self.setlist.clear()
        if odid:
            self.odid = odid
        self.sequence = self.sequences.setdefault((self.odid, self.streamid), 0)
        self.length = _msghdr_st.size
        self.cursetoff = self.length
        self.mbuf[0 : _msghdr_st.size] = bytes(_msghdr_st.size)
        if self.mtu <= self.length:
            raise IpfixEncodeError(f"MTU too small: {self.mtu}")
        self.cursetid = None

    def export_new_set(self, setid: int) -> None:
        """Start a new set (see :meth:`export_ensure_set`).

        :raises: IpfixEncodeError, EndOfMessage
        """
        self._export_close_set()
        tmpl = None
        if setid >= 256:
            tmpl = self.templates.get((self.odid, setid))
            if tmpl is None:
                raise IpfixEncodeError(f"can't start set without template id {setid}")
            if self.length + _sethdr_st.size + tmpl.minlength > self.mtu:
                raise EndOfMessage()
        elif self.length + _sethdr_st.size > self.mtu:
            raise EndOfMessage()
        self.cursetoff = self.length
        self.cursetid = setid
        self.curtmpl = tmpl
        _sethdr_st.pack_into(self.mbuf, self.length, setid, 0)
        self.length += _sethdr_st.size

    def export_ensure_set(self, setid: int) -> None:
        """Make ``setid`` the current set, starting a new one if needed.

        :raises: IpfixEncodeError, EndOfMessage
        """
        if self.cursetid != setid:
            self.export_new_set(setid)

    def export_needs_flush(self) -> bool:
        """Whether anything was written since :meth:`begin_export`."""
        return self.length > _msghdr_st.size + _sethdr_st.size

    def _export_close_set(self) -> None:
        if self.cursetid:
            _sethdr_st.pack_into(
                self.mbuf, self.cursetoff, self.cursetid, self.length - self.cursetoff
            )
            self.cursetid = None

    def export_template(self, tid: int) -> None:
        """Export template ``tid`` (added before).

        :raises: EndOfMessage, KeyError
        """
        tmpl = self.templates[(self.odid, tid)]
        self.export_ensure_set(tmpl.native_setid())
        if self.length + tmpl.enclength > self.mtu:
            raise EndOfMessage()
        self.length = tmpl.encode_template_to(self.mbuf, self.length, tmpl.native_setid())

    def export_template_withdrawal(self, setid: int, tid: int) -> None:
        """Export the withdrawal of template ``tid`` (in set ``setid``).

        :raises: EndOfMessage
        """
        self.export_ensure_set(setid)
        if self.length + template.withdrawal_length(setid) > self.mtu:
            raise EndOfMessage()
        self.length = template.encode_withdrawal_to(self.mbuf, self.length, setid, tid)

    _export_template_withdrawal = export_template_withdrawal

    def export_record(
        self,
        rec: Any,
        encode_fn: Callable[..., int] = template.Template.encode_namedict_to,
        recinf: Any = None,
    ) -> None:
        """Export a record with the current set's template and ``encode_fn``
        (an encode method of Template).

        :raises: EndOfMessage, IpfixEncodeError
        """
        if self.curtmpl is None:
            raise IpfixEncodeError("no data set to export the record into")
        saved = self.length
        try:
            self.length = encode_fn(self.curtmpl, self.mbuf[: self.mtu], self.length, rec, recinf)
        except struct.error:
            self.length = saved
            raise EndOfMessage() from None
        except BaseException:
            self.length = saved
            raise
        self._increment_sequence()

    def export_namedict(self, rec: dict[str, Any]) -> None:
        """Export a record given as a dict keyed by IE name (keys not in the
        template are ignored).

        :raises: EndOfMessage
        """
        self.export_record(rec, template.Template.encode_namedict_to)

    def export_tuple(self, rec: Any) -> None:
        """Export a record given as a tuple in template order.

        :raises: EndOfMessage
        """
        self.export_record(rec, template.Template.encode_tuple_to)
