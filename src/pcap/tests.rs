//! Tests of the pcap and pcapng reader.

use super::*;

fn pcap(big: bool, ns: bool, packets: &[&[u8]]) -> Vec<u8> {
    let magic: u32 = if ns { PCAP_NS } else { PCAP_US };
    let w32 = |v: u32| {
        if big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let w16 = |v: u16| {
        if big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let mut out = Vec::new();
    out.extend_from_slice(&w32(magic));
    out.extend_from_slice(&w16(2));
    out.extend_from_slice(&w16(4));
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(&w32(65535));
    out.extend_from_slice(&w32(1));
    for (i, p) in packets.iter().enumerate() {
        out.extend_from_slice(&w32(1_700_000_000 + i as u32));
        out.extend_from_slice(&w32(5));
        out.extend_from_slice(&w32(p.len() as u32));
        out.extend_from_slice(&w32(p.len() as u32 + 10));
        out.extend_from_slice(p);
    }
    out
}

#[test]
fn classic_pcap_in_both_orders_and_resolutions() {
    for big in [false, true] {
        for ns in [false, true] {
            let data = pcap(big, ns, &[b"abc", b"", b"defgh"]);
            assert!(is_capture(&data));
            let mut r = CaptureReader::new(io::Cursor::new(data)).unwrap();
            let p = r.next_packet().unwrap().unwrap();
            let frac = if ns { 5 } else { 5_000 };
            assert_eq!(
                (p.linktype, p.ts_ns, p.data, p.orig_len, p.number, p.offset),
                (
                    1,
                    1_700_000_000 * 1_000_000_000 + frac,
                    &b"abc"[..],
                    13,
                    1,
                    40
                )
            );
            assert_eq!(r.next_packet().unwrap().unwrap().data, b"");
            assert_eq!(r.next_packet().unwrap().unwrap().number, 3);
            assert!(r.next_packet().unwrap().is_none());
        }
    }
}

#[test]
fn a_cut_capture_is_an_error_at_the_packet() {
    let data = pcap(false, false, &[b"abc", b"defgh"]);
    let mut r = CaptureReader::new(io::Cursor::new(data[..data.len() - 2].to_vec())).unwrap();
    assert!(r.next_packet().unwrap().is_some());
    let e = r.next_packet().unwrap_err();
    assert_eq!(e.offset, Some(43 + 16));
    assert!(
        matches!(&e.kind, ErrorKind::BadCapture(m) if m.contains("after packet 1:")),
        "{e}"
    );
    assert!(r.next_packet().unwrap().is_none());
}

/// A pcapng section (little-endian) with one Ethernet interface whose
/// options are `if_tsresol` = `resol` and `if_tsoffset` = `offset_s`,
/// and one enhanced packet block at time `t` (in the interface's units).
fn pcapng_one(resol: u8, offset_s: i64, t: u64) -> Vec<u8> {
    let mut out = Vec::new();
    // SHB: type, length 28, byte-order magic, version 1.0, section length -1.
    out.extend_from_slice(&0x0A0D_0D0Au32.to_le_bytes());
    out.extend_from_slice(&28u32.to_le_bytes());
    out.extend_from_slice(&0x1A2B_3C4Du32.to_le_bytes());
    out.extend_from_slice(&[1, 0, 0, 0]);
    out.extend_from_slice(&u64::MAX.to_le_bytes());
    out.extend_from_slice(&28u32.to_le_bytes());
    // IDB: link type 1, snaplen, if_tsresol (9), if_tsoffset (14), end.
    let mut idb = vec![1, 0, 0, 0];
    idb.extend_from_slice(&65535u32.to_le_bytes());
    idb.extend_from_slice(&[9, 0, 1, 0, resol, 0, 0, 0]);
    idb.extend_from_slice(&[14, 0, 8, 0]);
    idb.extend_from_slice(&offset_s.to_le_bytes());
    idb.extend_from_slice(&[0, 0, 0, 0]);
    let total = (idb.len() + 12) as u32;
    out.extend_from_slice(&1u32.to_le_bytes());
    out.extend_from_slice(&total.to_le_bytes());
    out.extend_from_slice(&idb);
    out.extend_from_slice(&total.to_le_bytes());
    // EPB: interface 0, time, 4 bytes captured.
    out.extend_from_slice(&6u32.to_le_bytes());
    out.extend_from_slice(&36u32.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&((t >> 32) as u32).to_le_bytes());
    out.extend_from_slice(&(t as u32).to_le_bytes());
    out.extend_from_slice(&4u32.to_le_bytes());
    out.extend_from_slice(&4u32.to_le_bytes());
    out.extend_from_slice(b"abcd");
    out.extend_from_slice(&36u32.to_le_bytes());
    out
}

#[test]
fn pcapng_timestamps_with_resolution_and_offset() {
    // Base-2 resolution (2^-20 s) and a 10 s offset: 3 * 2^20 units is
    // 3 s, so 13 s in all.
    let data = pcapng_one(0x80 + 20, 10, 3 << 20);
    let mut r = CaptureReader::new(io::Cursor::new(data)).unwrap();
    assert_eq!(r.next_packet().unwrap().unwrap().ts_ns, 13_000_000_000);
    // Nanoseconds, an offset back before 1970.
    let data = pcapng_one(9, -5, 2_000_000_001);
    let mut r = CaptureReader::new(io::Cursor::new(data)).unwrap();
    assert_eq!(r.next_packet().unwrap().unwrap().ts_ns, -2_999_999_999);
}

#[test]
fn a_timestamp_past_i64_nanoseconds_is_an_error_not_an_overflow() {
    // The issue-13 defect: a large if_tsoffset overflowed (a panic with
    // overflow checks on). Also a time that alone overflows i64 ns.
    for (offset, t) in [(i64::MAX / 4, 1), (i64::MIN, 0), (0, u64::MAX)] {
        let data = pcapng_one(6, offset, t);
        assert!(data.len() <= 112);
        let mut r = CaptureReader::new(io::Cursor::new(data)).unwrap();
        let e = r.next_packet().unwrap_err();
        assert!(e.to_string().contains("if_tsoffset"), "{e}");
        // The timestamp of the packet block after the 28-byte SHB and
        // the 44-byte IDB.
        assert_eq!(e.offset, Some(28 + 44 + 12));
    }
}

/// A packet owned: (number, time, original length, offset, bytes).
type Owned = (u64, i64, u32, u64, Vec<u8>);

/// Every packet of a reader, owned, how reading ended, and how many
/// packets were read in the stream's buffer.
fn all_packets(mut r: CaptureReader<crate::source::DynRead>) -> (Vec<Owned>, bool, usize) {
    let mut out = Vec::new();
    let mut in_stream = 0usize;
    loop {
        match r.next_packet() {
            Ok(Some(p)) => out.push((p.number, p.ts_ns, p.orig_len, p.offset, p.data.to_vec())),
            Ok(None) => return (out, true, in_stream),
            Err(_) => return (out, false, in_stream),
        }
        in_stream += usize::from(r.data_in == DataIn::Stream);
        // `current` gives the same packet again.
        let again = r.current().map(|c| c.data.to_vec());
        assert_eq!(again.as_ref(), out.last().map(|p| &p.4));
    }
}

/// A capture of `n` records of 1 to 1,500 octets (`big`-endian, `ns`
/// resolution) that straddle the stream's buffer at every offset, the same
/// cut 700 octets short, and every fixture capture.
fn straddling_and_fixtures(n: u32, big: bool, ns: bool) -> Vec<Vec<u8>> {
    let frames: Vec<Vec<u8>> = (0..n)
        .map(|i| (i * 7919) % 1500 + 1)
        .map(|n| (0..n).map(|b| (b ^ n) as u8).collect())
        .collect();
    let refs: Vec<&[u8]> = frames.iter().map(Vec::as_slice).collect();
    let whole = pcap(big, ns, &refs);
    assert!(whole.len() > 3 * STREAM_BUFFER);
    let mut inputs = vec![whole.clone(), whole[..whole.len() - 700].to_vec()];
    for entry in std::fs::read_dir("tests/data/pcap").unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        if is_capture(&bytes) {
            inputs.push(bytes);
        }
    }
    inputs
}

/// Records read where they lie in the stream's buffer are those the
/// general path copies out, on every fixture capture and on one whose
/// records straddle the stream buffer at every offset mod 16, cut short
/// too.
#[test]
fn records_read_in_the_stream_buffer_are_the_copied_ones() {
    use crate::source::input::Opened;
    use crate::source::DynRead;
    let stream = |bytes: Vec<u8>, in_buffer: bool| {
        let mut r = Opened::reader(Box::new(std::io::Cursor::new(bytes)) as DynRead)
            .unwrap()
            .into_capture()
            .unwrap();
        if in_buffer {
            r.read_in_buffer();
        }
        all_packets(r)
    };
    // In blocks, read ahead on a thread or here in turn, from a stream
    // whose reads give uneven pieces (as a pipe's do), so that blocks end
    // anywhere in a record.
    let blocks = |bytes: Vec<u8>, thread: bool| {
        let pieces = Pieces {
            bytes,
            at: 0,
            n: 0,
            fail_at: None,
            dropped: None,
        };
        let mut r = CaptureReader::new(Box::new(pieces) as DynRead).unwrap();
        if thread {
            r.read_ahead();
        } else {
            r.read_in_blocks();
        }
        r.read_in_buffer();
        assert!(matches!(r.r, Buffered::Ahead(_)));
        all_packets(r)
    };
    let inputs = straddling_and_fixtures(40_000, false, true);
    let (mut read, mut in_buffer) = (0usize, 0usize);
    for bytes in inputs {
        let copied = stream(bytes.clone(), false);
        let read_ahead = blocks(bytes.clone(), true);
        let read_here = blocks(bytes.clone(), false);
        let in_place = stream(bytes, true);
        assert_eq!(copied.2, 0);
        assert_eq!((&read_here.0, read_here.1), (&copied.0, copied.1));
        read += copied.0.len();
        in_buffer += in_place.2;
        assert_eq!((&read_ahead.0, read_ahead.1), (&copied.0, copied.1));
        assert_eq!((in_place.0, in_place.1), (copied.0, copied.1));
    }
    assert!(read > 80_000 && in_buffer > 80_000, "{read} {in_buffer}");
}

/// A stream read in blocks on the reader's own thread: a block kept by
/// whoever read a packet in it keeps that packet's bytes while the reader
/// reads on, block after block (reusing the buffers of those let go), and
/// a reader whose stream fails part-way gives every whole packet before,
/// then the error.
#[test]
fn blocks_read_here_keep_their_packets_while_held() {
    use crate::source::DynRead;
    let frames: Vec<Vec<u8>> = (0..30_000u32)
        .map(|i| vec![(i % 251) as u8; (i as usize * 7919) % 1400 + 60])
        .collect();
    let refs: Vec<&[u8]> = frames.iter().map(Vec::as_slice).collect();
    let cap = pcap(false, true, &refs);
    assert!(cap.len() > 15 << 20, "many blocks of 256 KiB");
    for fail_at in [None, Some(cap.len() / 2)] {
        let pieces = Pieces {
            bytes: cap.clone(),
            at: 0,
            n: 0,
            fail_at,
            dropped: None,
        };
        let mut r = CaptureReader::new(Box::new(pieces) as DynRead).unwrap();
        r.read_in_blocks();
        r.read_in_buffer();
        let mut held = Vec::new();
        let mut got = 0usize;
        let end = loop {
            let Some(p) = r.next_packet().transpose() else {
                break None;
            };
            let p = match p {
                Ok(p) => p,
                Err(e) => break Some(e),
            };
            assert_eq!(p.data, &frames[got][..]);
            let (at, len) = (p.data.as_ptr() as usize, p.data.len());
            got += 1;
            if got % 37 != 0 {
                continue;
            }
            // A record across two blocks is copied out: no block has it.
            if let Some(b) = r.block() {
                let start = at - b.bytes().as_ptr() as usize;
                held.push((std::sync::Arc::clone(b), start..start + len, got - 1));
            }
        };
        assert!(held.len() > got / 40, "{} of {got} held", held.len());
        for (b, range, i) in &held {
            assert_eq!(&b.bytes()[range.clone()], &frames[*i][..], "packet {i}");
        }
        match fail_at {
            None => assert!(end.is_none() && got == frames.len()),
            Some(f) => {
                assert!(end.unwrap().to_string().contains("the stream broke"));
                // Every record ending by the failure (24-byte header, a
                // 16-byte header a record).
                let mut whole = 0;
                let mut at = 24;
                while at + 16 + frames[whole].len() <= f {
                    at += 16 + frames[whole].len();
                    whole += 1;
                }
                assert_eq!(got, whole);
            }
        }
    }
}

/// A stream that gives its bytes in uneven pieces (1 to 70,001 bytes, as
/// a pipe gives what was written), and fails at `fail_at` if set.
struct Pieces {
    bytes: Vec<u8>,
    at: usize,
    n: usize,
    fail_at: Option<usize>,
    /// Set when the stream is dropped.
    dropped: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
}

impl Drop for Pieces {
    fn drop(&mut self) {
        if let Some(d) = &self.dropped {
            d.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    }
}

impl Read for Pieces {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.fail_at.is_some_and(|f| self.at >= f) {
            return Err(io::Error::other("the stream broke"));
        }
        self.n += 1;
        let want = (self.n * 7919) % 70_001 + 1;
        let end = self
            .bytes
            .len()
            .min(self.at + want)
            .min(self.at + buf.len());
        let end = self.fail_at.map_or(end, |f| end.min(f.max(self.at)));
        let k = end - self.at;
        buf[..k].copy_from_slice(&self.bytes[self.at..end]);
        self.at = end;
        Ok(k)
    }
}

/// A stream read ahead that fails part-way gives every packet whole
/// before the failure, then the stream's error (not a silent end), then
/// nothing; a reader dropped before its end lets the thread go.
#[test]
fn a_stream_read_ahead_gives_its_packets_then_its_error() {
    use crate::source::DynRead;
    let frames: Vec<Vec<u8>> = (0..20_000u32).map(|i| vec![i as u8; 200]).collect();
    let refs: Vec<&[u8]> = frames.iter().map(Vec::as_slice).collect();
    let cap = pcap(false, true, &refs);
    let fail_at = cap.len() / 2;
    let pieces = Pieces {
        bytes: cap.clone(),
        at: 0,
        n: 0,
        fail_at: Some(fail_at),
        dropped: None,
    };
    let mut r = CaptureReader::new(Box::new(pieces) as DynRead).unwrap();
    r.read_ahead();
    r.read_in_buffer();
    let mut got = 0usize;
    let err = loop {
        match r.next_packet() {
            Ok(Some(p)) => {
                assert_eq!(p.data, &frames[got][..]);
                got += 1;
            }
            Ok(None) => panic!("the stream's error was lost after {got} packets"),
            Err(e) => break e,
        }
    };
    // Every record wholly before the failure came out (24-byte header,
    // 16 + 200 bytes a record).
    assert_eq!(got, (fail_at - 24) / 216);
    assert!(err.to_string().contains("the stream broke"), "{err}");
    assert!(r.next_packet().unwrap().is_none());
    // Dropped part-way: the thread's next block has nowhere to go, it
    // ends and drops the stream (so a file or pipe is closed).
    let dropped = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let pieces = Pieces {
        bytes: cap,
        at: 0,
        n: 0,
        fail_at: None,
        dropped: Some(dropped.clone()),
    };
    let mut r = CaptureReader::new(Box::new(pieces) as DynRead).unwrap();
    r.read_ahead();
    assert!(matches!(r.r, Buffered::Ahead(_)));
    assert!(r.next_packet().unwrap().is_some());
    drop(r);
    let until = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !dropped.load(std::sync::atomic::Ordering::SeqCst) {
        assert!(
            std::time::Instant::now() < until,
            "the read-ahead thread kept the stream"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// The prefetch of the next record (records longer than `classic::FAR`)
/// is a hint only: at the end of the bytes, past it and at the largest
/// offset it does nothing; and a capture of long records, read in memory
/// and in a stream's buffer, gives every frame as written, the last
/// ending at the capture's last byte (where the next header would be).
#[test]
fn prefetching_the_next_record_leaves_the_packets_as_written() {
    use crate::source::input::Opened;
    use crate::source::{DynRead, SharedBytes};
    for b in [&[][..], &[1u8; 100][..]] {
        for at in [
            0,
            b.len().saturating_sub(1),
            b.len(),
            b.len() + 64,
            usize::MAX,
        ] {
            classic::prefetch(b, at);
        }
    }
    let frames: Vec<Vec<u8>> = (0..3000u32)
        .map(|i| {
            let n = 129 + (i * 37) % 1400;
            (0..n).map(|b| (b ^ i) as u8).collect()
        })
        .collect();
    let refs: Vec<&[u8]> = frames.iter().map(Vec::as_slice).collect();
    let bytes = pcap(true, false, &refs);
    let whole: SharedBytes = std::sync::Arc::new(bytes.clone());
    let in_memory = Opened::bytes(whole).unwrap().into_capture().unwrap();
    assert!(in_memory.whole.is_some());
    let mut streamed = Opened::reader(Box::new(std::io::Cursor::new(bytes)) as DynRead)
        .unwrap()
        .into_capture()
        .unwrap();
    streamed.read_in_buffer();
    for r in [in_memory, streamed] {
        let (got, ended, _) = all_packets(r);
        assert!(ended);
        let data: Vec<&[u8]> = got.iter().map(|p| p.4.as_slice()).collect();
        assert_eq!(data, refs);
    }
}

/// Every packet of a reader asked of [`CaptureReader::next_fast`] first,
/// [`CaptureReader::next_packet`] when it answers `None` (as the meter's
/// loops read): the packets, how reading ended, how many came the fast way.
fn fast_then_general(mut r: CaptureReader<crate::source::DynRead>) -> (Vec<Owned>, bool, usize) {
    let mut out = Vec::new();
    let mut fast = 0usize;
    loop {
        if let Some(p) = r.next_fast() {
            out.push((p.number, p.ts_ns, p.orig_len, p.offset, p.data.to_vec()));
            fast += 1;
            continue;
        }
        match r.next_packet() {
            Ok(Some(p)) => out.push((p.number, p.ts_ns, p.orig_len, p.offset, p.data.to_vec())),
            Ok(None) => return (out, true, fast),
            Err(_) => return (out, false, fast),
        }
    }
}

/// The fast path gives the packets the general one gives, in memory, in
/// the stream's buffer and copied, on every fixture capture and on one
/// whose records straddle the stream's buffer (whole and cut short); it
/// gives nothing of a pcapng capture and leaves the straddling records,
/// the end and the error to the general path.
#[test]
fn the_fast_path_gives_the_packets_the_general_one_gives() {
    use crate::source::input::Opened;
    use crate::source::{DynRead, SharedBytes};
    let inputs = straddling_and_fixtures(20_000, true, false);
    let readers = |bytes: &[u8]| {
        let whole: SharedBytes = std::sync::Arc::new(bytes.to_vec());
        let stream = |in_buffer: bool| {
            let mut r = Opened::reader(Box::new(std::io::Cursor::new(bytes.to_vec())) as DynRead)
                .unwrap()
                .into_capture()
                .unwrap();
            if in_buffer {
                r.read_in_buffer();
            }
            r
        };
        [
            Opened::bytes(whole).unwrap().into_capture().unwrap(),
            stream(true),
            stream(false),
        ]
    };
    let (mut fast_total, mut general_total) = (0usize, 0usize);
    for bytes in &inputs {
        let ng = bytes.starts_with(&PCAPNG_SHB.to_be_bytes());
        for (a, b) in readers(bytes).into_iter().zip(readers(bytes)) {
            let (general, ended, _) = all_packets(a);
            let (mixed, mixed_ended, fast) = fast_then_general(b);
            assert_eq!((&mixed, mixed_ended), (&general, ended));
            if ng {
                assert_eq!(fast, 0);
            }
            fast_total += fast;
            general_total += mixed.len() - fast;
        }
    }
    // Both paths ran: the copied stream and pcapng take the general one.
    assert!(
        fast_total > 40_000 && general_total > 20_000,
        "{fast_total} {general_total}"
    );
}
