//! Template state and sequence accounting for one transport session
//! (RFC 7011 §8: templates are scoped by transport session, observation
//! domain and template id; §3.1: sequence numbers count data records per
//! observation domain, modulo 2^32).

mod sequence;
mod store;
mod template;

pub use sequence::{DomainSequence, SequenceTracker};
pub use store::{Limits, StoreEvent, TemplateKey, TemplateStore};
pub use template::{FieldDecoder, Template, TemplateField};
