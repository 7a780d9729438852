//! Byte sources of IPFIX message streams: RFC 5655 files and any reader of
//! concatenated messages (a TCP stream, a Python file object), with gzip and
//! zstd recognised by their magic numbers and undone on the fly. Messages of
//! a stream are read one at a time into a reused buffer of at most 65535
//! bytes: a 10 GB stream is never held whole, and a lying length field
//! cannot make it grow. Uncompressed files are memory-mapped instead and
//! bytes already in memory are used in place: messages are then slices of
//! the input, with no read call and no copy. Pages of a mapped file already
//! decoded are handed back to the kernel as the reading goes on, so the
//! resident memory of a mapping stays a few MiB whatever the file's size.
//! (A file truncated by another process while it is mapped makes the
//! reading process fail with SIGBUS, as with any memory-mapped reader; use
//! a file object to read a file that is being rewritten in place.)

use std::io::{self, Read};
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

mod capture;
mod compressed;
mod datagrams;

pub mod framing;
pub mod input;
mod live;
mod tcp;
pub use capture::{CaptureStats, Exporter};
pub use compressed::{decompressing, Corrupt};
pub use datagrams::{export_payload, MAX_SESSIONS};
pub use live::{LiveCounters, LiveOptions};

use crate::error::{Error, Result};
use crate::netflow::{Translator, Version};
use framing::{Framed, Framer};
use input::{Body, Opened, Whole};

/// A boxed byte reader.
pub type DynRead = Box<dyn Read + Send>;

/// Mapped bytes already decoded are released in steps of this size.
const RELEASE_STEP: usize = 2 << 20;

/// Bytes in memory shared with their owner (a `Vec`, an `Arc<[u8]>`, a
/// Python `bytes` object...), read where they are.
pub type SharedBytes = Arc<dyn AsRef<[u8]> + Send + Sync>;

enum Input {
    /// Messages read from a byte stream into `buf`; `carry` holds bytes
    /// read past a NetFlow v9 packet (the next packet's first flowset
    /// header), which start the next read.
    Stream {
        r: DynRead,
        buf: Vec<u8>,
        carry: Vec<u8>,
        framer: Framer,
    },
    /// The flow export inside a packet capture.
    Capture(Box<capture::Capture>),
    /// Datagrams and TCP messages received by listeners.
    Live(Box<live::Live>),
    /// Messages as slices of a whole input; `cur` is the current message.
    Whole {
        data: Whole,
        cur: Range<usize>,
        released: usize,
    },
}

/// Reads whole messages from a byte stream or a whole input: IPFIX
/// messages as they are, NetFlow v9 and v5 packets translated into IPFIX
/// messages (see [`crate::netflow`]).
pub struct MessageStream {
    input: Input,
    offset: u64,
    index: u64,
    done: bool,
    /// Protocol of the current message.
    version: Version,
    translator: Translator,
    /// The IPFIX translation of the current NetFlow packet.
    translated: Vec<u8>,
    /// An error found when opening, given by the first read.
    failed: Option<Error>,
}

/// What a live stream offers to other threads.
pub struct LiveHandle {
    pub local: Vec<(&'static str, std::net::SocketAddr)>,
    pub stop: Arc<std::sync::atomic::AtomicBool>,
    pub counters: Arc<LiveCounters>,
}

/// One message read from a stream.
pub struct RawMessage<'a> {
    /// The IPFIX message (a NetFlow packet's translation).
    pub bytes: &'a [u8],
    /// Stream offset of the message's (or packet's) first byte.
    pub offset: u64,
    /// Zero-based message number.
    pub index: u64,
    /// What the stream carried: IPFIX, or the NetFlow version translated.
    pub version: Version,
    /// Transport session: 0 for a plain stream, from 1 for each exporter
    /// and collector pair of a capture.
    pub session: u64,
    /// The sender, for messages read from a capture.
    pub exporter: Option<Exporter>,
    /// Packet number in the capture (from 1), for messages of a capture.
    pub frame: Option<u64>,
    /// The message came in a UDP datagram (a capture's or a listener's):
    /// templates expire and data may precede its template (RFC 7011 §8.4).
    pub udp: bool,
    /// When a live listener received it, seconds since the epoch.
    pub received: Option<u32>,
}

/// Read until `buf` is full or the input ends; the count read.
pub(crate) fn read_full<R: Read + ?Sized>(r: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            // `read` returns at most the slice's length: got + n <= buf.len().
            Ok(n) => got = got.saturating_add(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

impl MessageStream {
    /// Messages of a reader (decompressed if it is gzip or zstd).
    pub fn new(r: DynRead) -> Self {
        match Opened::reader(r) {
            Ok(o) => Self::from_opened(o),
            Err(e) => Self::failed(e.into()),
        }
    }

    /// Messages of an opened input: the flow export of a capture, or the
    /// messages of a file, bytes or a stream.
    pub fn from_opened(o: Opened) -> Self {
        match (o.body, o.capture) {
            (Body::Whole(w), true) => Self::capture_whole(Box::new(w)),
            (Body::Whole(data), false) => Self::with_input(Input::Whole {
                data,
                cur: 0..0,
                released: 0,
            }),
            (Body::Stream(r), true) => Self::capture(r),
            (Body::Stream(r), false) => Self::with_input(Input::Stream {
                r,
                buf: Vec::with_capacity(1 << 16),
                carry: Vec::new(),
                framer: Framer::default(),
            }),
        }
    }

    /// A stream whose first read gives `e`.
    fn failed(e: Error) -> Self {
        let mut s = Self::with_input(Input::Stream {
            r: Box::new(io::empty()),
            buf: Vec::new(),
            carry: Vec::new(),
            framer: Framer::default(),
        });
        s.failed = Some(e);
        s
    }

    /// Messages of a capture's flow export; a capture whose header cannot
    /// be read gives that error from the first read.
    fn capture(r: DynRead) -> Self {
        Self::capture_from(capture::Capture::new(r))
    }

    /// Messages of a capture in memory (read in place).
    fn capture_whole(whole: crate::pcap::WholeBytes) -> Self {
        Self::capture_from(capture::Capture::from_whole(whole))
    }

    fn capture_from(c: Result<capture::Capture>) -> Self {
        match c {
            Ok(c) => Self::with_input(Input::Capture(Box::new(c))),
            Err(e) => Self::failed(e),
        }
    }

    /// Messages received by UDP and TCP listeners (see [`LiveOptions`]);
    /// [`MessageStream::advance`] returns `Ok(false)` when
    /// `opts.interval` passes without a message, and the stream is over
    /// ([`MessageStream::is_done`]) once stopped and drained.
    pub fn listen(opts: &LiveOptions) -> io::Result<Self> {
        Ok(Self::with_input(Input::Live(Box::new(live::Live::bind(
            opts,
        )?))))
    }

    /// For a live stream: the addresses listened on ("udp"/"tcp", address;
    /// a port 0 asked for is the one the system gave), the flag that stops
    /// the listeners (settable from any thread), and the counters.
    pub fn live(&self) -> Option<LiveHandle> {
        match &self.input {
            Input::Live(l) => Some(LiveHandle {
                local: l.local.clone(),
                stop: l.stopper(),
                counters: l.counters.clone(),
            }),
            _ => None,
        }
    }

    /// Counters of the capture layer, for a capture.
    /// For a capture: read flow export only from UDP datagrams and TCP
    /// connections to or from these ports (None: any port, by content).
    pub fn set_export_ports(&mut self, ports: Option<Vec<u16>>) {
        if let Input::Capture(c) = &mut self.input {
            c.ports = ports;
        }
    }

    /// Fold what the NetFlow translators of a capture's or a listener's
    /// sessions hold into the decoder's health `h`.
    pub fn add_translator_health(&self, h: &mut crate::decode::Health) {
        match &self.input {
            Input::Capture(c) => c.d.add_translator_health(h),
            Input::Live(l) => l.d.add_translator_health(h),
            _ => {}
        }
    }

    pub fn capture_stats(&self) -> Option<CaptureStats> {
        match &self.input {
            Input::Capture(c) => Some(c.stats()),
            _ => None,
        }
    }

    fn with_input(input: Input) -> Self {
        MessageStream {
            input,
            offset: 0,
            index: 0,
            done: false,
            version: Version::Ipfix,
            translator: Translator::new(),
            translated: Vec::new(),
            failed: None,
        }
    }

    /// Messages of bytes in memory (decompressed on the fly if they are
    /// gzip or zstd; used in place otherwise).
    pub fn from_shared(data: Arc<[u8]>) -> io::Result<Self> {
        Self::from_bytes_of(Arc::new(data))
    }

    /// Messages of bytes in memory kept by their owner (see
    /// [`MessageStream::from_shared`]): nothing is copied unless
    /// decompressed.
    pub fn from_bytes_of(data: SharedBytes) -> io::Result<Self> {
        Ok(Self::from_opened(Opened::bytes(data)?))
    }

    /// Messages of a file: mapped when it is a plain regular file, read
    /// (and decompressed) as a stream otherwise.
    pub fn open(path: &Path) -> io::Result<Self> {
        Ok(Self::from_opened(Opened::path(path)?))
    }

    /// Whether the stream is over (at its end, or after an error that
    /// leaves its framing untrustworthy). An error from a capture's datagram
    /// or a NetFlow packet's translation leaves it going.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Advance to the next message, stepping over errors that leave the
    /// stream going (a capture's bad datagram); `false` at the end or
    /// after an error that ends it. For the pre-scans, which only look.
    pub fn advance_past_errors(&mut self) -> bool {
        loop {
            match self.advance() {
                Ok(got) => return got,
                Err(_) if self.is_done() => return false,
                Err(_) => {}
            }
        }
    }

    /// Bytes consumed so far.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Messages read so far.
    pub fn messages(&self) -> u64 {
        self.index
    }

    /// The next message, `Ok(None)` at a clean end of stream. After an
    /// error the stream is over: message framing cannot be trusted.
    pub fn next_message(&mut self) -> Result<Option<RawMessage<'_>>> {
        if self.advance()? {
            Ok(Some(self.current()))
        } else {
            Ok(None)
        }
    }

    /// The message read by the last successful [`MessageStream::advance`].
    pub fn current(&self) -> RawMessage<'_> {
        if let Input::Live(l) = &self.input {
            let p = l.d.place();
            return RawMessage {
                bytes: l.d.bytes(),
                offset: p.offset,
                index: p.index,
                version: l.d.version,
                session: p.session,
                exporter: Some(p.exporter),
                frame: None,
                udp: p.udp,
                received: p.received,
            };
        }
        if let Input::Capture(c) = &self.input {
            let p = c.d.place();
            return RawMessage {
                bytes: c.bytes(),
                offset: p.offset,
                index: p.index,
                version: c.d.version,
                session: p.session,
                exporter: Some(p.exporter),
                frame: Some(p.frame),
                udp: p.udp,
                received: None,
            };
        }
        let raw = match &self.input {
            Input::Stream { buf, .. } => buf.as_slice(),
            Input::Whole { data, cur, .. } => data.as_ref().get(cur.clone()).unwrap_or_default(),
            Input::Capture(_) | Input::Live(_) => &[],
        };
        let bytes = if self.version == Version::Ipfix {
            raw
        } else {
            self.translated.as_slice()
        };
        RawMessage {
            bytes,
            // offset was advanced past this message (`next`).
            offset: self.offset.saturating_sub(raw.len() as u64),
            index: self.index.saturating_sub(1),
            version: self.version,
            session: 0,
            exporter: None,
            frame: None,
            udp: false,
            received: None,
        }
    }

    /// Read the next message into the buffer; `Ok(false)` at a clean end.
    /// (Split from `current` so the read can run without borrowing.)
    pub fn advance(&mut self) -> Result<bool> {
        if let Some(e) = self.failed.take() {
            self.done = true;
            return Err(e);
        }
        if self.done {
            return Ok(false);
        }
        if let Input::Live(l) = &mut self.input {
            return match l.advance() {
                Ok(live::Step::Message) => {
                    self.index = self.index.saturating_add(1);
                    Ok(true)
                }
                Ok(live::Step::Idle) => Ok(false),
                Ok(live::Step::End) => {
                    self.done = true;
                    Ok(false)
                }
                Err(e) => Err(e),
            };
        }
        if let Input::Capture(c) = &mut self.input {
            let r = c.advance();
            self.offset = c.consumed();
            return match r {
                Ok(true) => {
                    self.index = self.index.saturating_add(1);
                    Ok(true)
                }
                Ok(false) => {
                    self.done = true;
                    Ok(false)
                }
                Err(e) => Err(e),
            };
        }
        let at = self.offset;
        let index = self.index;
        let got = match &mut self.input {
            Input::Stream {
                r,
                buf,
                carry,
                framer,
            } => read_packet(r, buf, carry, framer),
            Input::Capture(_) | Input::Live(_) => Ok(None),
            Input::Whole {
                data,
                cur,
                released,
            } => {
                let rest = usize::try_from(at)
                    .ok()
                    .and_then(|a| data.as_ref().get(a..))
                    .unwrap_or_default();
                let r = framing::frame(rest).map_err(|(e, rel)| (e, rest.len(), rel));
                if let Ok(Some((_, len))) = r {
                    let start = usize::try_from(at).unwrap_or(usize::MAX);
                    *cur = start..start.saturating_add(len);
                    release(data, released, start);
                }
                r
            }
        };
        let failed = |e: Error, consumed: usize, rel: usize, s: &mut Self| {
            s.done = true;
            s.offset = s.offset.saturating_add(consumed as u64);
            e.at(at.saturating_add(rel as u64), index)
        };
        match got {
            Ok(Some((version, len))) => {
                self.offset = self.offset.saturating_add(len as u64);
                self.index = self.index.saturating_add(1);
                self.version = version;
                if version != Version::Ipfix {
                    let raw = match &self.input {
                        Input::Stream { buf, .. } => buf.as_slice(),
                        Input::Whole { data, cur, .. } => {
                            data.as_ref().get(cur.clone()).unwrap_or_default()
                        }
                        Input::Capture(_) | Input::Live(_) => &[],
                    };
                    if let Err((e, rel)) =
                        self.translator
                            .translate(version, raw, &mut self.translated)
                    {
                        // The packet's framing held: the next one can be read.
                        return Err(e.at(at.saturating_add(rel as u64), index));
                    }
                }
                Ok(true)
            }
            Ok(None) => {
                self.done = true;
                Ok(false)
            }
            Err((e, consumed, rel)) => Err(failed(e, consumed, rel, self)),
        }
    }
}

/// What reading one packet gave: its version and length, the end, or an
/// error with the bytes consumed before it and its offset in the packet.
type Step = std::result::Result<Option<(Version, usize)>, (Error, usize, usize)>;

/// Read the next packet of a stream into `buf`, exactly the bytes the
/// framer asks for (a pipe or socket is never read ahead of the packet it
/// delivers); bytes read past a v9 packet (the next packet's first flowset
/// header) are kept in `carry` for the next read.
fn read_packet(
    r: &mut DynRead,
    buf: &mut Vec<u8>,
    carry: &mut Vec<u8>,
    framer: &mut Framer,
) -> Step {
    buf.clear();
    buf.append(carry);
    let mut at_end = false;
    loop {
        match framer.step(buf, at_end) {
            Ok(Framed::Packet(version, len)) => {
                if let Some(rest) = buf.get(len..) {
                    carry.extend_from_slice(rest);
                }
                buf.truncate(len);
                return Ok(Some((version, len)));
            }
            Ok(Framed::End) => return Ok(None),
            Ok(Framed::Need(want)) => {
                let have = buf.len();
                buf.resize(want, 0);
                let got = read_full(r, buf.get_mut(have..).unwrap_or_default())
                    .map_err(|e| (e.into(), have, 0))?;
                buf.truncate(have.saturating_add(got));
                at_end = buf.len() < want;
            }
            Err((e, rel)) => return Err((e, buf.len(), rel)),
        }
    }
}

/// Hand the pages of a mapping before `upto` back to the kernel, a step at
/// a time (they are read again from the file if ever touched again).
fn release(data: &Whole, released: &mut usize, upto: usize) {
    // Offsets in a mapping: far from usize::MAX.
    if upto < released.saturating_add(2 * RELEASE_STEP) {
        return;
    }
    let end = upto.saturating_sub(RELEASE_STEP) & !(RELEASE_STEP - 1);
    if end <= *released {
        return;
    }
    // No slice into the released range is alive: the message being
    // decoded starts at `upto`, beyond it.
    crate::pcap::InMemory::release(data, *released..end);
    *released = end;
}

#[cfg(test)]
mod tests;
