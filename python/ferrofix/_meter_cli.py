"""``ferrofix meter``: captures in, flows out (IPFIX, Parquet or CSV by the
output's extension, a collector with ``--export``, or a summary on the
terminal), with a progress bar on a terminal."""

from __future__ import annotations

import argparse
import sys

from . import _cli
from ._meter import Meter

# Neither ``typing`` nor ``pathlib`` nor the table writers
# (:mod:`ferrofix._cli_output`, pyarrow's side) are imported at run time
# for IPFIX out: the command's start (``BENCHMARKS.md``). Type checkers
# take this name as true.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


#: The meter's output formats by extension: IPFIX, or a table format.
EXTENSIONS = {".ipfix": "ipfix", **_cli.EXTENSIONS}


#: A timeout on the command line (what the meter takes).
_SECONDS = _cli.number(float, 0, 1e9, what="a number of seconds")


def run(args: argparse.Namespace) -> int:
    if args.export and args.output:
        raise _cli.UsageError("give -o or --export, not both")
    if args.format and not args.output:
        raise _cli.UsageError("--format needs -o (a file, or - for standard output)")
    if args.template_refresh is not None and not args.export:
        raise _cli.UsageError("--template-refresh goes with --export")
    if args.output:
        kind, compression = _cli.output_format(args.output, args.format, "ipfix", EXTENSIONS)
        if kind == "parquet" and compression:
            raise ValueError(f"{args.output}: Parquet compresses its own columns: name it .parquet")
        _cli.refuse_overwriting_inputs(args.output, args.capture)
    ipfix_out = args.export or (args.output and kind == "ipfix")
    if not args.stats_records and not ipfix_out:
        raise _cli.UsageError("--no-stats-records goes with IPFIX out (-o FILE.ipfix or --export)")
    if args.observation_domain is not None and not ipfix_out:
        raise _cli.UsageError(
            "--observation-domain goes with IPFIX out (-o FILE.ipfix or --export)"
        )
    ipfix = {"stats": args.stats_records, "observation_domain_id": args.observation_domain or 0}
    meter = Meter(
        [_cli.source(n) for n in args.capture],
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
    progress = _cli.Progress(meter.total_bytes, args.progress)
    try:
        if args.export:
            meter.write_ipfix(
                export=args.export,
                progress=progress,
                template_refresh_timeout=args.template_refresh,
                **ipfix,
            )
        elif args.output:
            _write(meter, args.output, kind, compression, progress, ipfix)
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


def _write(
    meter: Meter,
    output: str,
    kind: str,
    compression: str | None,
    progress: _cli.Progress,
    ipfix: dict[str, Any],
) -> None:
    """``ipfix``: write_ipfix's options, for IPFIX out."""
    if kind == "parquet" and output == "-":
        raise ValueError("Parquet needs a file to write to: -o FILE.parquet")
    if kind != "ipfix":
        # The table writers (pyarrow's side), for a table format only.
        from . import _cli_output
    if output != "-" and kind == "ipfix":
        # A path: IPFIX compressed by its extension (.gz, .zst).
        meter.write_ipfix(output, compression=compression, progress=progress, **ipfix)
        return
    if output != "-":
        _cli_output.write_file(
            kind, output, compression, meter.schema, meter, lambda: progress(meter.bytes_read)
        )
        return
    out: Any
    out, _ = _cli.open_output(output, binary=True)
    if kind == "ipfix":
        meter.write_ipfix(out, progress=progress, **ipfix)
    else:
        _cli_output.write(kind, out, meter.schema, meter, lambda: progress(meter.bytes_read))
    out.flush()


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
    rows = []
    for i in total.sort_values(ascending=False).index[:top]:
        rows.append(
            (
                _endpoint(src[i], sport, i),
                _endpoint(dst[i], dport, i),
                f"{int(df.protocolIdentifier[i])}",
                f"{int(packets[i]):,}",
                f"{int(total[i]):,}",
                f"{dur[i]:.1f}",
            )
        )
    heads = ("source", "destination", "proto", "packets", "octets", "s")
    widths = [max([len(h), *(len(r[k]) for r in rows)]) for k, h in enumerate(heads)]
    for r in [heads, *rows]:
        print(" ".join(f"{v:>{w}}" for v, w in zip(r, widths, strict=True)))


def _endpoint(address: str, ports: Any, i: Any) -> str:
    """address:port, an IPv6 address in brackets ([2001:db8::1]:53) as
    in URLs (RFC 3986), so that the port is not read as part of it."""
    if ports is None or ports.isna()[i]:
        return address
    host = f"[{address}]" if ":" in address else address
    return f"{host}:{int(ports[i])}"


def _address(df: Any, side: str) -> Any:
    """The side's address as text, IPv4 or IPv6 whichever the row has."""
    import pandas as pd

    parts = [df[c].astype(object) for c in (f"{side}IPv4Address", f"{side}IPv6Address") if c in df]
    out = parts[0] if parts else pd.Series([""] * len(df), index=df.index, dtype=object)
    for p in parts[1:]:
        out = out.where(out.notna(), p)
    return out.fillna("")


EXAMPLES = """\
examples:
  ferrofix meter trace.pcap                       # the top flows on the terminal
  ferrofix meter a.pcap b.pcapng.gz -o flows.parquet
  ferrofix meter trace.pcap -o - --format csv | head
  tcpdump -i eth0 -w - | ferrofix meter - --export udp://127.0.0.1:4739
"""


def add_parser(sub: Any) -> None:
    c = sub.add_parser(
        "meter",
        help="meter packet captures into flow records (IPFIX, Parquet, CSV, JSON lines)",
        description="Meter pcap/pcapng captures (gzip/zstd too; '-' reads standard input, "
        "e.g. tcpdump -w - | ferrofix meter -) into RFC 5103 biflow records.",
        epilog=EXAMPLES,
        formatter_class=_cli.HelpFormatter,
    )
    c.add_argument("capture", nargs="+", help="capture files (merged in time order), or -")
    c.add_argument(
        "-o",
        "--output",
        help="write flows here, the format by extension: .ipfix, .parquet, .csv or .jsonl "
        "(all but Parquet also .gz/.zst compressed, e.g. flows.csv.gz); - for standard "
        "output (IPFIX, or --format csv/jsonl)",
    )
    c.add_argument(
        "--format", choices=["ipfix", "parquet", "csv", "jsonl"], help="override the extension"
    )
    c.add_argument(
        "--export", metavar="URL", help="send IPFIX to udp://HOST:PORT or tcp://HOST:PORT"
    )
    c.add_argument(
        "--template-refresh",
        metavar="SECONDS",
        type=_cli.number(float, 0, 2**32 - 1),
        help="with --export udp://: send the templates again at least this often "
        "(600; RFC 7011 templateRefreshTimeout; 0: by message count only)",
    )
    c.add_argument(
        "--no-stats-records",
        dest="stats_records",
        action="store_false",
        help="IPFIX out: leave out the meter's statistics, written by default as options "
        "records after the last flow (and after template refreshes; RFC 7011 section 4.1 "
        "exported messages, flow records and octets, 4.2 IP packets ignored)",
    )
    c.add_argument(
        "--observation-domain",
        metavar="ID",
        type=_cli.number(int, 0, 2**32 - 1),
        help="IPFIX out: the observation domain of every message (0; RFC 7011), "
        "to tell this meter's flows from others' at a collector",
    )
    c.add_argument("--idle-timeout", type=_SECONDS, default=30.0, help="seconds (30)")
    c.add_argument("--active-timeout", type=_SECONDS, default=300.0, help="seconds (300)")
    c.add_argument(
        "--max-flows",
        type=_cli.number(int, 1),
        default=1 << 20,
        help="flows open at once (1048576)",
    )
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
        type=_cli.number(int, 1, 2**32 - 1),
        default=32473,
        metavar="PEN",
        help="export ferrofix's own IEs under this private enterprise number (32473)",
    )
    c.add_argument("--on-bad-records", choices=["error", "warn", "skip"], default="error")
    c.add_argument(
        "--workers",
        type=_cli.number(int, 1, 256),
        default=1,
        help="threads holding flow tables (1)",
    )
    c.add_argument("--top", type=_cli.number(int, 0), default=10, help="flows in the summary (10)")
    c.add_argument("--no-progress", dest="progress", action="store_false")
    c.set_defaults(func=run, inputs_attr="capture")
