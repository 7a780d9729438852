"""Operating-system errors reach Python as Python's own: the same OSError
subclass, errno, strerror and filename that ``open()`` gives for the same
path (the oracle is the interpreter itself), for every function that opens
or creates a file by path."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import ferrofix as ff

DATA = Path(__file__).resolve().parents[1] / "data"
CAPTURE = str(DATA / "pcap" / "akvorado__netflow--testdata--data.pcap")


def python_says(path: Path, mode: str) -> OSError:
    with pytest.raises(OSError) as e:
        open(path, mode)  # the oracle: Python's own error
    return e.value


def same_as_python(got: BaseException, path: Path, mode: str) -> None:
    want = python_says(path, mode)
    assert type(got) is type(want)
    assert isinstance(got, OSError)
    assert (got.errno, got.strerror, got.filename) == (want.errno, want.strerror, want.filename)
    assert str(got) == str(want)


READERS: list[tuple[str, Callable[[str], Any]]] = [
    ("read_ipfix", ff.read_ipfix),
    ("iter_records", lambda p: next(ff.iter_records(p))),
    ("scan_ipfix", ff.scan_ipfix),
    ("Reader", lambda p: list(ff.Reader(p).records())),
    ("meter", ff.meter),
    ("Meter", lambda p: list(ff.Meter(p))),
]


@pytest.mark.parametrize("name,call", READERS, ids=[n for n, _ in READERS])
def test_reading_a_missing_file(tmp_path: Path, name: str, call: Callable[[str], Any]) -> None:
    path = tmp_path / "no" / "such.ipfix"
    with pytest.raises(OSError) as e:
        call(str(path))
    same_as_python(e.value, path, "rb")


@pytest.mark.parametrize("name,call", READERS, ids=[n for n, _ in READERS])
def test_reading_a_directory(tmp_path: Path, name: str, call: Callable[[str], Any]) -> None:
    with pytest.raises(OSError) as e:
        call(str(tmp_path))
    # Python's open() of a directory: IsADirectoryError (EISDIR).
    same_as_python(e.value, tmp_path, "rb")


def frame() -> pd.DataFrame:
    return pd.DataFrame({"octetDeltaCount": [1, 2], "packetDeltaCount": [1, 1]})


WRITERS: list[tuple[str, Callable[[str], Any]]] = [
    ("write_ipfix", lambda p: ff.write_ipfix(frame(), p)),
    ("Writer", lambda p: ff.Writer(p)),
    ("Meter.write_ipfix", lambda p: ff.Meter(CAPTURE).write_ipfix(p)),
]


@pytest.mark.parametrize("name,call", WRITERS, ids=[n for n, _ in WRITERS])
def test_writing_into_a_missing_directory(
    tmp_path: Path, name: str, call: Callable[[str], Any]
) -> None:
    path = tmp_path / "no" / "such" / "x.ipfix"
    with pytest.raises(OSError) as e:
        call(str(path))
    same_as_python(e.value, path, "wb")
    assert not path.parent.exists()


@pytest.mark.parametrize("name,call", WRITERS, ids=[n for n, _ in WRITERS])
def test_writing_onto_a_directory(tmp_path: Path, name: str, call: Callable[[str], Any]) -> None:
    with pytest.raises(OSError) as e:
        call(str(tmp_path))
    same_as_python(e.value, tmp_path, "wb")
