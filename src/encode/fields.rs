//! Template fields from column names: an IE name (`octetDeltaCount`), an
//! IESpec with a length (`octetDeltaCount[4]` for RFC 7011 §6.2 reduced-size
//! encoding, `interfaceName[16]` for a fixed-length string) or a full IESpec
//! of an enterprise IE. Without a length a field takes the IE's own length
//! (its spec's, else the type's full width) or variable length.

use crate::error::{Error, ErrorKind, Result};
use crate::model::{parse_spec, InfoModel};
use crate::wire::{FieldSpec, VARLEN};

/// The field specifier a column name asks for (`name.k`, the reader's
/// name of an IE's k-th repetition in a template, asks for the IE).
pub fn resolve_field(model: &mut InfoModel, column: &str) -> Result<FieldSpec> {
    let c = model.resolve_column(column)?;
    let ie = c.ie;
    let asked = if c.nth > 0 || model.by_name(column).is_some() {
        None
    } else {
        parse_spec(column)?.length
    };
    let length = asked
        .or(ie.length)
        .or(ie.data_type.native_length())
        .unwrap_or(VARLEN);
    if length != VARLEN && !ie.data_type.accepts_length(length) {
        return Err(Error::new(ErrorKind::Encode(format!(
            "{column}: a {} cannot be encoded in {length} octets",
            ie.data_type.name()
        ))));
    }
    Ok(FieldSpec {
        id: ie.id,
        length,
        pen: ie.pen,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_specs_and_lengths() {
        let mut m = InfoModel::iana();
        let f = |m: &mut InfoModel, s: &str| resolve_field(m, s).map(|f| (f.pen, f.id, f.length));
        assert_eq!(f(&mut m, "octetDeltaCount").unwrap(), (0, 1, 8));
        assert_eq!(f(&mut m, "octetDeltaCount[4]").unwrap(), (0, 1, 4));
        assert_eq!(f(&mut m, "interfaceName").unwrap(), (0, 82, VARLEN));
        assert_eq!(f(&mut m, "reverseOctetDeltaCount").unwrap(), (29305, 1, 8));
        assert_eq!(f(&mut m, "sourceTransportPort.1").unwrap(), (0, 7, 2));
        assert_eq!(
            f(&mut m, "myCounter(35566/900)<unsigned32>[2]").unwrap(),
            (35566, 900, 2)
        );
        assert!(f(&mut m, "octetDeltaCount[9]").is_err());
        assert!(f(&mut m, "sourceIPv4Address[3]").is_err());
        assert!(f(&mut m, "noSuchElement").is_err());
    }
}
