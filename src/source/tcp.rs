//! IPFIX over TCP inside captures (RFC 7011 §10.4): each direction of a TCP
//! connection whose bytes are IPFIX messages back to back is put together
//! again from its segments (in any order, retransmitted or overlapping)
//! and cut into messages by their length fields.
//!
//! A stream is known to be IPFIX by its content: after the SYN, its first
//! bytes must be a message header whose first sets are well formed; a
//! stream caught after its start (no SYN in the capture), or one that lost
//! bytes (a segment the capture missed), is searched for the next such
//! header. Bytes that cannot be read are counted ([`TcpStats`]), never an
//! error; a message that is framed but malformed goes to the decoder,
//! which reports it with its offset. Memory is bounded: one partial
//! message and [`MAX_AHEAD`] bytes of out-of-order data per stream,
//! [`MAX_FLOWS`] streams followed at once. Sequence numbers become stream
//! positions, and segments are placed against the next octet expected, by
//! [`crate::tcpseq`] (RFC 9293 §3.4); this file holds the IPFIX framing.

use std::collections::{BTreeMap, HashMap, VecDeque};

use super::capture::Exporter;
use super::framing::{Framed, Framer};
use crate::packet::{self, Tcp};
use crate::tcpseq::{classify, Placement, Unwrapper};

/// TCP connections (one direction each) followed at once.
pub const MAX_FLOWS: usize = 65_536;
/// Out-of-order bytes held per stream before the hole is given up on.
pub const MAX_AHEAD: usize = 4 << 20;
/// Out-of-order segments held per stream.
pub const MAX_AHEAD_SEGMENTS: usize = 4096;
/// Segments of a stream caught mid-way searched for a message header
/// before the stream is taken for other traffic.
const PROBES: u8 = 8;
/// The shortest prefix that shows a message header: the header and the
/// first set header.
const SHOWN: usize = 20;

type Key = (Exporter, Exporter);

/// Counters of the TCP streams.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TcpStats {
    /// TCP segments of IPFIX streams.
    pub segments: u64,
    /// IPFIX streams (connections, one direction each).
    pub streams: u64,
    /// Holes in streams (bytes the capture lacks) skipped.
    pub gaps: u64,
    /// Stream bytes not read: lost in holes, cut off at the end of the
    /// capture, or passed over while looking for a message header.
    pub bytes_skipped: u64,
    /// Segments (or parts) received again and dropped.
    pub retransmitted: u64,
}

/// What the streams give: a message, or the end of a connection.
pub enum Ready {
    Message {
        key: Key,
        bytes: Vec<u8>,
        offset: u64,
        frame: u64,
    },
    /// The connection ended (FIN, RST, or a new SYN on the same
    /// addresses): its templates go with it.
    End(Key),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Unknown,
    Ipfix,
    Other,
}

struct Segment {
    data: Vec<u8>,
    offset: u64,
    frame: u64,
}

struct Flow {
    mode: Mode,
    /// Sequence numbers to stream positions (position 0: the octet after
    /// the SYN, or the first one seen), its reference kept at `next_pos`.
    seq: Option<Unwrapper>,
    /// The stream position of the next octet expected.
    next_pos: u64,
    /// Contiguous bytes not yet cut into messages, from stream position
    /// `next_pos - buf.len()`.
    buf: Vec<u8>,
    /// Where in the capture stream positions are: (position, file offset,
    /// frame) at the start of each segment still in `buf`.
    marks: VecDeque<(u64, u64, u64)>,
    /// `buf` starts at a message boundary.
    synced: bool,
    ahead: BTreeMap<u64, Segment>,
    ahead_bytes: usize,
    probes: u8,
    /// Bytes passed over before the stream was known to be IPFIX.
    unread: u64,
    syn: Option<u32>,
    closing: bool,
}

impl Flow {
    fn new() -> Self {
        Flow {
            mode: Mode::Unknown,
            seq: None,
            next_pos: 0,
            buf: Vec::new(),
            marks: VecDeque::new(),
            synced: false,
            ahead: BTreeMap::new(),
            ahead_bytes: 0,
            probes: 0,
            unread: 0,
            syn: None,
            closing: false,
        }
    }
}

/// How a prefix of a stream reads as an IPFIX message.
#[derive(Debug, PartialEq, Eq)]
enum Check {
    /// A message of this length (its sets fit it exactly).
    Message(usize),
    /// Consistent so far.
    NeedMore,
    No,
}

/// Whether `b` starts with an IPFIX message: version 10, a length of at
/// least 16, and set headers (template, options template or data set ids,
/// lengths of at least 4) that tile the message as far as `b` goes.
fn check(b: &[u8]) -> Check {
    if b.len() < 4 {
        let ok = b.first().is_none_or(|&x| x == 0) && b.get(1).is_none_or(|&x| x == 10);
        return if ok { Check::NeedMore } else { Check::No };
    }
    let (version, len) = (
        u16::from_be_bytes([b[0], b[1]]),
        usize::from(u16::from_be_bytes([b[2], b[3]])),
    );
    if version != 10 || len < 16 {
        return Check::No;
    }
    // at < len < 2^16 in the loop: no sum below saturates.
    let mut at: usize = 16;
    while at < len {
        if at.saturating_add(4) > len {
            return Check::No;
        }
        let Some(&[i0, i1, l0, l1]) = b.get(at..at.saturating_add(4)) else {
            return Check::NeedMore;
        };
        let id = u16::from_be_bytes([i0, i1]);
        let slen = usize::from(u16::from_be_bytes([l0, l1]));
        if !(id == 2 || id == 3 || id >= 256) || slen < 4 || at.saturating_add(slen) > len {
            return Check::No;
        }
        at = at.saturating_add(slen);
    }
    if b.len() < 16 {
        Check::NeedMore
    } else {
        Check::Message(len)
    }
}

/// Whether `b` shows the start of an IPFIX message (enough of it read to
/// tell).
fn shows_message(b: &[u8]) -> bool {
    match check(b) {
        Check::Message(_) => true,
        Check::NeedMore => b.len() >= SHOWN,
        Check::No => false,
    }
}

/// The TCP streams of a capture.
#[derive(Default)]
pub struct Streams {
    flows: HashMap<Key, Flow>,
    ready: VecDeque<Ready>,
    pub stats: TcpStats,
}

impl Streams {
    /// The next message or connection end put together.
    pub fn pop(&mut self) -> Option<Ready> {
        self.ready.pop_front()
    }

    /// Take a TCP segment of `key` (its payload at `offset` of the input,
    /// in packet `frame`); whether it belongs to an IPFIX stream.
    pub fn segment(&mut self, key: Key, t: &Tcp<'_>, offset: u64, frame: u64) -> bool {
        if t.flags & packet::SYN != 0 {
            if let Some(f) = self.flows.get(&key) {
                if f.syn == Some(t.seq) {
                    // The SYN again.
                    return f.mode == Mode::Ipfix;
                }
                self.close(key);
            }
        }
        if !self.flows.contains_key(&key) {
            if t.payload.is_empty() && t.flags & packet::SYN == 0 {
                return false;
            }
            if self.flows.len() >= MAX_FLOWS {
                self.flows.retain(|_, f| f.mode == Mode::Ipfix);
                if self.flows.len() >= MAX_FLOWS {
                    return false;
                }
            }
            let mut f = Flow::new();
            if t.flags & packet::SYN != 0 {
                f.syn = Some(t.seq);
                f.seq = Some(Unwrapper::new(t.seq.wrapping_add(1)));
                f.synced = true;
            }
            self.flows.insert(key, f);
        }
        let Some(f) = self.flows.get_mut(&key) else {
            return false;
        };
        if f.mode == Mode::Other {
            return false;
        }
        let was = f.mode;
        if !t.payload.is_empty() {
            // A flow without a SYN starts at its first segment (its
            // next_pos is still 0).
            let pos = f
                .seq
                .get_or_insert_with(|| Unwrapper::new(t.seq))
                .position(t.seq);
            self.add(key, pos, t.payload, offset, frame);
        }
        let Some(f) = self.flows.get_mut(&key) else {
            return false;
        };
        let ipfix = f.mode == Mode::Ipfix;
        if ipfix {
            self.stats.segments = self.stats.segments.saturating_add(1);
            if was != Mode::Ipfix {
                self.stats.streams = self.stats.streams.saturating_add(1);
            }
        }
        if t.flags & (packet::FIN | packet::RST) != 0 {
            f.closing = true;
        }
        if f.closing && (f.ahead.is_empty() || t.flags & packet::RST != 0) {
            self.close(key);
        } else if f.mode == Mode::Other {
            *f = Flow {
                mode: Mode::Other,
                ..Flow::new()
            };
        }
        ipfix
    }

    /// Add `data` at stream position `pos`.
    fn add(&mut self, key: Key, pos: u64, data: &[u8], offset: u64, frame: u64) {
        let Some(f) = self.flows.get_mut(&key) else {
            return;
        };
        match classify(pos, data.len() as u64, f.next_pos) {
            Placement::Retransmitted => {
                self.stats.retransmitted = self.stats.retransmitted.saturating_add(1);
                return;
            }
            Placement::Overlap { seen } => {
                // Partly received already: keep the new part.
                self.stats.retransmitted = self.stats.retransmitted.saturating_add(1);
                // seen < data.len() (classify's Overlap).
                let new = data.get(seen as usize..).unwrap_or_default();
                append(f, new, offset.saturating_add(seen), frame);
            }
            Placement::New => append(f, data, offset, frame),
            Placement::Ahead { .. } => {
                if !f.ahead.contains_key(&pos) {
                    f.ahead_bytes = f.ahead_bytes.saturating_add(data.len());
                    f.ahead.insert(
                        pos,
                        Segment {
                            data: data.to_vec(),
                            offset,
                            frame,
                        },
                    );
                }
                if f.ahead_bytes > MAX_AHEAD || f.ahead.len() > MAX_AHEAD_SEGMENTS {
                    self.skip_hole(key);
                }
                return;
            }
        }
        self.fill_from_ahead(key);
        self.cut(key);
    }

    /// Move out-of-order segments that now follow on into the buffer.
    fn fill_from_ahead(&mut self, key: Key) {
        let Some(f) = self.flows.get_mut(&key) else {
            return;
        };
        while let Some((&pos, s)) = f.ahead.first_key_value() {
            // How much of the first segment was received already (None:
            // all of it); a segment after a hole stays where it is.
            let seen = match classify(pos, s.data.len() as u64, f.next_pos) {
                Placement::Ahead { .. } => break,
                Placement::Retransmitted => None,
                Placement::Overlap { seen } => Some(seen),
                Placement::New => Some(0),
            };
            let Some((_, s)) = f.ahead.pop_first() else {
                break;
            };
            f.ahead_bytes = f.ahead_bytes.saturating_sub(s.data.len());
            match seen {
                None => self.stats.retransmitted = self.stats.retransmitted.saturating_add(1),
                Some(seen) => {
                    // seen < s.data.len() (classify's Overlap).
                    let new = s.data.get(seen as usize..).unwrap_or_default();
                    append(f, new, s.offset.saturating_add(seen), s.frame);
                }
            }
        }
    }

    /// Give up on the hole before the first out-of-order segment: the
    /// partial message is lost, and the stream is searched for the next
    /// message header after the hole.
    fn skip_hole(&mut self, key: Key) {
        let Some(f) = self.flows.get_mut(&key) else {
            return;
        };
        let Some((&pos, _)) = f.ahead.first_key_value() else {
            return;
        };
        let lost = (f.buf.len() as u64).saturating_add(pos.wrapping_sub(f.next_pos));
        if f.mode == Mode::Ipfix {
            self.stats.gaps = self.stats.gaps.saturating_add(1);
            self.stats.bytes_skipped = self.stats.bytes_skipped.saturating_add(lost);
        }
        f.buf.clear();
        f.marks.clear();
        f.next_pos = pos;
        if let Some(u) = f.seq.as_mut() {
            u.advance_to(pos);
        }
        f.synced = false;
        self.fill_from_ahead(key);
        self.cut(key);
    }

    /// Cut the buffered bytes into messages.
    fn cut(&mut self, key: Key) {
        let Some(f) = self.flows.get_mut(&key) else {
            return;
        };
        let mut used = 0;
        loop {
            let rest = &f.buf[used..];
            if rest.is_empty() {
                break;
            }
            if !f.synced {
                match find_header(rest) {
                    Ok(at) => {
                        self.stats.bytes_skipped = self
                            .stats
                            .bytes_skipped
                            .saturating_add((at as u64).saturating_add(f.unread));
                        f.unread = 0;
                        used = used.saturating_add(at);
                        f.synced = true;
                        f.mode = Mode::Ipfix;
                        continue;
                    }
                    Err(keep) => {
                        // keep <= rest.len(): a suffix of rest is kept.
                        let drop = rest.len().saturating_sub(keep);
                        used = used.saturating_add(drop);
                        if f.mode == Mode::Ipfix {
                            self.stats.bytes_skipped =
                                self.stats.bytes_skipped.saturating_add(drop as u64);
                        } else {
                            f.unread = f.unread.saturating_add(drop as u64);
                            f.probes = f.probes.saturating_add(1);
                            if f.probes >= PROBES {
                                f.mode = Mode::Other;
                            }
                        }
                        break;
                    }
                }
            }
            if f.mode == Mode::Unknown {
                // The first bytes after the SYN: an IPFIX stream starts
                // with a message.
                if shows_message(rest) {
                    f.mode = Mode::Ipfix;
                } else if check(rest) == Check::No {
                    f.mode = Mode::Other;
                    break;
                } else {
                    break;
                }
            }
            // Framed as every other input is; only IPFIX travels over TCP
            // here (RFC 7011 §10.4).
            let ipfix = rest.get(..2).is_none_or(|v| v == [0, 10]);
            let framed = if ipfix {
                Framer::default().step(rest, false).ok()
            } else {
                None
            };
            let len = match framed {
                Some(Framed::Packet(_, len)) => len,
                Some(Framed::Need(_) | Framed::End) => break,
                None => {
                    // Not a message where one should start: look for the next.
                    f.synced = false;
                    self.stats.bytes_skipped = self.stats.bytes_skipped.saturating_add(1);
                    used = used.saturating_add(1);
                    continue;
                }
            };
            // Stream positions are modulo 2^64 like the sequence numbers
            // they come from (compared by wrapping differences): wrapping.
            // used <= buf.len() (rest is buf[used..]).
            let pos = f
                .next_pos
                .wrapping_sub(f.buf.len().saturating_sub(used) as u64);
            let (offset, frame) = place(&f.marks, pos);
            self.ready.push_back(Ready::Message {
                key,
                bytes: rest[..len].to_vec(),
                offset,
                frame,
            });
            used = used.saturating_add(len);
        }
        f.buf.drain(..used);
        let start = f.next_pos.wrapping_sub(f.buf.len() as u64);
        while f.marks.len() > 1 && f.marks[1].0 <= start {
            f.marks.pop_front();
        }
        if f.mode == Mode::Other {
            f.buf = Vec::new();
            f.marks.clear();
        }
    }

    /// End the connection `key`: what is left of it is counted as skipped.
    fn close(&mut self, key: Key) {
        let Some(f) = self.flows.remove(&key) else {
            return;
        };
        if f.mode == Mode::Ipfix {
            self.stats.bytes_skipped = self
                .stats
                .bytes_skipped
                .saturating_add((f.buf.len() as u64).saturating_add(f.ahead_bytes as u64));
            self.ready.push_back(Ready::End(key));
        }
    }

    /// The capture ended: the holes left are skipped (what follows them
    /// is read), then every stream ends.
    pub fn finish(&mut self) {
        let keys: Vec<Key> = self.flows.keys().copied().collect();
        for key in keys {
            while self.flows.get(&key).is_some_and(|f| !f.ahead.is_empty()) {
                self.skip_hole(key);
            }
            self.close(key);
        }
    }
}

/// Append contiguous data to the stream.
fn append(f: &mut Flow, data: &[u8], offset: u64, frame: u64) {
    if data.is_empty() {
        return;
    }
    f.marks.push_back((f.next_pos, offset, frame));
    f.buf.extend_from_slice(data);
    // Stream positions are modulo 2^64 (see `cut`): wrapping.
    f.next_pos = f.next_pos.wrapping_add(data.len() as u64);
    if let Some(u) = f.seq.as_mut() {
        u.advance_to(f.next_pos);
    }
}

/// The file offset and frame of stream position `pos`.
fn place(marks: &VecDeque<(u64, u64, u64)>, pos: u64) -> (u64, u64) {
    match marks.iter().rev().find(|m| m.0 <= pos) {
        // at <= pos (found so).
        Some(&(at, offset, frame)) => (offset.saturating_add(pos.saturating_sub(at)), frame),
        None => (0, 0),
    }
}

/// The first position of `b` where a message header shows; else how many
/// bytes at the end to keep (they may start one).
fn find_header(b: &[u8]) -> std::result::Result<usize, usize> {
    let mut at: usize = 0;
    while let Some(&[x, y]) = b.get(at..at.saturating_add(2)) {
        if x == 0 && y == 10 {
            let rest = b.get(at..).unwrap_or_default();
            if shows_message(rest) {
                return Ok(at);
            }
            if rest.len() < SHOWN && check(rest) == Check::NeedMore {
                return Err(rest.len());
            }
        }
        at = at.saturating_add(1);
    }
    Err(usize::from(b.last() == Some(&0)))
}

#[cfg(test)]
#[path = "tcp_tests.rs"]
mod tests;
