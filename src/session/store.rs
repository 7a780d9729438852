//! The template store: templates keyed by (transport session, observation
//! domain, template id), bounded by [`Limits::max_templates`].

use std::collections::HashMap;
use std::sync::Arc;

use super::template::Template;
use crate::error::{Error, ErrorKind, Result};

/// Key of a template (RFC 7011 §8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TemplateKey {
    /// Transport session; one reader of one stream is one session.
    pub session: u64,
    pub observation_domain_id: u32,
    pub template_id: u16,
}

/// Caps on state and work a hostile stream could otherwise inflate.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Templates held at once across all scopes.
    pub max_templates: usize,
    /// Nesting depth of RFC 6313 lists.
    pub max_list_depth: u32,
    /// Elements decoded from one list (guards zero-length elements too).
    pub max_list_elements: usize,
    /// Seconds of export time after which a template received over UDP
    /// and not sent again expires (RFC 7011 §8.4; `None`: never). Export
    /// time, not the clock: a capture decodes the same whenever it is read.
    pub template_lifetime: Option<u32>,
    /// Measure the lifetime by the clock instead of export time (for live
    /// collection from exporters whose clocks cannot be trusted).
    pub wall_clock: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_templates: 65_536,
            max_list_depth: 16,
            max_list_elements: 1 << 20,
            template_lifetime: Some(1800),
            wall_clock: false,
        }
    }
}

/// What adding or withdrawing did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreEvent {
    Learned,
    /// A different definition replaced the old one.
    Replaced,
    /// The same definition was sent again (refresh).
    Refreshed,
    Withdrawn,
    /// A withdrawal for an id that was not known.
    WithdrawnUnknown,
}

/// Templates of all sessions and domains, bounded.
#[derive(Debug, Default)]
pub struct TemplateStore {
    map: HashMap<TemplateKey, Arc<Template>>,
    limits: Limits,
}

impl TemplateStore {
    /// An empty store with the given limits.
    pub fn new(limits: Limits) -> Self {
        TemplateStore {
            map: HashMap::new(),
            limits,
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The template for a key.
    #[inline]
    pub fn get(&self, key: &TemplateKey) -> Option<&Arc<Template>> {
        self.map.get(key)
    }

    /// Add a template; a redefinition replaces the old one (RFC 7011 §8.1).
    pub fn insert(&mut self, key: TemplateKey, t: Template) -> Result<StoreEvent> {
        match self.map.get(&key) {
            Some(old) => {
                let ev = if old.same_definition(&t) {
                    StoreEvent::Refreshed
                } else {
                    StoreEvent::Replaced
                };
                if ev == StoreEvent::Replaced {
                    self.map.insert(key, Arc::new(t));
                }
                Ok(ev)
            }
            None => {
                if self.map.len() >= self.limits.max_templates {
                    return Err(Error::new(ErrorKind::LimitExceeded(format!(
                        "more than {} templates (Limits::max_templates)",
                        self.limits.max_templates
                    ))));
                }
                self.map.insert(key, Arc::new(t));
                Ok(StoreEvent::Learned)
            }
        }
    }

    /// Withdraw one template, or all templates of one kind (`options`) in a
    /// domain when `template_id` is `None`. Returns how many were removed.
    pub fn withdraw(
        &mut self,
        session: u64,
        observation_domain_id: u32,
        template_id: Option<u16>,
        options: bool,
    ) -> usize {
        match template_id {
            Some(id) => {
                let key = TemplateKey {
                    session,
                    observation_domain_id,
                    template_id: id,
                };
                usize::from(self.map.remove(&key).is_some())
            }
            None => {
                let before = self.map.len();
                self.map.retain(|k, t| {
                    !(k.session == session
                        && k.observation_domain_id == observation_domain_id
                        && t.is_options() == options)
                });
                before - self.map.len()
            }
        }
    }

    /// Every template held, ordered by key.
    pub fn all(&self) -> Vec<(TemplateKey, Arc<Template>)> {
        let mut v: Vec<_> = self.map.iter().map(|(k, t)| (*k, t.clone())).collect();
        v.sort_by_key(|(k, _)| *k);
        v
    }

    /// Number of templates held.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether the store is empty.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::InfoModel;
    use crate::wire::FieldSpec;

    fn tmpl(id: u16, len: u16) -> Template {
        let f = vec![FieldSpec {
            id: 1,
            length: len,
            pen: 0,
        }];
        Template::new(id, 0, None, f, &InfoModel::iana())
    }

    #[test]
    fn cap_is_enforced() {
        let mut s = TemplateStore::new(Limits {
            max_templates: 3,
            ..Limits::default()
        });
        for id in 256..259 {
            let key = TemplateKey {
                session: 0,
                observation_domain_id: 0,
                template_id: id,
            };
            assert_eq!(s.insert(key, tmpl(id, 8)).unwrap(), StoreEvent::Learned);
        }
        let key = TemplateKey {
            session: 0,
            observation_domain_id: 0,
            template_id: 300,
        };
        assert!(matches!(
            s.insert(key, tmpl(300, 8)).unwrap_err().kind,
            ErrorKind::LimitExceeded(_)
        ));
        // Replacing an existing one is still allowed at the cap.
        let key = TemplateKey {
            session: 0,
            observation_domain_id: 0,
            template_id: 256,
        };
        assert_eq!(s.insert(key, tmpl(256, 4)).unwrap(), StoreEvent::Replaced);
        assert_eq!(s.insert(key, tmpl(256, 4)).unwrap(), StoreEvent::Refreshed);
        assert_eq!(s.len(), 3);
    }

    #[test]
    fn withdraw_all_of_one_kind_in_one_domain() {
        let mut s = TemplateStore::default();
        for (odid, id) in [(0, 256), (0, 257), (1, 256)] {
            let key = TemplateKey {
                session: 0,
                observation_domain_id: odid,
                template_id: id,
            };
            s.insert(key, tmpl(id, 8)).unwrap();
        }
        assert_eq!(s.withdraw(0, 0, None, true), 0);
        assert_eq!(s.withdraw(0, 0, None, false), 2);
        assert_eq!(s.len(), 1);
    }
}
