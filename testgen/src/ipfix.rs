//! IPFIX message streams (RFC 7011): template and options template sets
//! (§3.4.1-3.4.2), data sets with padding (§3.3.1), template withdrawals
//! (§8.1), variable-length fields (§7) and enterprise IEs, and RFC 6313
//! structured data: basicList, subTemplateList and subTemplateMultiList
//! fields (§4.5), nested, of sub-templates defined in the same domain.

use crate::{Choices, Expect, Generated, Out, Role};

/// Variable length (RFC 7011 §7).
pub const VARLEN: u16 = 0xFFFF;
const BASIC_LIST: u16 = 291;
const SUB_TEMPLATE_LIST: u16 = 292;
const SUB_TEMPLATE_MULTI_LIST: u16 = 293;

/// A template's field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum F {
    /// An IANA IE at a fixed length.
    Fixed(u16, u16),
    /// A variable-length IANA IE (strings or octet arrays).
    Var(u16),
    /// An enterprise IE (unknown to the model: raw bytes) at a fixed length.
    Ent(u16, u16, u32),
    BasicList,
    SubTemplateList,
    SubTemplateMultiList,
}

/// IANA IEs and lengths their types allow (reduced-size encoding too).
const FIXED: &[(u16, u16)] = &[
    (8, 4),   // sourceIPv4Address
    (12, 4),  // destinationIPv4Address
    (7, 2),   // sourceTransportPort
    (11, 2),  // destinationTransportPort
    (4, 1),   // protocolIdentifier
    (1, 8),   // octetDeltaCount
    (1, 4),   // octetDeltaCount, reduced size
    (2, 8),   // packetDeltaCount
    (152, 8), // flowStartMilliseconds
    (27, 16), // sourceIPv6Address
    (56, 6),  // sourceMacAddress
    (10, 4),  // ingressInterface
];
/// Variable-length IEs: interfaceName (string), ipHeaderPacketSection
/// (octetArray), applicationDescription (string).
const VAR: &[u16] = &[82, 313, 94];
const SCOPES: &[(u16, u16)] = &[(149, 4), (144, 4), (10, 4)];
const OPTIONS: &[(u16, u16)] = &[(40, 8), (41, 8), (42, 8), (160, 8)];

#[derive(Debug, Clone)]
struct Template {
    id: u16,
    fields: Vec<F>,
    /// Scope field count (an options template when non-zero).
    scope: u16,
    live: bool,
}

/// Template state of one observation domain.
struct Domain {
    odid: u32,
    /// Sub-templates for lists: never withdrawn, never data at top level.
    leaves: Vec<Template>,
    templates: Vec<Template>,
    sequence: u32,
}

/// A valid IPFIX file: a few messages of one or two observation domains.
pub fn generate(c: &mut Choices<'_>) -> Generated {
    let mut out = Out::net();
    let mut expect = Expect::default();
    for (m, e) in messages(c, false) {
        out.embed(&m);
        expect.add(&e);
    }
    Generated {
        out,
        expect,
        mutated: false,
    }
}

/// Messages of one exporter, each with what it holds. Over UDP (`udp`)
/// templates are not withdrawn (RFC 7011 §8.4).
pub fn messages(c: &mut Choices<'_>, udp: bool) -> Vec<(Out, Expect)> {
    let mut domains: Vec<Domain> = (0..c.range(1, 2))
        .map(|i| {
            let odid = i as u32 * 256 + c.below(4) as u32;
            domain(c, odid)
        })
        .collect();
    let mut sent_templates = vec![false; domains.len()];
    let mut msgs = Vec::new();
    // Export times go forward by seconds: a UDP template is not expired.
    let mut now = 1_700_000_000 + u32::from(c.u16());
    for _ in 0..c.range(1, 5) {
        let d = c.below(domains.len());
        let first = !sent_templates[d];
        sent_templates[d] = true;
        now += c.below(3) as u32;
        msgs.push(message(c, &mut domains[d], first, udp, now));
    }
    msgs
}

fn domain(c: &mut Choices<'_>, odid: u32) -> Domain {
    let mut id = 256 + c.below(64) as u16;
    let mut next = || {
        id += 1;
        id
    };
    let leaves = (0..c.range(1, 2))
        .map(|_| {
            let mut fields = vec![fixed(c)];
            for _ in 0..c.below(3) {
                fields.push(match c.below(4) {
                    0 => F::Var(c.pick(VAR)),
                    1 => F::BasicList,
                    _ => fixed(c),
                });
            }
            Template {
                id: next(),
                fields,
                scope: 0,
                live: true,
            }
        })
        .collect();
    let mut templates: Vec<Template> = (0..c.range(1, 3))
        .map(|_| Template {
            id: next(),
            fields: top_fields(c),
            scope: 0,
            live: true,
        })
        .collect();
    if c.one_in(2) {
        let scope = c.range(1, 2);
        let mut fields: Vec<F> = (0..scope)
            .map(|_| {
                let (ie, l) = c.pick(SCOPES);
                F::Fixed(ie, l)
            })
            .collect();
        for _ in 0..c.range(1, 3) {
            let (ie, l) = c.pick(OPTIONS);
            fields.push(F::Fixed(ie, l));
        }
        templates.push(Template {
            id: next(),
            fields,
            scope: scope as u16,
            live: true,
        });
    }
    Domain {
        odid,
        leaves,
        templates,
        sequence: 0,
    }
}

fn fixed(c: &mut Choices<'_>) -> F {
    let (ie, l) = c.pick(FIXED);
    F::Fixed(ie, l)
}

fn top_fields(c: &mut Choices<'_>) -> Vec<F> {
    (0..c.range(1, 6))
        .map(|_| match c.below(10) {
            0 => F::Var(c.pick(VAR)),
            1 => F::Ent(0x8000 | c.range(1, 50) as u16, c.pick(&[1, 2, 4, 8]), 6871),
            2 => F::BasicList,
            3 => F::SubTemplateList,
            4 => F::SubTemplateMultiList,
            _ => fixed(c),
        })
        .collect()
}

fn message(c: &mut Choices<'_>, d: &mut Domain, first: bool, udp: bool, now: u32) -> (Out, Expect) {
    let mut m = Out::net();
    let mut e = Expect::default();
    m.field(10, 2, Role::Id);
    m.field(0, 2, Role::Length);
    m.field(u64::from(now), 4, Role::Time);
    m.field(u64::from(d.sequence), 4, Role::Count);
    m.field(u64::from(d.odid), 4, Role::Id);
    // Templates: all of them first time; later, now and then again, and
    // withdrawn ones redefined.
    let resend = first || c.one_in(4);
    let mut defs: Vec<Template> = Vec::new();
    if resend {
        defs.extend(d.leaves.iter().cloned());
    }
    for t in &mut d.templates {
        if !t.live && c.one_in(2) {
            if t.scope == 0 {
                t.fields = top_fields(c);
            }
            t.live = true;
            defs.push(t.clone());
        } else if resend && t.live {
            defs.push(t.clone());
        }
    }
    let plain: Vec<&Template> = defs.iter().filter(|t| t.scope == 0).collect();
    if !plain.is_empty() {
        template_set(&mut m, 2, &plain);
    }
    let options: Vec<&Template> = defs.iter().filter(|t| t.scope != 0).collect();
    if !options.is_empty() {
        template_set(&mut m, 3, &options);
    }
    let leaves = d.leaves.clone();
    let live: Vec<usize> = (0..d.templates.len())
        .filter(|&i| d.templates[i].live)
        .collect();
    for _ in 0..c.range(1, 3) {
        if live.is_empty() {
            break;
        }
        let t = &d.templates[c.pick(&live)];
        let n = c.range(1, 4);
        data_set(c, &mut m, t, &leaves, n, &mut e);
        d.sequence = d.sequence.wrapping_add(n as u32);
    }
    if !udp && c.one_in(3) {
        if let Some(i) = live
            .first()
            .copied()
            .filter(|_| live.len() > 1 || c.one_in(2))
        {
            let t = &mut d.templates[i];
            t.live = false;
            let s = begin_set(&mut m, if t.scope == 0 { 2 } else { 3 });
            m.field(u64::from(t.id), 2, Role::Id);
            m.field(0, 2, Role::Count);
            end_set(&mut m, s);
        }
    }
    let len = m.len() as u64;
    m.patch(2, len, 2);
    m.block_from(0);
    (m, e)
}

fn begin_set(m: &mut Out, id: u16) -> usize {
    let s = m.len();
    m.field(u64::from(id), 2, Role::Id);
    m.field(0, 2, Role::Length);
    s
}

fn end_set(m: &mut Out, s: usize) {
    let len = (m.len() - s) as u64;
    m.patch(s + 2, len, 2);
    m.block_from(s);
}

fn template_set(m: &mut Out, set_id: u16, ts: &[&Template]) {
    let s = begin_set(m, set_id);
    for t in ts {
        m.field(u64::from(t.id), 2, Role::Id);
        m.field(t.fields.len() as u64, 2, Role::Count);
        if set_id == 3 {
            m.field(u64::from(t.scope), 2, Role::Count);
        }
        for f in &t.fields {
            let (id, len, pen) = match *f {
                F::Fixed(ie, l) => (ie, l, None),
                F::Var(ie) => (ie, VARLEN, None),
                F::Ent(ie, l, pen) => (ie, l, Some(pen)),
                F::BasicList => (BASIC_LIST, VARLEN, None),
                F::SubTemplateList => (SUB_TEMPLATE_LIST, VARLEN, None),
                F::SubTemplateMultiList => (SUB_TEMPLATE_MULTI_LIST, VARLEN, None),
            };
            m.field(u64::from(id), 2, Role::Id);
            m.field(u64::from(len), 2, Role::Length);
            if let Some(p) = pen {
                m.field(u64::from(p), 4, Role::Id);
            }
        }
    }
    end_set(m, s);
}

fn data_set(
    c: &mut Choices<'_>,
    m: &mut Out,
    t: &Template,
    leaves: &[Template],
    n: usize,
    e: &mut Expect,
) {
    let s = begin_set(m, t.id);
    for _ in 0..n {
        record(c, m, &t.fields, leaves, 0, e);
    }
    e.records += n as u64;
    // Padding (§3.3.1) only where a reader can tell it from a record:
    // fewer bytes than a fixed-length record.
    let fixed: Option<u16> = t.fields.iter().try_fold(0u16, |a, f| match f {
        F::Fixed(_, l) | F::Ent(_, l, _) => Some(a + l),
        _ => None,
    });
    if let Some(min) = fixed {
        let pad = c.below(usize::from(min).min(4));
        m.put(&vec![0; pad]);
    }
    end_set(m, s);
}

/// One record of `fields`; lists nest at most two levels below `depth`.
fn record(
    c: &mut Choices<'_>,
    m: &mut Out,
    fields: &[F],
    leaves: &[Template],
    depth: u32,
    e: &mut Expect,
) {
    for f in fields {
        match *f {
            F::Fixed(_, l) | F::Ent(_, l, _) => {
                let b = c.bytes(usize::from(l));
                m.put(&b);
            }
            F::Var(ie) => {
                let n = c.pick(&[0, 1, 3, 17, 254, 255, 300]);
                let v = text(c, n, ie != 313);
                varlen(m, &v);
            }
            F::BasicList | F::SubTemplateList | F::SubTemplateMultiList => {
                let mut inner = Out::net();
                list(c, &mut inner, *f, leaves, depth, e);
                varlen_out(m, &inner);
            }
        }
    }
}

fn text(c: &mut Choices<'_>, n: usize, ascii: bool) -> Vec<u8> {
    (0..n)
        .map(|_| {
            let b = c.byte();
            if ascii {
                b'a' + b % 26
            } else {
                b
            }
        })
        .collect()
}

fn varlen_prefix(m: &mut Out, n: usize) {
    if n < 255 {
        m.field(n as u64, 1, Role::Length);
    } else {
        m.put(&[255]);
        m.field(n as u64, 2, Role::Length);
    }
}

fn varlen(m: &mut Out, v: &[u8]) {
    varlen_prefix(m, v.len());
    m.put(v);
}

fn varlen_out(m: &mut Out, inner: &Out) {
    varlen_prefix(m, inner.len());
    m.embed(inner);
}

/// An RFC 6313 list's content (§4.5): semantic, then what its kind holds.
fn list(
    c: &mut Choices<'_>,
    m: &mut Out,
    kind: F,
    leaves: &[Template],
    depth: u32,
    e: &mut Expect,
) {
    m.field(u64::from(c.pick(&[0u8, 1, 2, 3, 4, 0xFF])), 1, Role::Option);
    match kind {
        F::BasicList => {
            // Element IE: fixed, variable length, or (above the depth
            // bound) a basicList of basicLists.
            let nested = depth < 2 && c.one_in(4);
            let elem = if nested {
                F::BasicList
            } else if c.one_in(3) {
                F::Var(82)
            } else {
                fixed(c)
            };
            let (id, len) = match elem {
                F::Fixed(ie, l) => (ie, l),
                F::Var(ie) => (ie, VARLEN),
                _ => (BASIC_LIST, VARLEN),
            };
            m.field(u64::from(id), 2, Role::Id);
            m.field(u64::from(len), 2, Role::Length);
            let n = c.below(5);
            for _ in 0..n {
                match elem {
                    F::Fixed(_, l) => {
                        let b = c.bytes(usize::from(l));
                        m.put(&b);
                    }
                    F::Var(_) => {
                        let k = c.below(12);
                        let v = text(c, k, true);
                        varlen(m, &v);
                    }
                    _ => {
                        let mut inner = Out::net();
                        list(c, &mut inner, F::BasicList, leaves, depth + 1, e);
                        varlen_out(m, &inner);
                    }
                }
            }
            e.list_elements += n as u64;
        }
        F::SubTemplateList => {
            let t = &leaves[c.below(leaves.len())];
            m.field(u64::from(t.id), 2, Role::Id);
            let n = c.below(4);
            for _ in 0..n {
                record(c, m, &t.fields, leaves, depth + 1, e);
            }
            e.list_elements += n as u64;
        }
        _ => {
            for _ in 0..c.below(4) {
                let t = &leaves[c.below(leaves.len())];
                let s = m.len();
                m.field(u64::from(t.id), 2, Role::Id);
                m.field(0, 2, Role::Length);
                let n = c.range(1, 3);
                for _ in 0..n {
                    record(c, m, &t.fields, leaves, depth + 1, e);
                }
                e.list_elements += n as u64;
                let len = (m.len() - s) as u64;
                m.patch(s + 2, len, 2);
                m.block_from(s);
            }
        }
    }
}
