"""``write_ipfix`` takes the DataFrames pandas users have: an integer
column with a missing value (which pandas makes float64 with NaN), and
object columns of ``ipaddress`` objects or text. What was written is read
back by ipfixDump (libfixbuf, an independent decoder) where installed, and
by ferrofix; the expected values are the frame's own."""

from __future__ import annotations

import ipaddress
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest

import ferrofix as ff
import oracle_dump as od


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "sourceIPv4Address": [
                ipaddress.IPv4Address("192.0.2.1"),
                None,
                ipaddress.IPv4Address("198.51.100.7"),
            ],
            "destinationIPv6Address": ["2001:db8::1", "2001:db8::2", None],
            "packetDeltaCount": [3, 4, 5],
            # An unsigned64 with a missing value: pandas gives float64 + NaN.
            "reversePacketDeltaCount": [7.0, np.nan, 2.0**53],
        }
    )


def test_the_frame_has_the_types_pandas_gives() -> None:
    df = _frame()
    assert df["reversePacketDeltaCount"].dtype == np.float64
    assert df["sourceIPv4Address"].dtype == object


def _ipfixdump(data: bytes) -> od.IpfixDump:
    proc = subprocess.run(["ipfixDump", "-y"], input=data, capture_output=True, check=False)
    assert proc.returncode == 0, proc.stderr
    return od.parse_ipfixdump(proc.stdout)


def test_whole_floats_with_nan_and_address_objects_are_written() -> None:
    df = _frame()
    data = ff.write_ipfix(df, export_time=1_700_000_000)
    assert data is not None
    back = ff.read_ipfix(
        data,
        columns=list(df.columns),
        addresses="string",
        dtype_backend="numpy_nullable",
    )
    assert back["packetDeltaCount"].tolist() == [3, 4, 5]
    got = back["reversePacketDeltaCount"].tolist()
    assert got[0] == 7 and got[2] == 2**53 and pd.isna(got[1])
    src = back["sourceIPv4Address"].tolist()
    assert src[0] == "192.0.2.1" and pd.isna(src[1]) and src[2] == "198.51.100.7"
    dst = back["destinationIPv6Address"].tolist()
    assert dst[:2] == ["2001:db8::1", "2001:db8::2"] and pd.isna(dst[2])
    if shutil.which("ipfixDump") is None:
        pytest.skip("ipfixDump (libfixbuf-tools) is not installed")
    dump = _ipfixdump(data)
    rows = [{f.name: f.text.strip() for f in r.fields} for r in dump.records]
    assert len(rows) == 3
    # A missing value: a template without the field (ferrofix's null policy).
    assert "reversePacketDeltaCount" not in rows[1]
    assert rows[0]["reversePacketDeltaCount"] == "7"
    assert rows[2]["reversePacketDeltaCount"] == str(2**53)
    assert rows[0]["sourceIPv4Address"] == "192.0.2.1"
    assert "sourceIPv4Address" not in rows[1]
    dst6 = ipaddress.ip_address(rows[1]["destinationIPv6Address"])
    assert dst6 == ipaddress.ip_address("2001:db8::2")


def test_a_fraction_is_an_error_naming_the_row_never_rounded() -> None:
    df = pd.DataFrame({"packetDeltaCount": [1, 1, 1], "octetDeltaCount": [1.0, np.nan, 2.5]})
    with pytest.raises(ff.EncodeError) as e:
        ff.write_ipfix(df)
    msg = str(e.value)
    assert "octetDeltaCount" in msg and "row 2" in msg and "2.5" in msg, msg
    assert "whole number" in msg and "round" in msg, msg


def test_a_negative_whole_float_into_a_signed_ie() -> None:
    # mibObjectValueInteger (IE 434) is a signed32.
    df = pd.DataFrame({"packetDeltaCount": [1, 1, 1], "mibObjectValueInteger": [-5.0, np.nan, 7.0]})
    back = ff.read_ipfix(ff.write_ipfix(df), dtype_backend="numpy_nullable")
    got = back["mibObjectValueInteger"].tolist()
    assert got[0] == -5 and pd.isna(got[1]) and got[2] == 7
    with pytest.raises(ff.EncodeError, match="row 0: -1 is negative"):
        ff.write_ipfix(pd.DataFrame({"packetDeltaCount": [-1.0]}))


def test_a_refusal_says_how_to_fix_it() -> None:
    df = pd.DataFrame({"sourceIPv4Address": [True, False]})
    with pytest.raises(ff.EncodeError) as e:
        ff.write_ipfix(df)
    msg = str(e.value)
    assert "sourceIPv4Address" in msg and "give addresses as text" in msg, msg
