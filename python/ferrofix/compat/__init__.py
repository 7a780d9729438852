"""python-ipfix 0.9.7's API on ferrofix: existing scripts switch by
changing one import (``import ferrofix.compat as ipfix``, or
``from ferrofix.compat import ie, reader``), or by none at all after
:func:`install`, which makes ``import ipfix`` resolve here.

>>> import ferrofix.compat as ipfix
>>> ipfix.ie.use_iana_default()
>>> str(ipfix.ie.for_spec("octetDeltaCount"))
'octetDeltaCount(0/1)<unsigned64>[8]'

The modules: :mod:`~ferrofix.compat.types`, :mod:`~ferrofix.compat.ie`,
:mod:`~ferrofix.compat.template`, :mod:`~ferrofix.compat.message`,
:mod:`~ferrofix.compat.reader` and :mod:`~ferrofix.compat.writer` (whole
streams through ferrofix's core), :mod:`~ferrofix.compat.v9pdu` (NetFlow
v9 through ferrofix's translation to IPFIX) and
:mod:`~ferrofix.compat.ieutils`. Each module's docstring lists its
deliberate differences from python-ipfix, with the reason for each.
"""

from __future__ import annotations

import sys

from . import ie, ieutils, message, reader, template, types, v9pdu, writer

__all__ = [
    "ie",
    "ieutils",
    "install",
    "message",
    "reader",
    "template",
    "types",
    "v9pdu",
    "writer",
]

_SUBMODULES = ("types", "ie", "template", "message", "reader", "writer", "v9pdu", "ieutils")


def install() -> None:
    """Make ``import ipfix`` (and ``import ipfix.reader`` etc.) resolve to
    this package, for notebooks and scripts that cannot be edited. Call it
    before they import ipfix; it refuses (ImportError) when the real
    python-ipfix is imported already, since its modules would then be mixed
    with these."""
    me = sys.modules[__name__]
    have = sys.modules.get("ipfix")
    if have is not None and have is not me:
        raise ImportError(
            "python-ipfix is already imported (ipfix from "
            f"{getattr(have, '__file__', '?')}): call ferrofix.compat.install() "
            "before anything imports ipfix"
        )
    sys.modules["ipfix"] = me
    for name in _SUBMODULES:
        sys.modules[f"ipfix.{name}"] = getattr(me, name)
