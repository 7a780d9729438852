//! Abstract data types and semantics of Information Elements (RFC 7012 §3,
//! RFC 6313 §4 for the list types, RFC 9740 for unsigned256).

/// The abstract data type of an Information Element (RFC 7012 §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DataType {
    OctetArray,
    Unsigned8,
    Unsigned16,
    Unsigned32,
    Unsigned64,
    Signed8,
    Signed16,
    Signed32,
    Signed64,
    Float32,
    Float64,
    Boolean,
    MacAddress,
    String,
    DateTimeSeconds,
    DateTimeMilliseconds,
    DateTimeMicroseconds,
    DateTimeNanoseconds,
    Ipv4Address,
    Ipv6Address,
    BasicList,
    SubTemplateList,
    SubTemplateMultiList,
    Unsigned256,
}

/// Every data type, in registry order (used by the IESpec parser and tests).
pub const ALL_DATA_TYPES: [DataType; 24] = [
    DataType::OctetArray,
    DataType::Unsigned8,
    DataType::Unsigned16,
    DataType::Unsigned32,
    DataType::Unsigned64,
    DataType::Signed8,
    DataType::Signed16,
    DataType::Signed32,
    DataType::Signed64,
    DataType::Float32,
    DataType::Float64,
    DataType::Boolean,
    DataType::MacAddress,
    DataType::String,
    DataType::DateTimeSeconds,
    DataType::DateTimeMilliseconds,
    DataType::DateTimeMicroseconds,
    DataType::DateTimeNanoseconds,
    DataType::Ipv4Address,
    DataType::Ipv6Address,
    DataType::BasicList,
    DataType::SubTemplateList,
    DataType::SubTemplateMultiList,
    DataType::Unsigned256,
];

impl DataType {
    /// The registry name (`unsigned64`, `dateTimeMilliseconds`, ...).
    pub const fn name(self) -> &'static str {
        match self {
            DataType::OctetArray => "octetArray",
            DataType::Unsigned8 => "unsigned8",
            DataType::Unsigned16 => "unsigned16",
            DataType::Unsigned32 => "unsigned32",
            DataType::Unsigned64 => "unsigned64",
            DataType::Signed8 => "signed8",
            DataType::Signed16 => "signed16",
            DataType::Signed32 => "signed32",
            DataType::Signed64 => "signed64",
            DataType::Float32 => "float32",
            DataType::Float64 => "float64",
            DataType::Boolean => "boolean",
            DataType::MacAddress => "macAddress",
            DataType::String => "string",
            DataType::DateTimeSeconds => "dateTimeSeconds",
            DataType::DateTimeMilliseconds => "dateTimeMilliseconds",
            DataType::DateTimeMicroseconds => "dateTimeMicroseconds",
            DataType::DateTimeNanoseconds => "dateTimeNanoseconds",
            DataType::Ipv4Address => "ipv4Address",
            DataType::Ipv6Address => "ipv6Address",
            DataType::BasicList => "basicList",
            DataType::SubTemplateList => "subTemplateList",
            DataType::SubTemplateMultiList => "subTemplateMultiList",
            DataType::Unsigned256 => "unsigned256",
        }
    }

    /// Parse a registry name; `None` for anything else.
    pub fn from_name(name: &str) -> Option<Self> {
        ALL_DATA_TYPES.iter().copied().find(|t| t.name() == name)
    }

    /// The length of the type's full encoding, `None` for variable-length types
    /// (octetArray, string, the RFC 6313 lists).
    pub const fn native_length(self) -> Option<u16> {
        match self {
            DataType::Unsigned8 | DataType::Signed8 | DataType::Boolean => Some(1),
            DataType::Unsigned16 | DataType::Signed16 => Some(2),
            DataType::Unsigned32
            | DataType::Signed32
            | DataType::Float32
            | DataType::DateTimeSeconds
            | DataType::Ipv4Address => Some(4),
            DataType::Unsigned64
            | DataType::Signed64
            | DataType::Float64
            | DataType::DateTimeMilliseconds
            | DataType::DateTimeMicroseconds
            | DataType::DateTimeNanoseconds => Some(8),
            DataType::MacAddress => Some(6),
            DataType::Ipv6Address => Some(16),
            DataType::Unsigned256 => Some(32),
            DataType::OctetArray
            | DataType::String
            | DataType::BasicList
            | DataType::SubTemplateList
            | DataType::SubTemplateMultiList => None,
        }
    }

    /// Whether `len` is a legal field length in a template for this type:
    /// reduced-size encoding (RFC 7011 §6.2) for integers (1..=native) and
    /// float64 as 4; anything for the variable-length types.
    pub const fn accepts_length(self, len: u16) -> bool {
        match self {
            DataType::Unsigned8
            | DataType::Unsigned16
            | DataType::Unsigned32
            | DataType::Unsigned64
            | DataType::Signed8
            | DataType::Signed16
            | DataType::Signed32
            | DataType::Signed64
            | DataType::Unsigned256
            | DataType::DateTimeMilliseconds => match self.native_length() {
                Some(n) => len >= 1 && len <= n,
                None => false,
            },
            DataType::Float64 => len == 8 || len == 4,
            DataType::OctetArray
            | DataType::String
            | DataType::BasicList
            | DataType::SubTemplateList
            | DataType::SubTemplateMultiList => true,
            _ => match self.native_length() {
                Some(n) => len == n,
                None => true,
            },
        }
    }

    /// Whether the type is one of the RFC 6313 structured types.
    pub const fn is_list(self) -> bool {
        matches!(
            self,
            DataType::BasicList | DataType::SubTemplateList | DataType::SubTemplateMultiList
        )
    }
}

/// Data type semantics (RFC 7012 §3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Semantics {
    Default,
    Quantity,
    TotalCounter,
    DeltaCounter,
    Identifier,
    Flags,
    List,
    SnmpCounter,
    SnmpGauge,
}

impl Semantics {
    /// The registry name.
    pub const fn name(self) -> &'static str {
        match self {
            Semantics::Default => "default",
            Semantics::Quantity => "quantity",
            Semantics::TotalCounter => "totalCounter",
            Semantics::DeltaCounter => "deltaCounter",
            Semantics::Identifier => "identifier",
            Semantics::Flags => "flags",
            Semantics::List => "list",
            Semantics::SnmpCounter => "snmpCounter",
            Semantics::SnmpGauge => "snmpGauge",
        }
    }

    /// Parse a registry name.
    pub fn from_name(name: &str) -> Option<Self> {
        [
            Semantics::Default,
            Semantics::Quantity,
            Semantics::TotalCounter,
            Semantics::DeltaCounter,
            Semantics::Identifier,
            Semantics::Flags,
            Semantics::List,
            Semantics::SnmpCounter,
            Semantics::SnmpGauge,
        ]
        .into_iter()
        .find(|s| s.name() == name)
    }
}

/// Registry status of an IE.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    Current,
    Deprecated,
}

/// One row of the generated IANA table (`iana_table.rs`).
#[derive(Debug, Clone, Copy)]
pub struct IanaEntry {
    /// Element id (PEN 0).
    pub id: u16,
    /// IANA name, used verbatim as dict key and column name.
    pub name: &'static str,
    pub data_type: DataType,
    pub semantics: Semantics,
    /// Registry units, empty when none.
    pub units: &'static str,
    pub status: Status,
}
