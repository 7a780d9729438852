"""``where=``: a filter on flow keys applied while decoding
(:func:`ferrofix.scan_ipfix`, :func:`ferrofix.read_ipfix`,
:class:`ferrofix.Meter`, :func:`ferrofix.meter`, and their
:mod:`ferrofix.dask` forms), so that what it drops is never made into rows
(the meter's flow records are filtered as they are made: its statistics
still count every record).

``where`` is a dict of any of:

- ``"start"``: ``(from, to)``, the flow's start (flowStartSeconds, -Milliseconds,
  -Microseconds or -Nanoseconds) in ``[from, to)``; each bound a
  ``datetime`` (naive is UTC), an ISO 8601 string, a pandas ``Timestamp``,
  seconds since 1970, or None for no bound;
- ``"protocol"``: a protocol number or a list (``6``, ``[6, 17]``);
- ``"port"``: a port or a list, matching the source or the destination port;
- ``"address"``: an address or prefix, or a list (``"10.0.0.0/8"``,
  ``"2001:db8::/32"``, ``ipaddress`` objects), matching the source or the
  destination address.

Every key given must match (and); within a key any value may (or). A
record without the IEs a key needs does not match it.
"""

from __future__ import annotations

import ipaddress
import operator
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

KEYS = ("start", "protocol", "port", "address")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_I64 = (-(2**63), 2**63 - 1)


def _ns(bound: Any, default: int) -> int:
    if bound is None:
        return default
    value = getattr(bound, "value", None)  # a pandas Timestamp: nanoseconds
    if isinstance(value, int) and hasattr(bound, "tz_localize"):
        return value
    if isinstance(bound, str):
        bound = datetime.fromisoformat(bound)
    if isinstance(bound, datetime):
        t = bound if bound.tzinfo else bound.replace(tzinfo=UTC)
        return ((t - _EPOCH) // timedelta(microseconds=1)) * 1000
    if isinstance(bound, int | float) and not isinstance(bound, bool):
        return int(bound * 1_000_000_000)
    if hasattr(bound, "__index__") and not isinstance(bound, bool):  # numpy's integers
        return operator.index(bound) * 1_000_000_000
    if hasattr(bound, "__float__") and not isinstance(bound, bool | str):  # numpy's floats
        return int(float(bound) * 1_000_000_000)
    raise TypeError(f"a start bound is a datetime, ISO text or seconds, not {bound!r}")


def _many(value: Any) -> list[Any]:
    """A value or any collection of them (a list, a set, a numpy or pandas
    array, a range); text is one value."""
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Iterable):
        return [value]
    return list(value)


def _ints(key: str, value: Any, top: int) -> list[int]:
    out = []
    for v in _many(value):
        try:
            n = None if isinstance(v, bool) else operator.index(v)  # numpy's integers too
        except TypeError:
            n = None
        if n is None or not 0 <= n <= top:
            raise ValueError(f"where[{key!r}]: {v!r} is not a number from 0 to {top}")
        out.append(n)
    return out


def spec(where: Mapping[str, Any] | None) -> Any:
    """``where`` as the extension takes it, or None."""
    if where is None:
        return None
    if not isinstance(where, Mapping):
        raise TypeError(
            f"where is a dict of {', '.join(KEYS)} (e.g. {{'protocol': 6}}), "
            f"not {type(where).__name__}"
        )
    if not where:
        return None
    unknown = set(where) - set(KEYS)
    if unknown:
        raise ValueError(f"where: unknown keys {sorted(unknown)} (known: {', '.join(KEYS)})")
    start = None
    if where.get("start") is not None:
        bounds = where["start"]
        if isinstance(bounds, str | bytes) or len(_many(bounds)) != 2:
            raise ValueError(
                f"where['start'] is a (from, to) pair (None for no bound), not {bounds!r}"
            )
        lo, hi = _many(bounds)
        start = (_ns(lo, _I64[0]), _ns(hi, _I64[1]))
    protocols = _ints("protocol", where["protocol"], 255) if "protocol" in where else []
    ports = _ints("port", where["port"], 65535) if "port" in where else []
    prefixes = []
    for a in _many(where.get("address", [])):
        try:
            net = ipaddress.ip_network(str(a), strict=False)
        except ValueError as e:
            raise ValueError(f"where['address']: {a!r} is not an address or prefix") from e
        prefixes.append((str(net.network_address), net.prefixlen))
    return (start, protocols, ports, prefixes)
