//! What passes between the meter and its workers: a worker's round of
//! frames ([`Batch`]), the messages it is sent ([`Work`]) and its answers
//! ([`Answer`]).

use std::path::PathBuf;

use super::{LayoutKey, Pending, ROUND, ROUND_BYTES};
use crate::error::Error;
use crate::meter::table::TableStats;
use crate::packet::DissectStats;
use crate::pcap::Packet;

/// A frame copied into a worker's round.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Frame {
    /// Where its bytes are in [`Batch::bytes`].
    pub(crate) start: usize,
    pub(crate) len: usize,
    pub(crate) orig_len: u32,
    pub(crate) linktype: u16,
    pub(crate) ts_ns: i64,
    pub(crate) number: u64,
    pub(crate) offset: u64,
    /// The capture's clock before this frame (`i64::MIN`: none yet).
    pub(crate) before: i64,
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

    pub(crate) fn clear(&mut self) {
        self.bytes.clear();
        self.frames.clear();
    }
}

/// What a worker is sent.
pub(crate) enum Work {
    Round(Batch),
    /// Read this capture file itself, answering every [`ROUND`] frames,
    /// until it ends or fails.
    Read(PathBuf),
    /// An answered round's buffers back, for a worker reading a file (the
    /// only message it is sent while it reads).
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

/// How a capture a worker reads itself ended.
pub enum ReadEnd {
    End,
    /// The capture fails here (every worker reads the same error).
    Failed(Error),
}
