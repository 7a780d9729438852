//! Captured packets of flow export: link layers (Ethernet with and without
//! an 802.1Q tag, Linux SLL and SLL2, raw IP, BSD null and loopback), IPv4
//! (RFC 791) and IPv6 (RFC 8200, sometimes with a hop-by-hop header), UDP
//! (RFC 768) datagrams carrying IPFIX messages or NetFlow packets, TCP
//! (RFC 9293) connections carrying IPFIX messages (RFC 7011 §10.4: SYN,
//! segments cut anywhere, FIN), and other traffic that is not flow export.

use crate::{ipfix, netflow, Choices, Expect, Out, Role};

/// LINKTYPE_* numbers generated.
pub const NULL: u16 = 0;
pub const ETHERNET: u16 = 1;
pub const RAW: u16 = 101;
pub const LOOP: u16 = 108;
pub const LINUX_SLL: u16 = 113;
pub const IPV4: u16 = 228;
pub const IPV6: u16 = 229;
pub const LINUX_SLL2: u16 = 276;

/// Link types that carry both IP versions.
pub const ANY_IP: &[u16] = &[ETHERNET, RAW, LINUX_SLL, LINUX_SLL2, NULL, LOOP];

/// An IP packet of a capture.
#[derive(Debug, Clone)]
pub struct IpPacket {
    pub v6: bool,
    pub bytes: Out,
    /// The flow export records it completes (for a TCP stream, all of a
    /// message's records go with the segment that ends the message; the
    /// count of a capture only matters in sum).
    pub expect: Expect,
}

/// A link type able to carry `packets`, chosen.
pub fn linktype_for(c: &mut Choices<'_>, packets: &[IpPacket]) -> u16 {
    let v4 = packets.iter().all(|p| !p.v6);
    let v6 = packets.iter().all(|p| p.v6);
    match c.below(9) {
        0 if v4 => IPV4,
        0 if v6 => IPV6,
        n => ANY_IP[n % ANY_IP.len()],
    }
}

/// `ip` inside a frame of `linktype`.
pub fn frame(c: &mut Choices<'_>, linktype: u16, ip: &IpPacket) -> Out {
    let mut f = Out::net();
    let ethertype: u64 = if ip.v6 { 0x86DD } else { 0x0800 };
    match linktype {
        ETHERNET => {
            f.put(&[0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2]);
            if c.one_in(4) {
                f.put(&[0x81, 0x00]);
                f.field(u64::from(c.u16() & 0x0FFF), 2, Role::Id);
            }
            f.field(ethertype, 2, Role::Id);
        }
        LINUX_SLL => {
            f.put(&[0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0]);
            f.field(ethertype, 2, Role::Id);
        }
        LINUX_SLL2 => {
            f.field(ethertype, 2, Role::Id);
            f.put(&[0, 0, 0, 0, 0, 3, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0]);
        }
        NULL => {
            // Host order: little-endian here; IPv6 is 24, 28 or 30.
            let fam: u32 = if ip.v6 { c.pick(&[24, 28, 30]) } else { 2 };
            f.put(&fam.to_le_bytes());
        }
        LOOP => {
            let fam: u32 = if ip.v6 { 24 } else { 2 };
            f.field(u64::from(fam), 4, Role::Id);
        }
        _ => {}
    }
    f.embed(&ip.bytes);
    f
}

/// The IP packets of a capture: one to three sessions of flow export (IPFIX
/// or NetFlow over UDP, IPFIX over TCP) and perhaps other traffic,
/// interleaved (each session's packets in order).
pub fn ip_packets(c: &mut Choices<'_>) -> Vec<IpPacket> {
    let mut sessions: Vec<Vec<IpPacket>> = Vec::new();
    for i in 0..c.range(1, 3) {
        let v6 = c.one_in(3);
        let exporter = addr(v6, 1 + i as u8);
        let collector = addr(v6, 200);
        let ports = (10_000 + c.below(1000) as u16, c.pick(&[4739, 2055, 9995]));
        let ends = (exporter, collector, ports);
        sessions.push(match c.below(4) {
            0 => tcp_export(c, v6, ends),
            1 => {
                let payloads = netflow::packets(c);
                udp_export(c, v6, ends, payloads)
            }
            _ => {
                let payloads = ipfix::messages(c, true);
                udp_export(c, v6, ends, payloads)
            }
        });
    }
    if c.one_in(2) {
        sessions.push(other_traffic(c));
    }
    let mut at = vec![0; sessions.len()];
    let mut out = Vec::new();
    loop {
        let open: Vec<usize> = (0..sessions.len())
            .filter(|&s| at[s] < sessions[s].len())
            .collect();
        if open.is_empty() {
            return out;
        }
        let s = c.pick(&open);
        out.push(sessions[s][at[s]].clone());
        at[s] += 1;
    }
}

type Ends = ([u8; 16], [u8; 16], (u16, u16));

fn addr(v6: bool, host: u8) -> [u8; 16] {
    let mut a = [0u8; 16];
    if v6 {
        a[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
        a[15] = host;
    } else {
        a[..4].copy_from_slice(&[192, 0, 2, host]);
    }
    a
}

fn udp_export(
    c: &mut Choices<'_>,
    v6: bool,
    ends: Ends,
    payloads: Vec<(Out, Expect)>,
) -> Vec<IpPacket> {
    let (src, dst, (sp, dp)) = ends;
    payloads
        .into_iter()
        .map(|(payload, expect)| IpPacket {
            v6,
            bytes: ip(c, v6, src, dst, 17, &udp(sp, dp, &payload)),
            expect,
        })
        .collect()
}

fn tcp_export(c: &mut Choices<'_>, v6: bool, ends: Ends) -> Vec<IpPacket> {
    let (src, dst, (sp, dp)) = ends;
    let mut stream = Out::net();
    let mut ends_at = Vec::new();
    for (m, e) in ipfix::messages(c, false) {
        stream.embed(&m);
        ends_at.push((stream.len(), e));
    }
    let isn = c.u32();
    let seg = |c: &mut Choices<'_>, fwd: bool, seq: u32, flags: u8, data: &Out, e: Expect| {
        let t = if fwd {
            tcp(seq, 1, flags, sp, dp, data)
        } else {
            tcp(seq, isn.wrapping_add(1), flags, dp, sp, data)
        };
        let (a, b) = if fwd { (src, dst) } else { (dst, src) };
        IpPacket {
            v6,
            bytes: ip(c, v6, a, b, 6, &t),
            expect: e,
        }
    };
    let mut pkts = vec![
        seg(c, true, isn, 0x02, &Out::net(), Expect::default()),
        seg(c, false, 0, 0x12, &Out::net(), Expect::default()),
    ];
    let mut at = 0;
    while at < stream.len() {
        // Full-sized segments unless chosen otherwise (a fuzz input that
        // runs out of choices gives zeros: not a stream of 1-byte segments).
        let size = if c.below(4) == 3 {
            c.range(1, 64)
        } else {
            1400 - c.below(1000)
        };
        let end = (at + size).min(stream.len());
        let mut e = Expect::default();
        for (_, done) in ends_at
            .iter()
            .filter(|(m_end, _)| *m_end > at && *m_end <= end)
        {
            e.add(done);
        }
        let data = slice(&stream, at, end);
        let seq = isn.wrapping_add(1).wrapping_add(at as u32);
        pkts.push(seg(c, true, seq, 0x18, &data, e));
        at = end;
    }
    let fin = isn.wrapping_add(1).wrapping_add(stream.len() as u32);
    pkts.push(seg(c, true, fin, 0x11, &Out::net(), Expect::default()));
    pkts
}

/// Bytes `a..b` of `o` with the fields that lie wholly inside.
fn slice(o: &Out, a: usize, b: usize) -> Out {
    Out {
        bytes: o.bytes[a..b].to_vec(),
        fields: o
            .fields
            .iter()
            .filter(|f| f.at >= a && f.at + usize::from(f.width) <= b)
            .map(|f| crate::Field { at: f.at - a, ..*f })
            .collect(),
        blocks: Vec::new(),
        big: true,
    }
}

/// A web request and a DNS-looking datagram: not flow export.
fn other_traffic(c: &mut Choices<'_>) -> Vec<IpPacket> {
    let v6 = c.one_in(2);
    let (a, b) = (addr(v6, 50), addr(v6, 51));
    let mut text = Out::net();
    text.put(b"GET /index.html HTTP/1.1\r\nHost: example\r\n\r\n");
    let mut dns = Out::net();
    dns.put(b"Zq\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07example\x03com\x00\x00\x01\x00\x01");
    vec![
        IpPacket {
            v6,
            bytes: ip(c, v6, a, b, 6, &tcp(1000, 0, 0x18, 40_000, 80, &text)),
            expect: Expect::default(),
        },
        IpPacket {
            v6,
            bytes: ip(c, v6, a, b, 17, &udp(40_001, 53, &dns)),
            expect: Expect::default(),
        },
    ]
}

/// An IPv4 or IPv6 packet around `payload`.
fn ip(
    c: &mut Choices<'_>,
    v6: bool,
    src: [u8; 16],
    dst: [u8; 16],
    proto: u8,
    payload: &Out,
) -> Out {
    let mut p = Out::net();
    if v6 {
        let hop = c.one_in(4);
        p.put(&[0x60, 0, 0, 0]);
        p.field(
            (payload.len() + if hop { 8 } else { 0 }) as u64,
            2,
            Role::Length,
        );
        p.field(if hop { 0 } else { u64::from(proto) }, 1, Role::Id);
        p.put(&[64]);
        p.put(&src);
        p.put(&dst);
        if hop {
            // Hop-by-hop options: next header, length 0 (8 bytes), PadN.
            p.field(u64::from(proto), 1, Role::Id);
            p.field(0, 1, Role::Length);
            p.put(&[1, 4, 0, 0, 0, 0]);
        }
    } else {
        p.field(0x45, 1, Role::Length);
        p.put(&[0]);
        p.field(20 + payload.len() as u64, 2, Role::Length);
        p.put(&c.u16().to_be_bytes());
        // Don't fragment; a mutation may make it a fragment.
        p.field(0x4000, 2, Role::Option);
        p.put(&[64]);
        p.field(u64::from(proto), 1, Role::Id);
        p.put(&[0, 0]);
        p.put(&src[..4]);
        p.put(&dst[..4]);
    }
    p.embed(payload);
    p
}

fn udp(sp: u16, dp: u16, payload: &Out) -> Out {
    let mut u = Out::net();
    u.num(u64::from(sp), 2);
    u.field(u64::from(dp), 2, Role::Id);
    u.field(8 + payload.len() as u64, 2, Role::Length);
    u.put(&[0, 0]);
    u.embed(payload);
    u
}

fn tcp(seq: u32, ack: u32, flags: u8, sp: u16, dp: u16, payload: &Out) -> Out {
    let mut t = Out::net();
    t.num(u64::from(sp), 2);
    t.num(u64::from(dp), 2);
    t.field(u64::from(seq), 4, Role::Count);
    t.num(u64::from(ack), 4);
    let syn = flags & 0x02 != 0;
    // A SYN carries an MSS option (4 bytes): data offset 6 words.
    t.field(if syn { 0x60 } else { 0x50 }, 1, Role::Length);
    t.field(u64::from(flags), 1, Role::Id);
    t.put(&[0xFF, 0xFF, 0, 0, 0, 0]);
    if syn {
        t.put(&[2, 4, 0x05, 0xB4]);
    }
    t.embed(payload);
    t
}
