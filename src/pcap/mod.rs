//! Packet captures: classic pcap (microsecond and nanosecond magic, either
//! byte order) and pcapng (sections of either byte order, several
//! interfaces with their link types and timestamp resolutions; enhanced,
//! simple and obsolete packet blocks), read one packet at a time from any
//! reader into a reused buffer. Captures are recognised by their magic
//! number, not their extension.
//!
//! Formats: pcap as in libpcap's pcap-savefile(5); pcapng as in
//! draft-ietf-opsawg-pcapng (Section Header Block 0x0A0D0D0A,
//! Interface Description Block 1, Enhanced Packet Block 6, Simple Packet
//! Block 3, obsolete Packet Block 2; other blocks are skipped).

use std::io::{self, BufReader, Read};

use crate::error::{Error, ErrorKind, Result};

/// Classic pcap magic numbers as read big-endian.
const PCAP_US: u32 = 0xA1B2_C3D4;
const PCAP_NS: u32 = 0xA1B2_3C4D;
/// pcapng Section Header Block type (a palindrome: same in both orders).
pub(crate) const PCAPNG_SHB: u32 = 0x0A0D_0D0A;
const PCAPNG_BOM: u32 = 0x1A2B_3C4D;

/// Largest packet or block read (a lying length cannot grow the buffer
/// further).
pub const MAX_PACKET: usize = 1 << 24;
/// Most pcapng interfaces remembered per section.
pub const MAX_INTERFACES: usize = 1 << 16;

/// Whether `head` (the first 4 bytes of an input) starts a capture.
pub fn is_capture(head: &[u8]) -> bool {
    let Some(b) = head.get(..4) else {
        return false;
    };
    let be = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    let le = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    [PCAP_US, PCAP_NS, PCAPNG_SHB].contains(&be) || [PCAP_US, PCAP_NS].contains(&le)
}

/// One captured packet.
#[derive(Debug)]
pub struct Packet<'a> {
    /// Link-layer type (LINKTYPE_* numbers).
    pub linktype: u16,
    /// Capture time, nanoseconds since the UNIX epoch.
    pub ts_ns: i64,
    /// The captured bytes (possibly fewer than were on the wire).
    pub data: &'a [u8],
    /// Length on the wire.
    pub orig_len: u32,
    /// Packet number in the capture, from 1 (as Wireshark counts).
    pub number: u64,
    /// Offset of the packet's first captured byte in the capture.
    pub offset: u64,
}

#[derive(Debug, Clone, Copy)]
struct Interface {
    linktype: u16,
    /// Timestamp units per second.
    units: u64,
    /// Offset added to every timestamp, seconds (if_tsoffset).
    offset_s: i64,
}

enum Format {
    Pcap {
        big: bool,
        units: u64,
        linktype: u16,
    },
    Pcapng {
        big: bool,
        interfaces: Vec<Interface>,
    },
}

/// A whole capture in memory, read in place. A memory map can hand back
/// the pages of what was read (the reader's resident memory then stays
/// small whatever the capture's size).
pub trait InMemory: Send + Sync {
    fn bytes(&self) -> &[u8];
    /// `range` will not be read again.
    fn release(&self, _range: std::ops::Range<usize>) {}
}

impl InMemory for Vec<u8> {
    fn bytes(&self) -> &[u8] {
        self
    }
}

/// A packet record's link type, time (ns), original length and where its
/// bytes start in the input.
pub(crate) type Meta = (u16, i64, u32, u64);

/// Bytes a whole capture is read from in place.
pub type WholeBytes = Box<dyn InMemory>;

/// Bytes a stream is read in at a time: a quarter of a core's L2 cache
/// here, so that the bytes the kernel copies in are still in L2 when the
/// packets are read (1 MiB measured about 3% slower on the meter's path,
/// 128 KiB the same as this; BENCHMARKS.md, Flow meter).
const STREAM_BUFFER: usize = 1 << 18;

/// Bytes of a capture in memory released in steps of this size, this far
/// behind the packet being read.
const RELEASE_STEP: usize = 2 << 20;

/// A packet from its record's [`Meta`], its number and its bytes (none
/// when they are not there).
#[inline]
fn packet_of(meta: Meta, number: u64, data: Option<&[u8]>) -> Packet<'_> {
    let (linktype, ts_ns, orig_len, offset) = meta;
    Packet {
        linktype,
        ts_ns,
        data: data.unwrap_or_default(),
        orig_len,
        number,
        offset,
    }
}

/// Where a packet's bytes are read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DataIn {
    /// The reader's own buffer (copied there).
    Buf,
    /// The capture in memory, in place.
    Whole,
    /// The stream's buffer, in place.
    Stream,
}

/// Reads the packets of a capture.
pub struct CaptureReader<R: Read> {
    /// The stream (unused for a capture in memory).
    r: Buffered<R>,
    /// Classic pcap records are read where they lie in `r`'s buffer
    /// ([`CaptureReader::read_in_buffer`]).
    in_buffer: bool,
    /// Bytes of `r`'s buffer (the last packet's) to consume before the
    /// next read.
    consume: usize,
    /// A capture in memory (a mapped file, bytes): read in place, packet
    /// data not copied.
    whole: Option<WholeBytes>,
    /// Where the last packet's data is.
    data_in: DataIn,
    format: Format,
    buf: Vec<u8>,
    /// Bytes consumed so far.
    pos: u64,
    number: u64,
    /// Where the current packet's data starts in `buf`, and its length.
    data: (usize, usize),
    /// The last packet's link type, time, length on the wire and offset.
    last: Option<Meta>,
    /// Bytes of `whole` before this were handed back.
    released: usize,
    done: bool,
}

/// The input ended `needed` bytes into a part of which `available` came.
/// The input ended in a part of `needed` bytes of which `available` came,
/// after `number` packets.
fn cut(needed: impl TryInto<u64>, available: impl TryInto<u64>, at: u64, number: u64) -> Error {
    let needed: u64 = needed.try_into().unwrap_or(u64::MAX);
    let available: u64 = available.try_into().unwrap_or(u64::MAX);
    let part = if number == 0 && at == 0 {
        // Before any packet, at the start: the file's own header.
        "the capture is cut short in its file header".to_string()
    } else {
        format!("the capture is cut short after packet {number}")
    };
    let mut e = Error::new(ErrorKind::BadCapture(format!(
        "{part}: the next part needs {needed} bytes, {available} are there"
    )));
    e.offset = Some(at);
    e
}

fn bad(msg: String, at: u64) -> Error {
    let mut e = Error::new(ErrorKind::BadCapture(msg));
    e.offset = Some(at);
    e
}

fn u16_at(b: &[u8], at: usize, big: bool) -> u16 {
    let x = [
        b.get(at).copied().unwrap_or(0),
        b.get(at.saturating_add(1)).copied().unwrap_or(0),
    ];
    if big {
        u16::from_be_bytes(x)
    } else {
        u16::from_le_bytes(x)
    }
}

fn u32_at(b: &[u8], at: usize, big: bool) -> u32 {
    let mut x = [0u8; 4];
    for (i, v) in x.iter_mut().enumerate() {
        *v = b.get(at.saturating_add(i)).copied().unwrap_or(0);
    }
    if big {
        u32::from_be_bytes(x)
    } else {
        u32::from_le_bytes(x)
    }
}

/// Read exactly `n` bytes into `buf` (replacing it); `Ok(false)` at a clean
/// end before the first byte.
fn read_exact_or_end<R: Read>(r: &mut R, buf: &mut Vec<u8>, n: usize) -> io::Result<usize> {
    buf.clear();
    buf.resize(n, 0);
    let mut got = 0;
    while got < n {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            // `read` returns at most the slice's length: got + k <= n.
            Ok(k) => got = got.saturating_add(k),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(got);
    Ok(got)
}

impl<R: Read> CaptureReader<R> {
    /// Read the capture's header.
    pub fn new(mut r: R) -> Result<Self> {
        let mut buf = Vec::with_capacity(1 << 16);
        let got = read_exact_or_end(&mut r, &mut buf, 4)?;
        if got < 4 {
            return Err(bad(
                "the capture is shorter than its magic number".into(),
                0,
            ));
        }
        let magic_be = u32_at(&buf, 0, true);
        let magic_le = u32_at(&buf, 0, false);
        let mut me = CaptureReader {
            r: Buffered::Here(BufReader::with_capacity(STREAM_BUFFER, r)),
            in_buffer: false,
            consume: 0,
            whole: None,
            data_in: DataIn::Buf,
            format: Format::Pcapng {
                big: true,
                interfaces: Vec::new(),
            },
            buf,
            pos: 4,
            number: 0,
            data: (0, 0),
            last: None,
            released: 0,
            done: false,
        };
        if magic_be == PCAPNG_SHB {
            me.section_header(0, None)?;
            return Ok(me);
        }
        let (big, units) = match (magic_be, magic_le) {
            (PCAP_US, _) => (true, 1_000_000),
            (PCAP_NS, _) => (true, 1_000_000_000),
            (_, PCAP_US) => (false, 1_000_000),
            (_, PCAP_NS) => (false, 1_000_000_000),
            _ => {
                return Err(bad(
                    format!("not a pcap or pcapng capture (magic {magic_be:08x})"),
                    0,
                ))
            }
        };
        let got = me.fill(20)?;
        if got < 20 {
            return Err(cut(24, 4u64.saturating_add(got as u64), 0, 0));
        }
        // The link type is the low 16 bits (the upper hold FCS information).
        let linktype = (u32_at(&me.buf, 16, big) & 0xFFFF) as u16;
        me.pos = 24;
        me.format = Format::Pcap {
            big,
            units,
            linktype,
        };
        Ok(me)
    }

    /// Read a capture held in memory, in place.
    /// (`r` is never read.)
    pub fn from_whole(whole: WholeBytes, r: R) -> Result<Self> {
        // The file header (or as much as there is: a capture cut inside it
        // is said to be so by the header's reader).
        let all = whole.bytes();
        let head = all.get(..all.len().min(24)).unwrap_or_default().to_vec();
        let pcapng = head.get(..4) == Some(&PCAPNG_SHB.to_be_bytes()[..]);
        let format = if pcapng {
            // Every section header is read as a block, this one too.
            Format::Pcapng {
                big: true,
                interfaces: Vec::new(),
            }
        } else {
            CaptureReader::new(io::Cursor::new(head))?.format
        };
        Ok(CaptureReader {
            r: Buffered::Here(BufReader::with_capacity(0, r)),
            in_buffer: false,
            consume: 0,
            whole: Some(whole),
            data_in: DataIn::Buf,
            pos: if pcapng { 0 } else { 24 },
            format,
            buf: Vec::with_capacity(1 << 16),
            number: 0,
            data: (0, 0),
            last: None,
            released: 0,
            done: false,
        })
    }

    /// Read `n` bytes into `buf`; the count read (fewer at the end).
    fn fill(&mut self, n: usize) -> io::Result<usize> {
        match &self.whole {
            Some(w) => {
                let data = w.bytes();
                let at = usize::try_from(self.pos)
                    .unwrap_or(usize::MAX)
                    .min(data.len());
                let rest = data.get(at..).unwrap_or_default();
                let got = n.min(rest.len());
                self.buf.clear();
                self.buf
                    .extend_from_slice(rest.get(..got).unwrap_or_default());
                self.pos = self.pos.saturating_add(got as u64);
                Ok(got)
            }
            None => {
                let got = read_exact_or_end(&mut self.r, &mut self.buf, n)?;
                self.pos = self.pos.saturating_add(got as u64);
                Ok(got)
            }
        }
    }

    /// Read a packet's `n` bytes: in place for a capture in memory.
    fn fill_data(&mut self, n: usize) -> io::Result<usize> {
        match &self.whole {
            Some(w) => {
                let data = w.bytes();
                let at = usize::try_from(self.pos)
                    .unwrap_or(usize::MAX)
                    .min(data.len());
                // at <= data.len() (the min above).
                let got = n.min(data.len().saturating_sub(at));
                self.data_in = DataIn::Whole;
                self.data = (at, got);
                self.pos = self.pos.saturating_add(got as u64);
                Ok(got)
            }
            None => {
                self.data_in = DataIn::Buf;
                let got = read_exact_or_end(&mut self.r, &mut self.buf, n)?;
                self.pos = self.pos.saturating_add(got as u64);
                Ok(got)
            }
        }
    }

    /// Read classic pcap records where they lie in the stream's buffer
    /// instead of copying each into the reader's own (for a caller that
    /// does not take that buffer with [`Self::swap_buffer`]).
    pub fn read_in_buffer(&mut self) {
        self.in_buffer = true;
    }

    /// Whether the capture is read in place from memory (then packets are
    /// not in a buffer [`Self::swap_buffer`] could hand over).
    pub fn in_place(&self) -> bool {
        self.whole.is_some()
    }

    /// The capture in memory (empty when it is read from a stream).
    pub fn whole_bytes(&self) -> &[u8] {
        self.whole.as_ref().map_or(&[], |w| w.bytes())
    }

    /// Exchange the buffer holding the last packet for `spare`: the caller
    /// keeps the packet's bytes (at [`CaptureReader::data_range`]) without
    /// a copy.
    pub fn swap_buffer(&mut self, spare: Vec<u8>) -> Vec<u8> {
        std::mem::replace(&mut self.buf, spare)
    }

    /// Where the last packet's bytes are in its buffer.
    pub fn data_range(&self) -> std::ops::Range<usize> {
        self.data.0..self.data.0.saturating_add(self.data.1)
    }

    /// Bytes of the capture read so far.
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// The next packet, `Ok(None)` at the end of the capture. After an
    /// error there are no more packets.
    #[inline]
    pub fn next_packet(&mut self) -> Result<Option<Packet<'_>>> {
        if self.advance_fast() {
            return Ok(self.current());
        }
        if self.done {
            return Ok(None);
        }
        self.next_packet_general()
    }

    /// The next packet if it is the common case (a classic pcap record
    /// whole in the stream's buffer or in memory); `None` when [`Self::next_packet`] must say what
    /// comes next (another kind of record, the end, an error). For a
    /// loop over packets: a packet given here is built where the loop
    /// uses it, not returned through memory and copied (merged with the
    /// general path's answer, it was written field by field and read back
    /// whole: a store-forwarding stall a packet).
    #[allow(clippy::inline_always)]
    #[inline(always)]
    pub fn next_fast(&mut self) -> Option<Packet<'_>> {
        if self.done {
            return None;
        }
        if self.consume > 0 {
            self.r.consume(self.consume);
            self.consume = 0;
        }
        if let Format::Pcap {
            big,
            units,
            linktype,
        } = self.format
        {
            return self.next_pcap_fast(big, units, linktype);
        }
        None
    }

    /// Consume the last packet and read the next by the fast path; false
    /// (nothing read) when it does not apply.
    #[allow(clippy::inline_always)]
    #[inline(always)]
    fn advance_fast(&mut self) -> bool {
        self.next_fast().is_some()
    }

    /// [`Self::next_packet`] past the fast path: any record of pcapng, a
    /// classic record not whole in memory, the end, an error.
    #[inline(never)]
    fn next_packet_general(&mut self) -> Result<Option<Packet<'_>>> {
        let r = match self.format {
            Format::Pcap { .. } => self.next_pcap(),
            Format::Pcapng { .. } => self.next_pcapng(),
        };
        match r {
            Ok(Some(meta)) => {
                self.last = Some(meta);
                if self.data_in == DataIn::Whole {
                    self.release_behind();
                }
                Ok(self.current())
            }
            Ok(None) => {
                self.done = true;
                self.last = None;
                Ok(None)
            }
            Err(e) => {
                self.done = true;
                self.last = None;
                Err(e)
            }
        }
    }

    /// Hand back the pages of a capture in memory well behind the current
    /// packet (no slice into them is alive: packets are read in order).
    fn release_behind(&mut self) {
        let at = self.data.0;
        if at < self.released.saturating_add(2 * RELEASE_STEP) {
            return;
        }
        let end = at.saturating_sub(RELEASE_STEP) & !(RELEASE_STEP - 1);
        if let Some(w) = &self.whole {
            w.release(self.released..end);
        }
        self.released = end;
    }

    /// The block read ahead ([`CaptureReader::read_ahead`]) that the last
    /// packet's bytes lie in, if they lie in the stream's buffer (a classic
    /// pcap record whole in a block, read in place: [`Self::read_in_buffer`]):
    /// whoever keeps it keeps those bytes, after the reader has moved on.
    pub fn block(&self) -> Option<&std::sync::Arc<Block>> {
        if self.data_in == DataIn::Stream && self.last.is_some() {
            self.r.block()
        } else {
            None
        }
    }

    /// The packet the last [`CaptureReader::next_packet`] gave, again
    /// (`None` before the first and after the end or an error).
    #[allow(clippy::inline_always)]
    #[inline(always)]
    pub fn current(&self) -> Option<Packet<'_>> {
        let meta = self.last?;
        let (at, len) = self.data;
        let range = at..at.saturating_add(len);
        let data = match self.data_in {
            DataIn::Whole => self.whole.as_ref().and_then(|w| w.bytes().get(range)),
            DataIn::Stream => self.r.buffer().get(range),
            DataIn::Buf => self.buf.get(range),
        };
        Some(packet_of(meta, self.number, data))
    }
}

mod ahead;
pub use ahead::Block;
use ahead::Buffered;
mod classic;
mod pcapng;

#[cfg(test)]
mod tests;
