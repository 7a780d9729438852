//! Transport health and capture counters as the dicts `ferrofix.TransportHealth`
//! is built from.

use pyo3::prelude::*;
use pyo3::types::PyDict;

/// The capture layer's counters as a dict (`TransportHealth.capture`).
pub(super) fn capture_dict<'py>(
    py: Python<'py>,
    c: &crate::source::CaptureStats,
) -> PyResult<Bound<'py, PyDict>> {
    let cd = PyDict::new(py);
    cd.set_item("packets", c.packets)?;
    cd.set_item("datagrams", c.datagrams)?;
    cd.set_item("other_packets", c.other_packets)?;
    cd.set_item("fragments", c.fragments)?;
    cd.set_item("reassembled", c.reassembled)?;
    cd.set_item("fragments_dropped", c.fragments_dropped)?;
    cd.set_item("tcp_segments", c.tcp.segments)?;
    cd.set_item("tcp_streams", c.tcp.streams)?;
    cd.set_item("tcp_gaps", c.tcp.gaps)?;
    cd.set_item("tcp_bytes_skipped", c.tcp.bytes_skipped)?;
    cd.set_item("tcp_retransmitted", c.tcp.retransmitted)?;
    Ok(cd)
}

/// Transport health as a dict (the keys of `ferrofix.TransportHealth`).
pub(super) fn health_dict<'py>(
    py: Python<'py>,
    h: &crate::decode::Health,
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("bytes", h.bytes)?;
    d.set_item("messages", h.messages)?;
    d.set_item("data_records", h.data_records)?;
    d.set_item("options_records", h.options_records)?;
    d.set_item("templates_learned", h.templates_learned)?;
    d.set_item("templates_replaced", h.templates_replaced)?;
    d.set_item("templates_refreshed", h.templates_refreshed)?;
    d.set_item("templates_withdrawn", h.templates_withdrawn)?;
    d.set_item("withdrawals_unknown", h.withdrawals_unknown)?;
    d.set_item("sets_missing_template", h.sets_missing_template)?;
    d.set_item(
        "missing_templates",
        h.missing_templates
            .iter()
            .map(|(k, v)| (*k, *v))
            .collect::<Vec<_>>(),
    )?;
    d.set_item("sets_reserved", h.sets_reserved)?;
    d.set_item("sets_held", h.sets_held)?;
    d.set_item("templates_expired", h.templates_expired)?;
    d.set_item("withdrawals_ignored", h.withdrawals_ignored)?;
    d.set_item("sets_replayed", h.sets_replayed)?;
    d.set_item("problems_skipped", h.problems_skipped)?;
    d.set_item("problems", h.problems.clone())?;
    d.set_item("malformed_values", 0u64)?;
    d.set_item("records_filtered", 0u64)?;
    let seq = PyDict::new(py);
    for (odid, s) in &h.sequence {
        seq.set_item(odid, sequence_dict(py, s)?)?;
    }
    // A capture's domains are keyed by (exporter "address:port", domain),
    // the counters of sessions from one exporter (to several collectors)
    // summed.
    let mut by_exporter: std::collections::BTreeMap<(&str, u32), crate::session::DomainSequence> =
        std::collections::BTreeMap::new();
    let mut order = Vec::new();
    for (name, domains) in h.sessions.values() {
        for (odid, s) in domains {
            match by_exporter.entry((name.as_str(), *odid)) {
                std::collections::btree_map::Entry::Vacant(v) => {
                    order.push((name.as_str(), *odid));
                    v.insert(s.clone());
                }
                std::collections::btree_map::Entry::Occupied(mut o) => o.get_mut().absorb(s),
            }
        }
    }
    for key in order {
        if let Some(s) = by_exporter.get(&key) {
            seq.set_item(key, sequence_dict(py, s)?)?;
        }
    }
    d.set_item("sequence", seq)?;
    // Sampling per (domain, selector), or per (exporter, domain, selector)
    // for a capture's sessions.
    let sampling = PyDict::new(py);
    for ((session, odid, selector), values) in &h.sampling {
        let v = PyDict::new(py);
        for (name, x) in values {
            v.set_item(name, x)?;
        }
        match h.sessions.get(session) {
            Some((name, _)) => sampling.set_item((name.as_str(), odid, selector), v)?,
            None => sampling.set_item((odid, selector), v)?,
        }
    }
    d.set_item("sampling", sampling)?;
    Ok(d)
}

/// One domain's sequence accounting as a dict.
fn sequence_dict<'py>(
    py: Python<'py>,
    s: &crate::session::DomainSequence,
) -> PyResult<Bound<'py, PyDict>> {
    let e = PyDict::new(py);
    e.set_item("messages", s.messages)?;
    e.set_item("records", s.records)?;
    e.set_item("gaps", s.gaps)?;
    e.set_item("lost_records", s.lost_records)?;
    e.set_item("lost_packets", s.lost_packets)?;
    e.set_item("out_of_order", s.out_of_order)?;
    e.set_item("unknown_counts", s.unknown_counts)?;
    e.set_item("post_incremented", s.post_incremented)?;
    Ok(e)
}
