//! The workers against one table: the same records and counters, on real
//! captures (fragments, later frames without IP), handed their frames or
//! reading the file themselves, with rounds small enough that each capture
//! takes many.

use crate::meter::table::{reason, TableOptions};
use crate::meter::{Meter, MeterOptions, MeterStats, ReadEnd};
use crate::model::InfoModel;
use crate::pcap::CaptureReader;
use crate::source::DynRead;

/// A record's template as its fields' (PEN, id), and its bytes.
type FieldsAndRecord = (Vec<(u32, u16)>, Vec<u8>);

/// Every record of `capture` metered with `workers` threads, flowId
/// zeroed, sorted: (template fields, record bytes).
fn records_of(
    capture: &str,
    workers: usize,
    table: TableOptions,
) -> (Vec<FieldsAndRecord>, MeterStats) {
    records_by(capture, workers, table, false)
}

/// [`records_of`]; `read`: the workers read the file themselves
/// ([`Meter::read_file`]) instead of being handed its frames.
fn records_by(
    capture: &str,
    workers: usize,
    table: TableOptions,
    read: bool,
) -> (Vec<FieldsAndRecord>, MeterStats) {
    records_at(&format!("tests/data/pcap/{capture}"), workers, table, read)
}

/// [`records_by`] of the capture at `path`.
fn records_at(
    path: &str,
    workers: usize,
    table: TableOptions,
    read: bool,
) -> (Vec<FieldsAndRecord>, MeterStats) {
    let mut m = Meter::new(
        MeterOptions {
            table,
            workers,
            ..MeterOptions::default()
        },
        &InfoModel::new(),
    )
    .unwrap();
    let mut out = Vec::new();
    let mut ids = std::collections::BTreeSet::new();
    if read {
        assert!(m.read_file(std::path::Path::new(path)).unwrap());
        // Nine rounds at most, the records taken every third (so the
        // meter's emptied buffer is larger than a worker's when the next
        // answer comes), then finish: the workers read the rest first.
        for round in 1..=9 {
            if m.read_round().unwrap().is_some() {
                break;
            }
            if round % 3 == 0 {
                drain_into(&mut m, &mut out, &mut ids);
            }
        }
        let frame = crate::pcap::Packet {
            linktype: 1,
            ts_ns: 0,
            data: &[],
            orig_len: 0,
            number: 0,
            offset: 0,
        };
        assert!(m.packet(&frame).is_err(), "frames while reading");
    } else {
        let bytes = std::fs::read(path).unwrap();
        let mut reader =
            CaptureReader::new(Box::new(std::io::Cursor::new(bytes)) as DynRead).unwrap();
        while let Some(p) = reader.next_packet().unwrap() {
            m.packet(&p).unwrap();
        }
    }
    m.finish().unwrap();
    if read {
        assert!(matches!(m.read_round().unwrap(), Some(ReadEnd::End)));
    }
    drain_into(&mut m, &mut out, &mut ids);
    out.sort();
    let stats = m.stats();
    assert_eq!(stats.records, out.len() as u64);
    (out, stats)
}

/// The meter's records so far into `out` (flowId zeroed; `ids` collects
/// each record's flowId with its key, to check flows' ids apart).
fn drain_into(
    m: &mut Meter,
    out: &mut Vec<FieldsAndRecord>,
    ids: &mut std::collections::BTreeSet<(u64, Vec<u8>)>,
) {
    m.drain(|t, b, n| {
        let len = b.len() / n;
        let at = t
            .fields
            .iter()
            .position(|f| f.ie.pen == 0 && f.ie.id == 148)
            .map(|i| t.fixed_offsets[i] as usize);
        for r in b.chunks_exact(len) {
            let mut r = r.to_vec();
            if let Some(at) = at {
                let id: [u8; 8] = r[at..at + 8].try_into().unwrap();
                // A flow's records share its id; distinct flows differ.
                ids.insert((u64::from_be_bytes(id), r[..at].to_vec()));
                r[at..at + 8].fill(0);
            }
            // Templates made as needed are numbered in the order met,
            // which workers change: compared by their fields.
            let fields = t.fields.iter().map(|f| (f.ie.pen, f.ie.id)).collect();
            out.push((fields, r));
        }
        Ok(())
    })
    .unwrap();
}

/// The clock is every frame's: in `zeek__linux_dlt_sll2.pcap` (tshark:
/// two ICMP echoes at 0 s, two ICMPv6 echoes at 14.2 s, then ARP and
/// RARP at 1543.7 s) the four flows were idle for far longer than 30 s
/// when the capture ended, so they end as idle (IANA flowEndReason 1),
/// not forced by the end of the capture, with one table or several.
#[test]
fn a_later_frame_without_ip_idles_flows_out() {
    for n in [1, 2] {
        let (records, s) = records_of("zeek__linux_dlt_sll2.pcap", n, TableOptions::default());
        assert_eq!(records.len(), 4);
        assert_eq!(
            s.table.by_reason[usize::from(reason::IDLE)],
            4,
            "{n} workers"
        );
        assert_eq!(
            s.table.by_reason[usize::from(reason::FORCED)],
            0,
            "{n} workers"
        );
    }
}

#[test]
fn workers_give_the_records_of_one_table() {
    let short = TableOptions {
        idle_ns: 1_000_000_000,
        active_ns: 5_000_000_000,
        ..TableOptions::default()
    };
    for capture in [
        "nfstream__1kxun.pcap",
        "nfstream__iphone.pcap",
        "ferrofix__ipfix-udp-fragments.pcap",
        "zeek__ipv4--fragmented-1.pcap",
        "zeek__ipv4--fragmented-syn.pcap",
        "zeek__ipv6-fragmented-dns.pcap",
        "suricata-verify__defrag--bug-6887-defrag-eth-vlan-ipv6-tcp--frag-eth-vlan-ipv6-tcp.pcap",
        "zeek__linux_dlt_sll2.pcap",
    ] {
        for table in [TableOptions::default(), short] {
            let (one, s1) = records_of(capture, 1, table);
            assert!(!one.is_empty(), "{capture}");
            for (n, read) in [(2, false), (3, false), (2, true), (3, true)] {
                let (many, sn) = records_by(capture, n, table, read);
                assert_eq!(sn.table.flows, s1.table.flows, "{capture} with {n} workers");
                assert_eq!(sn.table.by_reason, s1.table.by_reason, "{capture}");
                assert_eq!(sn.table.out_of_order, s1.table.out_of_order, "{capture}");
                // Every frame counted once, fragments handled once.
                assert_eq!(sn.dissect, s1.dissect, "{capture} with {n} workers");
                assert_eq!(sn.metered, s1.metered, "{capture} with {n} workers");
                assert!(one == many, "{capture}: {n} workers differ from one");
            }
        }
    }
}

/// Address pairs shared out evenly: 4096 client addresses talking to one
/// server, each pair's IPv4 frame placed by its hash, give each of 2, 3
/// and 4 workers its share within 10%; a frame without IP is worker 0's.
#[test]
fn address_pairs_are_shared_out_evenly() {
    use super::worker_of;
    use crate::packet::{address_spread, linktype};
    for n in [2u64, 3, 4] {
        let mut counts = vec![0u32; n as usize];
        for client in 0..4096u32 {
            let mut ip = vec![0x45, 0, 0, 20, 0, 1, 0, 0, 64, 17, 0, 0];
            ip.extend_from_slice(&(0x0A00_0000 | client).to_be_bytes());
            ip.extend_from_slice(&[192, 0, 2, 1]);
            let w = worker_of(address_spread(linktype::RAW, &ip), n);
            counts[usize::try_from(w).unwrap()] += 1;
        }
        let share = 4096 / n as u32;
        for c in &counts {
            assert!(c.abs_diff(share) * 10 <= share, "{n} workers: {counts:?}");
        }
        assert_eq!(
            worker_of(address_spread(linktype::ETHERNET, &[0; 20]), n),
            0
        );
    }
}

/// Workers sharing one mapping of a capture ([`super::round::SharedCapture`])
/// hand a page back only once every worker has asked to: asked 8 KiB by
/// one worker and 4 KiB by the other, 4 KiB go back; the bytes read back
/// the same after.
#[test]
fn a_shared_mapping_is_handed_back_behind_the_last_worker() {
    use super::round::{SharedCapture, SharedView};
    use crate::pcap::InMemory;
    use crate::source::input::{Body, Opened};
    use std::sync::Arc;
    let dir = std::env::temp_dir().join(format!("ferrofix-shared-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bytes");
    let bytes: Vec<u8> = (0..(64u32 << 10)).map(|i| (i % 253) as u8).collect();
    std::fs::write(&path, &bytes).unwrap();
    let Body::Whole(whole) = Opened::path(&path).unwrap().body else {
        panic!("a plain file is mapped");
    };
    let shared = Arc::new(SharedCapture::new(whole, 2));
    let view = |worker| SharedView {
        capture: Arc::clone(&shared),
        worker,
    };
    let (a, b) = (view(0), view(1));
    a.release(0..8192);
    assert_eq!(shared.released(), 0, "worker 1 asked nothing yet");
    b.release(0..4096);
    assert_eq!(shared.released(), 4096);
    b.release(4096..12288);
    assert_eq!(shared.released(), 8192);
    a.release(8192..16384);
    assert_eq!(shared.released(), 12288);
    assert!(a.bytes() == bytes.as_slice() && b.bytes() == bytes.as_slice());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A real capture's packets written `copies` times over as a classic
/// nanosecond pcap (Ethernet), each copy 40 s after the last (so its flows
/// have idled out), and its packet count.
fn long_capture(copies: i64) -> (Vec<u8>, u64) {
    long_capture_cut(copies, usize::MAX)
}

/// [`long_capture`] with each packet cut to `snap` octets (its original
/// length kept), as a header-only capture has them.
fn long_capture_cut(copies: i64, snap: usize) -> (Vec<u8>, u64) {
    let mut packets = Vec::new();
    let bytes = std::fs::read("tests/data/pcap/nfstream__1kxun.pcap").unwrap();
    let mut r = CaptureReader::new(Box::new(std::io::Cursor::new(bytes)) as DynRead).unwrap();
    while let Some(p) = r.next_packet().unwrap() {
        assert_eq!(p.linktype, 1);
        packets.push((
            p.ts_ns,
            p.orig_len,
            p.data[..p.data.len().min(snap)].to_vec(),
        ));
    }
    let span = packets.last().unwrap().0 - packets[0].0;
    let mut cap = Vec::new();
    for v in [0xa1b2_3c4du32, 0x0004_0002, 0, 0, 65535, 1] {
        cap.extend_from_slice(&v.to_le_bytes());
    }
    for copy in 0..copies {
        for (ts, orig, data) in &packets {
            let t = ts + copy * (span + 40_000_000_000);
            let secs = u32::try_from(t / 1_000_000_000).unwrap();
            let ns = u32::try_from(t % 1_000_000_000).unwrap();
            let len = u32::try_from(data.len()).unwrap();
            for v in [secs, ns, len, *orig] {
                cap.extend_from_slice(&v.to_le_bytes());
            }
            cap.extend_from_slice(data);
        }
    }
    (cap, copies as u64 * packets.len() as u64)
}

/// Workers reading a capture of several release steps give one table's
/// records: a real capture's packets written over and over, cut to 96
/// octets (records close together: one mapping shared, its pages going
/// back while they read) and whole (records far apart: read in blocks by
/// the walk, no thread ahead, `Opened::path_by_density`); and so do
/// workers reading it gzipped (one stream walked in blocks read ahead).
#[test]
fn workers_sharing_a_long_mapping_give_the_records_of_one_table() {
    use crate::source::input::Opened;
    let dir = std::env::temp_dir().join(format!("ferrofix-long-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (copies, snap, mapped) in [(48, 96, true), (12, usize::MAX, false)] {
        let (cap, packets) = long_capture_cut(copies, snap);
        assert!(
            cap.len() > 6 << 20,
            "{} bytes: several release steps",
            cap.len()
        );
        let path = dir.join(format!("long-{snap}.pcap"));
        std::fs::write(&path, &cap).unwrap();
        let how = Opened::path_by_density(&path, super::DENSE_RECORD).unwrap();
        assert_eq!(how.mapped(), mapped, "snaplen {snap}");
        assert!(!how.read_ahead, "snaplen {snap}: no thread reads ahead");
        let name = path.to_str().unwrap();
        let (one, s1) = records_at(name, 1, TableOptions::default(), false);
        assert_eq!(s1.dissect.packets, packets);
        let (many, s2) = records_at(name, 2, TableOptions::default(), true);
        assert_eq!(s2.dissect, s1.dissect);
        assert_eq!(s2.table.by_reason, s1.table.by_reason);
        assert!(
            one == many,
            "2 workers reading it (snaplen {snap}) differ from one"
        );
        if mapped {
            continue;
        }
        // Gzipped, it is decompressed once and walked in blocks.
        let gz = dir.join("long.pcap.gz");
        {
            use std::io::Write;
            let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            z.write_all(&cap).unwrap();
            std::fs::write(&gz, z.finish().unwrap()).unwrap();
        }
        let (many, s3) = records_at(gz.to_str().unwrap(), 3, TableOptions::default(), true);
        assert_eq!(s3.dissect, s1.dissect);
        assert_eq!(s3.table.by_reason, s1.table.by_reason);
        assert!(one == many, "3 workers walking it gzipped differ from one");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// What a capture's frames should come to from a walk of `workers`: per
/// worker, each frame's number, time, bytes and the capture's clock
/// before it (read here by a reader of its own, a copy in memory); and
/// how the capture ends.
type Placed = Vec<(u64, i64, Vec<u8>, i64)>;
fn placed(cap: &[u8], workers: u64) -> (Vec<Placed>, Option<crate::Error>) {
    use super::worker_of;
    use crate::packet::address_spread;
    let mut r =
        CaptureReader::new(Box::new(std::io::Cursor::new(cap.to_vec())) as DynRead).unwrap();
    let mut each = vec![Vec::new(); workers as usize];
    let mut clock = i64::MIN;
    loop {
        match r.next_packet() {
            Ok(Some(p)) => {
                let w = worker_of(address_spread(p.linktype, p.data), workers);
                each[w as usize].push((p.number, p.ts_ns, p.data.to_vec(), clock));
                clock = clock.max(p.ts_ns);
            }
            Ok(None) => return (each, None),
            Err(e) => return (each, Some(e)),
        }
    }
}

/// How a capture is opened for a walk.
#[derive(Debug, Clone, Copy)]
enum How {
    /// Mapped (a plain file; a pcapng one is opened so).
    Mapped,
    /// As the meter opens a classic pcap file: a stream read ahead in
    /// blocks by a thread.
    Streamed,
    /// A stream read with no thread ahead (as a plain file of records far
    /// apart is, or any stream on one CPU): the walk reads its blocks.
    Here,
    /// Gzipped, as the meter opens it.
    Gzipped,
}

/// The capture `cap` written to a file and opened `how`.
fn opened(cap: &[u8], name: &str, how: How) -> (crate::source::input::Opened, std::path::PathBuf) {
    use crate::source::input::Opened;
    let dir = std::env::temp_dir().join(format!(
        "ferrofix-walk-{name}-{how:?}-{}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("walk.pcap");
    match how {
        How::Gzipped => {
            use std::io::Write;
            let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            z.write_all(cap).unwrap();
            std::fs::write(&path, z.finish().unwrap()).unwrap();
        }
        _ => std::fs::write(&path, cap).unwrap(),
    }
    let o = match how {
        How::Mapped => Opened::path(&path).unwrap(),
        How::Streamed | How::Gzipped => Opened::path_streamed(&path).unwrap().0,
        How::Here => Opened::reader(Box::new(std::fs::File::open(&path).unwrap())).unwrap(),
    };
    (o, dir)
}

/// A walk in turns ([`super::walk::SharedWalk`]) leaves each worker every
/// frame of its own once, in capture order, with the capture's clock
/// before it, as a reader of a copy of the capture finds them, whether the
/// capture is mapped, read ahead in blocks, read in blocks by the walk or
/// gzipped (frames read where they lie but for those across two blocks);
/// and the pages of a mapping go back only once every worker has
/// metered past them: worker 0 takes every round of a 9 MB capture
/// (walking them all) and nothing is handed back until worker 1 has taken
/// its lists too.
#[test]
fn a_walk_places_every_frame_once_and_hands_pages_back_behind_the_last_worker() {
    use super::walk::SharedWalk;
    let (cap, packets) = long_capture(14);
    assert!(cap.len() > 8 << 20, "several hand-back steps");
    let (expect, end) = placed(&cap, 2);
    assert!(end.is_none());
    assert_eq!(expect.iter().map(Vec::len).sum::<usize>() as u64, packets);
    assert!(
        expect.iter().all(|e| e.len() as u64 > packets / 10),
        "both own frames"
    );
    for how in [How::Mapped, How::Streamed, How::Here, How::Gzipped] {
        let (o, dir) = opened(&cap, "places", how);
        let walk = SharedWalk::new(o, 2).unwrap();
        for w in [0, 1] {
            let mut got = Vec::new();
            let mut rounds = 0;
            let mut ended = false;
            let (mut copied, mut all) = (0, 0);
            while let Some(list) = walk.take(w) {
                assert!(!ended, "no list after the end");
                rounds += 1;
                let (c, a) = list.copied();
                copied += c;
                all += a;
                for (p, before) in list.frames(walk.bytes()) {
                    got.push((p.number, p.ts_ns, p.data.to_vec(), before));
                }
                ended = matches!(list.end, Some(ReadEnd::End));
                assert_eq!(ended, list.position == cap.len() as u64, "{how:?}");
                walk.done(w, list);
                if w == 0 {
                    assert_eq!(walk.released(), 0, "worker 1 metered nothing yet");
                }
            }
            assert!(ended && rounds > 100, "{how:?} worker {w}: {rounds} rounds");
            // Frames are read where they lie (in the mapping, or in the
            // blocks, but for those across two blocks).
            match how {
                How::Mapped => assert_eq!(copied, 0),
                _ => assert!(copied * 20 < all, "{how:?}: {copied} of {all} copied"),
            }
            assert!(got == expect[w], "{how:?}: worker {w}'s frames");
        }
        if matches!(how, How::Mapped) {
            let released = walk.released();
            assert!(released >= 2 << 20 && released <= cap.len(), "{released}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

/// A capture cut inside a record ends every worker's walk with the error
/// a reader of it gives (naming the same offset), after every frame
/// before it; a walk a worker stopped leaves no other waiting.
#[test]
fn a_cut_capture_ends_every_workers_walk_with_its_error() {
    use super::walk::SharedWalk;
    let (mut cap, _) = long_capture(1);
    cap.truncate(cap.len() - 7);
    let (expect, end) = placed(&cap, 3);
    let end = end.expect("the cut record fails");
    assert!(end.offset.is_some());
    for how in [How::Mapped, How::Streamed, How::Here] {
        let (o, dir) = opened(&cap, "cut", how);
        let walk = SharedWalk::new(o, 3).unwrap();
        for w in [2, 0, 1] {
            let mut got = Vec::new();
            let mut failed = None;
            while let Some(mut list) = walk.take(w) {
                for (p, before) in list.frames(walk.bytes()) {
                    got.push((p.number, p.ts_ns, p.data.to_vec(), before));
                }
                if let Some(ReadEnd::Failed(e)) = list.end.take() {
                    failed = Some(e);
                }
                walk.done(w, list);
            }
            assert_eq!(failed.as_ref(), Some(&end), "{how:?} worker {w}");
            assert!(got == expect[w], "{how:?}: worker {w}'s frames");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
    let (o, dir) = opened(&long_capture(1).0, "stopped", How::Streamed);
    let walk = SharedWalk::new(o, 2).unwrap();
    assert!(walk.take(0).is_some());
    walk.stop();
    assert!(walk.take(1).is_none(), "a stopped walk gives no more");
    std::fs::remove_dir_all(&dir).unwrap();
}
