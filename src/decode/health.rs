//! The transport-health record of a reader: what the stream said about
//! itself besides its records (template events, sets that could not be
//! decoded, sequence gaps per observation domain, volume read).

use std::collections::BTreeMap;

use crate::error::{Error, ErrorKind};
use crate::session::{DomainSequence, StoreEvent};

/// How many problem descriptions a reader keeps (the counters keep going).
pub const MAX_KEPT_PROBLEMS: usize = 100;

/// Counters of one reader.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Health {
    pub bytes: u64,
    pub messages: u64,
    /// Records of (non-options) templates.
    pub data_records: u64,
    /// Records of options templates.
    pub options_records: u64,
    pub templates_learned: u64,
    pub templates_replaced: u64,
    pub templates_refreshed: u64,
    pub templates_withdrawn: u64,
    /// UDP templates dropped after their lifetime without a refresh.
    pub templates_expired: u64,
    /// Template withdrawals received over UDP, ignored (RFC 7011 §8.4:
    /// templates are not withdrawn over UDP; they expire).
    pub withdrawals_ignored: u64,
    /// Withdrawals naming a template that was not known.
    pub withdrawals_unknown: u64,
    /// Data sets skipped because their template was not known.
    pub sets_missing_template: u64,
    /// Of those, per (observation domain, template id).
    pub missing_templates: BTreeMap<(u32, u16), u64>,
    /// Data sets of a capture's UDP sessions waiting for their template
    /// now (counted in `sets_missing_template` too until it comes).
    pub sets_held: u64,
    /// Held data sets decoded when their template arrived.
    pub sets_replayed: u64,
    /// Sets with reserved ids 4..=255 (or NetFlow v9's 0 and 1), skipped.
    pub sets_reserved: u64,
    /// Problems skipped under `on_bad_records="skip"|"warn"`.
    pub problems_skipped: u64,
    /// The first [`MAX_KEPT_PROBLEMS`] of them, as text with their place.
    pub problems: Vec<String>,
    /// Sequence accounting per observation domain (of a plain stream).
    pub sequence: BTreeMap<u32, DomainSequence>,
    /// Sampling parameters from options records, the latest per (session,
    /// domain, selector or sampler id): IE name -> value.
    pub sampling: BTreeMap<(u64, u32, u64), BTreeMap<String, u64>>,
    /// Of a capture: per transport session (from 1), its exporter
    /// ("address:port") and its sequence accounting per domain.
    pub sessions: BTreeMap<u64, (String, BTreeMap<u32, DomainSequence>)>,
}

impl Health {
    /// Count a template-store event.
    pub fn template_event(&mut self, ev: StoreEvent, n: usize) {
        let n = n as u64;
        let counter = match ev {
            StoreEvent::Learned => &mut self.templates_learned,
            StoreEvent::Replaced => &mut self.templates_replaced,
            StoreEvent::Refreshed => &mut self.templates_refreshed,
            StoreEvent::Withdrawn => &mut self.templates_withdrawn,
            StoreEvent::WithdrawnUnknown => &mut self.withdrawals_unknown,
        };
        *counter = counter.saturating_add(n);
    }

    /// Count a problem that was skipped.
    pub fn skipped(&mut self, e: &Error) {
        self.problems_skipped = self.problems_skipped.saturating_add(1);
        if let ErrorKind::MissingTemplate {
            observation_domain_id,
            template_id,
        } = e.kind
        {
            self.sets_missing_template = self.sets_missing_template.saturating_add(1);
            let n = self
                .missing_templates
                .entry((observation_domain_id, template_id))
                .or_default();
            *n = n.saturating_add(1);
        }
        if self.problems.len() < MAX_KEPT_PROBLEMS {
            self.problems.push(e.to_string());
        }
    }
}
