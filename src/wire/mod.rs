//! Checked, zero-copy views of IPFIX wire structures (RFC 7011 §3): the
//! message header, set headers, template records and variable-length
//! fields. Views validate lengths once; no accessor can panic. No state here.

mod template;

pub use template::{parse_template_set, FieldSpec, TemplateItem, TemplateSetIter};

use crate::error::{Error, ErrorKind, Result};

/// IPFIX version number in the message header (RFC 7011 §3.1).
pub const IPFIX_VERSION: u16 = 10;
/// Length of the message header.
pub const MESSAGE_HEADER_LEN: usize = 16;
/// Length of a set header.
pub const SET_HEADER_LEN: usize = 4;
/// Set id of template sets (RFC 7011 §3.3.2).
pub const TEMPLATE_SET_ID: u16 = 2;
/// Set id of options template sets.
pub const OPTIONS_TEMPLATE_SET_ID: u16 = 3;
/// Smallest data set id; ids 4..=255 are reserved.
pub const MIN_DATA_SET_ID: u16 = 256;
/// Field length announcing a variable-length field (RFC 7011 §7).
pub const VARLEN: u16 = 65535;

/// Big-endian u16 at `at`, `None` past the end.
#[inline]
pub fn be16(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([s[0], s[1]]))
}

/// Big-endian u32 at `at`, `None` past the end.
#[inline]
pub fn be32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

/// The IPFIX message header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MessageHeader {
    pub version: u16,
    /// Total length of the message including this header.
    pub length: u16,
    /// Export time, seconds since the UNIX epoch.
    pub export_time: u32,
    pub sequence: u32,
    pub observation_domain_id: u32,
}

impl MessageHeader {
    /// Parse and validate a header: version 10 and a length that covers at
    /// least the header itself.
    pub fn parse(b: &[u8]) -> Result<Self> {
        if b.len() < MESSAGE_HEADER_LEN {
            return Err(Error::new(ErrorKind::Truncated {
                needed: MESSAGE_HEADER_LEN as u64,
                available: b.len() as u64,
            }));
        }
        let h = MessageHeader {
            version: be16(b, 0).unwrap_or(0),
            length: be16(b, 2).unwrap_or(0),
            export_time: be32(b, 4).unwrap_or(0),
            sequence: be32(b, 8).unwrap_or(0),
            observation_domain_id: be32(b, 12).unwrap_or(0),
        };
        if h.version != IPFIX_VERSION {
            return Err(Error::new(ErrorKind::BadMessageHeader(format!(
                "version {} is not IPFIX (10)",
                h.version
            ))));
        }
        if (h.length as usize) < MESSAGE_HEADER_LEN {
            return Err(Error::new(ErrorKind::BadMessageHeader(format!(
                "message length {} is shorter than the 16-byte header",
                h.length
            ))));
        }
        Ok(h)
    }
}

/// One set inside a message.
#[derive(Debug, Clone, Copy)]
pub struct RawSet<'a> {
    pub id: u16,
    /// Offset of the set header from the start of the message.
    pub offset: usize,
    /// The set's content after its 4-byte header.
    pub body: &'a [u8],
}

/// Iterates the sets of one message. A set length below 4 or past the end
/// of the message is an error and ends the iteration (a zero-length set
/// cannot loop).
pub struct SetIter<'a> {
    msg: &'a [u8],
    pos: usize,
    done: bool,
}

impl<'a> SetIter<'a> {
    /// Sets of a whole message (header included in `msg`, already validated).
    pub fn new(msg: &'a [u8]) -> Self {
        SetIter {
            msg,
            pos: MESSAGE_HEADER_LEN,
            done: false,
        }
    }
}

impl<'a> Iterator for SetIter<'a> {
    type Item = std::result::Result<RawSet<'a>, (usize, Error)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.pos >= self.msg.len() {
            return None;
        }
        let at = self.pos;
        let rest = self.msg.get(at..).unwrap_or_default();
        let fail = |s: String| Some(Err((at, Error::new(ErrorKind::BadSet(s)))));
        if rest.len() < SET_HEADER_LEN {
            self.done = true;
            if rest.iter().all(|&b| b == 0) {
                // Trailing zero padding after the last set: tolerated.
                return None;
            }
            return fail(format!("{} stray bytes after the last set", rest.len()));
        }
        let id = be16(rest, 0).unwrap_or(0);
        let len = be16(rest, 2).unwrap_or(0) as usize;
        if len < SET_HEADER_LEN {
            self.done = true;
            return fail(format!(
                "set {id} has length {len}, shorter than its header"
            ));
        }
        if len > rest.len() {
            self.done = true;
            return fail(format!(
                "set {id} has length {len} but only {} bytes remain in the message",
                rest.len()
            ));
        }
        self.pos = at + len;
        Some(Ok(RawSet {
            id,
            offset: at,
            body: rest.get(SET_HEADER_LEN..len).unwrap_or_default(),
        }))
    }
}

/// Read a variable-length field's length prefix at `pos` (RFC 7011 §7:
/// one byte below 255, or 255 and two more bytes). Returns the start of the
/// value and its length, `None` when the prefix or value overruns `b`.
#[inline]
pub fn read_varlen(b: &[u8], pos: usize) -> Option<(usize, usize)> {
    let first = *b.get(pos)?;
    let (start, len) = if first < 255 {
        (pos + 1, first as usize)
    } else {
        (pos + 3, be16(b, pos + 1)? as usize)
    };
    if start.checked_add(len)? > b.len() {
        return None;
    }
    Some((start, len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_length_set_ends_iteration() {
        let mut msg = vec![0, 10, 0, 24, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        msg.extend_from_slice(&[1, 0, 0, 0, 1, 0, 0, 0]);
        let items: Vec<_> = SetIter::new(&msg).collect();
        assert_eq!(items.len(), 1);
        assert!(items[0].is_err());
    }

    #[test]
    fn varlen_forms() {
        assert_eq!(read_varlen(&[3, 1, 2, 3], 0), Some((1, 3)));
        assert_eq!(read_varlen(&[3, 1, 2], 0), None);
        let mut long = vec![255, 1, 0];
        long.extend(std::iter::repeat_n(7u8, 256));
        assert_eq!(read_varlen(&long, 0), Some((3, 256)));
        assert_eq!(read_varlen(&[255, 0], 0), None);
    }

    #[test]
    fn header_checks() {
        let mut h = [0u8; 16];
        assert!(MessageHeader::parse(&h).is_err());
        h[1] = 10;
        h[3] = 15;
        assert!(MessageHeader::parse(&h).is_err());
        h[3] = 16;
        assert_eq!(MessageHeader::parse(&h).unwrap().length, 16);
    }
}
