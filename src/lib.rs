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
