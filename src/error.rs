//! Core error type. Every decode error carries its kind and its place: the
//! absolute byte offset in the stream and the index of the message it was
//! found in (house rule 3). `src/python/errors.rs` maps these onto the
//! Python exception tree.

use std::fmt;

/// What went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorKind {
    /// The message header is not IPFIX (RFC 7011 §3.1): wrong version, a length
    /// shorter than the header, or a message cut short by the end of input.
    BadMessageHeader(String),
    /// The input ended inside a message.
    Truncated { needed: u64, available: u64 },
    /// A set header is malformed or overruns its message (RFC 7011 §3.3.2).
    BadSet(String),
    /// A template or options template record is malformed (RFC 7011 §3.4).
    BadTemplate(String),
    /// A data record does not fit its set, or a variable-length field
    /// overruns it (RFC 7011 §7).
    BadRecord(String),
    /// A data set refers to a template that is not known in its scope
    /// (RFC 7011 §8: (transport session, observation domain, template id)).
    MissingTemplate {
        observation_domain_id: u32,
        template_id: u16,
    },
    /// A configured limit (templates per session, list depth, ...) was hit.
    LimitExceeded(String),
    /// An IESpec string or spec file line could not be parsed.
    BadSpec(String),
    /// Reading the source failed.
    Io(std::io::ErrorKind, String),
    /// A packet capture (pcap, pcapng) is malformed or cut short.
    BadCapture(String),
    /// gzip or zstd data that does not decode.
    BadCompression(String),
    /// A value, record or template cannot be written as asked (the
    /// exporter's refusals: wrong type, out of range, too long, unknown
    /// template).
    Encode(String),
    /// A bug in ferrofix: a panic caught at the boundary ([`catch_panic`]),
    /// with what was being done and the panic's message.
    Internal(String),
}

/// An error with its place in the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
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

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::BadMessageHeader(s) => write!(f, "bad message header: {s}"),
            ErrorKind::Truncated { needed, available } => write!(
                f,
                "input ends inside a message: {needed} bytes needed, {available} available"
            ),
            ErrorKind::BadSet(s) => write!(f, "bad set: {s}"),
            ErrorKind::BadTemplate(s) => write!(f, "bad template: {s}"),
            ErrorKind::BadRecord(s) => write!(f, "bad data record: {s}"),
            ErrorKind::MissingTemplate {
                observation_domain_id,
                template_id,
            } => write!(
                f,
                "data set for template {template_id} in observation domain \
                 {observation_domain_id} arrived before its template"
            ),
            ErrorKind::LimitExceeded(s) => write!(f, "limit exceeded: {s}"),
            ErrorKind::BadSpec(s) => write!(f, "bad IESpec: {s}"),
            ErrorKind::BadCapture(s) => write!(f, "bad capture: {s}"),
            ErrorKind::BadCompression(s) => write!(f, "bad compressed data: {s}"),
            ErrorKind::Io(_, s) => write!(f, "I/O error: {s}"),
            ErrorKind::Encode(s) => write!(f, "cannot encode: {s}"),
            ErrorKind::Internal(s) => write!(
                f,
                "internal error (a bug in ferrofix; please report it with the input): {s}"
            ),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(input) = &self.input {
            write!(f, "{input}: ")?;
        }
        write!(f, "{}", self.kind)?;
        match (self.offset, self.message_index) {
            (Some(o), Some(m)) => write!(f, " (at byte offset {o}, message {m})"),
            (Some(o), None) => write!(f, " (at byte offset {o})"),
            (None, Some(m)) => write!(f, " (in message {m})"),
            (None, None) => Ok(()),
        }
    }
}

impl std::error::Error for Error {}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        if let Some(c) = e
            .get_ref()
            .and_then(|x| x.downcast_ref::<crate::source::Corrupt>())
        {
            return Error::new(ErrorKind::BadCompression(c.0.clone()));
        }
        Error::new(ErrorKind::Io(e.kind(), e.to_string()))
    }
}
