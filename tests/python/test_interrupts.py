"""Ctrl-C while ferrofix reads a Python file object (a pipe, standard
input): the KeyboardInterrupt that the file object's read raised comes out
as itself, not as a decode error, and not lost in a pre-scan or under the
skip policy."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import ferrofix as ff

DATA = Path(__file__).resolve().parents[1] / "data"
IPFIX = (DATA / "ipfix" / "ipfixcol2__example_flows.ipfix").read_bytes()
PCAP = (DATA / "pcap" / "nfstream__iphone.pcap").read_bytes()


class Interrupted(io.RawIOBase):
    """Gives ``data`` 1000 bytes a read, then raises KeyboardInterrupt on
    the third read, as a read of a pipe does when Ctrl-C comes."""

    def __init__(self, data: bytes) -> None:
        self.data, self.reads = data, 0

    def readable(self) -> bool:
        return True

    def read1(self, n: int = -1) -> bytes:
        self.reads += 1
        if self.reads == 3:
            raise KeyboardInterrupt
        return self.data[(self.reads - 1) * 1000 : self.reads * 1000]

    read = read1  # type: ignore[assignment]


CASES: list[tuple[str, bytes, Callable[[Any], Any]]] = [
    ("scan_ipfix, columns learned first", IPFIX, lambda f: list(ff.scan_ipfix(f))),
    (
        "scan_ipfix with columns",
        IPFIX,
        lambda f: list(ff.scan_ipfix(f, columns=["octetDeltaCount"])),
    ),
    ("iter_records", IPFIX, lambda f: list(ff.iter_records(f))),
    ("iter_records, skip", IPFIX, lambda f: list(ff.iter_records(f, on_bad_records="skip"))),
    ("meter", PCAP, lambda f: ff.meter(f)),
]


@pytest.mark.parametrize(("name", "data", "read"), CASES, ids=[c[0] for c in CASES])
def test_ctrl_c_in_a_file_objects_read_is_raised_as_itself(
    name: str, data: bytes, read: Callable[[Any], Any]
) -> None:
    f = Interrupted(data)
    with pytest.raises(KeyboardInterrupt):
        read(f)
    assert f.reads == 3, name
    # Nothing is left behind: the next read of a good source works.
    assert len(list(ff.iter_records(IPFIX))) > 0
