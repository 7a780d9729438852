//! Exporter -> decoder round trips (house rule 6): random templates over
//! every abstract data type, every width the type allows (RFC 7011 §6.2
//! reduced sizes included), variable-length fields, RFC 5103 reverse and
//! enterprise IEs; random records; random withdrawals and redefinitions.
//! Whatever the exporter writes, the decoder reads back as the same values
//! in the same order, with sequence numbers that count the data records.

use std::sync::Arc;

use ferrofix::decode::{
    DateTime, Decoder, DecoderOptions, Record, RecordSink, TimePrecision, Value,
};
use ferrofix::encode::{ExportOptions, Exporter};
use ferrofix::model::InfoModel;
use ferrofix::session::Template;
use ferrofix::wire::{FieldSpec, VARLEN};
use proptest::prelude::*;

/// An IE of each abstract data type (name, allowed lengths; VARLEN where
/// the type allows it).
const SPECS: &[&str] = &[
    "tU8(99999/1)<unsigned8>",
    "tU16(99999/2)<unsigned16>",
    "tU32(99999/3)<unsigned32>",
    "tU64(99999/4)<unsigned64>",
    "tS8(99999/5)<signed8>",
    "tS16(99999/6)<signed16>",
    "tS32(99999/7)<signed32>",
    "tS64(99999/8)<signed64>",
    "tF32(99999/9)<float32>",
    "tF64(99999/10)<float64>",
    "tBool(99999/11)<boolean>",
    "tMac(99999/12)<macAddress>",
    "tStr(99999/13)<string>",
    "tOct(99999/14)<octetArray>",
    "tV4(99999/15)<ipv4Address>",
    "tV6(99999/16)<ipv6Address>",
    "tSec(99999/17)<dateTimeSeconds>",
    "tMs(99999/18)<dateTimeMilliseconds>",
    "tUs(99999/19)<dateTimeMicroseconds>",
    "tNs(99999/20)<dateTimeNanoseconds>",
    "tU256(99999/21)<unsigned256>",
];

fn model() -> InfoModel {
    let mut m = InfoModel::iana();
    for s in SPECS {
        m.add_spec(s).expect("a valid spec");
    }
    m
}

/// A field: which spec, which length, reversed (RFC 5103) or not.
#[derive(Debug, Clone)]
struct F {
    spec: usize,
    length: u16,
    reverse: bool,
}

fn lengths(spec: usize) -> Vec<u16> {
    match spec {
        // Unsigned and signed integers: every reduced size (RFC 7011 §6.2).
        0 | 4 | 10 => vec![1],
        1 | 5 => vec![1, 2],
        2 | 6 => vec![1, 2, 3, 4],
        3 | 7 => (1..=8).collect(),
        8 | 14 | 16 => vec![4],
        9 => vec![4, 8],
        11 => vec![6],
        12 | 13 => vec![0, 1, 5, 17, VARLEN],
        15 => vec![16],
        17..=19 => vec![8],
        _ => vec![1, 16, 32],
    }
}

fn field() -> impl Strategy<Value = F> {
    (0..SPECS.len(), any::<prop::sample::Index>(), any::<bool>()).prop_map(|(spec, i, reverse)| {
        let ls = lengths(spec);
        F {
            spec,
            length: ls[i.index(ls.len())],
            reverse,
        }
    })
}

/// An owned value for a field (borrowed as a `Value` when encoding).
#[derive(Debug, Clone, PartialEq)]
enum V {
    U(u64),
    S(i64),
    Fl(f64),
    B(bool),
    Mac([u8; 6]),
    Str(Vec<u8>),
    Oct(Vec<u8>),
    V4([u8; 4]),
    V6([u8; 16]),
    T(i64, u32, TimePrecision),
    U256(Vec<u8>),
}

impl V {
    fn value(&self) -> Value<'_> {
        match self {
            V::U(x) => Value::Unsigned(*x),
            V::S(x) => Value::Signed(*x),
            V::Fl(x) => Value::Float(*x),
            V::B(x) => Value::Bool(*x),
            V::Mac(m) => Value::Mac(*m),
            V::Str(s) => Value::String(s),
            V::Oct(b) => Value::Bytes(b),
            V::V4(a) => Value::Ipv4(*a),
            V::V6(a) => Value::Ipv6(*a),
            V::T(secs, nanos, precision) => Value::DateTime(DateTime {
                secs: *secs,
                nanos: *nanos,
                precision: *precision,
            }),
            V::U256(b) => Value::Unsigned256(b),
        }
    }
}

fn value_for(f: &F) -> BoxedStrategy<V> {
    let n = u32::from(f.length.min(8));
    match f.spec {
        0..=3 => {
            let max = if n == 8 {
                u64::MAX
            } else {
                (1u64 << (8 * n)) - 1
            };
            (0..=max).prop_map(V::U).boxed()
        }
        4..=7 => {
            let bits = 8 * n;
            let (lo, hi) = if bits == 64 {
                (i64::MIN, i64::MAX)
            } else {
                (-(1i64 << (bits - 1)), (1i64 << (bits - 1)) - 1)
            };
            (lo..=hi).prop_map(V::S).boxed()
        }
        8 => any::<f32>()
            .prop_filter("not NaN", |x| !x.is_nan())
            .prop_map(|x| V::Fl(f64::from(x)))
            .boxed(),
        9 if f.length == 4 => any::<f32>()
            .prop_filter("not NaN", |x| !x.is_nan())
            .prop_map(|x| V::Fl(f64::from(x)))
            .boxed(),
        9 => any::<f64>()
            .prop_filter("not NaN", |x| !x.is_nan())
            .prop_map(V::Fl)
            .boxed(),
        10 => any::<bool>().prop_map(V::B).boxed(),
        11 => any::<[u8; 6]>().prop_map(V::Mac).boxed(),
        12 | 13 => {
            let len = if f.length == VARLEN {
                0..300usize
            } else {
                usize::from(f.length)..usize::from(f.length) + 1
            };
            let str_like = f.spec == 12;
            prop::collection::vec(any::<u8>(), len)
                .prop_map(move |b| if str_like { V::Str(b) } else { V::Oct(b) })
                .boxed()
        }
        14 => any::<[u8; 4]>().prop_map(V::V4).boxed(),
        15 => any::<[u8; 16]>().prop_map(V::V6).boxed(),
        16 => (0..=i64::from(u32::MAX))
            .prop_map(|s| V::T(s, 0, TimePrecision::Seconds))
            .boxed(),
        17 => (0..1i64 << 42, 0..1000u32)
            .prop_map(|(s, ms)| V::T(s, ms * 1_000_000, TimePrecision::Milliseconds))
            .boxed(),
        18 => (-2_208_988_800..2_085_978_495i64, 0..1_000_000u32)
            .prop_map(|(s, us)| V::T(s, us * 1000, TimePrecision::Microseconds))
            .boxed(),
        19 => (-2_208_988_800..2_085_978_495i64, 0..1_000_000_000u32)
            .prop_map(|(s, ns)| V::T(s, ns, TimePrecision::Nanoseconds))
            .boxed(),
        _ => prop::collection::vec(any::<u8>(), usize::from(f.length))
            .prop_map(V::U256)
            .boxed(),
    }
}

/// The value the decoder returns, as the owned form.
fn owned(v: &Value<'_>) -> Option<V> {
    Some(match v {
        Value::Unsigned(x) => V::U(*x),
        Value::Signed(x) => V::S(*x),
        Value::Float(x) => V::Fl(*x),
        Value::Bool(x) => V::B(*x),
        Value::Mac(m) => V::Mac(*m),
        Value::String(s) => V::Str(s.to_vec()),
        Value::Bytes(b) => V::Oct(b.to_vec()),
        Value::Ipv4(a) => V::V4(*a),
        Value::Ipv6(a) => V::V6(*a),
        Value::DateTime(t) => V::T(t.secs, t.nanos, t.precision),
        Value::Unsigned256(b) => V::U256(b.to_vec()),
        _ => return None,
    })
}

/// Records read back: (domain, template id, values).
#[derive(Default)]
struct Collect(Vec<(u32, u16, Vec<Option<V>>)>);

impl RecordSink for Collect {
    fn record(&mut self, rec: &Record<'_>) -> ferrofix::Result<()> {
        self.0.push((
            rec.header.observation_domain_id,
            rec.template.id,
            rec.values().map(|v| owned(&v)).collect(),
        ));
        Ok(())
    }
}

/// One step of an export: a record of template `t` (index into the
/// domain's templates) or a withdrawal and redefinition of it.
#[derive(Debug, Clone)]
enum Step {
    Record(usize, Vec<V>),
    Redefine(usize),
}

fn template_specs(fields: &[F], model: &InfoModel) -> Vec<FieldSpec> {
    fields
        .iter()
        .map(|f| {
            let ie = model
                .by_name(&SPECS[f.spec][..SPECS[f.spec].find('(').unwrap_or(0)])
                .expect("registered");
            let ie = if f.reverse {
                Arc::new(ie.reversed())
            } else {
                ie
            };
            FieldSpec {
                id: ie.id,
                length: f.length,
                pen: ie.pen,
            }
        })
        .collect()
}

fn scenario() -> impl Strategy<Value = (Vec<Vec<F>>, Vec<(u32, Step)>, usize)> {
    // Templates of zero-length records are refused (tested on their own).
    let template = prop::collection::vec(field(), 1..8)
        .prop_filter("some field has content", |fs| {
            fs.iter().any(|f| f.length != 0)
        });
    prop::collection::vec(template, 1..4).prop_flat_map(|templates| {
        let value_steps: Vec<BoxedStrategy<Step>> = templates
            .iter()
            .enumerate()
            .map(|(i, fs)| {
                let vals: Vec<BoxedStrategy<V>> = fs.iter().map(value_for).collect();
                vals.prop_map(move |v| Step::Record(i, v)).boxed()
            })
            .collect();
        let n = templates.len();
        let step = prop_oneof![
            9 => prop::strategy::Union::new(value_steps),
            1 => (0..n).prop_map(Step::Redefine),
        ];
        (
            Just(templates),
            prop::collection::vec((0..3u32, step), 0..60),
            prop::sample::select(vec![100usize, 512, 1500, 65_535]),
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn what_is_written_reads_back((templates, steps, mtu) in scenario()) {
        let model = model();
        let opts = ExportOptions { mtu, template_refresh: None, template_refresh_secs: None, export_time: Some(1_700_000_000) };
        let mut ex = Exporter::new(Vec::new(), opts).unwrap();
        let define = |ex: &mut Exporter<Vec<u8>>, odid: u32, i: usize| {
            // Every other template is an options template scoped by its
            // first field (RFC 7011 §3.4.2.2).
            let scope = (i % 2 == 1).then_some(1);
            let t = Template::new(256 + i as u16, odid, scope, template_specs(&templates[i], &model), &model);
            ex.add_template(Arc::new(t))
        };
        let mut expected = Vec::new();
        let mut defined = std::collections::HashSet::new();
        for (odid, step) in &steps {
            match step {
                Step::Record(i, vals) => {
                    if defined.insert((*odid, *i)) {
                        define(&mut ex, *odid, *i).unwrap();
                    }
                    let values: Vec<Value<'_>> = vals.iter().map(V::value).collect();
                    match ex.encode_record(*odid, 256 + *i as u16, &values) {
                        Ok(()) => expected.push((*odid, 256 + *i as u16, vals.iter().cloned().map(Some).collect::<Vec<_>>())),
                        // Only a record too long for a small MTU may be refused.
                        Err(e) => prop_assert!(e.to_string().contains("does not fit a message"), "{e}"),
                    }
                }
                Step::Redefine(i) => {
                    if defined.contains(&(*odid, *i)) {
                        ex.withdraw(*odid, 256 + *i as u16).unwrap();
                        define(&mut ex, *odid, *i).unwrap();
                    }
                }
            }
        }
        let bytes = ex.finish().unwrap();
        let mut dec = Decoder::new(model.clone(), &DecoderOptions::default());
        let mut sink = Collect::default();
        let mut at = 0usize;
        let mut index = 0u64;
        let mut per_domain = std::collections::HashMap::<u32, u32>::new();
        while at < bytes.len() {
            let len = usize::from(u16::from_be_bytes([bytes[at + 2], bytes[at + 3]]));
            prop_assert!(len <= mtu);
            let msg = &bytes[at..at + len];
            let odid = u32::from_be_bytes(msg[12..16].try_into().unwrap());
            let seq = u32::from_be_bytes(msg[8..12].try_into().unwrap());
            let before = sink.0.len();
            dec.decode_message(msg, at as u64, index, &mut sink).unwrap();
            // RFC 7011 §3.1: the sequence number counts the domain's data
            // records sent before this message.
            let sent = per_domain.entry(odid).or_default();
            prop_assert_eq!(seq, *sent);
            *sent = sent.wrapping_add((sink.0.len() - before) as u32);
            at += len;
            index += 1;
        }
        prop_assert_eq!(sink.0, expected);
        let h = dec.health();
        prop_assert_eq!(h.problems_skipped, 0);
    }
}
