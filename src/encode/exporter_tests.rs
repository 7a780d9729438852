//! Tests of the exporter: templates, withdrawals, MTU packing, sequence numbers.

use super::*;
use crate::model::InfoModel;
use crate::wire::FieldSpec;

fn template(id: u16, odid: u32, fields: &[(u16, u16)]) -> Arc<Template> {
    let specs = fields
        .iter()
        .map(|&(id, length)| FieldSpec { id, length, pen: 0 })
        .collect();
    Arc::new(Template::new(id, odid, None, specs, &InfoModel::iana()))
}

fn exporter(mtu: usize) -> Exporter<Vec<u8>> {
    let opts = ExportOptions {
        mtu,
        template_refresh: None,
        template_refresh_secs: None,
        export_time: Some(7),
    };
    Exporter::new(Vec::new(), opts).unwrap()
}

#[test]
fn refusals_name_what_and_leave_nothing_half_written() {
    let mut ex = exporter(100);
    // Zero-length records cannot be delimited (RFC 7011 §3.4.3).
    let e = ex.add_template(template(300, 0, &[(210, 0)])).unwrap_err();
    assert!(e.to_string().contains("zero-length records"), "{e}");
    assert!(ex.add_template(template(255, 0, &[(1, 8)])).is_err());
    // protocolIdentifier (4) in 1 octet, octetDeltaCount (1) in 2.
    ex.add_template(template(256, 0, &[(4, 1), (1, 2)]))
        .unwrap();
    let e = ex
        .encode_record(0, 256, &[Value::Unsigned(6), Value::Unsigned(70_000)])
        .unwrap_err();
    assert!(e.to_string().contains("octetDeltaCount"), "{e}");
    assert!(e.to_string().contains("70000 does not fit 2 octets"), "{e}");
    let e = ex.encode_record(0, 257, &[]).unwrap_err();
    assert!(e.to_string().contains("no template 257"), "{e}");
    // A string longer than the message allows.
    ex.add_template(template(258, 0, &[(82, VARLEN_)])).unwrap();
    let long = vec![b'x'; 200];
    let e = ex
        .encode_record(0, 258, &[Value::String(&long)])
        .unwrap_err();
    assert!(e.to_string().contains("does not fit a message"), "{e}");
    ex.encode_record(0, 256, &[Value::Unsigned(6), Value::Unsigned(5)])
        .unwrap();
    let out = ex.finish().unwrap();
    // Templates 256 and 258 (one set), then one data record of 3 octets.
    let mut dec =
        crate::decode::Decoder::new(InfoModel::iana(), &crate::decode::DecoderOptions::default());
    let mut c = Count(0);
    dec.decode_message(&out, 0, 0, &mut c).unwrap();
    // Header, template set (256: 4 + 2 x 4; 258: 4 + 4), data set of
    // one 3-octet record.
    assert_eq!((c.0, out.len()), (1, 16 + 4 + 12 + 8 + 4 + 3));
}

const VARLEN_: u16 = crate::wire::VARLEN;

struct Count(u64);

impl crate::decode::RecordSink for Count {
    fn record(&mut self, _: &crate::decode::Record<'_>) -> Result<()> {
        self.0 += 1;
        Ok(())
    }
}

#[test]
fn reserved_records_fill_in_place_and_cancel_cleanly() {
    let write = |cancel_second: bool| {
        let mut ex = exporter(16 + 4 + 8 * 3);
        ex.add_template(template(256, 0, &[(1, 8)])).unwrap();
        ex.flush().unwrap();
        let (slot, k, _) = ex.reserve_records(0, 256, 8, 10).unwrap();
        assert_eq!(k, 3);
        for (i, r) in slot.chunks_exact_mut(8).enumerate() {
            r.copy_from_slice(&(i as u64).to_be_bytes());
        }
        let (_, k, mark) = ex.reserve_records(0, 256, 8, 10).unwrap();
        if cancel_second {
            ex.cancel_records(mark, k);
        }
        (ex.stats.records, ex.finish().unwrap())
    };
    let (n, with_cancel) = write(true);
    assert_eq!(n, 3);
    // Template message, then one message of records 0, 1, 2; nothing
    // of the cancelled reservation is left.
    let mut plain = exporter(16 + 4 + 8 * 3);
    plain.add_template(template(256, 0, &[(1, 8)])).unwrap();
    plain.flush().unwrap();
    for i in 0..3u64 {
        plain.encode_record(0, 256, &[Value::Unsigned(i)]).unwrap();
    }
    assert_eq!(with_cancel, plain.finish().unwrap());
    assert_eq!(write(false).0, 6);
}

#[test]
fn messages_respect_the_mtu_and_count_records_per_domain() {
    let mut ex = exporter(16 + 4 + 8 * 3);
    for odid in [1, 2] {
        ex.add_template(template(256, odid, &[(1, 8)])).unwrap();
    }
    for i in 0..7u64 {
        ex.encode_record(1, 256, &[Value::Unsigned(i)]).unwrap();
    }
    ex.encode_record(2, 256, &[Value::Unsigned(9)]).unwrap();
    ex.encode_record(1, 256, &[Value::Unsigned(9)]).unwrap();
    let out = ex.finish().unwrap();
    let mut at = 0;
    let mut seen = Vec::new();
    while at < out.len() {
        let len = usize::from(u16::from_be_bytes([out[at + 2], out[at + 3]]));
        assert!(len <= 16 + 4 + 24);
        let seq = u32::from_be_bytes(out[at + 8..at + 12].try_into().unwrap());
        let odid = u32::from_be_bytes(out[at + 12..at + 16].try_into().unwrap());
        assert_eq!(
            u32::from_be_bytes(out[at + 4..at + 8].try_into().unwrap()),
            7
        );
        seen.push((odid, seq));
        at += len;
    }
    // Domain 1: template message, then 3 + 3 + 1 records, then 1 more
    // after domain 2's message; domain 2 counts on its own.
    assert_eq!(
        seen,
        vec![(1, 0), (2, 0), (1, 0), (1, 3), (1, 6), (2, 0), (1, 7)]
    );
}

#[test]
fn templates_are_resent_every_nth_message_and_withdrawals_have_their_kind() {
    // Room for the template and one record per message.
    let opts = ExportOptions {
        mtu: 16 + 12 + 12,
        template_refresh: Some(2),
        template_refresh_secs: None,
        export_time: Some(0),
    };
    let mut ex = Exporter::new(Vec::new(), opts).unwrap();
    ex.add_template(template(256, 0, &[(1, 8)])).unwrap();
    for i in 0..4u64 {
        ex.encode_record(0, 256, &[Value::Unsigned(i)]).unwrap();
    }
    ex.withdraw(0, 256).unwrap();
    ex.withdraw_all(0).unwrap();
    let out = ex.finish().unwrap();
    let mut messages = Vec::new();
    let mut at = 0;
    while at < out.len() {
        let len = usize::from(u16::from_be_bytes([out[at + 2], out[at + 3]]));
        let mut sets = Vec::new();
        let mut s = at + 16;
        while s < at + len {
            sets.push(u16::from_be_bytes([out[s], out[s + 1]]));
            s += usize::from(u16::from_be_bytes([out[s + 2], out[s + 3]]));
        }
        messages.push(sets);
        at += len;
    }
    // Message 1: the template and record 0; 2: records 1 and 2; 3 (the
    // first of the next refresh period): the template again and record
    // 3; 4: the withdrawal of 256 and the all-templates withdrawal of
    // its kind in one set (id 2), the options one in a set of id 3.
    assert_eq!(
        messages,
        vec![vec![2, 256], vec![256], vec![2, 256], vec![2, 3]]
    );
    assert_eq!(
        &out[out.len() - 20..],
        &[0, 2, 0, 12, 1, 0, 0, 0, 0, 2, 0, 0, 0, 3, 0, 8, 0, 3, 0, 0]
    );
}

#[test]
fn templates_are_resent_once_the_refresh_timeout_has_passed() {
    // RFC 7011 §8.4 (templateRefreshTimeout): resent at the start of the
    // first message at least 600 s of export time after they were sent,
    // however few messages went out meanwhile.
    let opts = ExportOptions {
        mtu: 16 + 12 + 12,
        template_refresh: Some(1000),
        template_refresh_secs: Some(600),
        export_time: Some(1_000),
    };
    let mut ex = Exporter::new(Vec::new(), opts).unwrap();
    ex.add_template(template(256, 0, &[(1, 8)])).unwrap();
    for (i, t) in [
        (0u64, 1_000u32),
        (1, 1_599),
        (2, 1_600),
        (3, 1_700),
        (4, 2_200),
    ] {
        ex.set_export_time(Some(t));
        ex.encode_record(0, 256, &[Value::Unsigned(i)]).unwrap();
        ex.flush().unwrap();
    }
    let out = ex.finish().unwrap();
    let mut with_template = Vec::new();
    let mut at = 0;
    while at < out.len() {
        let len = usize::from(u16::from_be_bytes([out[at + 2], out[at + 3]]));
        let first_set = u16::from_be_bytes([out[at + 16], out[at + 17]]);
        with_template.push(first_set == 2);
        at += len;
    }
    // Sent at 1000; 1599 is 599 s later; 1600 is 600 s: again; 1700 is
    // 100 s after that; 2200 is 600 s after 1600: again.
    assert_eq!(with_template, vec![true, false, true, false, true]);
}

#[test]
fn a_counted_record_counts_every_message_before_its_own_a_refresh_included() {
    // Templates sent again at the start of every 3rd message; a message
    // of 16 + 4 + 8 octets holds one template record of one field or one
    // 8-octet record, so a refresh of two templates takes two messages.
    let mut ex = exporter(28);
    ex.opts.template_refresh = Some(3);
    ex.add_template(template(256, 0, &[(1, 8)])).unwrap();
    ex.add_template(template(257, 0, &[(41, 8)])).unwrap();
    ex.encode_record(0, 256, &[Value::Unsigned(1)]).unwrap();
    let refreshes = ex.refreshes();
    let mut seen = None;
    ex.encode_counted_record(0, 257, |s| {
        seen = Some(*s);
        vec![Value::Unsigned(s.messages)]
    })
    .unwrap();
    assert_eq!(ex.refreshes(), refreshes + 1, "a refresh was due");
    let seen = seen.unwrap();
    let out = ex.finish().unwrap();
    // Read the messages off the output: the counted record's message is
    // the last (28 octets: one set of one record), and it counts all the
    // messages and octets before it.
    let mut at = 0;
    let mut lens = Vec::new();
    while at < out.len() {
        let len = usize::from(u16::from_be_bytes([out[at + 2], out[at + 3]]));
        lens.push(len);
        at += len;
    }
    let last = &out[out.len() - 28..];
    assert_eq!(&last[16..18], &257u16.to_be_bytes());
    assert_eq!(last[20..28], ((lens.len() - 1) as u64).to_be_bytes());
    assert_eq!(seen.messages, (lens.len() - 1) as u64);
    assert_eq!(seen.bytes, (out.len() - 28) as u64);
    assert_eq!(seen.records, 1);
}

/// A sink that does not send its `drop`-th message (counting from 0),
/// as UDP export does for a datagram with no route, and keeps the rest.
struct Dropping {
    sent: Vec<Vec<u8>>,
    calls: usize,
    drop: usize,
}

impl Write for Dropping {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.calls += 1;
        if self.calls - 1 == self.drop {
            return Err(NotSent::error(std::io::ErrorKind::HostUnreachable));
        }
        self.sent.push(buf.to_vec());
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_message_the_sink_did_not_send_is_not_counted_and_the_export_goes_on() {
    let opts = ExportOptions {
        mtu: 16 + 4 + 8 * 3,
        template_refresh: None,
        template_refresh_secs: None,
        export_time: Some(7),
    };
    let sink = Dropping {
        sent: Vec::new(),
        calls: 0,
        drop: 2,
    };
    let mut ex = Exporter::new(sink, opts).unwrap();
    ex.add_template(template(256, 1, &[(1, 8)])).unwrap();
    // 44 octets a message: the template set (12) and record 0 in the
    // first, then records three to a message (1-3, 4-6, 7): the third is
    // not sent.
    for i in 0..8u64 {
        ex.encode_record(1, 256, &[Value::Unsigned(i)]).unwrap();
    }
    ex.flush().unwrap();
    let stats = ex.stats;
    let sink = ex.finish().unwrap();
    assert_eq!(sink.calls, 4);
    assert_eq!(sink.sent.len(), 3);
    let octets: usize = sink.sent.iter().map(Vec::len).sum();
    // What was sent, as its messages' own headers say.
    assert_eq!(stats.messages, 3);
    assert_eq!(stats.bytes, octets as u64);
    assert_eq!(stats.records, 8 - 3);
    // The records not sent keep their sequence numbers (RFC 7011 §3.1:
    // the data records before each message, 0, 1, 4, 7): the gap shows.
    let seqs: Vec<u32> = sink
        .sent
        .iter()
        .map(|m| u32::from_be_bytes(m[8..12].try_into().unwrap()))
        .collect();
    assert_eq!(seqs, vec![0, 1, 7]);
}
