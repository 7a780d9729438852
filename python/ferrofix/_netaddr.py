"""Vectorised address arithmetic for the ``flows`` accessor's network columns.

Addresses come from ferrofix as text (categoricals of strings, or Arrow
strings) or, with ``addresses="int"``, as integers. They are parsed here
with pyarrow and numpy, never one row at a time: IPv4 into ``uint32``, IPv6
into two ``uint64`` halves (``hi``, ``lo``); a categorical's categories are
parsed once and taken by its codes. A network is an address with the bits
past the prefix cleared (RFC 4632 §3.1 for IPv4, RFC 4291 §2.3 for IPv6).
Only each distinct network is formatted back to text: IPv4 by numpy and
pyarrow, IPv6 with :mod:`ipaddress` (RFC 5952's canonical form), once per
distinct network, never per row. The one exception is an IPv6 address
written with an embedded dotted IPv4 tail (``::ffff:192.0.2.1``), which is
rare and parsed with :mod:`ipaddress` row by row.
"""

from __future__ import annotations

import ipaddress
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

U64 = npt.NDArray[np.uint64]
Mask = npt.NDArray[np.bool_]

_HEX = np.full(256, 255, dtype=np.uint8)
for _i, _c in enumerate(b"0123456789abcdef"):
    _HEX[_c] = _i
for _i, _c in enumerate(b"ABCDEF"):
    _HEX[_c] = 10 + _i


def _bad(kind: str, values: Any) -> ValueError:
    sample = [v for v in values if v is not None][:3]
    return ValueError(f"not {kind} addresses: {sample!r}")


def _texts(s: pd.Series) -> tuple[pa.Array, npt.NDArray[np.intp] | None]:
    """The distinct texts to parse and, for a categorical, the codes that
    take them back to rows (None: the texts are the rows)."""
    if isinstance(s.dtype, pd.CategoricalDtype):
        cats = pa.array(np.asarray(s.cat.categories, dtype=object), type=pa.string())
        return cats, np.asarray(s.cat.codes, dtype=np.intp)
    if s.dtype == object:
        # ipaddress objects or text: their text, the one per-row step of a
        # column that is already made of Python objects.
        values = [None if v is None or v is pd.NA or v != v else str(v) for v in s]
        return pa.array(values, type=pa.string()), None
    return pa.array(s, type=pa.string(), from_pandas=True), None


def _take(values: U64, valid: Mask, codes: npt.NDArray[np.intp] | None) -> tuple[U64, Mask]:
    if codes is None:
        return values, valid
    ok = codes >= 0
    idx = np.where(ok, codes, 0)
    if len(values) == 0:
        return np.zeros(len(codes), dtype=np.uint64), np.zeros(len(codes), dtype=bool)
    return values[idx], ok & valid[idx]


def _is_integer(s: pd.Series) -> bool:
    return bool(pd.api.types.is_integer_dtype(s.dtype))


def ipv4_ints(s: pd.Series) -> tuple[U64, Mask]:
    """An IPv4 address column as integers (0 where null) and a validity mask."""
    if _is_integer(s):
        valid = np.asarray(s.notna(), dtype=bool)
        v = np.asarray(s.fillna(0).to_numpy(), dtype=np.uint64)
        if (v > 0xFFFFFFFF).any():
            raise ValueError(f"column {s.name!r}: an IPv4 address above 2**32-1")
        return v, valid
    if pd.api.types.is_float_dtype(s.dtype):
        # Integers with NaN for null (addresses="int" under the numpy
        # backend): exact, as every 32-bit integer is in a float64.
        f = np.asarray(s.to_numpy(dtype=np.float64, na_value=np.nan))
        valid = ~np.isnan(f)
        f = np.where(valid, f, 0.0)
        if ((f < 0) | (f > 0xFFFFFFFF) | (f != np.floor(f))).any():
            raise ValueError(f"column {s.name!r}: a value that is not an IPv4 address")
        return f.astype(np.uint64), valid
    texts, codes = _texts(s)
    valid = np.asarray(texts.is_valid(), dtype=bool)
    parts = pc.split_pattern(texts.filter(pa.array(valid)), ".")
    if len(parts) and pc.any(pc.not_equal(pc.list_value_length(parts), 4)).as_py():
        raise _bad("IPv4", texts.to_pylist())
    try:
        octets = pc.cast(pc.list_flatten(parts), pa.uint16()).to_numpy()
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        raise _bad("IPv4", texts.to_pylist()) from None
    if (octets > 255).any():
        raise _bad("IPv4", texts.to_pylist())
    o = octets.astype(np.uint64).reshape(-1, 4)
    packed = (o[:, 0] << 24) | (o[:, 1] << 16) | (o[:, 2] << 8) | o[:, 3]
    out = np.zeros(len(texts), dtype=np.uint64)
    out[valid] = packed
    return _take(out, valid, codes)


def _hex_groups(groups: pa.Array) -> npt.NDArray[np.uint64]:
    """Hex groups of one to four digits as integers (ValueError on others)."""
    if len(groups) == 0:
        return np.zeros(0, dtype=np.uint64)
    lens = pc.utf8_length(groups).to_numpy()
    if ((lens < 1) | (lens > 4)).any():
        raise ValueError("bad group")
    padded = pc.utf8_lpad(groups, 4, "0")
    if not isinstance(padded, pa.Array):
        padded = padded.combine_chunks()
    # Every value is 4 octets now: the data buffer is one (m, 4) block.
    offsets = np.frombuffer(padded.buffers()[1], dtype=np.int32)
    first = int(offsets[padded.offset])
    raw = np.frombuffer(padded.buffers()[2], dtype=np.uint8)[first : first + 4 * len(padded)]
    digits = _HEX[raw.reshape(-1, 4)]
    if (digits == 255).any():
        raise ValueError("bad digit")
    d = digits.astype(np.uint64)
    out: npt.NDArray[np.uint64] = d @ np.array([4096, 256, 16, 1], dtype=np.uint64)
    return out


def _split_groups(texts: pa.Array) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.int64]]:
    """``texts`` split at ``:`` (an empty text has no group): every group's
    value, and each text's group count."""
    empty = pc.equal(texts, "").to_numpy(zero_copy_only=False)
    nonempty = texts.filter(pa.array(~empty))
    parts = pc.split_pattern(nonempty, ":")
    counts = np.zeros(len(texts), dtype=np.int64)
    counts[~empty] = pc.list_value_length(parts).to_numpy()
    return _hex_groups(pc.list_flatten(parts)), counts


def _place(values: npt.NDArray[np.uint64], counts: npt.NDArray[np.int64], base: Any) -> Any:
    """Rows and positions (in the eight groups) of split groups: the k-th
    group of row r goes to ``base[r] + k``."""
    rows = np.repeat(np.arange(len(counts)), counts)
    starts = np.cumsum(counts) - counts
    k = np.arange(len(values)) - np.repeat(starts, counts)
    return rows, base[rows] + k


def _parse_ipv6(texts: pa.Array) -> tuple[U64, U64]:
    """Valid-only IPv6 texts without dotted tails as (hi, lo) halves."""
    n = len(texts)
    compressed = pc.match_substring(texts, "::")
    # A text without "::" gets one at its end, so every text splits in two.
    halves = pc.split_pattern(
        pc.if_else(compressed, texts, pc.binary_join_element_wise(texts, "::", "")),
        "::",
        max_splits=1,
    )
    nh = np.where(compressed.to_numpy(zero_copy_only=False), 2, 1)
    head = pc.list_element(halves, 0)
    tail = pc.list_element(halves, 1)
    hv, hn = _split_groups(head)
    tv, tn = _split_groups(tail)
    ok = np.where(nh == 2, hn + tn <= 7, hn == 8)
    if not ok.all() or pc.any(pc.match_substring(texts, ":::")).as_py():
        raise ValueError("bad group count")
    groups = np.zeros((n, 8), dtype=np.uint64)
    r, p = _place(hv, hn, np.zeros(n, dtype=np.int64))
    groups[r, p] = hv
    r, p = _place(tv, tn, 8 - tn)
    groups[r, p] = tv
    shifts = np.array([48, 32, 16, 0], dtype=np.uint64)
    hi = np.bitwise_or.reduce(groups[:, :4] << shifts, axis=1)
    lo = np.bitwise_or.reduce(groups[:, 4:] << shifts, axis=1)
    return hi.astype(np.uint64), lo.astype(np.uint64)


def ipv6_ints(s: pd.Series) -> tuple[U64, U64, Mask]:
    """An IPv6 address column as (hi, lo) 64-bit halves (0 where null) and a
    validity mask. Integer columns (``addresses="int"``) are taken as they
    are: Python ints or 16-octet big-endian bytes."""
    if not _is_integer(s) and s.dtype == object and any(isinstance(v, int | bytes) for v in s):
        ints = [None if v is None or v is pd.NA else _as_int(v) for v in s]
        valid = np.array([v is not None for v in ints], dtype=bool)
        hi = np.array([(v or 0) >> 64 for v in ints], dtype=np.uint64)
        lo = np.array([(v or 0) & 0xFFFFFFFFFFFFFFFF for v in ints], dtype=np.uint64)
        return hi, lo, valid
    if isinstance(s.dtype, pd.ArrowDtype) and pa.types.is_fixed_size_binary(s.dtype.pyarrow_dtype):
        return _ipv6_binary(pa.array(s, from_pandas=True))
    if _is_integer(s):
        valid = np.asarray(s.notna(), dtype=bool)
        lo = np.asarray(s.fillna(0).to_numpy(), dtype=np.uint64)
        return np.zeros(len(s), dtype=np.uint64), lo, valid
    texts, codes = _texts(s)
    valid = np.asarray(texts.is_valid(), dtype=bool)
    good = texts.filter(pa.array(valid))
    dotted = pc.match_substring(good, ".").to_numpy(zero_copy_only=False)
    hi = np.zeros(len(good), dtype=np.uint64)
    lo = np.zeros(len(good), dtype=np.uint64)
    try:
        h, l_ = _parse_ipv6(good.filter(pa.array(~dotted)))
    except (ValueError, pa.ArrowInvalid):
        raise _bad("IPv6", good.to_pylist()) from None
    hi[~dotted], lo[~dotted] = h, l_
    for i in np.flatnonzero(dotted):
        try:
            v = int(ipaddress.IPv6Address(good[int(i)].as_py()))
        except ValueError:
            raise _bad("IPv6", [good[int(i)].as_py()]) from None
        hi[i], lo[i] = v >> 64, v & 0xFFFFFFFFFFFFFFFF
    full_hi = np.zeros(len(texts), dtype=np.uint64)
    full_lo = np.zeros(len(texts), dtype=np.uint64)
    full_hi[valid], full_lo[valid] = hi, lo
    h2, ok = _take(full_hi, valid, codes)
    l2, _ = _take(full_lo, valid, codes)
    return h2, l2, ok


def _as_int(v: Any) -> int:
    if isinstance(v, bytes):
        return int.from_bytes(v, "big")
    return int(v)


def _ipv6_binary(arr: pa.Array) -> tuple[U64, U64, Mask]:
    valid = np.asarray(arr.is_valid(), dtype=bool)
    filled = pc.fill_null(arr, pa.scalar(b"\0" * 16, type=arr.type))
    if isinstance(filled, pa.ChunkedArray):
        filled = filled.combine_chunks()
    raw = np.frombuffer(filled.buffers()[1], dtype=">u8")
    words = raw[2 * filled.offset : 2 * (filled.offset + len(filled))].reshape(-1, 2)
    return words[:, 0].astype(np.uint64), words[:, 1].astype(np.uint64), valid


def _mask64(bits: int) -> np.uint64:
    """The top ``bits`` of a 64-bit word set (none below 0, all above 64)."""
    if bits <= 0:
        return np.uint64(0)
    bits = min(bits, 64)
    return np.uint64(((1 << bits) - 1) << (64 - bits))


def ipv4_networks(addr: U64, valid: Mask, prefix: int) -> tuple[list[str], npt.NDArray[np.intp]]:
    """The distinct ``a.b.c.d/prefix`` networks (in address order) and each
    row's index into them (-1 where the address is null)."""
    if not 0 <= prefix <= 32:
        raise ValueError(f"an IPv4 prefix length is 0-32, not {prefix}")
    mask = np.uint64((0xFFFFFFFF << (32 - prefix)) & 0xFFFFFFFF)
    nets = addr & mask
    uniq, inverse = np.unique(nets[valid], return_inverse=True)
    codes = np.full(len(addr), -1, dtype=np.intp)
    codes[valid] = inverse.reshape(-1)
    octets = [pc.cast(pa.array((uniq >> sh) & 255), pa.string()) for sh in (24, 16, 8, 0)]
    text = pc.binary_join_element_wise(*octets, ".")
    names = pc.binary_join_element_wise(text, pa.scalar(str(prefix)), "/")
    return [str(x) for x in names.to_pylist()], codes


def ipv6_networks(
    hi: U64, lo: U64, valid: Mask, prefix: int
) -> tuple[list[str], npt.NDArray[np.intp]]:
    """As :func:`ipv4_networks` for IPv6 (RFC 5952 text, each distinct
    network formatted once)."""
    if not 0 <= prefix <= 128:
        raise ValueError(f"an IPv6 prefix length is 0-128, not {prefix}")
    both = np.stack([hi & _mask64(prefix), lo & _mask64(prefix - 64)], axis=1)[valid]
    codes = np.full(len(hi), -1, dtype=np.intp)
    if len(both) == 0:
        return [], codes
    uniq, inverse = np.unique(both, axis=0, return_inverse=True)
    codes[valid] = inverse.reshape(-1)
    names = [
        str(ipaddress.IPv6Network(((int(h) << 64) | int(lo_), prefix))) for h, lo_ in uniq.tolist()
    ]
    return names, codes
