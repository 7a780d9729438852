//! A worker: its frames of each round taken apart and metered in input
//! order, the records they ended encoded and sent back.

use std::sync::mpsc::{Receiver, Sender};

use super::{Answer, Batch, Setup, Work};
use crate::error::Result;
use crate::meter::flowpacket::FlowPacket;
use crate::meter::table::Table;
use crate::meter::{encode_ended, Pending};
use crate::packet::Dissector;

/// A worker's state besides its table.
struct State<'s> {
    setup: &'s Setup,
    dissector: Dissector,
    metered: u64,
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
    fn released(&mut self, table: &mut Table) {
        while let Some(d) = self.dissector.next_released() {
            self.metered = self.metered.saturating_add(1);
            table.observe(&FlowPacket::of(&d, self.setup.biflow));
        }
    }

    /// The frames of `b` into `table`, each after the clocks are set to
    /// the capture's time before it (so fragments expire, records idle
    /// out and packets count as out of order as in one meter of every
    /// frame); then the clocks to the round's end.
    fn meter(&mut self, table: &mut Table, b: &Batch) {
        let biflow = self.setup.biflow;
        for f in &b.frames {
            self.clock(table, f.before);
            let metered = &mut self.metered;
            self.dissector.frame_with(&b.packet(f), |d| {
                *metered = metered.saturating_add(1);
                table.observe(&FlowPacket::of(d, biflow));
            });
            self.released(table);
        }
        // Records idle by the end of the round end now, not at the
        // worker's next frame.
        self.clock(table, b.clock);
    }
}

/// A worker's loop: rounds in, answers out, until the inbox closes.
pub(super) fn work(
    setup: &Setup,
    table: &mut Table,
    inbox: &Receiver<Work>,
    outbox: &Sender<Result<Answer>>,
) {
    let templates = setup.records.templates().len();
    let mut st = State {
        setup,
        dissector: Dissector::new(setup.dissect),
        metered: 0,
    };
    while let Ok(job) = inbox.recv() {
        let (mut batch, last) = match job {
            Work::Round(b) => {
                st.meter(table, &b);
                (b, false)
            }
            Work::Finish => {
                st.dissector.finish();
                st.released(table);
                table.finish();
                (Batch::default(), true)
            }
        };
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
            }
        });
        if outbox.send(answer).is_err() || last {
            return;
        }
    }
}
