//! Sources given from Python: a path, a bytes-like object, or a binary file
//! object read through its `read` method (taking the GIL only for each
//! read of up to 1 MiB).

use std::io::{self, Read};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use pyo3::buffer::PyBuffer;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes};

use crate::source::input::{Body, Opened};
use crate::source::{MessageStream, SharedBytes};

/// A Python binary file object as a `Read`: through its `read1` where it
/// has one (a buffered file, `sys.stdin.buffer`: what is there, without
/// waiting for a whole buffer from a pipe), else `read`.
struct PyFileRead {
    obj: Py<PyAny>,
    method: &'static str,
}

impl PyFileRead {
    fn new(py: Python<'_>, obj: &Py<PyAny>) -> PyFileRead {
        let read1 = obj.bind(py).hasattr("read1").unwrap_or(false);
        PyFileRead {
            obj: obj.clone_ref(py),
            method: if read1 { "read1" } else { "read" },
        }
    }
}

impl Read for PyFileRead {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        Python::attach(|py| {
            let want = buf.len().min(1 << 20);
            let data = self
                .obj
                .bind(py)
                .call_method1(self.method, (want,))
                .map_err(|e| {
                    if !e.is_instance_of::<pyo3::exceptions::PyException>(py) {
                        // Ctrl-C: raised again by the method that called us.
                        super::guard::interrupt(e.clone_ref(py));
                    }
                    io::Error::other(format!("read() of the file object failed: {e}"))
                })?;
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

/// The contents of a Python `bytes` object, read in place: a bytes object
/// is immutable and its contents stay where they are while a reference to
/// it is held, with or without the GIL.
struct PyBytesView {
    _owner: Py<PyBytes>,
    ptr: *const u8,
    len: usize,
}

// SAFETY: the view only reads immutable bytes kept alive by `_owner`
// (released with the GIL by pyo3 when dropped on another thread).
unsafe impl Send for PyBytesView {}
// SAFETY: as above: shared reads of immutable bytes.
unsafe impl Sync for PyBytesView {}

impl AsRef<[u8]> for PyBytesView {
    fn as_ref(&self) -> &[u8] {
        // SAFETY: `ptr`/`len` are the contents of `_owner`, alive and
        // unchanged for as long as the view is.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

/// A source given from Python, kept so that it can be opened again (the
/// columnar reader scans a stream once for its templates, then decodes it).
pub enum Source {
    Path(PathBuf),
    /// Bytes in memory: a `bytes` object read in place, other buffers
    /// (which may change under the reader) copied.
    Bytes(SharedBytes),
    /// A file object can be read only once.
    File(Py<PyAny>),
    /// A seekable file object, opened again at the position it had.
    Seekable(Py<PyAny>, u64),
    /// A file object that cannot seek (a pipe): what a pre-scan read of it
    /// is kept and read again before the rest.
    Replay(Arc<Replay>),
}

/// The bytes read so far from a file object that cannot seek, while
/// `recording`.
pub struct Replay {
    obj: Py<PyAny>,
    read: Mutex<Vec<u8>>,
    recording: AtomicBool,
}

/// A reader of a [`Replay`]: what was recorded, then the file object.
struct ReplayRead {
    replay: Arc<Replay>,
    at: usize,
    file: PyFileRead,
}

impl Read for ReplayRead {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        {
            let kept = self
                .replay
                .read
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if let Some(rest) = kept.get(self.at..).filter(|r| !r.is_empty()) {
                let n = rest.len().min(buf.len());
                buf[..n].copy_from_slice(&rest[..n]);
                self.at = self.at.saturating_add(n);
                return Ok(n);
            }
        }
        let n = self.file.read(buf)?;
        if self.replay.recording.load(Ordering::Relaxed) {
            let mut kept = self
                .replay
                .read
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            kept.extend_from_slice(&buf[..n]);
            self.at = kept.len();
        }
        Ok(n)
    }
}

impl Source {
    /// Classify a Python object; the label describes it in messages.
    pub fn from_py(py: Python<'_>, source: &Bound<'_, PyAny>) -> PyResult<(Source, String)> {
        if let Ok(b) = source.cast::<PyBytes>() {
            let data = b.as_bytes();
            let view = PyBytesView {
                ptr: data.as_ptr(),
                len: data.len(),
                _owner: b.clone().unbind(),
            };
            return Ok((Source::Bytes(Arc::new(view)), "<bytes>".into()));
        }
        if let Ok(b) = source.cast::<PyByteArray>() {
            return Ok((Source::Bytes(Arc::new(b.to_vec())), "<bytearray>".into()));
        }
        if let Ok(buf) = PyBuffer::<u8>::get(source) {
            return Ok((Source::Bytes(Arc::new(buf.to_vec(py)?)), "<buffer>".into()));
        }
        if let Ok(path) = source.extract::<PathBuf>() {
            let label = path.display().to_string();
            return Ok((Source::Path(path), label));
        }
        if source.hasattr("read")? {
            // Its name where it has one (an open file's path), so that an
            // error names the input among several.
            let label = source
                .getattr("name")
                .ok()
                .and_then(|n| n.extract::<String>().ok())
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| "<file object>".into());
            return Ok((Source::File(source.clone().unbind()), label));
        }
        Err(pyo3::exceptions::PyTypeError::new_err(format!(
            "source must be a path, bytes or a binary file object, not {}",
            source.get_type().name()?
        )))
    }

    /// Open the source's message stream (decompressing gzip/zstd; a plain
    /// file is mapped, bytes are read in place).
    /// `ports`: for a capture, the UDP/TCP ports flow export is read from
    /// (None: any).
    pub fn open(
        &self,
        py: Python<'_>,
        label: &str,
        ports: Option<&[u16]>,
    ) -> PyResult<MessageStream> {
        let mut s = self.open_any(py, label)?;
        s.set_export_ports(ports.map(<[u16]>::to_vec));
        Ok(s)
    }

    fn open_any(&self, py: Python<'_>, label: &str) -> PyResult<MessageStream> {
        Ok(MessageStream::from_opened(self.opened(py, label)?))
    }

    /// Open the source's bytes (mapped, in place, or as a decompressed
    /// stream) and tell whether they are a capture: the one opening step
    /// of the collector and the meter.
    pub fn opened(&self, py: Python<'_>, label: &str) -> PyResult<Opened> {
        let named = |e: io::Error| open_error(&e, self, label);
        match self {
            Source::Bytes(b) => Opened::bytes(b.clone()).map_err(named),
            Source::Path(path) => py.detach(|| Opened::path(path)).map_err(named),
            Source::File(obj) => Opened::reader(Box::new(PyFileRead::new(py, obj))).map_err(named),
            Source::Seekable(obj, at) => {
                obj.bind(py).call_method1("seek", (*at,))?;
                Opened::reader(Box::new(PyFileRead::new(py, obj))).map_err(named)
            }
            Source::Replay(r) => Opened::reader(Box::new(ReplayRead {
                replay: r.clone(),
                at: 0,
                file: PyFileRead::new(py, &r.obj),
            }))
            .map_err(named),
        }
    }

    /// [`Source::opened`] for reading once start to end (the meter): a
    /// file is streamed, not mapped; and the input's size when known
    /// ahead (a progress bar's total).
    pub fn opened_streamed(&self, py: Python<'_>, label: &str) -> PyResult<(Opened, Option<u64>)> {
        let named = |e: io::Error| open_error(&e, self, label);
        match self {
            Source::Path(path) => py.detach(|| Opened::path_streamed(path)).map_err(named),
            _ => {
                let opened = self.opened(py, label)?;
                let size = match &opened.body {
                    Body::Whole(w) => Some(w.as_ref().len() as u64),
                    Body::Stream(_) => None,
                };
                Ok((opened, size))
            }
        }
    }

    /// Make the source re-openable for a pre-scan: a seekable file object
    /// is opened again where it was; one that cannot seek keeps what the
    /// pre-scans read of it ([`Source::done_prescanning`] stops that).
    pub fn reopenable(self, py: Python<'_>) -> PyResult<Source> {
        match self {
            Source::File(obj) => {
                let f = obj.bind(py);
                let seekable = f.hasattr("seekable")? && f.call_method0("seekable")?.is_truthy()?;
                if seekable {
                    let at: u64 = f.call_method0("tell")?.extract()?;
                    return Ok(Source::Seekable(obj, at));
                }
                Ok(Source::Replay(Arc::new(Replay {
                    obj,
                    read: Mutex::new(Vec::new()),
                    recording: AtomicBool::new(true),
                })))
            }
            other => Ok(other),
        }
    }

    /// Whether the source is read once (a file object that cannot seek):
    /// its pre-scan reads only what the first batch needs.
    pub fn read_once(&self) -> bool {
        matches!(self, Source::Replay(_))
    }

    /// The pre-scans are over: a file object that cannot seek is read on
    /// without keeping what is read (what was kept is read again first).
    pub fn done_prescanning(&self) {
        if let Source::Replay(r) = self {
            r.recording.store(false, Ordering::Relaxed);
        }
    }
}

/// Open any supported source; `label` describes it for messages.
pub fn open(
    py: Python<'_>,
    source: &Bound<'_, PyAny>,
    ports: Option<&[u16]>,
) -> PyResult<(MessageStream, String)> {
    let (src, label) = Source::from_py(py, source)?;
    let r = src.open(py, &label, ports)?;
    Ok((r, label))
}

/// Opening `source` failed: an OS error naming the file (as Python's own),
/// or the source's label for bytes and file objects; corrupt compressed
/// data is a decode error.
fn open_error(e: &io::Error, source: &Source, label: &str) -> PyErr {
    let err = match source {
        Source::Path(path) => crate::Error::os(e, path),
        _ => crate::Error::from(io::Error::new(e.kind(), e.to_string())).in_input(label),
    };
    Python::attach(|py| super::errors::to_py(py, &err))
}
