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

use std::collections::HashMap;
use std::net::IpAddr;

use crate::error::Result;
use crate::netflow::{self, Translator, Version};
use crate::packet;
use crate::pcap::CaptureReader;

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

/// Most transport sessions followed in one capture.
pub const MAX_SESSIONS: usize = 65_536;

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

struct Session {
    exporter: Exporter,
    translator: Translator,
    messages: u64,
}

/// The capture side of a message stream.
pub(super) struct Capture {
    reader: CaptureReader<DynRead>,
    sessions: HashMap<(Exporter, Exporter), usize>,
    states: Vec<Session>,
    /// The current datagram, its offset in the capture, its packet number,
    /// its session, and how far its messages have been read.
    datagram: Vec<u8>,
    datagram_offset: u64,
    frame: u64,
    session: usize,
    at: usize,
    /// The current message: its range in the datagram, its version.
    pub(super) cur: std::ops::Range<usize>,
    pub(super) version: Version,
    pub(super) translated: Vec<u8>,
    pub(super) stats: CaptureStats,
}

/// What the capture's current message is.
pub(super) struct Place {
    pub offset: u64,
    pub index: u64,
    pub session: u64,
    pub exporter: Exporter,
    pub frame: u64,
}

/// Whether a UDP payload starts with a flow-export packet that fits it.
fn export_payload(p: &[u8]) -> bool {
    matches!(netflow::frame(p), Ok(Some((_, len))) if len <= p.len())
}

impl Capture {
    pub(super) fn new(r: DynRead) -> Result<Self> {
        Ok(Capture {
            reader: CaptureReader::new(r)?,
            sessions: HashMap::new(),
            states: Vec::new(),
            datagram: Vec::new(),
            datagram_offset: 0,
            frame: 0,
            session: 0,
            at: 0,
            cur: 0..0,
            version: Version::Ipfix,
            translated: Vec::new(),
            stats: CaptureStats::default(),
        })
    }

    /// Bytes of the capture read so far.
    pub(super) fn consumed(&self) -> u64 {
        self.reader.position()
    }

    /// The current message's bytes (a NetFlow packet's IPFIX translation).
    pub(super) fn bytes(&self) -> &[u8] {
        if self.version == Version::Ipfix {
            self.datagram.get(self.cur.clone()).unwrap_or_default()
        } else {
            &self.translated
        }
    }

    /// Where the current message is.
    pub(super) fn place(&self) -> Place {
        let s = &self.states[self.session];
        Place {
            offset: self.datagram_offset + self.cur.start as u64,
            index: s.messages.saturating_sub(1),
            session: self.session as u64 + 1,
            exporter: s.exporter,
            frame: self.frame,
        }
    }

    /// Move to the next message; `Ok(false)` at the end of the capture.
    /// An error in one datagram does not end the capture: the next call
    /// goes on with the next datagram.
    pub(super) fn advance(&mut self) -> Result<bool> {
        loop {
            if self.at < self.datagram.len() {
                let rest = &self.datagram[self.at..];
                let start = self.at;
                match netflow::frame(rest) {
                    Ok(Some((version, len))) => {
                        self.at += len;
                        self.cur = start..start + len;
                        self.version = version;
                        let s = &mut self.states[self.session];
                        s.messages += 1;
                        let index = s.messages - 1;
                        if version != Version::Ipfix {
                            let raw = &self.datagram[start..start + len];
                            if let Err((e, rel)) =
                                s.translator.translate(version, raw, &mut self.translated)
                            {
                                return Err(
                                    e.at(self.datagram_offset + (start + rel) as u64, index)
                                );
                            }
                        }
                        return Ok(true);
                    }
                    Ok(None) => self.at = self.datagram.len(),
                    Err((e, rel)) => {
                        // The rest of the datagram cannot be framed.
                        self.at = self.datagram.len();
                        let index = self.states[self.session].messages;
                        return Err(e.at(self.datagram_offset + (start + rel) as u64, index));
                    }
                }
                continue;
            }
            if !self.next_datagram()? {
                return Ok(false);
            }
        }
    }

    /// Find the next UDP datagram holding flow export.
    fn next_datagram(&mut self) -> Result<bool> {
        loop {
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
            if !export_payload(u.payload) {
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
            let session = match self.sessions.get(&key) {
                Some(&s) => s,
                None if self.states.len() < MAX_SESSIONS => {
                    self.states.push(Session {
                        exporter: key.0,
                        translator: Translator::new(),
                        messages: 0,
                    });
                    self.sessions.insert(key, self.states.len() - 1);
                    self.states.len() - 1
                }
                None => {
                    self.stats.other_packets += 1;
                    continue;
                }
            };
            self.stats.datagrams += 1;
            let payload_at = u.payload.as_ptr() as usize - p.data.as_ptr() as usize;
            self.datagram_offset = p.offset + payload_at as u64;
            self.frame = p.number;
            self.datagram.clear();
            self.datagram.extend_from_slice(u.payload);
            self.session = session;
            self.at = 0;
            return Ok(true);
        }
    }
}
