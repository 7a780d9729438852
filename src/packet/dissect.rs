//! The one path from a captured frame to its transport header, shared by
//! the collector (flow export inside captures) and the meter: link layer
//! ([`super::link`]), IP ([`super::ip`]), fragments ([`super::defrag`]:
//! reassembled for the collector, assigned to their first fragment's
//! transport header for the meter), optional decapsulation of tunnels
//! (IP-in-IP RFC 2003, IPv6-in-IPv4 RFC 4213, GRE RFC 2784/2890 carrying IP,
//! Ethernet or ERSPAN type II, VXLAN RFC 7348 on UDP port 4789), then
//! TCP, UDP, ICMP/ICMPv6, or the ports of SCTP, DCCP and UDP-Lite.
//!
//! A frame that does not reach an IP header is counted by reason, never an
//! error; a transport header the capture cut leaves the packet with
//! [`L4::None`], counted too.

use std::collections::{BTreeMap, VecDeque};
use std::net::IpAddr;

use super::defrag::{Assigned, Defrag, DefragStats, FragmentIndex, IndexStats, HEADER_KEPT};
use super::link::{ethernet, link, Link, NotIp, ETH_IPV4, ETH_IPV6};
use super::transport::{icmp_type_code, ports, tcp, udp, Tcp, Udp};

use super::{be16, ip, Frag, Ip};
use crate::pcap::Packet;

/// Tunnels taken apart at most this deep.
const MAX_DEPTH: u8 = 3;
/// Bytes of a held fragment kept (its IP and extension headers).
const HELD_BYTES: usize = 512;
/// The VXLAN port (RFC 7348 §5).
pub const VXLAN_PORT: u16 = 4789;

/// What a packet carries past its IP header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum L4<'a> {
    Tcp(Tcp<'a>),
    Udp(Udp<'a>),
    /// ICMP or ICMPv6 type and code.
    Icmp {
        kind: u8,
        code: u8,
    },
    /// SCTP, DCCP or UDP-Lite: the port pair.
    Ports {
        src: u16,
        dst: u16,
    },
    /// A fragment after the first of its datagram: the first fragment's
    /// transport header bytes (up to [`HEADER_KEPT`]; none when its first
    /// fragment never came).
    Fragment {
        header: [u8; HEADER_KEPT],
        len: u8,
    },
    /// No transport header read: a protocol without one here, or a
    /// header the capture cut.
    None,
}

/// A packet taken apart.
#[derive(Debug, Clone)]
pub struct Dissected<'a> {
    /// Capture time, nanoseconds since the UNIX epoch.
    pub ts_ns: i64,
    pub link: Link,
    pub ip: Ip<'a>,
    pub l4: L4<'a>,
    /// Packets on the wire this stands for (a reassembled datagram's
    /// fragments; 1 otherwise).
    pub packets: u32,
    /// `ip.payload` is a reassembled datagram, not bytes of the frame.
    pub reassembled: bool,
    /// Tunnel headers taken off.
    pub depth: u8,
    /// The frame's number in the capture (for a reassembled datagram, its
    /// first fragment's), and where `ip.payload` starts in the input.
    pub number: u64,
    pub payload_offset: u64,
}

/// What a frame gave.
#[allow(clippy::large_enum_variant)] // the packet is the common case, never boxed
pub enum Step<'a> {
    Packet(Dissected<'a>),
    /// A fragment kept for later (reassembly, or its first fragment).
    Held,
    NotIp(NotIp),
}

/// What a frame gave, its packet as [`Dissector::frame_with`]'s caller
/// made it.
pub enum Framed<R> {
    Packet(R),
    /// A fragment kept for later (reassembly, or its first fragment).
    Held,
    NotIp(NotIp),
}

/// How fragments are handled.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum FragmentMode {
    /// Put datagrams back together; a datagram is one packet when whole.
    #[default]
    Reassemble,
    /// Every fragment is a packet, with its first fragment's transport
    /// header.
    Assign,
    /// Every fragment is a packet as it came: a first fragment with its
    /// transport header, a later one with none (`L4::Fragment` of length
    /// 0), nothing held. For a caller that assigns them itself (the
    /// meter's workers take packets apart in parallel and fragments in
    /// order, [`crate::meter::parallel`]).
    Pass,
}

/// Options of a dissector.
#[derive(Debug, Clone, Copy, Default)]
pub struct DissectOptions {
    pub fragments: FragmentMode,
    /// Take tunnels apart (the inner packet is the packet).
    pub decapsulate: bool,
}

/// Counters of a dissector. Every frame counts once in `packets`, and as
/// exactly one of: an IP packet (whole or a fragment), or a reason in
/// `not_ip`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DissectStats {
    pub packets: u64,
    /// Frames per LINKTYPE_* value.
    pub by_linktype: BTreeMap<u16, u64>,
    /// Frames without an IP packet, per reason (in [`NotIp::ALL`] order).
    pub not_ip: [u64; 4],
    /// IP fragments.
    pub fragments: u64,
    /// IP packets whose header declared no length (TSO captures).
    pub length_from_frame: u64,
    /// Packets whose transport header was cut by the capture.
    pub transport_cut: u64,
    /// Packets taken out of a tunnel.
    pub decapsulated: u64,
    pub defrag: DefragStats,
    pub index: IndexStats,
}

impl DissectStats {
    /// Add the frame counters of `o` (another dissector's share of the
    /// frames; its fragment handling is not added: see
    /// [`DissectStats::add_fragments`]).
    pub fn add_frames(&mut self, o: &DissectStats) {
        let add = |a: &mut u64, b: u64| *a = a.saturating_add(b);
        add(&mut self.packets, o.packets);
        for (t, n) in &o.by_linktype {
            add(self.by_linktype.entry(*t).or_insert(0), *n);
        }
        for (a, b) in self.not_ip.iter_mut().zip(o.not_ip) {
            add(a, b);
        }
        add(&mut self.fragments, o.fragments);
        add(&mut self.length_from_frame, o.length_from_frame);
        add(&mut self.transport_cut, o.transport_cut);
        add(&mut self.decapsulated, o.decapsulated);
    }

    /// Take the fragment handling of `o`, a dissector given only the
    /// fragments (frames that parsed once already, so its malformed
    /// count is of held copies that no longer parse): reassembly and
    /// index counters, and those malformed copies.
    pub fn add_fragments(&mut self, o: &DissectStats) {
        self.defrag = o.defrag.clone();
        self.index = o.index.clone();
        for (a, b) in self.not_ip.iter_mut().zip(o.not_ip) {
            *a = a.saturating_add(b);
        }
    }
}

/// A first fragment's transport header bytes and how many there are.
type Header = ([u8; HEADER_KEPT], usize);

/// A later fragment waiting for its first.
struct Held {
    ts_ns: i64,
    number: u64,
    link: Link,
    bytes: Vec<u8>,
    missing: u32,
}

/// Takes frames apart (see the module docs).
#[derive(Default)]
pub struct Dissector {
    opts: DissectOptions,
    stats: DissectStats,
    defrag: Defrag,
    index: FragmentIndex<Held>,
    /// Held fragments ready (with their first fragment's header or none).
    released: VecDeque<(Held, Option<Header>)>,
    orphans: Vec<Held>,
    /// The fragment being given out by [`Dissector::next_released`].
    current: Option<Held>,
    /// The last reassembled datagram.
    whole: Vec<u8>,
    last_ts: i64,
    /// The link type of the last frames and how many in a row, not yet in
    /// `stats.by_linktype`.
    run: (u16, u64),
}

impl Dissector {
    pub fn new(opts: DissectOptions) -> Self {
        Dissector {
            opts,
            ..Dissector::default()
        }
    }

    /// Take a captured frame apart.
    pub fn frame<'a>(&'a mut self, f: &Packet<'a>) -> Step<'a> {
        match self.frame_with(f, Dissected::clone) {
            Framed::Packet(d) => Step::Packet(d),
            Framed::Held => Step::Held,
            Framed::NotIp(why) => Step::NotIp(why),
        }
    }

    /// Take a captured frame apart and hand its packet to `on_packet`,
    /// which keeps what it needs ([`Dissector::frame`] keeps all of it).
    /// The common case (a whole packet, no tunnel to open) runs inline
    /// here with the packet on the stack, never copied; fragments and
    /// tunnels take [`Dissector::frame_rest`].
    #[inline]
    pub fn frame_with<'a, R>(
        &'a mut self,
        f: &Packet<'a>,
        on_packet: impl FnOnce(&Dissected<'a>) -> R,
    ) -> Framed<R> {
        let (linktype, data, ts_ns) = (f.linktype, f.data, f.ts_ns);
        let missing = f
            .orig_len
            .saturating_sub(u32::try_from(data.len()).unwrap_or(u32::MAX));
        self.stats.packets = self.stats.packets.saturating_add(1);
        // Counted per run of one link type, folded into the map when the
        // type changes (a map insert per packet costs more than the rest
        // of the counting).
        if self.run.0 == linktype {
            self.run.1 = self.run.1.saturating_add(1);
        } else {
            self.fold_run();
            self.run = (linktype, 1);
        }
        self.advance(ts_ns);
        let (l, p, bytes) = match ethernet_ip(linktype, data) {
            Some(x) => x,
            None => {
                let (l, bytes) = match link(linktype, data) {
                    Ok(x) => x,
                    Err(why) => return Framed::NotIp(self.not_ip(why)),
                };
                let Some(p) = ip(bytes, missing) else {
                    return Framed::NotIp(self.not_ip(NotIp::BadIp));
                };
                (l, p, bytes)
            }
        };
        if p.fragment || self.opts.decapsulate {
            return match self.frame_rest(f, l, bytes, p, missing) {
                Step::Packet(d) => Framed::Packet(on_packet(&d)),
                Step::Held => Framed::Held,
                Step::NotIp(why) => Framed::NotIp(why),
            };
        }
        if p.length_from_frame {
            self.stats.length_from_frame = self.stats.length_from_frame.saturating_add(1);
        }
        let l4 = self.transport(&p);
        let d = Dissected {
            ts_ns,
            link: l,
            payload_offset: offset_in(f, p.payload),
            ip: p,
            l4,
            packets: 1,
            reassembled: false,
            depth: 0,
            number: f.number,
        };
        Framed::Packet(on_packet(&d))
    }

    /// The rest of [`Dissector::frame`]: tunnels, then fragments.
    #[inline(never)]
    fn frame_rest<'a>(
        &'a mut self,
        f: &Packet<'a>,
        mut l: Link,
        bytes: &'a [u8],
        mut p: Ip<'a>,
        missing: u32,
    ) -> Step<'a> {
        let (ts_ns, number) = (f.ts_ns, f.number);
        let mut depth = 0u8;
        if self.opts.decapsulate {
            while depth < MAX_DEPTH && !p.fragment {
                match inner(&p, missing, &mut l) {
                    Some(inside) => {
                        p = inside;
                        depth = depth.saturating_add(1);
                    }
                    None => break,
                }
            }
            if depth > 0 {
                self.stats.decapsulated = self.stats.decapsulated.saturating_add(1);
            }
        }
        if p.length_from_frame {
            self.stats.length_from_frame = self.stats.length_from_frame.saturating_add(1);
        }
        // A packet as it came (not reassembled).
        let seen = |ip: Ip<'a>, l4: L4<'a>| {
            Step::Packet(Dissected {
                ts_ns,
                link: l,
                payload_offset: offset_in(f, ip.payload),
                ip,
                l4,
                packets: 1,
                reassembled: false,
                depth,
                number,
            })
        };
        if !p.fragment {
            let l4 = self.transport(&p);
            return seen(p, l4);
        }
        self.stats.fragments = self.stats.fragments.saturating_add(1);
        match self.opts.fragments {
            FragmentMode::Reassemble => {
                let origin = (offset_in(f, p.payload), number);
                self.reassemble(p, l, ts_ns, depth, origin)
            }
            FragmentMode::Pass => {
                let l4 = if p.frag.offset == 0 {
                    self.transport(&p)
                } else {
                    L4::Fragment {
                        header: [0; HEADER_KEPT],
                        len: 0,
                    }
                };
                seen(p, l4)
            }
            FragmentMode::Assign => {
                // The (innermost) IP packet's bytes, its headers at least,
                // kept to read it again once its first fragment comes.
                let start = (p.payload.as_ptr() as usize)
                    .saturating_sub(bytes.as_ptr() as usize)
                    .saturating_sub(usize::from(p.header_len));
                let packet = bytes.get(start..).unwrap_or_default();
                let kept = packet.get(..HELD_BYTES.min(packet.len())).unwrap_or(packet);
                let held = || Held {
                    ts_ns,
                    number,
                    link: l,
                    bytes: kept.to_vec(),
                    missing: missing.saturating_add(
                        u32::try_from(packet.len().saturating_sub(kept.len())).unwrap_or(u32::MAX),
                    ),
                };
                let assigned = self.index.add(&p, ts_ns, held, &mut self.orphans);
                self.take_orphans();
                match assigned {
                    Assigned::First(held) => {
                        let hdr = first_header(p.payload);
                        self.released
                            .extend(held.into_iter().map(|h| (h, Some(hdr))));
                        let l4 = self.transport(&p);
                        seen(p, l4)
                    }
                    Assigned::Later(header, kept) => seen(
                        p,
                        L4::Fragment {
                            header,
                            len: u8::try_from(kept).unwrap_or(0),
                        },
                    ),
                    Assigned::Held => Step::Held,
                }
            }
        }
    }

    /// The clock: a frame was captured at `ts_ns` (every frame advances
    /// it in [`Dissector::frame`]); fragments held too long are given up.
    #[inline]
    pub fn advance(&mut self, ts_ns: i64) {
        if ts_ns > self.last_ts {
            self.last_ts = ts_ns;
            if self.held_or_pending() {
                self.expire(ts_ns);
            }
        }
    }

    /// Count a frame without an IP packet.
    #[cold]
    fn not_ip(&mut self, why: NotIp) -> NotIp {
        if let Some(i) = NotIp::ALL.iter().position(|w| *w == why) {
            self.stats.not_ip[i] = self.stats.not_ip[i].saturating_add(1);
        }
        why
    }

    fn take_orphans(&mut self) {
        for h in self.orphans.drain(..) {
            self.released.push_back((h, None));
        }
    }

    /// Whether fragments wait (so time can expire them).
    fn held_or_pending(&self) -> bool {
        self.index.pending() > 0 || self.defrag.pending() > 0
    }

    #[cold]
    fn fold_run(&mut self) {
        if self.run.1 > 0 {
            let n = self.stats.by_linktype.entry(self.run.0).or_insert(0);
            *n = n.saturating_add(self.run.1);
            self.run.1 = 0;
        }
    }

    fn expire(&mut self, now: i64) {
        match self.opts.fragments {
            FragmentMode::Reassemble => self.defrag.expire(now),
            FragmentMode::Assign => {
                self.index.expire(now, &mut self.orphans);
                self.take_orphans();
            }
            FragmentMode::Pass => {}
        }
    }

    /// The transport header of a whole packet or a first fragment.
    #[inline]
    fn transport<'a>(&mut self, p: &Ip<'a>) -> L4<'a> {
        let l4 = transport_of(p);
        if l4 == L4::None && matches!(p.protocol, 1 | 6 | 17 | 33 | 58 | 132 | 136) {
            self.stats.transport_cut = self.stats.transport_cut.saturating_add(1);
        }
        l4
    }

    fn reassemble<'a>(
        &'a mut self,
        p: Ip<'a>,
        l: Link,
        ts_ns: i64,
        depth: u8,
        origin: (u64, u64),
    ) -> Step<'a> {
        let Some(w) = self.defrag.add(&p, ts_ns, origin.0, origin.1) else {
            self.stats.defrag = self.defrag.stats.clone();
            return Step::Held;
        };
        self.stats.defrag = self.defrag.stats.clone();
        self.whole = w.bytes;
        let header = if p.version == 4 { 20u32 } else { 40 };
        let ip = Ip {
            length: header.saturating_add(u32::try_from(self.whole.len()).unwrap_or(u32::MAX)),
            header_len: header as u16,
            length_from_frame: false,
            payload: &self.whole,
            fragment: false,
            ..p
        };
        let mut me = Dissected {
            ts_ns,
            link: l,
            ip,
            l4: L4::None,
            packets: u32::try_from(w.fragments).unwrap_or(u32::MAX),
            reassembled: true,
            depth,
            number: w.frame,
            payload_offset: w.offset,
        };
        me.l4 = transport_of(&me.ip);
        Step::Packet(me)
    }

    /// A held fragment now ready (its first fragment came, or it never
    /// will); call after each [`Dissector::frame`] until `None`.
    #[inline]
    pub fn next_released(&mut self) -> Option<Dissected<'_>> {
        if self.released.is_empty() {
            return None;
        }
        self.next_released_held()
    }

    fn next_released_held(&mut self) -> Option<Dissected<'_>> {
        // A held copy that no longer parses (its headers past the bytes
        // kept) is counted as malformed, so every frame counts once.
        let (h, hdr) = loop {
            let (h, hdr) = self.released.pop_front()?;
            if ip(&h.bytes, h.missing).is_some() {
                break (h, hdr);
            }
            self.not_ip(NotIp::BadIp);
        };
        let cur = self.current.insert(h);
        let p = ip(&cur.bytes, cur.missing)?;
        let l4 = match hdr {
            Some((header, n)) => L4::Fragment {
                header,
                len: u8::try_from(n).unwrap_or(0),
            },
            None => L4::Fragment {
                header: [0; HEADER_KEPT],
                len: 0,
            },
        };
        Some(Dissected {
            ts_ns: cur.ts_ns,
            link: cur.link,
            ip: p,
            l4,
            packets: 1,
            reassembled: false,
            depth: 0,
            number: cur.number,
            payload_offset: 0,
        })
    }

    /// The capture ended: fragments still held are released (without a
    /// transport header); incomplete datagrams are dropped.
    pub fn finish(&mut self) {
        self.defrag.finish();
        self.stats.defrag = self.defrag.stats.clone();
        self.index.finish(&mut self.orphans);
        self.take_orphans();
        self.stats.index = self.index.stats.clone();
    }

    /// The counters, current.
    pub fn stats(&self) -> DissectStats {
        let mut s = self.stats.clone();
        if self.run.1 > 0 {
            let n = s.by_linktype.entry(self.run.0).or_insert(0);
            *n = n.saturating_add(self.run.1);
        }
        s.defrag = self.defrag.stats.clone();
        s.index = self.index.stats.clone();
        s
    }
}

/// The most common frames read at fixed offsets: Ethernet II carrying
/// IPv4 with a 20-byte header or IPv6 without extension headers, that
/// declares its length, whole (not a fragment). Anything else, or a frame
/// too short for it, is `None` and takes the general path ([`link`],
/// [`ip`]), which gives the same for these frames (a test holds them to
/// it).
// Measured: returned through memory it cost about 40 instructions a
// packet (DEVELOP.md, Performance notes: the meter).
#[allow(clippy::inline_always)]
#[inline(always)]
pub(super) fn ethernet_ip(linktype: u16, data: &[u8]) -> Option<(Link, Ip<'_>, &[u8])> {
    if linktype != super::linktype::ETHERNET {
        return None;
    }
    let e: &[u8; 14] = data.get(..14)?.try_into().ok()?;
    let l = Link {
        dst_mac: Some([e[0], e[1], e[2], e[3], e[4], e[5]]),
        src_mac: Some([e[6], e[7], e[8], e[9], e[10], e[11]]),
        ..Link::default()
    };
    let bytes = &data[14..];
    let ip = match u16::from_be_bytes([e[12], e[13]]) {
        ETH_IPV4 => {
            let h: &[u8; 20] = bytes.get(..20)?.try_into().ok()?;
            let total = u16::from_be_bytes([h[2], h[3]]);
            let frag = u16::from_be_bytes([h[6], h[7]]);
            if h[0] != 0x45 || total < 20 || frag & 0x3FFF != 0 {
                return None;
            }
            let end = usize::from(total).min(bytes.len());
            Ip {
                version: 4,
                src: IpAddr::from([h[12], h[13], h[14], h[15]]),
                dst: IpAddr::from([h[16], h[17], h[18], h[19]]),
                protocol: h[9],
                ttl: h[8],
                tos: h[1],
                length: u32::from(total),
                header_len: 20,
                length_from_frame: false,
                payload: bytes.get(20..end)?,
                fragment: false,
                frag: Frag {
                    id: u32::from(u16::from_be_bytes([h[4], h[5]])),
                    offset: 0,
                    more: false,
                },
            }
        }
        ETH_IPV6 => {
            let h: &[u8; 40] = bytes.get(..40)?.try_into().ok()?;
            let plen = u16::from_be_bytes([h[4], h[5]]);
            let next = h[6];
            // Extension headers (see `ip`) take the general path.
            if h[0] >> 4 != 6
                || plen == 0
                || matches!(next, 0 | 43 | 44 | 51 | 60 | 135 | 139 | 140)
            {
                return None;
            }
            let length = u32::from(plen).saturating_add(40);
            let end = (usize::from(plen) + 40).min(bytes.len());
            let mut src = [0u8; 16];
            let mut dst = [0u8; 16];
            src.copy_from_slice(&h[8..24]);
            dst.copy_from_slice(&h[24..40]);
            Ip {
                version: 6,
                src: IpAddr::from(src),
                dst: IpAddr::from(dst),
                protocol: next,
                ttl: h[7],
                tos: ((h[0] & 0x0F) << 4) | (h[1] >> 4),
                length,
                header_len: 40,
                length_from_frame: false,
                payload: bytes.get(40..end)?,
                fragment: false,
                frag: Frag::default(),
            }
        }
        _ => return None,
    };
    Some((l, ip, bytes))
}

/// Where `b` (a slice of the frame's bytes) starts in the input.
#[inline]
fn offset_in(f: &Packet<'_>, b: &[u8]) -> u64 {
    f.offset
        .saturating_add((b.as_ptr() as usize).saturating_sub(f.data.as_ptr() as usize) as u64)
}

/// The first fragment's header bytes kept for the later ones.
fn first_header(b: &[u8]) -> ([u8; HEADER_KEPT], usize) {
    let mut h = [0u8; HEADER_KEPT];
    let n = b.len().min(HEADER_KEPT);
    h[..n].copy_from_slice(&b[..n]);
    (h, n)
}

/// The transport header of a whole packet, a first fragment or a
/// reassembled datagram.
#[inline]
fn transport_of<'a>(p: &Ip<'a>) -> L4<'a> {
    let b = p.payload;
    match p.protocol {
        6 => tcp(b).map(L4::Tcp),
        17 => udp(b).map(L4::Udp),
        1 | 58 => icmp_type_code(b).map(|(kind, code)| L4::Icmp { kind, code }),
        33 | 132 | 136 => ports(b).map(|(src, dst)| L4::Ports { src, dst }),
        _ => None,
    }
    .unwrap_or(L4::None)
}

/// The packet inside a tunnel packet, if `p` is one.
fn inner<'a>(p: &Ip<'a>, missing: u32, l: &mut Link) -> Option<Ip<'a>> {
    let b = p.payload;
    match p.protocol {
        4 | 41 => ip(b, missing),
        47 => {
            // GRE (RFC 2784, keys and sequence numbers RFC 2890): flags,
            // version 0, protocol type; 4 bytes each for checksum, key,
            // sequence number when present.
            let flags = be16(b, 0)?;
            if flags & 0x0007 != 0 {
                return None;
            }
            let proto = be16(b, 2)?;
            let mut at = 4usize;
            for bit in [0x8000u16, 0x2000, 0x1000] {
                if flags & bit != 0 {
                    at = at.saturating_add(4);
                }
            }
            let rest = b.get(at..)?;
            match proto {
                ETH_IPV4 | ETH_IPV6 => ip(rest, missing),
                // Transparent Ethernet bridging.
                0x6558 => ip(ethernet(rest, l).ok()?, missing),
                // ERSPAN type II: an 8-byte header, then the frame.
                0x88BE => ip(ethernet(rest.get(8..)?, l).ok()?, missing),
                _ => None,
            }
        }
        17 => {
            let u = udp(b)?;
            if u.dst_port != VXLAN_PORT || u.payload.first()? & 0x08 == 0 {
                return None;
            }
            // VXLAN: an 8-byte header (the I flag set), then the frame.
            ip(ethernet(u.payload.get(8..)?, l).ok()?, missing)
        }
        _ => None,
    }
}
