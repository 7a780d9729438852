//! A capture mapped once and walked by the workers in turns: whichever
//! worker needs a round not yet walked (or, having its own, finds the
//! walk free and few rounds walked ahead) takes the one reader, finds the
//! next round's frames and the worker owning each, and leaves every
//! worker its list of them (where each frame lies in the mapping, and the
//! capture's clock before it). So each frame is found and placed once,
//! not once per worker (each walking every frame cost a worker 0.75 of
//! the 4.9 units of its profile, against one meter's 0.37:
//! `BENCHMARKS.md`), and a worker running ahead walks more of the rounds,
//! which slows it to the others' pace.
//!
//! Pages of the mapping go back to the kernel once the walk and every
//! worker are past them ([`SharedCapture::past`]).

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use super::round::{Frame, SharedCapture, SharedView};
use super::{worker_of, ReadEnd, ROUND, ROUND_BYTES};
use crate::error::Result;
use crate::packet::address_spread;
use crate::pcap::{CaptureReader, Packet};
use crate::source::input::Whole;
use crate::source::DynRead;

/// Rounds a worker walks beyond the one it is about to meter (when the
/// walk is free), so that another worker rarely waits for its next.
const WALK_AHEAD: u64 = 2;

/// Pages are handed back in steps of this many octets of the file.
const HAND_BACK: usize = 2 << 20;

/// A worker's frames of one walked round.
#[derive(Default)]
pub(crate) struct Walked {
    /// Where each frame's bytes are: in the mapping, or (at
    /// `start - mapping length`) in `bytes` for one the reader did not
    /// read in place (a reader of a capture in memory reads every frame
    /// in place: this only keeps the walk right should that change).
    frames: Vec<Frame>,
    bytes: Vec<u8>,
    /// The capture's clock at the end of the round.
    pub(crate) clock: i64,
    /// Where the round ends in the file, and whether the capture ended
    /// (or failed) with it.
    pub(crate) position: u64,
    pub(crate) end: Option<ReadEnd>,
}

impl Walked {
    /// Room for a whole round's frames: a list grown as it is filled was
    /// given fresh pages for each step (zeroed by the kernel, 2.8% of the
    /// workers' samples), and lists pass from worker to worker.
    fn with_room() -> Self {
        Walked {
            frames: Vec::with_capacity(ROUND),
            ..Walked::default()
        }
    }

    #[inline]
    fn push(&mut self, p: &Packet<'_>, before: i64, mapped: &[u8]) {
        let at = (p.data.as_ptr() as usize).wrapping_sub(mapped.as_ptr() as usize);
        let start = if at <= mapped.len() && p.data.len() <= mapped.len().saturating_sub(at) {
            at
        } else {
            let start = mapped.len().saturating_add(self.bytes.len());
            self.bytes.extend_from_slice(p.data);
            start
        };
        self.frames.push(Frame {
            start,
            len: p.data.len(),
            orig_len: p.orig_len,
            linktype: p.linktype,
            ts_ns: p.ts_ns,
            number: p.number,
            offset: p.offset,
            before,
        });
    }

    /// The frames, in capture order, each with the capture's clock before
    /// it.
    pub(crate) fn frames<'a>(
        &'a self,
        mapped: &'a [u8],
    ) -> impl Iterator<Item = (Packet<'a>, i64)> + 'a {
        self.frames.iter().map(move |f| {
            let end = f.start.saturating_add(f.len);
            let data = if end <= mapped.len() {
                mapped.get(f.start..end)
            } else {
                let at = f.start.saturating_sub(mapped.len());
                self.bytes.get(at..at.saturating_add(f.len))
            };
            let p = Packet {
                linktype: f.linktype,
                ts_ns: f.ts_ns,
                data: data.unwrap_or_default(),
                orig_len: f.orig_len,
                number: f.number,
                offset: f.offset,
            };
            (p, f.before)
        })
    }

    fn clear(&mut self) {
        self.frames.clear();
        self.bytes.clear();
        self.end = None;
    }
}

struct State {
    /// The reader, `None` while a worker walks with it.
    reader: Option<CaptureReader<DynRead>>,
    /// Rounds walked, and the capture's clock after them.
    walked: u64,
    clock: i64,
    /// The capture ended or failed: no round is walked after.
    over: bool,
    /// A worker stopped: nothing more is walked or taken.
    stopped: bool,
    /// Per worker, its lists of the rounds walked and not yet taken,
    /// oldest first.
    lists: Vec<VecDeque<Walked>>,
    /// Lists metered, for reuse.
    spare: Vec<Walked>,
}

/// A capture every worker meters its own frames of, walked in turns.
pub(crate) struct SharedWalk {
    capture: Arc<SharedCapture>,
    state: Mutex<State>,
    /// A round walked, the walk free again, or over.
    changed: Condvar,
    workers: usize,
}

impl SharedWalk {
    /// The capture mapped in `whole`, for `workers` workers (an error if
    /// it is not one: its header is read here).
    pub(crate) fn new(whole: Whole, workers: usize) -> Result<Self> {
        let workers = workers.max(1);
        // One more asker than workers: the walk itself.
        let capture = Arc::new(SharedCapture::new(whole, workers.saturating_add(1)));
        let view = SharedView {
            capture: Arc::clone(&capture),
            worker: workers,
        };
        let reader =
            CaptureReader::from_whole(Box::new(view), Box::new(std::io::empty()) as DynRead)?;
        Ok(SharedWalk {
            capture,
            state: Mutex::new(State {
                reader: Some(reader),
                walked: 0,
                clock: i64::MIN,
                over: false,
                stopped: false,
                lists: (0..workers).map(|_| VecDeque::new()).collect(),
                spare: Vec::new(),
            }),
            changed: Condvar::new(),
            workers,
        })
    }

    /// The mapped capture.
    pub(crate) fn bytes(&self) -> &[u8] {
        self.capture.bytes()
    }

    fn lock(&self) -> Option<MutexGuard<'_, State>> {
        self.state.lock().ok()
    }

    /// Worker `w`'s frames of its next round, walking rounds as needed;
    /// `None` when no more come (a worker stopped, or the capture ended
    /// with the last list taken).
    pub(crate) fn take(&self, w: usize) -> Option<Walked> {
        let mut g = self.lock()?;
        loop {
            if g.stopped {
                return None;
            }
            // Lists waiting for this worker (the first is its next round).
            let have = g.lists.get(w).map_or(0, VecDeque::len) as u64;
            // Walk when it has nothing to meter, or when the walk is free
            // and it has few rounds walked beyond its next.
            if g.reader.is_some() && !g.over && have <= WALK_AHEAD {
                g = self.walk_round(g)?;
                continue;
            }
            if have > 0 {
                return g.lists.get_mut(w)?.pop_front();
            }
            if g.over && g.reader.is_some() {
                return None;
            }
            g = self.changed.wait(g).ok()?;
        }
    }

    /// Walk the next round (the lock let go meanwhile).
    fn walk_round<'g>(&'g self, mut g: MutexGuard<'g, State>) -> Option<MutexGuard<'g, State>> {
        let mut reader = g.reader.take()?;
        let mut lists: Vec<Walked> = (0..self.workers)
            .map(|_| g.spare.pop().unwrap_or_else(Walked::with_room))
            .collect();
        let mut clock = g.clock;
        drop(g);
        // Should the walk end abruptly (it does not panic), the others
        // are told it is over rather than left waiting.
        let mut guard = Over(self, true);
        let end = walk(&mut reader, self.bytes(), &mut clock, &mut lists);
        let position = reader.position();
        guard.1 = false;
        let mut g = self.lock()?;
        g.walked = g.walked.saturating_add(1);
        g.clock = clock;
        g.over |= end.is_some();
        g.reader = Some(reader);
        for (into, mut l) in g.lists.iter_mut().zip(lists) {
            l.clock = clock;
            l.position = position;
            l.end.clone_from(&end);
            into.push_back(l);
        }
        self.changed.notify_all();
        Some(g)
    }

    /// Worker `w` metered a list: it is past its round, and the list is
    /// kept for reuse.
    pub(crate) fn done(&self, w: usize, mut list: Walked) {
        let at = usize::try_from(list.position).unwrap_or(usize::MAX) & !(HAND_BACK - 1);
        self.capture.past(w, at);
        list.clear();
        if let Some(mut g) = self.lock() {
            g.spare.push(list);
        }
    }

    /// How far the mapping's pages are handed back.
    #[cfg(test)]
    pub(crate) fn released(&self) -> usize {
        self.capture.released()
    }

    /// A worker stops: no other waits for it to walk.
    pub(crate) fn stop(&self) {
        if let Some(mut g) = self.lock() {
            g.stopped = true;
        }
        self.changed.notify_all();
    }
}

/// A walk left unfinished: the others are told it is over.
struct Over<'a>(&'a SharedWalk, bool);

impl Drop for Over<'_> {
    fn drop(&mut self) {
        if self.1 {
            self.0.stop();
        }
    }
}

/// The next round of `reader` (the capture in `mapped`): each frame into
/// the list of the worker owning its address pair, with the capture's
/// clock before it. How the capture ended, if it did.
fn walk(
    reader: &mut CaptureReader<DynRead>,
    mapped: &[u8],
    clock: &mut i64,
    lists: &mut [Walked],
) -> Option<ReadEnd> {
    let n = lists.len() as u64;
    let start = reader.position();
    let mut place = |p: &Packet<'_>| {
        let before = *clock;
        *clock = before.max(p.ts_ns);
        let w = worker_of(address_spread(p.linktype, p.data), n);
        if let Some(l) = lists.get_mut(usize::try_from(w).unwrap_or(0)) {
            l.push(p, before, mapped);
        }
    };
    for _ in 0..ROUND {
        // A round ends at `ROUND` frames or `ROUND_BYTES` of the file, so
        // the workers, which answer at most `ANSWERS_AHEAD` rounds apart,
        // hold at most that many octets of the mapping between them.
        if reader.position().saturating_sub(start) >= ROUND_BYTES as u64 {
            return None;
        }
        // The common record first (see `CaptureReader::next_fast`).
        if let Some(p) = reader.next_fast() {
            place(&p);
            continue;
        }
        match reader.next_packet() {
            Ok(Some(p)) => place(&p),
            Ok(None) => return Some(ReadEnd::End),
            Err(e) => return Some(ReadEnd::Failed(e)),
        }
    }
    None
}
