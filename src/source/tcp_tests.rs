//! Tests of IPFIX over TCP put together from captured segments.

use super::*;

fn message(seq: u32, records: usize) -> Vec<u8> {
    let set_len = 4 + 4 * records;
    let len = 16 + set_len;
    let mut m = vec![0, 10];
    m.extend_from_slice(&(len as u16).to_be_bytes());
    m.extend_from_slice(&1_700_000_000u32.to_be_bytes());
    m.extend_from_slice(&seq.to_be_bytes());
    m.extend_from_slice(&7u32.to_be_bytes());
    m.extend_from_slice(&256u16.to_be_bytes());
    m.extend_from_slice(&(set_len as u16).to_be_bytes());
    for r in 0..records {
        m.extend_from_slice(&(r as u32).to_be_bytes());
    }
    m
}

fn key() -> Key {
    let e = |port| Exporter {
        addr: "192.0.2.1".parse().unwrap(),
        port,
    };
    (e(40000), e(4739))
}

fn seg(seq: u32, flags: u8, payload: &[u8]) -> Tcp<'_> {
    Tcp {
        src_port: 40000,
        dst_port: 4739,
        seq,
        ack: 0,
        flags,
        flags_hi: 0,
        window: 0,
        header_len: 20,
        options: &[],
        payload,
    }
}

fn messages(s: &mut Streams) -> Vec<(Vec<u8>, u64)> {
    let mut out = Vec::new();
    while let Some(r) = s.pop() {
        if let Ready::Message { bytes, offset, .. } = r {
            out.push((bytes, offset));
        }
    }
    out
}

/// The stream of `n` messages cut into `chunk`-byte segments.
fn stream(n: u32, chunk: usize) -> (Vec<u8>, Vec<(u32, Vec<u8>)>) {
    let all: Vec<u8> = (0..n)
        .flat_map(|i| message(i, 1 + i as usize % 9))
        .collect();
    let isn = u32::MAX - 100; // the sequence numbers wrap
    let segs = all
        .chunks(chunk)
        .enumerate()
        .map(|(i, c)| (isn.wrapping_add(1 + (i * chunk) as u32), c.to_vec()))
        .collect();
    (all, segs)
}

#[test]
fn segments_in_any_order_give_the_messages() {
    let (all, segs) = stream(40, 37);
    for order in 0..3 {
        let mut s = Streams::default();
        assert!(!s.segment(key(), &seg(u32::MAX - 100, packet::SYN, &[]), 0, 0));
        let mut idx: Vec<usize> = (0..segs.len()).collect();
        match order {
            1 => idx.reverse(),
            2 => {
                // Pairs swapped and every third segment sent twice.
                for p in idx.chunks_mut(2) {
                    p.reverse();
                }
                let again: Vec<usize> = idx.iter().copied().step_by(3).collect();
                idx.extend(again);
            }
            _ => {}
        }
        for &i in &idx {
            let (seq, data) = &segs[i];
            s.segment(key(), &seg(*seq, 0, data), 1000 + i as u64 * 100, i as u64);
        }
        s.finish();
        let got: Vec<u8> = messages(&mut s).into_iter().flat_map(|(m, _)| m).collect();
        assert_eq!(got, all, "order {order}");
        assert_eq!(s.stats.gaps, 0);
        assert_eq!(s.stats.bytes_skipped, 0);
    }
}

#[test]
fn offsets_name_the_segment_where_each_message_starts() {
    let (all, segs) = stream(5, 10);
    let mut s = Streams::default();
    s.segment(key(), &seg(u32::MAX - 100, packet::SYN, &[]), 0, 0);
    for (i, (seq, data)) in segs.iter().enumerate() {
        s.segment(key(), &seg(*seq, 0, data), 1000 * i as u64, i as u64);
    }
    let mut at = 0;
    for (m, offset) in messages(&mut s) {
        assert_eq!(offset, 1000 * (at / 10) as u64 + (at % 10) as u64);
        at += m.len();
    }
    assert_eq!(at, all.len());
}

/// The messages of `all` that do not overlap bytes `lo..hi`.
fn messages_outside(all: &[u8], lo: usize, hi: usize) -> Vec<Vec<u8>> {
    let mut want = Vec::new();
    let mut at = 0;
    while at < all.len() {
        let len = usize::from(u16::from_be_bytes([all[at + 2], all[at + 3]]));
        if at + len <= lo || at >= hi {
            want.push(all[at..at + len].to_vec());
        }
        at += len;
    }
    want
}

#[test]
fn a_hole_loses_its_messages_and_the_stream_goes_on() {
    let (all, segs) = stream(30, 50);
    let mut s = Streams::default();
    s.segment(key(), &seg(u32::MAX - 100, packet::SYN, &[]), 0, 0);
    let lost = 7;
    for (i, (seq, data)) in segs.iter().enumerate() {
        if i != lost {
            s.segment(key(), &seg(*seq, 0, data), 0, 0);
        }
    }
    s.finish();
    // Expected: every message that does not overlap the lost bytes.
    let want = messages_outside(&all, lost * 50, lost * 50 + 50);
    let got: Vec<Vec<u8>> = messages(&mut s).into_iter().map(|(m, _)| m).collect();
    assert_eq!(got, want);
    assert_eq!(s.stats.gaps, 1);
    let kept: usize = want.iter().map(Vec::len).sum();
    // The lost bytes count as skipped too.
    assert_eq!(s.stats.bytes_skipped as usize, all.len() - kept);
}

#[test]
fn segments_after_a_hole_given_up_mid_stream_are_placed_right() {
    // More segments after the hole than are held out of order: the hole is
    // given up on while the stream goes on, and the segments that follow
    // must be placed by their own sequence numbers, not the hole's size
    // further on (which made phantom holes and lost their messages).
    let (all, segs) = stream(3000, 10);
    assert!(segs.len() > 2 * MAX_AHEAD_SEGMENTS);
    let mut s = Streams::default();
    s.segment(key(), &seg(u32::MAX - 100, packet::SYN, &[]), 0, 0);
    let lost = 50;
    for (i, (seq, data)) in segs.iter().enumerate() {
        if i != lost {
            s.segment(key(), &seg(*seq, 0, data), 0, 0);
        }
    }
    assert_eq!(s.stats.gaps, 1);
    s.finish();
    let want = messages_outside(&all, lost * 10, lost * 10 + 10);
    let got: Vec<Vec<u8>> = messages(&mut s).into_iter().map(|(m, _)| m).collect();
    assert_eq!(got.len(), want.len());
    assert!(got == want);
    assert_eq!(s.stats.gaps, 1);
    let kept: usize = want.iter().map(Vec::len).sum();
    assert_eq!(s.stats.bytes_skipped as usize, all.len() - kept);
}

#[test]
fn a_stream_caught_midway_is_read_from_its_next_message() {
    let (all, segs) = stream(20, 45);
    let mut s = Streams::default();
    for (seq, data) in &segs[3..] {
        s.segment(key(), &seg(*seq, 0, data), 0, 0);
    }
    s.finish();
    let got: Vec<u8> = messages(&mut s).into_iter().flat_map(|(m, _)| m).collect();
    assert!(!got.is_empty() && all.ends_with(&got));
    assert_eq!(
        s.stats.bytes_skipped as usize,
        all.len() - got.len() - 3 * 45
    );
}

#[test]
fn other_tcp_traffic_is_left_alone() {
    let mut s = Streams::default();
    let http = b"GET / HTTP/1.1\r\nHost: example.org\r\n\r\n";
    assert!(!s.segment(key(), &seg(5, packet::SYN, &[]), 0, 0));
    for i in 0..20u32 {
        assert!(!s.segment(key(), &seg(6 + i * http.len() as u32, 0, http), 0, 0));
    }
    // Mid-way: probed a few segments, then taken for other traffic.
    let k2 = (key().1, key().0);
    for i in 0..20u32 {
        assert!(!s.segment(k2, &seg(900 + i * http.len() as u32, 0, http), 0, 0));
    }
    s.finish();
    assert!(s.pop().is_none());
    assert_eq!(s.stats, TcpStats::default());
    assert!(s.flows.values().all(|f| f.buf.is_empty()));
}

#[test]
fn a_new_connection_ends_the_old_one() {
    let m = message(0, 2);
    let mut s = Streams::default();
    s.segment(key(), &seg(100, packet::SYN, &[]), 0, 0);
    s.segment(key(), &seg(101, 0, &m), 0, 0);
    s.segment(key(), &seg(5000, packet::SYN, &[]), 0, 0);
    s.segment(key(), &seg(5001, 0, &m), 0, 0);
    s.segment(key(), &seg(5001 + m.len() as u32, packet::FIN, &[]), 0, 0);
    let kinds: Vec<bool> = std::iter::from_fn(|| s.pop())
        .map(|r| matches!(r, Ready::End(_)))
        .collect();
    assert_eq!(kinds, [false, true, false, true]);
    assert_eq!(s.stats.streams, 2);
}

#[test]
fn headers_are_checked_set_by_set() {
    let m = message(1, 3);
    assert_eq!(check(&m), Check::Message(m.len()));
    // Consistent until the set headers are seen; then a message.
    for n in 0..m.len() {
        let want = if n < SHOWN {
            Check::NeedMore
        } else {
            Check::Message(m.len())
        };
        assert_eq!(check(&m[..n]), want, "{n}");
    }
    let mut bad = m.clone();
    bad[16..18].copy_from_slice(&5u16.to_be_bytes()); // a reserved set id
    assert_eq!(check(&bad), Check::No);
    let mut short = m;
    short[18..20].copy_from_slice(&2u16.to_be_bytes()); // set length 2
    assert_eq!(check(&short), Check::No);
}
