//! What passes between the meter and its workers: a worker's round of
//! frames ([`Batch`]), the messages it is sent ([`Work`]) and its answers
//! ([`Answer`]).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use super::{LayoutKey, Pending, ROUND, ROUND_BYTES};
use crate::error::Error;
use crate::meter::table::TableStats;
use crate::packet::DissectStats;
use crate::pcap::{InMemory, Packet};
use crate::source::input::Whole;

use super::walk::SharedWalk;

/// A frame handed to a worker: where its bytes are, what its record
/// said, and the capture's clock before it. In a worker's round
/// ([`Batch`]) its bytes are copied into the round's; in a list of a walk
/// in turns (`walk.rs`) they lie where the reader found them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Frame {
    /// Where its bytes start in their source ...
    pub(crate) start: usize,
    pub(crate) len: u32,
    /// ... and which source that is (a walk's lists have several).
    pub(crate) src: u32,
    pub(crate) orig_len: u32,
    pub(crate) linktype: u16,
    pub(crate) ts_ns: i64,
    pub(crate) number: u64,
    pub(crate) offset: u64,
    /// The capture's clock before this frame (`i64::MIN`: none yet).
    pub(crate) before: i64,
}

impl Frame {
    /// `p`'s frame, its bytes at `start` of source `src`, after the
    /// capture's clock was `before`.
    #[inline]
    pub(crate) fn of(p: &Packet<'_>, start: usize, src: u32, before: i64) -> Self {
        Frame {
            start,
            // A record's captured length is a 32-bit field.
            len: p.data.len() as u32,
            src,
            orig_len: p.orig_len,
            linktype: p.linktype,
            ts_ns: p.ts_ns,
            number: p.number,
            offset: p.offset,
            before,
        }
    }

    /// Where its bytes are in its source.
    #[inline]
    pub(crate) fn range(&self) -> std::ops::Range<usize> {
        self.start..self.start.saturating_add(self.len as usize)
    }

    /// The packet again, with its bytes (`None`: not there).
    #[inline]
    pub(crate) fn packet<'a>(&self, data: Option<&'a [u8]>) -> Packet<'a> {
        Packet {
            linktype: self.linktype,
            ts_ns: self.ts_ns,
            data: data.unwrap_or_default(),
            orig_len: self.orig_len,
            number: self.number,
            offset: self.offset,
        }
    }
}

/// A worker's frames of one round.
#[derive(Default)]
pub(crate) struct Batch {
    pub(crate) bytes: Vec<u8>,
    pub(crate) frames: Vec<Frame>,
    /// The capture's clock at the end of the round.
    pub(crate) clock: i64,
    /// Buffers for the records it ends (emptied, their capacity kept).
    pub(crate) pending: Vec<Pending>,
}

impl Batch {
    pub(crate) fn new() -> Self {
        Batch {
            bytes: Vec::with_capacity(ROUND_BYTES.saturating_add(64 << 10)),
            frames: Vec::with_capacity(ROUND),
            ..Batch::default()
        }
    }

    pub(crate) fn packet(&self, f: &Frame) -> Packet<'_> {
        f.packet(self.bytes.get(f.range()))
    }

    pub(crate) fn clear(&mut self) {
        self.bytes.clear();
        self.frames.clear();
    }
}

/// What a worker is sent.
pub(crate) enum Work {
    Round(Batch),
    /// Meter this capture, walked by the workers in turns, answering
    /// every round, until it ends or fails.
    Walk(Arc<SharedWalk>),
    /// An answered round's buffers back, for a worker metering a walked
    /// capture (the only message it is sent meanwhile).
    Spare(Batch),
    /// The input ended: held fragments are given back, every flow ends.
    Finish,
}

/// A worker's answer to a round.
pub(crate) struct Answer {
    /// The round, given back for reuse (its record buffers emptied by
    /// the meter).
    pub(crate) batch: Batch,
    /// Per template of the worker's own [`Records`](super::Records), the records encoded,
    /// and what picked each template (the meter's index may differ).
    pub(crate) keys: Vec<Option<LayoutKey>>,
    pub(crate) records: usize,
    pub(crate) table: TableStats,
    pub(crate) dissect: DissectStats,
    /// Packets accounted to its flows so far.
    pub(crate) metered: u64,
    pub(crate) open: usize,
    /// Reading a file itself: where it is in the file, and whether the
    /// file ended (or failed) with this round.
    pub(crate) read: Option<(u64, Option<ReadEnd>)>,
}

/// How a capture the workers read themselves ended.
#[derive(Clone)]
pub enum ReadEnd {
    End,
    /// The capture fails here (read once by the walk, reported by every
    /// worker).
    Failed(Error),
}

/// A capture file mapped once and read by every worker: its pages are
/// faulted in by whichever worker touches them first (mostly the one
/// walking) and handed back to the kernel once the walk and every worker
/// are past them (with a mapping of its own
/// for each worker, every page was faulted in and its entry torn down
/// once per worker: page faults 6.1% and `madvise` 3.0% of the workers'
/// samples on the snaplen-96 bench capture, `BENCHMARKS.md`).
pub(crate) struct SharedCapture {
    whole: Whole,
    /// How far each worker has asked to hand pages back.
    asked: Vec<AtomicUsize>,
    /// How far they are handed back; the lock orders the hand-backs.
    released: Mutex<usize>,
}

impl SharedCapture {
    pub(crate) fn new(whole: Whole, workers: usize) -> Self {
        Self {
            whole,
            asked: (0..workers).map(|_| AtomicUsize::new(0)).collect(),
            released: Mutex::new(0),
        }
    }

    /// How far the pages are handed back.
    #[cfg(test)]
    pub(crate) fn released(&self) -> usize {
        self.released.lock().map_or(0, |d| *d)
    }
}

/// One worker's view of a [`SharedCapture`].
pub(crate) struct SharedView {
    pub(crate) capture: Arc<SharedCapture>,
    pub(crate) worker: usize,
}

impl SharedCapture {
    /// Worker (or walk) `who` is past everything before `at`: pages
    /// behind the least of every one's `at` go back to the kernel.
    pub(crate) fn past(&self, who: usize, at: usize) {
        if let Some(a) = self.asked.get(who) {
            a.fetch_max(at, Ordering::Relaxed);
        }
        let all = self
            .asked
            .iter()
            .map(|a| a.load(Ordering::Relaxed))
            .min()
            .unwrap_or(0);
        // Another worker handing pages back meanwhile is not waited for:
        // the next call takes them.
        let Ok(mut done) = self.released.try_lock() else {
            return;
        };
        if all > *done {
            self.whole.release(*done..all);
            *done = all;
        }
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        self.whole.bytes()
    }
}

impl InMemory for SharedView {
    fn bytes(&self) -> &[u8] {
        self.capture.whole.bytes()
    }

    /// Pages behind `range.end` are handed back once every party (each
    /// worker, and the walk) has asked for as much (one asks only for
    /// what it is past).
    fn release(&self, range: std::ops::Range<usize>) {
        self.capture.past(self.worker, range.end);
    }
}
