//! gzip (RFC 1952, one or two members) and zstd (RFC 8878, ruzstd's
//! encoder: stored or compressed blocks) wrappers of any other kind,
//! whose structure may be mutated before it is compressed; the wrapper's
//! own header and trailer fields are the mutable places of the result.

use std::io::Write;

use flate2::write::GzEncoder;
use flate2::Compression;
use ruzstd::encoding::{compress_to_vec, CompressionLevel};

use crate::{mutate, Choices, Generated, Kind, Out, Role};

/// A valid input of another kind, compressed.
pub fn generate(c: &mut Choices<'_>) -> Generated {
    wrapped(c, false)
}

/// An input of another kind (mutated before it is compressed when
/// `mutated`, one time in two), compressed.
pub fn wrapped(c: &mut Choices<'_>, mutated: bool) -> Generated {
    let kind = c.pick(&[Kind::Ipfix, Kind::Netflow, Kind::Pcap, Kind::Pcapng]);
    let mut inner = kind.generate(c);
    if mutated && c.one_in(2) {
        mutate(&mut inner, c);
    }
    let raw = &inner.out.bytes;
    let mut out = Out::net();
    if c.one_in(2) {
        let cut = if c.one_in(3) {
            c.below(raw.len() + 1)
        } else {
            raw.len()
        };
        gzip_member(c, &mut out, &raw[..cut]);
        if cut < raw.len() {
            gzip_member(c, &mut out, &raw[cut..]);
        }
    } else {
        let level = if c.one_in(3) {
            CompressionLevel::Uncompressed
        } else {
            CompressionLevel::Fastest
        };
        let z = compress_to_vec(&raw[..], level);
        // Frame header (little-endian): magic, frame header descriptor.
        out.big = false;
        out.field(
            u64::from(u32::from_le_bytes([z[0], z[1], z[2], z[3]])),
            4,
            Role::Id,
        );
        out.field(u64::from(z[4]), 1, Role::Option);
        out.big = true;
        out.put(&z[5..]);
        out.block_from(0);
    }
    Generated {
        out,
        expect: inner.expect,
        mutated: inner.mutated,
    }
}

fn gzip_member(c: &mut Choices<'_>, out: &mut Out, raw: &[u8]) {
    let level = Compression::new(c.below(10) as u32);
    let mut e = GzEncoder::new(Vec::new(), level);
    // Writing to a Vec cannot fail.
    let z = e
        .write_all(raw)
        .and_then(|()| e.finish())
        .unwrap_or_default();
    let start = out.len();
    // Header (§2.3): magic, method, flags, mtime, xfl, os; trailer: CRC32,
    // ISIZE (little-endian).
    out.put(&z[..2]);
    out.field(u64::from(z[2]), 1, Role::Id);
    out.field(u64::from(z[3]), 1, Role::Option);
    out.put(&z[4..z.len() - 8]);
    out.big = false;
    out.field(
        u64::from(u32::from_le_bytes(
            z[z.len() - 8..z.len() - 4].try_into().unwrap_or_default(),
        )),
        4,
        Role::Count,
    );
    out.field(raw.len() as u64 & 0xFFFF_FFFF, 4, Role::Length);
    out.big = true;
    out.block_from(start);
}
