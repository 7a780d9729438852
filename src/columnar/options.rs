//! How the columnar sink builds its table ([`ColumnarOptions`]: batch
//! size, row limit, record kind, address form, policy, list shapes, the
//! filter) and what it counts ([`ColumnarStats`]).

use std::collections::HashMap;

use super::nested::ListShape;
use super::types::AddressForm;
use crate::decode::Policy;

/// Which records become rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RecordKind {
    /// Records of (non-options) templates: the flows.
    #[default]
    Data,
    /// Records of options templates: what the exporter says about itself.
    Options,
    /// Both.
    All,
}

/// How the sink builds its table.
#[derive(Debug, Clone)]
pub struct ColumnarOptions {
    /// Rows per batch.
    pub batch_size: usize,
    /// Stop after this many rows.
    pub n_rows: Option<u64>,
    /// Keep only records that carry every column.
    pub require_all: bool,
    pub kind: RecordKind,
    pub addresses: AddressForm,
    pub policy: Policy,
    /// The element shapes of list columns ([`super::discover_list_shapes`]);
    /// a list column without one holds each list's raw bytes.
    pub list_shapes: HashMap<(u32, u16), ListShape>,
    /// Batches of one template each (per observation domain and template
    /// id), tagged with it.
    pub by_template: bool,
    /// For a capture or a listener, add the three exporter columns after
    /// the others when `columns` names none of them (columns asked for by
    /// name are exactly those asked for).
    pub exporter_columns: bool,
    /// `Some(n)`: the columns were learned from a pre-scan that stopped
    /// after about `n` records ([`super::Discovered::complete`]): a template
    /// met later with an IE that is no column gets a warning naming it,
    /// whatever the policy.
    pub partial_columns: Option<u64>,
    /// Records to keep, decided while decoding ([`super::RecordFilter`]);
    /// the others count as `filtered`.
    pub filter: Option<super::RecordFilter>,
}

impl Default for ColumnarOptions {
    fn default() -> Self {
        ColumnarOptions {
            batch_size: 65_536,
            n_rows: None,
            require_all: false,
            kind: RecordKind::Data,
            addresses: AddressForm::Text,
            policy: Policy::Error,
            list_shapes: HashMap::new(),
            by_template: false,
            exporter_columns: true,
            partial_columns: None,
            filter: None,
        }
    }
}

/// Counters of the sink (added to the reader's transport health).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ColumnarStats {
    pub rows: u64,
    /// Records dropped by `require_all` or the filter.
    pub filtered: u64,
    /// Values that did not fit their column, stored as null (skip/warn).
    pub malformed_values: u64,
}
