//! Hand-built frames, their expected fields read off the RFC layouts.

use std::net::IpAddr;

use super::*;
use crate::pcap::Packet;

mod tcp_options;

fn pk(linktype: u16, data: &[u8], ts_ns: i64) -> Packet<'_> {
    Packet {
        linktype,
        ts_ns,
        data,
        orig_len: data.len() as u32,
        number: 1,
        offset: 0,
    }
}

fn ipv4(proto: u8, ttl: u8, tos: u8, l4: &[u8]) -> Vec<u8> {
    let mut ip = vec![
        0x45, tos, 0, 0, 0, 1, 0, 0, ttl, proto, 0, 0, 192, 0, 2, 1, 192, 0, 2, 2,
    ];
    let total = (20 + l4.len()) as u16;
    ip[2..4].copy_from_slice(&total.to_be_bytes());
    ip.extend_from_slice(l4);
    ip
}

fn udp_hdr(sp: u16, dp: u16, payload: &[u8]) -> Vec<u8> {
    let mut u = sp.to_be_bytes().to_vec();
    u.extend_from_slice(&dp.to_be_bytes());
    u.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(payload);
    u
}

fn ipv4_udp(payload: &[u8]) -> Vec<u8> {
    ipv4(17, 64, 0, &udp_hdr(4739, 2055, payload))
}

fn eth(ethertype: u16, rest: &[u8]) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1];
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(rest);
    f
}

fn one(d: &mut Dissector, lt: u16, frame: &[u8]) -> (Link, u8, u8, u32, L4<'static>) {
    match d.frame(&pk(lt, frame, 0)) {
        Step::Packet(p) => {
            let l4 = match p.l4 {
                L4::Udp(u) => L4::Ports {
                    src: u.src_port,
                    dst: u.dst_port,
                },
                L4::Tcp(t) => L4::Ports {
                    src: t.src_port,
                    dst: t.dst_port,
                },
                L4::Icmp { kind, code } => L4::Icmp { kind, code },
                L4::Ports { src, dst } => L4::Ports { src, dst },
                L4::Fragment { header, len } => L4::Fragment { header, len },
                L4::None => L4::None,
            };
            (p.link, p.ip.ttl, p.ip.tos, p.ip.length, l4)
        }
        Step::Held => panic!("held"),
        Step::NotIp(w) => panic!("not ip: {w:?}"),
    }
}

#[test]
fn ethernet_vlan_sll_and_raw_reach_the_same_udp_payload() {
    let pkt = ipv4_udp(b"hello");
    let vlan = eth(0x8100, &[[0x20, 5, 0x08, 0x00].as_slice(), &pkt].concat());
    let mut sll = vec![0; 14];
    sll.extend_from_slice(&[0x08, 0x00]);
    sll.extend_from_slice(&pkt);
    let mut sll2 = vec![0x08, 0x00];
    sll2.extend_from_slice(&[0; 18]);
    sll2.extend_from_slice(&pkt);
    let mut null = 2u32.to_le_bytes().to_vec();
    null.extend_from_slice(&pkt);
    let mut lo = 2u32.to_be_bytes().to_vec();
    lo.extend_from_slice(&pkt);
    for (lt, frame) in [
        (linktype::ETHERNET, &vlan),
        (linktype::LINUX_SLL, &sll),
        (linktype::LINUX_SLL2, &sll2),
        (linktype::RAW, &pkt),
        (linktype::NULL, &null),
        (linktype::LOOP, &lo),
    ] {
        let (l, frame_ip) = link(lt, frame).unwrap();
        let ip = ip(frame_ip, 0).unwrap();
        assert_eq!(
            (ip.protocol, ip.fragment, ip.ttl, ip.length),
            (17, false, 64, 33)
        );
        assert_eq!(ip.src, "192.0.2.1".parse::<IpAddr>().unwrap());
        let u = udp(ip.payload).unwrap();
        assert_eq!(
            (u.src_port, u.dst_port, u.payload),
            (4739, 2055, &b"hello"[..])
        );
        if lt == linktype::ETHERNET {
            // PCP 1 in the top bits of the TCI; the id is the low 12.
            assert_eq!((l.vlan(), l.vlan_count), (Some(5), 1));
            assert_eq!(l.src_mac(), Some([2, 0, 0, 0, 0, 1]));
            assert_eq!(l.dst_mac(), Some([2, 0, 0, 0, 0, 2]));
        } else {
            assert_eq!((l.vlan(), l.src_mac()), (None, None));
        }
    }
}

#[test]
fn qinq_mpls_pppoe_ppp_and_hdlc() {
    let pkt = ipv4_udp(b"x");
    let mut d = Dissector::default();
    // 802.1ad outer 100, 802.1Q inner 200.
    let qinq = eth(
        0x88A8,
        &[[0, 100, 0x81, 0x00, 0, 200, 0x08, 0x00].as_slice(), &pkt].concat(),
    );
    let (l, ..) = one(&mut d, linktype::ETHERNET, &qinq);
    assert_eq!((l.vlans, l.vlan_count), ([100, 200], 2));
    // Two MPLS labels (16 and 17, bottom of stack on the second).
    let mpls = eth(
        0x8847,
        &[[0, 1, 0, 64, 0, 1, 0x11, 64].as_slice(), &pkt].concat(),
    );
    let (l, ..) = one(&mut d, linktype::ETHERNET, &mpls);
    assert_eq!(l.mpls_label, Some(16));
    // A pseudowire: label, control word, Ethernet frame.
    let pw = eth(
        0x8847,
        &[[0, 1, 1, 64, 0, 0, 0, 0].as_slice(), &eth(0x0800, &pkt)].concat(),
    );
    let (.., l4) = one(&mut d, linktype::ETHERNET, &pw);
    assert_eq!(
        l4,
        L4::Ports {
            src: 4739,
            dst: 2055
        }
    );
    // PPPoE session: version/type, code, session id, length, PPP IPv4.
    let pppoe = eth(
        0x8864,
        &[[0x11, 0, 0, 1, 0, 0, 0x00, 0x21].as_slice(), &pkt].concat(),
    );
    assert_eq!(
        one(&mut d, linktype::ETHERNET, &pppoe).4,
        L4::Ports {
            src: 4739,
            dst: 2055
        }
    );
    let ppp = [[0xFF, 0x03, 0x00, 0x21].as_slice(), &pkt].concat();
    assert_eq!(
        one(&mut d, linktype::PPP, &ppp).4,
        L4::Ports {
            src: 4739,
            dst: 2055
        }
    );
    let chdlc = [[0x0F, 0x00, 0x08, 0x00].as_slice(), &pkt].concat();
    assert_eq!(
        one(&mut d, linktype::C_HDLC, &chdlc).4,
        L4::Ports {
            src: 4739,
            dst: 2055
        }
    );
    // IEEE 802.3 with LLC/SNAP (RFC 1042): a length, AA AA 03, OUI 0, IPv4.
    let snap = eth(
        (8 + pkt.len()) as u16,
        &[[0xAA, 0xAA, 0x03, 0, 0, 0, 0x08, 0x00].as_slice(), &pkt].concat(),
    );
    assert_eq!(
        one(&mut d, linktype::ETHERNET, &snap).4,
        L4::Ports {
            src: 4739,
            dst: 2055
        }
    );
    // ARP is counted, not read.
    assert!(matches!(
        d.frame(&pk(linktype::ETHERNET, &eth(0x0806, &[0; 28]), 0)),
        Step::NotIp(NotIp::NotIp)
    ));
    assert!(matches!(
        d.frame(&pk(160, &pkt, 0)),
        Step::NotIp(NotIp::LinkType)
    ));
    assert_eq!(d.stats().packets, 9);
    assert_eq!(d.stats().not_ip, [1, 1, 0, 0]);
    assert_eq!(d.stats().by_linktype[&linktype::ETHERNET], 6);
}

#[test]
fn ttl_tos_ecn_and_the_declared_length() {
    // DSCP 46 (EF) and ECN CE: 46 << 2 | 3.
    let pkt = ipv4(17, 7, (46 << 2) | 3, &udp_hdr(1, 2, &[0; 100]));
    // Captured to 40 bytes of a 128-byte packet: the length is the header's.
    let p = ip(&pkt[..40], (pkt.len() - 40) as u32).unwrap();
    assert_eq!(
        (p.ttl, p.tos >> 2, p.ecn(), p.length, p.length_from_frame),
        (7, 46, 3, 128, false)
    );
    // Total length 0 (segmentation offload): the frame's length on the wire.
    let mut tso = pkt.clone();
    tso[2..4].copy_from_slice(&[0, 0]);
    let p = ip(&tso[..60], 5000).unwrap();
    assert_eq!((p.length, p.length_from_frame), (5060, true));
    // IPv6: traffic class 0xB9 across the first two bytes, hop limit 3.
    let mut v6 = vec![0x6B, 0x90, 0, 0, 0, 8, 17, 3];
    v6.extend_from_slice(&[0x20, 1, 0x0d, 0xb8].repeat(8));
    v6.extend_from_slice(&udp_hdr(53, 53, &[]));
    let p = ip(&v6, 0).unwrap();
    assert_eq!(
        (p.version, p.tos, p.ttl, p.length, p.protocol),
        (6, 0xB9, 3, 48, 17)
    );
}

#[test]
fn ipv6_jumbogram_and_extension_headers() {
    let mut v6 = vec![0x60, 0, 0, 0, 0, 0, 0, 64];
    v6.extend_from_slice(&[0u8; 32]);
    // Hop-by-hop: next UDP, length 0 (8 bytes), Jumbo option (0xC2, 4).
    v6.extend_from_slice(&[17, 0, 0xC2, 4, 0, 1, 0, 0]);
    v6.extend_from_slice(&udp_hdr(9, 9, &[]));
    let p = ip(&v6, 0).unwrap();
    assert_eq!(
        (p.protocol, p.length, p.length_from_frame),
        (17, 65_536 + 40, false)
    );
    // Routing header (type 4, 24 bytes) then a first fragment of TCP.
    let mut v6 = vec![0x60, 0, 0, 0, 0, 40, 43, 64];
    v6.extend_from_slice(&[0u8; 32]);
    v6.extend_from_slice(&[44, 2, 4, 0, 0, 0, 0, 0]);
    v6.extend_from_slice(&[0; 16]);
    v6.extend_from_slice(&[6, 0, 0, 1, 0, 0, 0, 42]);
    let p = ip(&v6, 0).unwrap();
    assert_eq!(
        (p.protocol, p.fragment, p.frag.more, p.frag.id),
        (6, true, true, 42)
    );
    assert!(p.has_transport_header());
}

#[test]
fn icmp_sctp_and_tunnels() {
    let mut d = Dissector::new(DissectOptions {
        decapsulate: true,
        ..Default::default()
    });
    let echo = ipv4(1, 64, 0, &[8, 0, 0, 0, 0, 1, 0, 1]);
    assert_eq!(
        one(&mut d, linktype::RAW, &echo).4,
        L4::Icmp { kind: 8, code: 0 }
    );
    let sctp = ipv4(
        132,
        64,
        0,
        &[0x0B, 0x59, 0x0B, 0x59, 0, 0, 0, 0, 0, 0, 0, 0],
    );
    assert_eq!(
        one(&mut d, linktype::RAW, &sctp).4,
        L4::Ports {
            src: 2905,
            dst: 2905
        }
    );
    let inner = ipv4_udp(b"in");
    // GRE with a key (K bit), carrying IPv4.
    let gre = ipv4(
        47,
        64,
        0,
        &[[0x20, 0, 0x08, 0x00, 0, 0, 0, 9].as_slice(), &inner].concat(),
    );
    let (.., len, l4) = one(&mut d, linktype::RAW, &gre);
    assert_eq!(
        (len, l4),
        (
            inner.len() as u32,
            L4::Ports {
                src: 4739,
                dst: 2055
            }
        )
    );
    // VXLAN: UDP to 4789, an 8-byte header with the I flag, Ethernet.
    let vx = ipv4(
        17,
        64,
        0,
        &udp_hdr(
            50000,
            4789,
            &[[0x08, 0, 0, 0, 0, 0, 1, 0].as_slice(), &eth(0x0800, &inner)].concat(),
        ),
    );
    let (l, .., l4) = one(&mut d, linktype::RAW, &vx);
    assert_eq!(
        (l.src_mac(), l4),
        (
            Some([2, 0, 0, 0, 0, 1]),
            L4::Ports {
                src: 4739,
                dst: 2055
            }
        )
    );
    // IP in IP.
    let ipip = ipv4(4, 64, 0, &inner);
    assert_eq!(
        one(&mut d, linktype::RAW, &ipip).4,
        L4::Ports {
            src: 4739,
            dst: 2055
        }
    );
    assert_eq!(d.stats().decapsulated, 3);
    // Without decapsulation the outer packet is the packet.
    let mut plain = Dissector::default();
    assert_eq!(one(&mut plain, linktype::RAW, &gre).4, L4::None);
}

#[test]
fn fragments_assigned_to_their_first_fragments_ports() {
    let mut d = Dissector::new(DissectOptions {
        fragments: FragmentMode::Assign,
        ..Default::default()
    });
    let frag = |off: u16, more: bool, body: &[u8]| {
        let mut p = ipv4(17, 64, 0, body);
        p[4..6].copy_from_slice(&77u16.to_be_bytes());
        let f = (off / 8) | if more { 0x2000 } else { 0 };
        p[6..8].copy_from_slice(&f.to_be_bytes());
        p
    };
    let first = frag(0, true, &udp_hdr(1000, 53, &[0; 8]));
    let last = frag(16, false, &[0; 8]);
    // The last fragment first: held until the first comes.
    assert!(matches!(d.frame(&pk(linktype::RAW, &last, 5)), Step::Held));
    assert!(d.next_released().is_none());
    assert_eq!(
        one(&mut d, linktype::RAW, &first).4,
        L4::Ports { src: 1000, dst: 53 }
    );
    let r = d.next_released().unwrap();
    assert_eq!((r.ts_ns, r.ip.length), (5, 28));
    let L4::Fragment { header, len: 8 } = r.l4 else {
        panic!("{:?}", r.l4)
    };
    assert_eq!(super::ports(&header), Some((1000, 53)));
    assert!(d.next_released().is_none());
    assert_eq!(d.stats().index.fragments, 2);
}

#[test]
fn short_and_odd_packets_are_reasons_not_panics() {
    let pkt = ipv4_udp(b"x");
    let mut d = Dissector::new(DissectOptions {
        decapsulate: true,
        fragments: FragmentMode::Assign,
    });
    for lt in [0, 1, 9, 12, 50, 101, 104, 108, 113, 239, 276] {
        for n in 0..pkt.len() {
            let _ = d.frame(&pk(lt, &pkt[..n], 0));
            while d.next_released().is_some() {}
        }
    }
    assert!(ip(&[0x60; 10], 0).is_none());
    let _ = tcp(&[0; 13]);
    let _ = TcpOptions::parse(&[5, 255, 1, 2]);
}

/// The fixed-offset path for Ethernet/IPv4 and IPv6 frames gives what the general
/// path (`link`, then `ip`) gives, on every frame of the real captures
/// that it takes, and it takes some.
#[test]
fn the_ethernet_ip_path_is_the_general_path() {
    let (mut taken, mut v6) = (0usize, 0usize);
    for entry in std::fs::read_dir("tests/data/pcap").unwrap() {
        let path = entry.unwrap().path();
        let Ok(opened) = crate::source::input::Opened::path(&path) else {
            continue;
        };
        let Ok(mut r) = opened.into_capture() else {
            continue;
        };
        while let Ok(Some(p)) = r.next_packet() {
            let Some((l, got, bytes)) = fixed::ethernet_ip(p.linktype, p.data) else {
                continue;
            };
            taken += 1;
            v6 += usize::from(got.version == 6);
            let missing = p.orig_len.saturating_sub(p.data.len() as u32);
            let (l2, bytes2) = link(p.linktype, p.data).unwrap();
            assert_eq!(l, l2, "{} frame {}", path.display(), p.number);
            assert_eq!(bytes, bytes2);
            assert_eq!(
                Some(got),
                ip(bytes2, missing),
                "{} frame {}",
                path.display(),
                p.number
            );
        }
    }
    assert!(
        taken > 10_000 && v6 > 1_000,
        "only {taken} frames ({v6} IPv6) took the path"
    );
}

#[test]
fn address_spread_is_the_same_both_ways_and_for_every_fragment() {
    let forward = eth(0x0800, &ipv4_udp(&[1, 2, 3]));
    // The reply: addresses and ports swapped.
    let mut back_ip = ipv4(17, 64, 0, &udp_hdr(2055, 4739, &[4]));
    let (src, dst) = (back_ip[12..16].to_vec(), back_ip[16..20].to_vec());
    back_ip[12..16].copy_from_slice(&dst);
    back_ip[16..20].copy_from_slice(&src);
    let back = eth(0x0800, &back_ip);
    let s = address_spread(linktype::ETHERNET, &forward);
    assert_ne!(s, 0);
    assert_eq!(address_spread(linktype::ETHERNET, &back), s);
    // A later fragment (no ports) of the same pair, over another link type.
    let mut later = ipv4(17, 64, 0, &[0; 8]);
    later[6..8].copy_from_slice(&2u16.to_be_bytes());
    assert_eq!(address_spread(linktype::RAW, &later), s);
    // Another pair spreads elsewhere; a frame without IP is worker 0's.
    let mut other = ipv4_udp(&[1]);
    other[19] = 3;
    assert_ne!(address_spread(linktype::RAW, &other), s);
    assert_eq!(
        address_spread(linktype::ETHERNET, &eth(0x0806, &[0; 28])),
        0
    );
    // IPv6: both directions alike.
    let v6 = |a: u8, b: u8| {
        let mut h = vec![0x60, 0, 0, 0, 0, 8, 17, 64];
        h.extend_from_slice(&[0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, a]);
        h.extend_from_slice(&[0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, b]);
        h.extend_from_slice(&udp_hdr(1, 2, &[]));
        h
    };
    assert_eq!(
        address_spread(linktype::RAW, &v6(1, 2)),
        address_spread(linktype::RAW, &v6(2, 1))
    );
    assert_ne!(
        address_spread(linktype::RAW, &v6(1, 2)),
        address_spread(linktype::RAW, &v6(1, 3))
    );
}
