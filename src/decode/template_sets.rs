//! Template and options template sets (RFC 7011 §3.4.1-3.4.2, §8):
//! learning, replacing and withdrawing templates, expiry, and the sampling
//! options a template announces; split from the decoder's message loop.

use std::collections::BTreeMap;

use super::{Decoder, Place, RecordSink, MAX_SAMPLERS, SAMPLING_IES};
use crate::decode::record::split_record;
use crate::error::{Error, ErrorKind, Result};
use crate::session::{StoreEvent, Template, TemplateField, TemplateKey};
use crate::wire::{parse_template_set, TemplateItem, OPTIONS_TEMPLATE_SET_ID};

impl Decoder {
    pub(super) fn template_set<S: RecordSink>(
        &mut self,
        set_id: u16,
        body: &[u8],
        odid: u32,
        place: &Place,
        body_at: usize,
        sink: &mut S,
    ) -> Result<()> {
        let options = set_id == OPTIONS_TEMPLATE_SET_ID;
        for item in parse_template_set(set_id, body) {
            match item {
                Err((at, e)) => {
                    self.problem(place.at(e, body_at.saturating_add(at)), sink)?;
                    break;
                }
                Ok(TemplateItem::Template {
                    id,
                    scope_count,
                    fields,
                }) => {
                    let t = Template::new(id, odid, scope_count, fields, &self.model);
                    // Zero-length fields cost nothing on the wire but a value
                    // each in every record: bound that amplification.
                    // min_record_len < 2^16: never saturates.
                    if t.fields.len() > t.min_record_len.saturating_mul(4).saturating_add(64) {
                        let e = Error::new(ErrorKind::BadTemplate(format!(
                            "template {id} has {} fields in records of at least {} bytes \
                             (too many zero-length fields)",
                            t.fields.len(),
                            t.min_record_len
                        )));
                        self.problem(place.at(e, body_at), sink)?;
                        continue;
                    }
                    let key = TemplateKey {
                        session: self.session,
                        observation_domain_id: odid,
                        template_id: id,
                    };
                    match self.store.insert(key, t) {
                        Ok(ev) => {
                            self.health.template_event(ev, 1);
                            if self.udp && self.learned_at.len() < self.store.limits().max_templates
                            {
                                self.learned_at.insert(key, self.now);
                            }
                            self.replay(&key, sink)?;
                        }
                        Err(e) => self.problem(place.at(e, body_at), sink)?,
                    }
                }
                Ok(TemplateItem::Withdraw { .. } | TemplateItem::WithdrawAll) if self.udp => {
                    self.health.withdrawals_ignored =
                        self.health.withdrawals_ignored.saturating_add(1);
                }
                Ok(TemplateItem::Withdraw { id }) => {
                    let n = self.store.withdraw(self.session, odid, Some(id), options);
                    let ev = if n == 0 {
                        StoreEvent::WithdrawnUnknown
                    } else {
                        StoreEvent::Withdrawn
                    };
                    self.health.template_event(ev, n.max(1));
                }
                Ok(TemplateItem::WithdrawAll) => {
                    let n = self.store.withdraw(self.session, odid, None, options);
                    self.health.template_event(StoreEvent::Withdrawn, n);
                }
            }
        }
        Ok(())
    }

    /// Drop the UDP template `key` when it was last received more than the
    /// lifetime ago in export time, or by the clock (RFC 7011 §8.4).
    pub(super) fn expire(&mut self, key: &TemplateKey) {
        let (Some(life), Some(&at)) = (self.template_lifetime, self.learned_at.get(key)) else {
            return;
        };
        // Export times are 32-bit seconds; the difference is taken signed.
        if (self.now.wrapping_sub(at) as i32) <= life as i32 {
            return;
        }
        let options = self.store.get(key).is_some_and(|t| t.is_options());
        self.store.withdraw(
            key.session,
            key.observation_domain_id,
            Some(key.template_id),
            options,
        );
        self.learned_at.remove(key);
        self.health.templates_expired = self.health.templates_expired.saturating_add(1);
    }

    /// Keep the sampling parameters of options records (IANA sampling and
    /// PSAMP IEs), the latest per (session, domain, selector or sampler
    /// id), so that counts can be scaled per exporter.
    pub(super) fn note_sampling(&mut self, t: &Template, body: &[u8], odid: u32) {
        let fields: Vec<(usize, &TemplateField)> = t
            .fields
            .iter()
            .enumerate()
            .filter(|(_, f)| f.ie.pen == 0 && SAMPLING_IES.contains(&f.ie.id) && f.length <= 8)
            .collect();
        if fields.is_empty() || t.min_record_len == 0 {
            return;
        }
        let mut spans = Vec::with_capacity(t.fields.len());
        let mut pos = 0;
        // pos <= body.len(): it only moves to a record's end.
        while body.len().saturating_sub(pos) >= t.min_record_len {
            let Some(end) = split_record(t, body, pos, &mut spans) else {
                return;
            };
            let mut values = BTreeMap::new();
            let mut selector = 0;
            for &(i, f) in &fields {
                let Some(&(at, len)) = spans.get(i) else {
                    continue;
                };
                let at = pos.saturating_add(at as usize);
                let Some(raw) = body.get(at..at.saturating_add(len as usize)) else {
                    continue;
                };
                let v = raw.iter().fold(0u64, |a, &b| a << 8 | u64::from(b));
                if matches!(f.ie.id, 302 | 48) {
                    selector = v;
                }
                values.insert(f.ie.name.to_string(), v);
            }
            let key = (self.session, odid, selector);
            if self.health.sampling.len() < MAX_SAMPLERS || self.health.sampling.contains_key(&key)
            {
                self.health.sampling.insert(key, values);
            }
            pos = end;
        }
    }
}
