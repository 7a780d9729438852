"""Dict records against the field lists of the same records.

Dicts are built by copying a per-template prototype (every key mapped to
None) and setting each value through the public C API
(``src/python/sink.rs``); field lists (``as_="fields"``) are built field by
field. For every record of the real files, a dict must hold every field, in
template order, as its field list gives it (a repeated IE under ``name``,
``name.1``, ...); and the values must be released with the dicts (no
reference leaked), on every interpreter (no reliance on reference counts of
immortal objects such as None from CPython 3.12, nor on when dicts are
tracked by the cyclic GC, which CPython 3.14 changed).
"""

from __future__ import annotations

import gc
import io
import math
from typing import Any

import pytest

import ferrofix as ff
import oracle as oc
from ipfixmsg import field, message, set_, template_record, template_set, uint

CASES = [c for c in oc.load_cases() if c.kind in ("single", "pair")]


def same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and bool(a == b)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_dicts_equal_field_lists(case: oc.Case) -> None:
    data = case.data()
    dicts = list(ff.Reader(data, on_bad_records="skip").records())
    lists = list(ff.Reader(data, on_bad_records="skip").records(as_="fields"))
    assert len(dicts) == len(lists)
    for d, fl in zip(dicts, lists, strict=True):
        want = [v for _pen, _ie, v in fl]
        assert type(d) is dict
        assert len(d) == len(want)
        got = list(d.values())
        assert all(same(g, w) for g, w in zip(got, want, strict=True)), (got, want)


def wide_message(n: int) -> bytes:
    """A template of ``n`` distinct enterprise IEs of 4 octets (unknown to
    the information model: read as bytes), its first two repeated at the
    end, and two records with known values."""
    ids = list(range(1, n + 1)) + [1, 2][:n]
    tmpl = template_record(300, [field(i, 4, pen=35566) for i in ids])
    rows = [[1000 * r + k for k in range(len(ids))] for r in range(2)]
    body = b"".join(uint(v, 4) for row in rows for v in row)
    msg = message([template_set(tmpl), set_(300, body)])
    return msg


@pytest.mark.parametrize("n", [1, 5, 300])
def test_wide_and_repeated_templates(n: int) -> None:
    """Dicts of 1 to 300 keys (CPython's index grows from 1- to 2-byte
    entries past 255); an IE repeated in a template has one key per
    occurrence (``name``, then ``name.1``)."""
    msg = wide_message(n)
    recs = list(ff.Reader(msg).records())
    assert len(recs) == 2
    width = n + min(2, n)
    for r, d in enumerate(recs):
        assert len(d) == width
        got = [int.from_bytes(v, "big") for v in d.values()]
        assert got == [1000 * r + k for k in range(width)]
        assert [k for k in d if k.endswith(".1")] == ["_ipfix_35566_1.1", "_ipfix_35566_2.1"][:n]
        # A fresh dict is a plain dict: it grows, shrinks and copies.
        key = next(iter(d))
        d["extra"] = 1
        del d[key]
        assert len(dict(d)) == width


@pytest.mark.parametrize("n", [1, 5, 300])
def test_compat_dicts_keep_the_last_value(n: int) -> None:
    """python-ipfix fills a dict field by field: an IE repeated in a
    template has its last value, in its first place."""
    from ferrofix.compat import reader

    recs = list(reader.from_stream(io.BytesIO(wide_message(n))).namedict_iterator())
    assert len(recs) == 2
    for r, d in enumerate(recs):
        want = [1000 * r + k for k in range(n)]
        for k in range(min(2, n)):
            want[k] = 1000 * r + n + k
        assert [int.from_bytes(v, "big") for v in d.values()] == want


def test_values_are_released_with_their_dicts() -> None:
    """Every value a dict holds goes when the dict goes: weak references to
    the address objects of every record die with the records (a reference
    leaked per value would keep them all)."""
    import weakref

    case = next(c for c in CASES if c.name.startswith("ipfixcol2__example_flows"))
    data = case.data()
    cols = ["sourceIPv4Address", "destinationIPv4Address", "octetDeltaCount", "flowLabelIPv6"]
    recs = list(ff.Reader(data).records(columns=cols))
    assert len(recs) > 100 and all(d["flowLabelIPv6"] is None for d in recs)
    refs = [weakref.ref(d[k]) for d in recs for k in cols[:2] if d[k] is not None]
    assert len(refs) > 200 and all(r() is not None for r in refs)
    del recs
    gc.collect()
    assert sum(r() is not None for r in refs) == 0


def test_address_objects_are_off_the_cyclic_gc_and_behave() -> None:
    """Address objects are untracked (they cannot be in a cycle); they still
    compare, hash, print and take weak references as the class's own."""
    import ipaddress
    import weakref

    t = template_record(256, [field(8, 4), field(27, 16)])
    v6 = (0x2001_0DB8 << 96) + 5
    data = message([template_set(t), set_(256, uint(0xC0000201, 4) + uint(v6, 16))])
    rec = next(ff.iter_records(data))
    a4, a6 = rec["sourceIPv4Address"], rec["sourceIPv6Address"]
    assert not gc.is_tracked(a4) and not gc.is_tracked(a6)
    want4, want6 = ipaddress.IPv4Address("192.0.2.1"), ipaddress.IPv6Address(v6)
    assert (a4, a6) == (want4, want6) and hash(a4) == hash(want4) and hash(a6) == hash(want6)
    assert (str(a4), str(a6)) == ("192.0.2.1", "2001:db8::5")
    r = weakref.ref(a4)
    assert r() is a4
    gc.collect()
    assert r() is a4 and a4 == want4
