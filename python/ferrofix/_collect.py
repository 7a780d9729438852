"""Live collection of IPFIX and NetFlow v9/v5 over UDP and IPFIX over TCP."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from . import _ferrofix
from ._model import default_spec_files

#: The IEs a collector keeps when ``columns`` is not given: the flow key,
#: counters and times most exporters send (softflowd, pmacct, routers).
DEFAULT_COLUMNS = [
    "sourceIPv4Address",
    "destinationIPv4Address",
    "sourceIPv6Address",
    "destinationIPv6Address",
    "sourceTransportPort",
    "destinationTransportPort",
    "protocolIdentifier",
    "tcpControlBits",
    "ipClassOfService",
    "ingressInterface",
    "egressInterface",
    "packetDeltaCount",
    "octetDeltaCount",
    "flowStartMilliseconds",
    "flowEndMilliseconds",
    "flowStartSeconds",
    "flowEndSeconds",
]


@dataclass(frozen=True)
class CollectorStatus:
    """Counters of a running collector."""

    #: UDP datagrams and TCP messages of flow export received.
    received: int
    #: Their bytes.
    bytes: int
    #: UDP datagrams that were not flow export (dropped).
    other_datagrams: int
    #: TCP connections accepted.
    connections: int
    #: Records decoded into batches so far.
    records: int


def _addresses(spec: str | Sequence[str] | None) -> list[str]:
    if spec is None:
        return []
    return [spec] if isinstance(spec, str) else list(spec)


class Collector:
    """Listeners decoding what exporters send into Arrow batches.

    ``udp`` and ``tcp`` are addresses to listen on (``":4739"`` for every
    IPv4 address, ``"[::]:4739"`` for IPv6, ``"127.0.0.1:0"`` for a free
    port, see :attr:`addresses`). Each exporter (address and port, and the
    collector's address and port) is its own transport session (RFC 7011
    §8): its templates, NetFlow translation and sequence accounting. Data
    sets that come before their template over UDP are held (bounded) and
    decoded when it comes. Every batch has the IEs ``columns`` plus
    ``exporterIPv4Address``/``exporterIPv6Address`` and
    ``exporterTransportPort``. A UDP template not sent again for
    ``template_lifetime`` seconds (``None``: never) expires, measured in the
    exporter's export time or, with ``template_clock="wall"``, by this
    machine's clock.

    Iterating yields a batch (an object implementing ``__arrow_c_array__``;
    ``pyarrow.record_batch(b)`` takes it without a copy) every
    ``batch_size`` records, or the records so far after ``interval``
    seconds without new data. :meth:`stop` (from any thread) ends the
    iteration once what was received is out.
    """

    def __init__(
        self,
        udp: str | Sequence[str] | None = None,
        tcp: str | Sequence[str] | None = None,
        *,
        columns: Sequence[str] | None = None,
        batch_size: int = 65536,
        interval: float = 1.0,
        addresses: str = "string",
        on_bad_records: str = "skip",
        specs: Sequence[str] | None = None,
        queue: int = 8192,
        recv_buffer: int = 32 << 20,
        template_lifetime: int | None = 1800,
        template_clock: str = "export",
    ) -> None:
        self._s = _ferrofix._Scanner.listen(
            _addresses(udp),
            _addresses(tcp),
            list(columns or DEFAULT_COLUMNS),
            batch_size=batch_size,
            interval=interval,
            addresses=addresses,
            on_bad_records=on_bad_records,
            specs=list(specs or []),
            spec_files=default_spec_files(),
            queue=queue,
            recv_buffer=recv_buffer,
            template_lifetime=template_lifetime,
            template_clock=template_clock,
        )
        self.records = 0

    @property
    def addresses(self) -> list[tuple[str, str, int]]:
        """What is listened on: (``"udp"``/``"tcp"``, host, port)."""
        return self._s.local_addresses()

    def stop(self) -> None:
        """Stop listening; iteration ends after what was received."""
        self._s.stop()

    def status(self) -> CollectorStatus:
        """The counters so far."""
        c = self._s.live_counters() or (0, 0, 0, 0)
        return CollectorStatus(*c, records=self.records)

    @property
    def health(self) -> Any:
        """Transport health: per exporter and domain (see ``TransportHealth``)."""
        from ._reader import TransportHealth

        return TransportHealth.from_raw(self._s.health())

    def batches(
        self, *, duration: float | None = None, max_records: int | None = None
    ) -> Iterator[Any]:
        """The batches, until stopped, ``duration`` seconds have passed, or
        ``max_records`` records have come (the batch that reaches it is
        whole: more records may come out)."""
        end = None if duration is None else time.monotonic() + duration
        while True:
            b = self._s.next_batch()
            if b is not None:
                self.records += b.num_rows
                yield b
            elif self._s.finished():
                return
            if (end is not None and time.monotonic() >= end) or (
                max_records is not None and self.records >= max_records
            ):
                self.stop()

    __iter__ = batches

    def __enter__(self) -> Collector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def collect(
    udp: str | Sequence[str] | None = None,
    tcp: str | Sequence[str] | None = None,
    *,
    duration: float | None = None,
    max_records: int | None = None,
    **options: Any,
) -> Iterator[Any]:
    """Listen and yield Arrow batches (see :class:`Collector` for the
    options) until ``duration`` seconds have passed or ``max_records``
    records have come (or forever: stop with Ctrl-C or by closing the
    generator).

    >>> for batch in ff.collect(udp=":4739", duration=60):   # doctest: +SKIP
    ...     df = pyarrow.record_batch(batch).to_pandas()
    """
    c = Collector(udp, tcp, **options)
    try:
        yield from c.batches(duration=duration, max_records=max_records)
    finally:
        c.stop()
