//! The meter on every real capture of the fixtures and on thousands of
//! deterministic mutations and truncations of them: no panic, counters
//! that add up (see tests/support/meter_run.rs), bounded work.

#[path = "support/meter_run.rs"]
mod meter_run;

use std::path::PathBuf;

fn captures() -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/pcap");
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .expect("tests/data/pcap")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x != "gz"))
        .map(|p| (p.display().to_string(), std::fs::read(&p).expect("read")))
        .filter(|(_, d)| ferrofix::pcap::is_capture(d))
        .collect();
    out.sort();
    out
}

/// A small deterministic generator (xorshift), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// `data` with `changes` octets set at random, cut short at random when
/// `cut` (never under a pcap header's 24 octets).
fn mutated(data: &[u8], rng: &mut Rng, changes: usize, cut: bool) -> Vec<u8> {
    let mut d = data.to_vec();
    for _ in 0..changes {
        let at = (rng.next() as usize) % d.len();
        d[at] = rng.next() as u8;
    }
    if cut {
        let at = (rng.next() as usize) % d.len();
        d.truncate(at.max(24));
    }
    d
}

#[test]
fn every_fixture_capture_meters_with_counters_that_add_up() {
    let all = captures();
    assert!(all.len() > 40, "{} captures", all.len());
    let mut records = 0;
    for (_, data) in &all {
        records += meter_run::meter_bytes(data);
    }
    assert!(records > 1000);
}

#[test]
fn mutated_and_cut_captures_never_panic() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for (_, data) in captures().iter().filter(|(_, d)| d.len() < 200_000) {
        for k in 0..40 {
            meter_run::meter_bytes(&mutated(data, &mut rng, k % 8 + 1, k % 5 == 0));
        }
    }
}

#[test]
fn arbitrary_frames_under_every_link_type_never_panic() {
    let mut rng = Rng(42);
    for _ in 0..300 {
        let n = (rng.next() % 2000) as usize;
        let d: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
        meter_run::meter_bytes(&d);
    }
    // Frames cut from real captures' packets (past the pcap headers).
    for (_, data) in captures().iter().take(30) {
        meter_run::meter_bytes(&data[24.min(data.len())..]);
    }
}

/// Workers reading a capture file themselves (mapped, or gzipped and
/// decompressed in blocks) give one table's records and counters, on every
/// fixture capture and on 4 mutations of each under 200 KB (two of them
/// cut short): a capture failing part-way fails alike, with the same flows
/// kept.
#[test]
fn workers_reading_a_file_agree_with_one_table_on_mutated_captures() {
    let mut rng = Rng(0xD1B5_4A32_D192_ED03);
    let (mut records, mut failed) = (0, 0);
    for (_, data) in captures() {
        let (n, fails) = meter_run::workers_agree(&data);
        records += n;
        assert!(!fails, "a fixture capture fails");
        if data.len() >= 200_000 {
            continue;
        }
        for k in 0..4 {
            let d = mutated(&data, &mut rng, k + 1, k % 2 == 0);
            failed += u32::from(meter_run::workers_agree(&d).1);
        }
    }
    assert!(records > 1000, "{records} records");
    // Most cut captures end inside a record: the failing path is taken.
    assert!(failed > 40, "{failed} captures failed part-way");
}
