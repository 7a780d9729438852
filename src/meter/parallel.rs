//! Metering on several threads. The calling thread only reads: it copies
//! each captured frame into a round ([`ROUND`] frames) and hands the round
//! to every worker. The workers then take the round apart together, in
//! two phases:
//!
//! 1. each worker takes its share of the round's frames apart (a
//!    contiguous slice, through its own [`Dissector`] with fragments
//!    passed through) and sums each IP packet up as a [`FlowPacket`],
//!    noting the worker that owns its flow ([`FlowKey::spread`], the same
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
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;

use super::flowpacket::FlowPacket;
use super::record::Records;
use super::table::{Table, TableOptions, TableStats};
use super::{encode_ended, Pending};
use crate::error::{Error, ErrorKind, Result};
use crate::packet::{DissectOptions, DissectStats, Dissector, FragmentMode, Framed};
use crate::pcap::Packet;

/// Frames per round.
#[cfg(not(test))]
const ROUND: usize = 8192;
/// Small in unit tests, so that their captures take many rounds.
#[cfg(test)]
const ROUND: usize = 61;
/// Rounds sent and not yet answered before the meter waits for the oldest.
const IN_FLIGHT: usize = 3;

/// A frame copied into a round.
#[derive(Debug, Clone, Copy)]
struct Frame {
    /// Where its bytes are in [`Round::bytes`].
    start: usize,
    len: usize,
    orig_len: u32,
    linktype: u16,
    ts_ns: i64,
    number: u64,
    offset: u64,
}

/// What phase 1 made of a frame that carries an IP packet.
#[derive(Debug, Clone, Copy)]
struct Seen {
    ts_ns: i64,
    /// The worker owning its flow, or [`FRAGMENT`].
    owner: u32,
    /// Its summary in [`Part::packets`], or (a fragment) its frame in
    /// the round.
    index: u32,
}

/// [`Seen::owner`] of a fragment (assigned in phase 2).
const FRAGMENT: u32 = u32::MAX;

/// A worker's share of a round, taken apart.
#[derive(Default)]
struct Part {
    seen: Vec<Seen>,
    packets: Vec<FlowPacket>,
}

/// Frames handed to the workers, and what they made of them.
struct Round {
    bytes: Vec<u8>,
    frames: Vec<Frame>,
    /// Per worker: its share taken apart, in frame order.
    parts: Vec<Mutex<Part>>,
}

impl Round {
    fn new(n: usize) -> Self {
        Round {
            bytes: Vec::new(),
            frames: Vec::with_capacity(ROUND),
            parts: (0..n).map(|_| Mutex::new(Part::default())).collect(),
        }
    }

    fn packet(&self, f: &Frame) -> Packet<'_> {
        Packet {
            linktype: f.linktype,
            ts_ns: f.ts_ns,
            data: self
                .bytes
                .get(f.start..f.start.saturating_add(f.len))
                .unwrap_or_default(),
            orig_len: f.orig_len,
            number: f.number,
            offset: f.offset,
        }
    }

    /// The frames of worker `w`'s share: a contiguous slice, the first
    /// `len % n` workers one more.
    fn share(&self, w: usize, n: usize) -> std::ops::Range<usize> {
        let len = self.frames.len();
        let n = n.max(1);
        let (each, extra) = (len.div_euclid(n), len.rem_euclid(n));
        let start = w.saturating_mul(each).saturating_add(w.min(extra));
        let end = start
            .saturating_add(each)
            .saturating_add(usize::from(w < extra));
        start.min(len)..end.min(len)
    }
}

/// A mutex's data, poisoned or not (a worker that panicked is reported
/// by its closed channel, not here).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Where the workers wait for each other between the phases of a round
/// (a barrier that a worker's panic breaks, so that the others stop
/// instead of waiting for it forever).
struct Gate {
    n: usize,
    state: Mutex<GateState>,
    cv: Condvar,
}

#[derive(Default)]
struct GateState {
    arrived: usize,
    generation: u64,
    broken: bool,
}

impl Gate {
    fn new(n: usize) -> Self {
        Gate {
            n,
            state: Mutex::new(GateState::default()),
            cv: Condvar::new(),
        }
    }

    /// Wait until every worker is here; `false` if a worker died.
    fn wait(&self) -> bool {
        let mut s = lock(&self.state);
        if s.broken {
            return false;
        }
        let generation = s.generation;
        s.arrived = s.arrived.saturating_add(1);
        if s.arrived >= self.n {
            s.arrived = 0;
            s.generation = s.generation.wrapping_add(1);
            self.cv.notify_all();
            return true;
        }
        while s.generation == generation && !s.broken {
            s = self.cv.wait(s).unwrap_or_else(PoisonError::into_inner);
        }
        s.generation != generation
    }

    fn break_down(&self) {
        lock(&self.state).broken = true;
        self.cv.notify_all();
    }
}

/// Breaks the gate if its worker unwinds.
struct BreaksOnPanic<'g>(&'g Gate);

impl Drop for BreaksOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.break_down();
        }
    }
}

/// What a worker is sent.
enum Work {
    Round(Arc<Round>),
    /// The input ended: held fragments are given back, every flow ends.
    Finish,
}

/// A worker's answer to a round.
struct Answer {
    /// Per template, the records encoded.
    pending: Vec<Pending>,
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
}

/// What every worker is given.
struct Setup {
    w: usize,
    n: usize,
    biflow: bool,
    dissect: DissectOptions,
    records: Arc<Records>,
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
                records: Arc::clone(records),
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
        })
    }

    /// Hand a captured frame to the workers (in the next round); answers
    /// taken are appended to `pending` (their record count returned).
    pub fn frame(&mut self, p: &Packet<'_>, pending: &mut [Pending]) -> Result<usize> {
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
    fn take_answers(&mut self, pending: &mut [Pending]) -> Result<usize> {
        let mut n = 0usize;
        for w in &mut self.all {
            let a = w.from.recv().map_err(|_| gone())??;
            for (into, p) in pending.iter_mut().zip(&a.pending) {
                into.bytes.extend_from_slice(&p.bytes);
                into.count = into.count.saturating_add(p.count);
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
    pub fn finish(&mut self, pending: &mut [Pending]) -> Result<usize> {
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

/// A worker's state besides its table.
struct State<'s> {
    setup: &'s Setup,
    /// Takes the worker's shares apart (fragments passed through).
    share: Dissector,
    /// Assigns every fragment of the input, in order.
    fragments: Dissector,
    /// The latest time of any IP packet so far (every worker's), which
    /// one table of every flow would have as its clock.
    clock: i64,
    metered: u64,
}

impl State<'_> {
    /// The worker owning the flow of `p`.
    #[inline]
    fn owner(&self, p: &FlowPacket) -> u32 {
        let n = self.setup.n as u64;
        u32::try_from(p.key.spread().checked_rem(n).unwrap_or(0)).unwrap_or(0)
    }

    fn mine(&self) -> u32 {
        u32::try_from(self.setup.w).unwrap_or(FRAGMENT)
    }

    /// Phase 1: the worker's share of `r` taken apart into its part.
    fn take_apart(&mut self, r: &Round) {
        let mut part = lock(&r.parts[self.setup.w]);
        part.seen.clear();
        part.packets.clear();
        for i in r.share(self.setup.w, self.setup.n) {
            let p = r.packet(&r.frames[i]);
            let biflow = self.setup.biflow;
            let got = self
                .share
                .frame_with(&p, |d| (!d.ip.fragment).then(|| FlowPacket::of(d, biflow)));
            match got {
                Framed::Packet(Some(fp)) => {
                    let seen = Seen {
                        ts_ns: fp.ts_ns,
                        owner: self.owner(&fp),
                        index: u32::try_from(part.packets.len()).unwrap_or(u32::MAX),
                    };
                    part.seen.push(seen);
                    part.packets.push(fp);
                }
                Framed::Packet(None) => part.seen.push(Seen {
                    ts_ns: p.ts_ns,
                    owner: FRAGMENT,
                    index: u32::try_from(i).unwrap_or(u32::MAX),
                }),
                Framed::Held | Framed::NotIp(_) => {}
            }
        }
    }

    /// A packet of the worker's flows, in input order: the table's clock
    /// is first set to the latest time before it (so timeouts and
    /// out-of-order packets are as in one table of every flow).
    #[inline]
    fn meter(&mut self, table: &mut Table, fp: &FlowPacket) {
        self.metered = self.metered.saturating_add(1);
        table.tick(self.clock);
        table.observe(fp);
    }

    /// A packet assigned in phase 2 (a fragment, or one given back).
    fn assigned(&mut self, table: &mut Table, fp: &FlowPacket) {
        if self.owner(fp) == self.mine() {
            self.meter(table, fp);
        }
    }

    /// Held fragments given back.
    fn released(&mut self, table: &mut Table) {
        while let Some(d) = self.fragments.next_released() {
            let fp = FlowPacket::of(&d, self.setup.biflow);
            self.assigned(table, &fp);
        }
    }

    /// Phase 2: every part of `r` in frame order; the worker meters its
    /// flows' packets and keeps the clock on all of them.
    fn walk(&mut self, table: &mut Table, r: &Round) {
        let mine = self.mine();
        for part in &r.parts {
            let part = lock(part);
            for s in &part.seen {
                if s.owner == FRAGMENT {
                    let p = r.packet(&r.frames[s.index as usize]);
                    // Taken apart in phase 1, so it parses again.
                    let biflow = self.setup.biflow;
                    let got = self.fragments.frame_with(&p, |d| FlowPacket::of(d, biflow));
                    if let Framed::Packet(fp) = got {
                        self.assigned(table, &fp);
                    }
                } else {
                    self.fragments.advance(s.ts_ns);
                    if s.owner == mine {
                        if let Some(fp) = part.packets.get(s.index as usize) {
                            self.meter(table, fp);
                        }
                    }
                }
                self.clock = self.clock.max(s.ts_ns);
                self.released(table);
            }
        }
        // Records idle by the end of the round end now, not at the
        // worker's next packet.
        table.tick(self.clock);
    }

    fn answer(&self, table: &mut Table, records: usize, pending: Vec<Pending>) -> Answer {
        Answer {
            pending,
            records,
            table: table.stats.clone(),
            dissect: self.share.stats(),
            fragments: (self.setup.w == 0).then(|| self.fragments.stats()),
            metered: self.metered,
            open: table.len(),
        }
    }
}

/// A worker's loop: rounds in, answers out, until the inbox closes.
fn work(setup: &Setup, table: &mut Table, inbox: &Receiver<Work>, outbox: &Sender<Result<Answer>>) {
    let _breaks = BreaksOnPanic(&setup.gate);
    let templates = setup.records.templates().count();
    let mut st = State {
        setup,
        share: Dissector::new(DissectOptions {
            fragments: FragmentMode::Pass,
            ..setup.dissect
        }),
        fragments: Dissector::new(DissectOptions {
            fragments: FragmentMode::Assign,
            ..setup.dissect
        }),
        clock: i64::MIN,
        metered: 0,
    };
    while let Ok(job) = inbox.recv() {
        let last = match job {
            Work::Round(r) => {
                st.take_apart(&r);
                if !setup.gate.wait() {
                    let _ = outbox.send(Err(gone()));
                    return;
                }
                st.walk(table, &r);
                // The round is let go before the answer, so the meter
                // can reuse it.
                drop(r);
                false
            }
            Work::Finish => {
                st.fragments.finish();
                st.released(table);
                table.finish();
                true
            }
        };
        let mut pending: Vec<Pending> = (0..templates).map(|_| Pending::default()).collect();
        let answer = encode_ended(&setup.records, &mut table.ended, &mut pending)
            .map(|n| st.answer(table, n, pending));
        if outbox.send(answer).is_err() || last {
            return;
        }
    }
}
