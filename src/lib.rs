//! ferrofix: IPFIX (RFC 7011) decoding at native speed, for Rust and (with
//! the `python` feature) for Python.
//!
//! Layers, bottom up: [`wire`] (checked views of messages, sets, templates),
//! [`model`] (the information model: IANA table, RFC 5103 reverse IEs,
//! enterprise IEs from IESpecs), [`session`] (template state and sequence
//! accounting per RFC 7011 §8), [`decode`] (messages to records for a
//! [`decode::RecordSink`], RFC 6313 lists, transport health) and [`source`]
//! (message streams from files and readers, gzip/zstd); [`tcpseq`] is the
//! TCP sequence arithmetic that following a TCP stream needs.

pub mod columnar;
#[cfg_attr(not(test), warn(clippy::arithmetic_side_effects))]
pub mod decode;
#[cfg_attr(not(test), warn(clippy::arithmetic_side_effects))]
pub mod encode;
pub mod error;
#[cfg_attr(not(test), warn(clippy::arithmetic_side_effects))]
pub mod meter;
pub mod model;
#[cfg_attr(not(test), warn(clippy::arithmetic_side_effects))]
pub mod netflow;
#[cfg_attr(not(test), warn(clippy::arithmetic_side_effects))]
pub mod packet;
#[cfg_attr(not(test), warn(clippy::arithmetic_side_effects))]
pub mod pcap;
pub mod session;
#[cfg_attr(not(test), warn(clippy::arithmetic_side_effects))]
pub mod source;
#[cfg_attr(not(test), warn(clippy::arithmetic_side_effects))]
pub mod tcp;
pub mod tcpseq;
pub mod testhook;
pub mod wire;

#[cfg(feature = "python")]
mod python;

pub use error::{catch_panic, Error, ErrorKind, Result};

/// mimalloc serves every allocation of the extension module (and of
/// whatever links the `mimalloc` feature): per-connection state is made
/// and dropped at a high rate, where glibc's allocator cost ~8% of the
/// meter's time (BENCHMARKS.md, "Records from a compiled plan").
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc hands freed memory back to the system at once rather than a
/// second later (its `purge_delay` option, 1000 ms by default), unless the
/// user set `MIMALLOC_PURGE_DELAY`: the meter's peak memory then follows
/// the flows it holds (a table grown by doubling leaves its old buffer
/// behind; with the delay, 1M flows without the TCP analysis peaked at 536
/// MB instead of 338 MB). Called when the extension module loads.
#[cfg(feature = "mimalloc")]
pub fn tune_allocator() {
    // mimalloc.h's `mi_option_purge_delay` (its public option list; the
    // same number in mimalloc 2 and 3), not among libmimalloc-sys's
    // constants.
    const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: sets one of mimalloc's documented options to a valid
        // value; mimalloc reads its options with atomics.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0) }
    }
}
