//! Criterion benchmarks of the Rust core on the benchmark file
//! (`benches/make_file.py`: 1M records of one 10-IE template).
//!
//! - `decode/visit_fields`: messages -> records -> every field's value
//!   (`Record::values`, in template order), each moved into `black_box`;
//! - `decode/visit_fields_ref`: every field by index (`Record::value(i)`),
//!   `black_box` getting a reference to each value (see [`VisitRef`]);
//! - `decode/split_only`: messages -> records, no value decoded (the cost of
//!   set walking, template lookup and record splitting alone);
//! - `decode/visit_fields_stream`: as `visit_fields`, but the messages come
//!   through `source::MessageStream` (the path the Python reader takes),
//!   which copies each message into its buffer.
//! - `columnar/int` and `columnar/string`: messages -> Arrow batches of
//!   every IE of the file (`columnar::ColumnarSink`), addresses as integers
//!   or as dictionary-encoded text; the Arrow work of `scan_ipfix` without
//!   Python, each batch dropped once complete (a streaming consumer).
//!
//! The file is read into memory once; the slice benches walk its
//! messages in place. Throughput is in records (criterion elements).
//! `FERROFIX_BENCH_FILE` picks another file; the default one is generated
//! with `python3 benches/make_file.py` when missing.

use std::hint::black_box;
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use arrow_array::RecordBatch;
use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
use ferrofix::columnar::{
    discover_columns, AddressForm, ColumnarOptions, ColumnarSink, PrescanLimit, RecordKind,
};
use ferrofix::decode::{Decoder, DecoderOptions, Record, RecordSink};
use ferrofix::model::InfoModel;
use ferrofix::source::MessageStream;
use ferrofix::wire::MESSAGE_HEADER_LEN;

/// Visits every field of every record.
struct Visit(u64);

impl RecordSink for Visit {
    fn record(&mut self, rec: &Record<'_>) -> ferrofix::Result<()> {
        for v in rec.values() {
            black_box(v);
        }
        self.0 += 1;
        Ok(())
    }
}

/// Visits every field like [`Visit`], but hands `black_box` a reference to
/// each value. Moving the whole `Value` into `black_box` (as [`Visit`] does)
/// makes the compiler read it back with wide loads right after
/// `Record::value` wrote it with narrow ones, a store-forwarding stall that
/// perf shows as most of `visit_fields`' time; a consumer that matches on
/// the value does not pay it.
struct VisitRef(u64);

impl RecordSink for VisitRef {
    fn record(&mut self, rec: &Record<'_>) -> ferrofix::Result<()> {
        for i in 0..rec.len() {
            black_box(&rec.value(i));
        }
        self.0 += 1;
        Ok(())
    }
}

/// Counts records without decoding a value.
struct Split(u64);

impl RecordSink for Split {
    fn record(&mut self, rec: &Record<'_>) -> ferrofix::Result<()> {
        black_box(rec.data);
        self.0 += 1;
        Ok(())
    }
}

/// (offset, index, bytes) of each message of an in-memory RFC 5655 file:
/// framing by the header's length field (RFC 7011 §3.1), which the
/// decoder checks again.
fn messages(file: &[u8]) -> impl Iterator<Item = (u64, u64, &[u8])> {
    let mut at = 0usize;
    let mut index = 0u64;
    std::iter::from_fn(move || {
        let len = file
            .get(at + 2..at + 4)
            .and_then(|b| <[u8; 2]>::try_from(b).ok())
            .map(|b| usize::from(u16::from_be_bytes(b)))?;
        if len < MESSAGE_HEADER_LEN {
            return None;
        }
        let msg = file.get(at..at + len)?;
        let item = (at as u64, index, msg);
        at += len;
        index += 1;
        Some(item)
    })
}

fn decode_slice<S: RecordSink>(file: &[u8], sink: &mut S) -> ferrofix::Result<()> {
    let mut dec = Decoder::new(InfoModel::iana(), &DecoderOptions::default());
    for (offset, index, msg) in messages(file) {
        dec.decode_message(msg, offset, index, sink)?;
    }
    Ok(())
}

fn decode_stream<S: RecordSink>(file: &'static [u8], sink: &mut S) -> ferrofix::Result<()> {
    let mut stream = MessageStream::new(Box::new(Cursor::new(file)));
    let mut dec = Decoder::new(InfoModel::iana(), &DecoderOptions::default());
    while let Some(m) = stream.next_message()? {
        dec.decode(&m, sink)?;
    }
    Ok(())
}

/// The benchmark file, generated when it is the default one and missing.
fn bench_file() -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    if let Some(p) = std::env::var_os("FERROFIX_BENCH_FILE") {
        let p = root.join(p);
        if p.is_file() {
            return Some(p);
        }
        eprintln!(
            "skipping decode benches: FERROFIX_BENCH_FILE={} not found",
            p.display()
        );
        return None;
    }
    let p = root.join("bench-data/flows-1m.ipfix");
    if !p.is_file() {
        eprintln!("generating {} with benches/make_file.py", p.display());
        let ok = Command::new("python3")
            .arg(root.join("benches/make_file.py"))
            .status()
            .is_ok_and(|s| s.success());
        if !ok || !p.is_file() {
            eprintln!("skipping decode benches: could not run `python3 benches/make_file.py`");
            return None;
        }
    }
    Some(p)
}

fn bench_decode(c: &mut Criterion) {
    let Some(path) = bench_file() else {
        return;
    };
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("skipping decode benches: {}: {e}", path.display());
            return;
        }
    };
    // Leaked once so that the stream bench can borrow it as a 'static reader.
    let file: &'static [u8] = Box::leak(bytes.into_boxed_slice());

    let mut count = Visit(0);
    if let Err(e) = decode_slice(file, &mut count) {
        eprintln!("skipping decode benches: {}: {e}", path.display());
        return;
    }
    let records = count.0;
    // Read by benches/run.py to check that every tool saw the same records.
    println!(
        "ferrofix-bench: file={} bytes={} records={records}",
        path.display(),
        file.len()
    );

    let mut g = c.benchmark_group("decode");
    g.throughput(Throughput::Elements(records));
    g.sampling_mode(SamplingMode::Flat);
    g.sample_size(10);
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(6));

    g.bench_function("visit_fields", |b| {
        b.iter(|| {
            let mut sink = Visit(0);
            decode_slice(file, &mut sink).expect("the file decoded in the check pass");
            assert_eq!(sink.0, records);
        });
    });
    g.bench_function("visit_fields_ref", |b| {
        b.iter(|| {
            let mut sink = VisitRef(0);
            decode_slice(file, &mut sink).expect("the file decoded in the check pass");
            assert_eq!(sink.0, records);
        });
    });
    g.bench_function("split_only", |b| {
        b.iter(|| {
            let mut sink = Split(0);
            decode_slice(file, &mut sink).expect("the file decoded in the check pass");
            assert_eq!(sink.0, records);
        });
    });
    g.bench_function("visit_fields_stream", |b| {
        b.iter(|| {
            let mut sink = Visit(0);
            decode_stream(file, &mut sink).expect("the file decoded in the check pass");
            assert_eq!(sink.0, records);
        });
    });
    g.finish();

    let model = InfoModel::iana();
    let columns = discover_columns(
        &mut MessageStream::new(Box::new(Cursor::new(file))),
        &model,
        RecordKind::Data,
        PrescanLimit::default(),
    )
    .columns;
    let mut g = c.benchmark_group("columnar");
    g.throughput(Throughput::Elements(records));
    g.sampling_mode(SamplingMode::Flat);
    g.sample_size(10);
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(6));
    for (name, addresses) in [("int", AddressForm::Integer), ("string", AddressForm::Text)] {
        g.bench_function(name, |b| {
            b.iter(|| {
                let opts = ColumnarOptions {
                    addresses,
                    ..ColumnarOptions::default()
                };
                let mut sink = ColumnarSink::new(&columns, opts);
                let mut dec = Decoder::new(InfoModel::iana(), &DecoderOptions::default());
                // Batches are taken as they complete and dropped, as a
                // streaming consumer of `scan_ipfix` does.
                let mut rows = 0;
                for (offset, index, msg) in messages(file) {
                    dec.decode_message(msg, offset, index, &mut sink)
                        .expect("the file decoded in the check pass");
                    rows += sink
                        .take_batches()
                        .iter()
                        .map(RecordBatch::num_rows)
                        .sum::<usize>();
                }
                sink.flush().expect("a batch");
                rows += sink
                    .take_batches()
                    .iter()
                    .map(RecordBatch::num_rows)
                    .sum::<usize>();
                assert_eq!(rows as u64, records);
            });
        });
    }
    g.finish();
}

criterion_group!(benches, bench_decode);
criterion_main!(benches);
