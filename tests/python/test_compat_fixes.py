"""python-ipfix's verified bugs (../shared/notes/ipfix.md), each done
right by ferrofix.compat: what the RFC says happens, checked here (python-
ipfix itself would hang or raise on these, so it is not run)."""

from __future__ import annotations

import io
import struct
import warnings
from typing import Any

import pytest

import ferrofix as ff
import ipfixmsg
from ferrofix.compat import ie, message, reader, template, v9pdu


@pytest.fixture(autouse=True)
def _model() -> Any:
    ie.clear_infomodel()
    ie.use_iana_default()
    yield
    ie.clear_infomodel()


def _msg(*sets: tuple[int, bytes], odid: int = 1) -> bytes:
    return ipfixmsg.message(
        [ipfixmsg.set_(sid, b) for sid, b in sets], odid=odid, export_time=1_700_000_000
    )


TEMPLATE = struct.pack("!HHHH", 256, 1, 2, 4)  # packetDeltaCount[4]


def test_a_zero_length_set_is_an_error_not_a_hang() -> None:
    bad = (
        _msg((2, TEMPLATE), (256, struct.pack("!I", 7)))
        + struct.pack("!HHIII", 10, 20, 1_700_000_000, 1, 1)
        + struct.pack("!HH", 256, 0)
    )
    m = message.MessageBuffer()
    m.from_bytes(bad[: len(bad) - 20])
    assert list(m.namedict_iterator()) == [{"packetDeltaCount": 7}]
    with pytest.raises(message.IpfixDecodeError, match="shorter than its header"):
        m.from_bytes(bad[len(bad) - 20 :])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = list(reader.from_stream(io.BytesIO(bad)).namedict_iterator())
    assert got == [{"packetDeltaCount": 7}]
    assert any("length 0" in str(w.message) for w in caught)


def test_data_after_a_withdrawal_is_not_decoded_and_does_not_loop() -> None:
    withdraw = struct.pack("!HH", 256, 0)
    data = (256, struct.pack("!I", 9))
    stream = _msg((2, TEMPLATE), data) + _msg((2, withdraw), data)
    m = message.MessageBuffer()
    unknown: list[int] = []
    m.unknown_data_set_hook = lambda msg, setbuf: unknown.append(len(setbuf))
    r = io.BytesIO(stream)
    m.read_message(r)
    assert list(m.namedict_iterator()) == [{"packetDeltaCount": 9}]
    m.read_message(r)
    assert list(m.namedict_iterator()) == []
    assert unknown == [8]
    assert (1, 256) not in m.templates


def test_delete_template_exports_the_withdrawal() -> None:
    m = message.MessageBuffer()
    m.begin_export(5)
    tmpl = template.for_specs(256, "packetDeltaCount")
    m.add_template(tmpl)
    m.export_ensure_set(256)
    m.export_tuple((3,))
    m.delete_template(256)
    assert (5, 256) not in m.templates
    data = m.to_bytes()
    # The last 8 octets: a template set holding the withdrawal (256, 0).
    assert data[-8:] == struct.pack("!HHHH", 2, 8, 256, 0)
    r = ff.Reader(data)
    assert list(r) == [{"packetDeltaCount": 3}]
    assert r.health.templates_withdrawn == 1


def test_v9_options_templates_use_the_v9_scope_layout() -> None:
    """Cisco ASR9k's v9 options template 256 (scope length in octets,
    RFC 3954 §6.1) and its data: compat's v9pdu gives the options record
    ferrofix's reader gives (itself checked against tshark in
    test_netflow.py)."""
    from pathlib import Path

    nf = Path(__file__).resolve().parents[1] / "data" / "netflow"
    pre = "logstash-codec-netflow__netflow9_test_cisco_asr9k_"
    data = (nf / (pre + "opttpl256.dat")).read_bytes() + (nf / (pre + "data256.dat")).read_bytes()
    got = list(v9pdu.from_stream(io.BytesIO(data)).namedict_iterator())
    native = list(ff.iter_records(data, records="all"))
    assert len(got) == len(native) > 0
    assert got == native  # integers and text only: the same values in both forms
    # Scope (system, as exportingProcessId; interface) and option fields
    # where the v9 layout puts them: the interface names are readable.
    assert list(got[0])[:3] == ["exportingProcessId", "ingressInterface", "interfaceDescription"]
    assert got[0]["interfaceDescription"].rstrip("\x00") == "TenGigE0_0_1_0"


def test_v9_record_iterator_takes_python_ipfix_decode_functions() -> None:
    """v9pdu's record_iterator with python-ipfix's decode functions gives
    what namedict_iterator and tuple_iterator give; a decode it cannot do
    whole-stream is refused by name, not run wrongly."""
    from pathlib import Path

    nf = Path(__file__).resolve().parents[1] / "data" / "netflow"
    data = (nf / "fluent-plugin-netflow__netflow.v9.template.dump").read_bytes() + (
        nf / "fluent-plugin-netflow__netflow.v9.dump"
    ).read_bytes()
    ie.use_iana_default()
    dicts = list(v9pdu.from_stream(io.BytesIO(data)).record_iterator())
    assert len(dicts) > 0
    assert dicts == list(v9pdu.from_stream(io.BytesIO(data)).namedict_iterator())
    cols = ie.spec_list(["sourceIPv4Address", "octetDeltaCount"])
    tuples = list(
        v9pdu.from_stream(io.BytesIO(data)).record_iterator(
            decode_fn=template.Template.decode_tuple_from, recinf=cols
        )
    )
    assert tuples == [(d["sourceIPv4Address"], d["octetDeltaCount"]) for d in dicts]
    with pytest.raises(NotImplementedError, match="decode_namedict_from"):
        v9pdu.from_stream(io.BytesIO(data)).record_iterator(tmplaccept_fn=lambda t: True)


def test_tuple_iterator_after_namedict_iterator_chooses_again() -> None:
    """python-ipfix's MessageBuffer kept the templates its last
    tuple_iterator accepted; a namedict_iterator in between accepted every
    template, and the same ielist then raised on a message without
    templates. Compat chooses again."""
    from ipfixmsg import field, set_, template_record, template_set, uint
    from ipfixmsg import message as msg

    both = template_record(256, [field(8, 4), field(1, 8)])  # source address, octets
    octets = template_record(257, [field(1, 8)])
    m1 = msg([template_set(both), set_(256, bytes([10, 0, 0, 1]) + uint(5, 8))])
    m2 = msg([template_set(octets), set_(257, uint(6, 8))])
    m3 = msg([set_(257, uint(7, 8)), set_(256, bytes([10, 0, 0, 2]) + uint(8, 8))])
    ie.use_iana_default()
    cols = ie.spec_list(["sourceIPv4Address", "octetDeltaCount"])
    buf = message.MessageBuffer()
    stream = io.BytesIO(m1 + m2 + m3)
    buf.read_message(stream)
    assert [t[1] for t in buf.tuple_iterator(cols)] == [5]
    buf.read_message(stream)
    assert list(buf.namedict_iterator()) == [{"octetDeltaCount": 6}]
    buf.read_message(stream)
    assert [t[1] for t in buf.tuple_iterator(cols)] == [8]
