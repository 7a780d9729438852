//! Which IEs a meter template holds: the time fields a flow's times fit
//! ([`Times`]), the transport kind ([`Kind`]), and the field list of a
//! template ([`fields`]) with what each field holds ([`What`]). The
//! records themselves are encoded in [`super::record`].

use super::flow::Flow;
use super::tcpfields::{self, Tf};
use crate::decode::TimePrecision;

/// Which time fields a record can carry (RFC 7011 §6.1.8-10): the
/// millisecond fields count from 1970 unsigned, so they need times from
/// 1970 on; the micro- and nanosecond fields are NTP timestamps of era 0,
/// so they need times before 2036-02-07 06:28:16 UTC. A flow outside a
/// range goes in a template without those fields (null in Arrow), never
/// with a wrong or clamped value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Times {
    All,
    Milliseconds,
    None,
}

impl Times {
    pub(super) const ALL: [Times; 3] = [Times::All, Times::Milliseconds, Times::None];

    /// The first second (since 1970) NTP era 0 cannot hold.
    const NTP_END_S: i64 = (1i64 << 32) - 2_208_988_800;

    /// The fields a record from `start_ns` to `end_ns` can carry.
    pub(super) fn of(start_ns: i64, end_ns: i64) -> Times {
        if start_ns < 0 {
            Times::None
        } else if end_ns.div_euclid(1_000_000_000) < Self::NTP_END_S {
            Times::All
        } else {
            Times::Milliseconds
        }
    }
}

/// A flow's transport kind, which picks its template.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Tcp,
    Ports,
    Icmp,
    Other,
}

impl Kind {
    pub(super) const ALL: [Kind; 4] = [Kind::Tcp, Kind::Ports, Kind::Icmp, Kind::Other];

    pub(super) fn of(flow: &Flow) -> Kind {
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
pub(super) enum What {
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
    /// A per-direction TCP-performance value.
    TcpDir(bool, Tf),
    /// A per-connection TCP-performance value.
    TcpConn(Tf),
}

/// A per-direction field (the counters' values are `super::fill::dir_words` by
/// these numbers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum DirField {
    Octets = 0,
    Packets = 1,
    TransportOctets = 2,
    TransportPackets = 3,
    InitialFlags = 4,
    UnionFlags = 5,
    ControlBits = 6,
    MinTtl = 7,
    MaxTtl = 8,
    Tos = 9,
    SrcMac = 10,
    DstMac = 11,
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

/// A template's mask bit (beside [`tcpfields`]' groups): a biflow record
/// whose reverse direction sent no packet. Its template holds the reverse
/// counters (zero: a count of nothing), not the reverse fields that
/// describe packets (flags, TTLs, class of service, MACs) nor
/// reverseFlowDeltaMilliseconds: those are null, not a 0 that reads as a
/// value.
pub(crate) const NO_REVERSE: u32 = 1 << 30;
/// The same for the forward direction: a biflow's initiator that sent no
/// packet (only the answer to its SYN was captured).
pub(crate) const NO_FORWARD: u32 = 1 << 31;

/// The per-direction fields a direction without packets still has.
fn counter(df: DirField) -> bool {
    matches!(
        df,
        DirField::Octets
            | DirField::Packets
            | DirField::TransportOctets
            | DirField::TransportPackets
    )
}

/// The field list of a template.
pub(super) fn fields(
    version: u8,
    kind: Kind,
    biflow: bool,
    times: Times,
    mask: u32,
) -> Vec<(String, What)> {
    use TimePrecision as P;
    let no_reverse = mask & NO_REVERSE != 0;
    let no_forward = mask & NO_FORWARD != 0;
    let mask = mask & !(NO_REVERSE | NO_FORWARD);
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
            let empty = if reverse { no_reverse } else { no_forward };
            if (tcp_only && kind != Kind::Tcp) || (empty && !counter(df)) {
                continue;
            }
            f.push((reverse_name(name, reverse), What::Dir(reverse, df)));
        }
    }
    if biflow && !no_reverse {
        f.push(("reverseFlowDeltaMilliseconds".into(), What::ReverseDeltaMs));
    }
    if kind == Kind::Tcp && mask != 0 {
        let per_dir = tcpfields::per_direction();
        for reverse in [false, true] {
            if reverse && !biflow {
                break;
            }
            for &(name, tf, group) in &per_dir {
                if tcpfields::included(group, reverse, mask) {
                    f.push((reverse_name(name, reverse), What::TcpDir(reverse, tf)));
                }
            }
        }
        for (name, tf, group) in tcpfields::per_connection() {
            if tcpfields::included(group, false, mask) {
                f.push((name.to_string(), What::TcpConn(tf)));
            }
        }
    }
    f
}

/// `name`, or its RFC 5103 reverse name.
fn reverse_name(name: &str, reverse: bool) -> String {
    if reverse {
        let mut c = name.chars();
        let first = c.next().map_or('_', |x| x.to_ascii_uppercase());
        format!("reverse{first}{}", c.as_str())
    } else {
        name.to_string()
    }
}
