//! NetFlow packet streams: v9 (RFC 3954: header §5.1, template flowsets
//! §5.2, options template flowsets §6.1, data flowsets with padding §5.3,
//! zero padding between flowsets, vendor field types) and v5 (Cisco's
//! fixed 48-byte records, with and without header sampling), mixed.

use crate::{Choices, Expect, Generated, Out, Role};

/// v9 field types and lengths: addresses, ports, protocol, counters,
/// FIRST/LAST_SWITCHED (made absolute by the translation), interfaces.
const V9_FIELDS: &[(u16, u16)] = &[
    (8, 4),
    (12, 4),
    (7, 2),
    (11, 2),
    (4, 1),
    (1, 4),
    (2, 4),
    (21, 4),
    (22, 4),
    (10, 2),
    (14, 2),
    (27, 16),
];
/// v9 scope types System, Interface, Line Card, Cache, Template (§6.1),
/// 4 bytes each: with options of 1 byte or more, a record is longer than
/// the 3 bytes of padding a flowset may end with.
const V9_SCOPES: &[(u16, u16)] = &[(1, 4), (2, 4), (3, 4), (4, 4), (5, 4)];
/// Options: samplingInterval, samplingAlgorithm, flowActiveTimeout,
/// flowIdleTimeout.
const V9_OPTIONS: &[(u16, u16)] = &[(34, 4), (35, 1), (36, 2), (37, 2)];

#[derive(Debug, Clone)]
struct V9Template {
    id: u16,
    /// (type, length) pairs; the first `scope` are scope fields.
    fields: Vec<(u16, u16)>,
    scope: usize,
}

impl V9Template {
    fn record_len(&self) -> usize {
        self.fields.iter().map(|&(_, l)| usize::from(l)).sum()
    }
}

/// A valid stream of NetFlow v9 and v5 packets.
pub fn generate(c: &mut Choices<'_>) -> Generated {
    let mut out = Out::net();
    let mut expect = Expect::default();
    for (p, e) in packets(c) {
        out.embed(&p);
        expect.add(&e);
    }
    Generated {
        out,
        expect,
        mutated: false,
    }
}

/// Packets of one exporter (v9 templates sent in its first v9 packet and
/// now and then again), each with what it holds.
pub fn packets(c: &mut Choices<'_>) -> Vec<(Out, Expect)> {
    // v9 source ids above 65535, so they never meet the observation domain
    // of a v5 packet (engine type << 8 | engine id) and its template 256.
    let source = 0x1_0000 + c.below(16) as u32;
    let first_id = 257 + c.below(1000) as u16;
    let mut templates = Vec::new();
    for i in 0..c.range(1, 3) {
        let id = first_id + i as u16;
        let options = i > 0 && c.one_in(3);
        let (scope, fields) = if options {
            let scope = c.range(1, 2);
            let mut f: Vec<(u16, u16)> = (0..scope).map(|_| c.pick(V9_SCOPES)).collect();
            f.extend((0..c.range(1, 3)).map(|_| c.pick(V9_OPTIONS)));
            (scope, f)
        } else {
            let mut f = vec![c.pick(&V9_FIELDS[..2])];
            f.extend((0..c.below(6)).map(|_| c.pick(V9_FIELDS)));
            if c.one_in(4) {
                f.push((0x8000 | c.range(1, 100) as u16, 2));
            }
            (0, f)
        };
        templates.push(V9Template { id, fields, scope });
    }
    let mut sent = false;
    let mut sequence = c.u32();
    // Export times go forward by seconds: a UDP template is not expired.
    let mut now = 1_700_000_000 + u32::from(c.u16());
    (0..c.range(1, 5))
        .map(|_| {
            now += c.below(3) as u32;
            if c.one_in(3) {
                v5(c, now)
            } else {
                let with_templates = !sent || c.one_in(4);
                sent = true;
                sequence = sequence.wrapping_add(1);
                v9(c, source, sequence, &templates, with_templates, now)
            }
        })
        .collect()
}

fn v9(
    c: &mut Choices<'_>,
    source: u32,
    sequence: u32,
    templates: &[V9Template],
    with_templates: bool,
    now: u32,
) -> (Out, Expect) {
    let mut p = Out::net();
    let mut e = Expect::default();
    p.field(9, 2, Role::Id);
    p.field(0, 2, Role::Count);
    p.field(u64::from(c.u32()), 4, Role::Time);
    p.field(u64::from(now), 4, Role::Time);
    p.field(u64::from(sequence), 4, Role::Count);
    p.field(u64::from(source), 4, Role::Id);
    let mut count = 0u64;
    if with_templates {
        let plain: Vec<&V9Template> = templates.iter().filter(|t| t.scope == 0).collect();
        if !plain.is_empty() {
            let s = begin(&mut p, 0);
            for t in &plain {
                p.field(u64::from(t.id), 2, Role::Id);
                p.field(t.fields.len() as u64, 2, Role::Count);
                for &(ty, l) in &t.fields {
                    p.field(u64::from(ty), 2, Role::Id);
                    p.field(u64::from(l), 2, Role::Length);
                }
                count += 1;
            }
            end(&mut p, s);
        }
        for t in templates.iter().filter(|t| t.scope != 0) {
            let s = begin(&mut p, 1);
            p.field(u64::from(t.id), 2, Role::Id);
            p.field(4 * t.scope as u64, 2, Role::Length);
            p.field(4 * (t.fields.len() - t.scope) as u64, 2, Role::Length);
            for &(ty, l) in &t.fields {
                p.field(u64::from(ty), 2, Role::Id);
                p.field(u64::from(l), 2, Role::Length);
            }
            count += 1;
            end(&mut p, s);
        }
    }
    for _ in 0..c.range(1, 3) {
        let t = &templates[c.below(templates.len())];
        let s = begin(&mut p, t.id);
        let n = c.range(1, 4);
        for _ in 0..n {
            let b = c.bytes(t.record_len());
            p.put(&b);
        }
        count += n as u64;
        e.records += n as u64;
        end(&mut p, s);
        if c.one_in(5) {
            // Zero padding between flowsets (a flowset id 0 of length 0).
            p.put(&[0; 4]);
        }
    }
    p.patch(2, count, 2);
    p.block_from(0);
    (p, e)
}

fn begin(p: &mut Out, id: u16) -> usize {
    let s = p.len();
    p.field(u64::from(id), 2, Role::Id);
    p.field(0, 2, Role::Length);
    s
}

/// Close a flowset: padded to 4 bytes (§5.3), its length patched.
fn end(p: &mut Out, s: usize) {
    p.pad_to(4);
    let len = (p.len() - s) as u64;
    p.patch(s + 2, len, 2);
    p.block_from(s);
}

fn v5(c: &mut Choices<'_>, now: u32) -> (Out, Expect) {
    let mut p = Out::net();
    let n = c.range(1, 5);
    let sampling = if c.one_in(3) {
        (c.range(1, 2) as u16) << 14 | c.range(1, 0x3FFF) as u16
    } else {
        0
    };
    p.field(5, 2, Role::Id);
    p.field(n as u64, 2, Role::Count);
    p.field(u64::from(c.u32()), 4, Role::Time);
    p.field(u64::from(now), 4, Role::Time);
    p.field(c.below(1_000_000_000) as u64, 4, Role::Time);
    p.field(u64::from(c.u32()), 4, Role::Count);
    p.field(u64::from(c.byte()), 1, Role::Id);
    p.field(u64::from(c.byte()), 1, Role::Id);
    p.field(u64::from(sampling), 2, Role::Option);
    for _ in 0..n {
        let s = p.len();
        let mut r = c.bytes(48);
        // pad1, pad2 (bytes 36 and 46-47) are zero.
        r[36] = 0;
        r[46] = 0;
        r[47] = 0;
        p.put(&r);
        p.block_from(s);
    }
    p.block_from(0);
    let e = Expect {
        records: n as u64 + u64::from(sampling != 0),
        ..Expect::default()
    };
    (p, e)
}
