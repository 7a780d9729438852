//! NetFlow v9 (RFC 3954) packets -> IPFIX messages (see the module above).
//!
//! Header (§5.1): version 9, count, SysUpTime (ms), UNIX seconds, package
//! sequence, source id. FlowSets (§5.2-5.3): id 0 templates, 1 options
//! templates, 2..=255 reserved, 256 and up data; each padded to 4 bytes.

use super::{
    absolute_ms, bad, begin_set, close_set, end_set, finish_message, put_header, Conv, HeldFlowSet,
    Translator, MAX_HELD, MAX_TRANSLATED_TEMPLATES,
};
use crate::error::{Error, ErrorKind};
use crate::wire::{be16, be32, OPTIONS_TEMPLATE_SET_ID, TEMPLATE_SET_ID, VARLEN};

/// Bytes of the v9 packet header.
pub const HEADER_LEN: usize = 20;

/// The enterprise number v9 field types from 32768 up are given when read as
/// IPFIX (they have no IANA meaning; 4294967295 is reserved by IANA, so it
/// names no real enterprise). ipfixcol2 uses the same number for them.
pub const V9_VENDOR_PEN: u32 = u32::MAX;

/// FIRST_SWITCHED, LAST_SWITCHED (§8): SysUpTime milliseconds.
const FIRST_SWITCHED: u16 = 22;
const LAST_SWITCHED: u16 = 21;
/// flowStartMilliseconds, flowEndMilliseconds (IANA).
const FLOW_START_MS: u16 = 152;
const FLOW_END_MS: u16 = 153;

type R<T> = std::result::Result<T, (Error, usize)>;

/// IPFIX IE of a v9 options scope type (§6.1).
fn scope_ie(t: u16) -> u16 {
    match t {
        1 => 144, // System -> exportingProcessId
        2 => 10,  // Interface -> ingressInterface
        3 => 141, // Line Card -> lineCardId
        4 => 143, // NetFlow Cache -> meteringProcessId
        5 => 145, // Template -> templateId
        other => other,
    }
}

/// Append one IPFIX field specifier for v9 field `t` of `len` bytes; the
/// conversion its data needs.
fn put_field(out: &mut Vec<u8>, t: u16, len: u16) -> Conv {
    if (t == FIRST_SWITCHED || t == LAST_SWITCHED) && len == 4 {
        let id = if t == FIRST_SWITCHED {
            FLOW_START_MS
        } else {
            FLOW_END_MS
        };
        out.extend_from_slice(&id.to_be_bytes());
        out.extend_from_slice(&8u16.to_be_bytes());
        return Conv::Uptime;
    }
    if t >= 0x8000 {
        out.extend_from_slice(&t.to_be_bytes()); // enterprise bit already set
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&V9_VENDOR_PEN.to_be_bytes());
    } else {
        out.extend_from_slice(&t.to_be_bytes());
        out.extend_from_slice(&len.to_be_bytes());
    }
    Conv::Copy(len)
}

fn bad_template(msg: String, at: usize) -> (Error, usize) {
    bad(ErrorKind::BadTemplate(msg), at)
}

/// Translate one v9 packet.
pub(super) fn translate(tr: &mut Translator, p: &[u8], out: &mut Vec<u8>) -> R<()> {
    if p.len() < HEADER_LEN {
        return Err(bad(
            ErrorKind::Truncated {
                needed: HEADER_LEN as u64,
                available: p.len() as u64,
            },
            0,
        ));
    }
    let field = |at: usize| be32(p, at).unwrap_or(0);
    let uptime = field(4);
    let secs = field(8);
    let sequence = field(12);
    let source = field(16);
    let now_ms = i64::from(secs).saturating_mul(1000);
    put_header(out, secs, sequence, source);
    let mut at = HEADER_LEN;
    // at <= p.len() throughout: it only moves past bytes `get` found, and
    // the saturating sums below (at plus a u16) are then caught by `get`.
    while p.len().saturating_sub(at) >= 4 {
        let id = be16(p, at).unwrap_or(0);
        let len = usize::from(be16(p, at.saturating_add(2)).unwrap_or(0));
        if id == 0 && len == 0 {
            at = at.saturating_add(4); // zero padding
            continue;
        }
        if len < 4 {
            return Err(bad(
                ErrorKind::BadSet(format!("flowset {id} has length {len}")),
                at,
            ));
        }
        let Some(body) = p.get(at.saturating_add(4)..at.saturating_add(len)) else {
            return Err(bad(
                ErrorKind::BadSet(format!(
                    "flowset {id} of {len} bytes overruns the packet ({} left)",
                    p.len().saturating_sub(at)
                )),
                at,
            ));
        };
        let body_at = at.saturating_add(4);
        match id {
            0 => {
                templates(tr, source, body, body_at, out)?;
                release(tr, source, out);
            }
            1 => {
                options_templates(tr, source, body, body_at, out)?;
                release(tr, source, out);
            }
            2..=255 => {
                // Reserved (§5.2): kept as a reserved IPFIX set, which the
                // decoder counts and skips.
                let s = begin_set(out, 4);
                out.extend_from_slice(body);
                close_set(out, s);
            }
            tid if tr.hold && !tr.known.contains(&(source, tid)) => {
                hold(tr, source, tid, body, now_ms, uptime);
            }
            tid => data(tr, source, tid, body, now_ms, uptime, out),
        }
        at = at.saturating_add(len);
    }
    finish_message(out)
}

/// Template flowset (§5.2): template id, field count, (type, length) pairs.
fn templates(tr: &mut Translator, source: u32, b: &[u8], b_at: usize, out: &mut Vec<u8>) -> R<()> {
    let s = begin_set(out, TEMPLATE_SET_ID);
    let mut at = 0;
    // As in `translate`: at <= b.len(), and `get` catches a saturated end.
    while b.len().saturating_sub(at) >= 4 {
        let tid = be16(b, at).unwrap_or(0);
        let count = usize::from(be16(b, at.saturating_add(2)).unwrap_or(0));
        let end = at.saturating_add(4).saturating_add(count.saturating_mul(4));
        if tid == 0 && count == 0 {
            break; // padding
        }
        if tid < 256 {
            return Err(bad_template(
                format!("template id {tid} is below 256"),
                b_at.saturating_add(at),
            ));
        }
        let Some(fields) = b.get(at.saturating_add(4)..end) else {
            return Err(bad_template(
                format!("template {tid} has {count} fields, more than its flowset holds"),
                b_at.saturating_add(at),
            ));
        };
        if count == 0 {
            // v9 has no withdrawal; an IPFIX template of no fields would be one.
            return Err(bad_template(
                format!("template {tid} has no fields"),
                b_at.saturating_add(at),
            ));
        }
        out.extend_from_slice(&tid.to_be_bytes());
        out.extend_from_slice(&(count as u16).to_be_bytes());
        let convs: Vec<Conv> = fields
            .chunks_exact(4)
            .map(|f| {
                let t = be16(f, 0).unwrap_or(0);
                let l = be16(f, 2).unwrap_or(0);
                put_field(out, t, l)
            })
            .collect();
        remember(tr, source, tid, convs);
        at = end;
    }
    end_set(out, s);
    Ok(())
}

/// Options template flowset (§6.1): template id, scope length and option
/// length in bytes, scope (type, length) pairs, option pairs, padding.
fn options_templates(
    tr: &mut Translator,
    source: u32,
    b: &[u8],
    b_at: usize,
    out: &mut Vec<u8>,
) -> R<()> {
    let s = begin_set(out, OPTIONS_TEMPLATE_SET_ID);
    let mut plain: Vec<u8> = Vec::new();
    let mut at = 0;
    // As in `translate`: at <= b.len(), and `get` catches a saturated end.
    while b.len().saturating_sub(at) >= 6 {
        let tid = be16(b, at).unwrap_or(0);
        let scope_len = usize::from(be16(b, at.saturating_add(2)).unwrap_or(0));
        let opt_len = usize::from(be16(b, at.saturating_add(4)).unwrap_or(0));
        // Two u16 lengths: the sum cannot saturate.
        let fields_len = scope_len.saturating_add(opt_len);
        let end = at.saturating_add(6).saturating_add(fields_len);
        if tid == 0 {
            break; // padding
        }
        if tid < 256 {
            return Err(bad_template(
                format!("options template id {tid} is below 256"),
                b_at.saturating_add(at),
            ));
        }
        if scope_len % 4 != 0 || opt_len % 4 != 0 {
            return Err(bad_template(
                format!(
                    "options template {tid}: scope length {scope_len} and option length \
                     {opt_len} must be multiples of 4"
                ),
                b_at.saturating_add(at),
            ));
        }
        let Some(fields) = b.get(at.saturating_add(6)..end) else {
            return Err(bad_template(
                format!("options template {tid} overruns its flowset"),
                b_at.saturating_add(at),
            ));
        };
        let count = fields_len / 4;
        let scopes = scope_len / 4;
        if count == 0 {
            return Err(bad_template(
                format!("options template {tid} has no fields"),
                b_at.saturating_add(at),
            ));
        }
        // IPFIX wants at least one scope field in an options template
        // (RFC 7011 §3.4.2.2); a v9 one without scope goes out as a plain
        // template.
        let dest = if scopes == 0 { &mut plain } else { &mut *out };
        dest.extend_from_slice(&tid.to_be_bytes());
        dest.extend_from_slice(&(count as u16).to_be_bytes());
        if scopes > 0 {
            dest.extend_from_slice(&(scopes as u16).to_be_bytes());
        }
        let convs: Vec<Conv> = fields
            .chunks_exact(4)
            .enumerate()
            .map(|(i, f)| {
                let t = be16(f, 0).unwrap_or(0);
                let l = be16(f, 2).unwrap_or(0);
                let t = if i < scopes { scope_ie(t) } else { t };
                put_field(dest, t, l)
            })
            .collect();
        remember(tr, source, tid, convs);
        at = end;
    }
    end_set(out, s);
    if !plain.is_empty() {
        let s = begin_set(out, TEMPLATE_SET_ID);
        out.extend_from_slice(&plain);
        end_set(out, s);
    }
    Ok(())
}

/// Hold a data flowset until its template comes (bounded: past it, the
/// flowset is dropped and counted as missing its template).
fn hold(tr: &mut Translator, source: u32, tid: u16, body: &[u8], now_ms: i64, uptime: u32) {
    // held_bytes <= MAX_HELD.1 and a body is under 2^16 bytes.
    if tr.held.len() >= MAX_HELD.0 || tr.held_bytes.saturating_add(body.len()) > MAX_HELD.1 {
        let n = tr.dropped.entry((source, tid)).or_default();
        *n = n.saturating_add(1);
        return;
    }
    tr.held_bytes = tr.held_bytes.saturating_add(body.len());
    tr.held.push(HeldFlowSet {
        source,
        tid,
        body: body.to_vec(),
        now_ms,
        uptime,
    });
}

/// Translate the held flowsets whose template is now known, in the order
/// they came, as data sets after the template sets just written.
fn release(tr: &mut Translator, source: u32, out: &mut Vec<u8>) {
    if tr.held.is_empty() {
        return;
    }
    let held = std::mem::take(&mut tr.held);
    for h in held {
        if h.source == source && tr.known.contains(&(h.source, h.tid)) {
            // held_bytes counts this body (added in `hold`).
            tr.held_bytes = tr.held_bytes.saturating_sub(h.body.len());
            tr.replayed = tr.replayed.saturating_add(1);
            data(tr, h.source, h.tid, &h.body, h.now_ms, h.uptime, out);
        } else {
            tr.held.push(h);
        }
    }
}

/// Keep the conversions of a template whose records change.
fn remember(tr: &mut Translator, source: u32, tid: u16, convs: Vec<Conv>) {
    let key = (source, tid);
    if tr.hold && (tr.known.len() < MAX_TRANSLATED_TEMPLATES || tr.known.contains(&key)) {
        tr.known.insert(key);
    }
    if convs.iter().all(|c| matches!(c, Conv::Copy(_))) {
        tr.rewrite.remove(&key);
    } else if tr.rewrite.len() < MAX_TRANSLATED_TEMPLATES || tr.rewrite.contains_key(&key) {
        tr.rewrite.insert(key, convs);
    }
}

/// Data flowset: records copied, or rewritten field by field when their
/// template has conversions. Trailing bytes shorter than a record are the
/// flowset's padding (§5.3) and dropped.
fn data(
    tr: &Translator,
    source: u32,
    tid: u16,
    b: &[u8],
    now_ms: i64,
    uptime: u32,
    out: &mut Vec<u8>,
) {
    let s = begin_set(out, tid);
    match tr.rewrite.get(&(source, tid)) {
        None => out.extend_from_slice(b),
        Some(convs) => rewrite_records(convs, b, now_ms, uptime, out),
    }
    close_set(out, s);
}

/// Rewrite the records of a data flowset field by field. Variable-length
/// fields (length 65535, which some exporters use in v9 as in IPFIX: a one-
/// or three-byte length prefix) are copied with their prefix. Bytes after
/// the last whole record (padding, or a record cut short) are copied as
/// they are, for the decoder to judge.
fn rewrite_records(convs: &[Conv], b: &[u8], now_ms: i64, uptime: u32, out: &mut Vec<u8>) {
    let min_len: usize = convs
        .iter()
        .map(|c| match c {
            Conv::Copy(VARLEN) => 1,
            Conv::Copy(l) => usize::from(*l),
            Conv::Uptime => 4,
        })
        .sum();
    let mut at = 0;
    let mut rec = Vec::new();
    // at <= cur <= b.len(): both only move past bytes `get` found.
    'records: while min_len > 0 && b.len().saturating_sub(at) >= min_len {
        rec.clear();
        let mut cur = at;
        for c in convs {
            match *c {
                Conv::Uptime => {
                    let Some(t) = be32(b, cur) else {
                        break 'records;
                    };
                    rec.extend_from_slice(&absolute_ms(now_ms, uptime, t).to_be_bytes());
                    cur = cur.saturating_add(4);
                }
                Conv::Copy(l) => {
                    let len = if l == VARLEN {
                        match b.get(cur) {
                            Some(255) => be16(b, cur.saturating_add(1))
                                .map(|n| usize::from(n).saturating_add(3)),
                            Some(&n) => Some(usize::from(n).saturating_add(1)),
                            None => None,
                        }
                    } else {
                        Some(usize::from(l))
                    };
                    let Some(v) = len.and_then(|n| b.get(cur..cur.saturating_add(n))) else {
                        break 'records;
                    };
                    rec.extend_from_slice(v);
                    cur = cur.saturating_add(v.len());
                }
            }
        }
        out.extend_from_slice(&rec);
        at = cur;
    }
    out.extend_from_slice(b.get(at..).unwrap_or_default());
}
