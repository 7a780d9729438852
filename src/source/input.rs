//! Opening an input, once for every reader: a path is memory-mapped when
//! it is a plain regular file and not compressed, read as a stream
//! otherwise (a pipe, a FIFO, `/dev/stdin`, a gzip or zstd file); bytes
//! already in memory are used where they are; gzip and zstd are recognised
//! by their magic numbers and undone on the fly (`super::compressed`);
//! a packet capture is told from flow export by its magic number
//! ([`crate::pcap::is_capture`]), never by a file's extension.
//!
//! The collector's [`super::MessageStream`] and the meter both start here.

use std::fs::File;
use std::io::{self, BufReader};
use std::path::Path;
use std::sync::Arc;

use memmap2::Mmap;

use super::compressed::{compressed, decompressing, fill_peek};
use super::{DynRead, SharedBytes};
use crate::error::{Error, ErrorKind, Result};
use crate::pcap::{CaptureReader, InMemory, WholeBytes};

/// A whole input in memory.
pub enum Whole {
    /// A mapped file.
    Mapped(Mmap),
    /// Bytes handed over by the caller.
    Shared(SharedBytes),
}

impl AsRef<[u8]> for Whole {
    fn as_ref(&self) -> &[u8] {
        match self {
            Whole::Mapped(m) => m,
            Whole::Shared(b) => (**b).as_ref(),
        }
    }
}

impl InMemory for Whole {
    fn bytes(&self) -> &[u8] {
        self.as_ref()
    }

    /// A mapped file's pages in `range` go back to the kernel (read again
    /// from the file if ever touched); bytes handed over stay.
    #[cfg(unix)]
    fn release(&self, range: std::ops::Range<usize>) {
        let Whole::Mapped(map) = self else {
            return;
        };
        if range.end > map.len() || range.start >= range.end {
            return;
        }
        // SAFETY: the mapping is a private read-only file mapping; after
        // MADV_DONTNEED its pages are read from the file again on access,
        // with the same content. The callers release only what is behind
        // everything they still read.
        let _ = unsafe {
            map.unchecked_advise_range(
                memmap2::UncheckedAdvice::DontNeed,
                range.start,
                range.end.saturating_sub(range.start),
            )
        };
    }
}

/// An input opened: its bytes in memory or as a stream, and whether they
/// are a packet capture.
pub enum Body {
    /// Uncompressed bytes in memory, read in place.
    Whole(Whole),
    /// A stream, already decompressed; its first bytes are buffered (the
    /// sniffing read them), not lost.
    Stream(DynRead),
}

/// An opened input and what its first bytes say it is.
pub struct Opened {
    pub body: Body,
    /// A pcap or pcapng capture (by magic number).
    pub capture: bool,
    /// No bytes at all (after decompression): said as such when a capture
    /// was wanted.
    pub empty: bool,
    /// A stream of the operating system's (a file, a pipe, a decompressor
    /// over one): its capture reader reads it ahead on a thread of its own
    /// ([`CaptureReader::read_ahead`]).
    pub read_ahead: bool,
}

impl Opened {
    /// A mapped file (a plain, uncompressed regular file).
    pub fn mapped(&self) -> bool {
        matches!(self.body, Body::Whole(Whole::Mapped(_)))
    }

    /// Open a file (see the module docs).
    pub fn path(path: &Path) -> io::Result<Self> {
        let f = File::open(path)?;
        let meta = f.metadata()?;
        if meta.is_file() && meta.len() > 0 {
            // SAFETY: the mapping is read-only and private to this input;
            // its bytes are read through checked slices only. Another
            // process truncating the file meanwhile is the documented
            // hazard of mapping (see `super`'s module docs).
            if let Ok(map) = unsafe { Mmap::map(&f) } {
                if !compressed(&map) {
                    let _ = map.advise(memmap2::Advice::Sequential);
                    return Ok(Opened {
                        read_ahead: false,
                        capture: crate::pcap::is_capture(&map),
                        empty: false,
                        body: Body::Whole(Whole::Mapped(map)),
                    });
                }
            }
        }
        Self::reader(Box::new(f))
    }

    /// Open a file as a stream (read in large blocks, decompressed if
    /// needed) rather than mapping it, and its size when that is the
    /// count of bytes the reader will go through (an uncompressed file).
    /// A pcapng file is still mapped: only classic pcap records are read
    /// in place in a stream's buffer.
    /// Reading a capture start to end once, as the meter does, copying
    /// blocks out of the page cache costs less than faulting in a
    /// mapping's pages (`BENCHMARKS.md`, the flow meter); on more than one
    /// CPU a thread makes those copies ahead of the reader
    /// ([`Opened::read_ahead`]).
    pub fn path_streamed(path: &Path) -> io::Result<(Self, Option<u64>)> {
        use std::io::Seek;
        let mut f = File::open(path)?;
        let meta = f.metadata()?;
        if !meta.is_file() {
            // A pipe or a device: read as it comes, never sought back.
            return Ok((Self::reader(Box::new(f))?.ahead(), None));
        }
        let mut head = [0u8; 8];
        let got = super::read_full(&mut f, &mut head)?;
        let plain = !compressed(head.get(..got).unwrap_or_default());
        let size = plain.then_some(meta.len());
        if plain && head.get(..4) == Some(&crate::pcap::PCAPNG_SHB.to_be_bytes()[..]) {
            // pcapng blocks are read in place only from memory.
            return Ok((Self::path(path)?, size));
        }
        f.rewind()?;
        Ok((Self::reader(Box::new(f))?.ahead(), size))
    }

    /// Open a file for readers that go through it faster one way or the
    /// other depending on how far apart its records lie (the meter's
    /// workers, which walk it in turns): as [`Opened::path`] (a plain
    /// regular file mapped), except that a classic pcap whose whole records
    /// in its first [`DENSITY_PROBE`] octets average `dense` octets or more
    /// (record header included) is opened as a stream with no thread
    /// reading it ahead (its reader reads it in blocks, in turn:
    /// [`CaptureReader::read_in_blocks`]), and a compressed file or a pipe
    /// is read ahead ([`Opened::read_ahead`]). Mapped, every page is
    /// faulted in, and records far apart read in place cost more than
    /// records close together; read in blocks, each block is copied out
    /// of the page cache, which streams: `BENCHMARKS.md` ("Two workers
    /// read a capture of large records ahead", and the walk reading blocks
    /// itself) has where the two cross.
    pub fn path_by_density(path: &Path, dense: u64) -> io::Result<Self> {
        let opened = Self::path(path)?;
        let Body::Whole(whole) = &opened.body else {
            // A pipe, or a compressed file: already a stream.
            return Ok(opened.ahead());
        };
        if mean_record(whole.as_ref()).is_some_and(|mean| mean >= dense) {
            // A plain classic pcap (`mean_record` knows no other): read
            // from the file, no thread ahead.
            return Self::reader(Box::new(File::open(path)?));
        }
        Ok(opened)
    }

    /// Read ahead on a thread (see [`Opened::read_ahead`]) when the
    /// process may run on more than one CPU: on one (`taskset -c 0`, a
    /// one-CPU container) the thread would only take turns with the meter.
    /// (An input in memory is read in place, never ahead.)
    pub(crate) fn ahead(self) -> Self {
        let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        Opened {
            read_ahead: cpus > 1,
            ..self
        }
    }

    /// Bytes in memory kept by their owner: used in place unless
    /// compressed.
    pub fn bytes(data: SharedBytes) -> io::Result<Self> {
        let bytes = (*data).as_ref();
        if compressed(bytes) {
            return Self::reader(Box::new(io::Cursor::new(SharedRead(data))));
        }
        Ok(Opened {
            read_ahead: false,
            capture: crate::pcap::is_capture(bytes),
            empty: bytes.is_empty(),
            body: Body::Whole(Whole::Shared(data)),
        })
    }

    /// A reader (a file object, a pipe, a socket), decompressed if needed.
    pub fn reader(r: DynRead) -> io::Result<Self> {
        let mut r = BufReader::with_capacity(1 << 16, decompressing(r)?);
        // A stream that fails already here (a corrupt compressed header)
        // is not a capture; its error comes from the first read, where the
        // reader's policy handles it.
        let head = fill_peek(&mut r).unwrap_or_default();
        Ok(Opened {
            read_ahead: false,
            capture: crate::pcap::is_capture(&head),
            empty: head.is_empty(),
            body: Body::Stream(Box::new(r)),
        })
    }

    /// The capture's packet reader; an input that is not a capture is an
    /// error saying so.
    pub fn into_capture(self) -> Result<CaptureReader<DynRead>> {
        if !self.capture {
            let why = if self.empty {
                "not a packet capture: the file is empty"
            } else {
                "not a packet capture: no pcap or pcapng magic number (also after gzip or zstd)"
            };
            let mut e = Error::new(ErrorKind::BadCapture(why.into()));
            e.offset = Some(0);
            return Err(e);
        }
        match self.body {
            Body::Whole(w) => CaptureReader::from_whole(
                Box::new(w) as WholeBytes,
                Box::new(io::empty()) as DynRead,
            ),
            Body::Stream(r) => {
                let mut c = CaptureReader::new(r)?;
                if self.read_ahead {
                    c.read_ahead();
                }
                Ok(c)
            }
        }
    }
}

/// Octets at the start of a file that [`Opened::path_by_density`] looks
/// at to find how long its records are.
pub const DENSITY_PROBE: usize = 1 << 20;

/// The mean length (header included) of the whole records in the first
/// [`DENSITY_PROBE`] octets of `bytes`, if they are a classic pcap with at
/// least one; read by the capture reader itself.
fn mean_record(bytes: &[u8]) -> Option<u64> {
    // (pcapng's block type reads the same in either byte order.)
    if bytes.get(..4) == Some(&crate::pcap::PCAPNG_SHB.to_be_bytes()[..]) {
        return None;
    }
    let head = bytes.get(..DENSITY_PROBE).unwrap_or(bytes).to_vec();
    let mut r = Opened::bytes(Arc::new(head)).ok()?.into_capture().ok()?;
    let start = r.position();
    let mut records = 0u64;
    // Up to the probe's end: the record cut there (or any error) ends it.
    while r.next_packet().is_ok_and(|p| p.is_some()) {
        records = records.saturating_add(1);
    }
    r.position().saturating_sub(start).checked_div(records)
}

/// Shared bytes as a reader's source (for decompressing them).
struct SharedRead(SharedBytes);

impl AsRef<[u8]> for SharedRead {
    fn as_ref(&self) -> &[u8] {
        (*self.0).as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::sync::Arc;

    fn pcap() -> Vec<u8> {
        let mut f = 0xA1B2_C3D4u32.to_le_bytes().to_vec();
        f.extend_from_slice(&[2, 0, 4, 0]);
        f.extend_from_slice(&[0; 8]);
        f.extend_from_slice(&65535u32.to_le_bytes());
        f.extend_from_slice(&101u32.to_le_bytes());
        f
    }

    #[test]
    fn captures_are_known_by_magic_in_memory_in_files_and_compressed() {
        let cap = pcap();
        let dir = std::env::temp_dir().join(format!("ferrofix-input-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // A capture named like IPFIX, and IPFIX named like a capture.
        let named_ipfix = dir.join("flows.ipfix");
        std::fs::write(&named_ipfix, &cap).unwrap();
        let named_pcap = dir.join("trace.pcap");
        std::fs::write(&named_pcap, [0, 10, 0, 16]).unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&cap).unwrap();
        let gzipped = dir.join("trace.bin");
        std::fs::write(&gzipped, gz.finish().unwrap()).unwrap();
        let open = |p: &Path| Opened::path(p).unwrap();
        assert!(open(&named_ipfix).capture && matches!(open(&named_ipfix).body, Body::Whole(_)));
        assert!(!open(&named_pcap).capture);
        assert!(open(&gzipped).capture && matches!(open(&gzipped).body, Body::Stream(_)));
        assert!(open(&gzipped).into_capture().is_ok());
        let e = open(&named_pcap).into_capture().err().unwrap();
        assert!(e.to_string().contains("not a packet capture"), "{e}");
        assert!(Opened::bytes(Arc::new(cap.clone())).unwrap().capture);
        let r = Opened::reader(Box::new(io::Cursor::new(cap))).unwrap();
        assert!(r.capture);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A classic pcap file of `n` records of `len` packet octets each (so
    /// `16 + len` octets a record), in the byte order `le` says.
    fn records(n: usize, len: u32, le: bool) -> Vec<u8> {
        let mut cap = pcap();
        if !le {
            cap = [0xA1B2_C3D4u32, 0x0002_0004, 0, 0, 65535, 1]
                .iter()
                .flat_map(|v| v.to_be_bytes())
                .collect();
        }
        for i in 0..n {
            for v in [i as u32, 0, len, len] {
                cap.extend_from_slice(&if le { v.to_le_bytes() } else { v.to_be_bytes() });
            }
            cap.extend(std::iter::repeat_n(0u8, len as usize));
        }
        cap
    }

    /// `path_by_density` maps a classic pcap whose records in its first MiB
    /// average under the bound (either byte order) and streams one whose
    /// records lie farther apart; the rest it opens as `Opened::path` does
    /// (a gzipped file streamed; a pcapng one, one with no whole record
    /// and a file that is no capture mapped); `mean_record` is the
    /// records' length (16-octet header and packet), whatever lies past
    /// the probe, and none for those three.
    #[test]
    fn records_close_together_are_mapped_and_far_apart_streamed() {
        let dir = std::env::temp_dir().join(format!("ferrofix-density-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let write = |name: &str, bytes: &[u8]| {
            let p = dir.join(name);
            std::fs::write(&p, bytes).unwrap();
            p
        };
        // 3 MiB of 96-octet packets (112 a record), then 1400-octet ones
        // past the probe.
        let mut dense = records(3 << 20 >> 7, 96, true);
        dense.extend_from_slice(&records(100, 1400, true)[24..]);
        let dense = write("dense.pcap", &dense);
        let dense_be = write("dense-be.pcap", &records(20_000, 96, false));
        let sparse = write("sparse.pcap", &records(3000, 1400, true));
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&records(20_000, 96, true)).unwrap();
        let gzipped = write("dense.pcap.gz", &gz.finish().unwrap());
        let mut ng = 0x0A0D_0D0Au32.to_le_bytes().to_vec();
        ng.extend_from_slice(&28u32.to_le_bytes());
        ng.extend_from_slice(&0x1A2B_3C4Du32.to_le_bytes());
        let pcapng = write("trace.pcapng", &ng);
        let cut = write("cut.pcap", &records(1, 96, true)[..60]);
        let other = write("flows.ipfix", &[0, 10, 0, 16, 0, 0, 0, 0]);
        let mean = |p: &Path| mean_record(&std::fs::read(p).unwrap());
        assert_eq!(mean(&dense), Some(112));
        assert_eq!(mean(&dense_be), Some(112));
        assert_eq!(mean(&sparse), Some(1416));
        for p in [&pcapng, &cut, &other] {
            assert_eq!(mean(p), None, "{}", p.display());
        }
        let mapped = |p: &Path, bound| Opened::path_by_density(p, bound).unwrap().mapped();
        assert!(mapped(&dense, 200) && mapped(&dense_be, 200));
        assert!(
            !mapped(&dense, 112),
            "a mean of the bound itself is not under it"
        );
        assert!(!mapped(&sparse, 200) && mapped(&sparse, 2000));
        assert!(!mapped(&gzipped, 200));
        for p in [&pcapng, &cut, &other] {
            assert!(mapped(p, 200), "{}", p.display());
        }
        // Streamed, a capture still reads as one.
        for p in [&sparse, &gzipped] {
            let o = Opened::path_by_density(p, 200).unwrap();
            assert!(o.into_capture().is_ok(), "{}", p.display());
        }
        // A pipe is opened once: every packet written into it is read.
        let fifo = dir.join("live.pcap");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        if made.is_ok_and(|s| s.success()) {
            let (to, cap) = (fifo.clone(), records(20_000, 96, true));
            // (A write cut short by a reader gone is what the count shows.)
            std::thread::spawn(move || std::fs::write(to, cap));
            let (done, count) = std::sync::mpsc::channel();
            let from = fifo.clone();
            // On a thread: an opening that ate the pipe's first bytes
            // would leave the reader waiting for a writer that is gone.
            std::thread::spawn(move || {
                let mut r = Opened::path_by_density(&from, 200)
                    .unwrap()
                    .into_capture()
                    .unwrap();
                let mut n = 0;
                while let Ok(Some(_)) = r.next_packet() {
                    n += 1;
                }
                let _ = done.send(n);
            });
            let n = count.recv_timeout(std::time::Duration::from_secs(30));
            assert_eq!(n, Ok(20_000), "packets read from the pipe");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// The SAFETY argument of `Whole::release`: pages handed back are read
    /// from the file again with the same bytes; and a capture read in place
    /// past several release steps gives every packet as from memory.
    #[test]
    fn released_pages_read_back_the_same_and_captures_read_whole() {
        let dir = std::env::temp_dir().join(format!("ferrofix-release-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // 9 MiB of classic pcap: 16-byte record headers and 100-byte
        // packets whose bytes count their number.
        let mut cap = pcap();
        let mut n = 0u32;
        while cap.len() < 9 << 20 {
            cap.extend_from_slice(&n.to_le_bytes());
            cap.extend_from_slice(&[0; 4]);
            cap.extend_from_slice(&100u32.to_le_bytes());
            cap.extend_from_slice(&100u32.to_le_bytes());
            cap.extend(std::iter::repeat_n((n % 251) as u8, 100));
            n += 1;
        }
        let path = dir.join("big.pcap");
        std::fs::write(&path, &cap).unwrap();
        let Body::Whole(w) = Opened::path(&path).unwrap().body else {
            panic!("a plain file is mapped");
        };
        w.release(0..(4 << 20));
        assert!(
            w.bytes() == cap.as_slice(),
            "released pages read back changed"
        );
        let mut r = Opened::path(&path).unwrap().into_capture().unwrap();
        assert!(r.in_place());
        let mut seen = 0u32;
        while let Some(p) = r.next_packet().unwrap() {
            assert_eq!(p.ts_ns, i64::from(seen) * 1_000_000_000);
            assert!(p.data.iter().all(|&b| b == (seen % 251) as u8));
            seen += 1;
        }
        assert_eq!(seen, n);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
