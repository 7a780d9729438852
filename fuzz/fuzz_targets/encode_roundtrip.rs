//! Fuzz target: decode -> encode -> decode is the identity on values. The
//! input's first bytes pick a template (IANA IEs of every data type, each
//! at a length its type allows, variable length included), the rest are
//! cut into records of raw field bytes and decoded; the decoded values are
//! written by the `Exporter`, read back, and must equal the first decode
//! (floats by bits, NaN by NaN-ness). The encoder must never panic and
//! must accept every value the decoder produces for a field.
#![no_main]

use std::sync::Arc;

use ferrofix::decode::{decode_value, Decoder, DecoderOptions, Record, RecordSink, Value};
use ferrofix::encode::{ExportOptions, Exporter};
use ferrofix::model::InfoModel;
use ferrofix::session::Template;
use ferrofix::wire::{read_varlen, FieldSpec, VARLEN};
use libfuzzer_sys::fuzz_target;

/// (IE id, lengths): one IANA IE per abstract data type.
const IES: &[(u16, &[u16])] = &[
    (4, &[1]),           // protocolIdentifier, unsigned8
    (7, &[1, 2]),        // sourceTransportPort, unsigned16
    (10, &[1, 3, 4]),    // ingressInterface, unsigned32
    (1, &[1, 5, 8]),     // octetDeltaCount, unsigned64
    (434, &[1, 2, 4]),   // mibObjectValueInteger, signed32
    (311, &[4, 8]),      // samplingProbability, float64
    (276, &[1]),         // dataRecordsReliability, boolean
    (56, &[6]),          // sourceMacAddress
    (82, &[VARLEN, 3]),  // interfaceName, string
    (313, &[VARLEN, 5]), // ipHeaderPacketSection, octetArray
    (8, &[4]),           // sourceIPv4Address
    (27, &[16]),         // sourceIPv6Address
    (150, &[4]),         // flowStartSeconds
    (152, &[8, 6]),      // flowStartMilliseconds
    (154, &[8]),         // flowStartMicroseconds
    (156, &[8]),         // flowStartNanoseconds
];

fn same(a: &Value<'_>, b: &Value<'_>) -> bool {
    match (a, b) {
        (Value::Float(x), Value::Float(y)) => {
            x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan())
        }
        _ => a == b,
    }
}

struct Collect(Vec<Vec<Vec<u8>>>);

impl RecordSink for Collect {
    fn record(&mut self, rec: &Record<'_>) -> ferrofix::Result<()> {
        self.0
            .push((0..rec.len()).map(|i| rec.raw(i).to_vec()).collect());
        Ok(())
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&n, rest)) = data.split_first() else {
        return;
    };
    let n = usize::from(n % 8) + 1;
    let Some((picks, mut rest)) = (rest.len() >= n).then(|| rest.split_at(n)) else {
        return;
    };
    let model = InfoModel::iana();
    let specs: Vec<FieldSpec> = picks
        .iter()
        .map(|&p| {
            let (id, lengths) = IES[usize::from(p >> 3) % IES.len()];
            FieldSpec {
                id,
                length: lengths[usize::from(p & 7) % lengths.len()],
                pen: 0,
            }
        })
        .collect();
    let t = Arc::new(Template::new(256, 0, None, specs, &model));
    let mut ex = Exporter::new(
        Vec::new(),
        ExportOptions {
            export_time: Some(0),
            ..ExportOptions::default()
        },
    )
    .expect("default options");
    ex.add_template(t.clone()).expect("a valid template");
    // Records of raw field bytes: fixed fields take their length, varlen
    // fields take a length prefix as the wire does.
    let mut originals: Vec<Vec<Vec<u8>>> = Vec::new();
    'records: while !rest.is_empty() && originals.len() < 64 {
        let mut fields = Vec::new();
        let mut pos = 0;
        for f in &t.fields {
            let (start, len) = if f.length == VARLEN {
                match read_varlen(rest, pos) {
                    Some(x) => x,
                    None => break 'records,
                }
            } else {
                (pos, usize::from(f.length))
            };
            let Some(raw) = rest.get(start..start + len) else {
                break 'records;
            };
            fields.push(raw.to_vec());
            pos = start + len;
        }
        let values: Vec<Value<'_>> = t
            .fields
            .iter()
            .zip(&fields)
            .map(|(f, raw)| decode_value(f.decoder, raw))
            .collect();
        if let Err(e) = ex.encode_record(0, 256, &values) {
            // Only a record longer than a message may be refused.
            assert!(e.to_string().contains("does not fit a message"), "{e}");
            break;
        }
        originals.push(fields);
        rest = &rest[pos.max(1).min(rest.len())..];
    }
    let out = ex.finish().expect("in memory");
    let mut dec = Decoder::new(model, &DecoderOptions::default());
    let mut sink = Collect(Vec::new());
    let mut at = 0;
    while at + 4 <= out.len() {
        let len = usize::from(u16::from_be_bytes([out[at + 2], out[at + 3]]));
        dec.decode_message(&out[at..at + len], at as u64, 0, &mut sink)
            .expect("our own output decodes");
        at += len;
    }
    assert_eq!(sink.0.len(), originals.len());
    for (got, want) in sink.0.iter().zip(&originals) {
        for ((f, g), w) in t.fields.iter().zip(got).zip(want) {
            let (a, b) = (decode_value(f.decoder, w), decode_value(f.decoder, g));
            assert!(same(&a, &b), "{:?}: {a:?} became {b:?}", f.ie.name);
        }
    }
});
