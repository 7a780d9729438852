"""``ferrofix meter``: captures in, flows out (IPFIX, Parquet or CSV by the
output's extension, a collector with ``--export``, or a summary on the
terminal), with a progress bar on a terminal."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from ._meter import Meter


class _Progress:
    """A one-line progress bar on stderr when it is a terminal."""

    def __init__(self, total: int | None, enabled: bool) -> None:
        self.total, self.enabled = total, enabled and sys.stderr.isatty()
        self.started = self.last = time.monotonic()

    def __call__(self, done: int) -> None:
        now = time.monotonic()
        if not self.enabled or now - self.last < 0.2:
            return
        self.last = now
        rate = done / max(now - self.started, 1e-9) / 1e6
        if self.total:
            frac = min(done / self.total, 1.0)
            bar = "#" * int(frac * 30)
            size = f"{done / 1e6:,.0f}/{self.total / 1e6:,.0f} MB"
            line = f"[{bar:<30}] {frac:6.1%} {size} {rate:,.0f} MB/s"
        else:
            line = f"{done / 1e6:,.0f} MB read, {rate:,.0f} MB/s"
        print(f"\r{line}", end="", file=sys.stderr, flush=True)

    def done(self) -> None:
        if self.enabled:
            print("\r" + " " * 79 + "\r", end="", file=sys.stderr, flush=True)


def _sources(names: list[str]) -> list[Any]:
    return [sys.stdin.buffer if n == "-" else n for n in names]


def run(args: argparse.Namespace) -> int:
    meter = Meter(
        _sources(args.capture),
        idle_timeout=args.idle_timeout,
        active_timeout=args.active_timeout,
        biflow=not args.uniflow,
        max_flows=args.max_flows,
        decapsulate=args.decapsulate,
        tcp_metrics=args.tcp_metrics,
        enterprise=args.enterprise,
        on_bad_records=args.on_bad_records,
        workers=args.workers,
    )
    progress = _Progress(meter.total_bytes, args.progress)
    try:
        if args.export:
            meter.write_ipfix(export=args.export, progress=progress)
        elif args.output:
            _write(meter, Path(args.output), args.format, progress)
        else:
            _summary(meter, args.top)
    finally:
        progress.done()
    s = meter.stats
    reasons = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in s["end_reasons"].items() if v)
    print(
        f"ferrofix meter: {s['packets']:,} packets, {s['metered']:,} in "
        f"{s['records']:,} flow records ({reasons or 'none'}); "
        f"{sum(s['not_ip'].values()):,} not IP",
        file=sys.stderr,
    )
    return 0


def _write(meter: Meter, out: Path, fmt: str | None, progress: _Progress) -> None:
    kind = fmt or {".parquet": "parquet", ".csv": "csv"}.get(out.suffix.lower(), "ipfix")
    if kind == "ipfix":
        meter.write_ipfix(out, progress=progress)
        return
    import pyarrow as pa

    schema = meter.schema
    if kind == "parquet":
        import pyarrow.parquet as pq

        with pq.ParquetWriter(out, schema) as w:
            for b in meter:
                w.write_batch(b)
                progress(meter.bytes_read)
        return
    if kind == "csv":
        import pyarrow.csv as pcsv

        with pcsv.CSVWriter(out, _plain(pa, schema)) as w:
            for b in meter:
                w.write_batch(_cast_plain(pa, b))
                progress(meter.bytes_read)
        return
    raise ValueError(f"--format must be ipfix, parquet or csv, not {kind!r}")


def _plain(pa: Any, schema: Any) -> Any:
    """The schema CSV can hold: dictionary (address) columns as their
    strings, list columns (the RTT histograms) as text."""

    def plain(f: Any) -> Any:
        if pa.types.is_dictionary(f.type):
            return f.with_type(f.type.value_type)
        if pa.types.is_list(f.type):
            return f.with_type(pa.string())
        return f

    return pa.schema([plain(f) for f in schema])


def _cast_plain(pa: Any, batch: Any) -> Any:
    """`batch` in `_plain`'s schema: a list is its values joined by ";"
    (a null list stays empty)."""
    import pyarrow.compute as pc

    columns = []
    for f, col in zip(batch.schema, batch.columns, strict=True):
        if pa.types.is_list(f.type):
            col = pc.binary_join(col.cast(pa.list_(pa.string())), ";")
        elif pa.types.is_dictionary(f.type):
            col = col.cast(f.type.value_type)
        columns.append(col)
    return pa.RecordBatch.from_arrays(columns, schema=_plain(pa, batch.schema))


def _summary(meter: Meter, top: int) -> None:
    df = meter.to_pandas(dtype_backend="numpy")
    if df.empty:
        print("no flows")
        return
    src = _address(df, "source")
    dst = _address(df, "destination")
    sport = df.get("sourceTransportPort")
    dport = df.get("destinationTransportPort")
    total = df.octetDeltaCount + df.get("reverseOctetDeltaCount", 0)
    packets = df.packetDeltaCount + df.get("reversePacketDeltaCount", 0)
    dur = (df.flowEndMilliseconds - df.flowStartMilliseconds).dt.total_seconds()
    print(f"{len(df):,} flow records, {int(packets.sum()):,} packets, {int(total.sum()):,} octets")
    print(f"\ntop {top} by octets (both directions)")
    print(f"{'source':>40} {'destination':>40} {'proto':>5} {'packets':>9} {'octets':>12} {'s':>8}")
    for i in total.sort_values(ascending=False).index[:top]:
        sp = "" if sport is None or sport.isna()[i] else f":{int(sport[i])}"
        dp = "" if dport is None or dport.isna()[i] else f":{int(dport[i])}"
        print(
            f"{src[i] + sp:>40} {dst[i] + dp:>40} {int(df.protocolIdentifier[i]):>5} "
            f"{int(packets[i]):>9,} {int(total[i]):>12,} {dur[i]:>8.1f}"
        )


def _address(df: Any, side: str) -> Any:
    """The side's address as text, IPv4 or IPv6 whichever the row has."""
    import pandas as pd

    parts = [df[c].astype(object) for c in (f"{side}IPv4Address", f"{side}IPv6Address") if c in df]
    out = parts[0] if parts else pd.Series([""] * len(df), index=df.index, dtype=object)
    for p in parts[1:]:
        out = out.where(out.notna(), p)
    return out.fillna("")


def add_parser(sub: Any) -> None:
    c = sub.add_parser(
        "meter",
        help="meter packet captures into flow records",
        description="Meter pcap/pcapng captures (gzip/zstd too; '-' reads standard input, "
        "e.g. tcpdump -w - | ferrofix meter -) into RFC 5103 biflow records.",
    )
    c.add_argument("capture", nargs="+", help="capture files (merged in time order), or -")
    c.add_argument("-o", "--output", help="write flows here: .ipfix (default), .parquet or .csv")
    c.add_argument("--format", choices=["ipfix", "parquet", "csv"], help="override the extension")
    c.add_argument(
        "--export", metavar="URL", help="send IPFIX to udp://HOST:PORT or tcp://HOST:PORT"
    )
    c.add_argument("--idle-timeout", type=float, default=30.0, help="seconds (30)")
    c.add_argument("--active-timeout", type=float, default=300.0, help="seconds (300)")
    c.add_argument("--max-flows", type=int, default=1 << 20, help="flows open at once (1048576)")
    c.add_argument("--uniflow", action="store_true", help="one record per direction")
    c.add_argument("--decapsulate", action="store_true", help="meter inside GRE/VXLAN/IP-in-IP")
    c.add_argument(
        "--no-tcp-metrics",
        dest="tcp_metrics",
        action="store_false",
        help="leave out the TCP-performance metrics (RTT, retransmissions, loss...)",
    )
    c.add_argument(
        "--enterprise",
        type=int,
        default=32473,
        metavar="PEN",
        help="export ferrofix's own IEs under this private enterprise number (32473)",
    )
    c.add_argument("--on-bad-records", choices=["error", "warn", "skip"], default="error")
    c.add_argument("--workers", type=int, default=1, help="threads holding flow tables (1)")
    c.add_argument("--top", type=int, default=10, help="flows in the summary (10)")
    c.add_argument("--no-progress", dest="progress", action="store_false")
    c.set_defaults(func=run)
