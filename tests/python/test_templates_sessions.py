"""Template life cycle and scoping (RFC 7011 §8), options templates, sequence
accounting (§3.1), record shapes (dict/tuple/fields, columns, require)."""

from __future__ import annotations

import pytest

import ferrofix as ff
from ipfixmsg import (
    field,
    message,
    options_set,
    options_template_record,
    set_,
    template_record,
    template_set,
    uint,
    withdrawal,
)

T8 = template_record(256, [field(1, 8)])  # octetDeltaCount
T_PKT = template_record(256, [field(2, 8)])  # packetDeltaCount


def data(tid: int, *values: int) -> bytes:
    return set_(tid, b"".join(uint(v, 8) for v in values))


def test_withdrawal_then_data_is_missing_template_not_a_loop() -> None:
    """python-ipfix loops forever on data after a withdrawal."""
    msgs = message([template_set(T8), data(256, 1)]) + message(
        [template_set(withdrawal(256)), data(256, 2)], seq=1
    )
    it = ff.iter_records(msgs)
    assert next(it) == {"octetDeltaCount": 1}
    with pytest.raises(ff.MissingTemplateError) as ei:
        next(it)
    assert ei.value.template_id == 256
    assert ei.value.message_index == 1
    assert ei.value.offset == len(message([template_set(T8), data(256, 1)])) + 16 + 8
    r = ff.Reader(msgs, on_bad_records="skip")
    assert list(r) == [{"octetDeltaCount": 1}]
    h = r.health
    assert (h.templates_withdrawn, h.sets_missing_template) == (1, 1)
    assert h.missing_templates == {(0, 256): 1}


def test_withdrawals_apply_in_wire_order() -> None:
    # define, withdraw, redefine with another IE, all in one set, then data
    msg = message([template_set(T8, withdrawal(256), T_PKT), data(256, 9)])
    assert list(ff.iter_records(msg)) == [{"packetDeltaCount": 9}]


def test_withdraw_all_templates_and_options_form() -> None:
    opt = options_template_record(257, 1, [field(144, 4), field(41, 8)])
    msgs = message([template_set(T8), options_set(opt)])
    # all-templates withdrawal for templates (id 2) leaves the options template
    msgs += message([template_set(withdrawal(2))], seq=0)
    r = ff.Reader(msgs)
    list(r)
    assert [(t.template_id, t.scope_count) for t in r.templates] == [(257, 1)]
    # options withdrawal is 4 bytes (RFC 7011 §8.1), here "all options" = id 3
    r = ff.Reader(msgs + message([options_set(withdrawal(3))]))
    list(r)
    assert r.templates == []
    assert r.health.templates_withdrawn == 2


def test_redefinition_replaces() -> None:
    msgs = message([template_set(T8), data(256, 1)]) + message(
        [template_set(T_PKT), data(256, 2)], seq=1
    )
    r = ff.Reader(msgs)
    assert list(r) == [{"octetDeltaCount": 1}, {"packetDeltaCount": 2}]
    assert r.health.templates_replaced == 1


def test_reserved_template_id_is_an_error_not_a_crash() -> None:
    msg = message([template_set(template_record(255, [field(1, 8)])), data(256, 1)])
    with pytest.raises(ff.DecodeError, match="reserved") as ei:
        list(ff.iter_records(msg))
    assert ei.value.offset == 20 and ei.value.message_index == 0
    r = ff.Reader(msg, on_bad_records="skip")
    assert list(r) == []
    assert r.health.problems_skipped == 2  # the bad template, then its data set


def test_templates_are_scoped_by_observation_domain() -> None:
    msgs = message([template_set(T8)], odid=1) + message([data(256, 5)], odid=2)
    with pytest.raises(ff.MissingTemplateError) as ei:
        list(ff.iter_records(msgs))
    assert ei.value.observation_domain_id == 2
    ok = message([template_set(T8)], odid=1) + message([template_set(T_PKT)], odid=2)
    ok += message([data(256, 5)], odid=1) + message([data(256, 6)], odid=2)
    assert list(ff.iter_records(ok)) == [{"octetDeltaCount": 5}, {"packetDeltaCount": 6}]


def test_options_template_scope_and_record_kinds() -> None:
    opt = options_template_record(300, 1, [field(144, 4), field(41, 8)])
    msg = message([template_set(T8), options_set(opt), data(256, 7)])
    msg += message([set_(300, uint(5, 4) + uint(1000, 8))], seq=1)
    r = ff.Reader(msg)
    assert list(r.records(records="options")) == [
        {"exportingProcessId": 5, "exportedMessageTotalCount": 1000}
    ]
    assert list(ff.iter_records(msg, records="data")) == [{"octetDeltaCount": 7}]
    t = {t.template_id: t for t in r.templates}
    assert t[300].is_options and t[300].scope_count == 1 and not t[256].is_options
    assert r.health.options_records == 1 and r.health.data_records == 1


def test_sequence_gaps_per_domain_with_wrap() -> None:
    top = (1 << 32) - 2
    msgs = message([template_set(T8), data(256, 1, 2, 3)], seq=top, odid=4)
    msgs += message([data(256, 4)], seq=1, odid=4)  # wrapped: expected 1
    msgs += message([data(256, 5)], seq=7, odid=4)  # expected 2: 5 lost
    msgs += message([template_set(T8), data(256, 6)], seq=0, odid=9)
    r = ff.Reader(msgs)
    assert len(list(r)) == 6
    s = r.health.sequence
    assert (s[4].gaps, s[4].lost_records, s[4].records, s[4].messages) == (1, 5, 5, 3)
    assert (s[9].gaps, s[9].records) == (0, 1)


def test_template_only_messages_do_not_count_records() -> None:
    msgs = message([template_set(T8)], seq=10) + message([data(256, 1)], seq=10)
    r = ff.Reader(msgs)
    list(r)
    assert r.health.sequence[0].gaps == 0


HETERO = message(
    [
        template_set(
            template_record(256, [field(8, 4), field(1, 8)]),
            template_record(257, [field(8, 4), field(2, 8)]),
        ),
        set_(256, bytes([10, 0, 0, 1]) + uint(100, 8)),
        set_(257, bytes([10, 0, 0, 2]) + uint(3, 8)),
    ]
)


def test_tuples_fill_missing_ies_with_none() -> None:
    """python-ipfix's tuple_iterator silently drops the second record."""
    cols = ["sourceIPv4Address", "octetDeltaCount"]
    got = [(str(a), b) for a, b in ff.iter_records(HETERO, columns=cols, as_="tuple")]
    assert got == [("10.0.0.1", 100), ("10.0.0.2", None)]
    got = list(ff.iter_records(HETERO, columns=cols, as_="tuple", require="all"))
    assert len(got) == 1
    r = ff.Reader(HETERO)
    list(r.records(columns=cols, require="all"))
    assert r.health.records_filtered == 1


def test_dict_columns_and_ie_specs_as_columns() -> None:
    got = list(ff.iter_records(HETERO, columns=["(0/2)", "octetDeltaCount"]))
    assert got == [
        {"packetDeltaCount": None, "octetDeltaCount": 100},
        {"packetDeltaCount": 3, "octetDeltaCount": None},
    ]
    with pytest.raises(ff.SpecError):
        list(ff.iter_records(HETERO, columns=["noSuchElement"]))
    with pytest.raises(ValueError, match="columns"):
        ff.iter_records(HETERO, as_="tuple")


def test_fields_shape_and_meta() -> None:
    r = ff.Reader(HETERO)
    items = list(r.records(as_="fields", meta=True))
    m, f = items[1]
    assert (m.template_id, m.observation_domain_id, m.message_index) == (257, 0, 0)
    assert m.offset == 16 + 4 + 28 + 12 + 4  # header, tset, first data set, set header
    assert m.export_time.timestamp() == 1_600_000_000
    assert [(pen, ie) for pen, ie, _ in f] == [(0, 8), (0, 2)]


def test_template_fields_are_described() -> None:
    r = ff.Reader(HETERO)
    list(r)
    t = r.templates[0]
    assert t.fields[0] == ff.TemplateField("sourceIPv4Address", 0, 8, 4, "ipv4Address")
    assert not t.fields[0].varlen


def test_template_cap_is_enforced() -> None:
    recs = [template_record(256 + i, [field(1, 8)]) for i in range(10)]
    msg = message([template_set(*recs)])
    with pytest.raises(ff.LimitExceededError):
        list(ff.Reader(msg, max_templates=5))
    r = ff.Reader(msg, max_templates=5, on_bad_records="skip")
    list(r)
    assert len(r.templates) == 5 and r.health.problems_skipped == 5


def test_plan_cache_is_bounded_under_endless_redefinition() -> None:
    # Each message redefines template 256 (alternating layouts) and sends a record.
    msgs = b"".join(
        message([template_set(T8 if i % 2 else T_PKT), data(256, i)], seq=i) for i in range(5000)
    )
    r = ff.Reader(msgs)
    assert sum(1 for _ in r) == 5000
    held, cap = r._r.cache_sizes()
    assert cap == 4096 and 0 < held <= cap
    assert r.health.templates_replaced == 4999
