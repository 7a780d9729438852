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

use crate::error::{Error, ErrorKind};

fn class<'py>(py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyType>> {
    static MODULE: PyOnceLock<Py<PyModule>> = PyOnceLock::new();
    let m = MODULE.get_or_try_init(py, || {
        PyModule::import(py, "ferrofix._errors").map(Bound::unbind)
    })?;
    Ok(m.bind(py).getattr(name)?.cast_into::<PyType>()?)
}

/// Turn a core error into the matching Python exception.
pub fn to_py(py: Python<'_>, e: &Error) -> PyErr {
    if let ErrorKind::Io(kind, msg) = &e.kind {
        return match kind {
            std::io::ErrorKind::NotFound => PyFileNotFoundError::new_err(msg.clone()),
            std::io::ErrorKind::PermissionDenied => PyPermissionError::new_err(msg.clone()),
            _ => PyOSError::new_err(e.to_string()),
        };
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
