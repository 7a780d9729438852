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
from collections.abc import Mapping
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
    raise TypeError(f"a start bound is a datetime, ISO text or seconds, not {bound!r}")


def _many(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple | set) else [value]


def _ints(key: str, value: Any, top: int) -> list[int]:
    out = []
    for v in _many(value):
        if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v <= top:
            raise ValueError(f"where[{key!r}]: {v!r} is not a number from 0 to {top}")
        out.append(v)
    return out


def spec(where: Mapping[str, Any] | None) -> Any:
    """``where`` as the extension takes it, or None."""
    if not where:
        return None
    unknown = set(where) - set(KEYS)
    if unknown:
        raise ValueError(f"where: unknown keys {sorted(unknown)} (known: {', '.join(KEYS)})")
    start = None
    if where.get("start") is not None:
        lo, hi = where["start"]
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
