//! Classic pcap captures (libpcap's pcap-savefile(5)): either byte order,
//! microsecond (0xA1B2C3D4) or nanosecond (0xA1B23C4D) magic, one link type
//! of [`frames`], packets of flow export and other traffic.

use crate::frames;
use crate::{Choices, Expect, Generated, Out, Role};

/// A valid classic pcap capture.
pub fn generate(c: &mut Choices<'_>) -> Generated {
    let big = c.one_in(2);
    let ns = c.one_in(2);
    let units: u64 = if ns { 1_000_000_000 } else { 1_000_000 };
    let packets = frames::ip_packets(c);
    let lt = frames::linktype_for(c, &packets);
    let mut out = Out::ordered(big);
    out.field(if ns { 0xA1B2_3C4D } else { 0xA1B2_C3D4 }, 4, Role::Id);
    out.num(2, 2);
    out.num(4, 2);
    out.num(0, 4); // thiszone
    out.num(0, 4); // sigfigs
    out.field(262_144, 4, Role::Length); // snaplen
    out.field(u64::from(lt), 4, Role::Id);
    let mut expect = Expect::default();
    let mut secs = 1_700_000_000 + u64::from(c.u16());
    for p in &packets {
        let f = frames::frame(c, lt, p);
        secs += c.below(3) as u64;
        let frac = c.below(units as usize) as u64;
        let start = out.len();
        out.field(secs, 4, Role::Time);
        out.field(frac, 4, Role::Time);
        out.field(f.len() as u64, 4, Role::Length);
        out.field(f.len() as u64, 4, Role::Length);
        out.embed(&f);
        out.block_from(start);
        expect.add(&p.expect);
        expect
            .timestamps
            .push((secs * 1_000_000_000 + frac * (1_000_000_000 / units)) as i64);
    }
    Generated {
        out,
        expect,
        mutated: false,
    }
}
