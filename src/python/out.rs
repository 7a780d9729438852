//! Where a writer's messages go: a file (plain, gzip, or zstd a frame at
//! a time), memory, a Python file object, or a collector.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::encode::{ExportOptions, NetOut};
use crate::error::OsFailure;

/// A file written to, whose errors name it (`/dev/full`'s "No space
/// left on device" is about the output, not the capture being read).
pub(super) struct Named {
    file: File,
    path: PathBuf,
}

impl Write for Named {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file
            .write(buf)
            .map_err(|e| OsFailure::at(&e, &self.path).into_io())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file
            .flush()
            .map_err(|e| OsFailure::at(&e, &self.path).into_io())
    }
}

/// A Python file object's failure: its errno kept when it is an
/// `OSError` (a closed pipe stays `BrokenPipeError`), else what failed.
fn py_failure(py: Python<'_>, e: &PyErr, what: &str) -> io::Error {
    let v = e.value(py);
    let errno = v
        .is_instance_of::<pyo3::exceptions::PyOSError>()
        .then(|| v.getattr("errno").ok()?.extract::<i32>().ok())
        .flatten();
    match errno {
        Some(n) => io::Error::from_raw_os_error(n),
        None => io::Error::other(format!("{what} of the file object failed: {e}")),
    }
}

/// Where the messages go.
pub(super) enum Out {
    File(BufWriter<Named>),
    Gzip(flate2::write::GzEncoder<BufWriter<Named>>),
    /// zstd output as a series of frames of [`ZSTD_FRAME`] bytes of
    /// messages each (the pure-Rust encoder has no streaming mode, so a
    /// frame is compressed whole; readers take the frames one after
    /// another, RFC 8878 §3.1): memory stays bounded whatever is written.
    /// The bool says whether a frame was written.
    Zstd(BufWriter<Named>, Vec<u8>, bool),
    Memory(Vec<u8>),
    Py(Py<PyAny>),
    /// A collector over UDP or TCP.
    Net(crate::encode::NetOut),
}

/// Bytes of messages per zstd frame written.
const ZSTD_FRAME: usize = 4 << 20;

fn zstd_frame(data: &[u8]) -> Vec<u8> {
    ruzstd::encoding::compress_to_vec(data, ruzstd::encoding::CompressionLevel::Fastest)
}

impl Write for Out {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Out::File(f) => f.write(buf),
            Out::Gzip(g) => g.write(buf),
            Out::Zstd(f, v, wrote) => {
                v.extend_from_slice(buf);
                if v.len() >= ZSTD_FRAME {
                    f.write_all(&zstd_frame(v))?;
                    v.clear();
                    *wrote = true;
                }
                Ok(buf.len())
            }
            Out::Memory(v) => v.write(buf),
            Out::Net(n) => n.write(buf),
            Out::Py(obj) => Python::attach(|py| {
                obj.bind(py)
                    .call_method1("write", (PyBytes::new(py, buf),))
                    .map_err(|e| py_failure(py, &e, "write()"))?;
                Ok(buf.len())
            }),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Out::File(f) => f.flush(),
            Out::Gzip(g) => g.flush(),
            Out::Zstd(..) | Out::Memory(_) => Ok(()),
            Out::Net(n) => n.flush(),
            Out::Py(obj) => Python::attach(|py| {
                let o = obj.bind(py);
                if o.hasattr("flush").unwrap_or(false) {
                    o.call_method0("flush")
                        .map_err(|e| py_failure(py, &e, "flush()"))?;
                }
                Ok(())
            }),
        }
    }
}

impl Out {
    /// Where `Meter.write_ipfix` writes, and the exporter's options for
    /// it: with `export`, a collector's URL ([`NetOut::connect`]); else
    /// `dest`, a path (compressed by `compression` or its extension), a
    /// binary file object, or None for bytes returned. `mtu` (within a
    /// UDP datagram over UDP) and the template refreshes (0: off; None:
    /// the transport's, UDP's 64 messages or 600 s) as asked.
    #[allow(clippy::too_many_arguments)] // the Python method's keywords
    pub(super) fn for_ipfix(
        py: Python<'_>,
        dest: Option<&Bound<'_, PyAny>>,
        export: Option<&str>,
        compression: Option<&str>,
        mtu: Option<usize>,
        template_refresh: Option<u64>,
        template_refresh_timeout: Option<u32>,
    ) -> PyResult<(Out, ExportOptions)> {
        let (out, mut opts) = match (export, dest) {
            (Some(url), None) => {
                let (n, o) = py.detach(|| NetOut::connect(url))?;
                (Out::Net(n), o)
            }
            (Some(_), Some(_)) => {
                return Err(PyValueError::new_err("give dest or export, not both"))
            }
            (None, None) => (Out::Memory(Vec::new()), ExportOptions::default()),
            (None, Some(d)) => {
                if let Ok(path) = d.extract::<PathBuf>() {
                    (Out::open(&path, compression)?, ExportOptions::default())
                } else if d.hasattr("write")? {
                    (Out::Py(d.clone().unbind()), ExportOptions::default())
                } else {
                    return Err(PyValueError::new_err(
                        "dest must be a path or a binary file object",
                    ));
                }
            }
        };
        if let Some(m) = mtu {
            // A UDP datagram's payload: at most 65,507 octets over IPv4.
            if matches!(out, Out::Net(NetOut::Udp(..))) && m > 65_507 {
                return Err(PyValueError::new_err(format!(
                    "mtu {m} does not fit a UDP datagram (at most 65507 octets)"
                )));
            }
            opts.mtu = m;
        }
        if let Some(n) = template_refresh {
            opts.template_refresh = (n > 0).then_some(n);
        }
        if let Some(s) = template_refresh_timeout {
            opts.template_refresh_secs = (s > 0).then_some(s);
        }
        Ok((out, opts))
    }

    /// What to warn of once a collector's export is done (or stopped):
    /// the messages lost over UDP ([`NetOut::lost`], the last refusal
    /// waited for, [`NetOut::settle`]), if any.
    pub(super) fn lost_note(&mut self) -> Option<String> {
        let Out::Net(n) = self else {
            return None;
        };
        n.settle();
        let lost = n.lost();
        (lost > 0).then(|| {
            format!(
                "export to {}: {lost} message{} lost (refused by the collector's host, \
                 or no route or buffer space for {}); UDP does not send them again",
                n.url(),
                if lost == 1 { "" } else { "s" },
                if lost == 1 { "it" } else { "them" },
            )
        })
    }

    /// Create the file `path` for writing (compressed by `compression`, or
    /// as its extension says); an OS error names the file, as Python's own.
    pub(super) fn open(path: &PathBuf, compression: Option<&str>) -> PyResult<Out> {
        let ext = path
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        let kind = compression.unwrap_or(match ext.as_str() {
            "gz" => "gzip",
            "zst" | "zstd" => "zstd",
            _ => "none",
        });
        // Messages of 32 KiB and more bypass the buffer (no copy); small
        // (UDP-sized) messages are gathered.
        if !matches!(kind, "gzip" | "zstd" | "none") {
            return Err(PyValueError::new_err(format!(
                "compression must be 'gzip', 'zstd' or 'none', not {kind:?}"
            )));
        }
        let file = File::create(path)
            .map_err(|e| super::errors::os_error(&OsFailure::of(&e, Some(path)), None))?;
        let f = BufWriter::with_capacity(
            1 << 15,
            Named {
                file,
                path: path.clone(),
            },
        );
        match kind {
            "gzip" => Ok(Out::Gzip(flate2::write::GzEncoder::new(
                f,
                flate2::Compression::default(),
            ))),
            "zstd" => Ok(Out::Zstd(f, Vec::new(), false)),
            _ => Ok(Out::File(f)),
        }
    }

    /// Complete the output (compressed trailers); the bytes for memory.
    pub(super) fn close(self) -> io::Result<Option<Vec<u8>>> {
        match self {
            Out::File(mut f) => f.flush().map(|()| None),
            Out::Gzip(g) => g.finish()?.flush().map(|()| None),
            Out::Zstd(mut f, v, wrote) => {
                // The last messages, or an empty frame for an empty file.
                if !v.is_empty() || !wrote {
                    f.write_all(&zstd_frame(&v))?;
                }
                f.flush().map(|()| None)
            }
            Out::Memory(v) => Ok(Some(v)),
            Out::Py(_) => Ok(None),
            Out::Net(mut n) => n.flush().map(|()| None),
        }
    }
}
