//! Tests of the bundled enterprise IEs: names, numbers and types as the
//! spec files give them, RFC 5103 §6.2 reverses, user redefinitions, and a
//! record of them through the exporter and the decoder.

use std::sync::Arc;

use super::*;
use crate::decode::{Decoder, DecoderOptions, Record, RecordSink, Value};
use crate::encode::{resolve_field, ExportOptions, Exporter};
use crate::model::{DataType, ENTERPRISE_REVERSE_BIT};
use crate::session::Template;

const QOF: u32 = 35566;
const CERT: u32 = 6871;

fn ie(m: &InfoModel, name: &str) -> (u32, u16, DataType) {
    let d = m.by_name(name).unwrap_or_else(|| panic!("{name} unknown"));
    (d.pen, d.id, d.data_type)
}

#[test]
fn qof_ies_by_name() {
    let m = InfoModel::new();
    // Numbers and types from qof.iespec; reverses are id + 16384 (bit 14).
    assert_eq!(
        ie(&m, "tcpSequenceCount"),
        (QOF, 1024, DataType::Unsigned64)
    );
    assert_eq!(
        ie(&m, "reverseTcpSequenceCount"),
        (QOF, 1024 + 16384, DataType::Unsigned64)
    );
    assert_eq!(
        ie(&m, "minTcpRttMilliseconds"),
        (QOF, 1029, DataType::Unsigned32)
    );
    assert_eq!(
        ie(&m, "qofTcpCharacteristics"),
        (QOF, 1039, DataType::Unsigned32)
    );
    assert_eq!(
        ie(&m, "reverseQofTcpCharacteristics"),
        (QOF, 17423, DataType::Unsigned32)
    );
    assert_eq!(
        ie(&m, "maxTcpChirpMilliseconds"),
        (QOF, 1049, DataType::Signed16)
    );
    assert_eq!(ie(&m, "declaredTcpMss"), (QOF, 1033, DataType::Unsigned16));
    assert_eq!(ie(&m, "lastSynTcpFlags"), (QOF, 1053, DataType::Unsigned8));
    // The default model is the bundled one.
    assert_eq!(
        InfoModel::default().by_name("tcpSequenceCount"),
        m.by_name("tcpSequenceCount")
    );
}

#[test]
fn cert_ies_qof_uses_by_name() {
    let m = InfoModel::new();
    // cert.iespec (libfixbuf's cert_ipfix.xml): unsigned16 flags.
    assert_eq!(ie(&m, "initialTCPFlags"), (CERT, 14, DataType::Unsigned16));
    assert_eq!(ie(&m, "unionTCPFlags"), (CERT, 15, DataType::Unsigned16));
    // YAF's reverse flags: the same PEN, 14 | 0x4000 and 15 | 0x4000.
    assert_eq!(
        ie(&m, "reverseInitialTCPFlags"),
        (CERT, 16398, DataType::Unsigned16)
    );
    assert_eq!(
        ie(&m, "reverseUnionTCPFlags"),
        (CERT, 16399, DataType::Unsigned16)
    );
    assert_eq!(
        ie(&m, "reverseFlowDeltaMilliseconds"),
        (CERT, 21, DataType::Unsigned32)
    );
}

#[test]
fn qof_ies_by_number() {
    let m = InfoModel::new();
    let d = m.lookup(QOF, 1024);
    assert_eq!(
        (&*d.name, d.data_type),
        ("tcpSequenceCount", DataType::Unsigned64)
    );
    assert!(!d.unknown);
    let r = m.lookup(QOF, 1024 | ENTERPRISE_REVERSE_BIT);
    assert_eq!(&*r.name, "reverseTcpSequenceCount");
    assert_eq!(&*m.lookup(QOF, 1029).name, "minTcpRttMilliseconds");
    assert_eq!(&*m.lookup(QOF, 1039).name, "qofTcpCharacteristics");
    assert_eq!(&*m.lookup(CERT, 14).name, "initialTCPFlags");
    assert_eq!(&*m.lookup(CERT, 21).name, "reverseFlowDeltaMilliseconds");
    // 1028 (meanTcpRttMilliseconds, dropped by QoF in 2013, read by its
    // notebooks): unsigned32 as its neighbours.
    let mean = m.lookup(QOF, 1028);
    assert_eq!(
        (&*mean.name, mean.data_type),
        ("meanTcpRttMilliseconds", DataType::Unsigned32)
    );
    // ferrofix's own, under RFC 5612's documentation PEN, and their reverses.
    let f = m.lookup(32473, 1);
    assert_eq!(
        (&*f.name, f.data_type),
        ("minTcpRttMicroseconds", DataType::Unsigned32)
    );
    let r = m.lookup(32473, 1 | ENTERPRISE_REVERSE_BIT);
    assert_eq!(&*r.name, "reverseMinTcpRttMicroseconds");
    assert_eq!(
        m.lookup(32473, 47).data_type,
        DataType::Boolean,
        "tcpEcnNegotiated"
    );
    // The bare IANA model still knows none of them.
    assert!(InfoModel::iana().lookup(QOF, 1024).unknown);
    assert!(InfoModel::iana().by_name("initialTCPFlags").is_none());
}

#[test]
fn every_qof_line_is_known_with_its_type_and_reverse() {
    let m = InfoModel::new();
    for line in QOF_IESPEC.lines().filter(|l| !l.starts_with('#')) {
        let p = crate::model::parse_spec(line).unwrap();
        let (name, id, ty) = (p.name.unwrap(), p.id.unwrap(), p.data_type.unwrap());
        assert_eq!(p.pen, Some(QOF), "{line}");
        assert_eq!(ie(&m, &name), (QOF, id, ty), "{line}");
        let rev = crate::model::reverse_name(&name);
        assert_eq!(ie(&m, &rev), (QOF, id + 16384, ty), "{line}");
        assert_eq!(&*m.lookup(QOF, id).name, name.as_str());
    }
}

#[test]
fn a_user_spec_redefines_a_bundled_ie_as_loading_the_files_first_did() {
    // What Python's readers do today: the files into a bare IANA model,
    // then the user's specs.
    let mut by_files = InfoModel::iana();
    by_files.add_spec_text(CERT_IESPEC).unwrap();
    by_files.add_spec_text(QOF_IESPEC).unwrap();
    by_files.add_spec_text(FERROFIX_IESPEC).unwrap();
    let mut bundled = InfoModel::new();
    for m in [&mut by_files, &mut bundled] {
        m.add_spec("tcpSequenceCount(35566/1024)<unsigned32>")
            .unwrap();
        m.add_spec("myRtt(35566/1029)<float64>").unwrap();
        m.add_spec("myNew(35566/900)<string>").unwrap();
    }
    assert_eq!(by_files.all(), bundled.all());
    for name in [
        "tcpSequenceCount",
        "reverseTcpSequenceCount",
        "myRtt",
        "minTcpRttMilliseconds",
        "reverseMyNew",
    ] {
        assert_eq!(by_files.by_name(name), bundled.by_name(name), "{name}");
    }
    // The redefinition wins; the reverse defined first is kept (InfoModel::add).
    assert_eq!(ie(&bundled, "tcpSequenceCount").2, DataType::Unsigned32);
    assert_eq!(
        ie(&bundled, "reverseTcpSequenceCount").2,
        DataType::Unsigned64
    );
    assert_eq!(&*bundled.lookup(QOF, 1029).name, "myRtt");
    // Another model is untouched by this one's additions.
    assert_eq!(
        ie(&InfoModel::new(), "tcpSequenceCount").2,
        DataType::Unsigned64
    );
}

/// (name, value) of every field of every record.
#[derive(Default)]
struct Collect(Vec<(String, i128)>);

impl RecordSink for Collect {
    fn record(&mut self, r: &Record<'_>) -> crate::Result<()> {
        for (f, v) in r.template.fields.iter().zip(r.values()) {
            let v = match v {
                Value::Unsigned(u) => i128::from(u),
                Value::Signed(s) => i128::from(s),
                other => panic!("{}: {other:?}", f.ie.name),
            };
            self.0.push((f.ie.name.to_string(), v));
        }
        Ok(())
    }
}

#[test]
fn a_record_of_qof_ies_round_trips_through_exporter_and_decoder() {
    let mut model = InfoModel::new();
    // minTcpRttMilliseconds in 2 octets, as QoF sends it (RFC 7011 §6.2).
    let columns = [
        "tcpSequenceCount",
        "reverseTcpSequenceCount",
        "minTcpRttMilliseconds[2]",
        "qofTcpCharacteristics",
        "maxTcpChirpMilliseconds",
        "initialTCPFlags",
        "reverseInitialTCPFlags",
        "reverseFlowDeltaMilliseconds",
    ];
    let specs: Vec<_> = columns
        .iter()
        .map(|c| resolve_field(&mut model, c).unwrap())
        .collect();
    let lengths: Vec<_> = specs.iter().map(|s| (s.pen, s.id, s.length)).collect();
    assert_eq!(
        lengths,
        [
            (QOF, 1024, 8),
            (QOF, 17408, 8),
            (QOF, 1029, 2),
            (QOF, 1039, 4),
            (QOF, 1049, 2),
            (CERT, 14, 2),
            (CERT, 16398, 2),
            (CERT, 21, 4),
        ]
    );
    let t = Arc::new(Template::new(256, 3, None, specs, &model));
    let opts = ExportOptions {
        mtu: 1500,
        template_refresh: None,
        template_refresh_secs: None,
        export_time: Some(7),
    };
    let mut ex = Exporter::new(Vec::new(), opts).unwrap();
    ex.add_template(t).unwrap();
    let values = [
        Value::Unsigned(1 << 40),
        Value::Unsigned(12_345),
        Value::Unsigned(48),
        Value::Unsigned(0x8000_0001),
        Value::Signed(-300),
        Value::Unsigned(0x02),
        Value::Unsigned(0x12),
        Value::Unsigned(25),
    ];
    ex.encode_record(3, 256, &values).unwrap();
    let out = ex.finish().unwrap();
    // A fresh default model decodes the stream by name.
    let mut dec = Decoder::new(InfoModel::new(), &DecoderOptions::default());
    let mut got = Collect::default();
    let mut at = 0;
    while at < out.len() {
        let len = usize::from(u16::from_be_bytes([out[at + 2], out[at + 3]]));
        dec.decode_message(&out[at..at + len], at as u64, 0, &mut got)
            .unwrap();
        at += len;
    }
    let want: Vec<(String, i128)> = [
        "tcpSequenceCount",
        "reverseTcpSequenceCount",
        "minTcpRttMilliseconds",
        "qofTcpCharacteristics",
        "maxTcpChirpMilliseconds",
        "initialTCPFlags",
        "reverseInitialTCPFlags",
        "reverseFlowDeltaMilliseconds",
    ]
    .iter()
    .map(ToString::to_string)
    .zip([1 << 40, 12_345, 48, 0x8000_0001, -300, 0x02, 0x12, 25])
    .collect();
    assert_eq!(got.0, want);
    assert!(InfoModel::new().all().iter().all(|d| !d.unknown));
}
