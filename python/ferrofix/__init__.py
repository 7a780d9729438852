"""ferrofix: IPFIX (RFC 7011) for Python at native speed, and a flow meter.

>>> import ferrofix as ff
>>> for rec in ff.iter_records("flows.ipfix"):    # doctest: +SKIP
...     print(rec["sourceIPv4Address"], rec["octetDeltaCount"])
"""

from ._arrow import IpfixScan, TemplateKey, read_ipfix, scan_ipfix
from ._collect import Collector, CollectorStatus, collect
from ._dataset import write_dataset
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
from ._lists import BasicList
from ._meter import Meter, TcpSeries, meter, tcp_series
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
from ._writer import Writer, write_ipfix

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
