//! Exporting (DESIGN: encode/): field values to wire bytes
//! ([`encode_value`], RFC 7011 §6-7) and IPFIX messages from templates and
//! records ([`Exporter`], RFC 7011 §3 and §8), from Arrow batches
//! ([`TableWriter`]). Every encoding has its decoding round trip in the
//! tests.

mod arrowtypes;
pub(crate) use arrowtypes::time_of;
mod columns;
mod exporter;
mod fields;
mod lists;
mod net;
mod table;
pub(crate) mod value;

pub use columns::{column_field, ColumnEncoder};
pub use exporter::{template_record, ExportOptions, ExportStats, Exporter, NotSent, RecordsMark};
pub use fields::resolve_field;
pub use lists::{put_basic_list_field, put_list, ListEncoder, SubTemplates};
pub use net::{NetOut, UDP_MTU, UDP_TEMPLATE_REFRESH, UDP_TEMPLATE_REFRESH_SECS};
pub use table::{NullPolicy, TableWriter, MAX_PATTERNS};
pub use value::{encode_value, put_varlen_len, Refusal};
