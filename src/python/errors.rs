//! The one mapping from core errors to the Python exception tree defined in
//! `ferrofix/_errors.py`: `FerrofixError` > `DecodeError` (also a
//! `ValueError`) > `MissingTemplateError`; `LimitExceededError`; `SpecError`; `EncodeError`; `InternalError` (a
//! caught panic: a bug);
//! I/O errors become `OSError` subclasses. Each exception carries `offset`
//! and `message_index` attributes.

use pyo3::exceptions::{PyFileNotFoundError, PyOSError, PyPermissionError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyType;

use crate::error::{Error, ErrorKind, OsFailure};

fn class<'py>(py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyType>> {
    static MODULE: PyOnceLock<Py<PyModule>> = PyOnceLock::new();
    let m = MODULE.get_or_try_init(py, || {
        PyModule::import(py, "ferrofix._errors").map(Bound::unbind)
    })?;
    Ok(m.bind(py).getattr(name)?.cast_into::<PyType>()?)
}

/// An operating-system error as Python's own: `OSError(errno, strerror,
/// filename)`, which is the subclass for the errno (`FileNotFoundError`,
/// `PermissionError`, ...) with `errno`, `strerror` and `filename` set.
/// `input` (the source's name) goes before the words when no file is
/// named. Without an errno (a failure the system did not report), the
/// subclass for its kind with the words alone.
pub fn os_error(os: &OsFailure, input: Option<&str>) -> PyErr {
    let words = match (input, &os.filename) {
        (Some(i), None) => format!("{i}: {}", os.message),
        _ => os.message.clone(),
    };
    match (os.errno, &os.filename) {
        (Some(n), Some(f)) => PyOSError::new_err((n, words, f.clone())),
        (Some(n), None) => PyOSError::new_err((n, words)),
        (None, _) => {
            let words = match &os.filename {
                Some(f) => format!("{f}: {words}"),
                None => words,
            };
            match os.kind {
                std::io::ErrorKind::NotFound => PyFileNotFoundError::new_err(words),
                std::io::ErrorKind::PermissionDenied => PyPermissionError::new_err(words),
                _ => PyOSError::new_err(words),
            }
        }
    }
}

/// Turn a core error into the matching Python exception.
pub fn to_py(py: Python<'_>, e: &Error) -> PyErr {
    if let ErrorKind::Io(os) = &e.kind {
        return os_error(os, e.input.as_deref());
    }
    let name = match e.kind {
        ErrorKind::MissingTemplate { .. } => "MissingTemplateError",
        ErrorKind::LimitExceeded(_) => "LimitExceededError",
        ErrorKind::BadSpec(_) => "SpecError",
        ErrorKind::Encode(_) => "EncodeError",
        ErrorKind::Internal(_) => "InternalError",
        _ => "DecodeError",
    };
    let build = || -> PyResult<PyErr> {
        let cls = class(py, name)?;
        let exc = cls.call1((e.to_string(),))?;
        exc.setattr("offset", e.offset)?;
        exc.setattr("message_index", e.message_index)?;
        if let ErrorKind::MissingTemplate {
            observation_domain_id,
            template_id,
        } = e.kind
        {
            exc.setattr("observation_domain_id", observation_domain_id)?;
            exc.setattr("template_id", template_id)?;
        }
        Ok(PyErr::from_value(exc))
    };
    build().unwrap_or_else(|err| err)
}
