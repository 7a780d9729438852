//! Information Element types to Arrow types (RFC 7012 §3.1 abstract data
//! types; RFC 7011 §6.1 encodings): integers of the IE's own width,
//! `timestamp[s|ms|us|ns, UTC]` by the IE's precision, addresses readable
//! (dictionary-encoded strings) or as integers/binary on request. The IE's
//! identity rides along in the Arrow field metadata.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_schema::{DataType, Field, TimeUnit};

use crate::model::{DataType as IeType, IeDef};

/// How addresses are represented.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AddressForm {
    /// Dictionary-encoded strings (`"192.0.2.1"`, `"2001:db8::1"`), each
    /// distinct address formatted once per batch; a categorical in pandas.
    #[default]
    Text,
    /// IPv4 as `uint32`, IPv6 as `fixed_size_binary(16)`.
    Integer,
}

/// What a column stores, decided by the IE's type once per schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    UInt8,
    UInt16,
    UInt32,
    UInt64,
    Int8,
    Int16,
    Int32,
    Int64,
    Float32,
    Float64,
    Boolean,
    /// UTF-8 text (strings; MAC addresses as `aa:bb:cc:dd:ee:ff`).
    Utf8,
    Mac,
    Binary,
    /// unsigned256 as 32 big-endian bytes.
    Unsigned256,
    Timestamp(TimeUnit),
    Ipv4(AddressForm),
    Ipv6(AddressForm),
}

impl ColumnKind {
    /// The column kind for an IE.
    pub fn for_ie(ie: &IeDef, addresses: AddressForm) -> ColumnKind {
        match ie.data_type {
            IeType::Unsigned8 => ColumnKind::UInt8,
            IeType::Unsigned16 => ColumnKind::UInt16,
            IeType::Unsigned32 => ColumnKind::UInt32,
            IeType::Unsigned64 => ColumnKind::UInt64,
            IeType::Signed8 => ColumnKind::Int8,
            IeType::Signed16 => ColumnKind::Int16,
            IeType::Signed32 => ColumnKind::Int32,
            IeType::Signed64 => ColumnKind::Int64,
            IeType::Float32 => ColumnKind::Float32,
            IeType::Float64 => ColumnKind::Float64,
            IeType::Boolean => ColumnKind::Boolean,
            IeType::String => ColumnKind::Utf8,
            IeType::MacAddress => ColumnKind::Mac,
            IeType::Unsigned256 => ColumnKind::Unsigned256,
            IeType::DateTimeSeconds => ColumnKind::Timestamp(TimeUnit::Second),
            IeType::DateTimeMilliseconds => ColumnKind::Timestamp(TimeUnit::Millisecond),
            IeType::DateTimeMicroseconds => ColumnKind::Timestamp(TimeUnit::Microsecond),
            IeType::DateTimeNanoseconds => ColumnKind::Timestamp(TimeUnit::Nanosecond),
            IeType::Ipv4Address => ColumnKind::Ipv4(addresses),
            IeType::Ipv6Address => ColumnKind::Ipv6(addresses),
            // RFC 6313 lists are carried as their encoded bytes for now.
            IeType::OctetArray
            | IeType::BasicList
            | IeType::SubTemplateList
            | IeType::SubTemplateMultiList => ColumnKind::Binary,
        }
    }

    /// The Arrow type of the column.
    pub fn arrow_type(self) -> DataType {
        let text_dict =
            || DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
        match self {
            ColumnKind::UInt8 => DataType::UInt8,
            ColumnKind::UInt16 => DataType::UInt16,
            ColumnKind::UInt32 | ColumnKind::Ipv4(AddressForm::Integer) => DataType::UInt32,
            ColumnKind::UInt64 => DataType::UInt64,
            ColumnKind::Int8 => DataType::Int8,
            ColumnKind::Int16 => DataType::Int16,
            ColumnKind::Int32 => DataType::Int32,
            ColumnKind::Int64 => DataType::Int64,
            ColumnKind::Float32 => DataType::Float32,
            ColumnKind::Float64 => DataType::Float64,
            ColumnKind::Boolean => DataType::Boolean,
            ColumnKind::Utf8 | ColumnKind::Mac => DataType::Utf8,
            ColumnKind::Binary => DataType::Binary,
            ColumnKind::Unsigned256 => DataType::FixedSizeBinary(32),
            ColumnKind::Timestamp(u) => DataType::Timestamp(u, Some(Arc::from("UTC"))),
            ColumnKind::Ipv4(AddressForm::Text) | ColumnKind::Ipv6(AddressForm::Text) => {
                text_dict()
            }
            ColumnKind::Ipv6(AddressForm::Integer) => DataType::FixedSizeBinary(16),
        }
    }
}

/// The Arrow field of an IE's column: named by the IE, nullable, with the
/// IE's identity in the metadata (`ipfix.pen`, `ipfix.id`, `ipfix.type`,
/// `ipfix.semantics`, `ipfix.units`).
pub fn field_for(ie: &IeDef, kind: ColumnKind) -> Field {
    let mut md = HashMap::new();
    md.insert("ipfix.pen".to_string(), ie.pen.to_string());
    md.insert("ipfix.id".to_string(), ie.id.to_string());
    md.insert("ipfix.type".to_string(), ie.data_type.name().to_string());
    md.insert(
        "ipfix.semantics".to_string(),
        ie.semantics.name().to_string(),
    );
    if !ie.units.is_empty() {
        md.insert("ipfix.units".to_string(), ie.units.to_string());
    }
    Field::new(ie.name.as_ref(), kind.arrow_type(), true).with_metadata(md)
}
