"""python-ipfix's ``ipfix.v9pdu``: NetFlow v9 (RFC 3954) packets read from a
stream of concatenated export packets, or one packet, decoded by ferrofix's
NetFlow translation (the collecting issue's decoder): v9 field types become
the IPFIX IEs of the same numbers, options templates keep their v9 scope
layout, and FIRST_SWITCHED/LAST_SWITCHED (SysUpTime-relative) become
absolute ``flowStartMilliseconds``/``flowEndMilliseconds``.

>>> from ferrofix.compat import v9pdu
>>> list(v9pdu.SinglePduBuffer(b"").namedict_iterator())
[]

Deliberate differences from python-ipfix 0.9.7 (whose v9pdu its changelog
calls pre-alpha), each with its reason:

1. v9 options templates are read with their scope length and option length
   in octets (RFC 3954 §6.1); python-ipfix read the IPFIX layout (a scope
   field count) and decoded garbage.
2. Times come out absolute (naive UTC ``flowStartMilliseconds`` /
   ``flowEndMilliseconds``), so :class:`TimeAdapter` passes records
   through; python-ipfix's TimeAdapter referred to an undefined name and
   its ``tuple_iterator`` to an unimported ``reduce``.
3. ``SinglePduBuffer`` reads its one packet and ends (python-ipfix's never
   raised EOFError); ``set_iterator``, ``next_set``, ``save_state`` and
   ``restore_state`` (python-ipfix's internals of its set-by-set decoding)
   are not provided, nor ``active_template_ids`` and the attributes holding
   the state of the packet being decoded (``odid``, ``sequence``,
   ``reccount``, ``export_epoch``, ``sysuptime_ms``, ``templates``,
   ``accepted_tids``, ``template_record_hook`` and the buffer's ``mbuf``,
   ``cur``, ``length``): a whole-stream read does not stop at each packet.
4. Sequence numbers, missing templates and the like are counted by
   ferrofix's transport health, not in ``sequences``.
5. ``record_iterator`` takes python-ipfix's two decode functions over every
   template (what ``namedict_iterator`` and ``tuple_iterator`` ask for);
   any other ``decode_fn`` or ``tmplaccept_fn`` raises NotImplementedError,
   which would need the set-by-set decoding of 3.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from typing import IO, Any

from .message import accept_all_templates
from .reader import MessageStreamReader
from .template import IpfixDecodeError, IpfixEncodeError, Template

__all__ = [
    "NETFLOW9_VERSION",
    "IpfixDecodeError",
    "IpfixEncodeError",
    "PduBuffer",
    "SinglePduBuffer",
    "StreamPduBuffer",
    "TimeAdapter",
    "accept_all_templates",
    "from_stream",
]

NETFLOW9_VERSION = 9


class PduBuffer(MessageStreamReader):
    """Reads the records of NetFlow v9 packets (see :func:`from_stream`)."""

    def __repr__(self) -> str:
        return f"<PDUBuffer messages {self.msgcount}>"

    def record_iterator(
        self,
        decode_fn: Callable[..., Any] = Template.decode_namedict_from,
        tmplaccept_fn: Callable[[Template], bool] = accept_all_templates,
        recinf: Any = None,
    ) -> Iterator[Any]:
        """python-ipfix's low-level record iteration, for its two decode
        functions over every template: ``Template.decode_namedict_from``
        gives :meth:`namedict_iterator`'s dicts, ``Template.decode_tuple_from``
        with ``recinf`` an IE list gives :meth:`tuple_iterator`'s tuples
        (records whose template lacks one of the IEs left out; python-ipfix
        gave them shorter tuples). Other decode or template-accepting
        functions need python-ipfix's set-by-set decoding: NotImplementedError.
        """
        if tmplaccept_fn is accept_all_templates:
            if decode_fn is Template.decode_namedict_from:
                return self.namedict_iterator()
            if decode_fn is Template.decode_tuple_from and recinf is not None:
                return self.tuple_iterator(recinf)
        raise NotImplementedError(
            "v9pdu.record_iterator decodes NetFlow v9 whole-stream: use "
            "Template.decode_namedict_from, or Template.decode_tuple_from with "
            "recinf=an IE list, with every template accepted"
        )


class StreamPduBuffer(PduBuffer):
    """A PduBuffer over a stream of concatenated v9 packets."""


class SinglePduBuffer(PduBuffer):
    """A PduBuffer over the bytes of one v9 packet."""

    def __init__(self, data: bytes) -> None:
        super().__init__(io.BytesIO(data))


def from_stream(stream: IO[bytes], buf_sz: int = 65536) -> StreamPduBuffer:
    """A :class:`StreamPduBuffer` around a binary stream (``buf_sz`` is
    accepted for compatibility and not needed)."""
    return StreamPduBuffer(stream)


class TimeAdapter:
    """python-ipfix's adapter turning SysUpTime-relative times into absolute
    ones; ferrofix's translation does that already, so records pass
    through."""

    def __init__(self, pdubuf: PduBuffer) -> None:
        self.pdubuf = pdubuf

    def namedict_iterator(self) -> Iterator[dict[str, Any]]:
        return self.pdubuf.namedict_iterator()

    def tuple_iterator(self, ielist: Any) -> Iterator[tuple[Any, ...]]:
        return self.pdubuf.tuple_iterator(ielist)
