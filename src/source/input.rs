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
            body: Body::Stream(Box::new(r)),
        })
    }

    /// The capture's packet reader; an input that is not a capture is an
    /// error saying so.
    pub fn into_capture(self) -> Result<CaptureReader<DynRead>> {
        if !self.capture {
            let mut e = Error::new(ErrorKind::BadCapture(
                "not a packet capture: no pcap or pcapng magic number (also after gzip or zstd)"
                    .into(),
            ));
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
