//! Panics never cross into Python (issue 13): every method and function of
//! the extension runs its body through [`guarded`], which turns a panic into
//! a `ferrofix.InternalError` naming the input and the place, instead of
//! pyo3's `PanicException` (a `BaseException` that `except Exception`
//! does not catch). The Arrow C stream handed to foreign consumers has its
//! own guard ([`super::arrow`]'s `GuardedBatches`): a panic unwinding into
//! Arrow's C callback would abort the interpreter.
//!
//! State a panic interrupted is not used again: the object's mutex is
//! poisoned by the unwinding, and later calls raise `InternalError` too.

use std::sync::{Mutex, PoisonError};

use pyo3::prelude::*;

use super::errors;
use crate::error::{catch_panic, Error, ErrorKind};

/// Run `f` with panics turned into `InternalError`; `doing` says what was
/// being done ("reading trace.pcap at byte offset 112"), evaluated only
/// after a panic. `point` names the entry for the test hook
/// ([`crate::testhook`]).
pub(super) fn guarded<T>(
    py: Python<'_>,
    point: &str,
    doing: impl FnOnce() -> String,
    f: impl FnOnce() -> PyResult<T>,
) -> PyResult<T> {
    let r = catch_panic(doing, || {
        crate::testhook::panic_point(point);
        f()
    });
    // A KeyboardInterrupt (or SystemExit) raised inside a file object's
    // read reached the core as an I/O error, which a pre-scan or a skip
    // policy may have passed over: it is raised as it was.
    if let Some(e) = take_interrupt() {
        return Err(e);
    }
    match r {
        Ok(r) => r,
        Err(e) => Err(errors::to_py(py, &e)),
    }
}

/// A Python exception that is not an `Exception` (KeyboardInterrupt,
/// SystemExit) raised by Python code the core called, kept until the
/// method that called the core returns.
static INTERRUPT: Mutex<Option<PyErr>> = Mutex::new(None);

/// Keep `e` (the first one) for [`guarded`] to raise.
pub(super) fn interrupt(e: PyErr) {
    let mut slot = INTERRUPT.lock().unwrap_or_else(PoisonError::into_inner);
    if slot.is_none() {
        *slot = Some(e);
    }
}

fn take_interrupt() -> Option<PyErr> {
    INTERRUPT
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take()
}

/// An extension object that can say what it is doing (its input or
/// output, and how far it got), for the message of an internal error.
pub(super) trait Doing {
    /// "reading trace.pcap at byte offset 112", read even from state a
    /// panic left behind.
    fn doing(&self) -> String;

    /// Run a method's body through the panic guard.
    fn guarded<T>(
        &self,
        py: Python<'_>,
        point: &str,
        f: impl FnOnce() -> PyResult<T>,
    ) -> PyResult<T> {
        guarded(py, point, || self.doing(), f)
    }
}

/// The error for an object whose state an earlier panic interrupted.
pub(super) fn poisoned(py: Python<'_>, what: &str) -> PyErr {
    errors::to_py(
        py,
        &Error::new(ErrorKind::Internal(format!(
            "{what} stopped after an earlier internal error; open the input again"
        ))),
    )
}

/// The allocator's options (`crate::allocator_options`), None in a build
/// without mimalloc: tests only.
#[pyfunction]
#[allow(clippy::unnecessary_wraps)] // None in a build without mimalloc
pub(super) fn allocator_options() -> Option<(i64, i64)> {
    #[cfg(feature = "mimalloc")]
    return Some(crate::allocator_options());
    #[cfg(not(feature = "mimalloc"))]
    None
}

/// Arm the panic hook at `point` (None disarms): tests only.
#[pyfunction]
#[pyo3(signature = (point=None))]
pub(super) fn arm_test_panic(point: Option<&str>) {
    crate::testhook::arm(point);
}
