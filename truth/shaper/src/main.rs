//! ffx-shaper: a user-space network emulator on NFQUEUE for the ground-truth TCP harness.
//!
//! It binds two NFQUEUE queues in the router namespace (by default 0 = client->server and
//! 1 = server->client), and applies per direction, in this order:
//!   1. a deterministic drop list (1-based indices of TCP segments with payload seen by the queue),
//!   2. random loss (seeded; SYNs are never dropped),
//!   3. a rate limit with a tail-drop queue (drop when the queueing delay would exceed qlimit_ms),
//!   4. ECN CE marking of ECT packets (IPv4 header checksum recomputed; IPv6 has none),
//!   5. reordering (a seeded fraction held reorder_ms longer than the rest),
//!   6. a fixed one-way delay.
//!
//! A packet is held by not giving its verdict: held packets sit in a time-ordered heap and are
//! accepted (NF_ACCEPT, with the rewritten bytes when CE-marked) when due. NFQUEUE allows
//! verdicts out of order by packet id. Drops are verdicted NF_DROP at once.
//!
//! With --pcap-full/--pcap-s96 it is also the middle observation point: every packet is
//! written to a pcap (LINKTYPE_RAW, ns timestamps, CLOCK_REALTIME) the moment it is received
//! from the queue, before any of the above is applied to it (see pcap.rs).
//!
//! Every drop, CE mark and reorder is logged. On EOF (or "stop") on stdin it releases what it
//! still holds, reads the kernel's queue counters (/proc/net/netfilter/nfnetlink_queue), and
//! writes a JSON report to --out. Netlink overflows (ENOBUFS: the kernel could not deliver a
//! queued packet to us) are counted, never hidden.
//!
//! Usage: ffx-shaper --seed N --out FILE [--queue0 SPEC] [--queue1 SPEC] [--maxlen N]
//!   [--cpu N] [--pcap-full FILE --pcap-s96 FILE]
//!   SPEC = comma separated key=value: delay_ms, loss, reorder, reorder_ms, ce, rate_mbit,
//!   qlimit_ms, drop (colon separated data-segment indices).

mod config;
mod packet;
mod pcap;
mod report;
mod shaper;
mod sys;

use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use nfq::Queue;

use crate::config::parse_spec;
use crate::pcap::MidCapture;
use crate::report::{report, RunFacts};
use crate::shaper::{Dir, Shaper};

struct Args {
    seed: u64,
    out: String,
    specs: [String; 2],
    qnums: [u16; 2],
    maxlen: u32,
    cpu: Option<usize>,
    pcap_full: Option<PathBuf>,
    pcap_s96: Option<PathBuf>,
}

fn usage() -> ! {
    eprintln!(
        "usage: ffx-shaper --seed N --out FILE [--queue0 SPEC] [--queue1 SPEC] [--qnum0 N] \
         [--qnum1 N] [--maxlen N] [--cpu N] [--pcap-full FILE --pcap-s96 FILE]"
    );
    std::process::exit(2);
}

fn parse_args() -> Args {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut a = Args {
        seed: 1,
        out: String::new(),
        specs: [String::new(), String::new()],
        qnums: [0, 1],
        maxlen: 1 << 20,
        cpu: None,
        pcap_full: None,
        pcap_s96: None,
    };
    let mut out = None;
    let mut i = 0;
    while i < args.len() {
        let v = args.get(i + 1).cloned().unwrap_or_else(|| usage());
        match args[i].as_str() {
            "--seed" => a.seed = v.parse().unwrap_or_else(|_| usage()),
            "--out" => out = Some(v),
            "--queue0" => a.specs[0] = v,
            "--queue1" => a.specs[1] = v,
            "--qnum0" => a.qnums[0] = v.parse().unwrap_or_else(|_| usage()),
            "--qnum1" => a.qnums[1] = v.parse().unwrap_or_else(|_| usage()),
            "--maxlen" => a.maxlen = v.parse().unwrap_or_else(|_| usage()),
            "--cpu" => a.cpu = Some(v.parse().unwrap_or_else(|_| usage())),
            "--pcap-full" => a.pcap_full = Some(v.into()),
            "--pcap-s96" => a.pcap_s96 = Some(v.into()),
            _ => usage(),
        }
        i += 2;
    }
    a.out = out.unwrap_or_else(|| usage());
    if a.pcap_full.is_some() != a.pcap_s96.is_some() {
        eprintln!("ffx-shaper: --pcap-full and --pcap-s96 go together");
        usage();
    }
    a
}

fn open_queue(qnums: &[u16; 2], maxlen: u32) -> (Queue, libc::c_int) {
    let mut q = Queue::open().expect("open netlink NETFILTER socket");
    for &n in qnums {
        q.bind(n).unwrap_or_else(|e| panic!("bind queue {n}: {e}"));
        // Enough for a whole 1500-byte packet (CE marking rewrites it); no GSO/GRO on this path.
        q.set_copy_range(n, 2048).expect("copy range");
        q.set_queue_max_len(n, maxlen).expect("queue maxlen");
        q.set_fail_open(n, false).expect("fail open off");
    }
    // Report ENOBUFS (the nfq crate turns it off by default) and give the socket a large buffer.
    q.set_recv_enobufs(true).expect("enobufs");
    let fd = sys::find_netfilter_socket().expect("the nfq crate's netlink socket");
    sys::force_rcvbuf(fd, 32 << 20);
    q.set_nonblocking(true);
    (q, fd)
}

/// Receive and handle queued packets until stdin says stop (or closes); returns the number of
/// netlink overflows.
fn run(sh: &mut Shaper, q: &mut Queue, fd: libc::c_int) -> u64 {
    let mut overflows: u64 = 0;
    loop {
        sh.release_due(q, false).expect("verdict");
        let timeout = sh.next_due_ns().map(|due| due.saturating_sub(sh.now_ns()));
        let (netlink, stdin) = sys::wait(fd, timeout).unwrap_or_else(|e| panic!("ppoll: {e}"));
        if netlink {
            loop {
                match q.recv() {
                    Ok(msg) => {
                        let now = sh.now_ns();
                        sh.on_packet(q, msg, now).expect("verdict");
                        // Keep releasing on time even under a burst of arrivals.
                        sh.release_due(q, false).expect("verdict");
                    }
                    Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                        overflows += 1;
                        eprintln!(
                            "ffx-shaper: netlink overflow (ENOBUFS): queued packets were lost \
                             to user space"
                        );
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => panic!("recv: {e}"),
                }
            }
        }
        if stdin {
            let mut buf = [0u8; 256];
            let n = std::io::stdin().read(&mut buf).unwrap_or(0);
            if n == 0 || String::from_utf8_lossy(&buf[..n]).contains("stop") {
                return overflows;
            }
        }
    }
}

fn main() {
    let args = parse_args();
    let mut dirs = Vec::new();
    for (k, spec) in args.specs.iter().enumerate() {
        let cfg = parse_spec(spec).unwrap_or_else(|e| {
            eprintln!("ffx-shaper: queue{k}: {e}");
            std::process::exit(2)
        });
        dirs.push(Dir::new(args.qnums[k], cfg, args.seed));
    }
    // Before the real-time set-up: the capture's writer thread must not inherit SCHED_FIFO.
    let capture = match (&args.pcap_full, &args.pcap_s96) {
        (Some(full), Some(s96)) => Some(
            MidCapture::create(full, s96, args.cpu)
                .unwrap_or_else(|e| panic!("middle capture: {e}")),
        ),
        _ => None,
    };
    let rt = sys::realtime_setup(args.cpu);
    let (mut q, fd) = open_queue(&args.qnums, args.maxlen);

    let start = Instant::now();
    let start_unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    let mut sh = Shaper::new(start, dirs, capture);
    println!("ready {start_unix:.6}");
    std::io::stdout().flush().ok();

    let overflows = run(&mut sh, &mut q, fd);
    // Release what is still held, in due order, then report.
    sh.release_due(&mut q, true).expect("verdict");
    if let Some(cap) = sh.capture.take() {
        cap.finish()
            .unwrap_or_else(|e| panic!("middle capture: {e}"));
    }
    let facts = RunFacts {
        seed: args.seed,
        overflows,
        start_unix,
        maxlen: args.maxlen,
        timerslack: rt.timerslack,
        fifo: rt.fifo,
        cpu: args.cpu,
        pinned: rt.pinned,
        locked: rt.locked,
    };
    let text = report(&sh, &facts);
    std::fs::write(&args.out, text).unwrap_or_else(|e| panic!("write {}: {e}", args.out));
    if sh.foreign_queue > 0 {
        eprintln!(
            "ffx-shaper: {} packets from unexpected queues accepted",
            sh.foreign_queue
        );
    }
    for &n in &args.qnums {
        let _ = q.unbind(n);
    }
}
