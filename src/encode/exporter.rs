//! The exporting process's message layer (RFC 7011 §3, §8): template and
//! options template records, withdrawals, data records, packed into messages
//! no longer than the MTU, one observation domain per message, with the
//! per-domain sequence number (data records sent before the message,
//! modulo 2^32) and the export time in the header. Padding is never
//! written. A message is written to the sink whole, when it is full, when
//! the domain changes, or on [`Exporter::flush`]: a record refused by the
//! encoder never leaves a partial message behind.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use super::value::{encode_value, kind};
use crate::decode::Value;
use crate::error::{Error, ErrorKind, Result};
use crate::session::Template;
use crate::wire::{
    IPFIX_VERSION, MESSAGE_HEADER_LEN, OPTIONS_TEMPLATE_SET_ID, SET_HEADER_LEN, TEMPLATE_SET_ID,
};

/// How messages are built.
#[derive(Debug, Clone)]
pub struct ExportOptions {
    /// Largest message in octets (at most 65535, the header's length field;
    /// about 1400 for UDP on Ethernet).
    pub mtu: usize,
    /// Re-send a domain's templates at the start of every `n`th message of
    /// it (RFC 7011 §8.4: UDP has no other way to deliver them).
    pub template_refresh: Option<u64>,
    /// Re-send a domain's templates at the start of its first message at
    /// least this many seconds of export time after they were last sent
    /// (RFC 7011 §8.4's templateRefreshTimeout), whichever of the two
    /// comes first.
    pub template_refresh_secs: Option<u32>,
    /// The export time of every message, in seconds since 1970; `None`
    /// takes the clock when each message is written.
    pub export_time: Option<u32>,
}

impl Default for ExportOptions {
    fn default() -> Self {
        ExportOptions {
            mtu: 65_535,
            template_refresh: None,
            template_refresh_secs: None,
            export_time: None,
        }
    }
}

/// What has been written (messages a writer did not send, [`NotSent`],
/// left out).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExportStats {
    pub messages: u64,
    pub records: u64,
    pub templates: u64,
    pub withdrawals: u64,
    pub bytes: u64,
}

#[derive(Default)]
struct Domain {
    /// Data records sent before the message being built (RFC 7011 §3.1).
    sequence: u32,
    templates: BTreeMap<u16, Arc<Template>>,
    /// Messages started for the domain.
    messages: u64,
    /// The export time its templates were last sent at (all of them,
    /// refreshed; or the first one added).
    templates_at: Option<u32>,
}

fn encode_error(msg: String) -> Error {
    Error::new(ErrorKind::Encode(msg))
}

/// The wire form of a template or options template record (RFC 7011
/// §3.4.1-3.4.2).
pub fn template_record(t: &Template) -> Vec<u8> {
    let mut out = Vec::with_capacity(t.specs.len().saturating_mul(8).saturating_add(8));
    out.extend_from_slice(&t.id.to_be_bytes());
    out.extend_from_slice(&(t.specs.len() as u16).to_be_bytes());
    if let Some(scope) = t.scope_count {
        out.extend_from_slice(&scope.to_be_bytes());
    }
    for s in &t.specs {
        let id = if s.pen == 0 { s.id } else { s.id | 0x8000 };
        out.extend_from_slice(&id.to_be_bytes());
        out.extend_from_slice(&s.length.to_be_bytes());
        if s.pen != 0 {
            out.extend_from_slice(&s.pen.to_be_bytes());
        }
    }
    out
}

/// Writes IPFIX messages to `out`.
pub struct Exporter<W: Write> {
    out: W,
    opts: ExportOptions,
    domains: HashMap<u32, Domain>,
    /// The message being built (header included) and its domain.
    msg: Vec<u8>,
    msg_domain: u32,
    msg_records: u32,
    /// The open set: its id and where its header starts in `msg`.
    set: Option<(u16, usize)>,
    scratch: Vec<u8>,
    /// Template refreshes done ([`Exporter::refreshes`]).
    refreshes: u64,
    pub stats: ExportStats,
}

impl<W: Write> Exporter<W> {
    /// An exporter writing to `out`.
    pub fn new(out: W, opts: ExportOptions) -> Result<Self> {
        let room = MESSAGE_HEADER_LEN + SET_HEADER_LEN + 4;
        if opts.mtu < room || opts.mtu > 65_535 {
            return Err(encode_error(format!(
                "mtu must be between {room} and 65535, not {}",
                opts.mtu
            )));
        }
        Ok(Exporter {
            out,
            opts,
            domains: HashMap::new(),
            msg: Vec::with_capacity(1 << 16),
            msg_domain: 0,
            msg_records: 0,
            set: None,
            scratch: Vec::new(),
            refreshes: 0,
            stats: ExportStats::default(),
        })
    }

    /// The template `id` of domain `odid`, if defined.
    pub fn template(&self, odid: u32, id: u16) -> Option<&Arc<Template>> {
        self.domains.get(&odid)?.templates.get(&id)
    }

    /// Define (or redefine) a template in its observation domain and write
    /// its record.
    pub fn add_template(&mut self, t: Arc<Template>) -> Result<()> {
        if t.id < 256 {
            return Err(encode_error(format!(
                "template id {} is reserved (ids start at 256)",
                t.id
            )));
        }
        if t.fixed_record_len == Some(0) {
            // RFC 7011 §3.4.3: records are delimited by their length; a
            // template of zero-length records cannot be read back.
            return Err(encode_error(format!(
                "template {} describes zero-length records",
                t.id
            )));
        }
        let odid = t.observation_domain_id;
        self.put_template(&t)?;
        let now = self.export_time();
        let d = self.domains.entry(odid).or_default();
        d.templates_at.get_or_insert(now);
        d.templates.insert(t.id, t);
        Ok(())
    }

    fn put_template(&mut self, t: &Template) -> Result<()> {
        let rec = template_record(t);
        let set_id = if t.is_options() {
            OPTIONS_TEMPLATE_SET_ID
        } else {
            TEMPLATE_SET_ID
        };
        self.place(t.observation_domain_id, set_id, &rec)?;
        self.stats.templates = self.stats.templates.saturating_add(1);
        Ok(())
    }

    /// Withdraw template `id` of domain `odid` (RFC 7011 §8.1: a template
    /// record with no fields, in a set of the template's kind).
    pub fn withdraw(&mut self, odid: u32, id: u16) -> Result<()> {
        let t = self
            .domains
            .get(&odid)
            .and_then(|d| d.templates.get(&id))
            .cloned()
            .ok_or_else(|| {
                encode_error(format!("no template {id} in observation domain {odid}"))
            })?;
        let set_id = if t.is_options() {
            OPTIONS_TEMPLATE_SET_ID
        } else {
            TEMPLATE_SET_ID
        };
        let mut rec = id.to_be_bytes().to_vec();
        rec.extend_from_slice(&[0, 0]);
        self.place(odid, set_id, &rec)?;
        if let Some(d) = self.domains.get_mut(&odid) {
            d.templates.remove(&id);
        }
        self.stats.withdrawals = self.stats.withdrawals.saturating_add(1);
        Ok(())
    }

    /// Withdraw every template and options template of domain `odid`
    /// (RFC 7011 §8.1: the set id as template id, no fields).
    pub fn withdraw_all(&mut self, odid: u32) -> Result<()> {
        self.withdraw_all_of(odid, false)?;
        self.withdraw_all_of(odid, true)
    }

    /// Withdraw every template (`options` false) or every options template
    /// (`options` true) of domain `odid`.
    pub fn withdraw_all_of(&mut self, odid: u32, options: bool) -> Result<()> {
        let set_id = if options {
            OPTIONS_TEMPLATE_SET_ID
        } else {
            TEMPLATE_SET_ID
        };
        let mut rec = set_id.to_be_bytes().to_vec();
        rec.extend_from_slice(&[0, 0]);
        self.place(odid, set_id, &rec)?;
        if let Some(d) = self.domains.get_mut(&odid) {
            d.templates.retain(|_, t| t.is_options() != options);
        }
        self.stats.withdrawals = self.stats.withdrawals.saturating_add(1);
        Ok(())
    }

    /// Set the sequence number of domain `odid`'s next message (to go on
    /// with a stream that did not start here).
    pub fn set_sequence(&mut self, odid: u32, sequence: u32) {
        if self.msg.is_empty() || self.msg_domain != odid {
            self.domains.entry(odid).or_default().sequence = sequence;
        }
    }

    /// Set the export time of the messages written from now on (`None`:
    /// the clock).
    pub fn set_export_time(&mut self, t: Option<u32>) {
        self.opts.export_time = t;
    }

    /// Write a data record already encoded for template `id` of `odid`.
    pub fn write_record(&mut self, odid: u32, id: u16, record: &[u8]) -> Result<()> {
        let t = self.require(odid, id)?;
        let ok = match t.fixed_record_len {
            Some(n) => record.len() == n,
            None => record.len() >= t.min_record_len,
        };
        if !ok {
            return Err(encode_error(format!(
                "a record of {} octets does not match template {id}",
                record.len()
            )));
        }
        if self.starts_message(odid, id, record.len()) {
            self.resend_if_due(odid)?;
        }
        self.place(odid, id, record)?;
        self.msg_records = self.msg_records.wrapping_add(1);
        self.stats.records = self.stats.records.saturating_add(1);
        Ok(())
    }

    /// Encode `values` (one per field, in template order) and write them
    /// as a data record of template `id` of `odid`.
    pub fn encode_record(&mut self, odid: u32, id: u16, values: &[Value<'_>]) -> Result<()> {
        let t = self.require(odid, id)?;
        let buf = self.encode_values(&t, values)?;
        let r = self.write_record(odid, id, &buf);
        self.scratch = buf;
        r
    }

    /// `values` encoded in the fields of `t`, in the scratch buffer (taken:
    /// the caller gives it back).
    fn encode_values(&mut self, t: &Template, values: &[Value<'_>]) -> Result<Vec<u8>> {
        if values.len() != t.fields.len() {
            return Err(encode_error(format!(
                "template {} has {} fields, {} values given",
                t.id,
                t.fields.len(),
                values.len()
            )));
        }
        let mut buf = std::mem::take(&mut self.scratch);
        buf.clear();
        for (f, v) in t.fields.iter().zip(values) {
            if let Err(why) = encode_value(f.decoder, f.length, v, &mut buf) {
                self.scratch = buf;
                return Err(encode_error(format!(
                    "field {} ({}) of template {}: {why}",
                    f.ie.name,
                    kind(v),
                    t.id
                )));
            }
        }
        Ok(buf)
    }

    fn require(&self, odid: u32, id: u16) -> Result<Arc<Template>> {
        self.template(odid, id).cloned().ok_or_else(|| {
            encode_error(format!(
                "no template {id} in observation domain {odid}: add it first"
            ))
        })
    }

    /// Whether placing an item of `len` octets in set `set_id` of `odid`
    /// begins a new message.
    fn starts_message(&self, odid: u32, set_id: u16, len: usize) -> bool {
        let header = if self.set.is_some_and(|s| s.0 == set_id) {
            0
        } else {
            SET_HEADER_LEN
        };
        self.msg.is_empty()
            || self.msg_domain != odid
            || self.msg.len().saturating_add(header).saturating_add(len) > self.opts.mtu
    }

    /// With `template_refresh = n`: before the first record of a domain's
    /// message number 1 + k*n (k >= 1), write all its templates again.
    fn resend_if_due(&mut self, odid: u32) -> Result<()> {
        let every = self.opts.template_refresh.filter(|&n| n > 0);
        let after = self.opts.template_refresh_secs;
        if every.is_none() && after.is_none() {
            return Ok(());
        }
        let now = self.export_time();
        let Some(d) = self.domains.get(&odid) else {
            return Ok(());
        };
        let by_count =
            every.is_some_and(|n| d.messages > 0 && d.messages.checked_rem(n) == Some(0));
        let by_time = after.is_some_and(|s| {
            d.templates_at
                .is_some_and(|t| d.messages > 0 && now.saturating_sub(t) >= s)
        });
        if !by_count && !by_time {
            return Ok(());
        }
        let templates: Vec<Arc<Template>> = d.templates.values().cloned().collect();
        self.flush()?;
        for t in &templates {
            self.put_template(t)?;
        }
        if let Some(d) = self.domains.get_mut(&odid) {
            d.templates_at = Some(now);
        }
        self.refreshes = self.refreshes.saturating_add(1);
        Ok(())
    }

    /// How many times a domain's templates were sent again (RFC 7011
    /// §8.4): a caller with something to say at each refresh (the meter's
    /// statistics) watches it.
    pub fn refreshes(&self) -> u64 {
        self.refreshes
    }

    /// The export time of a message written now (seconds since 1970).
    fn export_time(&self) -> u32 {
        self.opts.export_time.unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |t| u32::try_from(t.as_secs()).unwrap_or(u32::MAX))
        })
    }

    /// Put one item (template record, withdrawal, data record) of set
    /// `set_id` into the message of `odid`, starting a new message when
    /// the domain changes or the item does not fit.
    fn place(&mut self, odid: u32, set_id: u16, item: &[u8]) -> Result<()> {
        // mtu >= MESSAGE_HEADER_LEN + SET_HEADER_LEN + 4 (checked in `new`).
        let room = self
            .opts
            .mtu
            .saturating_sub(MESSAGE_HEADER_LEN)
            .saturating_sub(SET_HEADER_LEN);
        if item.len() > room {
            let what = match set_id {
                TEMPLATE_SET_ID | OPTIONS_TEMPLATE_SET_ID => "a template record",
                _ => "a record",
            };
            return Err(encode_error(format!(
                "{what} of {} octets does not fit a message of at most {} octets",
                item.len(),
                self.opts.mtu
            )));
        }
        self.make_room(odid, set_id, item.len())?;
        if self.msg.is_empty() {
            self.start(odid);
        }
        if self.set.is_none_or(|s| s.0 != set_id) {
            self.close_set();
            self.set = Some((set_id, self.msg.len()));
            self.msg.extend_from_slice(&set_id.to_be_bytes());
            self.msg.extend_from_slice(&[0, 0]);
        }
        self.msg.extend_from_slice(item);
        Ok(())
    }

    /// Write the message being built when an item of `len` octets in set
    /// `set_id` of `odid` cannot join it (another domain, or no room).
    fn make_room(&mut self, odid: u32, set_id: u16, len: usize) -> Result<()> {
        if !self.msg.is_empty() && self.starts_message(odid, set_id, len) {
            self.flush()?;
        }
        Ok(())
    }

    fn start(&mut self, odid: u32) {
        self.msg.resize(MESSAGE_HEADER_LEN, 0);
        self.msg_domain = odid;
        self.msg_records = 0;
        let d = self.domains.entry(odid).or_default();
        d.messages = d.messages.saturating_add(1);
    }

    fn close_set(&mut self) {
        if let Some((_, at)) = self.set.take() {
            // The set began at `at` of this message (at most mtu octets).
            let len = self.msg.len().saturating_sub(at) as u16;
            if let Some(d) = self.msg.get_mut(at.saturating_add(2)..at.saturating_add(4)) {
                d.copy_from_slice(&len.to_be_bytes());
            }
        }
    }

    /// Write the message being built, if any.
    pub fn flush(&mut self) -> Result<()> {
        if self.msg.is_empty() {
            return Ok(());
        }
        self.close_set();
        let odid = self.msg_domain;
        let export = self.export_time();
        let d = self.domains.entry(odid).or_default();
        let len = self.msg.len() as u16;
        let mut h = [0u8; MESSAGE_HEADER_LEN];
        h[0..2].copy_from_slice(&IPFIX_VERSION.to_be_bytes());
        h[2..4].copy_from_slice(&len.to_be_bytes());
        h[4..8].copy_from_slice(&export.to_be_bytes());
        h[8..12].copy_from_slice(&d.sequence.to_be_bytes());
        h[12..16].copy_from_slice(&odid.to_be_bytes());
        self.msg[..MESSAGE_HEADER_LEN].copy_from_slice(&h);
        d.sequence = d.sequence.wrapping_add(self.msg_records);
        let r = self.out.write_all(&self.msg);
        let (octets, records) = (self.msg.len() as u64, u64::from(self.msg_records));
        self.msg.clear();
        self.msg_records = 0;
        match r {
            // Not sent, and the export goes on: not counted (its records
            // keep their sequence numbers, so a collector sees the gap).
            Err(e) if NotSent::is(&e) => {
                self.stats.records = self.stats.records.saturating_sub(records);
                Ok(())
            }
            r => {
                self.stats.bytes = self.stats.bytes.saturating_add(octets);
                self.stats.messages = self.stats.messages.saturating_add(1);
                r.map_err(Error::from)
            }
        }
    }

    /// Write what is pending and give the sink back.
    pub fn finish(mut self) -> Result<W> {
        self.flush()?;
        self.out.flush().map_err(Error::from)?;
        Ok(self.out)
    }

    /// The sink.
    pub fn get_ref(&self) -> &W {
        &self.out
    }
}

#[path = "exporter_counted.rs"]
mod counted;
pub use counted::NotSent;
#[path = "exporter_inplace.rs"]
mod inplace;
pub use inplace::RecordsMark;

#[cfg(test)]
#[path = "exporter_tests.rs"]
mod tests;
