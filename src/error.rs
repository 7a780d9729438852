//! Core error type. Every decode error carries its kind and its place: the
//! absolute byte offset in the stream and the index of the message it was
//! found in (house rule 3). `src/python/errors.rs` maps these onto the
//! Python exception tree. Display and `std::error::Error` are derived with
//! thiserror.

use std::path::Path;

/// What went wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ErrorKind {
    /// The message header is not IPFIX (RFC 7011 §3.1): wrong version, a length
    /// shorter than the header, or a message cut short by the end of input.
    #[error("bad message header: {0}")]
    BadMessageHeader(String),
    /// The input ended inside a message.
    #[error("input ends inside a message: {needed} bytes needed, {available} available")]
    Truncated { needed: u64, available: u64 },
    /// A set header is malformed or overruns its message (RFC 7011 §3.3.2).
    #[error("bad set: {0}")]
    BadSet(String),
    /// A template or options template record is malformed (RFC 7011 §3.4).
    #[error("bad template: {0}")]
    BadTemplate(String),
    /// A data record does not fit its set, or a variable-length field
    /// overruns it (RFC 7011 §7).
    #[error("bad data record: {0}")]
    BadRecord(String),
    /// A data set refers to a template that is not known in its scope
    /// (RFC 7011 §8: (transport session, observation domain, template id)).
    #[error(
        "data set for template {template_id} in observation domain \
         {observation_domain_id} arrived before its template"
    )]
    MissingTemplate {
        observation_domain_id: u32,
        template_id: u16,
    },
    /// A configured limit (templates per session, list depth, ...) was hit.
    #[error("limit exceeded: {0}")]
    LimitExceeded(String),
    /// An IESpec string or spec file line could not be parsed.
    #[error("bad IESpec: {0}")]
    BadSpec(String),
    /// Reading or writing failed in the operating system.
    #[error("I/O error: {0}")]
    Io(Box<OsFailure>),
    /// A packet capture (pcap, pcapng) is malformed or cut short.
    #[error("bad capture: {0}")]
    BadCapture(String),
    /// gzip or zstd data that does not decode.
    #[error("bad compressed data: {0}")]
    BadCompression(String),
    /// A value, record or template cannot be written as asked (the
    /// exporter's refusals: wrong type, out of range, too long, unknown
    /// template).
    #[error("cannot encode: {0}")]
    Encode(String),
    /// A bug in ferrofix: a panic caught at the boundary ([`catch_panic`]),
    /// with what was being done and the panic's message.
    #[error("internal error (a bug in ferrofix; please report it with the input): {0}")]
    Internal(String),
}

/// An operating-system error as Python's `OSError` holds it: its kind,
/// the error number the system gave (errno), the file it concerns, and
/// what it said.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", filename.as_deref().map(|f| format!("{f}: ")).unwrap_or_default())]
pub struct OsFailure {
    pub kind: std::io::ErrorKind,
    pub errno: Option<i32>,
    pub filename: Option<String>,
    /// The system's words (strerror), or what failed for an error the
    /// system did not give.
    pub message: String,
}

impl OsFailure {
    /// A failure the operating system did not report (no errno).
    pub fn other(kind: std::io::ErrorKind, message: impl Into<String>) -> Self {
        OsFailure {
            kind,
            errno: None,
            filename: None,
            message: message.into(),
        }
    }

    /// `e`, about `filename` if given (a failure carried inside `e`, see
    /// [`OsFailure::into_io`], keeps its own file name and errno).
    pub fn of(e: &std::io::Error, filename: Option<&Path>) -> Self {
        if let Some(carried) = e.get_ref().and_then(|x| x.downcast_ref::<OsFailure>()) {
            let mut f = carried.clone();
            if f.filename.is_none() {
                f.filename = filename.map(|p| p.display().to_string());
            }
            return f;
        }
        let errno = e.raw_os_error();
        let text = e.to_string();
        // The system's words without Rust's " (os error N)".
        let message = match errno {
            Some(n) => text
                .strip_suffix(&format!(" (os error {n})"))
                .unwrap_or(&text)
                .to_string(),
            None => text,
        };
        OsFailure {
            kind: e.kind(),
            errno,
            filename: filename.map(|p| p.display().to_string()),
            message,
        }
    }
}

impl OsFailure {
    /// `e`, said to be about the file `path` (a writer's errors, which
    /// the code turning them into Python's `OSError` sees without it).
    pub fn at(e: &std::io::Error, path: &Path) -> Self {
        let mut f = OsFailure::of(e, None);
        f.filename = Some(path.display().to_string());
        f
    }

    /// As an `io::Error` that carries it whole (its errno and file name
    /// included) through code that passes `io::Error`s on.
    pub fn into_io(self) -> std::io::Error {
        std::io::Error::new(self.kind, self)
    }
}

/// An error with its place in the stream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{kind}{}", in_input(input.as_deref()), place(*offset, *message_index))]
pub struct Error {
    pub kind: ErrorKind,
    /// Absolute byte offset in the (decompressed) stream, when known.
    pub offset: Option<u64>,
    /// Zero-based index of the message, when known.
    pub message_index: Option<u64>,
    /// The input (a file's path, a capture's name) when several are read
    /// as one.
    pub input: Option<std::sync::Arc<str>>,
}

fn in_input(input: Option<&str>) -> String {
    input.map(|i| format!("{i}: ")).unwrap_or_default()
}

fn place(offset: Option<u64>, message_index: Option<u64>) -> String {
    match (offset, message_index) {
        (Some(o), Some(m)) => format!(" (at byte offset {o}, message {m})"),
        (Some(o), None) => format!(" (at byte offset {o})"),
        (None, Some(m)) => format!(" (in message {m})"),
        (None, None) => String::new(),
    }
}

/// Result alias used across the core.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// An error with no place yet (filled in by the caller that knows it).
    pub fn new(kind: ErrorKind) -> Self {
        Error {
            kind,
            offset: None,
            message_index: None,
            input: None,
        }
    }

    /// Set the place, keeping any place already recorded.
    #[must_use]
    pub fn at(mut self, offset: u64, message_index: u64) -> Self {
        if self.offset.is_none() {
            self.offset = Some(offset);
        }
        if self.message_index.is_none() {
            self.message_index = Some(message_index);
        }
        self
    }

    /// Name the input the error is in (kept if already named).
    #[must_use]
    pub fn in_input(mut self, input: &str) -> Self {
        if self.input.is_none() {
            self.input = Some(input.into());
        }
        self
    }

    /// Whether the error belongs to the decode family (as opposed to I/O or a
    /// configuration mistake).
    pub fn is_decode(&self) -> bool {
        !matches!(
            self.kind,
            ErrorKind::Io(..)
                | ErrorKind::BadSpec(_)
                | ErrorKind::LimitExceeded(_)
                | ErrorKind::Encode(_)
                | ErrorKind::Internal(_)
        )
    }
}

/// Run `f`, turning a panic into an [`ErrorKind::Internal`] error that
/// says what was being done (`doing`, e.g. "reading trace.pcap") and what
/// the panic said. Every entry from a foreign caller (Python, an Arrow C
/// stream consumer) goes through this: a panic must never unwind into C
/// (that aborts the process) nor reach Python as pyo3's `PanicException`.
/// The caller decides what state survives: one that panicked mid-way is
/// not used again.
pub fn catch_panic<T>(doing: impl FnOnce() -> String, f: impl FnOnce() -> T) -> Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|payload| {
        Error::new(ErrorKind::Internal(format!(
            "{} stopped: {}",
            doing(),
            panic_text(payload.as_ref())
        )))
    })
}

/// What a caught panic said.
pub fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_string())
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        if let Some(c) = e
            .get_ref()
            .and_then(|x| x.downcast_ref::<crate::source::Corrupt>())
        {
            return Error::new(ErrorKind::BadCompression(c.0.clone()));
        }
        Error::new(ErrorKind::Io(Box::new(OsFailure::of(&e, None))))
    }
}

impl Error {
    /// An operating-system error about the file `path`.
    pub fn os(e: &std::io::Error, path: &Path) -> Self {
        if let Some(c) = e
            .get_ref()
            .and_then(|x| x.downcast_ref::<crate::source::Corrupt>())
        {
            return Error::new(ErrorKind::BadCompression(c.0.clone()));
        }
        Error::new(ErrorKind::Io(Box::new(OsFailure::of(e, Some(path)))))
    }
}

#[cfg(test)]
mod tests {
    use super::{Error, ErrorKind, OsFailure};
    use std::path::Path;

    #[test]
    fn an_os_error_keeps_its_errno_file_and_words() {
        let missing = Path::new("/no/such/dir/x.ipfix");
        let io = std::fs::File::open(missing).unwrap_err();
        let e = Error::os(&io, missing);
        let ErrorKind::Io(os) = &e.kind else {
            panic!("{e:?}")
        };
        // ENOENT is 2 on every Unix this builds for; the words are the
        // system's own (io::Error's text less Rust's " (os error 2)").
        assert_eq!(os.errno, Some(2));
        assert_eq!(os.filename.as_deref(), Some("/no/such/dir/x.ipfix"));
        assert_eq!(format!("{} (os error 2)", os.message), io.to_string());
        assert_eq!(
            e.to_string(),
            format!("I/O error: /no/such/dir/x.ipfix: {}", os.message)
        );
        assert!(!e.is_decode());
    }

    #[test]
    fn the_place_and_input_frame_the_kind() {
        let e = Error::new(ErrorKind::BadSet("length 2".into()))
            .at(40, 1)
            .in_input("a.ipfix");
        assert_eq!(
            e.to_string(),
            "a.ipfix: bad set: length 2 (at byte offset 40, message 1)"
        );
        let e = Error::new(ErrorKind::Io(Box::new(OsFailure::other(
            std::io::ErrorKind::Interrupted,
            "stopped",
        ))));
        assert_eq!(e.to_string(), "I/O error: stopped");
    }
}
