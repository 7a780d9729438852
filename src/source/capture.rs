//! Flow export traffic inside packet captures: the UDP datagrams of a
//! pcap/pcapng capture that hold IPFIX, NetFlow v9 or NetFlow v5 (found by
//! content: a known version and a header whose framing fits the datagram,
//! whatever the port), each datagram's messages in turn, per transport
//! session (RFC 7011 §8: for UDP the exporter's and the collector's address
//! and port). Each session has its own NetFlow translator and message count;
//! the decoder keys templates and sequence numbers by the session.
//!
//! Not read yet: IPFIX over TCP or SCTP, and IP fragments (counted in
//! [`CaptureStats`]).

use std::net::IpAddr;

use crate::error::Result;
use crate::packet;
use crate::pcap::{CaptureReader, WholeBytes};

use super::datagrams::Datagrams;
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

/// Counters of the capture layer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CaptureStats {
    pub packets: u64,
    /// UDP datagrams holding flow export.
    pub datagrams: u64,
    /// Other UDP datagrams, and packets that are not UDP over IP.
    pub other_packets: u64,
    /// IP fragments (not reassembled yet).
    pub fragments: u64,
}

/// The capture side of a message stream.
pub(super) struct Capture {
    reader: CaptureReader<DynRead>,
    pub(super) d: Datagrams,
    pub(super) stats: CaptureStats,
}

impl Capture {
    pub(super) fn new(r: DynRead) -> Result<Self> {
        Ok(Capture {
            reader: CaptureReader::new(r)?,
            d: Datagrams::default(),
            stats: CaptureStats::default(),
        })
    }

    /// A capture in memory (a mapped file, bytes), read in place.
    pub(super) fn from_whole(whole: WholeBytes) -> Result<Self> {
        Ok(Capture {
            reader: CaptureReader::from_whole(whole, Box::new(std::io::empty()) as DynRead)?,
            d: Datagrams::default(),
            stats: CaptureStats::default(),
        })
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
            if self.d.next()? {
                return Ok(true);
            }
            if !self.next_datagram()? {
                return Ok(false);
            }
        }
    }

    /// Find the next UDP datagram holding flow export.
    fn next_datagram(&mut self) -> Result<bool> {
        loop {
            let in_place = self.reader.in_place();
            let Some(p) = self.reader.next_packet()? else {
                return Ok(false);
            };
            self.stats.packets += 1;
            let Some(ip) = packet::ip_payload(p.linktype, p.data).and_then(packet::ip) else {
                self.stats.other_packets += 1;
                continue;
            };
            if ip.fragment {
                self.stats.fragments += 1;
                continue;
            }
            if ip.protocol != 17 {
                self.stats.other_packets += 1;
                continue;
            }
            let Some(u) = packet::udp(ip.payload) else {
                self.stats.other_packets += 1;
                continue;
            };
            if !super::datagrams::export_payload(u.payload) {
                self.stats.other_packets += 1;
                continue;
            }
            let key = (
                Exporter {
                    addr: ip.src,
                    port: u.src_port,
                },
                Exporter {
                    addr: ip.dst,
                    port: u.dst_port,
                },
            );
            let payload_at = u.payload.as_ptr() as usize - p.data.as_ptr() as usize;
            let (offset, number, len) = (p.offset + payload_at as u64, p.number, u.payload.len());
            // The reader's buffer goes to the datagram (no copy); the
            // datagram's old buffer becomes the reader's.
            if in_place {
                // In place in memory: one copy into the datagram.
                if !self.d.load(key, u.payload, offset, number) {
                    self.stats.other_packets += 1;
                    continue;
                }
                self.stats.datagrams += 1;
                return Ok(true);
            }
            let start = self.reader.data_range().start + payload_at;
            let spare = self.d.take_spare();
            let buf = self.reader.swap_buffer(spare);
            match self
                .d
                .load_owned(key, buf, start..start + len, offset, number)
            {
                Ok(old) => self.d.put_spare(old),
                Err(buf) => {
                    let _ = self.reader.swap_buffer(buf);
                    self.stats.other_packets += 1;
                    continue;
                }
            }
            self.stats.datagrams += 1;
            return Ok(true);
        }
    }
}
