//! Metering on several threads: the calling thread reads and takes each
//! packet apart once ([`super::Meter::packet`]), sums it up as a
//! [`FlowPacket`] and hands it to the worker that owns its flow, chosen by
//! [`FlowKey::spread`] (the same for both directions of a biflow); each
//! worker has its own [`Table`] and encodes the records that end in it.
//!
//! Packets go out in rounds of [`ROUND`]: every worker gets its share of a
//! round (perhaps none) and answers each round with the records it ended,
//! and the answers are taken round by round, worker by worker, so the
//! output is the same from one run to the next.
//!
//! The records are those of one table of every flow, with three
//! differences, all documented for `workers`:
//! - flowIds: worker `w` of `n` numbers its flows `w + 1`, `w + 1 + n`,
//!   ... (one thread: 1, 2, ...), so a flow's id is not the one a single
//!   table gives it;
//! - record order: worker by worker within a round, not in the order the
//!   records ended;
//! - `max_flows` is shared out (each worker holds at most
//!   `ceil(max_flows / n)`), so which flows are evicted when the cap is
//!   reached differs.
//!
//! Timeouts are exact: each packet carries the meter's clock (the latest
//! packet time before it), and a worker advances its table's clock to it
//! before the packet ([`Table::tick`]), so every record idles out at the
//! packet it would have in one table; the end of input carries the last
//! clock too.

use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;

use super::flowpacket::FlowPacket;
use super::record::Records;
use super::table::{Table, TableOptions, TableStats};
use super::{encode_ended, Pending};
use crate::error::{Error, ErrorKind, Result};

/// Packets per round.
const ROUND: usize = 4096;
/// Rounds sent and not yet answered before the meter waits for the oldest.
const IN_FLIGHT: usize = 4;

/// What a worker is sent.
enum Work {
    /// Packets of its flows, each with the meter's clock before it, then
    /// the clock after the round.
    Round(Vec<(i64, FlowPacket)>, i64),
    /// The input ended at this clock: every flow ends.
    Finish(i64),
}

/// A worker's answer to a round.
struct Answer {
    /// Per template, the records encoded.
    pending: Vec<Pending>,
    records: usize,
    stats: TableStats,
    open: usize,
}

struct Worker {
    to: Sender<Work>,
    from: Receiver<Result<Answer>>,
    thread: Option<JoinHandle<()>>,
    stats: TableStats,
    open: usize,
}

/// The workers of a meter.
pub struct Workers {
    all: Vec<Worker>,
    /// The round being filled, per worker.
    round: Vec<Vec<(i64, FlowPacket)>>,
    filled: usize,
    in_flight: usize,
    /// The meter's clock: the latest packet time so far.
    clock: Option<i64>,
}

impl Workers {
    /// `n` workers (at least 2 make sense) over tables with `opts`.
    pub fn new(n: usize, opts: TableOptions, records: &Arc<Records>) -> Result<Self> {
        let n = n.max(1);
        let per = TableOptions {
            max_flows: opts.max_flows.div_ceil(n).max(1),
            ..opts
        };
        let mut workers = Vec::with_capacity(n);
        for w in 0..n {
            let (to, inbox) = channel::<Work>();
            let (outbox, from) = channel::<Result<Answer>>();
            let mut table = Table::new(per);
            table.number_flows((w as u64).saturating_add(1), n as u64);
            let records = Arc::clone(records);
            let thread = std::thread::Builder::new()
                .name(format!("ferrofix-meter-{w}"))
                .spawn(move || work(&mut table, &records, &inbox, &outbox))
                .map_err(|e| {
                    Error::new(ErrorKind::Internal(format!(
                        "could not start a meter worker: {e}"
                    )))
                })?;
            workers.push(Worker {
                to,
                from,
                thread: Some(thread),
                stats: TableStats::default(),
                open: 0,
            });
        }
        Ok(Workers {
            round: (0..n).map(|_| Vec::with_capacity(ROUND)).collect(),
            all: workers,
            filled: 0,
            in_flight: 0,
            clock: None,
        })
    }

    /// Hand a packet to its flow's worker; answers taken are appended to
    /// `pending` (their record count returned).
    pub fn packet(&mut self, p: &FlowPacket, pending: &mut [Pending]) -> Result<usize> {
        let n = self.round.len() as u64;
        let w = usize::try_from(p.key.spread().checked_rem(n).unwrap_or(0)).unwrap_or(0);
        let before = self.clock.unwrap_or(i64::MIN);
        if self.clock.is_none_or(|c| p.ts_ns > c) {
            self.clock = Some(p.ts_ns);
        }
        if let Some(r) = self.round.get_mut(w) {
            r.push((before, *p));
        }
        self.filled = self.filled.saturating_add(1);
        if self.filled < ROUND {
            return Ok(0);
        }
        self.send_round()?;
        if self.in_flight > IN_FLIGHT {
            return self.take_answers(pending);
        }
        Ok(0)
    }

    fn send_round(&mut self) -> Result<()> {
        let clock = self.clock.unwrap_or(i64::MIN);
        for (w, r) in self.all.iter().zip(self.round.iter_mut()) {
            let packets = std::mem::replace(r, Vec::with_capacity(ROUND));
            w.to.send(Work::Round(packets, clock)).map_err(|_| gone())?;
        }
        self.filled = 0;
        self.in_flight = self.in_flight.saturating_add(1);
        Ok(())
    }

    /// The answers to the oldest round, worker by worker.
    fn take_answers(&mut self, pending: &mut [Pending]) -> Result<usize> {
        let mut n = 0usize;
        for w in &mut self.all {
            let a = w.from.recv().map_err(|_| gone())??;
            for (into, p) in pending.iter_mut().zip(&a.pending) {
                into.bytes.extend_from_slice(&p.bytes);
                into.count = into.count.saturating_add(p.count);
            }
            n = n.saturating_add(a.records);
            w.stats = a.stats;
            w.open = a.open;
        }
        self.in_flight = self.in_flight.saturating_sub(1);
        Ok(n)
    }

    /// The input ended: every worker ends its flows; every answer is
    /// taken and the workers stop.
    pub fn finish(&mut self, pending: &mut [Pending]) -> Result<usize> {
        let mut n = 0usize;
        if self.filled > 0 {
            self.send_round()?;
        }
        let clock = self.clock.unwrap_or(i64::MIN);
        for w in &self.all {
            w.to.send(Work::Finish(clock)).map_err(|_| gone())?;
        }
        // The finish is answered like a round.
        self.in_flight = self.in_flight.saturating_add(1);
        while self.in_flight > 0 {
            n = n.saturating_add(self.take_answers(pending)?);
        }
        self.stop();
        Ok(n)
    }

    /// The tables' counters summed (`peak_flows`: the sum of each
    /// worker's peak, at least the true peak), as of the answers taken.
    pub fn stats(&self) -> TableStats {
        let mut s = TableStats::default();
        for w in &self.all {
            s.flows = s.flows.saturating_add(w.stats.flows);
            for (a, b) in s.by_reason.iter_mut().zip(w.stats.by_reason) {
                *a = a.saturating_add(b);
            }
            s.peak_flows = s.peak_flows.saturating_add(w.stats.peak_flows);
            s.out_of_order = s.out_of_order.saturating_add(w.stats.out_of_order);
        }
        s
    }

    /// Flows open, as of the answers taken.
    pub fn open_flows(&self) -> usize {
        self.all
            .iter()
            .map(|w| w.open)
            .fold(0, usize::saturating_add)
    }

    fn stop(&mut self) {
        for w in &mut self.all {
            // A closed inbox ends the worker's loop.
            let (dead, _) = channel();
            drop(std::mem::replace(&mut w.to, dead));
            if let Some(t) = w.thread.take() {
                let _ = t.join();
            }
        }
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        self.stop();
    }
}

fn gone() -> Error {
    Error::new(ErrorKind::Internal("a meter worker stopped".into()))
}

/// A worker's loop: rounds in, answers out, until the inbox closes.
fn work(
    table: &mut Table,
    records: &Records,
    inbox: &Receiver<Work>,
    outbox: &Sender<Result<Answer>>,
) {
    let templates = records.templates().count();
    while let Ok(job) = inbox.recv() {
        let last = match job {
            Work::Round(packets, clock) => {
                for (before, p) in &packets {
                    table.tick(*before);
                    table.observe(p);
                }
                table.tick(clock);
                false
            }
            Work::Finish(clock) => {
                table.tick(clock);
                table.finish();
                true
            }
        };
        let mut pending: Vec<Pending> = (0..templates).map(|_| Pending::default()).collect();
        let answer = encode_ended(records, &mut table.ended, &mut pending).map(|records| Answer {
            pending,
            records,
            stats: table.stats.clone(),
            open: table.len(),
        });
        if outbox.send(answer).is_err() || last {
            return;
        }
    }
}
