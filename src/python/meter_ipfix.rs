//! `Meter.write_ipfix`'s run: the captures metered into an exporter
//! (`crate::meter::export`) with the GIL released, the progress callback
//! and signals heard between chunks, and the end: warnings said, the
//! output finished and closed, messages lost over UDP said, also when the
//! run stops early (Ctrl-C, a capture failing), so that what was written
//! stays whole and the exception raised is the one that stopped it.

use std::sync::Mutex;

use pyo3::prelude::*;

use super::errors;
use super::out::Out;
use crate::encode::Exporter;
use crate::meter::batches::MeterBatches;
use crate::meter::export::{export_ipfix, Selection};
use crate::meter::input::Captures;
use crate::meter::Meter;

/// Meter `batches` into `exporter` as `sel` says (its filter: the
/// batches' `where=`, set here), calling `progress(bytes_read)` between chunks; `keep` is given
/// the meter and its captures once the run ends, however it ends. The
/// bytes written, for output in memory.
pub(super) fn run(
    py: Python<'_>,
    mut batches: MeterBatches,
    mut exporter: Exporter<Out>,
    mut sel: Selection,
    progress: Option<Bound<'_, PyAny>>,
    keep: impl FnOnce(&Meter, &Captures),
) -> PyResult<Option<Vec<u8>>> {
    // Captures passed over when they were opened, said first.
    let early = std::mem::take(&mut batches.warnings);
    sel.filter = batches.record_filter().cloned();
    let (mut meter, mut captures, labels, policy) = batches.into_parts();
    let progress = progress.map(Bound::unbind);
    // A signal's exception (Ctrl-C's KeyboardInterrupt) or the progress
    // callback's, raised as it was once the run stops.
    let raised: Mutex<Option<PyErr>> = Mutex::new(None);
    let stopped = |e: PyErr| {
        let why = interrupted(&e.to_string());
        if let Ok(mut slot) = raised.lock() {
            slot.get_or_insert(e);
        }
        why
    };
    let result = py.detach(|| {
        export_ipfix(
            &mut meter,
            &mut captures,
            &labels,
            &mut exporter,
            policy,
            &sel,
            |at| {
                Python::attach(|py| {
                    py.check_signals().map_err(stopped)?;
                    if let Some(p) = &progress {
                        p.bind(py).call1((at,)).map_err(stopped)?;
                    }
                    Ok(())
                })
            },
        )
    });
    keep(&meter, &captures);
    let warn = PyModule::import(py, "warnings")?;
    let category = PyModule::import(py, "ferrofix._errors")?.getattr("FerrofixWarning")?;
    let run = match result {
        Ok(run) => run,
        Err(e) => {
            // What was written stays whole (a .zst file's last frame, the
            // message being built), and messages lost over UDP are said,
            // before the error (a Ctrl-C, a capture failing) is raised;
            // failures on the way are not the error to report.
            if let Ok(mut out) = py.detach(|| exporter.finish()) {
                let lost = out.lost_note();
                let _ = out.close();
                if let Some(w) = lost {
                    let _ = warn.call_method1("warn", (w, &category));
                }
            }
            let own = raised.lock().ok().and_then(|mut r| r.take());
            return Err(own.unwrap_or_else(|| errors::to_py(py, &e)));
        }
    };
    for w in early.into_iter().chain(run.warnings) {
        warn.call_method1("warn", (w, &category))?;
    }
    let mut out = exporter.finish().map_err(|e| errors::to_py(py, &e))?;
    let lost = out.lost_note();
    let bytes = out.close()?;
    if let Some(w) = lost {
        warn.call_method1("warn", (w, &category))?;
    }
    Ok(bytes)
}

/// The run stopped by Python (a signal, the progress callback): an
/// interruption as the core's errors say it.
fn interrupted(why: &str) -> crate::Error {
    crate::Error::new(crate::ErrorKind::Io(Box::new(
        crate::error::OsFailure::other(std::io::ErrorKind::Interrupted, why),
    )))
}
