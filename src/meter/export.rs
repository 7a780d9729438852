//! The meter as IPFIX: every template is announced once at the start (and
//! again as the exporter's refresh option says, for UDP, RFC 7011 §8.4),
//! then each record as it ends, in messages the exporter builds (RFC 7011
//! §3; at most its `mtu` octets). Messages are flushed whenever records
//! were written, so a live capture's flows reach the collector as they
//! end rather than when a message fills. With [`Selection::stats`], the
//! meter's statistics follow as options records ([`super::statsrec`])
//! after the last flow record, and after template refreshes (once after
//! each chunk of packets in which one fell).

use std::io::Write;
use std::sync::Arc;

use super::input::{Captures, Next};
use super::statsrec::StatsRecords;
use super::{Meter, ReadEnd};
use crate::columnar::RecordFilter;
use crate::decode::Policy;
use crate::encode::Exporter;
use crate::error::{Error, Result};
use crate::model::InfoModel;
use crate::session::Template;

/// Packets metered between looks for ended records.
const CHUNK: usize = 4096;
/// Flows ended at a time when the input ends.
pub const FINISH_BATCH: usize = 16_384;

/// Which records go out, and when.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Only the records this keeps (`where=`, as the Arrow path applies
    /// it); the meter's statistics still count every record.
    pub filter: Option<RecordFilter>,
    /// Write records as soon as a packet ends them (live export: a quiet
    /// link's flows reach the collector when they end), not once a chunk
    /// of packets has been metered.
    pub eager: bool,
    /// Write the meter's statistics as options records
    /// ([`super::statsrec`]): after the last flow record, and after each
    /// chunk of packets in which a template refresh fell (their templates
    /// are refreshed with the others).
    pub stats: bool,
    /// The observation domain (RFC 7011 §3.1) of every message: its
    /// templates, the flow records and the statistics (which name it in
    /// their scope). 0 by default.
    pub domain: u32,
}

/// What a metering run to IPFIX did.
#[derive(Debug, Default)]
pub struct ExportRun {
    /// Failures skipped under `Warn`.
    pub warnings: Vec<String>,
}

/// Meter `captures` (named by `labels`) into `exporter`; `progress` is
/// called with the bytes read so far after each chunk of packets. A
/// capture that fails part-way is handled as in [`super::batches`]: under
/// `Policy::Error` the flows so far are written, then the error returned.
pub fn export_ipfix<W: Write>(
    meter: &mut Meter,
    captures: &mut Captures,
    labels: &[String],
    exporter: &mut Exporter<W>,
    policy: Policy,
    sel: &Selection,
    mut progress: impl FnMut(u64) -> Result<()>,
) -> Result<ExportRun> {
    let mut run = ExportRun::default();
    for t in meter.records().templates() {
        exporter.add_template(in_domain(t, sel.domain, meter.records().model()))?;
    }
    let mut stats = sel
        .stats
        .then(|| StatsRecords::new(meter.records().model(), sel.domain))
        .transpose()?;
    for t in stats.iter().flat_map(StatsRecords::templates) {
        exporter.add_template(t)?;
    }
    let mut refreshes = exporter.refreshes();
    let mut failed: Option<Error> = None;
    let mut ended = false;
    while !ended {
        if meter.reading() {
            // The workers read the one capture themselves.
            match meter.read_round()? {
                None => {}
                Some(ReadEnd::End) => ended = true,
                Some(ReadEnd::Failed(e)) => {
                    let e = e.in_input(labels.first().map_or("capture", String::as_str));
                    // The only capture: it ends here whatever the policy.
                    failed_capture(meter, e, policy, &mut run.warnings, &mut failed);
                    ended = true;
                }
            }
        } else {
            ended = meter_chunk(
                meter,
                captures,
                labels,
                policy,
                sel.eager,
                &mut run,
                &mut failed,
            )?;
        }
        if ended {
            // The open flows leave in batches, each written before the
            // next ends.
            while !meter.finish_some(FINISH_BATCH)? {
                write_pending(meter, exporter, sel)?;
            }
        }
        write_pending(meter, exporter, sel)?;
        if let Some(s) = &mut stats {
            // The statistics as of each refresh, and as of the end (a
            // capture that failed included: the counts are true of what
            // was read).
            if ended || exporter.refreshes() != refreshes {
                s.write(exporter, &meter.stats())?;
                refreshes = exporter.refreshes();
            }
        }
        progress(meter.position().unwrap_or_else(|| captures.position()))?;
    }
    exporter.flush()?;
    match failed {
        Some(e) => Err(e),
        None => Ok(run),
    }
}

/// Up to [`CHUNK`] packets of `captures` into `meter` (`eager`: or until
/// a record ends); true if the input ended (or failed, by `policy`).
fn meter_chunk(
    meter: &mut Meter,
    captures: &mut Captures,
    labels: &[String],
    policy: Policy,
    eager: bool,
    run: &mut ExportRun,
    failed: &mut Option<Error>,
) -> Result<bool> {
    for _ in 0..CHUNK {
        if eager && meter.pending() > 0 {
            return Ok(false);
        }
        if let Some(p) = captures.next_fast() {
            meter.packet(&p)?;
            continue;
        }
        match captures.next_packet() {
            Next::Packet(_, p) => meter.packet(&p)?,
            Next::Failed(i, e) => {
                let e = e.in_input(labels.get(i).map_or("capture", String::as_str));
                if failed_capture(meter, e, policy, &mut run.warnings, failed) {
                    return Ok(true);
                }
            }
            Next::End => return Ok(true),
        }
    }
    Ok(false)
}

/// A capture failed: counted, and by `policy` kept to end the run with
/// (`Error`), reported (`Warn`) or passed over (`Skip`); true if the run
/// ends here.
pub(crate) fn failed_capture(
    meter: &mut Meter,
    e: Error,
    policy: Policy,
    warnings: &mut Vec<String>,
    failed: &mut Option<Error>,
) -> bool {
    meter.capture_failed();
    match policy {
        Policy::Error => {
            *failed = Some(e);
            true
        }
        Policy::Warn => {
            warnings.push(e.to_string());
            false
        }
        Policy::Skip => false,
    }
}

/// Write the records ended so far (those `sel`'s filter keeps, in its
/// domain) and flush them.
pub fn write_pending<W: Write>(
    meter: &mut Meter,
    exporter: &mut Exporter<W>,
    sel: &Selection,
) -> Result<()> {
    if meter.pending() == 0 {
        return Ok(());
    }
    let (filter, domain) = (sel.filter.as_ref(), sel.domain);
    // Two reference counts: the drain holds the meter.
    let model = meter.records().model().clone();
    meter.drain(|t, bytes, n| {
        // A template made since the start is announced before its first
        // record.
        if exporter.template(domain, t.id).is_none() {
            exporter.add_template(in_domain(t.clone(), domain, &model))?;
        }
        let keep = filter.map(|f| f.compile(t));
        let len = bytes.len().checked_div(n).unwrap_or(0).max(1);
        for rec in bytes.chunks_exact(len) {
            if keep.as_ref().is_none_or(|k| k.keeps(t, rec)) {
                exporter.write_record(domain, t.id, rec)?;
            }
        }
        Ok(())
    })?;
    exporter.flush()
}

/// The meter's template `t` (made in its own domain) as a template of
/// observation domain `domain`: the same fields, so its records are
/// written as they are.
fn in_domain(t: Arc<Template>, domain: u32, model: &InfoModel) -> Arc<Template> {
    if t.observation_domain_id == domain {
        return t;
    }
    Arc::new(Template::new(
        t.id,
        domain,
        t.scope_count,
        t.specs.clone(),
        model,
    ))
}
