//! The information model (RFC 7012): IANA Information Elements from the
//! generated table, RFC 5103 reverse IEs, the bundled enterprise IEs (CERT's
//! and QoF's, [`bundled`]), enterprise IEs added at run time from IESpec
//! strings or spec files, and the `_ipfix_<pen>_<num>` fallback for IEs
//! nobody described.
//!
//! An [`InfoModel`] is a value owned by a reader, not a process-global
//! registry: two readers can describe the same enterprise number differently.

pub mod bundled;
mod iana_table;
mod occurrence;
mod reverse;
pub mod spec;
pub mod types;

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

pub use iana_table::{IANA_IES, IANA_REGISTRY_UPDATED};
pub use occurrence::{occurrence_name, occurrences, split_occurrence, ColumnIe};
pub use reverse::{reverse_name, REVERSE_PEN};
pub use spec::{parse_spec, SpecParts};
pub use types::{DataType, IanaEntry, Semantics, Status};

use crate::error::{Error, ErrorKind, Result};

/// Enterprise bit of a field specifier's element id (RFC 7011 §3.2).
pub const ENTERPRISE_BIT: u16 = 0x8000;
/// RFC 5103 §6.2: for enterprise IEs, bit 14 of the element id marks the
/// reverse direction.
pub const ENTERPRISE_REVERSE_BIT: u16 = 0x4000;

/// One Information Element: identity, name and type.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IeDef {
    /// Name used for dict keys and column names.
    pub name: Arc<str>,
    /// Private enterprise number, 0 for IANA.
    pub pen: u32,
    /// Element id without the enterprise bit.
    pub id: u16,
    pub data_type: DataType,
    pub semantics: Semantics,
    /// Units from the registry, empty when none.
    pub units: Arc<str>,
    /// Fixed or reduced length given in an IESpec `[size]`, if any.
    pub length: Option<u16>,
    /// True when the model did not know this IE (named `_ipfix_<pen>_<num>`).
    pub unknown: bool,
}

impl IeDef {
    /// A user-defined IE.
    pub fn new(name: &str, pen: u32, id: u16, data_type: DataType) -> Self {
        IeDef {
            name: Arc::from(name),
            pen,
            id,
            data_type,
            semantics: Semantics::Default,
            units: Arc::from(""),
            length: None,
            unknown: false,
        }
    }

    fn from_iana(e: &IanaEntry) -> Self {
        IeDef {
            name: Arc::from(e.name),
            pen: 0,
            id: e.id,
            data_type: e.data_type,
            semantics: e.semantics,
            units: Arc::from(e.units),
            length: None,
            unknown: false,
        }
    }

    /// The stand-in for an IE nobody described: raw bytes, named like
    /// python-ipfix does.
    pub fn unknown(pen: u32, id: u16) -> Self {
        IeDef {
            name: Arc::from(format!("_ipfix_{pen}_{id}").as_str()),
            pen,
            id,
            data_type: DataType::OctetArray,
            semantics: Semantics::Default,
            units: Arc::from(""),
            length: None,
            unknown: true,
        }
    }

    /// The RFC 5103 reverse counterpart of this IE: PEN 29305 for IANA IEs,
    /// bit 14 set for enterprise IEs.
    pub fn reversed(&self) -> IeDef {
        let (pen, id) = if self.pen == 0 {
            (REVERSE_PEN, self.id)
        } else {
            (self.pen, self.id | ENTERPRISE_REVERSE_BIT)
        };
        IeDef {
            name: Arc::from(reverse_name(&self.name).as_str()),
            pen,
            id,
            ..self.clone()
        }
    }

    /// The IESpec form `name(pen/num)<type>[size]`.
    pub fn spec(&self) -> String {
        let mut s = format!(
            "{}({}/{})<{}>",
            self.name,
            self.pen,
            self.id,
            self.data_type.name()
        );
        if let Some(len) = self.length {
            s.push_str(&format!("[{len}]"));
        }
        s
    }
}

struct IanaIndex {
    by_id: HashMap<u16, Arc<IeDef>>,
    reverse_by_id: HashMap<u16, Arc<IeDef>>,
    by_name: HashMap<Arc<str>, Arc<IeDef>>,
}

fn iana_index() -> &'static IanaIndex {
    static INDEX: OnceLock<IanaIndex> = OnceLock::new();
    INDEX.get_or_init(|| {
        let mut by_id = HashMap::new();
        let mut reverse_by_id = HashMap::new();
        let mut by_name = HashMap::new();
        for e in IANA_IES {
            let def = Arc::new(IeDef::from_iana(e));
            let rev = Arc::new(def.reversed());
            by_name.insert(def.name.clone(), def.clone());
            by_name.insert(rev.name.clone(), rev.clone());
            by_id.insert(e.id, def);
            reverse_by_id.insert(e.id, rev);
        }
        IanaIndex {
            by_id,
            reverse_by_id,
            by_name,
        }
    })
}

/// A reader's view of the information model: the IANA table plus the
/// enterprise IEs this reader was given. [`InfoModel::new`] (and `default()`)
/// knows the bundled CERT and QoF IEs too; [`InfoModel::iana`] does not.
#[derive(Clone)]
pub struct InfoModel {
    extra: Arc<HashMap<(u32, u16), Arc<IeDef>>>,
    extra_by_name: Arc<HashMap<Arc<str>, Arc<IeDef>>>,
}

impl std::fmt::Debug for InfoModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InfoModel")
            .field("extra", &self.extra.len())
            .finish_non_exhaustive()
    }
}

impl Default for InfoModel {
    fn default() -> Self {
        InfoModel::new()
    }
}

impl InfoModel {
    /// The IANA model plus the bundled enterprise IEs ([`bundled`]: CERT's,
    /// PEN 6871, and QoF's, PEN 35566) and their RFC 5103 reverses. IEs
    /// added later replace bundled ones with the same (pen, id), as if the
    /// bundled spec files had been loaded first.
    pub fn new() -> Self {
        bundled::bundled_model().clone()
    }

    /// The IANA model with no enterprise IEs (Python's readers start here
    /// and load the spec files they are given, bundled ones included).
    pub fn iana() -> Self {
        InfoModel {
            extra: Arc::default(),
            extra_by_name: Arc::default(),
        }
    }

    /// Add (or replace) an IE. Enterprise IEs get their RFC 5103 reverse
    /// counterpart too, unless one is already defined.
    pub fn add(&mut self, def: IeDef) {
        let def = Arc::new(def);
        let extra = Arc::make_mut(&mut self.extra);
        let by_name = Arc::make_mut(&mut self.extra_by_name);
        if def.pen != 0 && def.pen != REVERSE_PEN && def.id & ENTERPRISE_REVERSE_BIT == 0 {
            let rev = Arc::new(def.reversed());
            if let std::collections::hash_map::Entry::Vacant(slot) = extra.entry((rev.pen, rev.id))
            {
                by_name.insert(rev.name.clone(), rev.clone());
                slot.insert(rev);
            }
        }
        by_name.insert(def.name.clone(), def.clone());
        extra.insert((def.pen, def.id), def);
    }

    /// Add an IE from a full IESpec (`name(pen/num)<type>[size]`; pen may be
    /// omitted for 0).
    pub fn add_spec(&mut self, spec: &str) -> Result<Arc<IeDef>> {
        let p = parse_spec(spec)?;
        let (Some(name), Some(id), Some(data_type)) = (p.name, p.id, p.data_type) else {
            return Err(Error::new(ErrorKind::BadSpec(format!(
                "{spec:?}: a new IE needs a name, a number and a type"
            ))));
        };
        let mut def = IeDef::new(&name, p.pen.unwrap_or(0), id, data_type);
        def.length = p.length;
        if def.pen == 0 {
            if let Some(iana) = iana_index().by_id.get(&id) {
                def.semantics = iana.semantics;
                def.units = iana.units.clone();
            }
        }
        self.add(def);
        Ok(self.lookup(p.pen.unwrap_or(0), id))
    }

    /// Load every spec in a spec file's text (one per line, `#` comments).
    pub fn add_spec_text(&mut self, text: &str) -> Result<usize> {
        let mut n = 0;
        for (lineno, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            self.add_spec(line).map_err(|e| {
                Error::new(ErrorKind::BadSpec(format!(
                    "line {}: {}",
                    lineno + 1,
                    e.kind
                )))
            })?;
            n += 1;
        }
        Ok(n)
    }

    /// The IE for a field specifier's (pen, id); never fails: IEs nobody
    /// described come back as raw bytes named `_ipfix_<pen>_<num>`.
    pub fn lookup(&self, pen: u32, id: u16) -> Arc<IeDef> {
        if let Some(d) = self.extra.get(&(pen, id)) {
            return d.clone();
        }
        let idx = iana_index();
        if pen == 0 {
            if let Some(d) = idx.by_id.get(&id) {
                return d.clone();
            }
        } else if pen == REVERSE_PEN {
            if let Some(d) = idx.reverse_by_id.get(&id) {
                return d.clone();
            }
        }
        Arc::new(IeDef::unknown(pen, id))
    }

    /// Find an IE by name (IANA, reverse, enterprise or `_ipfix_<pen>_<num>`).
    pub fn by_name(&self, name: &str) -> Option<Arc<IeDef>> {
        if let Some(d) = self.extra_by_name.get(name) {
            return Some(d.clone());
        }
        if let Some(d) = iana_index().by_name.get(name) {
            return Some(d.clone());
        }
        let rest = name.strip_prefix("_ipfix_")?;
        let (pen, id) = rest.split_once('_')?;
        Some(self.lookup(pen.parse().ok()?, id.parse().ok()?))
    }

    /// Resolve a column request: an IE name, or an IESpec (a full one adds
    /// the IE to this model first).
    pub fn resolve(&mut self, column: &str) -> Result<Arc<IeDef>> {
        if let Some(d) = self.by_name(column) {
            return Ok(d);
        }
        let p = parse_spec(column)?;
        match (p.pen, p.id, p.data_type.is_some() && p.name.is_some()) {
            (_, Some(_), true) => self.add_spec(column),
            (pen, Some(id), false) => Ok(self.lookup(pen.unwrap_or(0), id)),
            _ => match p.name.as_deref().and_then(|n| self.by_name(n)) {
                Some(d) => Ok(d),
                None => Err(Error::new(ErrorKind::BadSpec(format!(
                    "unknown Information Element {column:?}"
                )))),
            },
        }
    }

    /// Every IE the model knows (IANA first, by id, then the added ones).
    pub fn all(&self) -> Vec<Arc<IeDef>> {
        let idx = iana_index();
        let mut out: Vec<Arc<IeDef>> = IANA_IES
            .iter()
            .filter_map(|e| idx.by_id.get(&e.id).cloned())
            .collect();
        let mut extra: Vec<Arc<IeDef>> = self.extra.values().cloned().collect();
        extra.sort_by_key(|d| (d.pen, d.id));
        out.extend(extra);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iana_lookup_and_reverse() {
        let m = InfoModel::iana();
        let d = m.lookup(0, 1);
        assert_eq!(&*d.name, "octetDeltaCount");
        assert_eq!(d.data_type, DataType::Unsigned64);
        let r = m.lookup(REVERSE_PEN, 1);
        assert_eq!(&*r.name, "reverseOctetDeltaCount");
        assert_eq!(
            m.by_name("reverseOctetDeltaCount").unwrap().pen,
            REVERSE_PEN
        );
    }

    #[test]
    fn unknown_ie_named_like_python_ipfix() {
        let m = InfoModel::iana();
        let d = m.lookup(12345, 7);
        assert_eq!(&*d.name, "_ipfix_12345_7");
        assert!(d.unknown);
        assert_eq!(m.by_name("_ipfix_12345_7").unwrap().id, 7);
    }

    #[test]
    fn enterprise_spec_and_reverse_bit() {
        let mut m = InfoModel::iana();
        m.add_spec("tcpSequenceCount(35566/1024)<unsigned64>")
            .unwrap();
        assert_eq!(&*m.lookup(35566, 1024).name, "tcpSequenceCount");
        let r = m.lookup(35566, 1024 | 0x4000);
        assert_eq!(&*r.name, "reverseTcpSequenceCount");
        assert_eq!(r.data_type, DataType::Unsigned64);
        // A second model does not see the first one's IEs.
        assert!(InfoModel::iana().lookup(35566, 1024).unknown);
    }
}
