//! Fuzz target: any byte string as a message stream (IPFIX, NetFlow v9/v5,
//! or a pcap/pcapng capture of flow export, recognised by content; gzip and
//! zstd undone), read both as a stream and in place, decoded under every
//! policy with every field value visited and RFC 6313 lists decoded
//! (`tests/support/exercise.rs`, shared with the cargo tests). It must
//! never panic, hang or allocate without bound. `make fuzz` seeds it with
//! the IPFIX, NetFlow and capture fixtures.
#![no_main]

#[path = "../../tests/support/exercise.rs"]
mod exercise;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    exercise::exercise(data);
});
