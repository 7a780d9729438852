"""libfixbuf ipfixDump output for the IPFIX fixtures: parsing its text and
comparing ferrofix values with its display forms (``compare_ipfixdump``).

Split from ``oracle.py``, which holds the cases, loaders and tshark comparators
that this module shares.
"""

from __future__ import annotations

import ipaddress
import re
import struct
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import oracle_types as ot
from ferrofix import BasicList
from oracle import MISMATCH, ORACLES, Case, Verdict, _as_bytes, _read

# --------------------------------------------------------------------------
# ipfixDump text


@dataclass
class DumpField:
    pen: int
    id: int
    name: str
    type: str  # libfixbuf's type name from the template listing: uint8, octet, ...
    length: int  # template length (65535: variable)
    text: str  # what ipfixDump printed after " : " (first line only)
    raw: bytes | None = None  # string fields: the exact value octets printed
    scope: bool = False
    children: list[DumpRecord] = field(default_factory=list)  # STL/STML records
    items: list[str] = field(default_factory=list)  # basicList elements
    # basicList header: (semantic number, item IE id, item IE name)
    list_head: tuple[int, int, str] | None = None
    # subTemplateList/MultiList header: (element count, semantic number)
    list_count: tuple[int, int] | None = None
    # subTemplateMultiList entries: (template id, record count) each
    entries: list[tuple[int, int]] = field(default_factory=list)


@dataclass
class DumpRecord:
    msg: int
    odid: int
    template_id: int | None
    fields: list[DumpField] = field(default_factory=list)


@dataclass
class DumpMessage:
    index: int
    export_time: str
    odid: int
    length: int
    sequence: int


@dataclass
class IpfixDump:
    messages: list[DumpMessage]
    records: list[DumpRecord]  # top-level data records, wire order
    templates: dict[tuple[int, int], list[tuple[int, int, str, int, bool, str]]]
    file_stats: str | None
    stderr: str


_MSG_TIME = re.compile(rb"^export time: (.+)\tobservation domain id: (\d+)$")
_MSG_LEN = re.compile(rb"^message length: (\d+) *\tsequence number: (\d+) ")
_TMPL_HDR = re.compile(rb"^\ttid: +(\d+) \(0x[0-9a-f]+\) +field count: +(\d+) +scope: +(\d+)")
_TMPL_FIELD = re.compile(
    rb"^\tent: +(\d+)  id: +(\d+)  type: (\S+) +len: +(\d+) (\(S\)|   ) (\S+)$"
)
_REC = re.compile(rb"^(\t*)--- data record (\d+) ---$")
_REC_TID = re.compile(rb"^(\t+)count: +(\d+) +tid: +(\d+) \(")
# "(id)" or "(pen/id)"; ipfixDump prints the PEN with %d, so 4294967295 is -1.
_FIELD = re.compile(rb"^(\t+)\((-?\d+)(?:/(\d+))?\)( \(S\))? *(\S+) : ")
_STRLEN = re.compile(rb"\(len: (\d+)\) ")
_BL_ITEM = re.compile(rb"^(\t+)(\d+) *: (.*)$")
_BL_HEAD = re.compile(rb"^\t+count: *\d+ +semantic: *(\d+)-\S+ +ie: *\((\d+)\) (\S+)")
_LIST_MARK = re.compile(
    rb"^(\t+)\+\+\+ (basicList|subTemplateList|subTemplateMultiList)(Entry \d+)? \+\+\+$"
)
_LIST_HEAD = re.compile(rb"^\t+count: *(\d+) +semantic: *(\d+)-")
_ENTRY_HEAD = re.compile(rb"^\t+count: +(\d+) +tid: +(\d+) \(")


def parse_ipfixdump(out: bytes, stderr: str = "") -> IpfixDump:
    """Parse ipfixDump's text (libfixbuf 2.4, ipfixDumpPrint.c formats)."""
    messages: list[DumpMessage] = []
    records: list[DumpRecord] = []
    templates: dict[tuple[int, int], list[tuple[int, int, str, int, bool, str]]] = {}
    file_stats = None
    odid = 0
    tmpl_key: tuple[int, int] | None = None
    in_tmpl = False
    stack: list[tuple[int, DumpRecord]] = []  # (tab depth, record)
    want_tid: DumpRecord | None = None
    list_field: DumpField | None = None
    list_mark = b""  # the list line last seen: "Entry N" wants its header next
    pos = 0
    n = len(out)
    while pos < n:
        end = out.find(b"\n", pos)
        if end < 0:
            end = n
        line = out[pos:end]
        nxt = end + 1
        if line == b"--- Message Header ---":
            stack, list_field, tmpl_key, in_tmpl = [], None, None, False
        elif m := _MSG_TIME.match(line):
            odid = int(m.group(2))
            messages.append(DumpMessage(len(messages), m.group(1).decode(), odid, 0, 0))
        elif m := _MSG_LEN.match(line):
            messages[-1].length, messages[-1].sequence = int(m.group(1)), int(m.group(2))
        elif line in (b"--- template record ---", b"--- options template record ---"):
            stack, list_field, tmpl_key, in_tmpl = [], None, None, True
        elif (m := _TMPL_HDR.match(line)) and in_tmpl:
            in_tmpl = False
            tmpl_key = (odid, int(m.group(1)))
            templates[tmpl_key] = []
            if int(m.group(2)) == 0:  # withdrawal
                del templates[tmpl_key]
                tmpl_key = None
        elif (m := _TMPL_FIELD.match(line)) and tmpl_key is not None:
            templates[tmpl_key].append(
                (
                    int(m.group(1)),
                    int(m.group(2)),
                    m.group(3).decode(),
                    int(m.group(4)),
                    m.group(5) == b"(S)",
                    m.group(6).decode(),
                )
            )
        elif m := _REC.match(line):
            tmpl_key, in_tmpl = None, False
            depth = len(m.group(1))
            while stack and stack[-1][0] >= depth:
                stack.pop()
            rec = DumpRecord(len(messages) - 1, odid, None)
            if depth == 0:
                records.append(rec)
            elif stack and stack[-1][1].fields:
                stack[-1][1].fields[-1].children.append(rec)
            stack.append((depth, rec))
            want_tid = rec
        elif (m := _REC_TID.match(line)) and want_tid is not None:
            want_tid.template_id = int(m.group(3))
            want_tid = None
        elif m := _FIELD.match(line):
            depth = len(m.group(1)) - 1
            while stack and stack[-1][0] > depth:
                stack.pop()
            if not stack or stack[-1][0] != depth:
                raise ValueError(f"field line outside a record at byte {pos}: {line!r}")
            rec = stack[-1][1]
            pen = int(m.group(2)) & 0xFFFFFFFF if m.group(3) else 0
            fid = int(m.group(3) or m.group(2))
            idx = len(rec.fields)
            tmpl = templates.get((rec.odid, rec.template_id or -1), [])
            ftype, flen = (tmpl[idx][2], tmpl[idx][3]) if idx < len(tmpl) else ("?", 0)
            value_at = pos + m.end()
            raw = None
            text = out[value_at:end]
            if ftype == "string" and (s := _STRLEN.match(out, value_at)):
                # The value is printed verbatim and may itself hold newlines.
                start = s.end()
                raw = out[start : start + int(s.group(1))]
                text = out[value_at:start] + raw
                nxt = start + len(raw) + 1
            rec.fields.append(
                DumpField(
                    pen,
                    fid,
                    m.group(5).decode(),
                    ftype,
                    flen,
                    text.decode("utf-8", "surrogateescape"),
                    raw,
                    bool(m.group(4)),
                )
            )
            list_field = None
        elif m := _LIST_MARK.match(line):
            # The list of the last field of the record one level up (its
            # fields are one tab in, its lists' lines two).
            while stack and stack[-1][0] > len(m.group(1)) - 2:
                stack.pop()
            list_field = stack[-1][1].fields[-1] if stack and stack[-1][1].fields else None
            list_mark = m.group(3) or m.group(2)
        elif (m := _BL_HEAD.match(line)) and list_field is not None:
            list_field.list_head = (int(m.group(1)), int(m.group(2)), m.group(3).decode())
        elif (m := _LIST_HEAD.match(line)) and list_field is not None:
            list_field.list_count = (int(m.group(1)), int(m.group(2)))
        elif (m := _ENTRY_HEAD.match(line)) and list_field and list_mark.startswith(b"Entry"):
            list_field.entries.append((int(m.group(2)), int(m.group(1))))
            list_mark = b""
        elif (m := _BL_ITEM.match(line)) and list_field is not None:
            list_field.items.append(m.group(3).decode("utf-8", "surrogateescape"))
        elif line.startswith(b"*** File Stats:"):
            file_stats = line.decode()
        pos = nxt
    return IpfixDump(messages, records, templates, file_stats, stderr)


def stream_messages(data: bytes) -> list[tuple[int, int, int, int]]:
    """(offset, length, sequence, odid) of each IPFIX message header in a
    stream, up to the first header that cannot be one (RFC 7011 section 3.1)."""
    out = []
    off = 0
    while off + 16 <= len(data):
        version, length, _t, seq, odid = struct.unpack_from(">HHIII", data, off)
        if version != 10 or length < 16 or off + length > len(data):
            break
        out.append((off, length, seq, odid))
        off += length
    return out


def _align_messages(dump: IpfixDump, data: bytes) -> None:
    """ipfixDump prints no header for a message without sets: map its message
    numbers onto the stream's by (length, sequence, domain), in order."""
    headers = stream_messages(data)
    mapping: dict[int, int] = {}
    j = 0
    for m in dump.messages:
        while j < len(headers) and headers[j][1:] != (m.length, m.sequence, m.odid):
            j += 1
        if j == len(headers):
            raise ValueError(f"ipfixDump message {m.index} matches no message header")
        mapping[m.index] = j
        m.index = j
        j += 1

    def remap(recs: list[DumpRecord]) -> None:
        for r in recs:
            r.msg = mapping[r.msg]
            for f in r.fields:
                remap(f.children)

    remap(dump.records)


def load_ipfixdump(case: Case) -> IpfixDump | None:
    """The parsed ipfixDump output of a case, or None when it was not run.
    Message numbers are those of the stream (ipfixDump skips empty messages)."""
    if case.skip_ipfixdump:
        return None
    out = _read(ORACLES / f"{case.name}.ipfixdump.txt")
    if out is None:
        raise FileNotFoundError(f"no ipfixDump oracle for {case.name}")
    err_path = ORACLES / f"{case.name}.ipfixdump.stderr.txt"
    stderr = err_path.read_text(errors="replace") if err_path.exists() else ""
    dump = parse_ipfixdump(out, stderr)
    _align_messages(dump, case.data())
    return dump


def format_ipfixdump_ipv6(addr: ipaddress.IPv6Address) -> str:
    """ipfixDump's IPv6 display (mdPrintIP6Address): 4-digit groups, the first
    run of zero groups (even a single one) shown as '::'."""
    groups = [int.from_bytes(addr.packed[i : i + 2], "big") for i in range(0, 16, 2)]
    out, start, done = "", False, False
    for i, g in enumerate(groups):
        if g or done:
            out += f"{g:04x}" + (":" if i < 7 else "")
            if start:
                done = True
        elif not start:
            out += "::" if i == 0 else ":"
            start = True
    return out


_DUMP_TIME = re.compile(r"^(\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)(?:\.(\d+))?$")
_DUMP_OCTETS = re.compile(r"^\(len: (\d+)\)(?: 0x([0-9a-f]*))?$")
_DUMP_LEN_ONLY = re.compile(r"^len: (\d+)$")


def compare_ipfixdump(value: Any, f: DumpField) -> Verdict:
    """Compare one ferrofix value with ipfixDump's display of the same field.

    ipfixDump types every IE it knows (IANA's, CERT's with -y): a value of
    another Python type, raw bytes for an IE it does not call ``octet``
    included, is a mismatch. Lists are compared element by element
    (``compare_list``). No field is skipped: every branch decides."""
    t, text = f.type, f.text
    if ot.wrong_type(value, f.pen, f.id):
        return MISMATCH
    if t in ("bl", "stl", "stml"):
        return compare_list(value, f)
    if isinstance(value, list) or (isinstance(value, (bytes, bytearray)) and t != "octet"):
        return MISMATCH
    if f.id == 210 and f.pen == 0:  # paddingOctets: ipfixDump prints only the length
        m = _DUMP_LEN_ONLY.match(text)
        return m is not None and len(value) == int(m.group(1))
    if t.startswith("uint") or t.startswith("int"):
        if isinstance(value, bool):
            return text == ("1" if value else "2")
        return isinstance(value, int) and text == str(value)
    if t == "bool":
        return isinstance(value, bool) and text == ("1" if value else "2")
    if t in ("float32", "float64"):
        if isinstance(value, float):
            return text == f"{value:.8g}" or text.lstrip("-") == f"{value:.8g}".lstrip("-")
        return MISMATCH
    if t in ("ipv4", "ipv6"):
        if isinstance(value, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
            want = str(value) if t == "ipv4" else format_ipfixdump_ipv6(value)  # type: ignore[arg-type]
            return text == want
        return MISMATCH
    if t == "mac":
        return isinstance(value, str) and text == value
    if t in ("sec", "millisec", "microsec", "nanosec"):
        m = _DUMP_TIME.match(text)
        if not m or not isinstance(value, datetime):
            return MISMATCH
        y, mo, d, hh, mm, ss, frac = m.groups()
        whole = datetime(int(y), int(mo), int(d), int(hh), int(mm), int(ss), tzinfo=UTC)
        v = value.astimezone(UTC)
        if v.replace(microsecond=0) != whole:
            return MISMATCH
        if t == "millisec":
            return int(frac) == v.microsecond // 1000
        # sec: no fraction; microsec/nanosec: ipfixDump 2.4 computes the
        # fraction as (ntp & mask) / 2**32, which is always 0: only seconds.
        return t != "sec" or v.microsecond == 0
    if t == "string":
        shown = f.raw if f.raw is not None else text.encode("utf-8", "surrogateescape")
        # ferrofix decodes a string as UTF-8, invalid octets replaced.
        return isinstance(value, str) and value == shown.decode("utf-8", "replace")
    if t == "octet":
        return _compare_octets(value, f)
    return f"ipfixDump type {t!r} not compared"


def _compare_octets(value: Any, f: DumpField) -> Verdict:
    """An IE ipfixDump shows as octets (an octetArray, or an IE it does not
    know): ferrofix may know it by another type."""
    text = f.text
    if f.length != 65535 and f.length <= 8:
        # ipfixDump copies octetArrays of up to 8 octets into a uint64 on
        # the host, i.e. shows them as a little-endian integer.
        raw = _as_bytes(value, f.length)
        if raw is None and isinstance(value, str):
            raw = value.encode("utf-8").ljust(f.length, b"\0")
        if raw is None and isinstance(value, float):
            raw = struct.pack(">f" if f.length == 4 else ">d", value)
        return raw is not None and text == str(int.from_bytes(raw, "little"))
    m = _DUMP_OCTETS.match(text)
    if m:
        n = int(m.group(1))
        raw = _as_bytes(value, n)
        if raw is None and isinstance(value, str):
            raw = value.encode("utf-8")
        return raw == bytes.fromhex(m.group(2) or "")
    m = _DUMP_LEN_ONLY.match(text)
    if m:  # run without --hexdump: only the length can be compared
        raw = _as_bytes(value, int(m.group(1)))
        if raw is None and isinstance(value, str):
            raw = value.encode("utf-8")
        return raw is not None and len(raw) == int(m.group(1))
    return MISMATCH


# libfixbuf's type names (ipfixDump's template listing) of IANA's abstract
# data types, for the items of a basicList (its header names only the IE).
_DUMP_TYPES = {
    **{f"unsigned{n}": f"uint{n}" for n in (8, 16, 32, 64)},
    **{f"signed{n}": f"int{n}" for n in (8, 16, 32, 64)},
    "float32": "float32",
    "float64": "float64",
    "boolean": "bool",
    "macAddress": "mac",
    "octetArray": "octet",
    "string": "string",
    "dateTimeSeconds": "sec",
    "dateTimeMilliseconds": "millisec",
    "dateTimeMicroseconds": "microsec",
    "dateTimeNanoseconds": "nanosec",
    "ipv4Address": "ipv4",
    "ipv6Address": "ipv6",
    "basicList": "bl",
    "subTemplateList": "stl",
    "subTemplateMultiList": "stml",
}


def _names(rec: DumpRecord) -> list[str]:
    """The keys ferrofix gives a record's fields: the IE's name (ipfixDump's,
    ``_ipfix_<pen>_<id>`` for an IE neither knows), ``name.k`` for its k-th
    repetition (DEVELOP.md, "Repeated IEs")."""
    seen: dict[str, int] = {}
    out = []
    for f in rec.fields:
        name = f.name if f.name != "_alienInformationElement" else f"_ipfix_{f.pen}_{f.id}"
        k = seen.get(name, 0)
        seen[name] = k + 1
        out.append(f"{name}.{k}" if k else name)
    return out


def _compare_record(ours: Any, rec: DumpRecord) -> bool:
    """A sub-template record (a dict) against ipfixDump's: the same keys in
    template order, and every value."""
    if not isinstance(ours, dict) or list(ours) != _names(rec):
        return False
    pairs = zip(ours.values(), rec.fields, strict=True)
    return all(compare_ipfixdump(v, f) is True for v, f in pairs)


def compare_list(value: Any, f: DumpField) -> bool:
    """An RFC 6313 list against ipfixDump's decode of it: a basicList's
    semantic, item IE and items; a subTemplateList's records; a
    subTemplateMultiList's entries and each entry's records (nested lists
    compared the same way). ferrofix's record path gives neither the
    semantic nor the template id of a subTemplate(Multi)List or its entries,
    so those are not compared."""
    if f.type == "bl":
        if not isinstance(value, BasicList) or f.list_head is None:
            return False
        semantic, item_id, item_name = f.list_head
        if (value.semantic_code, value.ie) != (semantic, item_name):
            return False
        if len(value) != len(f.items):
            return False
        dtype = ot.iana_type(0, item_id)
        item_type = _DUMP_TYPES.get(dtype or "", "octet")
        for v, shown in zip(value, f.items, strict=True):
            raw = None
            if item_type == "string" and (m := _STRLEN.match(shown.encode())):
                raw = shown.encode()[m.end() :]
            n = len(v) if isinstance(v, bytes) else 65535
            item = DumpField(0, item_id, item_name, item_type, n, shown, raw)
            if compare_ipfixdump(v, item) is not True:
                return False
        return True
    if not isinstance(value, list) or f.list_count is None or len(value) != f.list_count[0]:
        return False
    ours = value
    if f.type == "stml":
        if [len(e) if isinstance(e, list) else -1 for e in value] != [n for _t, n in f.entries]:
            return False
        ours = [r for entry in value for r in entry]
    if len(ours) != len(f.children):
        return False
    return all(_compare_record(r, c) for r, c in zip(ours, f.children, strict=True))
