//! A worker: its frames of each round taken apart and metered in input
//! order, the records they ended encoded and sent back.

use std::sync::mpsc::{Receiver, SyncSender};

use super::walk::{SharedWalk, Stopping};
use super::{Answer, Batch, ReadEnd, Setup, Work};
use crate::error::Result;
use crate::meter::flowpacket::FlowPacket;
use crate::meter::table::Table;
use crate::meter::{encode_ended, Pending};
use crate::packet::Dissector;
use crate::pcap::Packet;

/// A worker's state besides its table.
struct State<'s> {
    setup: &'s Setup,
    dissector: Dissector,
    metered: u64,
    /// Each packet's summary, filled in place ([`FlowPacket::fill`]).
    summary: FlowPacket,
}

impl State<'_> {
    /// The clocks to the capture's time `t` (`i64::MIN`: none yet).
    fn clock(&mut self, table: &mut Table, t: i64) {
        if t != i64::MIN {
            self.dissector.advance(t);
            self.released(table);
            table.tick(t);
        }
    }

    /// Packets the dissector gave back (fragments held, or reassembled).
    #[inline]
    fn released(&mut self, table: &mut Table) {
        while let Some(d) = self.dissector.next_released() {
            self.metered = self.metered.saturating_add(1);
            table.observe(&FlowPacket::of(&d));
        }
    }

    /// A frame of the worker's into `table`, after the clocks are set to
    /// the capture's time before it (so fragments expire, records idle
    /// out and packets count as out of order as in one meter of every
    /// frame).
    #[inline]
    fn frame(&mut self, table: &mut Table, p: &Packet<'_>, before: i64) {
        // A frame at or after the capture's clock sets both clocks itself
        // (as it does in one meter).
        if before > p.ts_ns {
            self.clock(table, before);
        }
        let (metered, summary) = (&mut self.metered, &mut self.summary);
        self.dissector.frame_with(
            p,
            #[inline(always)]
            |d| {
                *metered = metered.saturating_add(1);
                summary.fill(d);
                table.observe(summary);
            },
        );
        self.released(table);
    }

    /// The frames of `b` into `table`; then the clocks to the round's end
    /// (records idle by then end now, not at the worker's next frame).
    fn meter(&mut self, table: &mut Table, b: &Batch) {
        for f in &b.frames {
            self.frame(table, &b.packet(f), f.before);
        }
        self.clock(table, b.clock);
    }
}

/// A worker's loop: rounds in, answers out, until the inbox closes.
pub(super) fn work(
    setup: &Setup,
    table: &mut Table,
    inbox: &Receiver<Work>,
    outbox: &SyncSender<Result<Answer>>,
) {
    let mut st = State {
        setup,
        dissector: Dissector::new(setup.dissect),
        metered: 0,
        summary: FlowPacket::default(),
    };
    while let Ok(job) = inbox.recv() {
        let (batch, last) = match job {
            Work::Round(b) => {
                st.meter(table, &b);
                (b, false)
            }
            Work::Walk(walk) => {
                walked(&mut st, table, &walk, inbox, outbox);
                continue;
            }
            Work::Spare(_) => continue,
            Work::Finish => {
                st.dissector.finish();
                st.released(table);
                table.finish();
                (Batch::default(), true)
            }
        };
        if !answer(&mut st, table, batch, None, outbox) || last {
            return;
        }
    }
}

/// Meter a capture the workers walk in turns ([`SharedWalk`]) to its end
/// (or error), answering every round.
fn walked(
    st: &mut State<'_>,
    table: &mut Table,
    walk: &SharedWalk,
    inbox: &Receiver<Work>,
    outbox: &SyncSender<Result<Answer>>,
) {
    // Should this worker stop before the capture's end (the meter gone),
    // no other waits for it to walk.
    let mut stop = Stopping::armed(walk);
    let w = usize::try_from(st.setup.w).unwrap_or(0);
    while let Some(mut list) = walk.take(w) {
        for (p, before) in list.frames(walk.bytes()) {
            st.frame(table, &p, before);
        }
        st.clock(table, list.clock);
        let end = list.end.take();
        let ended = end.is_some();
        let read = Some((list.position, end));
        walk.done(w, list);
        let batch = match inbox.try_recv() {
            Ok(Work::Spare(b)) => b,
            _ => Batch::default(),
        };
        if !answer(st, table, batch, read, outbox) {
            return;
        }
        if ended {
            // The others take their last lists still.
            stop.disarm();
            return;
        }
    }
}

/// Send the records ended so far (in `batch`'s buffers) and the counters;
/// false if the meter is gone.
fn answer(
    st: &mut State<'_>,
    table: &mut Table,
    mut batch: Batch,
    read: Option<(u64, Option<ReadEnd>)>,
    outbox: &SyncSender<Result<Answer>>,
) -> bool {
    let setup = st.setup;
    let templates = setup.records.templates().len();
    if batch.pending.len() < templates {
        batch.pending.resize_with(templates, Pending::default);
    }
    let answer = encode_ended(&setup.records, &mut table.ended, &mut batch.pending).map(|n| {
        let keys = (0..batch.pending.len())
            .map(|i| setup.records.key(i))
            .collect();
        Answer {
            batch,
            keys,
            records: n,
            table: table.stats.clone(),
            dissect: st.dissector.stats(),
            metered: st.metered,
            open: table.len(),
            read,
        }
    });
    outbox.send(answer).is_ok()
}
