//! The middle observation point: every packet as it comes out of the queue, before any
//! impairment, written as classic pcap (LINKTYPE_RAW, nanosecond timestamps from
//! CLOCK_REALTIME, the clock tcpdump stamps with at the two ends).
//!
//! Two files: one with whole packets and one cut at 96 bytes (original length kept). The hot
//! path only copies the packet into an in-memory chunk; full chunks go to a writer thread that
//! runs off the shaper's CPU, and come back empty to be reused, so no file I/O, and no
//! allocation once the pool is warm, happens between a packet's arrival and its verdict.

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::thread::JoinHandle;

/// Magic of a nanosecond-resolution classic pcap.
pub const MAGIC_NS: u32 = 0xA1B2_3C4D;
/// Raw IP packets (IPv4 or IPv6 by the version nibble), no link-layer header.
pub const LINKTYPE_RAW: u32 = 101;
/// Snap length of the short capture, like the s96 tcpdump captures at the two ends.
pub const SNAPLEN_SHORT: usize = 96;
/// Snap length recorded in the full capture's header (tcpdump's default).
pub const SNAPLEN_FULL: usize = 262_144;

const CHUNK: usize = 1 << 20;
const RECORD_MAX: usize = 16 + 65_536;
const POOL: usize = 4;

/// The 24-byte global header of a classic pcap, little-endian.
pub fn file_header(snaplen: usize) -> [u8; 24] {
    let mut h = [0u8; 24];
    h[0..4].copy_from_slice(&MAGIC_NS.to_le_bytes());
    h[4..6].copy_from_slice(&2u16.to_le_bytes());
    h[6..8].copy_from_slice(&4u16.to_le_bytes());
    // thiszone and sigfigs stay 0.
    h[16..20].copy_from_slice(&(snaplen as u32).to_le_bytes());
    h[20..24].copy_from_slice(&LINKTYPE_RAW.to_le_bytes());
    h
}

/// Append one record (16-byte header + at most `snaplen` bytes of `pkt`) to `buf`.
pub fn push_record(buf: &mut Vec<u8>, ts: (u32, u32), pkt: &[u8], orig_len: usize, snaplen: usize) {
    let incl = pkt.len().min(snaplen);
    buf.extend_from_slice(&ts.0.to_le_bytes());
    buf.extend_from_slice(&ts.1.to_le_bytes());
    buf.extend_from_slice(&(incl as u32).to_le_bytes());
    buf.extend_from_slice(&(orig_len.max(pkt.len()) as u32).to_le_bytes());
    buf.extend_from_slice(&pkt[..incl]);
}

/// CLOCK_REALTIME now, as (seconds, nanoseconds).
pub fn realtime() -> (u32, u32) {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec through a valid pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) };
    (ts.tv_sec as u32, ts.tv_nsec as u32)
}

/// One capture file fed from the hot path.
struct Sink {
    snaplen: usize,
    buf: Vec<u8>,
    free: Receiver<Vec<u8>>,
}

/// The full and the snaplen-96 capture of the middle observation point.
pub struct MidCapture {
    sinks: [Sink; 2],
    tx: Option<Sender<(usize, Vec<u8>)>>,
    writer: Option<JoinHandle<io::Result<()>>>,
    pub packets: u64,
}

impl MidCapture {
    /// Create both files (headers written at once) and start the writer thread, kept off
    /// `avoid_cpu` (the shaper's own CPU).
    pub fn create(full: &Path, short: &Path, avoid_cpu: Option<usize>) -> io::Result<MidCapture> {
        let snaplens = [SNAPLEN_FULL, SNAPLEN_SHORT];
        let mut files = Vec::new();
        for (path, &snap) in [full, short].into_iter().zip(&snaplens) {
            let mut f = File::create(path)
                .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
            f.write_all(&file_header(snap))?;
            files.push(f);
        }
        let (tx, rx) = channel::<(usize, Vec<u8>)>();
        let mut back = Vec::new();
        let mut frees = Vec::new();
        for _ in 0..2 {
            let (btx, brx) = channel::<Vec<u8>>();
            for _ in 0..POOL {
                btx.send(Vec::with_capacity(CHUNK)).ok();
            }
            back.push(btx);
            frees.push(brx);
        }
        let writer = std::thread::Builder::new()
            .name("mid-pcap".into())
            .spawn(move || {
                if let Some(c) = avoid_cpu {
                    stay_off_cpu(c);
                }
                for (i, mut chunk) in rx {
                    files[i].write_all(&chunk)?;
                    chunk.clear();
                    // The shaper may be gone at the end; then the chunk is simply freed.
                    back[i].send(chunk).ok();
                }
                for f in &mut files {
                    f.flush()?;
                }
                Ok(())
            })?;
        let mut frees = frees.into_iter();
        let mut sink = |snaplen| {
            let free = frees.next().expect("two pools");
            let buf = free.recv().expect("a pooled chunk");
            Sink { snaplen, buf, free }
        };
        let sinks = [sink(snaplens[0]), sink(snaplens[1])];
        Ok(MidCapture {
            sinks,
            tx: Some(tx),
            writer: Some(writer),
            packets: 0,
        })
    }

    /// Record one packet as received from the queue (`orig_len`: its length before any copy
    /// range cut it).
    pub fn record(&mut self, pkt: &[u8], orig_len: usize) {
        let ts = realtime();
        self.packets += 1;
        for (i, s) in self.sinks.iter_mut().enumerate() {
            if s.buf.len() + RECORD_MAX > s.buf.capacity() {
                let fresh = s
                    .free
                    .try_recv()
                    .unwrap_or_else(|_| Vec::with_capacity(CHUNK));
                let full = std::mem::replace(&mut s.buf, fresh);
                if let Some(tx) = &self.tx {
                    tx.send((i, full)).ok();
                }
            }
            push_record(&mut s.buf, ts, pkt, orig_len, s.snaplen);
        }
    }

    /// Hand over what is buffered, wait for the writer, and report its first error.
    pub fn finish(mut self) -> io::Result<u64> {
        if let Some(tx) = self.tx.take() {
            for (i, s) in self.sinks.iter_mut().enumerate() {
                if !s.buf.is_empty() {
                    tx.send((i, std::mem::take(&mut s.buf))).ok();
                }
            }
        }
        match self.writer.take().map(JoinHandle::join) {
            Some(Ok(r)) => r.map(|()| self.packets),
            Some(Err(_)) => Err(io::Error::other("the pcap writer thread panicked")),
            None => Ok(self.packets),
        }
    }
}

/// Move the calling thread to every allowed CPU but `cpu` (when there is another one).
fn stay_off_cpu(cpu: usize) {
    // SAFETY: plain libc calls on a zeroed cpu_set_t of the right size, for this thread (0).
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        let size = std::mem::size_of::<libc::cpu_set_t>();
        if libc::sched_getaffinity(0, size, &mut set) != 0 {
            return;
        }
        libc::CPU_CLR(cpu, &mut set);
        if libc::CPU_COUNT(&set) > 0 {
            libc::sched_setaffinity(0, size, &set);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_is_nanosecond_raw_ip() {
        let h = file_header(96);
        assert_eq!(&h[0..4], &[0x4d, 0x3c, 0xb2, 0xa1]);
        assert_eq!(u32::from_le_bytes(h[16..20].try_into().unwrap()), 96);
        assert_eq!(u32::from_le_bytes(h[20..24].try_into().unwrap()), 101);
    }

    #[test]
    fn records_are_cut_at_the_snaplen_with_the_original_length() {
        let pkt = vec![0x45u8; 1500];
        let mut b = Vec::new();
        push_record(&mut b, (1, 2), &pkt, 1500, SNAPLEN_SHORT);
        assert_eq!(b.len(), 16 + 96);
        assert_eq!(u32::from_le_bytes(b[8..12].try_into().unwrap()), 96);
        assert_eq!(u32::from_le_bytes(b[12..16].try_into().unwrap()), 1500);
        b.clear();
        push_record(&mut b, (1, 2), &pkt[..60], 60, SNAPLEN_FULL);
        assert_eq!(b.len(), 16 + 60);
    }

    #[test]
    fn files_hold_every_record() {
        let dir = std::env::temp_dir().join(format!("ffx-shaper-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (full, short) = (dir.join("f.pcap"), dir.join("s.pcap"));
        let mut cap = MidCapture::create(&full, &short, None).unwrap();
        let pkt = vec![0x45u8; 1400];
        for _ in 0..2000 {
            cap.record(&pkt, pkt.len());
        }
        assert_eq!(cap.finish().unwrap(), 2000);
        let f = std::fs::metadata(&full).unwrap().len();
        let s = std::fs::metadata(&short).unwrap().len();
        assert_eq!(f, 24 + 2000 * (16 + 1400));
        assert_eq!(s, 24 + 2000 * (16 + 96));
        std::fs::remove_dir_all(&dir).ok();
    }
}
