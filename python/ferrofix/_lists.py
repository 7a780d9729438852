"""RFC 6313 basicList values: a Python list that also names its element IE."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

#: List semantics (RFC 6313 §4.4, IANA "IPFIX Structured Data Types
#: Semantics").
SEMANTICS = {
    "noneOf": 0,
    "exactlyOneOf": 1,
    "oneOrMoreOf": 2,
    "allOf": 3,
    "ordered": 4,
    "undefined": 255,
}
_NAMES = {v: k for k, v in SEMANTICS.items()}


class BasicList(list[Any]):
    """The values of a basicList field (RFC 6313 §4.5.1): a ``list`` of
    values of one information element, ``ie`` (its name or IESpec, e.g.
    ``"sourceTransportPort"`` or ``"sourceTransportPort[1]"``), with the
    list's ``semantic`` (a name from :data:`SEMANTICS` or its number).

    The reader returns basicList fields in this form, and the writer needs
    it: a plain list does not say which IE its items are.

    >>> ports = BasicList("destinationTransportPort", [80, 443], "allOf")
    >>> ports == [80, 443], ports.ie, ports.semantic
    (True, 'destinationTransportPort', 'allOf')
    """

    __slots__ = ("_semantic", "ie")

    def __init__(
        self, ie: str, values: Iterable[Any] = (), semantic: str | int = "undefined"
    ) -> None:
        super().__init__(values)
        if not isinstance(ie, str):
            raise TypeError(f"ie must be an IE name or IESpec, not {type(ie).__name__}")
        self.ie = ie
        if isinstance(semantic, str):
            if semantic not in SEMANTICS:
                raise ValueError(
                    f"unknown list semantic {semantic!r}: one of {', '.join(SEMANTICS)}"
                )
            self._semantic = SEMANTICS[semantic]
        elif isinstance(semantic, int) and 0 <= semantic <= 255:
            self._semantic = semantic
        else:
            raise ValueError(f"a list semantic is a name or 0..255, not {semantic!r}")

    @property
    def semantic(self) -> str | int:
        """The semantic's name, or its number when IANA names none."""
        return _NAMES.get(self._semantic, self._semantic)

    @property
    def semantic_code(self) -> int:
        """The semantic as the octet written (0..255)."""
        return self._semantic

    def __repr__(self) -> str:
        return f"BasicList({self.ie!r}, {list.__repr__(self)}, {self.semantic!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (BasicList, (self.ie, list(self), self._semantic))
