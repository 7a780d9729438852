"""ferrofix: IPFIX (RFC 7011) for Python at native speed, and a flow meter.

>>> import ferrofix as ff
>>> for rec in ff.iter_records("flows.ipfix"):    # doctest: +SKIP
...     print(rec["sourceIPv4Address"], rec["octetDeltaCount"])
"""

from __future__ import annotations

from ._errors import (
    DecodeError,
    EncodeError,
    FerrofixError,
    FerrofixWarning,
    InternalError,
    LimitExceededError,
    MissingTemplateError,
    SpecError,
)
from ._ferrofix import IANA_REGISTRY_UPDATED, __version__

# The rest is imported when first used (PEP 562), so that ``import ferrofix``
# and the command line's start do not pay for modules a job never touches
# (the meter's command imports neither the IPFIX reader's Python classes nor
# the information-model helpers, nor ``typing``: type checkers take the name
# ``TYPE_CHECKING`` below as true). Each public name and its module:
_LAZY = {
    "IpfixScan": "_arrow",
    "TemplateKey": "_arrow",
    "read_ipfix": "_arrow",
    "scan_ipfix": "_arrow",
    "Collector": "_collect",
    "CollectorStatus": "_collect",
    "collect": "_collect",
    "write_dataset": "_dataset",
    "BasicList": "_lists",
    "Meter": "_meter",
    "TcpSeries": "_series",
    "meter": "_meter",
    "tcp_series": "_series",
    "IESpec": "_model",
    "InformationElement": "_model",
    "describe": "_model",
    "parse_spec": "_model",
    "spec_file": "_model",
    "DomainSequence": "_reader",
    "Reader": "_reader",
    "RecordMeta": "_reader",
    "Template": "_reader",
    "TemplateField": "_reader",
    "TransportHealth": "_reader",
    "iter_records": "_reader",
    "Writer": "_writer",
    "write_ipfix": "_writer",
}

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ._arrow import IpfixScan, TemplateKey, read_ipfix, scan_ipfix
    from ._collect import Collector, CollectorStatus, collect
    from ._dataset import write_dataset
    from ._lists import BasicList
    from ._meter import Meter, meter
    from ._model import IESpec, InformationElement, describe, parse_spec, spec_file
    from ._reader import (
        DomainSequence,
        Reader,
        RecordMeta,
        Template,
        TemplateField,
        TransportHealth,
        iter_records,
    )
    from ._series import TcpSeries, tcp_series
    from ._writer import Writer, write_ipfix


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'ferrofix' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "IANA_REGISTRY_UPDATED",
    "BasicList",
    "Collector",
    "CollectorStatus",
    "DecodeError",
    "DomainSequence",
    "EncodeError",
    "FerrofixError",
    "FerrofixWarning",
    "IESpec",
    "InformationElement",
    "InternalError",
    "IpfixScan",
    "LimitExceededError",
    "Meter",
    "MissingTemplateError",
    "Reader",
    "RecordMeta",
    "SpecError",
    "TcpSeries",
    "Template",
    "TemplateField",
    "TemplateKey",
    "TransportHealth",
    "Writer",
    "__version__",
    "collect",
    "describe",
    "iter_records",
    "meter",
    "parse_spec",
    "read_ipfix",
    "scan_ipfix",
    "spec_file",
    "tcp_series",
    "write_dataset",
    "write_ipfix",
]
