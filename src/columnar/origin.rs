//! The exporter columns of a capture's records: `exporterIPv4Address` or
//! `exporterIPv6Address` (IANA IEs 130/131, the other null) and
//! `exporterTransportPort` (217), from the UDP datagram that carried each
//! record, so the records of many exporters stay apart in one table.

use std::net::IpAddr;
use std::sync::Arc;

use arrow_array::ArrayRef;
use arrow_schema::Field;

use super::column::Column;
use super::types::{field_for, AddressForm, ColumnKind};
use crate::decode::{Origin, Value};
use crate::model::IeDef;

/// IANA ids of the exporter columns.
pub const EXPORTER_IES: [u16; 3] = [130, 131, 217];

/// Builders of the exporter columns.
pub struct OriginColumns {
    columns: Vec<Column>,
    /// The IANA id of each column (one of [`EXPORTER_IES`]).
    ids: Vec<u16>,
    current: Origin,
}

impl OriginColumns {
    /// The columns for `ies` (any of exporterIPv4Address,
    /// exporterIPv6Address, exporterTransportPort) and their Arrow fields.
    pub fn new(ies: &[Arc<IeDef>], addresses: AddressForm) -> (Self, Vec<Field>) {
        let kinds: Vec<ColumnKind> = ies
            .iter()
            .map(|ie| ColumnKind::for_ie(ie, addresses))
            .collect();
        let fields = ies
            .iter()
            .zip(&kinds)
            .map(|(ie, k)| field_for(ie, *k))
            .collect();
        let me = OriginColumns {
            columns: kinds.into_iter().map(Column::new).collect(),
            ids: ies.iter().map(|ie| ie.id).collect(),
            current: Origin::default(),
        };
        (me, fields)
    }

    /// The sender of the records that follow.
    pub fn set(&mut self, o: Origin) {
        self.current = o;
    }

    /// Append the current sender to `n` rows.
    pub fn append(&mut self, n: usize) {
        let Some(e) = self.current.exporter else {
            for c in &mut self.columns {
                c.append_nulls(n);
            }
            return;
        };
        let (v4, v6) = match e.addr {
            IpAddr::V4(a) => (Some(Value::Ipv4(a.octets())), None),
            IpAddr::V6(a) => (None, Some(Value::Ipv6(a.octets()))),
        };
        let port = Value::Unsigned(u64::from(e.port));
        for (c, &id) in self.columns.iter_mut().zip(&self.ids) {
            let v = match id {
                130 => v4.as_ref(),
                131 => v6.as_ref(),
                _ => Some(&port),
            };
            match v {
                Some(v) => c.append_n(v, n),
                None => c.append_nulls(n),
            }
        }
    }

    /// The finished arrays of the batch.
    pub fn finish(&mut self) -> Vec<ArrayRef> {
        self.columns.iter_mut().map(Column::finish).collect()
    }
}
