"""The ``df.flows`` accessor and ``ferrofix.plot``: expected values worked
out by hand on small frames, Python's ipaddress module as the oracle for
networks of random addresses, numpy for ECDF and histogram values, and one
run over real captures."""

from __future__ import annotations

import ipaddress
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import ferrofix as ff

pd = pytest.importorskip("pandas")
pa = pytest.importorskip("pyarrow")
np = pytest.importorskip("numpy")

import ferrofix.flows  # noqa: E402  (frames built here by hand need it)

PCAP = Path(__file__).resolve().parents[1] / "data" / "pcap"
IPFIX = Path(__file__).resolve().parents[1] / "data" / "ipfix"
UTC = "UTC"


def _run(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return out.stdout


def _ts(values: list[str], unit: str = "ms") -> Any:
    arr = pa.array(
        pd.to_datetime(values, utc=True, format="ISO8601"), type=pa.timestamp(unit, tz=UTC)
    )
    return pd.Series(pd.arrays.ArrowExtensionArray(arr))


# -- registration -----------------------------------------------------------


def test_import_ferrofix_imports_neither_pandas_nor_the_accessor() -> None:
    out = _run(
        "import sys, ferrofix\n"
        "print(sorted(m for m in ('pandas', 'pyarrow', 'matplotlib', 'ferrofix.flows',"
        " 'ferrofix.plot') if m in sys.modules))\n"
    )
    assert out.strip() == "[]"


@pytest.mark.parametrize(
    "build",
    [
        f"ff.read_ipfix({str(IPFIX / 'ipfixcol2__example_flows.ipfix')!r})",
        f"ff.read_ipfix({str(IPFIX / 'ipfixcol2__example_flows.ipfix')!r}, by_template=True)"
        ".popitem()[1]",
        f"ff.read_ipfix({str(IPFIX / 'ipfixcol2__example_flows.ipfix')!r}, dtype_backend='numpy')",
        f"ff.scan_ipfix({str(IPFIX / 'ipfixcol2__example_flows.ipfix')!r}).to_pandas()",
        f"ff.meter({str(PCAP / 'nfstream__1kxun.pcap')!r})",
        f"ff.Meter({str(PCAP / 'nfstream__1kxun.pcap')!r}).to_pandas()",
    ],
)
def test_the_first_frame_ferrofix_builds_registers_the_accessor(build: str) -> None:
    out = _run(
        "import pandas as pd, ferrofix as ff\n"
        "assert not hasattr(pd.DataFrame, 'flows')\n"
        f"df = {build}\n"
        "print(type(df.flows).__name__, type(pd.DataFrame().flows).__name__)\n"
    )
    assert out.split() == ["FlowsAccessor", "FlowsAccessor"]


def test_importing_ferrofix_flows_registers_it_without_matplotlib() -> None:
    out = _run(
        "import sys, pandas as pd, ferrofix.flows\n"
        "print(type(pd.DataFrame().flows).__name__, 'matplotlib' in sys.modules)\n"
    )
    assert out.split() == ["FlowsAccessor", "False"]


# -- duration ---------------------------------------------------------------

STARTS = ["2024-01-01 00:00:00", "2024-01-01 00:00:01.5", "2024-01-01 00:01:00"]
ENDS = ["2024-01-01 00:00:02", "2024-01-01 00:00:01.5", "2024-01-01 00:03:00.250"]
DURATIONS = [pd.Timedelta(seconds=2), pd.Timedelta(0), pd.Timedelta(seconds=120.25)]


@pytest.mark.parametrize("precision", ["Milliseconds", "Microseconds", "Nanoseconds"])
def test_duration_in_each_precision(precision: str) -> None:
    unit = {"Milliseconds": "ms", "Microseconds": "us", "Nanoseconds": "ns"}[precision]
    df = pd.DataFrame(
        {f"flowStart{precision}": _ts(STARTS, unit), f"flowEnd{precision}": _ts(ENDS, unit)}
    )
    d = df.flows.duration()
    assert d.dtype == "timedelta64[ns]" and d.name == "duration"
    assert d.tolist() == DURATIONS


def test_duration_in_seconds_and_from_integers() -> None:
    df = pd.DataFrame(
        {
            "flowStartSeconds": _ts(["2024-01-01 00:00:00", "2024-01-01 00:00:10"], "s"),
            "flowEndSeconds": _ts(["2024-01-01 00:00:07", "2024-01-01 00:00:10"], "s"),
        }
    )
    assert df.flows.duration().tolist() == [pd.Timedelta(seconds=7), pd.Timedelta(0)]
    ints = pd.DataFrame(
        {"flowStartMilliseconds": [1000, 5000], "flowEndMilliseconds": [1250, 5000]}
    )
    assert ints.flows.duration().tolist() == [pd.Timedelta(milliseconds=250), pd.Timedelta(0)]
    assert ints.flows.start().iloc[0] == pd.Timestamp("1970-01-01 00:00:01", tz=UTC)


def test_duration_takes_the_finest_precision_each_row_holds() -> None:
    ms = _ts(["2024-01-01 00:00:00.001", "2040-01-01 00:00:00.001"], "ms")
    ns = pa.timestamp("ns", tz=UTC)
    ns_start = pa.array([pd.Timestamp("2024-01-01 00:00:00.001000300", tz=UTC), None], type=ns)
    ns_end = pa.array([pd.Timestamp("2024-01-01 00:00:00.002000400", tz=UTC), None], type=ns)
    df = pd.DataFrame(
        {
            "flowStartMilliseconds": ms,
            "flowEndMilliseconds": _ts(["2024-01-01 00:00:00.002", "2040-01-01 00:00:01"], "ms"),
            "flowStartNanoseconds": pd.arrays.ArrowExtensionArray(ns_start),
            "flowEndNanoseconds": pd.arrays.ArrowExtensionArray(ns_end),
        }
    )
    # row 0: 1,000,100 ns from the nanosecond columns; row 1 (after 2036,
    # no nanosecond time): 999 ms from the millisecond ones
    assert df.flows.duration().tolist() == [
        pd.Timedelta(nanoseconds=1_000_100),
        pd.Timedelta(milliseconds=999),
    ]


def test_duration_without_time_columns_names_them() -> None:
    with pytest.raises(KeyError, match="flowEndMilliseconds"):
        pd.DataFrame({"octetDeltaCount": [1]}).flows.duration()


# -- networks ---------------------------------------------------------------


def _random_v4(rng: Any, n: int) -> list[str]:
    return [str(ipaddress.IPv4Address(int(x))) for x in rng.integers(0, 2**32, n)]


def _random_v6(rng: Any, n: int) -> list[str]:
    out = []
    for _ in range(n):
        v = int(rng.integers(0, 2**63)) << 65 | int(rng.integers(0, 2**63))
        # runs of zero groups, so that "::" turns up at the start, middle and end
        groups = [(v >> (16 * (7 - i))) & 0xFFFF for i in range(8)]
        for i in range(8):
            if rng.random() < 0.3:
                groups[i] = 0
        out.append(
            str(ipaddress.IPv6Address(sum(g << (16 * (7 - i)) for i, g in enumerate(groups))))
        )
    return [*out, "::", "::1", "1::", "fe80::1", "::ffff:192.0.2.1", "2001:DB8:0:0:0:0:0:1"]


def _oracle(addrs: list[str | None], prefix: int) -> list[str | None]:
    return [
        None if a is None else str(ipaddress.ip_network(f"{a}/{prefix}", strict=False))
        for a in addrs
    ]


def _as_list(s: Any) -> list[str | None]:
    return [None if pd.isna(x) else str(x) for x in s.astype(object)]


@pytest.mark.parametrize("form", ["category", "arrow", "str", "object"])
def test_ipv4_networks_equal_ipaddress_on_random_addresses(form: str) -> None:
    rng = np.random.default_rng(4632)
    addrs: list[str | None] = [*_random_v4(rng, 500), None, "0.0.0.0", "255.255.255.255"]
    s = {
        "category": pd.Series(addrs, dtype="category"),
        "arrow": pd.Series(addrs, dtype=pd.ArrowDtype(pa.string())),
        "str": pd.Series(addrs, dtype="string"),
        "object": pd.Series(addrs, dtype=object),
    }[form]
    df = pd.DataFrame({"sourceIPv4Address": s})
    for prefix in (0, 1, 7, 8, 16, 23, 24, 31, 32):
        got = df.flows.network("source", ipv4=prefix)
        assert got.name == "sourceNetwork"
        assert _as_list(got) == _oracle(addrs, prefix), prefix


@pytest.mark.parametrize("form", ["category", "arrow", "object"])
def test_ipv6_networks_equal_ipaddress_on_random_addresses(form: str) -> None:
    rng = np.random.default_rng(4291)
    addrs: list[str | None] = [*_random_v6(rng, 400), None]
    s = {
        "category": pd.Series(addrs, dtype="category"),
        "arrow": pd.Series(addrs, dtype=pd.ArrowDtype(pa.string())),
        "object": pd.Series([None if a is None else ipaddress.IPv6Address(a) for a in addrs]),
    }[form]
    df = pd.DataFrame({"destinationIPv6Address": s})
    for prefix in (0, 1, 16, 32, 48, 63, 64, 65, 96, 127, 128):
        got = df.flows.network("destination", ipv6=prefix)
        assert _as_list(got) == _oracle(addrs, prefix), prefix


def test_a_frame_of_both_families_and_integer_addresses() -> None:
    v4 = ["10.1.2.3", None, "192.168.200.1", None]
    v6 = [None, "2001:db8:aaaa:bbbb::1", None, None]
    text = pd.DataFrame(
        {"sourceIPv4Address": pd.Series(v4, dtype="category"), "sourceIPv6Address": v6}
    )
    expected = ["10.1.0.0/16", "2001:db8:aaaa::/48", "192.168.0.0/16", None]
    got = text.flows.network(ipv4=16, ipv6=48)
    assert _as_list(got) == expected
    assert list(got.cat.categories) == ["10.1.0.0/16", "192.168.0.0/16", "2001:db8:aaaa::/48"]
    as_int = pd.DataFrame(
        {
            "sourceIPv4Address": pd.array(
                [None if a is None else int(ipaddress.IPv4Address(a)) for a in v4],
                dtype=pd.ArrowDtype(pa.uint32()),
            ),
            "sourceIPv6Address": pd.arrays.ArrowExtensionArray(
                pa.array(
                    [None if a is None else ipaddress.IPv6Address(a).packed for a in v6],
                    type=pa.binary(16),
                )
            ),
        }
    )
    assert _as_list(as_int.flows.network(ipv4=16, ipv6=48)) == expected
    both = text.assign(destinationIPv4Address=["1.2.3.4", None, None, "5.6.7.8"])
    nets = both.flows.with_networks(ipv4=8, ipv6=32)
    assert _as_list(nets["destinationNetwork"]) == ["1.0.0.0/8", None, None, "5.0.0.0/8"]
    assert _as_list(nets["sourceNetwork"])[1] == "2001:db8::/32"


def test_bad_addresses_and_prefixes_are_refused() -> None:
    for bad in ["10.0.0", "10.0.0.256", "a.b.c.d"]:
        with pytest.raises(ValueError, match="IPv4"):
            pd.DataFrame({"sourceIPv4Address": [bad]}).flows.network()
    for bad in ["1:2:3", "1::2::3", "12345::", "g::1"]:
        with pytest.raises(ValueError, match="IPv6"):
            pd.DataFrame({"sourceIPv6Address": [bad]}).flows.network()
    with pytest.raises(ValueError, match="0-32"):
        pd.DataFrame({"sourceIPv4Address": ["1.2.3.4"]}).flows.network(ipv4=33)
    with pytest.raises(KeyError, match="sourceIPv4Address"):
        pd.DataFrame({"x": [1]}).flows.network()


# -- quality filters, rates, directions -------------------------------------


def _quality_frame() -> Any:
    u = pd.ArrowDtype(pa.uint64())
    return pd.DataFrame(
        {
            "flowEndReason": [3, 3, 1, 3, 3, 4],
            "initialTCPFlags": [2, 2, 2, 0x18, None, 2],
            "reverseInitialTCPFlags": [0x12, 0x12, 0x12, 0x10, None, 0x12],
            "tcpSequenceLossCount": pd.array([0, 10, 0, 0, None, 0], dtype=u),
            "reverseTcpSequenceLossCount": pd.array([0, 0, 0, 0, None, 0], dtype=u),
            "tcpAckedUnseenCount": pd.array([0, 0, 0, 0, None, 0], dtype=u),
            "reverseTcpAckedUnseenCount": pd.array([0, 0, 2, 0, None, 0], dtype=u),
        },
        index=list("abcdef"),
    )


def test_lossy_and_incomplete_flows_by_hand() -> None:
    df = _quality_frame()
    # b: 10 octets never seen; c: two ACKs of unseen data; e: not TCP (nulls)
    assert df.flows.lossy().tolist() == [False, True, True, False, False, False]
    assert list(df.flows.drop_lossy().index) == ["a", "d", "e", "f"]
    # complete: SYN both ways (initialTCPFlags) and flowEndReason 3: a, b
    # (c ended idle, d had no SYN, e is not TCP, f was cut by the capture's end)
    assert df.flows.complete().tolist() == [True, True, False, False, False, False]
    assert list(df.flows.drop_lossy().flows.drop_incomplete().index) == ["a"]
    # the meter's quality word wins over the flags: bit 0x10 is a capture
    # gap, bit 0x01 the handshake
    q = df.assign(tcpMeasurementQuality=[0x0F, 0x01, 0x01, 0x11, None, 0x20])
    assert q.flows.lossy().tolist() == [False, True, True, True, False, False]
    assert q.flows.complete().tolist() == [True, True, False, True, False, False]
    with pytest.raises(KeyError, match="tcp_metrics"):
        df[["flowEndReason"]].flows.lossy()


def test_rates_per_direction_by_hand() -> None:
    df = pd.DataFrame(
        {
            "flowStartMilliseconds": _ts(["2024-01-01 00:00:00"] * 3),
            "flowEndMilliseconds": _ts(
                ["2024-01-01 00:00:04", "2024-01-01 00:00:00", "2024-01-01 00:00:00.5"]
            ),
            "octetDeltaCount": [4000, 60, 100],
            "packetDeltaCount": [8, 1, 2],
            "reverseOctetDeltaCount": pd.array([2000, 0, None], dtype="UInt64"),
            "reversePacketDeltaCount": [4, 0, 1],
        }
    )
    r = df.flows.rates(min_duration=0)
    assert list(r.columns) == [
        "octetsPerSecond",
        "packetsPerSecond",
        "reverseOctetsPerSecond",
        "reversePacketsPerSecond",
    ]
    expected = [[1000.0, 2.0, 500.0, 1.0], [np.nan] * 4, [200.0, 4.0, np.nan, 2.0]]
    np.testing.assert_array_equal(r.to_numpy(), np.array(expected))
    # the default minimum, 1 s, leaves the half-second record out too;
    # "500ms" (a Timedelta's text) keeps it, 0.5 s being at the minimum
    np.testing.assert_array_equal(
        df.flows.rates().to_numpy(), np.array(expected[:1] + [[np.nan] * 4] * 2)
    )
    np.testing.assert_array_equal(
        df.flows.rates(min_duration="500ms").to_numpy(), np.array(expected)
    )
    with pytest.raises(ValueError, match="0 or more"):
        df.flows.rates(min_duration=-1)


def test_rates_of_a_record_shorter_than_the_minimum_are_nan() -> None:
    """Two packets 14 µs apart, 320 octets: 320 / 14e-6 s = 22.9 MB/s, a
    number set by two packets' timing; below min_duration it is NaN."""
    df = pd.DataFrame(
        {
            "flowStartMicroseconds": _ts(["2024-01-01 00:00:00.000000"], "us"),
            "flowEndMicroseconds": _ts(["2024-01-01 00:00:00.000014"], "us"),
            "octetDeltaCount": [320],
            "packetDeltaCount": [2],
        }
    )
    assert df.flows.rates().isna().all().all()
    assert df.flows.rates(min_duration=1e-6)["octetsPerSecond"].iloc[0] == pytest.approx(
        320 / 14e-6
    )
    assert df.flows.rates(min_duration=pd.Timedelta(microseconds=15)).isna().all().all()


def _biflows() -> Any:
    return pd.DataFrame(
        {
            "flowId": [7, 8],
            "sourceIPv4Address": ["10.0.0.1", "10.0.0.2"],
            "destinationIPv4Address": ["10.0.0.9", "10.0.0.8"],
            "sourceTransportPort": [1111, 2222],
            "destinationTransportPort": [80, 53],
            "sourceMacAddress": ["aa", "bb"],
            "octetDeltaCount": [100, 60],
            "packetDeltaCount": [2, 1],
            "reverseSourceMacAddress": ["cc", "dd"],
            "reverseOctetDeltaCount": [900, 0],
            "reversePacketDeltaCount": [3, 0],
            "tcpMeasurementQuality": [1, 0],
        },
        index=[10, 20],
    )


def test_forward_reverse_stacked_and_joined() -> None:
    df = _biflows()
    fwd_cols = [
        "flowId",
        "sourceIPv4Address",
        "destinationIPv4Address",
        "sourceTransportPort",
        "destinationTransportPort",
        "sourceMacAddress",
        "octetDeltaCount",
        "packetDeltaCount",
        "tcpMeasurementQuality",
    ]
    assert list(df.flows.forward().columns) == fwd_cols
    rev = df.flows.reverse()
    assert list(rev.columns) == fwd_cols
    assert rev.loc[10].tolist() == [7, "10.0.0.9", "10.0.0.1", 80, 1111, "cc", 900, 3, 1]
    st = df.flows.stacked()
    assert list(st.index) == [10, 10, 20, 20]
    assert st["direction"].astype(str).tolist() == ["forward", "reverse", "forward", "reverse"]
    assert st["octetDeltaCount"].tolist() == [100, 900, 60, 0]
    assert st["sourceTransportPort"].tolist() == [1111, 80, 2222, 53]
    assert st["flowId"].tolist() == [7, 7, 8, 8]
    empty_dropped = df.flows.stacked(drop_empty=True)
    assert st.columns[0] == "direction" and len(empty_dropped) == 3
    j = df.flows.joined()
    assert j.xs("octetDeltaCount", axis=1, level=1).to_dict("list") == {
        "forward": [100, 60],
        "reverse": [900, 0],
    }
    assert j["reverse"].equals(rev)


def test_uniflows_stack_as_they_are_and_are_never_complete() -> None:
    """Uniflow records (no reverse* column): each is one direction, so
    stacked() is the records once each and complete() refuses."""
    df = _biflows().drop(
        columns=["reverseSourceMacAddress", "reverseOctetDeltaCount", "reversePacketDeltaCount"]
    )
    st = df.flows.stacked()
    assert list(st.index) == [10, 20]
    assert st["direction"].astype(str).tolist() == ["forward", "forward"]
    assert st["octetDeltaCount"].tolist() == [100, 60]
    assert st.drop(columns="direction").equals(df)
    with pytest.raises(ValueError, match="biflow"):
        df.assign(flowEndReason=[3, 3]).flows.complete()
    with pytest.raises(ValueError, match="biflow"):
        df.flows.reverse()
    with pytest.raises(ValueError, match="biflow"):
        df.flows.joined()


def test_uniflows_from_the_meter() -> None:
    """A capture metered with biflow=False: stacked() has one row per
    record and the frame's own octet total (not twice the rows, each
    record's octets again under a swapped key); drop_incomplete() says it
    needs biflows rather than dropping every TCP record."""
    uni = ff.meter(PCAP / "nfstream__1kxun.pcap", biflow=False)
    assert not [c for c in uni.columns if c.startswith("reverse")]
    st = uni.flows.stacked()
    assert len(st) == len(uni)
    assert st["octetDeltaCount"].sum() == uni["octetDeltaCount"].sum()
    assert (st["direction"] == "forward").all()
    with pytest.raises(ValueError, match="needs biflow records"):
        uni.flows.drop_incomplete()


def test_complete_docstring_gives_meter_md_reason_3() -> None:
    """docs/meter.md's end-reason table gives 3 to a RST, to both FINs
    acknowledged, and to both FINs seen but not both acknowledged at the
    idle timeout, the input's end or a new SYN on the key: the docstring
    of complete() says all of it."""
    doc = " ".join((ferrofix.flows.FlowsAccessor.complete.__doc__ or "").split())
    table = (Path(__file__).resolve().parents[2] / "docs" / "meter.md").read_text()
    row = next(ln for ln in table.splitlines() if ln.startswith("| end of flow detected | 3 |"))
    for phrase in ("RST", "acknowledged", "idle timeout", "end of the input", "new SYN"):
        assert phrase in row, phrase
        assert phrase in doc, phrase
    assert "FINs were both seen but not both acknowledged" in doc


# -- real captures ----------------------------------------------------------


def test_real_capture(fp: Any) -> None:
    df = ff.meter(PCAP / "nfstream__1kxun.pcap")
    # duration: the nanosecond columns' difference, within the millisecond
    # ones' rounding
    d = df.flows.duration()
    ms = (
        pd.to_datetime(df["flowEndMilliseconds"]) - pd.to_datetime(df["flowStartMilliseconds"])
    ).to_numpy()
    assert (np.abs(d.to_numpy() - ms) <= np.timedelta64(1, "ms")).all()
    assert (d >= pd.Timedelta(0)).all()
    # networks against ipaddress, row by row, both families
    nets = df.flows.with_networks(ipv4=24, ipv6=64)
    for side in ("source", "destination"):
        addrs = [
            v4 if not pd.isna(v4) else v6
            for v4, v6 in zip(df[f"{side}IPv4Address"], df[f"{side}IPv6Address"], strict=True)
        ]
        expected = [
            str(ipaddress.ip_network(f"{a}/{24 if ':' not in a else 64}", strict=False))
            for a in addrs
        ]
        assert _as_list(nets[f"{side}Network"]) == expected
    ints = ff.meter(PCAP / "nfstream__1kxun.pcap", addresses="int")
    assert _as_list(ints.flows.network("source", ipv4=24, ipv6=64)) == _as_list(
        nets["sourceNetwork"]
    )
    # rates: octets over seconds where the flow lasted 1 s or more (the default)
    r = df.flows.rates()
    secs = d.dt.total_seconds().to_numpy()
    lasted = secs >= 1
    assert 0 < lasted.sum() < len(df)
    np.testing.assert_allclose(
        r["octetsPerSecond"].to_numpy()[lasted],
        df["octetDeltaCount"].to_numpy(dtype=float)[lasted] / secs[lasted],
    )
    assert r[~lasted].isna().all().all()
    # stacked: every packet once, both directions
    st = df.flows.stacked()
    total = df["packetDeltaCount"].sum() + df["reversePacketDeltaCount"].sum()
    assert st["packetDeltaCount"].sum() == total and len(st) == 2 * len(df)
    # plots over the real frame
    ax = df.flows.plot_top("destinationTransportPort", 5)
    top = df["destinationTransportPort"].value_counts().head(5)
    assert [p.get_height() for p in ax.patches] == top.tolist()
    ax = df.flows.plot_ecdf("octetDeltaCount")
    np.testing.assert_array_equal(
        ax.get_lines()[0].get_xdata(), np.sort(df["octetDeltaCount"].to_numpy(dtype=float))
    )
    ax = df.flows.plot_counts("10s")
    for ln in ax.get_lines():
        assert np.asarray(ln.get_ydata()).sum() == len(df)


def test_real_capture_with_a_dropped_response_is_lossy() -> None:
    # Zeek's trace is named for what it holds: 1,000 HTTP requests on one
    # connection, one response missing from the capture.
    df = ff.meter(PCAP / "zeek__http--1000-requests-one-dropped-response.pcap.gz")
    tcp = df[df["protocolIdentifier"] == 6]
    assert len(tcp) == 1
    assert tcp.flows.lossy().tolist() == [True]
    assert tcp.flows.complete().tolist() == [True]
    assert len(tcp.flows.drop_lossy()) == 0
