//! The JSON report written at the end (hand-written JSON: the crate has no serde).

use std::fmt::Write as _;

use crate::shaper::Shaper;

pub fn fmt_num(v: f64) -> String {
    if v.is_finite() && v == v.trunc() && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else if v.is_finite() {
        let s = format!("{v:.6}");
        let s = s.trim_end_matches('0');
        s.trim_end_matches('.').to_string()
    } else {
        "null".into()
    }
}

pub fn json_str(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for ch in s.chars() {
        match ch {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            '\t' => o.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(o, "\\u{:04x}", c as u32);
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

/// The kernel's per-queue counters, /proc/net/netfilter/nfnetlink_queue, as a JSON list.
pub fn read_proc_queues() -> String {
    // queue_number peer_portid queue_total copy_mode copy_range queue_dropped user_dropped id_sequence 1
    let text = std::fs::read_to_string("/proc/net/netfilter/nfnetlink_queue").unwrap_or_default();
    let mut out = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() >= 8 {
            out.push(format!(
                "{{\"queue\": {}, \"peer_portid\": {}, \"queue_total\": {}, \"copy_mode\": {}, \"copy_range\": {}, \"queue_dropped\": {}, \"user_dropped\": {}, \"id_sequence\": {}}}",
                f[0], f[1], f[2], f[3], f[4], f[5], f[6], f[7]
            ));
        }
    }
    format!("[{}]", out.join(", "))
}

/// Facts about the run that are not in the shaper's state.
#[derive(Clone, Copy)]
pub struct RunFacts {
    pub seed: u64,
    pub overflows: u64,
    pub start_unix: f64,
    pub maxlen: u32,
    pub timerslack: bool,
    pub fifo: bool,
    pub cpu: Option<usize>,
    pub pinned: bool,
    pub locked: bool,
}

pub fn report(sh: &Shaper, f: &RunFacts) -> String {
    let RunFacts {
        seed,
        overflows,
        start_unix,
        maxlen,
        timerslack,
        fifo,
        cpu,
        pinned,
        locked,
    } = *f;
    let mut o = String::new();
    o.push_str("{\n");
    let _ = writeln!(o, "  \"seed\": {seed},");
    let _ = writeln!(o, "  \"netlink_overflows\": {overflows},");
    let _ = writeln!(o, "  \"events_logged\": {},", sh.events.len());
    let _ = writeln!(o, "  \"start_unix\": {start_unix:.6},");
    let _ = writeln!(o, "  \"queue_maxlen\": {maxlen},");
    let _ = writeln!(o, "  \"fail_open\": false,");
    let _ = writeln!(o, "  \"timerslack_1ns\": {timerslack},");
    let _ = writeln!(o, "  \"sched_fifo\": {fifo},");
    let _ = writeln!(
        o,
        "  \"cpu\": {},",
        cpu.map_or("null".to_string(), |c| c.to_string())
    );
    let _ = writeln!(o, "  \"cpu_pinned\": {pinned},");
    let _ = writeln!(o, "  \"mlockall\": {locked},");
    let _ = writeln!(o, "  \"held_max\": {},", sh.held_max);
    let _ = writeln!(o, "  \"non_tcp_pkts\": {},", sh.non_tcp);
    let _ = writeln!(o, "  \"kernel_queues\": {},", read_proc_queues());
    o.push_str("  \"queues\": [\n");
    for (i, d) in sh.dirs.iter().enumerate() {
        let c = &d.cfg;
        let s = &d.stats;
        let drops: Vec<String> = c.drop_list.iter().map(u64::to_string).collect();
        let released = s.accepted.max(1);
        let _ = write!(
            o,
            "    {{\"queue\": {}, \"config\": {{\"delay_ms\": {}, \"loss\": {}, \"reorder\": {}, \"reorder_ms\": {}, \"ce\": {}, \"rate_mbit\": {}, \"qlimit_ms\": {}, \"drop_list\": [{}]}}, ",
            d.queue,
            fmt_num(c.delay_ms),
            fmt_num(c.loss),
            fmt_num(c.reorder),
            fmt_num(c.reorder_ms),
            fmt_num(c.ce),
            fmt_num(c.rate_mbit),
            fmt_num(c.qlimit_ms),
            drops.join(", ")
        );
        let _ = write!(
            o,
            "\"stats\": {{\"pkts\": {}, \"bytes\": {}, \"tcp_pkts\": {}, \"tcp_data_pkts\": {}, \"syn_pkts\": {}, \"dropped_random\": {}, \"dropped_list\": {}, \"dropped_qlimit\": {}, \"ce_marked\": {}, \"ce_skipped_not_ect\": {}, \"reorder_delayed\": {}, \"accepted\": {}, \"max_queue_delay_ms\": {:.3}, \"verdict_late_us_mean\": {:.1}, \"verdict_late_us_max\": {:.1}, \"verdict_late_over_100us\": {}, \"verdict_late_over_500us\": {}}}}}",
            s.pkts,
            s.bytes,
            s.tcp_pkts,
            s.tcp_data_pkts,
            s.syn_pkts,
            s.dropped_random,
            s.dropped_list,
            s.dropped_qlimit,
            s.ce_marked,
            s.ce_skipped_not_ect,
            s.reorder_delayed,
            s.accepted,
            s.max_queue_delay_ms,
            s.late_sum_ns as f64 / released as f64 / 1000.0,
            s.late_max_ns as f64 / 1000.0,
            s.late_over_100us,
            s.late_over_500us,
        );
        o.push_str(if i + 1 < sh.dirs.len() { ",\n" } else { "\n" });
    }
    o.push_str("  ],\n  \"events\": [\n");
    for (i, e) in sh.events.iter().enumerate() {
        let p = &e.pkt;
        let _ = write!(
            o,
            "    {{\"t\": {:.6}, \"queue\": {}, \"event\": \"{}\", \"ipver\": {}, \"src\": {}, \"dst\": {}, \"sport\": {}, \"dport\": {}, \"seq\": {}, \"ack\": {}, \"flags\": {}, \"payload\": {}, \"data_idx\": {}, \"extra\": {:.3}, \"ecn\": {}}}",
            e.t_ns as f64 / 1e9,
            e.queue,
            e.event,
            p.ipver,
            json_str(&p.src),
            json_str(&p.dst),
            p.sport,
            p.dport,
            p.seq,
            p.ack,
            p.flags,
            p.payload,
            e.data_idx,
            e.extra,
            p.ecn
        );
        o.push_str(if i + 1 < sh.events.len() { ",\n" } else { "\n" });
    }
    o.push_str("  ]\n}\n");
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_strings() {
        assert_eq!(fmt_num(10.0), "10");
        assert_eq!(fmt_num(0.015), "0.015");
        assert_eq!(fmt_num(f64::NAN), "null");
        assert_eq!(json_str("a\"b\\\n"), "\"a\\\"b\\\\\\n\"");
    }
}
