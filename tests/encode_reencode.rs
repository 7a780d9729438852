//! Re-encoding real streams: every IPFIX fixture of `tests/data/ipfix` is
//! decoded a set at a time and written again by the `Exporter` from the
//! decoded templates and values (same observation domain, export time and
//! message boundaries). A message the original exporter wrote canonically
//! must come back byte for byte. Where it does not, the difference must be
//! one the RFC allows an exporter and ferrofix never writes, found in the
//! original independently of the re-encoding: set padding (RFC 7011 §3.3.1),
//! two sets of the same id in a row, a sequence number that does not count
//! the domain's data records (§3.1, exporter bugs), a dateTimeMicroseconds
//! fraction with its low 11 bits set (§6.1.9), a string field shorter than
//! its fixed length... Everything else fails the test.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use ferrofix::decode::{Decoder, DecoderOptions, Record, RecordSink};
use ferrofix::encode::{ExportOptions, Exporter};
use ferrofix::model::InfoModel;
use ferrofix::session::{FieldDecoder, Template};
use ferrofix::wire::{
    parse_template_set, MessageHeader, SetIter, TemplateItem, MESSAGE_HEADER_LEN,
    OPTIONS_TEMPLATE_SET_ID, TEMPLATE_SET_ID,
};

/// Re-encodes every record it is given.
struct Reencode<'e> {
    ex: &'e mut Exporter<Vec<u8>>,
    /// Octets of the records decoded from the current set.
    consumed: usize,
    failed: Option<String>,
    micro_low_bits: bool,
}

impl RecordSink for Reencode<'_> {
    fn record(&mut self, rec: &Record<'_>) -> ferrofix::Result<()> {
        let t = rec.template;
        let odid = rec.header.observation_domain_id;
        let values: Vec<_> = rec.values().collect();
        self.consumed += rec.spans.last().map_or(0, |s| (s.0 + s.1) as usize);
        for (i, f) in t.fields.iter().enumerate() {
            let raw = rec.raw(i);
            if f.decoder == FieldDecoder::DateTimeMicroseconds && raw.len() == 8 {
                let frac = u32::from_be_bytes([raw[4], raw[5], raw[6], raw[7]]);
                self.micro_low_bits |= frac & 0x7ff != 0;
            }
        }
        if self.failed.is_none() {
            if let Err(e) = self.ex.encode_record(odid, t.id, &values) {
                self.failed = Some(e.to_string());
            }
        }
        Ok(())
    }
}

/// What makes a message non-canonical, seen in the original alone (a flag
/// each: they are reported by name).
#[derive(Debug, Default, Clone, Copy)]
#[allow(clippy::struct_excessive_bools)]
struct Quirks {
    padding: bool,
    adjacent_sets: bool,
    sequence: bool,
    micro_low_bits: bool,
    unencodable: bool,
    /// A message with no set (ferrofix writes no empty message).
    empty: bool,
}

impl Quirks {
    fn any(self) -> bool {
        self.padding
            || self.adjacent_sets
            || self.sequence
            || self.micro_low_bits
            || self.unencodable
            || self.empty
    }
}

fn messages(data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(h) = data.get(at..).and_then(|b| MessageHeader::parse(b).ok()) {
        let len = usize::from(h.length);
        let Some(m) = data.get(at..at + len) else {
            break;
        };
        out.push(m);
        at += len;
    }
    out
}

#[test]
fn canonical_messages_of_real_streams_come_back_byte_for_byte() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/ipfix");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("ipfix" | "dat")
            )
        })
        .collect();
    files.sort();
    let mut model = InfoModel::iana();
    for spec in ["cert", "qof"] {
        let text = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join(format!("python/ferrofix/specs/{spec}.iespec")),
        )
        .unwrap();
        model.add_spec_text(&text).unwrap();
    }
    let mut same = 0usize;
    let mut explained: BTreeMap<&str, usize> = BTreeMap::new();
    let mut unexplained = Vec::new();
    for path in &files {
        let data = std::fs::read(path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let mut dec = Decoder::new(model.clone(), &DecoderOptions::default());
        let opts = ExportOptions {
            mtu: 65_535,
            template_refresh: None,
            export_time: None,
        };
        let mut ex = Exporter::new(Vec::new(), opts).unwrap();
        let mut counts: HashMap<u32, u32> = HashMap::new();
        'messages: for (index, msg) in messages(&data).into_iter().enumerate() {
            let h = MessageHeader::parse(msg).unwrap();
            let odid = h.observation_domain_id;
            ex.set_export_time(Some(h.export_time));
            let before = ex.get_ref().len();
            let mut q = Quirks {
                empty: msg.len() == MESSAGE_HEADER_LEN,
                ..Quirks::default()
            };
            // The stream's own sequence position (it may not start at 0).
            ex.set_sequence(odid, h.sequence);
            let expected_seq = counts.get(&odid).copied();
            let mut last_set = None;
            let mut records = 0u32;
            for set in SetIter::new(msg) {
                let Ok(set) = set else { continue 'messages };
                q.adjacent_sets |= last_set == Some(set.id);
                last_set = Some(set.id);
                // The set alone, in a message of the original header.
                let mut one = msg[..MESSAGE_HEADER_LEN].to_vec();
                one.extend_from_slice(&msg[set.offset..set.offset + 4 + set.body.len()]);
                let len = one.len() as u16;
                one[2..4].copy_from_slice(&len.to_be_bytes());
                if set.id == TEMPLATE_SET_ID || set.id == OPTIONS_TEMPLATE_SET_ID {
                    let mut used = 0;
                    for item in parse_template_set(set.id, set.body) {
                        used += match &item {
                            Ok(TemplateItem::Template {
                                scope_count,
                                fields,
                                ..
                            }) => {
                                4 + if scope_count.is_some() { 2 } else { 0 }
                                    + fields
                                        .iter()
                                        .map(|f| if f.pen == 0 { 4 } else { 8 })
                                        .sum::<usize>()
                            }
                            _ => 4,
                        };
                        let r = match item {
                            Ok(TemplateItem::Template {
                                id,
                                scope_count,
                                fields,
                            }) => ex.add_template(Arc::new(Template::new(
                                id,
                                odid,
                                scope_count,
                                fields,
                                &model,
                            ))),
                            Ok(TemplateItem::Withdraw { id }) => ex.withdraw(odid, id),
                            Ok(TemplateItem::WithdrawAll) => {
                                ex.withdraw_all_of(odid, set.id == OPTIONS_TEMPLATE_SET_ID)
                            }
                            Err(_) => continue 'messages,
                        };
                        if let Err(e) = r {
                            eprintln!("{name} message {index}: not re-encodable: {e}");
                            q.unencodable = true;
                        }
                    }
                    q.padding |= used != set.body.len();
                    let _ = dec.decode_message(
                        &one,
                        0,
                        index as u64,
                        &mut Reencode {
                            ex: &mut ex,
                            consumed: 0,
                            failed: None,
                            micro_low_bits: false,
                        },
                    );
                    continue;
                }
                let mut sink = Reencode {
                    ex: &mut ex,
                    consumed: 0,
                    failed: None,
                    micro_low_bits: false,
                };
                let before_records = dec.health().data_records + dec.health().options_records;
                if dec
                    .decode_message(&one, 0, index as u64, &mut sink)
                    .is_err()
                {
                    continue 'messages;
                }
                q.padding |= sink.consumed != set.body.len();
                q.micro_low_bits |= sink.micro_low_bits;
                if let Some(why) = &sink.failed {
                    eprintln!("{name} message {index}: not re-encodable: {why}");
                    q.unencodable = true;
                }
                records += (dec.health().data_records + dec.health().options_records
                    - before_records) as u32;
            }
            // RFC 7011 §3.1: data records sent in the domain before this
            // message (a stream may start anywhere).
            q.sequence = expected_seq.is_some_and(|n| n != h.sequence);
            counts.insert(odid, h.sequence.wrapping_add(records));
            ex.flush().unwrap();
            let got = &ex.get_ref()[before..];
            if got == msg {
                same += 1;
            } else if q.any() {
                for (k, on) in [
                    ("padding", q.padding),
                    ("adjacent sets", q.adjacent_sets),
                    ("sequence", q.sequence),
                    ("micro low bits", q.micro_low_bits),
                    ("unencodable", q.unencodable),
                    ("empty message", q.empty),
                ] {
                    if on {
                        *explained.entry(k).or_default() += 1;
                    }
                }
            } else {
                let at = got
                    .iter()
                    .zip(msg)
                    .position(|(a, b)| a != b)
                    .unwrap_or(got.len().min(msg.len()));
                unexplained.push(format!(
                    "{name} message {index}: {} octets vs {}, first difference at {at}: ours {:02x?} theirs {:02x?}",
                    got.len(),
                    msg.len(),
                    &got[at.saturating_sub(4)..(at + 12).min(got.len())],
                    &msg[at.saturating_sub(4)..(at + 12).min(msg.len())]
                ));
            }
        }
    }
    eprintln!("re-encoded byte for byte: {same} messages; explained differences: {explained:?}");
    assert!(
        unexplained.is_empty(),
        "unexplained differences: {unexplained:?}"
    );
    // 30 when this test was written (2026-11-26): most real exporters pad
    // their sets. A floor that a broken encoder would fall through.
    assert!(same >= 20, "only {same} messages came back byte for byte");
}
