//! The per-packet decisions (drop list, loss, rate limit, CE, reorder, delay) and the heap of
//! held packets released when due.

use std::collections::{BinaryHeap, HashSet};
use std::time::Instant;

use nfq::{Queue, Verdict};

use crate::config::{DirCfg, Rng};
use crate::packet::{parse_packet, set_ce, PktInfo};
use crate::pcap::MidCapture;

#[derive(Clone, Debug, Default)]
pub struct DirStats {
    pub pkts: u64,
    pub bytes: u64,
    pub tcp_pkts: u64,
    pub tcp_data_pkts: u64,
    pub syn_pkts: u64,
    pub dropped_random: u64,
    pub dropped_list: u64,
    pub dropped_qlimit: u64,
    pub ce_marked: u64,
    pub ce_skipped_not_ect: u64,
    pub reorder_delayed: u64,
    pub accepted: u64,
    pub max_queue_delay_ms: f64,
    // Verdict timing: how late (after the due time) each accept verdict went out.
    pub late_sum_ns: u128,
    pub late_max_ns: u64,
    pub late_over_100us: u64,
    pub late_over_500us: u64,
}

/// One direction: its queue, configuration, counters and random streams.
pub struct Dir {
    pub queue: u16,
    pub cfg: DirCfg,
    pub drop_set: HashSet<u64>,
    pub stats: DirStats,
    pub rng_loss: Rng,
    pub rng_ce: Rng,
    pub rng_reorder: Rng,
    /// When the emulated bottleneck link finishes sending what it has queued (ns since start).
    pub link_free_ns: u64,
}

impl Dir {
    pub fn new(queue: u16, cfg: DirCfg, seed: u64) -> Dir {
        let q = u64::from(queue);
        Dir {
            queue,
            drop_set: cfg.drop_list.iter().copied().collect(),
            cfg,
            stats: DirStats::default(),
            rng_loss: Rng::new(seed, q, 1),
            rng_ce: Rng::new(seed, q, 2),
            rng_reorder: Rng::new(seed, q, 3),
            link_free_ns: 0,
        }
    }
}

/// A drop, CE mark or reorder, for the report.
pub struct Event {
    pub t_ns: u64,
    pub queue: u16,
    pub event: &'static str,
    pub pkt: PktInfo,
    pub data_idx: u64,
    pub extra: f64,
}

struct Held {
    due_ns: u64,
    order: u64,
    queue_idx: usize,
    msg: nfq::Message,
}

impl PartialEq for Held {
    fn eq(&self, o: &Self) -> bool {
        self.due_ns == o.due_ns && self.order == o.order
    }
}

impl Eq for Held {}

impl PartialOrd for Held {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}

impl Ord for Held {
    // BinaryHeap is a max-heap: reverse so that the earliest due (then first arrived) is on top.
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (o.due_ns, o.order).cmp(&(self.due_ns, self.order))
    }
}

pub struct Shaper {
    start: Instant,
    pub dirs: Vec<Dir>,
    heap: BinaryHeap<Held>,
    order: u64,
    pub events: Vec<Event>,
    pub held_max: usize,
    pub non_tcp: u64,
    pub foreign_queue: u64,
    /// The middle observation point (every packet as received, before any impairment).
    pub capture: Option<MidCapture>,
}

impl Shaper {
    pub fn new(start: Instant, dirs: Vec<Dir>, capture: Option<MidCapture>) -> Shaper {
        Shaper {
            start,
            dirs,
            heap: BinaryHeap::new(),
            order: 0,
            events: Vec::new(),
            held_max: 0,
            non_tcp: 0,
            foreign_queue: 0,
            capture,
        }
    }

    pub fn now_ns(&self) -> u64 {
        self.start.elapsed().as_nanos() as u64
    }

    /// The due time of the earliest held packet (ns since start).
    pub fn next_due_ns(&self) -> Option<u64> {
        self.heap.peek().map(|h| h.due_ns)
    }

    fn log(&mut self, t_ns: u64, di: usize, event: &'static str, pkt: &PktInfo, data_idx: u64) {
        self.log_extra(t_ns, di, event, pkt, data_idx, 0.0);
    }

    fn log_extra(
        &mut self,
        t_ns: u64,
        di: usize,
        event: &'static str,
        pkt: &PktInfo,
        data_idx: u64,
        extra: f64,
    ) {
        self.events.push(Event {
            t_ns,
            queue: self.dirs[di].queue,
            event,
            pkt: pkt.clone(),
            data_idx,
            extra,
        });
    }

    /// Decide the fate of one queued packet: a drop is verdicted at once, an accept is held
    /// until due (or verdicted at once when nothing delays it).
    pub fn on_packet(
        &mut self,
        q: &mut Queue,
        mut msg: nfq::Message,
        now: u64,
    ) -> std::io::Result<()> {
        if let Some(cap) = self.capture.as_mut() {
            cap.record(msg.get_payload(), msg.get_original_len());
        }
        let qn = msg.get_queue_num();
        let Some(di) = self.dirs.iter().position(|d| d.queue == qn) else {
            self.foreign_queue += 1;
            msg.set_verdict(Verdict::Accept);
            return q.verdict(msg);
        };
        let pkt = parse_packet(msg.get_payload());
        let d = &mut self.dirs[di];
        d.stats.pkts += 1;
        d.stats.bytes += pkt.ip_len as u64;
        let syn = pkt.is_tcp && pkt.flags & 0x02 != 0;
        let mut data_idx = 0;
        if pkt.is_tcp {
            d.stats.tcp_pkts += 1;
            if syn {
                d.stats.syn_pkts += 1;
            }
            if pkt.payload > 0 {
                d.stats.tcp_data_pkts += 1;
                data_idx = d.stats.tcp_data_pkts;
            }
        } else {
            self.non_tcp += 1;
        }
        // 1. deterministic drop list
        if data_idx > 0 && d.drop_set.contains(&data_idx) {
            d.stats.dropped_list += 1;
            self.log(now, di, "drop_list", &pkt, data_idx);
            msg.set_verdict(Verdict::Drop);
            return q.verdict(msg);
        }
        // 2. random loss (never SYNs: handshake timeouts would only stretch the run)
        if d.cfg.loss > 0.0 && !syn && d.rng_loss.uniform() < d.cfg.loss {
            d.stats.dropped_random += 1;
            self.log(now, di, "drop_random", &pkt, data_idx);
            msg.set_verdict(Verdict::Drop);
            return q.verdict(msg);
        }
        // 3. rate limit with a tail-drop queue
        let mut depart = now;
        if d.cfg.rate_mbit > 0.0 {
            let backlog_ns = d.link_free_ns.saturating_sub(now);
            let qdelay_ms = backlog_ns as f64 / 1e6;
            if d.cfg.qlimit_ms > 0.0 && qdelay_ms > d.cfg.qlimit_ms {
                d.stats.dropped_qlimit += 1;
                let extra = (qdelay_ms * 1000.0).round() / 1000.0;
                self.log_extra(now, di, "drop_qlimit", &pkt, data_idx, extra);
                msg.set_verdict(Verdict::Drop);
                return q.verdict(msg);
            }
            if qdelay_ms > d.stats.max_queue_delay_ms {
                d.stats.max_queue_delay_ms = qdelay_ms;
            }
            // Serialization of the IP packet plus a 14-byte Ethernet header.
            let ser_ns = ((pkt.ip_len as f64 + 14.0) * 8.0 / (d.cfg.rate_mbit * 1e6) * 1e9) as u64;
            d.link_free_ns = d.link_free_ns.max(now) + ser_ns;
            depart = d.link_free_ns;
        }
        // 4. CE marking of ECT packets
        if d.cfg.ce > 0.0 && pkt.is_tcp && d.rng_ce.uniform() < d.cfg.ce {
            if pkt.ecn == 1 || pkt.ecn == 2 {
                d.stats.ce_marked += 1;
                set_ce(msg.get_payload_mut());
                self.log(now, di, "ce_mark", &pkt, data_idx);
            } else {
                d.stats.ce_skipped_not_ect += 1;
            }
        }
        let d = &mut self.dirs[di];
        // 5. reordering: extra delay for a seeded fraction
        let mut extra_ms = 0.0;
        if d.cfg.reorder > 0.0 && d.rng_reorder.uniform() < d.cfg.reorder {
            extra_ms = d.cfg.reorder_ms;
            d.stats.reorder_delayed += 1;
            self.log_extra(now, di, "reorder_delay", &pkt, data_idx, extra_ms);
        }
        let d = &mut self.dirs[di];
        // 6. fixed one-way delay
        let due = depart + ((d.cfg.delay_ms + extra_ms) * 1e6) as u64;
        d.stats.accepted += 1;
        msg.set_verdict(Verdict::Accept);
        if due <= now {
            return q.verdict(msg);
        }
        self.order += 1;
        self.heap.push(Held {
            due_ns: due,
            order: self.order,
            queue_idx: di,
            msg,
        });
        self.held_max = self.held_max.max(self.heap.len());
        Ok(())
    }

    /// Verdict every held packet that is due (all of them with `force`, in due order).
    pub fn release_due(&mut self, q: &mut Queue, force: bool) -> std::io::Result<()> {
        loop {
            let now = self.now_ns();
            match self.heap.peek() {
                Some(h) if force || h.due_ns <= now => {}
                _ => return Ok(()),
            }
            let Some(h) = self.heap.pop() else {
                return Ok(());
            };
            if !force {
                let late = now - h.due_ns;
                let s = &mut self.dirs[h.queue_idx].stats;
                s.late_sum_ns += u128::from(late);
                s.late_max_ns = s.late_max_ns.max(late);
                if late > 100_000 {
                    s.late_over_100us += 1;
                }
                if late > 500_000 {
                    s.late_over_500us += 1;
                }
            }
            q.verdict(h.msg)?;
        }
    }
}
