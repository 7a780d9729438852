//! Repeated Information Elements: the one naming rule for an IE that a
//! template carries more than once.
//!
//! RFC 7011 §8 allows an IE more than once in a template ("the different
//! occurrences of this Information Element SHOULD follow the logical order
//! of their treatments by the Metering Process"): a Cisco SRv6 export
//! carries the outer and then the inner header's ports, protocol and class
//! of service in one record. Every occurrence is kept, as pandas names
//! repeated columns: the first under the IE's name, the k-th repetition
//! (k = 1, 2, ...) under `name.k` (`destinationTransportPort`,
//! `destinationTransportPort.1`). Dict keys, tuple and Arrow column names,
//! `columns=` selections and the writer's column names all go through this
//! file: occurrence k of an IE is the same column in every template.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use super::{IeDef, InfoModel};
use crate::error::Result;

/// One column of records: an IE and which of its occurrences in a
/// template fills it (0: the first).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ColumnIe {
    pub ie: Arc<IeDef>,
    /// Occurrence of the IE in the template, 0 for the first.
    pub nth: u16,
}

impl ColumnIe {
    /// The first (or only) occurrence of `ie`.
    pub fn first(ie: Arc<IeDef>) -> Self {
        ColumnIe { ie, nth: 0 }
    }

    /// The column's name: the IE's name, `.k` added for the k-th repetition.
    pub fn name(&self) -> Cow<'_, str> {
        occurrence_name(&self.ie.name, self.nth)
    }

    /// The identity a template field is matched by: (pen, id, occurrence).
    pub fn key(&self) -> (u32, u16, u16) {
        (self.ie.pen, self.ie.id, self.nth)
    }
}

/// The name of occurrence `nth` (0: the first) of the IE named `name`.
pub fn occurrence_name(name: &str, nth: u16) -> Cow<'_, str> {
    if nth == 0 {
        Cow::Borrowed(name)
    } else {
        Cow::Owned(format!("{name}.{nth}"))
    }
}

/// A column name split into the IE's name and the occurrence it names:
/// `"x.2"` is `("x", 2)`, a name without a `.k` suffix (k >= 1) is itself,
/// occurrence 0.
pub fn split_occurrence(column: &str) -> (&str, u16) {
    if let Some((name, k)) = column.rsplit_once('.') {
        let digits = !k.is_empty() && k.bytes().all(|b| b.is_ascii_digit());
        if let (true, false, Ok(n @ 1..)) = (digits, k.starts_with('0'), k.parse::<u16>()) {
            return (name, n);
        }
    }
    (column, 0)
}

/// For each field of a template (its IEs' (pen, id) in order), which
/// occurrence of its IE it is.
pub fn occurrences(ies: &[(u32, u16)]) -> Vec<u16> {
    let mut seen: HashMap<(u32, u16), u16> = HashMap::new();
    ies.iter()
        .map(|k| {
            let n = seen.entry(*k).or_insert(0);
            let nth = *n;
            *n = n.saturating_add(1);
            nth
        })
        .collect()
}

impl InfoModel {
    /// Resolve a column name: an IE name, IESpec ([`InfoModel::resolve`]),
    /// or `name.k` for the k-th repetition of a named IE.
    pub fn resolve_column(&mut self, column: &str) -> Result<ColumnIe> {
        let (name, nth) = split_occurrence(column);
        if nth > 0 {
            if let Some(ie) = self.by_name(name) {
                return Ok(ColumnIe { ie, nth });
            }
        }
        Ok(ColumnIe::first(self.resolve(column)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_split_and_occurrences() {
        assert_eq!(
            occurrence_name("sourceTransportPort", 0),
            "sourceTransportPort"
        );
        assert_eq!(
            occurrence_name("sourceTransportPort", 2),
            "sourceTransportPort.2"
        );
        assert_eq!(
            split_occurrence("sourceTransportPort.2"),
            ("sourceTransportPort", 2)
        );
        for plain in ["x", "x.", "x.0", "x.01", "x.a1", "x.99999", "a.b"] {
            assert_eq!(split_occurrence(plain), (plain, 0));
        }
        assert_eq!(
            occurrences(&[(0, 7), (0, 11), (0, 7), (9, 7), (0, 7)]),
            [0, 0, 1, 0, 2]
        );
    }

    #[test]
    fn resolve_column_names_an_occurrence() {
        let mut m = InfoModel::iana();
        let c = m.resolve_column("destinationTransportPort.1").unwrap();
        assert_eq!(
            (c.ie.id, c.nth, c.name().as_ref()),
            (11, 1, "destinationTransportPort.1")
        );
        let c = m.resolve_column("octetDeltaCount").unwrap();
        assert_eq!((c.ie.id, c.nth), (1, 0));
        assert!(m.resolve_column("noSuchElement.1").is_err());
        assert!(m.resolve_column("octetDeltaCount.0").is_err());
    }
}
