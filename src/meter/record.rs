//! Flow records as IPFIX data records (RFC 7011 §3.4.3), one template per
//! IP version and transport kind (TCP; other protocols with ports; ICMP;
//! anything else), reverse elements per RFC 5103 in biflow mode. The same
//! bytes feed both ways out: the columnar sink's fixed-record path (Arrow,
//! pandas) and the exporter (IPFIX files, live export), so a metered
//! capture written as IPFIX and read back is the same table. Values are
//! written by the encoder's own primitives (those
//! [`crate::encode::encode_value`] uses); no second serializer.
//!
//! A biflow record is oriented by its initiator (see
//! [`super::flow::Flow::initiator`]): "source" is the initiator's endpoint,
//! the forward counters are the initiator's packets, the `reverse*`
//! elements the other side's. reverseFlowDeltaMilliseconds (CERT 6871/21,
//! as YAF and QoF) is the reverse direction's first packet time minus the
//! record's start, in milliseconds (0 when the reverse is empty).

use std::sync::Arc;

use super::flow::{DirCounters, Flow};
use crate::decode::{DateTime, TimePrecision};
use crate::encode::value::{put_ntp, put_signed, put_unsigned};
use crate::encode::Refusal;
use crate::error::{Error, ErrorKind, Result};
use crate::model::{ColumnIe, InfoModel};
use crate::session::Template;
use crate::wire::FieldSpec;

/// Which time fields a record can carry (RFC 7011 §6.1.8-10): the
/// millisecond fields count from 1970 unsigned, so they need times from
/// 1970 on; the micro- and nanosecond fields are NTP timestamps of era 0,
/// so they need times before 2036-02-07 06:28:16 UTC. A flow outside a
/// range goes in a template without those fields (null in Arrow), never
/// with a wrong or clamped value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Times {
    All,
    Milliseconds,
    None,
}

impl Times {
    const ALL: [Times; 3] = [Times::All, Times::Milliseconds, Times::None];

    /// The first second (since 1970) NTP era 0 cannot hold.
    const NTP_END_S: i64 = (1i64 << 32) - 2_208_988_800;

    fn of(flow: &Flow) -> Times {
        if flow.start_ns < 0 {
            Times::None
        } else if flow.end_ns.div_euclid(1_000_000_000) < Self::NTP_END_S {
            Times::All
        } else {
            Times::Milliseconds
        }
    }
}

/// The observation domain of metered records.
pub const DOMAIN: u32 = 0;
/// The first template id (ids 256-279 are used: 3 time forms × 2 IP
/// versions × 4 kinds).
pub const FIRST_TEMPLATE: u16 = 256;

/// A flow's transport kind, which picks its template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Tcp,
    Ports,
    Icmp,
    Other,
}

impl Kind {
    const ALL: [Kind; 4] = [Kind::Tcp, Kind::Ports, Kind::Icmp, Kind::Other];

    fn of(flow: &Flow) -> Kind {
        match flow.key.protocol {
            6 => Kind::Tcp,
            17 | 33 | 132 | 136 => Kind::Ports,
            _ if flow.key.is_icmp() => Kind::Icmp,
            _ => Kind::Other,
        }
    }
}

/// What a field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum What {
    FlowId,
    Start(TimePrecision),
    End(TimePrecision),
    ReverseDeltaMs,
    SrcAddr,
    DstAddr,
    SrcPort,
    DstPort,
    IcmpTypeCode,
    Protocol,
    Vlan,
    EndReason,
    /// A per-direction value: forward (false) or reverse (true).
    Dir(bool, DirField),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DirField {
    Octets,
    Packets,
    TransportOctets,
    TransportPackets,
    InitialFlags,
    UnionFlags,
    ControlBits,
    MinTtl,
    MaxTtl,
    Tos,
    SrcMac,
    DstMac,
}

/// Per-direction fields and their IE names (reverse: `reverse` +
/// capitalised, RFC 5103 §6.1; CERT's reverse flags the same way).
const DIR_FIELDS: [(&str, DirField, bool); 12] = [
    ("octetDeltaCount", DirField::Octets, false),
    ("packetDeltaCount", DirField::Packets, false),
    ("transportOctetDeltaCount", DirField::TransportOctets, false),
    (
        "transportPacketDeltaCount",
        DirField::TransportPackets,
        false,
    ),
    ("initialTCPFlags", DirField::InitialFlags, true),
    ("unionTCPFlags", DirField::UnionFlags, true),
    ("tcpControlBits", DirField::ControlBits, true),
    ("minimumTTL", DirField::MinTtl, false),
    ("maximumTTL", DirField::MaxTtl, false),
    ("ipClassOfService", DirField::Tos, false),
    ("sourceMacAddress", DirField::SrcMac, false),
    ("destinationMacAddress", DirField::DstMac, false),
];

/// The field list of a template.
fn fields(version: u8, kind: Kind, biflow: bool, times: Times) -> Vec<(String, What)> {
    use TimePrecision as P;
    let mut f: Vec<(String, What)> = vec![("flowId".into(), What::FlowId)];
    let units: &[(&str, P)] = match times {
        Times::All => &[
            ("Milliseconds", P::Milliseconds),
            ("Microseconds", P::Microseconds),
            ("Nanoseconds", P::Nanoseconds),
        ],
        Times::Milliseconds => &[("Milliseconds", P::Milliseconds)],
        Times::None => &[],
    };
    for &(unit, p) in units {
        f.push((format!("flowStart{unit}"), What::Start(p)));
        f.push((format!("flowEnd{unit}"), What::End(p)));
    }
    let v = if version == 4 { "IPv4" } else { "IPv6" };
    f.push((format!("source{v}Address"), What::SrcAddr));
    f.push((format!("destination{v}Address"), What::DstAddr));
    match kind {
        Kind::Tcp | Kind::Ports => {
            f.push(("sourceTransportPort".into(), What::SrcPort));
            f.push(("destinationTransportPort".into(), What::DstPort));
        }
        Kind::Icmp => f.push((format!("icmpTypeCode{v}"), What::IcmpTypeCode)),
        Kind::Other => {}
    }
    f.push(("protocolIdentifier".into(), What::Protocol));
    f.push(("vlanId".into(), What::Vlan));
    f.push(("flowEndReason".into(), What::EndReason));
    for reverse in [false, true] {
        if reverse && !biflow {
            break;
        }
        for (name, df, tcp_only) in DIR_FIELDS {
            if tcp_only && kind != Kind::Tcp {
                continue;
            }
            let name = if reverse {
                let mut c = name.chars();
                let first = c.next().map_or('_', |x| x.to_ascii_uppercase());
                format!("reverse{first}{}", c.as_str())
            } else {
                name.to_string()
            };
            f.push((name, What::Dir(reverse, df)));
        }
    }
    if biflow {
        f.push(("reverseFlowDeltaMilliseconds".into(), What::ReverseDeltaMs));
    }
    f
}

/// One template and what its fields hold, with their lengths (read once
/// here rather than from the template's field list per record).
struct Layout {
    template: Arc<Template>,
    what: Vec<(What, u16)>,
}

/// The templates of a meter and the encoding of flows into their records.
pub struct Records {
    layouts: Vec<Layout>,
    biflow: bool,
    columns: Vec<ColumnIe>,
}

impl Records {
    /// The templates of a meter with these settings, their IEs from
    /// `model` (IANA, RFC 5103 reverse, CERT).
    pub fn new(model: &InfoModel, biflow: bool) -> Result<Self> {
        let mut layouts = Vec::new();
        let mut columns: Vec<ColumnIe> = Vec::new();
        let mut id = FIRST_TEMPLATE;
        for (version, kind, times) in Times::ALL.into_iter().flat_map(|t| {
            [4u8, 6]
                .into_iter()
                .flat_map(move |v| Kind::ALL.into_iter().map(move |k| (v, k, t)))
        }) {
            {
                let fl = fields(version, kind, biflow, times);
                let mut specs = Vec::with_capacity(fl.len());
                for (name, _) in &fl {
                    let ie = model.by_name(name).ok_or_else(|| {
                        Error::new(ErrorKind::Encode(format!(
                            "the meter's information element {name} is not in the model"
                        )))
                    })?;
                    let length = ie.length.or(ie.data_type.native_length()).unwrap_or(8);
                    specs.push(FieldSpec {
                        id: ie.id,
                        length,
                        pen: ie.pen,
                    });
                    if !columns.iter().any(|c| c.ie.name == ie.name) {
                        columns.push(ColumnIe::first(ie));
                    }
                }
                let lengths: Vec<u16> = specs.iter().map(|s| s.length).collect();
                let template = Arc::new(Template::new(id, DOMAIN, None, specs, model));
                layouts.push(Layout {
                    template,
                    what: fl.into_iter().map(|(_, w)| w).zip(lengths).collect(),
                });
                id = id.saturating_add(1);
            }
        }
        // Columns in order of first appearance, template by template:
        // the order `read_ipfix` gives the meter's IPFIX.
        Ok(Records {
            layouts,
            biflow,
            columns,
        })
    }

    /// Every template.
    pub fn templates(&self) -> impl Iterator<Item = &Arc<Template>> {
        self.layouts.iter().map(|l| &l.template)
    }

    /// The union of the templates' IEs in order of first appearance (the
    /// columns of the meter's table, as reading its IPFIX gives them).
    pub fn columns(&self) -> &[ColumnIe] {
        &self.columns
    }

    /// Index of the template for `flow`.
    pub fn layout_of(&self, flow: &Flow) -> usize {
        let k = Kind::ALL
            .iter()
            .position(|k| *k == Kind::of(flow))
            .unwrap_or(3);
        let v = if flow.key.version == 6 { 4 } else { 0 };
        let t = Times::ALL
            .iter()
            .position(|t| *t == Times::of(flow))
            .unwrap_or(2);
        t.saturating_mul(8).saturating_add(v).saturating_add(k)
    }

    /// The template at `index`.
    pub fn template(&self, index: usize) -> Option<&Arc<Template>> {
        self.layouts.get(index).map(|l| &l.template)
    }

    /// Append `flow`'s record (ended for `reason`) to `out`, in the
    /// template at `index` ([`Records::layout_of`]).
    pub fn encode(&self, index: usize, flow: &Flow, reason: u8, out: &mut Vec<u8>) -> Result<()> {
        let Some(l) = self.layouts.get(index) else {
            return Err(Error::new(ErrorKind::Encode(
                "no such meter template".into(),
            )));
        };
        let fwd = if self.biflow { flow.initiator & 1 } else { 0 };
        let at = Fields {
            f: flow,
            reason,
            fwd,
            rev: fwd ^ 1,
        };
        let start = out.len();
        out.reserve(l.template.fixed_record_len.unwrap_or(0));
        for (i, &(what, length)) in l.what.iter().enumerate() {
            if let Err(r) = at.put(what, length, out) {
                out.truncate(start);
                let name = l.template.fields.get(i).map_or("?", |f| &*f.ie.name);
                return Err(Error::new(ErrorKind::Encode(format!(
                    "{name} of flow {}: {r:?}",
                    flow.flow_id
                ))));
            }
        }
        Ok(())
    }
}

/// A flow's record fields, written by the encoder's own primitives (as
/// [`crate::encode::encode_value`] writes them, without a [`crate::decode::Value`] for
/// each).
struct Fields<'f> {
    f: &'f Flow,
    reason: u8,
    /// The key sides of the forward and reverse directions.
    fwd: usize,
    rev: usize,
}

impl Fields<'_> {
    #[inline]
    fn put(&self, what: What, length: u16, out: &mut Vec<u8>) -> std::result::Result<(), Refusal> {
        let (f, k) = (self.f, &self.f.key);
        let addr = |side: usize, out: &mut Vec<u8>| {
            let a = &k.ends[side & 1].addr;
            out.extend_from_slice(if k.version == 4 { &a[..4] } else { a });
            Ok(())
        };
        match what {
            What::FlowId => put_unsigned(f.flow_id, length, out),
            What::Start(p) => put_time(f.start_ns, p, length, out),
            What::End(p) => put_time(f.end_ns, p, length, out),
            What::ReverseDeltaMs => {
                let r = &f.dir[self.rev];
                let ms = if r.packets == 0 {
                    0
                } else {
                    r.first_ns.saturating_sub(f.start_ns) / 1_000_000
                };
                put_signed(
                    ms.clamp(i64::from(i32::MIN), i64::from(i32::MAX)),
                    length,
                    out,
                )
            }
            What::SrcAddr => addr(self.fwd, out),
            What::DstAddr => addr(self.rev, out),
            What::SrcPort => put_unsigned(u64::from(k.ends[self.fwd].port), length, out),
            What::DstPort => put_unsigned(u64::from(k.ends[self.rev].port), length, out),
            What::IcmpTypeCode => put_unsigned(u64::from(k.icmp), length, out),
            What::Protocol => put_unsigned(u64::from(k.protocol), length, out),
            What::Vlan => put_unsigned(u64::from(k.vlan), length, out),
            What::EndReason => put_unsigned(u64::from(self.reason), length, out),
            What::Dir(reverse, df) => {
                let c = &f.dir[if reverse { self.rev } else { self.fwd }];
                match df {
                    DirField::SrcMac => {
                        out.extend_from_slice(&c.src_mac);
                        Ok(())
                    }
                    DirField::DstMac => {
                        out.extend_from_slice(&c.dst_mac);
                        Ok(())
                    }
                    _ => put_unsigned(dir_unsigned(c, df), length, out),
                }
            }
        }
    }
}

/// A time in a field of `precision` (the template picked the precisions
/// the flow's times fit, [`Times`]).
#[inline]
fn put_time(
    ns: i64,
    precision: TimePrecision,
    length: u16,
    out: &mut Vec<u8>,
) -> std::result::Result<(), Refusal> {
    match precision {
        TimePrecision::Milliseconds => {
            let ms = u64::try_from(ns.div_euclid(1_000_000))
                .map_err(|_| format!("{ns} ns since 1970 is before 1970"))?;
            put_unsigned(ms, length, out)
        }
        TimePrecision::Microseconds | TimePrecision::Nanoseconds => {
            let t = DateTime {
                secs: ns.div_euclid(1_000_000_000),
                nanos: ns.rem_euclid(1_000_000_000) as u32,
                precision,
            };
            put_ntp(&t, precision == TimePrecision::Microseconds, length, out)
        }
        TimePrecision::Seconds => {
            let s = u64::try_from(ns.div_euclid(1_000_000_000))
                .map_err(|_| format!("{ns} ns since 1970 is before 1970"))?;
            put_unsigned(s, length, out)
        }
    }
}

/// A direction's counter (every per-direction field but the MACs).
fn dir_unsigned(c: &DirCounters, df: DirField) -> u64 {
    match df {
        DirField::Octets => c.octets,
        DirField::Packets => c.packets,
        DirField::TransportOctets => c.transport_octets,
        DirField::TransportPackets => c.transport_packets,
        DirField::InitialFlags => u64::from(c.initial_flags),
        DirField::UnionFlags => u64::from(c.union_flags),
        DirField::ControlBits => u64::from(c.control_bits),
        DirField::MinTtl => u64::from(c.min_ttl),
        DirField::MaxTtl => u64::from(c.max_ttl),
        DirField::Tos => u64::from(c.tos),
        DirField::SrcMac | DirField::DstMac => 0,
    }
}
