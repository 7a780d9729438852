//! A round of frames handed to the workers, what each made of its share,
//! and the gate where they wait for each other between the two phases.

use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

use super::ROUND;
use crate::meter::flowpacket::FlowPacket;
use crate::pcap::Packet;

/// A frame copied into a round.
#[derive(Debug, Clone, Copy)]
pub(super) struct Frame {
    /// Where its bytes are in [`Round::bytes`].
    pub(super) start: usize,
    pub(super) len: usize,
    pub(super) orig_len: u32,
    pub(super) linktype: u16,
    pub(super) ts_ns: i64,
    pub(super) number: u64,
    pub(super) offset: u64,
}

/// What phase 1 made of a frame that carries an IP packet.
#[derive(Debug, Clone, Copy)]
pub(super) struct Seen {
    pub(super) ts_ns: i64,
    /// The worker owning its flow, or [`FRAGMENT`].
    pub(super) owner: u32,
    /// Its summary in [`Part::packets`], or (a fragment) its frame in
    /// the round.
    pub(super) index: u32,
}

/// [`Seen::owner`] of a fragment (assigned in phase 2).
pub(super) const FRAGMENT: u32 = u32::MAX;

/// A worker's share of a round, taken apart.
#[derive(Default)]
pub(super) struct Part {
    pub(super) seen: Vec<Seen>,
    pub(super) packets: Vec<FlowPacket>,
}

/// Frames handed to the workers, and what they made of them.
pub(super) struct Round {
    pub(super) bytes: Vec<u8>,
    pub(super) frames: Vec<Frame>,
    /// Per worker: its share taken apart, in frame order.
    pub(super) parts: Vec<Mutex<Part>>,
}

impl Round {
    pub(super) fn new(n: usize) -> Self {
        Round {
            bytes: Vec::new(),
            frames: Vec::with_capacity(ROUND),
            parts: (0..n).map(|_| Mutex::new(Part::default())).collect(),
        }
    }

    pub(super) fn packet(&self, f: &Frame) -> Packet<'_> {
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
    pub(super) fn share(&self, w: usize, n: usize) -> std::ops::Range<usize> {
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
pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Where the workers wait for each other between the phases of a round
/// (a barrier that a worker's panic breaks, so that the others stop
/// instead of waiting for it forever).
pub(super) struct Gate {
    pub(super) n: usize,
    pub(super) state: Mutex<GateState>,
    pub(super) cv: Condvar,
}

#[derive(Default)]
pub(super) struct GateState {
    pub(super) arrived: usize,
    pub(super) generation: u64,
    pub(super) broken: bool,
}

impl Gate {
    pub(super) fn new(n: usize) -> Self {
        Gate {
            n,
            state: Mutex::new(GateState::default()),
            cv: Condvar::new(),
        }
    }

    /// Wait until every worker is here; `false` if a worker died.
    pub(super) fn wait(&self) -> bool {
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

    pub(super) fn break_down(&self) {
        lock(&self.state).broken = true;
        self.cv.notify_all();
    }
}

/// Breaks the gate if its worker unwinds.
pub(super) struct BreaksOnPanic<'g>(pub(super) &'g Gate);

impl Drop for BreaksOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.break_down();
        }
    }
}
