//! Flow export traffic inside packet captures: the UDP datagrams of a
//! pcap/pcapng capture that hold IPFIX, NetFlow v9 or NetFlow v5 (found by
//! content: a known version and a header whose framing fits the datagram,
//! whatever the port; IP fragments reassembled), and the IPFIX messages of
//! TCP connections (streams reassembled, see [`super::tcp`]), each
//! message in turn, per transport session (RFC 7011 §8: the exporter's and
//! the collector's address and port; a TCP connection ends its session).
//! Each session has its own NetFlow translator and message count; the
//! decoder keys templates and sequence numbers by the session.
//!
//! Not read: IPFIX over SCTP (counted with other packets).

use std::net::IpAddr;

use crate::error::Result;
use crate::packet::{DissectOptions, Dissector, Step, Tcp, L4};
use crate::pcap::{CaptureReader, WholeBytes};

use super::datagrams::Datagrams;
use super::tcp::{Ready, Streams};
use super::DynRead;

/// The sender of a message read from a capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Exporter {
    pub addr: IpAddr,
    pub port: u16,
}

impl std::fmt::Display for Exporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.addr {
            IpAddr::V4(a) => write!(f, "{a}:{}", self.port),
            IpAddr::V6(a) => write!(f, "[{a}]:{}", self.port),
        }
    }
}

/// Counters of the capture layer. Every packet counts once: as a
/// datagram of flow export, a TCP segment of an IPFIX stream, an IP
/// fragment, or another packet.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CaptureStats {
    pub packets: u64,
    /// UDP datagrams holding flow export (not those reassembled from
    /// fragments, counted in `reassembled`).
    pub datagrams: u64,
    /// Other UDP datagrams and TCP segments, and packets that are not UDP
    /// or TCP over IP.
    pub other_packets: u64,
    /// IP fragments.
    pub fragments: u64,
    /// Datagrams of flow export reassembled from fragments.
    pub reassembled: u64,
    /// Fragments of datagrams never completed.
    pub fragments_dropped: u64,
    /// TCP streams of IPFIX.
    pub tcp: super::tcp::TcpStats,
}

/// The capture side of a message stream.
pub(super) struct Capture {
    reader: CaptureReader<DynRead>,
    pub(super) d: Datagrams,
    stats: CaptureStats,
    /// Frames to transport headers, fragments reassembled.
    dissector: Dissector,
    tcp: Streams,
    ended: bool,
    /// Only these ports carry flow export (None: any).
    pub(super) ports: Option<Vec<u16>>,
}

impl Capture {
    pub(super) fn new(r: DynRead) -> Result<Self> {
        Ok(Self::with_reader(CaptureReader::new(r)?))
    }

    /// A capture in memory (a mapped file, bytes), read in place.
    pub(super) fn from_whole(whole: WholeBytes) -> Result<Self> {
        Ok(Self::with_reader(CaptureReader::from_whole(
            whole,
            Box::new(std::io::empty()) as DynRead,
        )?))
    }

    fn with_reader(reader: CaptureReader<DynRead>) -> Self {
        Capture {
            reader,
            d: Datagrams::default(),
            stats: CaptureStats::default(),
            dissector: Dissector::new(DissectOptions::default()),
            tcp: Streams::default(),
            ended: false,
            ports: None,
        }
    }

    /// The current message's bytes.
    pub(super) fn bytes(&self) -> &[u8] {
        self.d.bytes_in(self.reader.whole_bytes())
    }

    /// The counters so far.
    pub(super) fn stats(&self) -> CaptureStats {
        let mut s = self.stats.clone();
        let d = self.dissector.stats();
        s.fragments = d.fragments;
        s.reassembled = d.defrag.reassembled;
        s.fragments_dropped = d.defrag.dropped;
        s.tcp = self.tcp.stats.clone();
        s
    }

    /// Bytes of the capture read so far.
    pub(super) fn consumed(&self) -> u64 {
        self.reader.position()
    }

    /// Move to the next message; `Ok(false)` at the end of the capture.
    /// An error in one datagram does not end the capture: the next call
    /// goes on with the next datagram.
    pub(super) fn advance(&mut self) -> Result<bool> {
        loop {
            if self.d.next_in(self.reader.whole_bytes())? {
                return Ok(true);
            }
            if !self.next_datagram()? {
                return Ok(false);
            }
        }
    }

    /// Find the next message source: a UDP datagram holding flow export
    /// (whole or reassembled), or a message of a TCP stream.
    fn next_datagram(&mut self) -> Result<bool> {
        loop {
            match self.tcp.pop() {
                Some(Ready::End(key)) => {
                    self.d.end_session(&key);
                    continue;
                }
                Some(Ready::Message {
                    key,
                    bytes,
                    offset,
                    frame,
                }) => {
                    if self.d.load(key, &bytes, offset, frame) {
                        self.d.set_udp(false);
                        return Ok(true);
                    }
                    continue;
                }
                None => {}
            }
            if self.ended {
                return Ok(false);
            }
            let in_place = self.reader.in_place();
            // Where a capture in memory is (it does not move).
            let whole = {
                let w = self.reader.whole_bytes();
                w.as_ptr() as usize..(w.as_ptr() as usize).saturating_add(w.len())
            };
            let Some(p) = self.reader.next_packet()? else {
                // The end: streams' last holes skipped, then their ends.
                self.ended = true;
                self.tcp.finish();
                self.dissector.finish();
                continue;
            };
            self.stats.packets = self.stats.packets.saturating_add(1);
            let frame_at = p.data.as_ptr() as usize;
            let d = match self.dissector.frame(&p) {
                Step::Packet(d) => d,
                Step::Held => continue,
                Step::NotIp(_) => {
                    self.stats.other_packets = self.stats.other_packets.saturating_add(1);
                    continue;
                }
            };
            // Where a slice of the IP payload is in the input.
            let offset_of = |b: &[u8]| {
                d.payload_offset.saturating_add(
                    (b.as_ptr() as usize).saturating_sub(d.ip.payload.as_ptr() as usize) as u64,
                )
            };
            let counted = !d.reassembled && !d.ip.fragment;
            let u = match d.l4 {
                L4::Tcp(t) if d.depth == 0 => {
                    if !ports_match(self.ports.as_deref(), d.ip.payload)
                        || !tcp_segment(
                            &mut self.tcp,
                            d.ip.src,
                            d.ip.dst,
                            &t,
                            offset_of(t.payload),
                            d.number,
                        )
                    {
                        self.count_other(counted);
                    }
                    continue;
                }
                L4::Udp(u) if d.depth == 0 => u,
                _ => {
                    self.count_other(counted);
                    continue;
                }
            };
            if !super::datagrams::export_payload(u.payload)
                || !ports_match(self.ports.as_deref(), d.ip.payload)
            {
                self.count_other(counted);
                continue;
            }
            let key = (
                Exporter {
                    addr: d.ip.src,
                    port: u.src_port,
                },
                Exporter {
                    addr: d.ip.dst,
                    port: u.dst_port,
                },
            );
            let (offset, number, len) = (offset_of(u.payload), d.number, u.payload.len());
            let at = u.payload.as_ptr() as usize;
            if d.reassembled {
                // Reassembled: the datagram's own copy.
                if self.d.load(key, u.payload, offset, number) {
                    return Ok(true);
                }
                continue;
            }
            if in_place && whole.contains(&at) {
                // In place in memory: the datagram is read where it is.
                // Inside `whole` (checked just above).
                let start = at.saturating_sub(whole.start);
                if !self
                    .d
                    .load_external(key, start..start.saturating_add(len), offset, number)
                {
                    self.stats.other_packets = self.stats.other_packets.saturating_add(1);
                    continue;
                }
                self.stats.datagrams = self.stats.datagrams.saturating_add(1);
                return Ok(true);
            }
            if in_place {
                // In memory but not contiguous: one copy into the datagram.
                if !self.d.load(key, u.payload, offset, number) {
                    self.stats.other_packets = self.stats.other_packets.saturating_add(1);
                    continue;
                }
                self.stats.datagrams = self.stats.datagrams.saturating_add(1);
                return Ok(true);
            }
            // The reader's buffer goes to the datagram (no copy); the
            // datagram's old buffer becomes the reader's.
            let payload_at = at.saturating_sub(frame_at);
            let start = self.reader.data_range().start.saturating_add(payload_at);
            let spare = self.d.take_spare();
            let buf = self.reader.swap_buffer(spare);
            match self
                .d
                .load_owned(key, buf, start..start.saturating_add(len), offset, number)
            {
                Ok(old) => self.d.put_spare(old),
                Err(buf) => {
                    let _ = self.reader.swap_buffer(buf);
                    self.stats.other_packets = self.stats.other_packets.saturating_add(1);
                    continue;
                }
            }
            self.stats.datagrams = self.stats.datagrams.saturating_add(1);
            return Ok(true);
        }
    }

    /// A packet that is not flow export: counted as other unless it is a
    /// fragment (counted with fragments) or a reassembled datagram.
    fn count_other(&mut self, counted: bool) {
        if counted {
            self.stats.other_packets = self.stats.other_packets.saturating_add(1);
        }
    }
}

/// Whether a UDP or TCP header's source or destination port is one of
/// `ports` (any port when None).
fn ports_match(ports: Option<&[u16]>, transport: &[u8]) -> bool {
    let Some(ports) = ports else {
        return true;
    };
    let port = |at: usize| {
        transport
            .get(at..at.saturating_add(2))
            .and_then(|b| b.try_into().ok())
            .map(u16::from_be_bytes)
    };
    [port(0), port(2)]
        .into_iter()
        .flatten()
        .any(|p| ports.contains(&p))
}

/// A TCP segment (its data at `offset` of the input): whether it belongs
/// to an IPFIX stream.
fn tcp_segment(
    tcp: &mut Streams,
    src: IpAddr,
    dst: IpAddr,
    t: &Tcp<'_>,
    offset: u64,
    frame: u64,
) -> bool {
    let key = (
        Exporter {
            addr: src,
            port: t.src_port,
        },
        Exporter {
            addr: dst,
            port: t.dst_port,
        },
    );
    tcp.segment(key, t, offset, frame)
}
