//! Metering on several threads, flows spread over workers by their IP
//! address pair ([`crate::packet::address_spread`]: the same for both
//! directions of a flow, and for every fragment of a datagram, whose
//! later fragments carry no ports). The calling thread only reads: it
//! copies each frame into the round of the worker owning its address
//! pair (frames without an IP packet go to worker 0), with the capture's
//! clock before it (the latest time of any frame so far). Each worker
//! takes its frames apart with its own [`crate::packet::Dissector`]
//! (fragments assigned to their first fragment's flow, as in one meter:
//! all of a datagram's fragments are its own) and holds a [`Table`] of
//! its flows. Before each frame it sets the dissector's and the table's
//! clocks to the capture's ([`Table::tick`]), and at the end of each
//! round to the round's, so every record idles out, every fragment
//! expires and every packet counts as out of order as in one meter of
//! every frame (which keeps the same clock, [`super::Meter::packet`]).
//!
//! So taking packets apart, the flow tables, the TCP analysis and the
//! record encoding run in parallel; reading stays on the calling thread.
//! Frames go out in rounds (8192 frames shared out among the
//! workers); each worker answers each round with the records it ended,
//! and the answers are taken round by round, worker by worker, so the
//! output is the same from one run to the next.
//!
//! One capture file (plain or compressed) can instead be read by the
//! workers themselves ([`Workers::read_file`]), walked in turns
//! (`walk.rs`): whichever worker needs the next round walks it, placing
//! each frame in the list of the worker owning its address pair with the
//! capture's clock before it (so every worker's clocks are the capture's,
//! as above); each takes apart and meters its own frames where they lie:
//! in the file, mapped once for all (its pages handed back once the walk
//! and every worker are past them), or in the blocks a thread reads (a
//! file of records far apart) or decompresses ahead. Nothing is copied
//! from thread to thread but where frames lie and the records, and the
//! calling thread only takes the answers, round by round (8192 frames or
//! 1 MiB of the capture), worker by worker.
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
//!   reached differs (and likewise the fragment tables' caps).
//!
//! Flows spread by address pair: a capture of few host pairs keeps few
//! workers busy. With `decapsulate`, the pair is the tunnel's outer one:
//! an inner flow carried between different tunnel endpoints in its two
//! directions would be split between workers.

use std::path::Path;
use std::sync::mpsc::{channel, sync_channel, Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;

mod round;
#[cfg(test)]
mod tests;
mod walk;
mod worker;

pub use round::ReadEnd;
use round::{Answer, Batch, Frame, Work};
use walk::SharedWalk;

use worker::work;

use super::record::{LayoutKey, Records};
use super::table::{Table, TableOptions, TableStats};
use super::Pending;
use crate::error::{Error, ErrorKind, Result};
use crate::packet::{address_spread, DissectOptions, DissectStats};
use crate::pcap::Packet;
use crate::source::input::Opened;

/// Frames per round (all workers' together).
#[cfg(not(test))]
const ROUND: usize = 8192;
/// Small in unit tests, so that their captures take many rounds.
#[cfg(test)]
const ROUND: usize = 61;
/// Frame octets per round (all workers' together): a round ends at
/// [`ROUND`] frames or at this many octets, whichever comes first, so a
/// worker's buffers, made this large, do not grow (a frame longer than
/// the rest of a buffer makes it grow once). Workers reading a file end
/// a round at this many octets of the file likewise, which bounds the
/// part of their shared mapping between the first and the last of them.
#[cfg(not(test))]
const ROUND_BYTES: usize = 1 << 20;
/// Small in unit tests, so that rounds end by their octets too.
#[cfg(test)]
const ROUND_BYTES: usize = 16 << 10;
/// Mean record octets (header included) under which workers read a plain
/// capture file mapped rather than read ahead by a thread
/// ([`Opened::path_by_density`]). Two workers on two CPUs, stage
/// `ipfix-2r`: mapped was faster for means of 103 and 153 octets (snaplen
/// 96 and 192), read ahead for 257 and 384 (snaplen 512, full payloads):
/// `BENCHMARKS.md`.
const DENSE_RECORD: u64 = 200;
/// Rounds sent and not yet answered before the meter waits for the oldest.
const IN_FLIGHT: usize = 3;
/// Answers a worker may have waiting to be taken: a worker reading a file
/// runs this many rounds ahead of the meter at most (more than
/// [`IN_FLIGHT`], so a worker handed rounds never waits to answer). Few,
/// because the workers' shared mapping holds what lies between the first
/// of them and the last (16 held 6-15 MiB more at the peak than 4, and
/// were no faster: `BENCHMARKS.md`).
const ANSWERS_AHEAD: usize = 4;

/// The worker of `n` owning an address pair of hash `spread` (a frame
/// without IP, hash 0, is worker 0's): the hash scaled to `0..n` by a
/// multiplication, not a division (which cost 2-3% of a worker reading a
/// file, every frame of which it places).
#[inline]
pub(super) fn worker_of(spread: u64, n: u64) -> u64 {
    // Two 64-bit factors: the product fits in 128 bits, never wraps.
    (u128::from(spread).wrapping_mul(u128::from(n)) >> 64) as u64
}

/// The worker of `n` owning frame `p`, and the capture's clock before
/// it (`clock`, the latest time of any frame so far, moves past it).
#[inline]
pub(super) fn placed(clock: &mut i64, p: &Packet<'_>, n: u64) -> (u64, i64) {
    let before = *clock;
    *clock = before.max(p.ts_ns);
    (worker_of(address_spread(p.linktype, p.data), n), before)
}

struct Worker {
    to: Sender<Work>,
    from: Receiver<Result<Answer>>,
    thread: Option<JoinHandle<()>>,
    /// The round being filled for it (its room made at the first frame
    /// handed over: workers reading their file themselves never use it).
    filling: Batch,
    /// Rounds answered, for reuse.
    spare: Vec<Batch>,
    table: TableStats,
    dissect: DissectStats,
    metered: u64,
    open: usize,
}

/// The workers of a meter.
pub struct Workers {
    all: Vec<Worker>,
    /// Frames and their octets in the round being filled.
    in_round: usize,
    round_bytes: usize,
    /// Rounds sent and not yet answered.
    in_flight: usize,
    /// The latest time of any frame handed out.
    clock: i64,
    /// The workers read a file themselves ([`Workers::read_file`]).
    reading: bool,
    /// Where they are in it, and whether they reached its end (or an
    /// error).
    position: u64,
    read_ended: bool,
    /// The meter's templates.
    records: Arc<Records>,
}

/// What every worker is given.
pub(super) struct Setup {
    /// This worker (its place among them).
    pub(super) w: u64,
    pub(super) dissect: DissectOptions,
    /// The worker's own templates (made in its own order; the meter
    /// numbers them in the order it takes the answers, so its output is
    /// the same from one run to the next).
    pub(super) records: Records,
}

impl Workers {
    /// `n` workers (at least 2 make sense) over tables with `opts`,
    /// taking frames apart with `dissect`.
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
        for w in 0..n {
            let (to, inbox) = channel::<Work>();
            // Bounded: a worker reading a file itself waits for the meter.
            let (outbox, from) = sync_channel::<Result<Answer>>(ANSWERS_AHEAD);
            let mut table = Table::new(per);
            table.number_flows((w as u64).saturating_add(1), n as u64);
            let setup = Setup {
                w: w as u64,
                dissect,
                records: records.fresh()?,
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
                filling: Batch::default(),
                spare: Vec::new(),
                table: TableStats::default(),
                dissect: DissectStats::default(),
                metered: 0,
                open: 0,
            });
        }
        Ok(Workers {
            all: workers,
            in_round: 0,
            round_bytes: 0,
            in_flight: 0,
            clock: i64::MIN,
            reading: false,
            position: 0,
            read_ended: false,
            records: Arc::clone(records),
        })
    }

    /// Hand a captured frame to the worker owning its address pair (in
    /// the next round); answers taken are appended to `pending` (their
    /// record count returned).
    #[inline]
    pub fn frame(&mut self, p: &Packet<'_>, pending: &mut Vec<Pending>) -> Result<usize> {
        if self.reading {
            return Err(Error::new(ErrorKind::Internal(
                "a frame handed to meter workers that read their file themselves".into(),
            )));
        }
        let n = self.all.len() as u64;
        let (w, before) = placed(&mut self.clock, p, n);
        if let Some(worker) = self.all.get_mut(usize::try_from(w).unwrap_or(0)) {
            let b = &mut worker.filling;
            if b.frames.capacity() == 0 {
                *b = Batch::new();
            }
            b.frames.push(Frame::of(p, b.bytes.len(), 0, before));
            b.bytes.extend_from_slice(p.data);
        }
        self.in_round = self.in_round.saturating_add(1);
        self.round_bytes = self.round_bytes.saturating_add(p.data.len());
        if self.in_round < ROUND && self.round_bytes < ROUND_BYTES {
            return Ok(0);
        }
        self.send_round()?;
        if self.in_flight > IN_FLIGHT {
            return self.take_answers(pending);
        }
        Ok(0)
    }

    fn send_round(&mut self) -> Result<()> {
        for w in &mut self.all {
            let next = w.spare.pop().unwrap_or_else(Batch::new);
            let mut batch = std::mem::replace(&mut w.filling, next);
            batch.clock = self.clock;
            w.to.send(Work::Round(batch)).map_err(|_| gone())?;
        }
        self.in_round = 0;
        self.round_bytes = 0;
        self.in_flight = self.in_flight.saturating_add(1);
        Ok(())
    }

    /// Have the workers read the capture file `path` themselves, walking
    /// it in turns (mapped once if plain with records close together,
    /// else read ahead, and decompressed, once by a thread),
    /// instead of being handed frames; before any frame. Rounds are then
    /// taken with [`Workers::read_round`].
    pub fn read_file(&mut self, path: &Path) -> Result<()> {
        // A plain file of records close together is mapped (its frames
        // read in place by every worker: on two CPUs faulting its pages in
        // cost the workers less than a thread copying it out in blocks
        // beside them); one of records far apart (full payloads), which
        // cost more to read in place, is read ahead in blocks by a thread,
        // as a compressed one is decompressed once, the workers reading
        // the blocks in place (`DENSE_RECORD`).
        let opened =
            Opened::path_by_density(path, DENSE_RECORD).map_err(|e| Error::os(&e, path))?;
        let walk = Arc::new(SharedWalk::new(opened, self.all.len())?);
        for w in &self.all {
            w.to.send(Work::Walk(Arc::clone(&walk)))
                .map_err(|_| gone())?;
        }
        self.reading = true;
        Ok(())
    }

    /// Whether the workers read a file themselves.
    pub fn reading(&self) -> bool {
        self.reading
    }

    /// Where the workers are in the file they read.
    pub fn position(&self) -> u64 {
        self.position
    }

    /// The workers reading a file: the answers to their next round, worker
    /// by worker, appended to `pending`; the records' count, and how the
    /// file ended if it did in this round.
    pub fn read_round(&mut self, pending: &mut Vec<Pending>) -> Result<(usize, Option<ReadEnd>)> {
        if self.read_ended {
            // The workers answer no more rounds.
            return Ok((0, Some(ReadEnd::End)));
        }
        self.in_flight = self.in_flight.saturating_add(1);
        let mut end = None;
        let mut read = None;
        let n = self.take_answers_with(pending, |r| {
            if let Some((at, e)) = r {
                read = Some(at);
                // The first worker's word (all read the same frames).
                if end.is_none() {
                    end = e;
                }
            }
        })?;
        if let Some(at) = read {
            self.position = at;
        }
        self.read_ended |= end.is_some();
        Ok((n, end))
    }

    /// The answers to the oldest round, worker by worker.
    fn take_answers(&mut self, pending: &mut Vec<Pending>) -> Result<usize> {
        self.take_answers_with(pending, |_| {})
    }

    /// [`Workers::take_answers`], each answer's reading news to `read`.
    fn take_answers_with(
        &mut self,
        pending: &mut Vec<Pending>,
        mut read: impl FnMut(Option<(u64, Option<ReadEnd>)>),
    ) -> Result<usize> {
        let mut n = 0usize;
        for w in &mut self.all {
            let mut a = w.from.recv().map_err(|_| gone())??;
            for (p, key) in a.batch.pending.iter_mut().zip(&a.keys) {
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
                    if into.bytes.is_empty() && into.bytes.capacity() <= p.bytes.capacity() {
                        // Taken over, not copied: the worker gets the
                        // meter's empty buffer back with the round. Only
                        // one no larger than its own: a buffer grown to a
                        // whole batch's records would otherwise pass to a
                        // worker, and the next one grown in its place, until
                        // rounds in flight held several (45-50 MB of the
                        // `arrow-2r` bench stage's peak, BENCHMARKS.md).
                        std::mem::swap(&mut into.bytes, &mut p.bytes);
                    } else {
                        into.bytes.extend_from_slice(&p.bytes);
                    }
                    into.count = into.count.saturating_add(p.count);
                }
                p.bytes.clear();
                p.count = 0;
            }
            n = n.saturating_add(a.records);
            w.table = a.table;
            w.dissect = a.dissect;
            w.metered = a.metered;
            w.open = a.open;
            read(a.read.take());
            a.batch.clear();
            if self.reading {
                // A worker gone is reported at its next answer.
                let _ = w.to.send(Work::Spare(a.batch));
            } else {
                w.spare.push(a.batch);
            }
        }
        self.in_flight = self.in_flight.saturating_sub(1);
        Ok(n)
    }

    /// The input ended: every worker ends its flows; every answer is
    /// taken and the workers stop.
    pub fn finish(&mut self, pending: &mut Vec<Pending>) -> Result<usize> {
        let mut n = 0usize;
        // Workers reading a file read it to its end first (they take no
        // other message while they read).
        while self.reading && !self.read_ended {
            n = n.saturating_add(self.read_round(pending)?.0);
        }
        if self.in_round > 0 {
            self.send_round()?;
        }
        while self.in_flight > 0 {
            n = n.saturating_add(self.take_answers(pending)?);
        }
        for w in &self.all {
            w.to.send(Work::Finish).map_err(|_| gone())?;
        }
        self.in_flight = 1;
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

    /// The dissectors' counters summed, as of the answers taken.
    pub fn dissect_stats(&self) -> DissectStats {
        let mut s = DissectStats::default();
        for w in &self.all {
            s.add(&w.dissect);
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
            // A closed inbox ends the worker's loop; a closed outbox ends
            // a worker reading a file, waiting to hand over a round.
            let (dead, _) = channel();
            drop(std::mem::replace(&mut w.to, dead));
            let (_, dead) = sync_channel(0);
            drop(std::mem::replace(&mut w.from, dead));
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

pub(super) fn gone() -> Error {
    Error::new(ErrorKind::Internal("a meter worker stopped".into()))
}
