//! A capture walked by the workers in turns: whichever worker needs a
//! round not yet walked (or, having its own, finds the walk free and few
//! rounds walked ahead) takes the one reader, finds the next round's
//! frames and the worker owning each, and leaves every worker its list of
//! them (where each frame lies, and the capture's clock before it). So
//! each frame is found and placed once, not once per worker (each walking
//! every frame cost a worker 0.75 of the 4.9 units of its profile, against
//! one meter's 0.37: `BENCHMARKS.md`), and a worker running ahead walks
//! more of the rounds, which slows it to the others' pace.
//!
//! A plain file of records close together is mapped once for all: its
//! pages go back to the kernel once the walk and every worker are past
//! them ([`SharedCapture::past`]). One of records far apart is read in
//! blocks ([`Block`]) by the walk itself, whichever worker walks (a thread
//! reading ahead beside the workers took CPU from them), and a compressed
//! one decompressed once by a thread ahead (which: [`super::Workers::read_file`]);
//! the lists hold the blocks their frames lie in, and a block's buffer
//! is read into again once the last list holding it has been metered.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use super::round::{Frame, SharedCapture, SharedView};
use super::{ReadEnd, ROUND, ROUND_BYTES};
use crate::error::Result;
use crate::pcap::{Block, CaptureReader, Packet};
use crate::source::input::{Body, Opened};
use crate::source::DynRead;

/// Rounds a worker walks beyond the one it is about to meter (when the
/// walk is free), so that another worker rarely waits for its next. On
/// the full-payload bench capture, where walking a round (faulting its
/// pages in) takes about as long as metering a worker's half of it, 1
/// left the workers waiting (`ipfix-notcp-2r` 0.124-0.130 s against
/// 0.112-0.119 s with 2-4; 6 took 0.147-0.155 s: `BENCHMARKS.md`).
const WALK_AHEAD: u64 = 2;

/// Pages are handed back in steps of this many octets of the file.
const HAND_BACK: usize = 2 << 20;

/// Where a placed frame's bytes are: its [`Frame::src`] is the index of a
/// block among its list's, or one of these.
const IN_MAPPING: u32 = u32::MAX;
const IN_LIST: u32 = u32::MAX - 1;

/// Where `len` bytes at address `addr` start in `s`, if they lie there.
#[inline]
fn within(addr: usize, len: usize, s: &[u8]) -> Option<usize> {
    let at = addr.wrapping_sub(s.as_ptr() as usize);
    (at <= s.len() && len <= s.len().saturating_sub(at)).then_some(at)
}

/// A worker's frames of one walked round.
#[derive(Default)]
pub(crate) struct Walked {
    /// Each frame with where its bytes are: in the mapping of a capture
    /// in memory, in a block read from a stream (kept here until the list
    /// is metered), or copied into `bytes` (a record the reader did not
    /// read in place: one across two blocks).
    frames: Vec<Frame>,
    blocks: Vec<Arc<Block>>,
    bytes: Vec<u8>,
    /// The capture's clock at the end of the round.
    pub(crate) clock: i64,
    /// Where the round ends in the capture, and whether the capture ended
    /// (or failed) with it.
    pub(crate) position: u64,
    pub(crate) end: Option<ReadEnd>,
}

impl Walked {
    /// Room for a whole round's frames, so that a list (lists pass from
    /// worker to worker, and a round's frames may all be one worker's) is
    /// not grown again as it is filled.
    fn with_room() -> Self {
        Walked {
            frames: Vec::with_capacity(ROUND),
            ..Walked::default()
        }
    }

    /// Place `p`, whose bytes lie at `mapped` in the capture in memory,
    /// in `block`, or (copied here) elsewhere.
    #[inline]
    fn push(
        &mut self,
        p: &Packet<'_>,
        before: i64,
        mapped: Option<usize>,
        block: Option<&Arc<Block>>,
    ) {
        let (addr, len) = (p.data.as_ptr() as usize, p.data.len());
        let (src, start) = if let Some(at) = mapped {
            (IN_MAPPING, at)
        } else if let Some((b, at)) =
            block.and_then(|b| within(addr, len, b.bytes()).map(|at| (b, at)))
        {
            if !self.blocks.last().is_some_and(|l| Arc::ptr_eq(l, b)) {
                self.blocks.push(Arc::clone(b));
            }
            (self.blocks.len().saturating_sub(1) as u32, at)
        } else {
            let at = self.bytes.len();
            self.bytes.extend_from_slice(p.data);
            (IN_LIST, at)
        };
        self.frames.push(Frame::of(p, start, src, before));
    }

    /// The frames, in capture order, each with the capture's clock before
    /// it (`mapped`: the capture in memory, if it is).
    pub(crate) fn frames<'a>(
        &'a self,
        mapped: &'a [u8],
    ) -> impl Iterator<Item = (Packet<'a>, i64)> + 'a {
        self.frames.iter().map(move |f| {
            let data = match f.src {
                IN_MAPPING => mapped.get(f.range()),
                IN_LIST => self.bytes.get(f.range()),
                b => self
                    .blocks
                    .get(b as usize)
                    .and_then(|b| b.bytes().get(f.range())),
            };
            (f.packet(data), f.before)
        })
    }

    /// Frames copied into the list, and all.
    #[cfg(test)]
    pub(crate) fn copied(&self) -> (usize, usize) {
        let copied = self.frames.iter().filter(|f| f.src == IN_LIST).count();
        (copied, self.frames.len())
    }

    fn clear(&mut self) {
        self.frames.clear();
        // Blocks let go go back to the reading thread.
        self.blocks.clear();
        self.bytes.clear();
        self.end = None;
    }
}

struct State {
    /// The reader, `None` while a worker walks with it.
    reader: Option<CaptureReader<DynRead>>,
    /// The capture's clock after the rounds walked.
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
    /// The capture, when it is in memory (a pcapng file is mapped: its
    /// blocks are read in place only from memory); else it is a stream,
    /// read in blocks that the lists keep.
    capture: Option<Arc<SharedCapture>>,
    state: Mutex<State>,
    /// A round walked, the walk free again, or over.
    changed: Condvar,
    workers: usize,
}

impl SharedWalk {
    /// The capture `opened` (a mapped file, or a stream, read in blocks
    /// by a thread ahead, [`Opened::ahead`], or else by the walk itself:
    /// its frames are read where they lie), for
    /// `workers` workers; an error if it is not a capture (its header is
    /// read here).
    pub(crate) fn new(opened: Opened, workers: usize) -> Result<Self> {
        let workers = workers.max(1);
        let (capture, reader) = match opened {
            Opened {
                body: Body::Whole(whole),
                capture: true,
                ..
            } => {
                // One more asker than workers: the walk itself.
                let capture = Arc::new(SharedCapture::new(whole, workers.saturating_add(1)));
                let view = SharedView {
                    capture: Arc::clone(&capture),
                    worker: workers,
                };
                let reader = CaptureReader::from_whole(
                    Box::new(view),
                    Box::new(std::io::empty()) as DynRead,
                )?;
                (Some(capture), reader)
            }
            other => {
                let mut reader = other.into_capture()?;
                // Records are read where they lie in the blocks (read
                // ahead by a thread, or here by the walk), which the lists
                // keep.
                reader.read_in_blocks();
                reader.read_in_buffer();
                (None, reader)
            }
        };
        Ok(SharedWalk {
            capture,
            state: Mutex::new(State {
                reader: Some(reader),
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

    /// The capture in memory (empty for a stream).
    pub(crate) fn bytes(&self) -> &[u8] {
        self.capture.as_ref().map_or(&[], |c| c.bytes())
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
        let mut guard = Stopping::armed(self);
        let end = walk(&mut reader, self.bytes(), &mut clock, &mut lists);
        let position = reader.position();
        guard.disarm();
        let mut g = self.lock()?;
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
        if let Some(c) = &self.capture {
            let at = usize::try_from(list.position).unwrap_or(usize::MAX) & !(HAND_BACK - 1);
            c.past(w, at);
        }
        list.clear();
        if let Some(mut g) = self.lock() {
            g.spare.push(list);
        }
    }

    /// How far the mapping's pages are handed back.
    #[cfg(test)]
    pub(crate) fn released(&self) -> usize {
        self.capture.as_ref().map_or(0, |c| c.released())
    }

    /// A worker stops: no other waits for it to walk.
    pub(crate) fn stop(&self) {
        if let Some(mut g) = self.lock() {
            g.stopped = true;
        }
        self.changed.notify_all();
    }
}

/// A worker that stops (or a walk that ends) before the capture's end,
/// armed: dropped armed, it stops the walk ([`SharedWalk::stop`]), so no
/// other worker waits for a walk that will not come.
pub(crate) struct Stopping<'a>(&'a SharedWalk, bool);

impl<'a> Stopping<'a> {
    pub(crate) fn armed(walk: &'a SharedWalk) -> Self {
        Stopping(walk, true)
    }

    pub(crate) fn disarm(&mut self) {
        self.1 = false;
    }
}

impl Drop for Stopping<'_> {
    fn drop(&mut self) {
        if self.1 {
            self.0.stop();
        }
    }
}

/// The next round of `reader` (the capture in `mapped`, when it is in
/// memory): each frame into the list of the worker owning its address
/// pair, with the capture's clock before it. How the capture ended, if it
/// did.
fn walk(
    reader: &mut CaptureReader<DynRead>,
    mapped: &[u8],
    clock: &mut i64,
    lists: &mut [Walked],
) -> Option<ReadEnd> {
    let n = lists.len() as u64;
    let start = reader.position();
    let mut place = |p: &Packet<'_>, at: Option<usize>, block: Option<&Arc<Block>>| {
        let (w, before) = super::placed(clock, p, n);
        if let Some(l) = lists.get_mut(usize::try_from(w).unwrap_or(0)) {
            l.push(p, before, at, block);
        }
    };
    for _ in 0..ROUND {
        // A round ends at `ROUND` frames or `ROUND_BYTES` of the capture,
        // so the workers, which answer at most `ANSWERS_AHEAD` rounds
        // apart, hold at most that many octets of it between them.
        if reader.position().saturating_sub(start) >= ROUND_BYTES as u64 {
            return None;
        }
        // The common record first (see `CaptureReader::next_fast`): in
        // memory it is placed as given; in a stream, with the block it
        // lies in, once the reader is free to say which.
        let read = match reader.next_fast() {
            Some(p) => {
                if let Some(at) = within(p.data.as_ptr() as usize, p.data.len(), mapped) {
                    place(&p, Some(at), None);
                    continue;
                }
                true
            }
            None => false,
        };
        if !read {
            match reader.next_packet() {
                Ok(Some(_)) => {}
                Ok(None) => return Some(ReadEnd::End),
                Err(e) => return Some(ReadEnd::Failed(e)),
            }
        }
        if let Some(p) = reader.current() {
            let at = within(p.data.as_ptr() as usize, p.data.len(), mapped);
            place(&p, at, reader.block());
        }
    }
    None
}
