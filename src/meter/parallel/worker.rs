//! A worker: its share of each round taken apart (phase 1), then the
//! whole round walked in order, its own flows metered (phase 2).

use std::sync::mpsc::{Receiver, Sender};

use super::round::{lock, BreaksOnPanic, Round, Seen, FRAGMENT};
use super::{gone, Answer, Setup, Work};
use crate::error::Result;
use crate::meter::flowpacket::FlowPacket;
use crate::meter::table::Table;
use crate::meter::{encode_ended, Pending};
use crate::packet::{DissectOptions, Dissector, FragmentMode, Framed};

/// A worker's state besides its table.
pub(super) struct State<'s> {
    pub(super) setup: &'s Setup,
    /// Takes the worker's shares apart (fragments passed through).
    pub(super) share: Dissector,
    /// Assigns every fragment of the input, in order.
    pub(super) fragments: Dissector,
    /// The latest time of any IP packet so far (every worker's), which
    /// one table of every flow would have as its clock.
    pub(super) clock: i64,
    pub(super) metered: u64,
}

impl State<'_> {
    /// The worker owning the flow of `p`.
    #[inline]
    pub(super) fn owner(&self, p: &FlowPacket) -> u32 {
        let n = self.setup.n as u64;
        u32::try_from(p.key.spread().checked_rem(n).unwrap_or(0)).unwrap_or(0)
    }

    pub(super) fn mine(&self) -> u32 {
        u32::try_from(self.setup.w).unwrap_or(FRAGMENT)
    }

    /// Phase 1: the worker's share of `r` taken apart into its part.
    pub(super) fn take_apart(&mut self, r: &Round) {
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
    pub(super) fn meter(&mut self, table: &mut Table, fp: &FlowPacket) {
        self.metered = self.metered.saturating_add(1);
        table.tick(self.clock);
        table.observe(fp);
    }

    /// A packet assigned in phase 2 (a fragment, or one given back).
    pub(super) fn assigned(&mut self, table: &mut Table, fp: &FlowPacket) {
        if self.owner(fp) == self.mine() {
            self.meter(table, fp);
        }
    }

    /// Held fragments given back.
    pub(super) fn released(&mut self, table: &mut Table) {
        while let Some(d) = self.fragments.next_released() {
            let fp = FlowPacket::of(&d, self.setup.biflow);
            self.assigned(table, &fp);
        }
    }

    /// Phase 2: every part of `r` in frame order; the worker meters its
    /// flows' packets and keeps the clock on all of them.
    pub(super) fn walk(&mut self, table: &mut Table, r: &Round) {
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

    pub(super) fn answer(
        &self,
        table: &mut Table,
        records: usize,
        pending: Vec<Pending>,
    ) -> Answer {
        let keys = (0..pending.len())
            .map(|i| self.setup.records.key(i))
            .collect();
        Answer {
            pending,
            keys,
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
pub(super) fn work(
    setup: &Setup,
    table: &mut Table,
    inbox: &Receiver<Work>,
    outbox: &Sender<Result<Answer>>,
) {
    let _breaks = BreaksOnPanic(&setup.gate);
    let templates = setup.records.templates().len();
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
