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

use std::io::{self, Read};

use crate::error::{Error, ErrorKind, Result};

/// Classic pcap magic numbers as read big-endian.
const PCAP_US: u32 = 0xA1B2_C3D4;
const PCAP_NS: u32 = 0xA1B2_3C4D;
/// pcapng Section Header Block type (a palindrome: same in both orders).
const PCAPNG_SHB: u32 = 0x0A0D_0D0A;
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

/// Bytes a whole capture is read from in place.
pub type WholeBytes = Box<dyn InMemory>;

/// Bytes of a capture in memory released in steps of this size, this far
/// behind the packet being read.
const RELEASE_STEP: usize = 2 << 20;

/// Reads the packets of a capture.
pub struct CaptureReader<R: Read> {
    r: R,
    /// A capture in memory (a mapped file, bytes): read in place, packet
    /// data not copied.
    whole: Option<WholeBytes>,
    /// The last packet's data is `whole[data.0..]` rather than `buf`'s.
    in_whole: bool,
    format: Format,
    buf: Vec<u8>,
    /// Bytes consumed so far.
    pos: u64,
    number: u64,
    /// Where the current packet's data starts in `buf`, and its length.
    data: (usize, usize),
    /// The last packet's link type, time, length on the wire and offset.
    last: Option<(u16, i64, u32, u64)>,
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
    let mut e = Error::new(ErrorKind::BadCapture(format!(
        "the capture is cut short after packet {number}: the next part needs {needed} bytes, {available} are there"
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
            r,
            whole: None,
            in_whole: false,
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

    /// Read the rest of a Section Header Block whose type was just read
    /// (and its length too, when `len` holds it).
    fn section_header(&mut self, start: u64, len: Option<[u8; 4]>) -> Result<()> {
        let got = match len {
            Some(l) => {
                let got = self.fill(4)?;
                let mut head = l.to_vec();
                head.extend_from_slice(&self.buf);
                self.buf = head;
                got.saturating_add(4)
            }
            None => self.fill(8)?,
        };
        if got < 8 {
            return Err(cut(12, 4u64.saturating_add(got as u64), start, 0));
        }
        let big = match (u32_at(&self.buf, 4, true), u32_at(&self.buf, 4, false)) {
            (PCAPNG_BOM, _) => true,
            (_, PCAPNG_BOM) => false,
            _ => {
                return Err(bad(
                    "pcapng section without its byte-order magic".into(),
                    start.saturating_add(8),
                ))
            }
        };
        let total = u32_at(&self.buf, 0, big) as usize;
        if !(28..=MAX_PACKET).contains(&total) || total % 4 != 0 {
            return Err(bad(
                format!("pcapng section header of {total} bytes"),
                start.saturating_add(4),
            ));
        }
        // total >= 28 (checked above).
        let rest = total.saturating_sub(12);
        let got = self.fill(rest)?;
        if got < rest {
            return Err(cut(
                total as u64,
                12u64.saturating_add(got as u64),
                start,
                0,
            ));
        }
        self.pos = start.saturating_add(total as u64);
        self.format = Format::Pcapng {
            big,
            interfaces: Vec::new(),
        };
        Ok(())
    }

    /// Read a capture held in memory, in place.
    /// (`r` is never read.)
    pub fn from_whole(whole: WholeBytes, r: R) -> Result<Self> {
        let head = whole.bytes().get(..24).unwrap_or_default().to_vec();
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
            r,
            whole: Some(whole),
            in_whole: false,
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
                self.in_whole = true;
                self.data = (at, got);
                self.pos = self.pos.saturating_add(got as u64);
                Ok(got)
            }
            None => {
                self.in_whole = false;
                let got = read_exact_or_end(&mut self.r, &mut self.buf, n)?;
                self.pos = self.pos.saturating_add(got as u64);
                Ok(got)
            }
        }
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
    pub fn next_packet(&mut self) -> Result<Option<Packet<'_>>> {
        if self.done {
            return Ok(None);
        }
        let r = match self.format {
            Format::Pcap { .. } => self.next_pcap(),
            Format::Pcapng { .. } => self.next_pcapng(),
        };
        match r {
            Ok(Some(meta)) => {
                self.last = Some(meta);
                if self.in_whole {
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

    /// The packet the last [`CaptureReader::next_packet`] gave, again
    /// (`None` before the first and after the end or an error).
    pub fn current(&self) -> Option<Packet<'_>> {
        let (linktype, ts_ns, orig_len, offset) = self.last?;
        let (at, len) = self.data;
        Some(Packet {
            linktype,
            ts_ns,
            data: if self.in_whole {
                self.whole
                    .as_ref()
                    .and_then(|w| w.bytes().get(at..at.saturating_add(len)))
                    .unwrap_or_default()
            } else {
                self.buf.get(at..at.saturating_add(len)).unwrap_or_default()
            },
            orig_len,
            number: self.number,
            offset,
        })
    }

    fn next_pcap(&mut self) -> Result<Option<(u16, i64, u32, u64)>> {
        let Format::Pcap {
            big,
            units,
            linktype,
        } = self.format
        else {
            return Ok(None);
        };
        let start = self.pos;
        if let Some(meta) = self.next_pcap_in_place(big, units, linktype) {
            return Ok(Some(meta));
        }
        let got = self.fill(16)?;
        if got == 0 {
            return Ok(None);
        }
        if got < 16 {
            return Err(cut(16, got as u64, start, self.number));
        }
        let secs = i64::from(u32_at(&self.buf, 0, big));
        let frac = i64::from(u32_at(&self.buf, 4, big));
        let incl = u32_at(&self.buf, 8, big) as usize;
        let orig = u32_at(&self.buf, 12, big);
        if incl > MAX_PACKET {
            return Err(bad(
                format!("packet record of {incl} captured bytes"),
                start.saturating_add(8),
            ));
        }
        let got = self.fill_data(incl)?;
        if got < incl {
            return Err(cut(
                incl as u64,
                got as u64,
                start.saturating_add(16),
                self.number,
            ));
        }
        self.pos = start.saturating_add(16).saturating_add(incl as u64);
        self.number = self.number.saturating_add(1);
        if !self.in_whole {
            self.data = (0, incl);
        }
        // secs and frac are u32: at most 2^32 * 10^9 + 2^32 * 10^3 < 2^63,
        // so saturating never saturates.
        let per_unit = if units == 1_000_000 { 1_000 } else { 1 };
        let ts = secs
            .saturating_mul(1_000_000_000)
            .saturating_add(frac.saturating_mul(per_unit));
        Ok(Some((linktype, ts, orig, start.saturating_add(16))))
    }

    /// A classic pcap record read where it lies in a capture in memory,
    /// its header decoded from the bytes in place (no copy into `buf`):
    /// the common case, ten times cheaper than [`Self::fill`]. `None`
    /// when the capture is not in memory or the record is not whole (the
    /// general path then says why).
    #[inline]
    fn next_pcap_in_place(
        &mut self,
        big: bool,
        units: u64,
        linktype: u16,
    ) -> Option<(u16, i64, u32, u64)> {
        let data = self.whole.as_ref()?.bytes();
        let start = self.pos;
        let at = usize::try_from(start).ok()?;
        let head: &[u8; 16] = data.get(at..at.checked_add(16)?)?.try_into().ok()?;
        let [s0, s1, s2, s3, f0, f1, f2, f3, i0, i1, i2, i3, o0, o1, o2, o3] = *head;
        let word = |b: [u8; 4]| {
            if big {
                u32::from_be_bytes(b)
            } else {
                u32::from_le_bytes(b)
            }
        };
        let (secs, frac) = (word([s0, s1, s2, s3]), word([f0, f1, f2, f3]));
        let (incl, orig) = (word([i0, i1, i2, i3]) as usize, word([o0, o1, o2, o3]));
        if incl > MAX_PACKET {
            return None;
        }
        let body = at.checked_add(16)?;
        let end = body.checked_add(incl)?;
        if end > data.len() {
            return None;
        }
        self.in_whole = true;
        self.data = (body, incl);
        self.pos = end as u64;
        self.number = self.number.saturating_add(1);
        let per_unit = if units == 1_000_000 { 1_000 } else { 1 };
        // As in `next_pcap`: never saturates.
        let ts = i64::from(secs)
            .saturating_mul(1_000_000_000)
            .saturating_add(i64::from(frac).saturating_mul(per_unit));
        Some((linktype, ts, orig, start.saturating_add(16)))
    }

    fn next_pcapng(&mut self) -> Result<Option<(u16, i64, u32, u64)>> {
        loop {
            let start = self.pos;
            let got = self.fill(8)?;
            if got == 0 {
                return Ok(None);
            }
            if got < 8 {
                return Err(cut(8, got as u64, start, self.number));
            }
            let Format::Pcapng { big, .. } = self.format else {
                return Ok(None);
            };
            let kind = u32_at(&self.buf, 0, big);
            if kind == PCAPNG_SHB {
                // A new section: its own byte order, no interfaces yet.
                let len = [self.buf[4], self.buf[5], self.buf[6], self.buf[7]];
                self.section_header(start, Some(len))?;
                continue;
            }
            let total = u32_at(&self.buf, 4, big) as usize;
            if !(12..=MAX_PACKET).contains(&total) || total % 4 != 0 {
                return Err(bad(
                    format!("pcapng block of type {kind:#x} has length {total}"),
                    start.saturating_add(4),
                ));
            }
            // 12 <= total <= MAX_PACKET (checked above).
            let body_len = total.saturating_sub(12);
            let got = self.fill(body_len.saturating_add(4))?;
            if got < body_len.saturating_add(4) {
                return Err(cut(
                    total as u64,
                    8u64.saturating_add(got as u64),
                    start,
                    self.number,
                ));
            }
            self.pos = start.saturating_add(total as u64);
            let body_at = start.saturating_add(8);
            match kind {
                1 => self.interface(big, body_len, body_at)?,
                6 | 2 => {
                    // Enhanced (6): interface u32, ts high, ts low, caplen,
                    // origlen. Obsolete packet (2): interface u16, drops
                    // u16, then the same.
                    if body_len < 20 {
                        return Err(bad(format!("pcapng packet block of {total} bytes"), start));
                    }
                    let iface = if kind == 6 {
                        u32_at(&self.buf, 0, big) as usize
                    } else {
                        usize::from(u16_at(&self.buf, 0, big))
                    };
                    let hi = u64::from(u32_at(&self.buf, 4, big));
                    let lo = u64::from(u32_at(&self.buf, 8, big));
                    let cap = u32_at(&self.buf, 12, big) as usize;
                    let orig = u32_at(&self.buf, 16, big);
                    // body_len >= 20 (checked above).
                    if cap > body_len.saturating_sub(20) {
                        return Err(bad(
                            format!("pcapng packet of {cap} bytes in a {total}-byte block"),
                            start.saturating_add(20),
                        ));
                    }
                    let Some(i) = self.interface_of(iface) else {
                        return Err(bad(
                            format!("pcapng packet on undescribed interface {iface}"),
                            start.saturating_add(8),
                        ));
                    };
                    self.number = self.number.saturating_add(1);
                    self.data = (20, cap);
                    self.in_whole = false;
                    let Some(ts) = timestamp(hi << 32 | lo, i) else {
                        return Err(bad(
                            format!(
                                "pcapng timestamp {} in units of 1/{} s plus if_tsoffset {} s \
                                 is not a time from 1677 to 2262",
                                hi << 32 | lo,
                                i.units,
                                i.offset_s
                            ),
                            start.saturating_add(12),
                        ));
                    };
                    return Ok(Some((i.linktype, ts, orig, body_at.saturating_add(20))));
                }
                3 => {
                    // Simple: original length, data (interface 0, no time).
                    if body_len < 4 {
                        return Err(bad(format!("pcapng simple block of {total} bytes"), start));
                    }
                    let orig = u32_at(&self.buf, 0, big);
                    let Some(i) = self.interface_of(0) else {
                        return Err(bad(
                            "pcapng packet before any interface".into(),
                            start.saturating_add(8),
                        ));
                    };
                    // body_len >= 4 (checked above).
                    let cap = (orig as usize).min(body_len.saturating_sub(4));
                    self.number = self.number.saturating_add(1);
                    self.data = (4, cap);
                    self.in_whole = false;
                    return Ok(Some((i.linktype, 0, orig, body_at.saturating_add(4))));
                }
                _ => {}
            }
        }
    }

    fn interface_of(&self, i: usize) -> Option<Interface> {
        match &self.format {
            Format::Pcapng { interfaces, .. } => interfaces.get(i).copied(),
            Format::Pcap { .. } => None,
        }
    }

    /// An Interface Description Block: link type, snap length, options
    /// (if_tsresol 9, if_tsoffset 14).
    fn interface(&mut self, big: bool, body_len: usize, at: u64) -> Result<()> {
        if body_len < 8 {
            return Err(bad("pcapng interface block too short".into(), at));
        }
        let mut iface = Interface {
            linktype: u16_at(&self.buf, 0, big),
            units: 1_000_000,
            offset_s: 0,
        };
        let mut o: usize = 8;
        // o <= body_len <= MAX_PACKET and len < 2^16: no sum below
        // saturates, and a saturated one would end the loop.
        while o.saturating_add(4) <= body_len {
            let code = u16_at(&self.buf, o, big);
            let len = usize::from(u16_at(&self.buf, o.saturating_add(2), big));
            let v = o.saturating_add(4);
            if code == 0 || v.saturating_add(len) > body_len {
                break;
            }
            if code == 9 && len >= 1 {
                let r = self.buf.get(v).copied().unwrap_or(0);
                let exp = u32::from(r & 0x7F);
                iface.units = if r & 0x80 == 0 {
                    10u64.checked_pow(exp).unwrap_or(1_000_000)
                } else {
                    1u64.checked_shl(exp).unwrap_or(1_000_000)
                };
                if iface.units == 0 {
                    iface.units = 1_000_000;
                }
            }
            if code == 14 && len >= 8 {
                let hi = u64::from(u32_at(&self.buf, v, big));
                let lo = u64::from(u32_at(&self.buf, v.saturating_add(4), big));
                let x = if big { hi << 32 | lo } else { lo << 32 | hi };
                iface.offset_s = x as i64;
            }
            o = v.saturating_add(len.div_ceil(4).saturating_mul(4));
        }
        if let Format::Pcapng { interfaces, .. } = &mut self.format {
            if interfaces.len() >= MAX_INTERFACES {
                return Err(Error::new(ErrorKind::LimitExceeded(format!(
                    "more than {MAX_INTERFACES} pcapng interfaces in a section"
                )))
                .at(at, self.number));
            }
            interfaces.push(iface);
        }
        Ok(())
    }
}

/// Nanoseconds since the epoch of a pcapng timestamp in `i`'s units, plus
/// the interface's if_tsoffset; None when that is not an `i64` of
/// nanoseconds (both come from the file: a hostile capture must not
/// overflow).
fn timestamp(t: u64, i: Interface) -> Option<i64> {
    let units = u128::from(i.units.max(1));
    // A u64 times 10^9 fits a u128; units >= 1.
    let ns = i64::try_from(
        u128::from(t)
            .saturating_mul(1_000_000_000)
            .checked_div(units)?,
    )
    .ok()?;
    ns.checked_add(i.offset_s.checked_mul(1_000_000_000)?)
}

#[cfg(test)]
mod tests;
