//! Per-packet series of selected TCP connections ([`crate::tcp::series`])
//! as numpy arrays: each column's `Vec` becomes the array's buffer (no
//! copy, rust-numpy's `from_vec`).

use std::collections::HashSet;

use numpy::PyArray1;
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use super::errors;
use super::meter::PyMeter;
use crate::tcp::series::Columns;

/// Batches metered between looks for Ctrl-C.
const SIGNAL_EVERY: usize = 16;

fn columns_dict(py: Python<'_>, c: Columns) -> PyResult<Bound<'_, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("time_ns", PyArray1::from_vec(py, c.time_ns))?;
    d.set_item("seq", PyArray1::from_vec(py, c.seq))?;
    d.set_item("len", PyArray1::from_vec(py, c.len))?;
    d.set_item("ack", PyArray1::from_vec(py, c.ack))?;
    d.set_item("window", PyArray1::from_vec(py, c.window))?;
    d.set_item("flags", PyArray1::from_vec(py, c.flags))?;
    d.set_item("ecn", PyArray1::from_vec(py, c.ecn))?;
    d.set_item("rtt_ns", PyArray1::from_vec(py, c.rtt_ns))?;
    d.set_item("rtt_method", PyArray1::from_vec(py, c.rtt_method))?;
    d.set_item("events", PyArray1::from_vec(py, c.events))?;
    Ok(d)
}

/// Meter every packet of `meter`'s captures (its flows are not kept),
/// keeping the per-packet series of the TCP connections `flow_ids`, at
/// most `max_packets` a direction: {flowId: (forward columns, reverse
/// columns, packets not kept)}, forward being the initiator's direction.
#[pyfunction]
#[pyo3(signature = (meter, flow_ids, max_packets))]
#[allow(clippy::needless_pass_by_value)] // pyo3 extracts owned arguments
pub fn meter_tcp_series<'py>(
    py: Python<'py>,
    meter: PyRef<'py, PyMeter>,
    flow_ids: Vec<u64>,
    max_packets: usize,
) -> PyResult<Bound<'py, PyDict>> {
    let mut batches = meter.take(py)?;
    if batches.started() {
        return Err(PyRuntimeError::new_err(
            "tcp_series needs a meter whose batches were not read",
        ));
    }
    let ids: HashSet<u64> = flow_ids.into_iter().collect();
    batches
        .meter_mut()
        .keep_series(ids, max_packets)
        .map_err(|e| errors::to_py(py, &e))?;
    let mut series = Vec::new();
    let mut n = 0usize;
    let result = py.detach(|| -> crate::Result<()> {
        while batches.next_batch()?.is_some() {
            series.extend(batches.meter_mut().take_series());
            n = n.wrapping_add(1);
            if n % SIGNAL_EVERY == 0 {
                #[allow(clippy::redundant_closure_for_method_calls)] // the lifetime needs it
                Python::attach(|py| py.check_signals())
                    .map_err(|e| crate::Error::new(crate::ErrorKind::Internal(e.to_string())))?;
            }
        }
        series.extend(batches.meter_mut().take_series());
        Ok(())
    });
    meter.keep_stats(&batches);
    result.map_err(|e| errors::to_py(py, &e))?;
    let out = PyDict::new(py);
    for (flow_id, initiator, s) in series {
        let [a, b] = s.dir;
        let (fwd, rev) = if initiator & 1 == 0 { (a, b) } else { (b, a) };
        let entry = (columns_dict(py, fwd)?, columns_dict(py, rev)?, s.dropped);
        out.set_item(flow_id, entry)?;
    }
    Ok(out)
}
