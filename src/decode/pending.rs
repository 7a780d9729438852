//! Data sets that arrive before their template on UDP (RFC 7011 §8.4 and
//! §10.3.7 allow it: templates are resent periodically and datagrams
//! reorder). For a capture's sessions they are held, bounded, and decoded
//! when the template arrives; whatever is still held is reported as sets
//! missing their template. A plain stream (a file, TCP) has no such
//! excuse: there a missing template follows the bad-record policy.

use std::collections::{HashMap, VecDeque};

use crate::session::TemplateKey;
use crate::wire::MessageHeader;

/// Most data sets held at once (per decoder).
pub const MAX_HELD_SETS: usize = 4096;
/// Most bytes of data sets held at once (per decoder).
pub const MAX_HELD_BYTES: usize = 16 << 20;

/// A data set waiting for its template, with where it came from.
pub struct Held {
    pub body: Vec<u8>,
    pub header: MessageHeader,
    pub msg_offset: u64,
    pub msg_index: u64,
    pub exact: bool,
    /// The body's offset in its message.
    pub body_at: usize,
}

/// The held sets of a decoder.
#[derive(Default)]
pub struct Pending {
    sets: HashMap<TemplateKey, VecDeque<Held>>,
    count: usize,
    bytes: usize,
}

impl Pending {
    /// Hold a set; `false` when the bounds are reached (the set is not
    /// kept).
    pub fn hold(&mut self, key: TemplateKey, held: Held) -> bool {
        // bytes <= MAX_HELD_BYTES, a body < 2^16: the sum cannot saturate.
        if self.count >= MAX_HELD_SETS
            || self.bytes.saturating_add(held.body.len()) > MAX_HELD_BYTES
        {
            return false;
        }
        self.count = self.count.saturating_add(1);
        self.bytes = self.bytes.saturating_add(held.body.len());
        self.sets.entry(key).or_default().push_back(held);
        true
    }

    /// The sets held for `key`, in arrival order.
    pub fn take(&mut self, key: &TemplateKey) -> Option<VecDeque<Held>> {
        let q = self.sets.remove(key)?;
        self.count = self.count.saturating_sub(q.len());
        self.bytes = self
            .bytes
            .saturating_sub(q.iter().map(|h| h.body.len()).sum::<usize>());
        Some(q)
    }

    /// Sets held now, per key.
    pub fn held(&self) -> impl Iterator<Item = (&TemplateKey, usize)> {
        self.sets.iter().map(|(k, q)| (k, q.len()))
    }

    /// Sets held now.
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held(n: usize) -> Held {
        Held {
            body: vec![0; n],
            header: MessageHeader::default(),
            msg_offset: 0,
            msg_index: 0,
            exact: true,
            body_at: 20,
        }
    }

    fn key(t: u16) -> TemplateKey {
        TemplateKey {
            session: 1,
            observation_domain_id: 0,
            template_id: t,
        }
    }

    #[test]
    fn the_caps_hold_and_taking_frees_room() {
        let mut p = Pending::default();
        for i in 0..MAX_HELD_SETS {
            assert!(p.hold(key(256 + (i % 3) as u16), held(4)));
        }
        assert!(
            !p.hold(key(999), held(4)),
            "a set past MAX_HELD_SETS is refused"
        );
        assert_eq!(p.len(), MAX_HELD_SETS);
        let q = p.take(&key(256)).unwrap();
        assert_eq!(q.len(), MAX_HELD_SETS.div_ceil(3));
        assert!(p.hold(key(999), held(4)));
        let mut p = Pending::default();
        assert!(p.hold(key(1), held(MAX_HELD_BYTES)));
        assert!(
            !p.hold(key(2), held(1)),
            "a byte past MAX_HELD_BYTES is refused"
        );
        assert!(p.take(&key(1)).is_some() && p.is_empty());
    }
}
