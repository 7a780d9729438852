//! The re-encoding test's tools (`tests/encode_reencode.rs`): the sink
//! that re-encodes what it decodes and keeps the octets it decoded, the
//! canonical form of a message, and the streams of the oracle cases.

use std::collections::BTreeSet;
use std::path::Path;

use ferrofix::decode::{Record, RecordSink};
use ferrofix::encode::Exporter;
use ferrofix::model::InfoModel;
use ferrofix::session::FieldDecoder;
use ferrofix::wire::{MessageHeader, SetIter, TemplateItem, VARLEN};

/// Re-encodes every record it is given and keeps the octets it decoded.
pub struct Reencode<'e> {
    pub ex: &'e mut Exporter<Vec<u8>>,
    /// The set's record octets, in order, as the decoder delimited them.
    pub raw: Vec<u8>,
    /// The same with each variable-length field's length in one octet
    /// where it is below 255 (RFC 7011 §7 allows three).
    pub records: Vec<u8>,
    pub long_prefix: bool,
    /// Where in `records` a dateTimeMicroseconds value with the low 11
    /// bits of its fraction set starts.
    pub micro_at: Vec<usize>,
    /// The shortest record the set's template allows (RFC 7011 §3.3.1:
    /// padding is shorter than that).
    pub min_record: usize,
    pub failed: Option<String>,
}

impl<'e> Reencode<'e> {
    pub fn new(ex: &'e mut Exporter<Vec<u8>>) -> Self {
        Reencode {
            ex,
            raw: Vec::new(),
            records: Vec::new(),
            long_prefix: false,
            micro_at: Vec::new(),
            min_record: usize::MAX,
            failed: None,
        }
    }
}

impl RecordSink for Reencode<'_> {
    fn record(&mut self, rec: &Record<'_>) -> ferrofix::Result<()> {
        let t = rec.template;
        let odid = rec.header.observation_domain_id;
        let values: Vec<_> = rec.values().collect();
        let len = rec.spans.last().map_or(0, |s| (s.0 + s.1) as usize);
        self.raw.extend_from_slice(&rec.data[..len]);
        self.min_record = t
            .fields
            .iter()
            .map(|f| {
                if f.length == VARLEN {
                    1
                } else {
                    usize::from(f.length)
                }
            })
            .sum();
        let mut at = 0;
        for (i, f) in t.fields.iter().enumerate() {
            let (start, n) = (rec.spans[i].0 as usize, rec.spans[i].1 as usize);
            let prefix = &rec.data[at..start];
            if f.length == VARLEN && prefix.len() == 3 && n < 255 {
                self.records.push(n as u8);
                self.long_prefix = true;
            } else {
                self.records.extend_from_slice(prefix);
            }
            let value = &rec.data[start..start + n];
            if f.decoder == FieldDecoder::DateTimeMicroseconds
                && n == 8
                && value[7] | (value[6] & 0x07) != 0
            {
                self.micro_at.push(self.records.len());
            }
            self.records.extend_from_slice(value);
            at = start + n;
        }
        if self.failed.is_none() {
            if let Err(e) = self.ex.encode_record(odid, t.id, &values) {
                self.failed = Some(e.to_string());
            }
        }
        Ok(())
    }
}

/// A message as an exporter that takes none of RFC 7011's liberties writes
/// it: the header (its length aside) and the sets as (id, content, where
/// dateTimeMicroseconds values start), sets of one id in a row joined.
#[derive(Debug, Default)]
pub struct Canonical {
    pub header: (u16, u32, u32, u32),
    pub sets: Vec<(u16, Vec<u8>, Vec<usize>)>,
}

impl Canonical {
    pub fn new(h: &MessageHeader) -> Self {
        Canonical {
            header: (
                h.version,
                h.export_time,
                h.sequence,
                h.observation_domain_id,
            ),
            sets: Vec::new(),
        }
    }

    /// Adds a set's content; true when it joins the set before it.
    pub fn push(&mut self, id: u16, content: &[u8], micro_at: &[usize]) -> bool {
        if let Some((last, body, micro)) = self.sets.last_mut() {
            if *last == id {
                micro.extend(micro_at.iter().map(|m| m + body.len()));
                body.extend_from_slice(content);
                return true;
            }
        }
        self.sets.push((id, content.to_vec(), micro_at.to_vec()));
        false
    }

    /// The sets of a message ferrofix wrote (no padding: content whole).
    pub fn of_ours(msg: &[u8]) -> Self {
        let mut c = Canonical::new(&MessageHeader::parse(msg).unwrap());
        for set in SetIter::new(msg) {
            let set = set.unwrap();
            c.push(set.id, set.body, &[]);
        }
        c
    }

    /// Same header and sets; dateTimeMicroseconds values (where the
    /// original has them) compared by their microseconds.
    pub fn same_as(&self, ours: &Canonical) -> bool {
        self.header == ours.header
            && self.sets.len() == ours.sets.len()
            && self.sets.iter().zip(&ours.sets).all(|(a, b)| {
                a.0 == b.0
                    && (a.1 == b.1 || micro_normalized(&a.1, &a.2) == micro_normalized(&b.1, &a.2))
            })
    }
}

/// `content` with the NTP fraction of each dateTimeMicroseconds value at
/// `micro_at` replaced by the microseconds it holds (RFC 7011 §6.1.9: its
/// low 11 bits are ignored).
pub fn micro_normalized(content: &[u8], micro_at: &[usize]) -> Vec<u8> {
    let mut out = content.to_vec();
    for &at in micro_at {
        let Some(f) = out.get_mut(at + 4..at + 8) else {
            continue;
        };
        let frac = u64::from(u32::from_be_bytes([f[0], f[1], f[2], f[3]])) & !0x7ff;
        let us = ((frac * 1_000_000) >> 32) as u32;
        f.copy_from_slice(&us.to_be_bytes());
    }
    out
}

pub fn messages(data: &[u8]) -> Vec<&[u8]> {
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

pub fn model() -> InfoModel {
    let mut model = InfoModel::iana();
    for spec in ["cert", "qof"] {
        let text = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join(format!("python/ferrofix/specs/{spec}.iespec")),
        )
        .unwrap();
        model.add_spec_text(&text).unwrap();
    }
    model
}

/// Octets of the template records of a template set, as RFC 7011 §3.4
/// sizes them (what is left is padding).
pub fn template_octets<E>(item: &Result<TemplateItem, E>) -> usize {
    match item {
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
    }
}

/// The streams of the oracle cases (`tests/data/oracle/cases.json`): each
/// case's files concatenated in its order, so that a data file is read
/// after the template file(s) it needs. Every IPFIX file of the directory
/// is in a case.
pub fn streams() -> Vec<(String, Vec<u8>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let json = std::fs::read_to_string(root.join("oracle/cases.json")).unwrap();
    let mut out = Vec::new();
    let mut listed = BTreeSet::new();
    let mut rest = json.as_str();
    while let Some(at) = rest.find("\"name\": \"") {
        rest = &rest[at + 9..];
        let name = rest[..rest.find('"').unwrap()].to_string();
        rest = &rest[rest.find("\"files\": [").unwrap() + 10..];
        let files = &rest[..rest.find(']').unwrap()];
        let mut data = Vec::new();
        for file in files.split('"').skip(1).step_by(2) {
            data.extend(std::fs::read(root.join("ipfix").join(file)).unwrap());
            listed.insert(file.to_string());
        }
        out.push((name, data));
    }
    for e in std::fs::read_dir(root.join("ipfix")).unwrap() {
        let path = e.unwrap().path();
        let head = std::fs::read(&path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        assert!(
            head.get(..2) != Some(&[0, 10]) || listed.contains(&name),
            "{name} is in no case of cases.json"
        );
    }
    out
}
