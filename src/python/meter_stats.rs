//! A meter's statistics for Python: as a dict ([`stats_dict`]), and kept
//! up to date while an Arrow consumer reads the meter ([`Counted`]).

use std::sync::{Arc, Mutex};

use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::meter::batches::MeterBatches;
use crate::meter::MeterStats;

/// A meter's batches read by an Arrow consumer (pyarrow, polars, DuckDB),
/// keeping the meter's counters for `stats` after each batch and at the
/// end (the consumer holds the meter itself).
pub(super) struct Counted {
    pub(super) batches: MeterBatches,
    pub(super) stats: Arc<Mutex<Option<(MeterStats, u64)>>>,
}

impl Iterator for Counted {
    type Item = std::result::Result<arrow_array::RecordBatch, arrow_schema::ArrowError>;

    fn next(&mut self) -> Option<Self::Item> {
        let b = self.batches.next();
        if let Ok(mut s) = self.stats.lock() {
            *s = Some((self.batches.meter().stats(), self.batches.bytes_read()));
        }
        b
    }
}

impl arrow_array::RecordBatchReader for Counted {
    fn schema(&self) -> arrow_schema::SchemaRef {
        arrow_array::RecordBatchReader::schema(&self.batches)
    }
}

impl super::stream::BatchSource for Counted {
    fn offset(&self) -> u64 {
        self.batches.bytes_read()
    }
}

/// The counters as a dict.
pub(super) fn stats_dict<'py>(
    py: Python<'py>,
    s: &MeterStats,
    bytes: u64,
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    let x = &s.dissect;
    d.set_item("bytes_read", bytes)?;
    d.set_item("packets", x.packets)?;
    d.set_item("metered", s.metered)?;
    let not_ip = PyDict::new(py);
    for (name, n) in s.not_ip() {
        not_ip.set_item(name, n)?;
    }
    d.set_item("not_ip", not_ip)?;
    d.set_item("malformed_ip_octets", x.ignored.octets)?;
    d.set_item("malformed_ip_first_ns", x.ignored.span.map(|s| s.0))?;
    d.set_item("malformed_ip_last_ns", x.ignored.span.map(|s| s.1))?;
    let lt = PyDict::new(py);
    for (k, n) in &x.by_linktype {
        lt.set_item(*k, *n)?;
    }
    d.set_item("by_linktype", lt)?;
    d.set_item("fragments", x.fragments)?;
    d.set_item("fragments_held", x.index.held)?;
    d.set_item("fragments_without_first", x.index.orphaned)?;
    d.set_item("length_from_frame", x.length_from_frame)?;
    d.set_item("transport_header_cut", x.transport_cut)?;
    d.set_item("decapsulated", x.decapsulated)?;
    d.set_item("flows", s.table.flows)?;
    d.set_item("records", s.records)?;
    d.set_item("peak_flows", s.table.peak_flows)?;
    d.set_item("out_of_order", s.table.out_of_order)?;
    let r = PyDict::new(py);
    for (i, name) in [
        "idle",
        "active",
        "end_of_flow",
        "forced",
        "lack_of_resources",
    ]
    .iter()
    .enumerate()
    {
        r.set_item(
            *name,
            s.table
                .by_reason
                .get(i.saturating_add(1))
                .copied()
                .unwrap_or(0),
        )?;
    }
    d.set_item("end_reasons", r)?;
    d.set_item("failed_captures", s.failed_captures)?;
    Ok(d)
}
