//! Arrow output (DESIGN: columnar/): IPFIX records decoded straight into
//! Arrow arrays, column by column, one schema across all templates of a
//! stream, in batches. A [`ColumnarSink`] is a [`crate::decode::RecordSink`];
//! a [`ColumnarReader`] drives it over a message stream and is an
//! `arrow_array::RecordBatchReader`.

mod column;
mod dict;
mod filter;
mod nested;
mod options;
mod origin;
mod plan;
mod pool;
mod prim;
mod reader;
mod sink;
mod types;

pub use filter::{Prefix, RecordFilter};
pub use nested::{discover_list_shapes, is_list, list_type, ListShape};
pub use reader::{discover_columns, ColumnarReader, Discovered, PrescanLimit};
pub use sink::{ColumnarOptions, ColumnarSink, ColumnarStats, RecordKind};
pub use types::{field_for, AddressForm, ColumnKind};
