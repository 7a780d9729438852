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
/// Called when the extension module loads; it acts once per process.
#[cfg(feature = "mimalloc")]
pub fn tune_allocator() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        for (env, option) in [
            ("MIMALLOC_PURGE_DELAY", MI_OPTION_PURGE_DELAY),
            ("MIMALLOC_ARENA_EAGER_COMMIT", MI_OPTION_ARENA_EAGER_COMMIT),
        ] {
            if std::env::var_os(env).is_none() {
                // SAFETY: `mi_option_set` takes any option number and value
                // (it ignores numbers out of range) and stores the value
                // with a plain, unsynchronised write, so no other thread
                // may use this mimalloc meanwhile. None can: this mimalloc
                // is linked into the extension module alone (its symbols
                // are not exported, so CPython's own allocator, including
                // the mimalloc of 3.13+, is another copy), the module's
                // code runs only once its initialisation has returned
                // (CPython's import lock lets one thread initialise it,
                // with or without the GIL, on 3.11 to 3.14), and `ONCE`
                // keeps a later initialisation (another interpreter) from
                // writing again while threads allocate.
                unsafe { libmimalloc_sys::mi_option_set(option, 0) }
            }
        }
    });
}

/// mimalloc.h's option numbers (its public `mi_option_e`, in the mimalloc
/// 3 that libmimalloc-sys builds by default), not among libmimalloc-sys's
/// constants; `allocator_options` reads them back for the tests.
#[cfg(feature = "mimalloc")]
const MI_OPTION_ARENA_EAGER_COMMIT: libmimalloc_sys::mi_option_t = 4;
#[cfg(feature = "mimalloc")]
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// The allocator's (purge delay, arena eager commit) as mimalloc holds
/// them: what `tune_allocator` set, or the environment's.
#[cfg(feature = "mimalloc")]
#[allow(clippy::useless_conversion)] // c_long is 32 bits on Windows
pub fn allocator_options() -> (i64, i64) {
    // SAFETY: `mi_option_get` reads an option by number (0 for one out of
    // range), initialising it from the environment on first use; after
    // `tune_allocator` every read sees a value written before the module
    // could be called (see there), so this read races with no write.
    let get = |o| i64::from(unsafe { libmimalloc_sys::mi_option_get(o) });
    (
        get(MI_OPTION_PURGE_DELAY),
        get(MI_OPTION_ARENA_EAGER_COMMIT),
    )
}
