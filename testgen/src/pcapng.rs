//! pcapng captures (draft-ietf-opsawg-pcapng): one or two sections, each
//! of its own byte order, with a Section Header Block and its options,
//! several Interface Description Blocks (their own link types, if_tsresol
//! in powers of ten and of two, if_tsoffset), Enhanced, Simple and obsolete
//! Packet Blocks, Name Resolution, Interface Statistics, Decryption
//! Secrets, custom and unknown blocks; options padded to 32 bits, custom
//! options among them.

use crate::frames::{self, IpPacket};
use crate::{Choices, Expect, Generated, Out, Role};

const SHB: u64 = 0x0A0D_0D0A;
const BOM: u64 = 0x1A2B_3C4D;

struct Interface {
    linktype: u16,
    /// Timestamp units per second (if_tsresol), its option byte if any.
    units: u64,
    tsresol: Option<u8>,
    /// if_tsoffset, seconds.
    offset: Option<i64>,
}

/// A valid pcapng capture.
pub fn generate(c: &mut Choices<'_>) -> Generated {
    let packets = frames::ip_packets(c);
    let mut out = Out::net();
    let mut expect = Expect::default();
    let split = if c.one_in(3) {
        c.below(packets.len() + 1)
    } else {
        packets.len()
    };
    let mut secs = 1_700_000_000 + u64::from(c.u16());
    for part in [&packets[..split], &packets[split..]] {
        if part.is_empty() && !out.is_empty() {
            continue;
        }
        section(c, part, &mut out, &mut expect, &mut secs);
    }
    Generated {
        out,
        expect,
        mutated: false,
    }
}

fn section(
    c: &mut Choices<'_>,
    packets: &[IpPacket],
    all: &mut Out,
    expect: &mut Expect,
    secs: &mut u64,
) {
    let mut o = Out::ordered(c.one_in(2));
    let s = begin(&mut o, SHB);
    o.field(BOM, 4, Role::Id);
    o.field(1, 2, Role::Id);
    o.num(0, 2);
    o.field(u64::MAX, 8, Role::Length); // section length: not given
    options(
        c,
        &mut o,
        &[(2, b"generated"), (3, b"Linux"), (4, b"ferrofix-testgen")],
    );
    end(&mut o, s);
    let mut ifaces: Vec<Interface> = (0..c.range(1, 3))
        .map(|_| Interface {
            linktype: c.pick(frames::ANY_IP),
            units: 1_000_000,
            tsresol: None,
            offset: None,
        })
        .collect();
    if packets.iter().all(|p| !p.v6) && c.one_in(3) {
        ifaces[0].linktype = frames::IPV4;
    }
    for i in &mut ifaces {
        if c.one_in(3) {
            // Powers of ten (bit 7 clear) and of two (bit 7 set): 10^3,
            // 10^6, 10^9, 2^10, 2^20, 2^30 units per second.
            let r = c.pick(&[3u8, 6, 9, 0x8A, 0x94, 0x9E]);
            i.tsresol = Some(r);
            let e = u32::from(r & 0x7F);
            i.units = if r & 0x80 == 0 {
                10u64.pow(e)
            } else {
                1u64 << e
            };
        }
        if c.one_in(3) {
            i.offset = Some(c.pick(&[0i64, 1, -3600, 86_400, 1_000_000]));
        }
        idb(c, &mut o, i);
    }
    for p in packets {
        if c.one_in(6) {
            extra_block(c, &mut o);
        }
        let k = c.below(ifaces.len());
        let iface = &ifaces[k];
        let frame = frames::frame(c, iface.linktype, p);
        *secs += c.below(3) as u64;
        let sub = c.below(usize::try_from(iface.units.min(1 << 31)).unwrap_or(1)) as u64;
        let t = *secs * iface.units + sub;
        let ns = (u128::from(t) * 1_000_000_000 / u128::from(iface.units)) as i64
            + iface.offset.unwrap_or(0) * 1_000_000_000;
        let ts = match c.below(8) {
            0 if k == 0 => {
                simple(&mut o, &frame);
                0
            }
            1 => {
                packet_block(c, &mut o, 2, k, t, &frame);
                ns
            }
            _ => {
                packet_block(c, &mut o, 6, k, t, &frame);
                ns
            }
        };
        expect.add(&p.expect);
        expect.timestamps.push(ts);
    }
    if c.one_in(2) {
        extra_block(c, &mut o);
    }
    all.embed(&o);
}

fn begin(o: &mut Out, kind: u64) -> usize {
    let s = o.len();
    o.field(kind, 4, Role::Id);
    o.field(0, 4, Role::Length);
    s
}

/// Close a block: trailing length, both lengths patched.
fn end(o: &mut Out, s: usize) {
    o.pad_to(4);
    let len = (o.len() - s + 4) as u64;
    o.patch(s + 4, len, 4);
    o.field(len, 4, Role::Length);
    o.block_from(s);
}

/// Options (code, value) and opt_endofopt, each value padded to 32 bits;
/// sometimes a custom option (2988: PEN, then a string).
fn options(c: &mut Choices<'_>, o: &mut Out, opts: &[(u16, &[u8])]) {
    if c.one_in(4) {
        return;
    }
    for &(code, v) in opts {
        if c.one_in(3) {
            continue;
        }
        option(o, code, v);
    }
    if c.one_in(4) {
        let mut v = 32473u32.to_be_bytes().to_vec();
        v.extend_from_slice(b"custom");
        option(o, 2988, &v);
    }
    if c.one_in(3) {
        option(o, 1, b"a comment");
    }
    o.field(0, 2, Role::Id);
    o.field(0, 2, Role::Length);
}

fn option(o: &mut Out, code: u16, v: &[u8]) {
    o.field(u64::from(code), 2, Role::Id);
    o.field(v.len() as u64, 2, Role::Length);
    o.put(v);
    o.pad_to(4);
}

fn idb(c: &mut Choices<'_>, o: &mut Out, i: &Interface) {
    let s = begin(o, 1);
    o.field(u64::from(i.linktype), 2, Role::Id);
    o.num(0, 2);
    o.field(262_144, 4, Role::Length);
    if c.one_in(2) {
        option(o, 2, b"eth0");
    }
    if let Some(r) = i.tsresol {
        o.field(9, 2, Role::Id);
        o.field(1, 2, Role::Length);
        o.field(u64::from(r), 1, Role::Option);
        o.pad_to(4);
    }
    if let Some(off) = i.offset {
        o.field(14, 2, Role::Id);
        o.field(8, 2, Role::Length);
        o.field(off as u64, 8, Role::Option);
    }
    if c.one_in(2) {
        option(o, 3, b"generated interface");
    }
    o.field(0, 2, Role::Id);
    o.field(0, 2, Role::Length);
    end(o, s);
}

/// An Enhanced (6) or obsolete (2) Packet Block.
fn packet_block(c: &mut Choices<'_>, o: &mut Out, kind: u64, iface: usize, t: u64, frame: &Out) {
    let s = begin(o, kind);
    if kind == 6 {
        o.field(iface as u64, 4, Role::Id);
    } else {
        o.field(iface as u64, 2, Role::Id);
        o.num(0, 2); // drops
    }
    o.field(t >> 32, 4, Role::Time);
    o.field(t & 0xFFFF_FFFF, 4, Role::Time);
    o.field(frame.len() as u64, 4, Role::Length);
    o.field(frame.len() as u64, 4, Role::Length);
    o.embed(frame);
    o.pad_to(4);
    let flags = if o.big { [0, 0, 0, 1] } else { [1, 0, 0, 0] };
    options(c, o, &[(2, &flags)]);
    end(o, s);
}

/// A Simple Packet Block (interface 0, no timestamp).
fn simple(o: &mut Out, frame: &Out) {
    let s = begin(o, 3);
    o.field(frame.len() as u64, 4, Role::Length);
    o.embed(frame);
    end(o, s);
}

/// A block that carries no packet: Name Resolution, Interface Statistics,
/// Decryption Secrets, custom (copiable or not), or of an unknown type.
fn extra_block(c: &mut Choices<'_>, o: &mut Out) {
    match c.below(5) {
        0 => {
            let s = begin(o, 4);
            for (kind, addr) in [
                (1u16, &[192u8, 0, 2, 1][..]),
                (
                    2,
                    &[0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1][..],
                ),
            ] {
                let mut v = addr.to_vec();
                v.extend_from_slice(b"exporter.example\0");
                option(o, kind, &v);
            }
            o.field(0, 2, Role::Id);
            o.field(0, 2, Role::Length);
            options(c, o, &[(2, b"ns1")]);
            end(o, s);
        }
        1 => {
            let s = begin(o, 5);
            o.field(0, 4, Role::Id);
            o.field(u64::from(c.u32()), 4, Role::Time);
            o.field(u64::from(c.u32()), 4, Role::Time);
            options(c, o, &[(2, &[0; 8]), (4, &[0, 0, 0, 0, 0, 0, 0, 9])]);
            end(o, s);
        }
        2 => {
            let s = begin(o, 10);
            o.num(0x544C_534B, 4); // TLS key log
            let secret = b"CLIENT_RANDOM 00 11\n";
            o.field(secret.len() as u64, 4, Role::Length);
            o.put(secret);
            o.pad_to(4);
            end(o, s);
        }
        3 => {
            let s = begin(o, c.pick(&[0x0000_0BAD, 0x4000_0BAD]));
            o.num(32473, 4);
            let n = c.below(20);
            let b = c.bytes(n);
            o.put(&b);
            o.pad_to(4);
            end(o, s);
        }
        _ => {
            let s = begin(o, 0x0BAD_F00D);
            let n = 4 * c.below(5);
            let b = c.bytes(n);
            o.put(&b);
            end(o, s);
        }
    }
}
