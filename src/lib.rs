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

/// mimalloc's options for a process whose memory should follow what it
/// holds: freed memory goes back to the system at once rather than a second
/// later (`purge_delay`, 1000 ms by default), and arenas are committed as
/// they are used rather than whole (`arena_eager_commit`). With mimalloc's
/// defaults, metering 1M flows without the TCP analysis peaked at 536 MB
/// instead of 338 MB (a table grown by doubling leaves its old buffer
/// behind), and `ff.Meter`'s Arrow batches at 359 MB instead of 229 MB
/// (BENCHMARKS.md). An option the user set in the environment
/// (`MIMALLOC_PURGE_DELAY`, `MIMALLOC_ARENA_EAGER_COMMIT`) is left as set.
/// Called when the extension module loads, before it allocates.
#[cfg(feature = "mimalloc")]
pub fn tune_allocator() {
    // mimalloc.h's option numbers (its public `mi_option_e`, in the
    // mimalloc 3 that libmimalloc-sys builds by default), not among
    // libmimalloc-sys's constants.
    const ARENA_EAGER_COMMIT: libmimalloc_sys::mi_option_t = 4;
    const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
    for (env, option) in [
        ("MIMALLOC_PURGE_DELAY", PURGE_DELAY),
        ("MIMALLOC_ARENA_EAGER_COMMIT", ARENA_EAGER_COMMIT),
    ] {
        if std::env::var_os(env).is_none() {
            // SAFETY: sets one of mimalloc's documented options to a valid
            // value (0: off, or no delay); mimalloc reads its options
            // with atomics.
            unsafe { libmimalloc_sys::mi_option_set(option, 0) }
        }
    }
}
