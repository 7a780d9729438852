//! The one packet framer (issue 13): where the next IPFIX message
//! (RFC 7011 §3.1, by its length field), NetFlow v5 packet (by its record
//! count) or NetFlow v9 packet (RFC 3954 §5.1: no length, its flowsets run
//! to the next packet's version or the input's end) ends. Files and bytes
//! in memory, byte streams, and captures' datagrams and TCP streams all
//! frame through [`Framer::step`]; only how more bytes arrive differs.
//!
//! Bounded by design: a packet is never framed past 65,535 bytes (the most
//! an IPFIX length field or a UDP datagram can hold), zero padding
//! included, so a stream of zeros, endless padding or a length that
//! promises more than ever comes costs at most one packet's buffer before
//! it is an error; and each step either frames a packet, asks for more
//! bytes than it has, or fails (it never asks for what it already has).

use crate::error::{Error, ErrorKind};
use crate::netflow::{extent, starts_packet, Extent, Version};
use crate::wire::be16;

/// Largest packet framed: the largest IPFIX message, and more than a
/// NetFlow v9 packet (a UDP payload) can hold; the bound keeps a stream
/// without version marks from growing a packet.
pub const MAX_PACKET: usize = 65_535;

/// What the bytes at hand say about the next packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framed {
    /// A packet of this version and length starts the bytes.
    Packet(Version, usize),
    /// At least this many bytes (more than are at hand) are needed to tell.
    Need(usize),
    /// No bytes, and none will come.
    End,
}

/// An error at a byte offset in the packet being framed.
pub type FrameError = (Error, usize);

/// Frames packets one at a time. Between the calls of one packet it keeps
/// how far a v9 packet's flowsets were walked, so a stream that supplies
/// bytes as they are asked for is walked once, not once per step.
#[derive(Debug, Default, Clone)]
pub struct Framer {
    walked: usize,
}

impl Framer {
    /// Frame the packet at the start of `data`; `at_end`: no more bytes
    /// will come after `data`. Errors carry their offset in the packet.
    pub fn step(&mut self, data: &[u8], at_end: bool) -> Result<Framed, FrameError> {
        let r = self.step_inner(data, at_end);
        if !matches!(r, Ok(Framed::Need(_))) {
            self.walked = 0;
        }
        r
    }

    fn step_inner(&mut self, data: &[u8], at_end: bool) -> Result<Framed, FrameError> {
        let need = |n: usize| {
            if at_end {
                Err(truncated(n, data.len(), 0))
            } else {
                Ok(Framed::Need(n))
            }
        };
        if data.is_empty() && at_end {
            return Ok(Framed::End);
        }
        let Some(first) = be16(data, 0) else {
            return need(2);
        };
        let Some(version) = Version::of(first) else {
            return Err(bad(
                ErrorKind::BadMessageHeader(format!(
                    "version {first} is not IPFIX (10), NetFlow v9 or NetFlow v5"
                )),
                0,
            ));
        };
        let hl = version.header_len();
        if data.len() < hl {
            return need(hl);
        }
        match extent(version, data)? {
            Extent::Fixed(len) if data.len() < len => need(len),
            Extent::Fixed(len) => Ok(Framed::Packet(version, len)),
            Extent::Flowsets => {
                let mut at = self.walked.max(hl);
                loop {
                    if at > MAX_PACKET {
                        return Err(too_long(at));
                    }
                    let Some(rest) = data.len().checked_sub(at).filter(|&r| r >= 4) else {
                        if at_end {
                            // The end, after at most 3 bytes of padding.
                            return Ok(Framed::Packet(version, data.len()));
                        }
                        self.walked = at;
                        // at <= MAX_PACKET (checked above).
                        return Ok(Framed::Need(at.saturating_add(4)));
                    };
                    let id = be16(data, at).unwrap_or(0);
                    if starts_packet(id) {
                        return Ok(Framed::Packet(version, at));
                    }
                    let len = usize::from(be16(data, at.saturating_add(2)).unwrap_or(0));
                    if id == 0 && len == 0 {
                        // Four bytes of zero padding (counted against the
                        // packet's bound like any flowset).
                        at = at.saturating_add(4);
                        continue;
                    }
                    if len < 4 {
                        return Err(bad(
                            ErrorKind::BadSet(format!(
                                "NetFlow v9 flowset {id} has length {len}, shorter than its header"
                            )),
                            at,
                        ));
                    }
                    if at.saturating_add(len) > MAX_PACKET {
                        return Err(too_long(at));
                    }
                    if rest < len {
                        self.walked = at;
                        return need(at.saturating_add(len));
                    }
                    at = at.saturating_add(len);
                }
            }
        }
    }
}

/// The version and length of the packet at the start of `data`, a whole
/// input (nothing follows it); `Ok(None)` when `data` is empty.
pub fn frame(data: &[u8]) -> Result<Option<(Version, usize)>, FrameError> {
    match Framer::default().step(data, true)? {
        Framed::Packet(v, len) => Ok(Some((v, len))),
        Framed::End => Ok(None),
        // With `at_end`, a need is a truncation error.
        Framed::Need(n) => Err(truncated(n, data.len(), 0)),
    }
}

fn bad(kind: ErrorKind, at: usize) -> FrameError {
    (Error::new(kind), at)
}

fn too_long(at: usize) -> FrameError {
    bad(
        ErrorKind::BadMessageHeader(format!(
            "NetFlow v9 flowsets and padding run past {MAX_PACKET} bytes without a packet header"
        )),
        at,
    )
}

fn truncated(needed: usize, available: usize, at: usize) -> FrameError {
    bad(
        ErrorKind::Truncated {
            needed: needed as u64,
            available: available as u64,
        },
        at,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v9_header() -> Vec<u8> {
        let mut p = vec![0, 9, 0, 1];
        p.resize(20, 0);
        p
    }

    /// Feed `data` to a framer the way a stream does: only the bytes asked
    /// for. Returns the result and the most bytes it ever held.
    fn stream_frame(data: &[u8]) -> (Result<Framed, FrameError>, usize) {
        let mut f = Framer::default();
        let mut have = 0;
        loop {
            let at_end = have >= data.len();
            match f.step(&data[..have], at_end) {
                Ok(Framed::Need(n)) => {
                    assert!(n > have, "a step asked for {n} bytes with {have} at hand");
                    have = n.min(data.len());
                }
                r => return (r, have),
            }
        }
    }

    #[test]
    fn zeros_after_a_v9_header_are_an_error_within_one_packet() {
        let mut data = v9_header();
        data.resize(1 << 22, 0);
        let (r, held) = stream_frame(&data);
        let (e, at) = r.unwrap_err();
        assert!(matches!(e.kind, ErrorKind::BadMessageHeader(_)), "{e}");
        assert!(at > MAX_PACKET && at <= MAX_PACKET + 4, "{at}");
        assert!(held <= MAX_PACKET + 8, "held {held}");
        // Whole input: the same error at the same place.
        let (e2, at2) = frame(&data).unwrap_err();
        assert_eq!((e2.kind, at2), (e.kind, at));
    }

    #[test]
    fn a_length_that_promises_more_is_truncation_at_the_end() {
        let mut m = vec![0, 10, 0xff, 0xff];
        m.resize(100, 0);
        let (r, held) = stream_frame(&m);
        let (e, _) = r.unwrap_err();
        assert_eq!(
            e.kind,
            ErrorKind::Truncated {
                needed: 65535,
                available: 100
            }
        );
        assert_eq!(held, 100);
    }

    #[test]
    fn v9_packets_end_at_the_next_version_and_stream_framing_agrees() {
        let mut p = v9_header();
        p.extend_from_slice(&[1, 0, 0, 8, 1, 2, 3, 4]); // flowset 256, 8 bytes
        p.extend_from_slice(&[0, 0, 0, 0]); // padding
        let len = p.len();
        p.extend_from_slice(&v9_header());
        assert_eq!(frame(&p).unwrap(), Some((Version::V9, len)));
        let (r, _) = stream_frame(&p);
        assert_eq!(r.unwrap(), Framed::Packet(Version::V9, len));
        // The last packet runs to the end, up to 3 trailing bytes included.
        let last = &p[len..];
        let mut with_tail = last.to_vec();
        with_tail.extend_from_slice(&[0, 0, 0]);
        assert_eq!(frame(&with_tail).unwrap(), Some((Version::V9, 23)));
    }

    #[test]
    fn a_walk_resumed_between_steps_costs_linear_work() {
        // 16,000 padding steps asked for 4 bytes at a time: the framer
        // resumes where it stopped (else this is quadratic, ~1e9 steps).
        let mut data = v9_header();
        data.resize(64_000, 0);
        data.extend_from_slice(&v9_header());
        let (r, _) = stream_frame(&data);
        assert_eq!(r.unwrap(), Framed::Packet(Version::V9, 64_000));
    }
}
