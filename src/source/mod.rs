//! Byte sources of IPFIX message streams: RFC 5655 files and any reader of
//! concatenated messages (a TCP stream, a Python file object), with gzip and
//! zstd recognised by their magic numbers and undone on the fly. Messages are
//! read one at a time into a reused buffer of at most 65535 bytes: a 10 GB
//! file is never held whole, and a lying length field cannot make it grow.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;

use crate::error::{Error, ErrorKind, Result};
use crate::wire::{MessageHeader, MESSAGE_HEADER_LEN};

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// A boxed byte reader.
pub type DynRead = Box<dyn Read + Send>;

/// Peek at the first bytes of `r` and wrap it in a decompressor when they
/// are a gzip or zstd magic number.
pub fn decompressing(r: DynRead) -> io::Result<DynRead> {
    let mut r = BufReader::with_capacity(1 << 16, r);
    let head = fill_peek(&mut r)?;
    if head.starts_with(&GZIP_MAGIC) {
        Ok(Box::new(BufReader::with_capacity(
            1 << 16,
            flate2::read::MultiGzDecoder::new(r),
        )))
    } else if head.starts_with(&ZSTD_MAGIC) {
        let d = ruzstd::decoding::StreamingDecoder::new(r)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("zstd: {e}")))?;
        Ok(Box::new(BufReader::with_capacity(1 << 16, d)))
    } else {
        Ok(Box::new(r))
    }
}

fn fill_peek<R: Read>(r: &mut BufReader<R>) -> io::Result<Vec<u8>> {
    use std::io::BufRead;
    let buf = r.fill_buf()?;
    Ok(buf.get(..4).unwrap_or(buf).to_vec())
}

/// Open a file (plain, gzip or zstd).
pub fn open_path(path: &Path) -> io::Result<DynRead> {
    let f = File::open(path)?;
    decompressing(Box::new(f))
}

/// Reads whole messages from a byte stream.
pub struct MessageStream {
    r: DynRead,
    buf: Vec<u8>,
    offset: u64,
    index: u64,
    done: bool,
}

/// One message read from a stream.
pub struct RawMessage<'a> {
    pub bytes: &'a [u8],
    /// Stream offset of the message's first byte.
    pub offset: u64,
    /// Zero-based message number.
    pub index: u64,
}

fn read_full(r: &mut DynRead, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

impl MessageStream {
    /// Messages of a reader (already decompressed if needed).
    pub fn new(r: DynRead) -> Self {
        MessageStream {
            r,
            buf: Vec::with_capacity(1 << 16),
            offset: 0,
            index: 0,
            done: false,
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
        RawMessage {
            bytes: &self.buf,
            offset: self.offset - self.buf.len() as u64,
            index: self.index.saturating_sub(1),
        }
    }

    /// Read the next message into the buffer; `Ok(false)` at a clean end.
    /// (Split from `current` so the read can run without borrowing.)
    pub fn advance(&mut self) -> Result<bool> {
        if self.done {
            return Ok(false);
        }
        let at = self.offset;
        let index = self.index;
        self.buf.resize(MESSAGE_HEADER_LEN, 0);
        let fail = |this: &mut Self, e: Error| {
            this.done = true;
            Err(e.at(at, index))
        };
        let got = match read_full(&mut self.r, &mut self.buf) {
            Ok(n) => n,
            Err(e) => return fail(self, e.into()),
        };
        if got == 0 {
            self.done = true;
            return Ok(false);
        }
        if got < MESSAGE_HEADER_LEN {
            self.offset += got as u64;
            return fail(
                self,
                Error::new(ErrorKind::Truncated {
                    needed: MESSAGE_HEADER_LEN as u64,
                    available: got as u64,
                }),
            );
        }
        let header = match MessageHeader::parse(&self.buf) {
            Ok(h) => h,
            Err(e) => return fail(self, e),
        };
        let len = header.length as usize;
        self.buf.resize(len, 0);
        let body = match read_full(&mut self.r, &mut self.buf[MESSAGE_HEADER_LEN..]) {
            Ok(n) => n,
            Err(e) => return fail(self, e.into()),
        };
        if body < len - MESSAGE_HEADER_LEN {
            self.offset += (MESSAGE_HEADER_LEN + body) as u64;
            return fail(
                self,
                Error::new(ErrorKind::Truncated {
                    needed: len as u64,
                    available: (MESSAGE_HEADER_LEN + body) as u64,
                }),
            );
        }
        self.offset += len as u64;
        self.index += 1;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(len: u16) -> Vec<u8> {
        let mut m = vec![0, 10];
        m.extend_from_slice(&len.to_be_bytes());
        m.resize(len as usize, 0);
        m
    }

    #[test]
    fn reads_messages_and_reports_truncation() {
        let mut data = msg(16);
        data.extend(msg(20));
        data.extend(&msg(30)[..25]);
        let mut s = MessageStream::new(Box::new(io::Cursor::new(data)));
        assert_eq!(s.next_message().unwrap().unwrap().offset, 0);
        let m = s.next_message().unwrap().unwrap();
        assert_eq!((m.offset, m.index, m.bytes.len()), (16, 1, 20));
        let e = s.next_message().err().unwrap();
        assert_eq!((e.offset, e.message_index), (Some(36), Some(2)));
        assert!(matches!(e.kind, ErrorKind::Truncated { .. }));
        assert!(s.next_message().unwrap().is_none());
    }

    #[test]
    fn gzip_is_undone() {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(&msg(16)).unwrap();
        let gz = enc.finish().unwrap();
        let r = decompressing(Box::new(io::Cursor::new(gz))).unwrap();
        let mut s = MessageStream::new(r);
        assert_eq!(s.next_message().unwrap().unwrap().bytes.len(), 16);
        assert!(s.next_message().unwrap().is_none());
    }
}
