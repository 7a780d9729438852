"""The ``flows`` DataFrame accessor: the everyday derived columns and
filters of flow analysis, on any DataFrame whose columns are IPFIX IE names
(what :func:`ferrofix.meter` and :func:`ferrofix.read_ipfix` return).

>>> import ferrofix as ff
>>> flows = ff.meter("trace.pcap")                       # doctest: +SKIP
>>> flows.flows.duration().describe()                    # doctest: +SKIP
>>> clean = flows.flows.drop_lossy().flows.drop_incomplete()  # doctest: +SKIP
>>> flows.flows.with_networks(ipv4=24, ipv6=48)          # doctest: +SKIP

Registration: ``df.flows`` exists once this module is imported. ferrofix
imports it the first time it builds a DataFrame (:func:`~ferrofix.read_ipfix`,
:func:`~ferrofix.meter`, ``to_pandas()``), so frames from ferrofix have it
without an import; a DataFrame built otherwise (loaded from Parquet, made by
hand) needs ``import ferrofix.flows`` first. ``import ferrofix`` alone never
imports pandas. Plots (``plot_*``) need matplotlib and are drawn by
:mod:`ferrofix.plot`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["PRECISIONS", "FlowsAccessor"]

#: The flowStart/flowEnd precisions, finest first, with their unit.
PRECISIONS = (
    ("Nanoseconds", "ns"),
    ("Microseconds", "us"),
    ("Milliseconds", "ms"),
    ("Seconds", "s"),
)

#: tcpMeasurementQuality bits (docs/tcp-metrics.md, "Measurement quality").
QUALITY_HANDSHAKE = 0x01
QUALITY_CAPTURE_GAP = 0x10
QUALITY_MIDSTREAM = 0x20
TCP_SYN = 0x02
END_OF_FLOW_DETECTED = 3

Side = Literal["source", "destination"]


def reverse_name(name: str) -> str:
    """RFC 5103 §6.1: the reverse IE's name is ``reverse`` + the name with
    its first letter capitalised (``octetDeltaCount`` ->
    ``reverseOctetDeltaCount``)."""
    return "reverse" + name[:1].upper() + name[1:]


def _utc(s: pd.Series, unit: str) -> pd.Series:
    """A time column as ``datetime64[ns, UTC]`` (Arrow timestamps, numpy
    datetimes, naive ones taken as UTC, or integers counted in ``unit``
    since the epoch)."""
    if pd.api.types.is_integer_dtype(s.dtype):
        return pd.to_datetime(s, unit=unit, utc=True).astype("datetime64[ns, UTC]")
    out = pd.to_datetime(s, utc=True)
    return out.astype("datetime64[ns, UTC]")


def _floats(s: pd.Series) -> np.ndarray[Any, np.dtype[np.float64]]:
    """A numeric column as float64 with NaN for nulls."""
    return np.asarray(s.to_numpy(dtype="float64", na_value=np.nan), dtype=np.float64)


def _ints(s: pd.Series) -> np.ndarray[Any, np.dtype[np.int64]]:
    """An integer column as int64 with 0 for nulls."""
    return np.asarray(s.fillna(0).to_numpy(dtype="int64"), dtype=np.int64)


class FlowsAccessor:
    """``df.flows``: flow-record helpers for a DataFrame of IE-named columns.

    Every method returns a new Series or DataFrame indexed like the frame
    (the frame is never changed), and names a column it needs but cannot
    find in a ``KeyError``."""

    def __init__(self, df: pd.DataFrame) -> None:
        self._df = df

    # -- time ---------------------------------------------------------------

    def _time(self, which: Literal["Start", "End"]) -> pd.Series:
        df = self._df
        out: pd.Series | None = None
        for precision, unit in PRECISIONS:
            col = f"flow{which}{precision}"
            if col in df.columns:
                t = _utc(df[col], unit)
                out = t if out is None else out.fillna(t)
        if out is None:
            names = ", ".join(f"flow{which}{p}" for p, _ in PRECISIONS)
            raise KeyError(f"the frame has no flow{which} column (one of {names})")
        return out.rename(f"flow{which}")

    def start(self) -> pd.Series:
        """The record's start as ``datetime64[ns, UTC]``: per row, the
        finest of ``flowStartNanoseconds``, ``flowStartMicroseconds``,
        ``flowStartMilliseconds``, ``flowStartSeconds`` that the frame has and
        the row holds (the meter leaves the micro- and nanosecond ones null
        for flows from 2036 on)."""
        return self._time("Start")

    def end(self) -> pd.Series:
        """The record's end, as :meth:`start` with the ``flowEnd*`` columns."""
        return self._time("End")

    def duration(self) -> pd.Series:
        """``end() - start()`` as a Timedelta Series (``timedelta64[ns]``)
        named ``duration``: the time from the record's first to its last
        packet, both directions; 0 for a single packet, NaT where a time
        is null."""
        return (self.end() - self.start()).rename("duration")

    # -- networks -----------------------------------------------------------

    def network(self, side: Side = "source", *, ipv4: int = 24, ipv6: int = 64) -> pd.Series:
        """The ``side`` address's network: the address with every bit past
        the first ``ipv4`` (IPv4) or ``ipv6`` (IPv6) bits cleared, written
        ``address/prefix`` (``10.1.2.0/24``, ``2001:db8:1::/48``), as a
        categorical whose categories are the distinct networks, IPv4 ones
        first, each family in address order; null where the row has no
        address of that side. Reads ``{side}IPv4Address`` and
        ``{side}IPv6Address`` (either or both; a row holds one), as text or
        as integers (``addresses="int"``). Vectorised: numpy/pyarrow on the
        addresses, one formatting per distinct network."""
        from . import _netaddr  # pyarrow: imported when first asked for

        if side not in ("source", "destination"):
            raise ValueError(f"side is 'source' or 'destination', not {side!r}")
        df = self._df
        v4, v6 = f"{side}IPv4Address", f"{side}IPv6Address"
        if v4 not in df.columns and v6 not in df.columns:
            raise KeyError(f"the frame has neither {v4} nor {v6}")
        names: list[str] = []
        codes = np.full(len(df), -1, dtype=np.intp)
        if v4 in df.columns:
            addr, valid = _netaddr.ipv4_ints(df[v4])
            names, codes = _netaddr.ipv4_networks(addr, valid, ipv4)
        if v6 in df.columns:
            hi, lo, valid6 = _netaddr.ipv6_ints(df[v6])
            names6, codes6 = _netaddr.ipv6_networks(hi, lo, valid6, ipv6)
            fill = (codes < 0) & (codes6 >= 0)
            codes[fill] = codes6[fill] + len(names)
            names = names + names6
        cat = pd.Categorical.from_codes(codes, categories=pd.Index(names, dtype=object))
        return pd.Series(cat, index=df.index, name=f"{side}Network")

    def with_networks(self, *, ipv4: int = 24, ipv6: int = 64) -> pd.DataFrame:
        """The frame with ``sourceNetwork`` and ``destinationNetwork``
        columns added (see :meth:`network`)."""
        return self._df.assign(
            sourceNetwork=self.network("source", ipv4=ipv4, ipv6=ipv6),
            destinationNetwork=self.network("destination", ipv4=ipv4, ipv6=ipv6),
        )

    # -- quality filters ----------------------------------------------------

    def _either(self, name: str) -> pd.Series | None:
        """Whether ``name`` or its reverse is above 0 (nulls: no), or None
        when the frame has neither column."""
        df = self._df
        found = [c for c in (name, reverse_name(name)) if c in df.columns]
        if not found:
            return None
        hit = np.zeros(len(df), dtype=bool)
        for c in found:
            hit |= _ints(df[c]) > 0
        return pd.Series(hit, index=df.index)

    def _uniflows(self) -> bool:
        """Whether the frame holds uniflow records: per-direction counters
        (``octetDeltaCount`` or ``packetDeltaCount``) without any RFC 5103
        ``reverse*`` column beside them."""
        cols = set(self._df.columns)
        return bool(cols & {"octetDeltaCount", "packetDeltaCount"}) and not self._reverse_of()

    def _reverse_of(self) -> dict[str, str]:
        """The frame's RFC 5103 reverse columns, each to its forward one."""
        cols = list(self._df.columns)
        present = set(cols)
        return {reverse_name(c): c for c in cols if reverse_name(c) in present}

    def lossy(self) -> pd.Series:
        """Whether each record saw observation loss, a boolean Series: a TCP
        flow whose capture missed some of it, so its TCP metrics cannot be
        trusted. True where ``tcpMeasurementQuality`` has bit 0x10 (a
        capture gap), or where ``tcpSequenceLossCount`` (octets never seen)
        or ``tcpAckedUnseenCount`` (ACKs of data the capture did not see)
        is above 0 in either direction. Null values (non-TCP flows) count
        as no loss. Uses whichever of these columns the frame has (at least
        one is needed: meter with ``tcp_metrics=True``, the default)."""
        df = self._df
        parts = [self._either("tcpSequenceLossCount"), self._either("tcpAckedUnseenCount")]
        if "tcpMeasurementQuality" in df.columns:
            q = _ints(df["tcpMeasurementQuality"])
            parts.append(pd.Series((q & QUALITY_CAPTURE_GAP) != 0, index=df.index))
        found = [p for p in parts if p is not None]
        if not found:
            raise KeyError(
                "the frame has no loss columns (tcpMeasurementQuality, tcpSequenceLossCount, "
                "tcpAckedUnseenCount): meter with tcp_metrics=True"
            )
        out = found[0]
        for p in found[1:]:
            out = out | p
        return out.rename("lossy")

    def drop_lossy(self) -> pd.DataFrame:
        """The frame without the rows :meth:`lossy` marks (QoF's
        ``drop_lossy``: flows with observation loss)."""
        return self._df[~self.lossy().to_numpy()]

    def complete(self) -> pd.Series:
        """Whether each record is a whole TCP connection, a boolean Series:
        its handshake was seen and it ended by the connection's own end,
        ``flowEndReason`` 3 (end of flow detected). The meter gives 3 to a
        TCP RST; to FINs seen in both directions, each acknowledged by the
        other side (the record ends at that ACK); and to a flow whose FINs
        were both seen but not both acknowledged, when it ends at its idle
        timeout, at the end of the input, or when a new SYN reuses its key
        (``docs/meter.md``, "Records and end reasons"). The handshake is
        ``tcpMeasurementQuality`` bit 0x01 (SYN and SYN/ACK seen) where
        the frame has that column, else a SYN in ``initialTCPFlags`` and
        in ``reverseInitialTCPFlags`` (QoF's ``drop_incomplete``). Records
        of other protocols are not complete.

        Needs biflow records: a uniflow record (``biflow=False``) holds one
        direction, so it never holds both the SYN and the SYN/ACK nor both
        FINs. A frame with ``octetDeltaCount`` or ``packetDeltaCount`` but
        no ``reverse*`` column is taken as uniflows and raises
        ``ValueError``."""
        df = self._df
        if self._uniflows():
            raise ValueError(
                "complete() needs biflow records (reverse* columns): this frame has "
                "octetDeltaCount/packetDeltaCount but no reverse columns, so each record is "
                "one direction (a biflow=False meter), which never holds a whole handshake "
                "or both FINs; meter with biflow=True (the default)"
            )
        if "flowEndReason" not in df.columns:
            raise KeyError("the frame has no flowEndReason column")
        ended = _ints(df["flowEndReason"]) == END_OF_FLOW_DETECTED
        if "tcpMeasurementQuality" in df.columns:
            shook = (_ints(df["tcpMeasurementQuality"]) & QUALITY_HANDSHAKE) != 0
        elif {"initialTCPFlags", "reverseInitialTCPFlags"} <= set(df.columns):
            shook = ((_ints(df["initialTCPFlags"]) & TCP_SYN) != 0) & (
                (_ints(df["reverseInitialTCPFlags"]) & TCP_SYN) != 0
            )
        else:
            raise KeyError(
                "the frame has neither tcpMeasurementQuality nor "
                "initialTCPFlags and reverseInitialTCPFlags"
            )
        return pd.Series(ended & shook, index=df.index, name="complete")

    def drop_incomplete(self) -> pd.DataFrame:
        """The frame with only the rows :meth:`complete` marks."""
        return self._df[self.complete().to_numpy()]

    # -- rates --------------------------------------------------------------

    def rates(self, *, min_duration: float | str | pd.Timedelta = 1.0) -> pd.DataFrame:
        """Per-direction rates over the record's :meth:`duration` in seconds,
        as float64 columns: ``octetsPerSecond`` (``octetDeltaCount /
        duration``), ``packetsPerSecond`` (``packetDeltaCount``) and, for
        biflows, ``reverseOctetsPerSecond`` and ``reversePacketsPerSecond``
        (the reverse counts over the same duration: a record has one start
        and end for both directions). Columns whose count the frame lacks
        are left out.

        What is divided: the duration runs from the record's first packet
        to its last, so n packets span n - 1 gaps while the count holds all
        n packets' octets; the rate overstates a steady one by up to n / (n
        - 1) (twice for 2 packets), and over a short span it is set by a few
        packets' timing, not by the path (a 2-packet record 14 µs long reads
        22.9 MB/s). So a record shorter than ``min_duration`` (seconds, or
        anything ``pandas.Timedelta`` takes: ``"100ms"``; default 1 second)
        gets NaN rates, as does one of duration 0 (a single packet:
        ``min_duration=0`` keeps every other), a null time or a null
        count."""
        if isinstance(min_duration, bool):
            raise TypeError(f"min_duration is seconds or a Timedelta, not {min_duration!r}")
        if isinstance(min_duration, int | float):
            least = float(min_duration)
        else:
            least = pd.Timedelta(min_duration).total_seconds()
        if not least >= 0:
            raise ValueError(f"min_duration is 0 or more, not {min_duration!r}")
        df = self._df
        seconds = _floats(self.duration().dt.total_seconds())
        seconds = np.where((seconds > 0) & (seconds >= least), seconds, np.nan)
        out: dict[str, Any] = {}
        for count, rate in (("octetDeltaCount", "octets"), ("packetDeltaCount", "packets")):
            for name, col in ((rate, count), (reverse_name(rate), reverse_name(count))):
                if col in df.columns:
                    out[f"{name}PerSecond"] = _floats(df[col]) / seconds
        if not out:
            raise KeyError("the frame has no octetDeltaCount or packetDeltaCount column")
        order = ["octets", "packets", "reverseOctets", "reversePackets"]
        cols = [f"{n}PerSecond" for n in order if f"{n}PerSecond" in out]
        return pd.DataFrame({c: out[c] for c in cols}, index=df.index)

    # -- directions ---------------------------------------------------------

    def _roles(self) -> tuple[list[str], dict[str, str], dict[str, str]]:
        """The frame's columns as (forward names, the reverse view's
        renaming, the swapped key columns): a column ``x`` whose
        ``reverseX`` exists is per direction; a ``source*``/``destination*``
        pair without reverse columns is the flow key, swapped in the
        reverse view; every other column belongs to the record."""
        cols = list(self._df.columns)
        present = set(cols)
        reverse_of = self._reverse_of()
        forward = [c for c in cols if c not in reverse_of]
        swap: dict[str, str] = {}
        for c in forward:
            for a, b in (("source", "destination"), ("destination", "source")):
                if c.startswith(a) and c not in {v for v in reverse_of.values()}:
                    other = b + c[len(a) :]
                    if other in present and other not in reverse_of.values():
                        swap[c] = other
        return forward, reverse_of, swap

    def forward(self) -> pd.DataFrame:
        """The forward direction alone: every column but the RFC 5103
        reverse ones (the flow's initiator to its responder)."""
        forward, _, _ = self._roles()
        return self._df[forward]

    def _need_reverse(self, what: str) -> None:
        if not self._reverse_of():
            raise ValueError(
                f"{what} needs biflow records: the frame has no RFC 5103 reverse* column "
                "(uniflows, as a biflow=False meter writes: each record is one direction "
                "already, its source the sender)"
            )

    def reverse(self) -> pd.DataFrame:
        """The reverse direction alone, named as a forward record: each
        reverse column under its forward name (``reverseOctetDeltaCount``
        as ``octetDeltaCount``), the flow key's source and destination
        columns that have no reverse form (addresses, ports) swapped, and
        the record's other columns (``flowId``, times, ``flowEndReason``,
        per-connection TCP fields) as they are. A frame without reverse
        columns (uniflows) raises ``ValueError``: it has no reverse
        direction to show."""
        self._need_reverse("reverse()")
        forward, reverse_of, swap = self._roles()
        df = self._df
        by_forward = {v: k for k, v in reverse_of.items()}
        data = {}
        for c in forward:
            src = by_forward.get(c, swap.get(c, c))
            data[c] = df[src]
        return pd.DataFrame(data, index=df.index, columns=forward)

    def stacked(self, *, drop_empty: bool = False) -> pd.DataFrame:
        """One direction per row: :meth:`forward` and :meth:`reverse` one
        above the other, each flow's two rows together (forward first), the
        original index kept (so each label appears twice) and a categorical
        ``direction`` column (``"forward"``, ``"reverse"``) first.
        ``drop_empty=True`` leaves out directions whose ``packetDeltaCount``
        is 0 (a flow that got no answer).

        Uniflows (a frame without any ``reverse*`` column, as
        ``biflow=False`` meters): each record is one direction already, its
        source the sender, so the rows are the records as they are, once
        each, all ``"forward"`` (the two directions of a connection are two
        records, found by swapping the key)."""
        if not self._reverse_of():
            out = self._df.copy()
            out.insert(
                0,
                "direction",
                pd.Categorical.from_codes(
                    np.zeros(len(out), dtype=np.int8), categories=["forward", "reverse"]
                ),
            )
        else:
            fwd, rev = self.forward(), self.reverse()
            both = pd.concat([fwd, rev])
            n = len(fwd)
            order = np.argsort(np.concatenate([np.arange(n), np.arange(n)]), kind="stable")
            direction = pd.Categorical.from_codes(
                np.repeat(np.array([0, 1]), n), categories=["forward", "reverse"]
            )
            both.insert(0, "direction", direction)
            out = both.iloc[order]
        if drop_empty and "packetDeltaCount" in out.columns:
            out = out[_ints(out["packetDeltaCount"]) > 0]
        return out

    def joined(self) -> pd.DataFrame:
        """Both directions side by side under two-level columns
        ``(direction, IE)``: ``df.flows.joined()["reverse"]`` is
        :meth:`reverse`, ``["forward"]`` is :meth:`forward`; select one IE
        of both with ``.xs("octetDeltaCount", axis=1, level=1)``. Needs
        biflows, as :meth:`reverse` does."""
        self._need_reverse("joined()")
        return pd.concat({"forward": self.forward(), "reverse": self.reverse()}, axis=1)

    # -- plots --------------------------------------------------------------

    def plot_ecdf(self, column: str, **kwargs: Any) -> Axes:
        """:func:`ferrofix.plot.ecdf` of one column."""
        from . import plot

        return plot.ecdf(self._df[column], **kwargs)

    def plot_density(self, column: str, **kwargs: Any) -> Axes:
        """:func:`ferrofix.plot.density` of one column."""
        from . import plot

        return plot.density(self._df[column], **kwargs)

    def plot_counts(self, freq: str = "1min", **kwargs: Any) -> Axes:
        """:func:`ferrofix.plot.counts_over_time` of the frame."""
        from . import plot

        return plot.counts_over_time(self._df, freq, **kwargs)

    def plot_top(self, column: str, n: int = 10, **kwargs: Any) -> Axes:
        """:func:`ferrofix.plot.top_n` of one column."""
        from . import plot

        return plot.top_n(self._df[column], n, **kwargs)


pd.api.extensions.register_dataframe_accessor("flows")(FlowsAccessor)
