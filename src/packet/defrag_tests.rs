//! Reassembly and the fragment index: bounds, order, time.

use super::*;
use crate::packet::Frag;

fn frag(id: u32, offset: usize, more: bool, payload: &[u8]) -> Ip<'_> {
    Ip {
        version: 4,
        src: "192.0.2.1".parse().unwrap(),
        dst: "192.0.2.2".parse().unwrap(),
        protocol: 17,
        ttl: 64,
        tos: 0,
        length: 20 + payload.len() as u32,
        header_len: 20,
        length_from_frame: false,
        payload,
        fragment: true,
        frag: Frag { id, offset, more },
    }
}

#[test]
fn fragments_in_any_order_make_the_datagram() {
    let data: Vec<u8> = (0..3000u32).map(|i| (i % 251) as u8).collect();
    let parts: Vec<(usize, &[u8])> = data
        .chunks(1480)
        .enumerate()
        .map(|(i, c)| (i * 1480, c))
        .collect();
    for order in [[0, 1, 2], [2, 1, 0], [1, 2, 0]] {
        let mut d = Defrag::default();
        let mut got = None;
        for (n, &i) in order.iter().enumerate() {
            let (off, c) = parts[i];
            let more = i != 2;
            let w = d.add(&frag(7, off, more, c), 0, 100 * i as u64, i as u64);
            assert_eq!(w.is_some(), n == 2);
            got = got.or(w);
        }
        let w = got.unwrap();
        assert_eq!(
            (w.bytes, w.offset, w.frame, w.fragments),
            (data.clone(), 0, 0, 3)
        );
    }
}

#[test]
fn missing_or_impossible_fragments_are_counted() {
    let mut d = Defrag::default();
    assert!(d.add(&frag(1, 0, true, &[1; 8]), 0, 0, 0).is_none());
    assert!(d.add(&frag(1, 16, false, &[1; 8]), 0, 0, 0).is_none());
    // Data past the last fragment's end.
    assert!(d.add(&frag(2, 64, true, &[1; 8]), 0, 0, 0).is_none());
    assert!(d.add(&frag(2, 0, false, &[1; 8]), 0, 0, 0).is_none());
    assert_eq!(d.stats.dropped, 2);
    d.finish();
    assert_eq!(
        d.stats,
        DefragStats {
            reassembled: 0,
            dropped: 4
        }
    );
    for id in 0..(MAX_PENDING as u32 + 10) {
        d.add(&frag(100 + id, 0, true, &[0; 8]), 0, 0, 0);
    }
    assert_eq!(d.pending(), MAX_PENDING);
    assert_eq!(d.stats.dropped, 14);
    assert!(d.add(&frag(9, 65_530, false, &[0; 8]), 0, 0, 0).is_none());
}

#[test]
fn reassembly_gives_up_after_the_time_bound() {
    let mut d = Defrag::default();
    assert!(d.add(&frag(1, 0, true, &[1; 8]), 0, 0, 0).is_none());
    // The last fragment comes just in time for datagram 1 ...
    assert!(d
        .add(&frag(1, 8, false, &[1; 8]), MAX_AGE_NS, 0, 0)
        .is_some());
    assert!(d
        .add(&frag(2, 0, true, &[1; 8]), MAX_AGE_NS, 0, 0)
        .is_none());
    // ... and too late for datagram 2: its first fragment is dropped
    // and the last begins a datagram of its own.
    let late = 2 * MAX_AGE_NS + 1;
    assert!(d.add(&frag(2, 8, false, &[1; 8]), late, 0, 0).is_none());
    assert_eq!(d.stats.dropped, 1);
    assert_eq!(d.pending(), 1);
}

#[test]
fn the_index_assigns_later_fragments_and_holds_early_ones() {
    let mut ix: FragmentIndex<u32> = FragmentIndex::default();
    let mut orphans = Vec::new();
    let header = [0x12, 0x34, 0x00, 0x35, 0, 16, 0, 0, 9, 9];
    // The last fragment first: held.
    assert!(matches!(
        ix.add(&frag(5, 16, false, &[0; 8]), 0, || 3, &mut orphans),
        Assigned::Held
    ));
    match ix.add(&frag(5, 0, true, &header), 1, || 1, &mut orphans) {
        Assigned::First(held) => assert_eq!(held, vec![3]),
        _ => panic!("first fragment not recognised"),
    }
    match ix.add(&frag(5, 8, true, &[0; 8]), 2, || 2, &mut orphans) {
        Assigned::Later(h, n) => assert_eq!((&h[..n], n), (&header[..8], 8)),
        _ => panic!("later fragment not assigned"),
    }
    // A datagram whose first fragment never comes: an orphan once the
    // time bound passes.
    assert!(matches!(
        ix.add(&frag(6, 8, false, &[0; 8]), 3, || 6, &mut orphans),
        Assigned::Held
    ));
    ix.expire(3 + MAX_AGE_NS, &mut orphans);
    assert!(orphans.is_empty());
    ix.expire(4 + MAX_AGE_NS, &mut orphans);
    assert_eq!(orphans, vec![6]);
    assert_eq!(
        ix.stats,
        IndexStats {
            fragments: 4,
            held: 2,
            orphaned: 1
        }
    );
}

#[test]
fn the_index_is_bounded() {
    let mut ix: FragmentIndex<u32> = FragmentIndex::default();
    let mut orphans = Vec::new();
    for id in 0..(MAX_PENDING as u32 + 5) {
        ix.add(&frag(id, 8, true, &[0; 8]), 0, || id, &mut orphans);
    }
    assert_eq!(ix.pending(), MAX_PENDING);
    assert_eq!(orphans, vec![0, 1, 2, 3, 4]);
    for _ in 0..(MAX_HELD + 3) {
        ix.add(&frag(9999, 8, true, &[0; 8]), 0, || 7, &mut orphans);
    }
    // A new datagram in a full table evicts one more (id 5); past
    // MAX_HELD its own fragments are orphans at once.
    assert_eq!(orphans.len(), 5 + 1 + 3);
}
