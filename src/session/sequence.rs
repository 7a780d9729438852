//! Sequence-number accounting (RFC 7011 §3.1): the header's sequence number
//! is the count, modulo 2^32, of data records sent before this message in
//! the observation domain. A message whose number differs from what the
//! previous message predicts reveals lost (or reordered) data records.

use std::collections::BTreeMap;

/// Per-domain counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DomainSequence {
    /// Messages seen in the domain.
    pub messages: u64,
    /// Data records (including options data records) decoded.
    pub records: u64,
    /// Messages whose sequence number was not the expected one.
    pub gaps: u64,
    /// Data records the sequence numbers say were never seen (forward gaps).
    pub lost_records: u64,
    /// NetFlow v9 packets the sequence numbers say were never seen (v9
    /// numbers count packets, RFC 3954 §5.1; its lost records are unknown).
    pub lost_packets: u64,
    /// Messages that arrived with a number behind the expected one.
    pub out_of_order: u64,
    /// Messages after which the next number could not be predicted (a data
    /// set was skipped, so its record count is unknown).
    pub unknown_counts: u64,
    /// Sequence number the next message should carry, if known.
    pub expected: Option<u32>,
    /// The domain's numbers count packets (NetFlow v9), not records.
    pub per_packet: bool,
    /// Messages numbered after their own records (the previous number plus
    /// this message's records), as softflowd does; not counted as loss.
    pub post_incremented: u64,
    /// The last message's number.
    pub previous: Option<u32>,
    /// The last message was numbered after its records.
    pub post_streak: bool,
}

impl DomainSequence {
    /// Add another session's counters of the same exporter and domain
    /// (the running state, `expected` and `previous`, stays this one's).
    pub fn absorb(&mut self, o: &DomainSequence) {
        self.messages += o.messages;
        self.records += o.records;
        self.gaps += o.gaps;
        self.lost_records += o.lost_records;
        self.lost_packets += o.lost_packets;
        self.out_of_order += o.out_of_order;
        self.unknown_counts += o.unknown_counts;
        self.post_incremented += o.post_incremented;
    }
}

/// Tracks sequence numbers for every observation domain of a session.
#[derive(Debug, Default, Clone)]
pub struct SequenceTracker {
    domains: BTreeMap<u32, DomainSequence>,
}

impl SequenceTracker {
    /// Note a message header before its sets are decoded.
    pub fn begin(&mut self, odid: u32, _sequence: u32) {
        self.domains.entry(odid).or_default().messages += 1;
    }

    /// Compare a message's number with the one expected, now that its
    /// record count is known. A number that is the previous one plus this
    /// message's records is an exporter numbering its messages after their
    /// records instead of before (softflowd does): counted in
    /// `post_incremented`, not as loss, once the previous message was
    /// numbered that way too or this is the second message seen.
    fn check(d: &mut DomainSequence, sequence: u32, records: u32) {
        let post = d.previous.map(|p| p.wrapping_add(records));
        if d.post_streak {
            // Numbered after the records so far: expect that again.
            if post == Some(sequence) {
                d.post_incremented += 1;
                return;
            }
            d.post_streak = false;
            if let Some(exp) = post {
                Self::gap(d, sequence, exp);
            }
            return;
        }
        let Some(exp) = d.expected else {
            return;
        };
        if exp == sequence {
            return;
        }
        if post == Some(sequence) && d.messages == 2 {
            d.post_incremented += 1;
            d.post_streak = true;
            return;
        }
        Self::gap(d, sequence, exp);
    }

    fn gap(d: &mut DomainSequence, sequence: u32, exp: u32) {
        d.gaps += 1;
        let ahead = sequence.wrapping_sub(exp);
        // Half the number space ahead is a loss; behind is reordering.
        if ahead < 1 << 31 {
            if d.per_packet {
                d.lost_packets += u64::from(ahead);
            } else {
                d.lost_records += u64::from(ahead);
            }
        } else {
            d.out_of_order += 1;
        }
    }

    /// Note the end of a message: `records` data records were decoded;
    /// `complete` is false when some data set could not be counted.
    pub fn end(&mut self, odid: u32, sequence: u32, records: u32, complete: bool) {
        let d = self.domains.entry(odid).or_default();
        d.per_packet = false;
        Self::check(d, sequence, records);
        d.records += u64::from(records);
        d.previous = Some(sequence);
        if complete {
            d.expected = Some(sequence.wrapping_add(records));
        } else {
            d.expected = None;
            d.unknown_counts += 1;
        }
    }

    /// Note the end of a NetFlow v9 packet: its number counts packets, so
    /// the next one is this one's plus one whatever the records.
    pub fn end_packet(&mut self, odid: u32, sequence: u32, records: u32) {
        let d = self.domains.entry(odid).or_default();
        d.per_packet = true;
        Self::check(d, sequence, 1);
        d.records += u64::from(records);
        d.previous = Some(sequence);
        d.expected = Some(sequence.wrapping_add(1));
    }

    /// Counters per domain, ordered by domain id.
    pub fn domains(&self) -> &BTreeMap<u32, DomainSequence> {
        &self.domains
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gap_loss_and_wrap() {
        let mut t = SequenceTracker::default();
        t.begin(1, u32::MAX - 1);
        t.end(1, u32::MAX - 1, 3, true); // next expected: 1 (wrapped)
        t.begin(1, 1);
        t.end(1, 1, 2, true); // next: 3
        t.begin(1, 10); // 7 lost
        t.end(1, 10, 1, true);
        t.begin(1, 5); // behind: reordering
        t.end(1, 5, 1, true);
        let d = &t.domains()[&1];
        assert_eq!((d.gaps, d.lost_records, d.out_of_order), (2, 7, 1));
        assert_eq!(d.records, 7);
    }

    #[test]
    fn numbers_after_the_records_are_a_quirk_not_loss() {
        // softflowd: 22 records numbered 22, then 30 numbered 52, 33 -> 85.
        let mut t = SequenceTracker::default();
        for (seq, n) in [(22, 22), (52, 30), (85, 33)] {
            t.begin(0, seq);
            t.end(0, seq, n, true);
        }
        let d = &t.domains()[&0];
        assert_eq!((d.gaps, d.lost_records, d.post_incremented), (0, 0, 2));
        // A real loss after that is still seen: 10 records missing.
        t.begin(0, 125);
        t.end(0, 125, 30, true);
        let d = &t.domains()[&0];
        assert_eq!((d.gaps, d.lost_records), (1, 10));
    }
}
