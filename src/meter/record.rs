//! Flow records as IPFIX data records (RFC 7011 §3.4.3), one template per
//! IP version and transport kind (TCP; other protocols with ports; ICMP;
//! anything else), reverse elements per RFC 5103 in biflow mode. The same
//! bytes feed both ways out: the columnar sink's fixed-record path (Arrow,
//! pandas) and the exporter (IPFIX files, live export), so a metered
//! capture written as IPFIX and read back is the same table. Values are
//! written by the encoder's own primitives (those
//! [`crate::encode::encode_value`] uses); no second serializer.
//!
//! A biflow record is oriented by its initiator (see
//! [`super::flow::Flow::initiator`]): "source" is the initiator's endpoint,
//! the forward counters are the initiator's packets, the `reverse*`
//! elements the other side's. reverseFlowDeltaMilliseconds (CERT 6871/21,
//! as YAF and QoF) is the reverse direction's first packet time minus the
//! record's start, in milliseconds (left out, so null, when the reverse is
//! empty: `NO_REVERSE`).

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use super::fill::{self, Fields, Step};
use super::flow::Flow;
use super::ies::{fields, NO_FORWARD, NO_REVERSE};
use super::ies::{DirField, What};
pub use super::ies::{Kind, Times};
use super::tcpfields::{self, Tf};
use super::tcpvalues;
use crate::decode::TimePrecision;
use crate::error::{Error, ErrorKind, Result};
use crate::model::{ColumnIe, InfoModel};
use crate::session::Template;
use crate::wire::FieldSpec;

/// The observation domain of metered records.
pub const DOMAIN: u32 = 0;
/// The first template id: ids 256-279 are the templates announced at the
/// start (3 time forms × 2 IP versions × 4 kinds, TCP with every
/// TCP-performance field), later ids those made as flows need them (a TCP
/// record without the fields it did not measure, [`super::tcpfields`]).
pub const FIRST_TEMPLATE: u16 = 256;
/// Templates made at most; past it a TCP record leaves without its
/// optional TCP fields (never reached by real traffic: a template per
/// combination of values measured).
pub const MAX_TEMPLATES: usize = 4096;

/// One template and what its fields hold, with their lengths (read once
/// here rather than from the template's field list per record), and its
/// record length (every field is fixed-length, `check_lengths`).
pub struct Layout {
    /// Its index among the meter's templates (made in this order).
    pub index: usize,
    template: Arc<Template>,
    steps: Vec<Step>,
    len: usize,
}

/// What picks a record's template.
pub(crate) type LayoutKey = (Times, u8, Kind, u32);

/// The templates made so far, by [`LayoutKey`].
#[derive(Default)]
struct Made {
    layouts: Vec<Arc<Layout>>,
    index: HashMap<LayoutKey, usize>,
}

impl Made {
    /// The layout made for `key`, if any.
    fn get(&self, key: LayoutKey) -> Option<Arc<Layout>> {
        self.index
            .get(&key)
            .and_then(|&i| self.layouts.get(i))
            .cloned()
    }
}

/// The templates of a meter and the encoding of flows into their records.
pub struct Records {
    model: InfoModel,
    biflow: bool,
    tcp_metrics: bool,
    /// tcpRttBinCount's (PEN, id): the RTT histogram's element.
    hist_element: (u32, u16),
    columns: Vec<ColumnIe>,
    made: RwLock<Made>,
}

impl Records {
    /// The templates of a meter with these settings, their IEs from
    /// `model` (IANA, RFC 5103 reverse, CERT, QoF, ferrofix's).
    pub fn new(model: &InfoModel, biflow: bool, tcp_metrics: bool) -> Result<Self> {
        let hist_element = model
            .by_name("tcpRttBinCount")
            .map_or((0, 0), |ie| (ie.pen, ie.id));
        let mut r = Records {
            model: model.clone(),
            biflow,
            tcp_metrics,
            hist_element,
            columns: Vec::new(),
            made: RwLock::new(Made::default()),
        };
        let full = if tcp_metrics {
            Self::full_mask(biflow)
        } else {
            0
        };
        let mut columns: Vec<ColumnIe> = Vec::new();
        for (version, kind, times) in Times::ALL.into_iter().flat_map(|t| {
            [4u8, 6]
                .into_iter()
                .flat_map(move |v| Kind::ALL.into_iter().map(move |k| (v, k, t)))
        }) {
            let mask = if kind == Kind::Tcp { full } else { 0 };
            let l = r.make((times, version, kind, mask))?;
            for f in &l.template.fields {
                if !columns.iter().any(|c| c.ie.name == f.ie.name) {
                    columns.push(ColumnIe::first(f.ie.clone()));
                }
            }
        }
        // Columns in order of first appearance, template by template:
        // the order `read_ipfix` gives the meter's IPFIX.
        r.columns = columns;
        Ok(r)
    }

    /// A meter's own copy: the same templates announced at the start (the
    /// same indices), none made later (a worker's, whose later templates
    /// the meter renumbers in its own order, `Records::index_of`).
    pub fn fresh(&self) -> Result<Records> {
        Records::new(&self.model, self.biflow, self.tcp_metrics)
    }

    /// What picked the template at `index`.
    pub(crate) fn key(&self, index: usize) -> Option<LayoutKey> {
        let made = self.made.read().unwrap_or_else(PoisonError::into_inner);
        made.index
            .iter()
            .find(|(_, &i)| i == index)
            .map(|(k, _)| *k)
    }

    /// The index of the template `key` picks (made now if new).
    pub(crate) fn index_of(&self, key: LayoutKey) -> Result<usize> {
        self.make(key).map(|l| l.index)
    }

    /// Every optional TCP group present.
    fn full_mask(biflow: bool) -> u32 {
        tcpfields::Group::all_bits(biflow)
    }

    /// The layout of `key`, made now if not made yet.
    fn make(&self, key: LayoutKey) -> Result<Arc<Layout>> {
        let (times, version, kind, mask) = key;
        if let Some(l) = self
            .made
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key)
        {
            return Ok(l);
        }
        let mut made = self.made.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(l) = made.get(key) {
            return Ok(l);
        }
        let fl = fields(version, kind, self.biflow, times, mask);
        let mut specs = Vec::with_capacity(fl.len());
        for (name, what) in &fl {
            let ie = self.model.by_name(name).ok_or_else(|| {
                Error::new(ErrorKind::Encode(format!(
                    "the meter's information element {name} is not in the model"
                )))
            })?;
            let length = match what {
                // A list of a fixed number of bins: a fixed length.
                What::TcpDir(_, Tf::RttHistogram) => tcpvalues::HIST_FIELD_LEN,
                What::TcpDir(_, tf) if tcpfields::reduced_length(*tf).is_some() => {
                    tcpfields::reduced_length(*tf).unwrap_or(8)
                }
                _ => ie.length.or(ie.data_type.native_length()).unwrap_or(8),
            };
            specs.push(FieldSpec {
                id: ie.id,
                length,
                pen: ie.pen,
            });
        }
        let i = made.layouts.len();
        let id = u16::try_from(i)
            .ok()
            .and_then(|i| FIRST_TEMPLATE.checked_add(i))
            .ok_or_else(|| Error::new(ErrorKind::Encode("out of meter template ids".into())))?;
        let lengths: Vec<u16> = specs.iter().map(|s| s.length).collect();
        let template = Arc::new(Template::new(id, DOMAIN, None, specs, &self.model));
        let what: Vec<(What, u16)> = fl.into_iter().map(|(_, w)| w).zip(lengths).collect();
        let len = check_lengths(&what, version, &template)?;
        let l = Arc::new(Layout {
            index: i,
            template,
            steps: fill::compile(&what),
            len,
        });
        made.layouts.push(l.clone());
        made.index.insert(key, i);
        Ok(l)
    }

    /// Every template made so far (at the start: those announced first).
    pub fn templates(&self) -> Vec<Arc<Template>> {
        self.made
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .layouts
            .iter()
            .map(|l| l.template.clone())
            .collect()
    }

    /// The model the templates' IEs come from.
    pub fn model(&self) -> &InfoModel {
        &self.model
    }

    /// The union of the templates' IEs in order of first appearance (the
    /// columns of the meter's table, as reading its IPFIX gives them).
    pub fn columns(&self) -> &[ColumnIe] {
        &self.columns
    }

    /// The records `flow` gives, by the key side of each one's forward
    /// direction: a biflow record oriented by its initiator; or (uniflows)
    /// a record for each direction that sent a packet, the initiator's
    /// first.
    pub fn sides(&self, flow: &Flow) -> [Option<usize>; 2] {
        let fwd = flow.initiator & 1;
        if self.biflow {
            [Some(fwd), None]
        } else {
            [fwd, fwd ^ 1].map(|s| flow.dir.get(s).is_some_and(|d| d.packets > 0).then_some(s))
        }
    }

    /// The template for `flow`'s record whose forward direction is key
    /// side `fwd` ([`Records::sides`]; made now if it is the first record
    /// of its kind).
    pub fn layout_of(&self, flow: &Flow, fwd: usize) -> Result<Arc<Layout>> {
        let kind = Kind::of(flow);
        let version = if flow.key.version == 6 { 6 } else { 4 };
        let (start, end) = self.span(flow, fwd);
        let times = Times::of(start, end);
        let mut mask = match (kind, flow.conn()) {
            (Kind::Tcp, Some(c)) if self.tcp_metrics => {
                tcpfields::mask(c, fwd & 1, (fwd & 1) ^ 1, self.biflow)
            }
            (Kind::Tcp, _) if self.tcp_metrics => tcpfields::ANALYSED,
            _ => 0,
        };
        if self.biflow {
            let empty = |side: usize| flow.dir.get(side).is_some_and(|d| d.packets == 0);
            if empty((fwd & 1) ^ 1) {
                mask |= NO_REVERSE;
            }
            if empty(fwd & 1) {
                mask |= NO_FORWARD;
            }
        }
        let key = {
            let made = self.made.read().unwrap_or_else(PoisonError::into_inner);
            // Out of templates: the one without optional fields (one per
            // time form, version and kind: bounded).
            let key = if made.layouts.len() >= MAX_TEMPLATES {
                (
                    times,
                    version,
                    kind,
                    (tcpfields::ANALYSED | NO_REVERSE | NO_FORWARD) & mask,
                )
            } else {
                (times, version, kind, mask)
            };
            if let Some(l) = made.get(key) {
                return Ok(l);
            }
            key
        };
        self.make(key)
    }

    /// The template at `index`.
    pub fn template(&self, index: usize) -> Option<Arc<Template>> {
        self.made
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .layouts
            .get(index)
            .map(|l| l.template.clone())
    }

    /// The first and last packet times of `flow`'s record whose forward
    /// direction is key side `fwd`: the flow's (a biflow), or the
    /// direction's (a uniflow).
    fn span(&self, flow: &Flow, fwd: usize) -> (i64, i64) {
        match flow.dir.get(fwd) {
            Some(d) if !self.biflow && d.packets > 0 => (d.first_ns, d.last_ns),
            _ => (flow.start_ns, flow.end_ns),
        }
    }

    /// Append `flow`'s record (ended for `reason`) whose forward direction
    /// is key side `fwd` to `out`, in the template `l`
    /// ([`Records::layout_of`]).
    pub fn encode(
        &self,
        l: &Layout,
        flow: &Flow,
        fwd: usize,
        reason: u8,
        out: &mut Vec<u8>,
    ) -> Result<()> {
        let fwd = fwd & 1;
        let (start_ns, end_ns) = self.span(flow, fwd);
        // A uniflow's flowId: 2n - 1 for its biflow n's initiator's
        // direction, 2n for the other's.
        let flow_id = if self.biflow {
            flow.flow_id
        } else {
            let other = u64::from(fwd != flow.initiator & 1);
            flow.flow_id
                .saturating_mul(2)
                .saturating_sub(1)
                .saturating_add(other)
        };
        let at = Fields {
            f: flow,
            flow_id,
            start_ns,
            end_ns,
            reason,
            fwd,
            rev: fwd ^ 1,
            hist_element: self.hist_element,
        };
        // The record is filled in place, with 8 octets of slack for the
        // whole-word writes of `put_word_at`, then cut to its length.
        let start = out.len();
        out.resize(start.saturating_add(l.len).saturating_add(8), 0);
        let filled = at.fill(&l.steps, out.get_mut(start..).unwrap_or_default());
        match filled {
            Ok(()) => {
                out.truncate(start.saturating_add(l.len));
                Ok(())
            }
            Err((i, r)) => {
                out.truncate(start);
                let name = l.template.fields.get(i).map_or("?", |f| &*f.ie.name);
                Err(Error::new(ErrorKind::Encode(format!(
                    "{name} of flow {}: {r}",
                    flow.flow_id
                ))))
            }
        }
    }
}

/// The record length of a layout, after checking that every field has a
/// length its value is written in: 1-8 octets for integers and times (8
/// for NTP timestamps), 4 or 16 for addresses, 6 for MAC addresses.
fn check_lengths(what: &[(What, u16)], version: u8, template: &Template) -> Result<usize> {
    let mut len = 0usize;
    for (i, &(w, n)) in what.iter().enumerate() {
        let ok = match w {
            What::SrcAddr | What::DstAddr => n == if version == 4 { 4 } else { 16 },
            What::Dir(_, DirField::SrcMac | DirField::DstMac) => n == 6,
            What::TcpDir(_, Tf::RttHistogram) => n == tcpvalues::HIST_FIELD_LEN,
            What::Start(p) | What::End(p)
                if matches!(p, TimePrecision::Microseconds | TimePrecision::Nanoseconds) =>
            {
                n == 8
            }
            _ => (1..=8).contains(&n),
        };
        if !ok {
            let name = template.fields.get(i).map_or("?", |f| &*f.ie.name);
            return Err(Error::new(ErrorKind::Encode(format!(
                "the meter cannot write {name} in {n} octets"
            ))));
        }
        len = len.saturating_add(usize::from(n));
    }
    Ok(len)
}
