//! The decoding path every hostile input goes through, shared by the cargo
//! tests (`tests/hostile_generated.rs`) and the fuzz targets (included by
//! path): the input read as a stream (`MessageStream::new` over a reader,
//! gzip/zstd undone as `MessageStream::open` does) under the error and the
//! skip policy, and in place (`MessageStream::from_shared`) under skip;
//! every value visited, RFC 6313 lists decoded at every depth.
//!
//! It panics only on what is a bug whatever the input: a stream that keeps
//! giving errors without ending (a hang), or more values than the bytes
//! read can hold (unbounded work).

// Each includer uses part of it (the fuzz targets read no counts).
#![allow(dead_code)]

use std::sync::Arc;

use ferrofix::decode::{
    decode_list, Decoder, DecoderOptions, List, ListContext, Policy, Record, RecordSink, Value,
};
use ferrofix::model::InfoModel;
use ferrofix::source::{decompressing, MessageStream};

/// What one decoding of an input found.
#[derive(Debug, Default, Clone)]
pub struct Seen {
    /// Data records delivered to the sink.
    pub records: u64,
    /// Their top-level values.
    pub values: u64,
    /// RFC 6313 list elements, at every depth.
    pub list_elements: u64,
    /// Lists that did not decode.
    pub bad_lists: u64,
    /// Errors the stream or the decoder gave (the first is kept).
    pub errors: u64,
    pub first_error: Option<String>,
}

struct Visit(Seen);

impl Visit {
    fn value(&mut self, v: &Value<'_>, ctx: &ListContext<'_>, depth: u32) {
        let Value::List(kind, b) = v else {
            std::hint::black_box(v);
            return;
        };
        match decode_list(*kind, b, ctx, depth) {
            Ok(List::Basic { values, .. }) => {
                self.0.list_elements += values.len() as u64;
                for v in &values {
                    self.value(v, ctx, depth + 1);
                }
            }
            Ok(List::SubTemplate { records, .. }) => self.records(&records, ctx, depth),
            Ok(List::SubTemplateMulti { entries, .. }) => {
                for (_, records) in &entries {
                    self.records(records, ctx, depth);
                }
            }
            Err(_) => self.0.bad_lists += 1,
        }
    }

    fn records(&mut self, records: &[Vec<Value<'_>>], ctx: &ListContext<'_>, depth: u32) {
        self.0.list_elements += records.len() as u64;
        for r in records {
            for v in r {
                self.value(v, ctx, depth + 1);
            }
        }
    }
}

impl RecordSink for Visit {
    fn record(&mut self, rec: &Record<'_>) -> ferrofix::Result<()> {
        self.0.records += 1;
        for v in rec.values() {
            self.0.values += 1;
            self.value(&v, &rec.lists, 0);
        }
        Ok(())
    }
}

/// Decode every message of `stream`, stepping over errors that leave it
/// going (under skip); `input_len` bounds the work.
fn run(mut stream: MessageStream, policy: Policy, input_len: usize) -> Seen {
    let opts = DecoderOptions {
        policy,
        ..DecoderOptions::default()
    };
    let mut dec = Decoder::new(InfoModel::iana(), &opts);
    let mut sink = Visit(Seen::default());
    let fail = |seen: &mut Seen, e: &ferrofix::Error| {
        seen.errors += 1;
        if seen.first_error.is_none() {
            seen.first_error = Some(e.to_string());
        }
    };
    loop {
        match stream.next_message() {
            Ok(Some(m)) => {
                if let Err(e) = dec.decode(&m, &mut sink) {
                    fail(&mut sink.0, &e);
                    if policy == Policy::Error {
                        break;
                    }
                }
            }
            Ok(None) => break,
            Err(e) => {
                fail(&mut sink.0, &e);
                if stream.is_done() || policy == Policy::Error {
                    break;
                }
            }
        }
        // Every error consumes input: more errors than bytes is a hang.
        let read = (stream.offset() as usize).max(input_len);
        assert!(
            sink.0.errors <= 2 * read as u64 + 16,
            "{} errors from {read} bytes: the stream does not end",
            sink.0.errors
        );
    }
    std::hint::black_box(stream.capture_stats());
    // Templates have at most 4 * min_record_len + 64 fields, so values per
    // byte read are bounded (a translated NetFlow v5 record: 18 of 48).
    let read = (stream.offset() as usize).max(input_len) as u64;
    assert!(
        sink.0.values <= (read + 1) * 68,
        "{} values from {read} bytes",
        sink.0.values
    );
    sink.0
}

/// `data` read as a stream, decompressed if it is gzip or zstd.
pub fn as_stream(data: &[u8], policy: Policy) -> Seen {
    let stream = match decompressing(Box::new(std::io::Cursor::new(data.to_vec()))) {
        Ok(r) => MessageStream::new(r),
        Err(e) => {
            return Seen {
                errors: 1,
                first_error: Some(e.to_string()),
                ..Seen::default()
            }
        }
    };
    run(stream, policy, data.len())
}

/// `data` read in place (decompressed on the fly if it is compressed).
pub fn in_place(data: &[u8], policy: Policy) -> Seen {
    match MessageStream::from_shared(Arc::from(data)) {
        Ok(s) => run(s, policy, data.len()),
        Err(e) => Seen {
            errors: 1,
            first_error: Some(e.to_string()),
            ..Seen::default()
        },
    }
}

/// Every way of reading `data`: as a stream under error and skip, in
/// place under skip.
pub fn exercise(data: &[u8]) -> [Seen; 3] {
    [
        as_stream(data, Policy::Error),
        as_stream(data, Policy::Skip),
        in_place(data, Policy::Skip),
    ]
}

/// [`exercise`] for an input known to hold `records` records and
/// `list_elements` RFC 6313 list elements (a generator's valid output):
/// every reading must find exactly those, without an error.
pub fn exercise_valid(data: &[u8], records: u64, list_elements: u64, what: &str) {
    for (how, seen) in ["stream, error", "stream, skip", "in place, skip"]
        .iter()
        .zip(exercise(data))
    {
        let got = (
            seen.records,
            seen.list_elements,
            seen.errors,
            seen.bad_lists,
        );
        assert_eq!(
            got,
            (records, list_elements, 0, 0),
            "{what} ({how}): (records, list elements, errors, bad lists); {:?}",
            seen.first_error
        );
    }
}
