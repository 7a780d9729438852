"""python-ipfix's ``ipfix.ie``: Information Elements, IESpecs and the
process-wide information model.

An IESpec names an IE as ``name(pen/num)<type>[size]`` (RFC 7013 §9 style);
every part is optional when looking an IE up, a full spec defines one:

>>> from ferrofix.compat import ie
>>> ie.use_iana_default()
>>> str(ie.for_spec("octetDeltaCount"))
'octetDeltaCount(0/1)<unsigned64>[8]'
>>> e = ie.for_spec("myNewInformationElement(35566/1)<string>")
>>> e
InformationElement('myNewInformationElement', 35566, 1, ipfix.types.for_name('string'), 65535)
>>> str(ie.for_spec("octetDeltaCount[4]")), ie.for_spec("octetDeltaCount[4]").unparse(5)
('octetDeltaCount(0/1)<unsigned64>[4]', '5')

Like python-ipfix, the model is one registry per process (``clear_infomodel``
empties it); :func:`use_iana_default` fills it from ferrofix's own IANA
registry snapshot and :func:`use_5103_default` adds the RFC 5103 reverse IEs
(PEN 29305, ``reverse`` + the name with its first letter in capitals).

Deliberate differences from python-ipfix 0.9.7, each with its reason:

1. ``use_iana_default()`` loads ferrofix's IANA registry (the snapshot in
   ``data/iana``, every IE python-ipfix's 2014 file has and about a hundred
   more, including basicList/subTemplateList/subTemplateMultiList IEs 291-293
   and unsigned256 ones, whose values are raw bytes here). One IE was renamed
   by IANA since: 278 is ``newConnectionDeltaCount``; the old name
   ``connectionCountNew`` still finds it.
2. ``use_5103_default()`` gives every IANA IE its reverse counterpart, as
   ferrofix's reader names them; python-ipfix's file skipped 35 address,
   port and prefix IEs, so e.g. 29305/8 read as ``_ipfix_29305_8`` there and
   as ``reverseSourceIPv4Address`` here.
3. ``for_spec("x[4]").unparse(v)`` (any reduced-length IE) works; python-ipfix
   raised TypeError (its reduced-length types got the wrong arguments).
4. ``hash(ie)`` follows equality, by (pen, num): python-ipfix hashed the length
   too, so equal IEs could hash differently (broken sets and dict keys). An
   empty InformationElementList hashes (python-ipfix raised).
5. ``for_length`` keeps an IE's own ``valstr``/``valparse``.
6. Spec files may hold blank lines and ``#`` comments (python-ipfix raised
   ValueError on them), so ferrofix's bundled spec files load.
7. ``for_template_entry`` never raises for a length the IE's type cannot take
   (an IPv4 address in 5 octets, an unsigned64 sent variable-length): the
   field decodes as raw octets under the IE's name, as ferrofix's reader
   does; python-ipfix raised IpfixTypeError, which aborted the whole read.
   A zero-length field decodes as ``b""`` (python-ipfix gave the IE its
   default length, reading the next fields' octets as its value).
"""

from __future__ import annotations

import operator
import re
from collections.abc import Iterable, Iterator
from functools import reduce, total_ordering
from typing import Any, overload

from .._model import describe
from . import types

REVERSE_PEN = 29305
"""The PEN of the RFC 5103 reverse counterparts of IANA IEs."""

# IANA names changed since python-ipfix's 2014 registry: id -> former name.
_FORMER_NAMES = {278: "connectionCountNew"}

_SPEC_RE = re.compile(
    r"^(?P<name>[^\s\[<(]+)?"
    r"(?:\((?:(?P<pen>\d+)/)?(?P<num>\d+)\))?"
    r"(?:<(?P<type>\S+)>)?"
    r"(?:\[(?P<length>\S+)\])?"
)

_ie_for_name: dict[str, InformationElement] = {}
_ie_for_num: dict[tuple[int, int], InformationElement] = {}


@total_ordering
class InformationElement:
    """An IPFIX Information Element: name, private enterprise number (0 for
    IANA), element number, type and length. Get instances from
    :func:`for_spec` or :func:`for_template_entry`. Equality, ordering and
    hash use (pen, num) only."""

    def __init__(
        self,
        name: str | None,
        pen: int,
        num: int,
        ietype: types.IpfixType | None = None,
        length: int | None = None,
        valstr: types.Conv | None = None,
        valparse: types.Conv | None = None,
    ) -> None:
        if ietype is None:
            ietype = types.for_name("octetArray")
        self.name: str = name if name else f"_ipfix_{pen}_{num}"
        self.pen = pen
        self.num = num
        self.length: int = length if length else ietype.length
        self.type = ietype.for_length(self.length)
        self.valstr = valstr
        self.valparse = valparse

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, InformationElement):
            return NotImplemented
        return (self.pen, self.num) == (other.pen, other.num)

    def __lt__(self, other: InformationElement) -> bool:
        return (self.pen, self.num) < (other.pen, other.num)

    def __hash__(self) -> int:
        return hash((self.pen, self.num))

    def _ferrofix_spec(self, with_length: bool = False) -> str:
        """The IESpec ferrofix's reader and writer resolve to exactly this
        IE (by number), with its length when asked."""
        spec = f"{self.name}({self.pen}/{self.num})<{self.type.name}>"
        return f"{spec}[{self.length}]" if with_length else spec

    def __repr__(self) -> str:
        return (
            f"InformationElement({self.name!r}, {self.pen!r}, {self.num!r}, "
            f"{self.type!r}, {self.length!r})"
        )

    def __str__(self) -> str:
        return f"{self.name}({self.pen}/{self.num}){self.type}[{self.length}]"

    def for_length(self, length: int | None) -> InformationElement:
        """This IE for a field of ``length`` octets (reduced-size encoding,
        fixed-length strings); itself when the length is 0, None or its own.

        :raises: IpfixTypeError (a ValueError) if the type cannot take it
        """
        if not length or length == self.length:
            return self
        return InformationElement(
            self.name, self.pen, self.num, self.type, length, self.valstr, self.valparse
        )

    def unparse(self, v: Any) -> Any:
        """The string form of a value (the IE's ``valstr``, else its type's)."""
        if self.valstr is not None:
            return self.valstr(v)
        return self.type.valstr(v)

    def parse(self, s: str) -> Any:
        """The value of a string form (the IE's ``valparse``, else its type's)."""
        if self.valparse is not None:
            return self.valparse(s)
        return self.type.valparse(s)


@total_ordering
class InformationElementList:
    """A hashable ordered list of IEs, for templates and the tuple
    interfaces; get one from :func:`spec_list`."""

    def __init__(self, iterable: Iterable[InformationElement] | None = None) -> None:
        self.inner: list[InformationElement] = []
        self.hashcache: int | None = None
        if iterable:
            for x in iterable:
                self.append(x)

    def __iter__(self) -> Iterator[InformationElement]:
        return iter(self.inner)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, InformationElementList):
            return NotImplemented
        return self.inner == other.inner

    def __lt__(self, other: InformationElementList) -> bool:
        return self.inner < other.inner

    def __repr__(self) -> str:
        return "InformationElementList(" + ",".join(repr(x) for x in self.inner) + ")"

    def __str__(self) -> str:
        return "\n".join(str(x) for x in self.inner)

    def __hash__(self) -> int:
        if self.hashcache is None:
            self.hashcache = reduce(operator.xor, (hash(x) for x in self.inner), 0)
        return self.hashcache

    def __len__(self) -> int:
        return len(self.inner)

    @overload
    def __getitem__(self, key: int) -> InformationElement: ...
    @overload
    def __getitem__(self, key: slice) -> list[InformationElement]: ...
    def __getitem__(self, key: int | slice) -> InformationElement | list[InformationElement]:
        return self.inner[key]

    def index(self, x: InformationElement) -> int:
        return self.inner.index(x)

    def append(self, ie: InformationElement) -> None:
        self.inner.append(ie)
        self.hashcache = None


def _register(ie: InformationElement) -> InformationElement:
    _ie_for_name[ie.name] = ie
    _ie_for_num[(ie.pen, ie.num)] = ie
    return ie


def parse_spec(spec: str) -> tuple[str | None, int, int, str | bool, int]:
    """Split an IESpec into ``(name, pen, num, typename, length)``; absent
    parts are None (name), 0 (pen, num, length) and False (typename)."""
    m = _SPEC_RE.match(spec)
    assert m is not None  # every part is optional: the pattern always matches
    name, pen, num, typename, length = m.group("name", "pen", "num", "type", "length")
    return (
        name,
        int(pen) if pen else 0,
        int(num) if num else 0,
        typename if typename else False,
        int(length) if length else 0,
    )


def for_spec(spec: str) -> InformationElement:
    """The IE an IESpec names: looked up by name, or by (pen, num), in the
    model; a full spec of an IE not yet known defines and registers it.

    :raises: ValueError
    """
    name, pen, num, typename, length = parse_spec(spec)
    if not name and not pen and not num and not typename and not length:
        raise ValueError("unrecognized IE spec " + spec)
    if name and not pen and not num and name in _ie_for_name:
        return _ie_for_name[name].for_length(length)
    if num and (pen, num) in _ie_for_num:
        return _ie_for_num[(pen, num)].for_length(length)
    if not typename:
        raise ValueError(f"IE {spec} unknown; use a full IEspec to create a new IE.")
    return _register(InformationElement(name, pen, num, types.for_name(str(typename)), length))


def for_template_entry(pen: int, num: int, length: int) -> InformationElement:
    """The IE for a template's field specifier. An IE the model lacks is
    registered as ``_ipfix_<pen>_<num>``, an octetArray; a length the IE's
    type cannot take (or 0) gives the IE's name with raw octets."""
    known = _ie_for_num.get((pen, num))
    octets = types.for_name("octetArray")
    if known is None:
        known = _register(InformationElement(None, pen, num, octets, length))
    if length == 0:
        return InformationElement(known.name, pen, num, types._ZERO_OCTETS)
    try:
        return known.for_length(length)
    except types.IpfixTypeError:
        return InformationElement(known.name, pen, num, octets, length)


def spec_list(specs: Iterable[str]) -> InformationElementList:
    """An InformationElementList of the IEs the IESpecs name, for the tuple
    interfaces and for templates.

    :raises: ValueError
    """
    return InformationElementList(for_spec(spec) for spec in specs)


def clear_infomodel() -> None:
    """Forget every known Information Element."""
    _ie_for_name.clear()
    _ie_for_num.clear()


def dump_infomodel() -> list[InformationElement]:
    """Every known IE, sorted by (pen, num)."""
    return sorted(_ie_for_num.values())


def use_specfile(filename: str) -> None:
    """Load a file of IESpecs, one a line (blank lines and ``#`` comments are
    skipped), into the model; IEs already known by (pen, num) stay.

    :raises: ValueError
    """
    with open(filename, encoding="utf-8") as f:
        for line in f:
            s = line.strip()
            if s and not s.startswith("#"):
                for_spec(s)


def _type_for(typename: str) -> types.IpfixType:
    try:
        return types.for_name(typename)
    except types.IpfixTypeError:
        return types.for_name("octetArray")


def _iana() -> list[tuple[str, int, str]]:
    """(name, id, type) of every IANA IE ferrofix knows."""
    return [(e.name, e.id, e.type) for e in describe(spec_files=[]) if e.pen == 0]


def _load(rows: Iterable[tuple[str, int, str]], pen: int, prefix: bool) -> None:
    for name, num, typename in rows:
        if prefix:
            name = _reverse_name(name)
        if (pen, num) not in _ie_for_num:
            _register(InformationElement(name, pen, num, _type_for(typename)))
        former = _FORMER_NAMES.get(num)
        known = _ie_for_num[(pen, num)]
        if former is not None and known.name == name:
            _ie_for_name.setdefault(_reverse_name(former) if prefix else former, known)


def _reverse_name(name: str) -> str:
    return "reverse" + name[:1].upper() + name[1:]


def use_iana_default() -> None:
    """Load every IANA-registered IE ferrofix knows into the model."""
    _load(_iana(), 0, False)


def use_5103_default() -> None:
    """Load the RFC 5103 reverse counterpart (PEN 29305) of every IANA IE."""
    _load(_iana(), REVERSE_PEN, True)
