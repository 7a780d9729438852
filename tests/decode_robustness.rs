//! Robustness of the core decoder on real captures: every fixture decodes
//! under the skip policy; every truncation and thousands of deterministic
//! mutations of real streams end without a panic, and within bounded work.

use std::path::PathBuf;

use ferrofix::decode::{Decoder, DecoderOptions, Policy, Record, RecordSink};
use ferrofix::model::InfoModel;
use ferrofix::source::MessageStream;

#[derive(Default)]
struct Visit {
    records: u64,
    values: u64,
}

impl RecordSink for Visit {
    fn record(&mut self, rec: &Record<'_>) -> ferrofix::Result<()> {
        let by_index: Vec<_> = (0..rec.len()).map(|i| rec.value(i)).collect();
        let in_order: Vec<_> = rec.values().collect();
        assert_eq!(by_index, in_order);
        self.values += by_index.len() as u64;
        self.records += 1;
        Ok(())
    }
}

fn decode(data: &[u8], policy: Policy) -> (Visit, Option<ferrofix::Error>) {
    let opts = DecoderOptions {
        policy,
        ..DecoderOptions::default()
    };
    let mut dec = Decoder::new(InfoModel::iana(), &opts);
    let mut sink = Visit::default();
    let mut stream = MessageStream::new(Box::new(std::io::Cursor::new(data.to_vec())));
    loop {
        match stream.next_message() {
            Ok(Some(m)) => {
                if let Err(e) = dec.decode(&m, &mut sink) {
                    return (sink, Some(e));
                }
            }
            Ok(None) => return (sink, None),
            Err(e) => return (sink, Some(e)),
        }
    }
}

fn fixtures() -> Vec<(String, Vec<u8>)> {
    files("tests/data/ipfix")
}

/// The files of a fixture directory, by name.
fn files(sub: &str) -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(sub);
    let mut v: Vec<_> = std::fs::read_dir(&dir)
        .expect(sub)
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn every_fixture_decodes_under_skip() {
    let all = fixtures();
    assert!(all.len() > 20);
    let mut total = 0;
    for (name, data) in &all {
        let (sink, err) = decode(data, Policy::Skip);
        // Under skip, only framing errors of the stream itself stop it.
        if let Some(e) = err {
            assert!(!e.is_decode() || e.offset.is_some(), "{name}: {e}");
        }
        total += sink.records;
    }
    assert!(total > 4000, "{total}");
}

#[test]
fn truncation_at_every_byte() {
    let all = fixtures();
    let (_, data) = all.iter().find(|(n, _)| n.contains("02-odid4")).unwrap();
    let data = &data[..4000.min(data.len())];
    let (full, _) = decode(data, Policy::Skip);
    for cut in 0..data.len() {
        let (part, err) = decode(&data[..cut], Policy::Error);
        assert!(part.records <= full.records);
        if let Some(e) = err {
            assert!(e.offset.unwrap_or(0) <= cut as u64, "cut {cut}: {e}");
        }
    }
}

/// xorshift64*: deterministic mutations without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// `data` with 1 to 8 bytes set to 0, 0xff or a random value.
fn mutate(data: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut m = data.to_vec();
    for _ in 0..=(rng.next() % 8) {
        let i = (rng.next() % m.len().max(1) as u64) as usize;
        if let Some(b) = m.get_mut(i) {
            *b = match rng.next() % 4 {
                0 => 0,
                1 => 0xff,
                _ => rng.next() as u8,
            };
        }
    }
    m
}

/// Decode under both policies: no panic, and bounded work (templates may
/// not have more than 4 * min_record_len + 64 fields, so values per byte
/// are capped).
fn decode_bounded(m: &[u8]) {
    for p in [Policy::Error, Policy::Skip] {
        let (sink, _) = decode(m, p);
        assert!(sink.values <= (m.len() as u64 + 1) * 68);
    }
}

#[test]
fn mutations_never_panic() {
    let all = fixtures();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for (_, data) in all.iter().filter(|(_, d)| d.len() < 20_000) {
        for _ in 0..300 {
            decode_bounded(&mutate(data, &mut rng));
        }
    }
}

/// NetFlow v9/v5 streams and pcap/pcapng captures of flow export (link
/// layers, IP, UDP, the NetFlow translation) mutated the same way.
#[test]
fn netflow_and_capture_mutations_never_panic() {
    let mut all = files("tests/data/netflow");
    all.extend(files("tests/data/pcap"));
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    let mut n = 0;
    for (_, data) in all.iter().filter(|(_, d)| d.len() < 20_000) {
        for _ in 0..300 {
            decode_bounded(&mutate(data, &mut rng));
        }
        n += 1;
    }
    assert!(n > 60, "{n}");
}

/// IPFIX over TCP and fragmented UDP in captures (reassembly, defragmenting):
/// every prefix at a 97-byte step reads no more records than the whole
/// and stops within what it was given; mutations do not panic.
#[test]
fn reassembled_capture_prefixes_and_mutations() {
    let mut rng = Rng(0x0123_4567_89AB_CDEF);
    for name in [
        "ferrofix__ipfix-over-tcp.pcapng",
        "ferrofix__ipfix-udp-fragments.pcap",
    ] {
        let all = files("tests/data/pcap");
        let (_, data) = all.iter().find(|(n, _)| n == name).expect(name);
        let data = &data[..60_000];
        let (full, _) = decode(data, Policy::Skip);
        assert!(full.records > 0, "{name}");
        for cut in (0..data.len()).step_by(97) {
            let (part, err) = decode(&data[..cut], Policy::Error);
            assert!(part.records <= full.records, "{name} cut {cut}");
            if let Some(e) = err {
                assert!(e.offset.unwrap_or(0) <= cut as u64, "{name} cut {cut}: {e}");
            }
        }
        for _ in 0..300 {
            decode_bounded(&mutate(data, &mut rng));
        }
    }
}

#[test]
fn zero_length_field_amplification_is_refused() {
    // template 256: 1000 zero-length fields and one 1-byte field; 60000 data bytes
    let mut tset = vec![0u8, 2, 0, 0, 1, 0];
    tset.extend_from_slice(&1001u16.to_be_bytes());
    for _ in 0..1000 {
        tset.extend_from_slice(&[0, 1, 0, 0]);
    }
    tset.extend_from_slice(&[0, 4, 0, 1]);
    let len = tset.len() as u16;
    tset[2..4].copy_from_slice(&len.to_be_bytes());
    let mut data = vec![1u8, 0, 0, 0];
    data.extend(std::iter::repeat_n(6u8, 60_000));
    let dl = data.len() as u16;
    data[2..4].copy_from_slice(&dl.to_be_bytes());
    let mut msg = vec![0u8, 10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    msg.extend(tset);
    msg.extend(data);
    let ml = msg.len() as u16;
    msg[2..4].copy_from_slice(&ml.to_be_bytes());
    let (sink, err) = decode(&msg, Policy::Error);
    assert_eq!(sink.values, 0);
    assert!(err.unwrap().to_string().contains("zero-length fields"));
    let (sink, err) = decode(&msg, Policy::Skip);
    assert!(err.is_none());
    assert_eq!(sink.values, 0);
}
