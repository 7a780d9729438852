//! Classic pcap records (pcap-savefile(5)): a 16-byte record header
//! (seconds, microseconds or nanoseconds, captured and original length) in
//! the file's byte order, then the packet; read in place from a capture in
//! memory, else into the reader's buffer.

use std::io::Read;

use super::{
    bad, cut, packet_of, u32_at, CaptureReader, DataIn, Format, Meta, Packet, Result, MAX_PACKET,
    RELEASE_STEP,
};

impl<R: Read> CaptureReader<R> {
    /// [`Self::next_packet`]'s common cases: a classic pcap record read
    /// where it lies, in a capture in memory or in the stream's buffer,
    /// and the packet built from the same borrow of those bytes (asking
    /// the capture in memory for them twice, through its trait object,
    /// cost a worker reading a mapped file 2% of its time); `None` sends
    /// the record down the general path.
    #[inline]
    pub(super) fn next_pcap_fast(
        &mut self,
        big: bool,
        units: u64,
        linktype: u16,
    ) -> Option<Packet<'_>> {
        if self.in_buffer && self.whole.is_none() {
            // A classic pcap record whole in the stream's buffer is read
            // there (consumed at the next call); one that is not takes
            // the general path below.
            let b = self.r.fill_buf().ok()?;
            let (meta, body, len) = record_at(b, 0, big, units, linktype)?;
            let meta = (meta.0, meta.1, meta.2, self.pos.saturating_add(16));
            let end = body.saturating_add(len);
            if len > FAR {
                prefetch(b, end);
            }
            self.consume = end;
            self.pos = self.pos.saturating_add(end as u64);
            self.number = self.number.saturating_add(1);
            self.data = (body, len);
            self.data_in = DataIn::Stream;
            self.last = Some(meta);
            return Some(packet_of(meta, self.number, b.get(body..end)));
        }
        if self.data_in == DataIn::Whole {
            // The common case, a classic pcap record in memory, in one go
            // (the general path below says why a record is not whole).
            if self.pos >= self.released.saturating_add(2 * RELEASE_STEP) as u64 {
                self.release_behind();
            }
            let b = self.whole.as_deref()?.bytes();
            let (meta, body, len) = record_at(b, self.pos, big, units, linktype)?;
            let end = body.saturating_add(len);
            if len > FAR {
                prefetch(b, end);
            } else {
                prefetch_line(b, end.saturating_add(AHEAD));
            }
            self.data = (body, len);
            self.pos = end as u64;
            self.number = self.number.saturating_add(1);
            self.last = Some(meta);
            return Some(packet_of(meta, self.number, b.get(body..end)));
        }
        None
    }

    pub(super) fn next_pcap(&mut self) -> Result<Option<Meta>> {
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
        if self.data_in != DataIn::Whole {
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
    /// its header decoded from the bytes in place (see [`record_at`]);
    /// `None` when the capture is not in memory or the record is not
    /// whole (the general path then says why).
    #[inline]
    fn next_pcap_in_place(&mut self, big: bool, units: u64, linktype: u16) -> Option<Meta> {
        let (meta, body, len) =
            record_at(self.whole.as_ref()?.bytes(), self.pos, big, units, linktype)?;
        self.data_in = DataIn::Whole;
        self.data = (body, len);
        self.pos = body.saturating_add(len) as u64;
        self.number = self.number.saturating_add(1);
        Some(meta)
    }
}

/// The classic pcap record at `pos` of a capture in memory: (link type,
/// time, original length, where its bytes start) and where its bytes are;
/// `None` when it is not whole there.
#[inline]
pub(super) fn record_at(
    data: &[u8],
    pos: u64,
    big: bool,
    units: u64,
    linktype: u16,
) -> Option<(Meta, usize, usize)> {
    let at = usize::try_from(pos).ok()?;
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
    let per_unit = if units == 1_000_000 { 1_000 } else { 1 };
    // As in `next_pcap`: never saturates.
    let ts = i64::from(secs)
        .saturating_mul(1_000_000_000)
        .saturating_add(i64::from(frac).saturating_mul(per_unit));
    Some(((linktype, ts, orig, body as u64), body, incl))
}

/// Captured bytes beyond which the next record's header is prefetched: a
/// record of more lies far enough ahead that the processor's own
/// prefetching, which follows the reader line by line, misses it (the
/// full-payload capture's records average 384 octets, the snaplen-96
/// capture's 112: `BENCHMARKS.md`).
const FAR: usize = 128;

/// How far ahead of the record being read records close together in a
/// capture in memory (a mapped file, or bytes) are prefetched, in octets:
/// the processor's own prefetching follows the reader line by line but
/// stops at each page's end, and a mapped file's pages lie anywhere in
/// memory (`BENCHMARKS.md`).
const AHEAD: usize = 2048;

/// Ask the processor to load the cache lines of `b[at..]` that hold the
/// next record's header and its packet's first headers while the current
/// packet is taken apart.
#[inline]
pub(super) fn prefetch(b: &[u8], at: usize) {
    prefetch_line(b, at);
    prefetch_line(b, at.saturating_add(64));
}

/// Ask the processor to load the cache line holding `b[at]`, if `b` has it.
#[inline]
fn prefetch_line(b: &[u8], at: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        if let Some(x) = b.get(at) {
            // SAFETY: `_mm_prefetch` is unsafe only for its target feature,
            // SSE, which every x86_64 processor has. A prefetch is a hint:
            // it reads nothing into the program and cannot fault, and the
            // pointer is a slice element's, in bounds anyway. The bytes are
            // the reader's own (a mapped file, a stream's buffer or bytes
            // it holds), never the interpreter's, so nothing depends on the
            // Python version or the GIL.
            unsafe {
                std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                    std::ptr::from_ref(x).cast::<i8>(),
                );
            }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (b, at);
}
