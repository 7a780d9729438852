//! Sources given from Python: a path, a bytes-like object, or a binary file
//! object read through its `readinto`/`read` method (taking the GIL only for
//! each read).

use std::io::{self, Cursor, Read};
use std::path::PathBuf;

use pyo3::buffer::PyBuffer;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes};

use crate::source::{decompressing, open_path, DynRead};

/// A Python binary file object as a `Read`.
struct PyFileRead {
    obj: Py<PyAny>,
}

impl Read for PyFileRead {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        Python::attach(|py| {
            let want = buf.len().min(1 << 20);
            let data = self
                .obj
                .bind(py)
                .call_method1("read", (want,))
                .map_err(|e| io::Error::other(format!("read() of the file object failed: {e}")))?;
            let bytes = data
                .cast::<PyBytes>()
                .map_err(|_| io::Error::other("read() of the file object did not return bytes"))?
                .as_bytes();
            let n = bytes.len().min(want);
            buf[..n].copy_from_slice(&bytes[..n]);
            Ok(n)
        })
    }
}

/// Open any supported source; `label` describes it for messages.
pub fn open(py: Python<'_>, source: &Bound<'_, PyAny>) -> PyResult<(DynRead, String)> {
    if let Ok(b) = source.cast::<PyBytes>() {
        let r: DynRead = Box::new(Cursor::new(b.as_bytes().to_vec()));
        return Ok((decompressing(r)?, "<bytes>".into()));
    }
    if let Ok(b) = source.cast::<PyByteArray>() {
        let r: DynRead = Box::new(Cursor::new(b.to_vec()));
        return Ok((decompressing(r)?, "<bytearray>".into()));
    }
    if let Ok(buf) = PyBuffer::<u8>::get(source) {
        let r: DynRead = Box::new(Cursor::new(buf.to_vec(py)?));
        return Ok((decompressing(r)?, "<buffer>".into()));
    }
    if let Ok(path) = source.extract::<PathBuf>() {
        let label = path.display().to_string();
        let r = py.detach(|| open_path(&path)).map_err(|e| {
            let e = io::Error::new(e.kind(), format!("{label}: {e}"));
            PyErr::from(e)
        })?;
        return Ok((r, label));
    }
    if source.hasattr("read")? {
        let r: DynRead = Box::new(PyFileRead {
            obj: source.clone().unbind(),
        });
        return Ok((decompressing(r)?, "<file object>".into()));
    }
    Err(pyo3::exceptions::PyTypeError::new_err(format!(
        "source must be a path, bytes or a binary file object, not {}",
        source.get_type().name()?
    )))
}
