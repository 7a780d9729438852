//! Decoding IPFIX messages (RFC 7011 §3, §8) into calls on a [`RecordSink`],
//! with the bad-input policy and transport-health counters.

mod health;
pub mod lists;
mod message;
pub mod pending;
pub mod record;
pub mod value;

pub use health::{Health, MAX_KEPT_PROBLEMS};
pub use lists::{decode_list, List, ListContext};
pub use message::{Decoder, DecoderOptions, Policy, RecordSink};
pub use record::{split_record, Origin, Record, Span};
pub use value::{
    be_int, be_uint, civil_from_days, decode_value, DateTime, Invalid, ListKind, TimePrecision,
    Value, NTP_UNIX_OFFSET,
};
