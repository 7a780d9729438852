//! The one path from a captured frame to its transport header, shared by
//! the collector (flow export inside captures) and the meter: link layer
//! ([`super::link`](mod@super::link)), IP ([`super::ip`]), fragments ([`super::defrag`]:
//! reassembled for the collector, assigned to their first fragment's
//! transport header for the meter), optional decapsulation of tunnels
//! (IP-in-IP RFC 2003, IPv6-in-IPv4 RFC 4213, GRE RFC 2784/2890 carrying IP,
//! Ethernet or ERSPAN type II, VXLAN RFC 7348 on UDP port 4789), then
//! TCP, UDP, ICMP/ICMPv6, or the ports of SCTP, DCCP and UDP-Lite.
//!
//! A frame that does not reach an IP header is counted by reason, never an
//! error; a transport header the capture cut leaves the packet with
//! [`L4::None`], counted too.

use std::collections::VecDeque;

use super::defrag::{Assigned, Defrag, FragmentIndex, HEADER_KEPT};
use super::fixed::ethernet_ip;
use super::link::{link, Link, NotIp};
pub use super::stats::{DissectStats, Ignored};
use super::transport::{icmp_type_code, ports, tcp, udp};
use super::tunnel::inner;
pub use super::view::{Dissected, Framed, Step, L4};

use super::{ip, Ip};
use crate::pcap::Packet;

/// Tunnels taken apart at most this deep.
const MAX_DEPTH: u8 = 3;
/// Bytes of a held fragment kept (its IP and extension headers).
const HELD_BYTES: usize = 512;

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
    /// tunnels take `Dissector::frame_rest`.
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
                    return Framed::NotIp(self.bad_ip(bytes.len(), missing, ts_ns));
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

    /// An IP packet whose header cannot be read: `captured` octets of it
    /// in the frame and `missing` more on the wire, at `ts_ns`.
    #[cold]
    fn bad_ip(&mut self, captured: usize, missing: u32, ts_ns: i64) -> NotIp {
        let octets = u64::try_from(captured)
            .unwrap_or(u64::MAX)
            .saturating_add(u64::from(missing));
        self.stats.ignored.packet(octets, ts_ns);
        self.not_ip(NotIp::BadIp)
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
            self.bad_ip(h.bytes.len(), h.missing, h.ts_ns);
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
