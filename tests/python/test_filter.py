"""``where=``: records filtered on flow keys while decoding. Messages are
built byte by byte (ipfixmsg.py) from random flows; the expected rows are
those flows filtered in Python (ipaddress for prefixes, plain comparisons
for the rest)."""

from __future__ import annotations

import ipaddress
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ferrofix as ff
import ipfixmsg as im

pa = pytest.importorskip("pyarrow")

T0 = datetime(2026, 12, 4, tzinfo=UTC)
# Template 256: sourceIPv4Address, destinationIPv4Address, sourceTransportPort,
# destinationTransportPort, protocolIdentifier, flowStartMilliseconds, octetDeltaCount.
T256 = [(8, 4), (12, 4), (7, 2), (11, 2), (4, 1), (152, 8), (1, 8)]
# Template 257: IPv6 addresses and ports, no protocol, no time.
T257 = [(27, 16), (28, 16), (7, 2), (11, 2), (1, 8)]


def _flows(rng: random.Random, n: int) -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        v6 = rng.random() < 0.25
        pool4 = ["10.0.0.1", "10.0.1.9", "192.0.2.7", "198.51.100.3"]
        pool6 = ["2001:db8::1", "2001:db8:1::5", "fd00::2"]
        out.append(
            {
                "v6": v6,
                "src": rng.choice(pool6 if v6 else pool4),
                "dst": rng.choice(pool6 if v6 else pool4),
                "sport": rng.choice([53, 80, 443, 50000]),
                "dport": rng.choice([53, 80, 443, 50001]),
                "proto": None if v6 else rng.choice([6, 17, 1]),
                "start": None if v6 else T0 + timedelta(milliseconds=rng.randrange(600_000)),
                "octets": i,
            }
        )
    return out


def _message(flows: list[dict[str, Any]]) -> bytes:
    tmpl = im.template_set(
        im.template_record(256, [im.field(i, n) for i, n in T256]),
        im.template_record(257, [im.field(i, n) for i, n in T257]),
    )
    sets = [tmpl]
    for f in flows:
        if f["v6"]:
            rec = (
                ipaddress.IPv6Address(f["src"]).packed
                + ipaddress.IPv6Address(f["dst"]).packed
                + im.uint(f["sport"], 2)
                + im.uint(f["dport"], 2)
                + im.uint(f["octets"], 8)
            )
            sets.append(im.set_(257, rec))
        else:
            ms = (f["start"] - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)
            rec = (
                ipaddress.IPv4Address(f["src"]).packed
                + ipaddress.IPv4Address(f["dst"]).packed
                + im.uint(f["sport"], 2)
                + im.uint(f["dport"], 2)
                + im.uint(f["proto"], 1)
                + im.uint(ms, 8)
                + im.uint(f["octets"], 8)
            )
            sets.append(im.set_(256, rec))
    return im.message(sets)


def _keeps(f: dict[str, Any], where: dict[str, Any]) -> bool:
    if "protocol" in where and f["proto"] not in where["protocol"]:
        return False
    if "port" in where and not {f["sport"], f["dport"]} & set(where["port"]):
        return False
    if "address" in where:
        nets = [ipaddress.ip_network(a, strict=False) for a in where["address"]]
        addrs = [ipaddress.ip_address(f["src"]), ipaddress.ip_address(f["dst"])]
        if not any(a in n for a in addrs for n in nets if a.version == n.version):
            return False
    if "start" in where:
        lo, hi = where["start"]
        if f["start"] is None or not (lo <= f["start"] < hi):
            return False
    return True


WHERES = st.fixed_dictionaries(
    {},
    optional={
        "protocol": st.lists(st.sampled_from([1, 6, 17, 47]), min_size=1, max_size=2),
        "port": st.lists(st.sampled_from([53, 80, 443, 50000, 50001, 8080]), min_size=1),
        "address": st.lists(
            st.sampled_from(
                ["10.0.0.0/8", "10.0.1.0/24", "192.0.2.7", "2001:db8::/32", "fd00::/8", "0.0.0.0/0"]
            ),
            min_size=1,
            max_size=3,
        ),
        "start": st.tuples(st.integers(0, 600), st.integers(0, 600)).map(
            lambda t: (T0 + timedelta(seconds=min(t)), T0 + timedelta(seconds=max(t)))
        ),
    },
)


@settings(max_examples=150, deadline=None)
@given(where=WHERES, seed=st.integers(0, 2**16))
def test_where_keeps_what_python_keeps(where: dict[str, Any], seed: int) -> None:
    flows = _flows(random.Random(seed), 60)
    data = _message(flows)
    table = pa.table(ff.scan_ipfix(data, columns=["octetDeltaCount"], where=where))
    want = [f["octets"] for f in flows if _keeps(f, where)]
    assert table["octetDeltaCount"].to_pylist() == want


def test_every_bound_form_and_the_health_count() -> None:
    flows = _flows(random.Random(7), 200)
    data = _message(flows)
    lo, hi = T0 + timedelta(seconds=100), T0 + timedelta(seconds=300)
    want = [f["octets"] for f in flows if _keeps(f, {"start": (lo, hi)})]
    forms = [
        (lo, hi),
        (lo.replace(tzinfo=None), hi.replace(tzinfo=None)),  # naive: UTC
        (lo.isoformat(), hi.isoformat()),
        (lo.timestamp(), hi.timestamp()),
    ]
    pd = pytest.importorskip("pandas")
    forms.append((pd.Timestamp(lo), pd.Timestamp(hi)))
    for bounds in forms:
        scan = ff.scan_ipfix(data, columns=["octetDeltaCount"], where={"start": bounds})
        assert pa.table(scan)["octetDeltaCount"].to_pylist() == want, bounds
    df = ff.read_ipfix(data, where={"start": (lo, None), "port": 443})
    assert sorted(df["octetDeltaCount"].tolist()) == sorted(
        f["octets"]
        for f in flows
        if _keeps(f, {"start": (lo, T0 + timedelta(days=1)), "port": [443]})
    )
    scan = ff.scan_ipfix(data, columns=["octetDeltaCount"], where={"start": (lo, hi)})
    kept = sum(b.num_rows for b in scan)
    assert scan.health.records_filtered == len(flows) - kept


@pytest.mark.parametrize(
    ("where", "message"),
    [
        ({"ports": [1]}, "unknown keys"),
        ({"port": 70000}, "from 0 to 65535"),
        ({"protocol": "tcp"}, "from 0 to 255"),
        ({"address": "not an address"}, "not an address or prefix"),
        ({"start": ("yesterday", None)}, "Invalid isoformat"),
    ],
)
def test_bad_filters_are_refused(where: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ff.scan_ipfix(_message(_flows(random.Random(1), 3)), where=where)


def test_the_meter_filters_its_records_as_they_are_made() -> None:
    """ff.meter(where=...) gives the rows of the whole meter's frame that
    the same conditions, checked here in Python, keep."""
    pd = pytest.importorskip("pandas")
    from pathlib import Path

    capture = Path(__file__).resolve().parents[1] / "data" / "pcap" / "nfstream__1kxun.pcap"
    whole = ff.meter(capture)
    net = ipaddress.ip_network("192.168.0.0/16")

    def inside(v: Any) -> bool:
        return v is not None and not pd.isna(v) and ipaddress.ip_address(v) in net

    for where, keep in [
        ({"protocol": 17}, whole.protocolIdentifier == 17),
        (
            {"port": 443},
            (whole.sourceTransportPort == 443) | (whole.destinationTransportPort == 443),
        ),
        (
            {"address": "192.168.0.0/16", "protocol": 6},
            (whole.sourceIPv4Address.map(inside) | whole.destinationIPv4Address.map(inside))
            & (whole.protocolIdentifier == 6),
        ),
    ]:
        got = ff.meter(capture, where=where)
        want = whole[keep.astype(bool)]
        assert 0 < len(want) < len(whole), where
        assert sorted(got.flowId) == sorted(want.flowId), where
