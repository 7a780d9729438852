//! Structure-aware hostile inputs (`ferrofix-testgen`): for each kind
//! (IPFIX with RFC 6313 lists, NetFlow v9/v5 streams, pcap, pcapng, gzip
//! and zstd wrappers), deterministic seeds build valid inputs, which must
//! decode to exactly the records, list elements and capture timestamps
//! generated, and valid-then-mutated inputs, which must end without a
//! panic, a hang or unbounded work (the fuzz targets' path,
//! `support/exercise.rs`). Every input a fuzz campaign found a crash with
//! (`tests/data/fuzz-regressions/<target>/`) is replayed.

#[path = "support/exercise.rs"]
mod exercise;

use std::io::Cursor;
use std::path::PathBuf;

use ferrofix::pcap::CaptureReader;
use ferrofix::source::decompressing;
use ferrofix_testgen::{generate_mutated, Choices, Kind};

/// The whole test process runs under a data limit (heap and anonymous
/// mappings, `RLIMIT_DATA`): an input that made memory grow without bound
/// fails its test with an allocation error instead of passing on a big
/// machine. 2 GiB: the tests' threads together hold far less.
const DATA_LIMIT: u64 = 2 << 30;

fn limit_memory() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        #[cfg(target_os = "linux")]
        {
            extern "C" {
                // glibc's setrlimit(2); struct rlimit is two rlim_t (u64).
                fn setrlimit(resource: i32, rlim: *const [u64; 2]) -> i32;
            }
            const RLIMIT_DATA: i32 = 2;
            // SAFETY: a valid pointer to two u64s for the call's duration.
            let r = unsafe { setrlimit(RLIMIT_DATA, &[DATA_LIMIT, DATA_LIMIT]) };
            assert_eq!(r, 0, "setrlimit(RLIMIT_DATA) failed");
        }
    });
}

/// Seeds per kind: valid inputs, mutated inputs (about 20 s in all for a
/// debug build on 2 cores).
const VALID: u64 = 400;
const MUTATED: u64 = 3000;

fn seed(kind: Kind, i: u64) -> u64 {
    (kind as u64 + 1) << 32 | i
}

/// Valid inputs of `kind`: every way of reading gives every record and
/// list element, without an error.
fn valid(kind: Kind) {
    let mut records = 0;
    for i in 0..VALID {
        let s = seed(kind, i);
        let g = kind.generate(&mut Choices::seeded(s));
        assert!(!g.mutated);
        let what = format!("{} seed {s:#x}", kind.name());
        exercise::exercise_valid(
            &g.out.bytes,
            g.expect.records,
            g.expect.list_elements,
            &what,
        );
        records += g.expect.records;
    }
    // The generator makes records (a test of nothing otherwise).
    assert!(records >= VALID, "{}: {records} records", kind.name());
}

#[test]
fn valid_ipfix_with_lists_decodes_exactly() {
    limit_memory();
    valid(Kind::Ipfix);
}

#[test]
fn valid_netflow_decodes_exactly() {
    limit_memory();
    valid(Kind::Netflow);
}

#[test]
fn valid_pcap_decodes_exactly() {
    limit_memory();
    valid(Kind::Pcap);
}

#[test]
fn valid_pcapng_decodes_exactly() {
    limit_memory();
    valid(Kind::Pcapng);
}

#[test]
fn valid_compressed_decodes_exactly() {
    limit_memory();
    valid(Kind::Compressed);
}

/// Every packet's timestamp of `data` (decompressed if need be), read as a
/// stream and in place.
fn timestamps(data: &[u8]) -> [Vec<i64>; 2] {
    let r = decompressing(Box::new(Cursor::new(data.to_vec()))).unwrap();
    let mut stream = CaptureReader::new(r).unwrap();
    let mut a = Vec::new();
    while let Some(p) = stream.next_packet().unwrap() {
        a.push(p.ts_ns);
    }
    let mut b = Vec::new();
    if !data.starts_with(&[0x1f, 0x8b]) && !data.starts_with(&[0x28, 0xb5]) {
        let mut whole =
            CaptureReader::from_whole(Box::new(data.to_vec()), std::io::empty()).unwrap();
        while let Some(p) = whole.next_packet().unwrap() {
            b.push(p.ts_ns);
        }
    } else {
        b.clone_from(&a);
    }
    [a, b]
}

#[test]
fn capture_timestamps_come_back_as_generated() {
    limit_memory();
    let mut checked = 0;
    for kind in [Kind::Pcap, Kind::Pcapng, Kind::Compressed] {
        for i in 0..VALID {
            let s = seed(kind, i);
            let g = kind.generate(&mut Choices::seeded(s));
            if g.expect.timestamps.is_empty() || g.mutated {
                continue; // a compressed IPFIX or NetFlow stream
            }
            for got in timestamps(&g.out.bytes) {
                assert_eq!(got, g.expect.timestamps, "{} seed {s:#x}", kind.name());
            }
            checked += g.expect.timestamps.len();
        }
    }
    assert!(checked > 500, "{checked}");
}

/// Mutated inputs of `kind`: no panic, hang or unbounded work (asserted
/// by the shared path); the error policy never gives more records than
/// skip, and a stream and the same bytes in place give the same records.
fn mutated(kind: Kind) {
    // FERROFIX_HOSTILE_SEEDS=n runs n seeds per kind instead (a longer hunt).
    let n = std::env::var("FERROFIX_HOSTILE_SEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(MUTATED);
    let mut changed = 0;
    for i in 0..n {
        let s = seed(kind, i) | 1 << 40;
        let g = generate_mutated(kind, &mut Choices::seeded(s));
        let [err, skip, place] = exercise::exercise(&g.out.bytes);
        assert!(err.records <= skip.records, "{} seed {s:#x}", kind.name());
        assert_eq!(skip.records, place.records, "{} seed {s:#x}", kind.name());
        changed += u64::from(g.mutated && err.errors + skip.errors > 0);
    }
    // Most mutations are seen by the reader (a test of the mutator).
    assert!(changed > n / 4, "{}: {changed}", kind.name());
}

#[test]
fn mutated_ipfix_with_lists_is_survived() {
    limit_memory();
    mutated(Kind::Ipfix);
}

#[test]
fn mutated_netflow_is_survived() {
    limit_memory();
    mutated(Kind::Netflow);
}

#[test]
fn mutated_pcap_is_survived() {
    limit_memory();
    mutated(Kind::Pcap);
}

#[test]
fn mutated_pcapng_is_survived() {
    limit_memory();
    mutated(Kind::Pcapng);
}

#[test]
fn mutated_compressed_is_survived() {
    limit_memory();
    mutated(Kind::Compressed);
}

/// The committed crash inputs of every fuzz target, by target.
fn regressions() -> Vec<(String, String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/fuzz-regressions");
    let mut v = Vec::new();
    for target in std::fs::read_dir(&dir).unwrap().flatten() {
        for f in std::fs::read_dir(target.path()).unwrap().flatten() {
            v.push((
                target.file_name().to_string_lossy().into_owned(),
                f.file_name().to_string_lossy().into_owned(),
                std::fs::read(f.path()).unwrap(),
            ));
        }
    }
    v.sort();
    v
}

/// A fuzz input as its target reads it: `decode_message` takes the bytes
/// as they are, a generator target takes them as choices.
fn replay(target: &str, data: &[u8]) {
    if target == "decode_message" {
        exercise::exercise(data);
        return;
    }
    let kind = Kind::ALL
        .into_iter()
        .find(|k| k.name() == target)
        .unwrap_or_else(|| panic!("no fuzz target {target}"));
    let g = generate_mutated(kind, &mut Choices::new(data));
    exercise::exercise(&g.out.bytes);
}

#[test]
fn fuzz_regressions_replay() {
    limit_memory();
    let all = regressions();
    assert!(!all.is_empty());
    for (target, name, data) in &all {
        eprintln!("{target}/{name}");
        replay(target, data);
    }
}

/// A pcapng if_tsoffset of i64::MAX seconds used to overflow the
/// timestamp arithmetic (a panic with overflow checks on): it is an error
/// at the packet's timestamp (the enhanced packet block at 64, its
/// timestamp 12 bytes in), after which the capture is over.
#[test]
fn a_huge_pcapng_tsoffset_is_an_error_at_the_packet() {
    limit_memory();
    let data = std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/fuzz-regressions/decode_message/pcapng-if_tsoffset-overflow.pcapng"),
    )
    .unwrap();
    let mut r = CaptureReader::new(Cursor::new(data)).unwrap();
    let e = r.next_packet().unwrap_err();
    assert_eq!(e.offset, Some(76), "{e}");
    assert!(e.to_string().contains("if_tsoffset"), "{e}");
    assert!(r.next_packet().unwrap().is_none());
}
