//! The flow key (RFC 7011 §2 "Flow Key"; RFC 5103 §2 for biflows): IP
//! version, addresses, transport ports, protocol and the outermost VLAN
//! id. ICMP and ICMPv6 carry their type and code in the destination-port
//! slot, as YAF and QoF do (so an echo request and its reply are two
//! flows, each direction of a ping its own record), and that slot is not
//! swapped when a biflow is reversed.
//!
//! A biflow's key is canonical: its two endpoints are ordered (address,
//! then port), so both directions of a conversation find the same entry;
//! [`Side`] says which endpoint sent a packet. Which endpoint is the
//! initiator is the flow's business (see [`super::flow`]), not the key's.

use std::hash::{Hash, Hasher};
use std::net::IpAddr;

use crate::packet::{Dissected, L4};

/// A packet's endpoint in its flow's key: 0 the lower, 1 the higher.
pub type Side = usize;

/// One endpoint: address (IPv4 in the first four octets) and port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Endpoint {
    pub addr: [u8; 16],
    pub port: u16,
}

/// A flow key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FlowKey {
    /// The endpoints: `ends[0]` is the lower of a biflow's (or a
    /// uniflow's source).
    pub ends: [Endpoint; 2],
    pub vlan: u16,
    pub protocol: u8,
    /// 4 or 6.
    pub version: u8,
    /// ICMP type and code (type * 256 + code), 0 for other protocols.
    pub icmp: u16,
}

impl FlowKey {
    /// The key of a packet, written into `self` where it lies (every
    /// field), and the side the packet was sent from (its canonical biflow
    /// form: both directions of a flow have the same key). The key is built in the packet
    /// summary that holds it ([`super::flowpacket::FlowPacket::fill`]),
    /// not built apart and moved in.
    #[allow(clippy::inline_always)]
    #[inline(always)]
    pub fn fill(&mut self, d: &Dissected<'_>) -> Side {
        let (sport, dport, icmp) = transport_key(d);
        // The addresses as numbers (IPv4 in the high 32 bits), ordered as
        // their octets are; built in registers, not read back from bytes
        // just stored (a store-forwarding stall a packet).
        let (src, dst) = (number(d.ip.src), number(d.ip.dst));
        let swap = (dst, dport) < (src, sport);
        let ((a, pa), (b, pb)) = if swap {
            ((dst, dport), (src, sport))
        } else {
            ((src, sport), (dst, dport))
        };
        self.ends[0].addr = a.to_be_bytes();
        self.ends[0].port = pa;
        self.ends[1].addr = b.to_be_bytes();
        self.ends[1].port = pb;
        self.vlan = d.link.vlan().unwrap_or(0);
        self.protocol = d.ip.protocol;
        self.version = d.ip.version;
        self.icmp = icmp;
        usize::from(swap)
    }

    /// Endpoint `side`'s address.
    pub fn addr(&self, side: Side) -> IpAddr {
        let a = self.ends[side & 1].addr;
        if self.version == 4 {
            IpAddr::from([a[0], a[1], a[2], a[3]])
        } else {
            IpAddr::from(a)
        }
    }

    /// Whether the protocol is ICMP or ICMPv6.
    pub fn is_icmp(&self) -> bool {
        is_icmp(self.protocol, self.version)
    }

    /// A hash of the key that both directions share (the key is
    /// canonical) and that does not depend on the process (for spreading
    /// flows over workers): [`KeyHasher`] has no random state.
    #[inline]
    pub fn spread(&self) -> u64 {
        let mut h = KeyHasher::default();
        self.hash(&mut h);
        h.finish()
    }
}

impl Hash for FlowKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        let [x, y] = &self.ends;
        let (a, b) = (u128::from_ne_bytes(x.addr), u128::from_ne_bytes(y.addr));
        state.write_u64((a as u64) ^ (b as u64).rotate_left(17));
        state.write_u64(((a >> 64) as u64) ^ ((b >> 64) as u64).rotate_left(29));
        state.write_u64(
            (u64::from(x.port) << 48)
                | (u64::from(y.port) << 32)
                | (u64::from(self.icmp) << 16)
                | (u64::from(self.protocol) << 8)
                | u64::from(self.version),
        );
        state.write_u16(self.vlan);
    }
}

/// A fast hasher for flow keys (a multiply-rotate mix of whole words, as
/// rustc's FxHasher; the table's keys come from packets, so its worst case
/// is bounded by `max_flows`, not by the hash).
#[derive(Default, Clone, Copy)]
pub struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        // A final avalanche so that the low bits hashbrown uses mix all.
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u64(&mut self, i: u64) {
        self.0 = (self.0.rotate_left(5) ^ i).wrapping_mul(0x517c_c1b7_2722_0a95);
    }

    fn write_u16(&mut self, i: u16) {
        self.write_u64(u64::from(i));
    }
}

fn is_icmp(protocol: u8, version: u8) -> bool {
    matches!((protocol, version), (1, 4) | (58, 6))
}

/// An address as the number its octets spell, IPv4 in the high 32 bits
/// (so that `to_be_bytes` gives the key's octets, IPv4 in the first four).
#[inline]
fn number(a: IpAddr) -> u128 {
    match a {
        IpAddr::V4(v) => u128::from(u32::from(v)) << 96,
        IpAddr::V6(v) => u128::from(v),
    }
}

/// Source port, destination port and ICMP type/code of a packet (zeros
/// where the protocol has none or the capture lacks the header).
#[allow(clippy::inline_always)]
#[inline(always)]
fn transport_key(d: &Dissected<'_>) -> (u16, u16, u16) {
    match d.l4 {
        L4::Tcp(t) => (t.src_port, t.dst_port, 0),
        L4::Udp(u) => (u.src_port, u.dst_port, 0),
        L4::Ports { src, dst } => (src, dst, 0),
        L4::Icmp { kind, code } => (0, 0, u16::from_be_bytes([kind, code])),
        L4::Fragment { header, len } => {
            if len < 4 {
                (0, 0, 0)
            } else if is_icmp(d.ip.protocol, d.ip.version) {
                (0, 0, u16::from_be_bytes([header[0], header[1]]))
            } else if matches!(d.ip.protocol, 6 | 17 | 33 | 132 | 136) {
                (
                    u16::from_be_bytes([header[0], header[1]]),
                    u16::from_be_bytes([header[2], header[3]]),
                    0,
                )
            } else {
                (0, 0, 0)
            }
        }
        // A TCP or UDP header the capture cut short (snaplen 54 over Linux
        // cooked or a VLAN tag, 68 over IPv6; counted by the dissector as
        // `transport_cut`) still has its ports: kept, so that connections
        // of one host pair are not merged under ports 0.
        L4::None if matches!(d.ip.protocol, 6 | 17) && d.ip.has_transport_header() => {
            match d.ip.payload.get(..4) {
                Some(&[s0, s1, d0, d1]) => (
                    u16::from_be_bytes([s0, s1]),
                    u16::from_be_bytes([d0, d1]),
                    0,
                ),
                _ => (0, 0, 0),
            }
        }
        L4::None => (0, 0, 0),
    }
}
