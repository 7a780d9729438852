//! Records of metered flows as their definitions say: uniflows written
//! from biflows, and directions that sent nothing (`docs/meter.md`).
//! Expected values are read off the hand-built packets.

use super::*;

fn uniflows() -> MeterOptions {
    MeterOptions {
        biflow: false,
        ..MeterOptions::default()
    }
}

#[test]
fn uniflows_split_directions_and_out_of_order_packets_count() {
    let pk = vec![
        (5 * S, udp(A, 7, B, 8, 1)),
        (4 * S, udp(B, 8, A, 7, 2)),
        (6 * S, udp(A, 7, B, 8, 3)),
    ];
    let b = run_with(&pk, uniflows());
    assert!(b.column_by_name("reversePacketDeltaCount").is_none());
    assert!(b.column_by_name("reverseFlowDeltaMilliseconds").is_none());
    let mut rows: Vec<(u64, u64, u64, u64, u64)> = (0..b.num_rows())
        .map(|i| {
            (
                col(&b, "flowId")[i].unwrap(),
                col(&b, "sourceTransportPort")[i].unwrap(),
                col(&b, "packetDeltaCount")[i].unwrap(),
                col(&b, "flowStartMilliseconds")[i].unwrap(),
                col(&b, "flowEndMilliseconds")[i].unwrap(),
            )
        })
        .collect();
    rows.sort_unstable();
    // Each direction's own first and last packet times; the first packet
    // read (A's, at 5 s) named A the initiator: its direction is flow
    // 2 * 1 - 1, B's 2 * 1.
    assert_eq!(rows, vec![(1, 7, 2, 5000, 6000), (2, 8, 1, 4000, 4000)]);
    let b = run(&pk, TableOptions::default());
    // As a biflow: started by the earliest packet, though it came second.
    assert_eq!(one(&b, "flowStartMilliseconds"), 4000);
}

#[test]
fn tcp_uniflows_end_with_their_connection_and_carry_its_directions_metrics() {
    // A's SYN, B's SYN/ACK 10 ms later, A's ACK with data, B's data, and a
    // close by FINs both acknowledged (RFC 9293 §3.6): metered as one
    // connection, each direction a record.
    let ms = 1_000_000;
    let pk = vec![
        (S, tcp(A, 40000, B, 80, 100, 0, SYN, 0)),
        (S + 10 * ms, tcp(B, 80, A, 40000, 500, 101, SYN | ACK, 0)),
        (S + 11 * ms, tcp(A, 40000, B, 80, 101, 501, ACK, 100)),
        (S + 21 * ms, tcp(B, 80, A, 40000, 501, 201, ACK, 1000)),
        (S + 22 * ms, tcp(A, 40000, B, 80, 201, 1501, FIN | ACK, 0)),
        (S + 32 * ms, tcp(B, 80, A, 40000, 1501, 202, FIN | ACK, 0)),
        (S + 33 * ms, tcp(A, 40000, B, 80, 202, 1502, ACK, 0)),
    ];
    let b = run_with(&pk, uniflows());
    assert_eq!(b.num_rows(), 2);
    let at = |i: usize| {
        (
            col(&b, "flowId")[i].unwrap(),
            col(&b, "sourceTransportPort")[i].unwrap(),
            col(&b, "packetDeltaCount")[i].unwrap(),
            col(&b, "transportOctetDeltaCount")[i].unwrap(),
            col(&b, "flowEndReason")[i].unwrap(),
            col(&b, "flowStartMilliseconds")[i].unwrap(),
            col(&b, "flowEndMilliseconds")[i].unwrap(),
        )
    };
    // The initiator's direction first; both end by their FINs (reason 3),
    // as the connection did, not at an idle timeout.
    let end = u64::from(reason::END_OF_FLOW);
    assert_eq!(at(0), (1, 40000, 4, 100, end, 1000, 1033));
    assert_eq!(at(1), (2, 80, 3, 1000, end, 1010, 1032));
    // A's SYN and data were acknowledged 10 ms after they passed, B's
    // SYN/ACK and data 1 ms after: a uniflow record has its direction's
    // RTT, which needs the other direction's ACKs.
    let rtt = col(&b, "minTcpRttMicroseconds");
    assert_eq!((rtt[0], rtt[1]), (Some(10_000), Some(1_000)));
}

#[test]
fn a_direction_that_sent_nothing_has_zero_counts_and_no_packet_fields() {
    // One UDP datagram, never answered: the reverse direction's counts
    // are 0 (a count of nothing); its TTLs, class of service, MACs and
    // first packet time describe no packet, so they are null, not 0.
    let b = run(&[(S, udp(A, 7, B, 8, 5))], TableOptions::default());
    assert_eq!(one(&b, "reversePacketDeltaCount"), 0);
    assert_eq!(one(&b, "reverseOctetDeltaCount"), 0);
    for name in [
        "reverseMinimumTTL",
        "reverseMaximumTTL",
        "reverseIpClassOfService",
        "reverseFlowDeltaMilliseconds",
    ] {
        assert_eq!(col(&b, name), vec![None], "{name}");
    }
    assert_eq!(one(&b, "minimumTTL"), 64);
    // Answered, the same fields are there.
    let b = run(
        &[(S, udp(A, 7, B, 8, 5)), (S + 1000, udp(B, 8, A, 7, 1))],
        TableOptions::default(),
    );
    assert_eq!(one(&b, "reverseMinimumTTL"), 64);
    assert_eq!(one(&b, "reverseFlowDeltaMilliseconds"), 0);
}

#[test]
fn an_initiator_that_sent_nothing_has_null_packet_fields_too() {
    // Only B's SYN/ACK was captured: A (its receiver) initiated the
    // connection but sent no packet the capture holds.
    let b = run(
        &[(S, tcp(B, 80, A, 40000, 500, 101, SYN | ACK, 0))],
        TableOptions::default(),
    );
    assert_eq!(one(&b, "sourceTransportPort"), 40000);
    assert_eq!(one(&b, "packetDeltaCount"), 0);
    for name in ["minimumTTL", "ipClassOfService", "initialTCPFlags"] {
        assert_eq!(col(&b, name), vec![None], "{name}");
    }
    assert_eq!(one(&b, "reverseInitialTCPFlags"), u64::from(SYN | ACK));
    assert_eq!(one(&b, "reverseMinimumTTL"), 64);
}
