//! Metering on several threads. The calling thread only reads: it copies
//! each captured frame into a round ([`ROUND`] frames) and hands the round
//! to every worker. The workers then take the round apart together, in
//! two phases:
//!
//! 1. each worker takes its share of the round's frames apart (a
//!    contiguous slice, through its own [`crate::packet::Dissector`] with fragments
//!    passed through) and sums each IP packet up as a [`crate::meter::flowpacket::FlowPacket`],
//!    noting the worker that owns its flow ([`crate::meter::key::FlowKey::spread`], the same
//!    for both directions of a biflow);
//! 2. once every share is done (a barrier), each worker walks all the
//!    summaries in frame order: its own flows' packets go to its
//!    [`Table`], the others only advance its table's clock
//!    ([`Table::tick`]), so every record idles out at the packet it would
//!    in one table of every flow. Fragments are assigned in this phase, in
//!    order, by a second dissector that every worker runs over the
//!    round's fragments alike (fragments are rare; each worker keeps the
//!    ones of its flows).
//!
//! So reading, taking apart, the flow tables and the record encoding all
//! run in parallel; the calling thread reads and copies. Each worker
//! answers each round with the records it ended, and the answers are
//! taken round by round, worker by worker, so the output is the same from
//! one run to the next.
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

use std::collections::VecDeque;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;

mod round;
mod worker;

use round::{Frame, Gate, Round};
use worker::work;

use super::record::{LayoutKey, Records};
use super::table::{Table, TableOptions, TableStats};
use super::Pending;
use crate::error::{Error, ErrorKind, Result};
use crate::packet::{DissectOptions, DissectStats};
use crate::pcap::Packet;

/// Frames per round.
#[cfg(not(test))]
const ROUND: usize = 8192;
/// Small in unit tests, so that their captures take many rounds.
#[cfg(test)]
const ROUND: usize = 61;
/// Rounds sent and not yet answered before the meter waits for the oldest.
const IN_FLIGHT: usize = 3;

/// What a worker is sent.
enum Work {
    Round(Arc<Round>),
    /// The input ended: held fragments are given back, every flow ends.
    Finish,
}

/// A worker's answer to a round.
struct Answer {
    /// Per template of the worker's own [`Records`], the records encoded,
    /// and what picked each template (the meter's index may differ).
    pending: Vec<Pending>,
    keys: Vec<Option<LayoutKey>>,
    records: usize,
    table: TableStats,
    /// Frames of its shares so far; for worker 0 also the fragment
    /// handling.
    dissect: DissectStats,
    fragments: Option<DissectStats>,
    /// Packets accounted to its flows so far.
    metered: u64,
    open: usize,
}

struct Worker {
    to: Sender<Work>,
    from: Receiver<Result<Answer>>,
    thread: Option<JoinHandle<()>>,
    table: TableStats,
    dissect: DissectStats,
    fragments: Option<DissectStats>,
    metered: u64,
    open: usize,
}

/// The workers of a meter.
pub struct Workers {
    all: Vec<Worker>,
    /// The round being filled.
    round: Round,
    /// Rounds sent, oldest first (their buffers come back for reuse once
    /// answered).
    in_flight: VecDeque<Arc<Round>>,
    spare: Vec<Round>,
    /// The meter's templates.
    records: Arc<Records>,
}

/// What every worker is given.
struct Setup {
    w: usize,
    n: usize,
    biflow: bool,
    dissect: DissectOptions,
    /// The worker's own templates (made in its own order; the meter
    /// numbers them in the order it takes the answers, so its output is
    /// the same from one run to the next).
    records: Records,
    gate: Arc<Gate>,
}

impl Workers {
    /// `n` workers (at least 2 make sense) over tables with `opts`,
    /// taking packets apart with `dissect` (fragments are assigned, as one
    /// meter does, whatever its mode).
    pub fn new(
        n: usize,
        opts: TableOptions,
        dissect: DissectOptions,
        records: &Arc<Records>,
    ) -> Result<Self> {
        let n = n.max(1);
        let per = TableOptions {
            max_flows: opts.max_flows.div_ceil(n).max(1),
            ..opts
        };
        let mut workers = Vec::with_capacity(n);
        let gate = Arc::new(Gate::new(n));
        for w in 0..n {
            let (to, inbox) = channel::<Work>();
            let (outbox, from) = channel::<Result<Answer>>();
            let mut table = Table::new(per);
            table.number_flows((w as u64).saturating_add(1), n as u64);
            let setup = Setup {
                w,
                n,
                biflow: opts.biflow,
                dissect,
                records: records.fresh()?,
                gate: Arc::clone(&gate),
            };
            let thread = std::thread::Builder::new()
                .name(format!("ferrofix-meter-{w}"))
                .spawn(move || work(&setup, &mut table, &inbox, &outbox))
                .map_err(|e| {
                    Error::new(ErrorKind::Internal(format!(
                        "could not start a meter worker: {e}"
                    )))
                })?;
            workers.push(Worker {
                to,
                from,
                thread: Some(thread),
                table: TableStats::default(),
                dissect: DissectStats::default(),
                fragments: None,
                metered: 0,
                open: 0,
            });
        }
        Ok(Workers {
            all: workers,
            round: Round::new(n),
            in_flight: VecDeque::new(),
            spare: Vec::new(),
            records: Arc::clone(records),
        })
    }

    /// Hand a captured frame to the workers (in the next round); answers
    /// taken are appended to `pending` (their record count returned).
    pub fn frame(&mut self, p: &Packet<'_>, pending: &mut Vec<Pending>) -> Result<usize> {
        let start = self.round.bytes.len();
        self.round.bytes.extend_from_slice(p.data);
        self.round.frames.push(Frame {
            start,
            len: p.data.len(),
            orig_len: p.orig_len,
            linktype: p.linktype,
            ts_ns: p.ts_ns,
            number: p.number,
            offset: p.offset,
        });
        if self.round.frames.len() < ROUND {
            return Ok(0);
        }
        self.send_round()?;
        if self.in_flight.len() > IN_FLIGHT {
            return self.take_answers(pending);
        }
        Ok(0)
    }

    fn send_round(&mut self) -> Result<()> {
        let n = self.all.len();
        let next = self.spare.pop().unwrap_or_else(|| Round::new(n));
        let round = Arc::new(std::mem::replace(&mut self.round, next));
        for w in &self.all {
            w.to.send(Work::Round(Arc::clone(&round)))
                .map_err(|_| gone())?;
        }
        self.in_flight.push_back(round);
        Ok(())
    }

    /// The answers to the oldest round, worker by worker.
    fn take_answers(&mut self, pending: &mut Vec<Pending>) -> Result<usize> {
        let mut n = 0usize;
        for w in &mut self.all {
            let a = w.from.recv().map_err(|_| gone())??;
            for (p, key) in a.pending.iter().zip(&a.keys) {
                if p.count == 0 {
                    continue;
                }
                let Some(key) = key else {
                    return Err(Error::new(ErrorKind::Internal(
                        "a meter worker's records have no template".into(),
                    )));
                };
                let i = self.records.index_of(*key)?;
                if pending.len() <= i {
                    pending.resize_with(i.saturating_add(1), Pending::default);
                }
                if let Some(into) = pending.get_mut(i) {
                    into.bytes.extend_from_slice(&p.bytes);
                    into.count = into.count.saturating_add(p.count);
                }
            }
            n = n.saturating_add(a.records);
            w.table = a.table;
            w.dissect = a.dissect;
            if a.fragments.is_some() {
                w.fragments = a.fragments;
            }
            w.metered = a.metered;
            w.open = a.open;
        }
        // Every worker answered, so none holds the round any more.
        if let Some(r) = self.in_flight.pop_front() {
            if let Ok(mut r) = Arc::try_unwrap(r) {
                r.bytes.clear();
                r.frames.clear();
                self.spare.push(r);
            }
        }
        Ok(n)
    }

    /// The input ended: every worker ends its flows; every answer is
    /// taken and the workers stop.
    pub fn finish(&mut self, pending: &mut Vec<Pending>) -> Result<usize> {
        let mut n = 0usize;
        if !self.round.frames.is_empty() {
            self.send_round()?;
        }
        while !self.in_flight.is_empty() {
            n = n.saturating_add(self.take_answers(pending)?);
        }
        for w in &self.all {
            w.to.send(Work::Finish).map_err(|_| gone())?;
        }
        n = n.saturating_add(self.take_answers(pending)?);
        self.stop();
        Ok(n)
    }

    /// The tables' counters summed (`peak_flows`: the sum of each
    /// worker's peak, at least the true peak), as of the answers taken.
    pub fn stats(&self) -> TableStats {
        let mut s = TableStats::default();
        for w in &self.all {
            s.flows = s.flows.saturating_add(w.table.flows);
            for (a, b) in s.by_reason.iter_mut().zip(w.table.by_reason) {
                *a = a.saturating_add(b);
            }
            s.peak_flows = s.peak_flows.saturating_add(w.table.peak_flows);
            s.out_of_order = s.out_of_order.saturating_add(w.table.out_of_order);
        }
        s
    }

    /// The dissectors' counters: every worker's share of the frames, and
    /// the fragment handling (the same in every worker) once, as of the
    /// answers taken.
    pub fn dissect_stats(&self) -> DissectStats {
        let mut s = DissectStats::default();
        for w in &self.all {
            s.add_frames(&w.dissect);
        }
        if let Some(f) = self.all.first().and_then(|w| w.fragments.as_ref()) {
            s.add_fragments(f);
        }
        s
    }

    /// Packets accounted to flows, as of the answers taken.
    pub fn metered(&self) -> u64 {
        self.all
            .iter()
            .map(|w| w.metered)
            .fold(0, u64::saturating_add)
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
