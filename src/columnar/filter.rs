//! A filter on flow keys applied while decoding: records it drops are never
//! turned into rows, so a consumer of the Arrow stream (DuckDB, polars)
//! does not materialise them.
//!
//! Every criterion given must hold (and); within one, any value may match
//! (or): a port matches the source or the destination port, an address
//! prefix the source or the destination address. A record without the IEs
//! a criterion needs does not match it.

use std::net::IpAddr;

use crate::decode::{be_uint, decode_value, Record, Value};
use crate::session::Template;

/// IANA IEs the filter reads.
const PROTOCOL: u16 = 4;
const SOURCE_PORT: u16 = 7;
const DESTINATION_PORT: u16 = 11;
const SOURCE_V4: u16 = 8;
const DESTINATION_V4: u16 = 12;
const SOURCE_V6: u16 = 27;
const DESTINATION_V6: u16 = 28;
/// flowStartSeconds, -Milliseconds, -Microseconds, -Nanoseconds.
const FLOW_STARTS: [u16; 4] = [150, 152, 154, 156];

/// An address prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prefix {
    pub address: IpAddr,
    pub length: u8,
}

impl Prefix {
    fn holds_v4(&self, a: [u8; 4]) -> bool {
        let IpAddr::V4(p) = self.address else {
            return false;
        };
        let mask = u32::MAX
            .checked_shl(32u32.saturating_sub(u32::from(self.length)))
            .unwrap_or(0);
        (u32::from_be_bytes(a) ^ u32::from(p)) & mask == 0
    }

    fn holds_v6(&self, a: [u8; 16]) -> bool {
        let IpAddr::V6(p) = self.address else {
            return false;
        };
        let mask = u128::MAX
            .checked_shl(128u32.saturating_sub(u32::from(self.length)))
            .unwrap_or(0);
        (u128::from_be_bytes(a) ^ u128::from(p)) & mask == 0
    }
}

/// Which records to keep.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RecordFilter {
    /// Flow start (any precision) in `[from, to)`, nanoseconds since 1970.
    pub start: Option<(i128, i128)>,
    pub protocols: Vec<u8>,
    pub ports: Vec<u16>,
    pub prefixes: Vec<Prefix>,
}

impl RecordFilter {
    /// Whether the filter keeps every record.
    pub fn is_empty(&self) -> bool {
        self.start.is_none()
            && self.protocols.is_empty()
            && self.ports.is_empty()
            && self.prefixes.is_empty()
    }

    /// Whether `rec` passes: one pass over its fields.
    pub fn keeps(&self, rec: &Record<'_>) -> bool {
        self.keeps_fields(rec.template, |i| rec.value(i))
    }

    /// The filter for records of the fixed-length `template`: where its
    /// fields lie, found once for a whole data set.
    pub fn compile<'f>(&'f self, template: &Template) -> Fixed<'f> {
        let mut c = Fixed {
            filter: self,
            protocols: Vec::new(),
            ports: Vec::new(),
            v4: Vec::new(),
            v6: Vec::new(),
            starts: Vec::new(),
        };
        for (i, f) in template.fields.iter().enumerate() {
            let Some(&at) = template.fixed_offsets.get(i) else {
                continue;
            };
            let span = (at as usize, usize::from(f.length));
            match (f.ie.pen, f.ie.id, f.length) {
                (0, PROTOCOL, 1..=8) => c.protocols.push(span),
                (0, SOURCE_PORT | DESTINATION_PORT, 1..=8) => c.ports.push(span),
                (0, SOURCE_V4 | DESTINATION_V4, 4) => c.v4.push(span.0),
                (0, SOURCE_V6 | DESTINATION_V6, 16) => c.v6.push(span.0),
                (0, id, _) if FLOW_STARTS.contains(&id) => c.starts.push(i),
                _ => {}
            }
        }
        c
    }

    fn keeps_fields<'a>(&self, template: &Template, value: impl Fn(usize) -> Value<'a>) -> bool {
        let (mut time, mut proto, mut port, mut addr) = (
            self.start.is_none(),
            self.protocols.is_empty(),
            self.ports.is_empty(),
            self.prefixes.is_empty(),
        );
        for (i, f) in template.fields.iter().enumerate() {
            let id = f.ie.id;
            let wanted = match id {
                PROTOCOL => !proto,
                SOURCE_PORT | DESTINATION_PORT => !port,
                SOURCE_V4 | DESTINATION_V4 | SOURCE_V6 | DESTINATION_V6 => !addr,
                _ => !time && FLOW_STARTS.contains(&id),
            };
            if f.ie.pen != 0 || !wanted {
                continue;
            }
            match (id, value(i)) {
                (PROTOCOL, Value::Unsigned(p)) if !proto => {
                    proto = self.protocols.iter().any(|&x| u64::from(x) == p);
                }
                (SOURCE_PORT | DESTINATION_PORT, Value::Unsigned(p)) if !port => {
                    port = self.ports.iter().any(|&x| u64::from(x) == p);
                }
                (SOURCE_V4 | DESTINATION_V4, Value::Ipv4(a)) if !addr => {
                    addr = self.prefixes.iter().any(|p| p.holds_v4(a));
                }
                (SOURCE_V6 | DESTINATION_V6, Value::Ipv6(a)) if !addr => {
                    addr = self.prefixes.iter().any(|p| p.holds_v6(a));
                }
                (id, Value::DateTime(t)) if !time && FLOW_STARTS.contains(&id) => {
                    if let Some((from, to)) = self.start {
                        let ns = i128::from(t.secs)
                            .saturating_mul(1_000_000_000)
                            .saturating_add(i128::from(t.nanos));
                        time = (from..to).contains(&ns);
                    }
                }
                _ => {}
            }
        }
        time && proto && port && addr
    }
}

/// A [`RecordFilter`] compiled for one fixed-length template: each
/// criterion reads its fields at their offsets, no other field is decoded.
pub struct Fixed<'f> {
    filter: &'f RecordFilter,
    protocols: Vec<(usize, usize)>,
    ports: Vec<(usize, usize)>,
    v4: Vec<usize>,
    v6: Vec<usize>,
    /// Field indices of flow starts (decoded: their type varies).
    starts: Vec<usize>,
}

impl Fixed<'_> {
    /// Whether the record `data` (of the compiled template) passes.
    pub fn keeps(&self, template: &Template, data: &[u8]) -> bool {
        let f = self.filter;
        let uint = |&(at, n): &(usize, usize)| data.get(at..at.saturating_add(n)).map(be_uint);
        if !f.protocols.is_empty()
            && !self
                .protocols
                .iter()
                .filter_map(uint)
                .any(|p| f.protocols.iter().any(|&x| u64::from(x) == p))
        {
            return false;
        }
        if !f.ports.is_empty()
            && !self
                .ports
                .iter()
                .filter_map(uint)
                .any(|p| f.ports.iter().any(|&x| u64::from(x) == p))
        {
            return false;
        }
        if !f.prefixes.is_empty() {
            let v4 = self.v4.iter().filter_map(|&at| {
                data.get(at..at.saturating_add(4))
                    .and_then(|b| <[u8; 4]>::try_from(b).ok())
            });
            let v6 = self.v6.iter().filter_map(|&at| {
                data.get(at..at.saturating_add(16))
                    .and_then(|b| <[u8; 16]>::try_from(b).ok())
            });
            let hit = v4
                .into_iter()
                .any(|a| f.prefixes.iter().any(|p| p.holds_v4(a)))
                || v6
                    .into_iter()
                    .any(|a| f.prefixes.iter().any(|p| p.holds_v6(a)));
            if !hit {
                return false;
            }
        }
        !(f.start.is_some() && self.time_only_failed(template, data))
    }

    /// Whether the record fails on its start time alone.
    fn time_only_failed(&self, template: &Template, data: &[u8]) -> bool {
        let Some((from, to)) = self.filter.start else {
            return false;
        };
        !self.starts.iter().any(|&i| {
            let (Some(fd), Some(&at)) = (template.fields.get(i), template.fixed_offsets.get(i))
            else {
                return false;
            };
            let at = at as usize;
            match decode_value(
                fd.decoder,
                data.get(at..at.saturating_add(usize::from(fd.length)))
                    .unwrap_or_default(),
            ) {
                Value::DateTime(t) => {
                    let ns = i128::from(t.secs)
                        .saturating_mul(1_000_000_000)
                        .saturating_add(i128::from(t.nanos));
                    (from..to).contains(&ns)
                }
                _ => false,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_hold_what_their_bits_say() {
        let p = Prefix {
            address: "10.1.0.0".parse().unwrap(),
            length: 16,
        };
        assert!(p.holds_v4([10, 1, 255, 3]));
        assert!(!p.holds_v4([10, 2, 0, 0]));
        assert!(!p.holds_v6([0; 16]));
        let all = Prefix {
            address: "0.0.0.0".parse().unwrap(),
            length: 0,
        };
        assert!(all.holds_v4([192, 0, 2, 1]));
        let six = Prefix {
            address: "2001:db8::".parse().unwrap(),
            length: 32,
        };
        let inside: std::net::Ipv6Addr = "2001:db8:ffff::1".parse().unwrap();
        let outside: std::net::Ipv6Addr = "2001:db9::1".parse().unwrap();
        assert!(six.holds_v6(inside.octets()));
        assert!(!six.holds_v6(outside.octets()));
        let host = Prefix {
            address: "192.0.2.1".parse().unwrap(),
            length: 32,
        };
        assert!(host.holds_v4([192, 0, 2, 1]) && !host.holds_v4([192, 0, 2, 2]));
    }
}
