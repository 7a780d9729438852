//! python-ipfix's IESpec format, `name(pen/num)<type>[size]`: every part
//! optional when looking an IE up, name + number + type when defining one.

use super::types::DataType;
use crate::error::{Error, ErrorKind, Result};

/// The parts of an IESpec string.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpecParts {
    pub name: Option<String>,
    pub pen: Option<u32>,
    pub id: Option<u16>,
    pub data_type: Option<DataType>,
    pub length: Option<u16>,
}

fn bad(spec: &str, why: &str) -> Error {
    Error::new(ErrorKind::BadSpec(format!("{spec:?}: {why}")))
}

/// Take the text between `open` and `close` at the start of `s`.
fn bracketed<'a>(
    s: &'a str,
    open: char,
    close: char,
    spec: &str,
) -> Result<(Option<&'a str>, &'a str)> {
    match s.strip_prefix(open) {
        None => Ok((None, s)),
        Some(rest) => match rest.find(close) {
            Some(end) => Ok((Some(&rest[..end]), &rest[end + 1..])),
            None => Err(bad(spec, &format!("missing '{close}'"))),
        },
    }
}

/// Parse an IESpec string.
pub fn parse_spec(spec: &str) -> Result<SpecParts> {
    let s = spec.trim();
    let name_end = s.find(['(', '<', '[']).unwrap_or(s.len());
    let name = &s[..name_end];
    if name.chars().any(char::is_whitespace) {
        return Err(bad(spec, "whitespace in the name"));
    }
    let mut out = SpecParts {
        name: (!name.is_empty()).then(|| name.to_string()),
        ..SpecParts::default()
    };
    let (num, rest) = bracketed(&s[name_end..], '(', ')', spec)?;
    if let Some(num) = num {
        let (pen, id) = match num.split_once('/') {
            Some((p, i)) => (Some(p), i),
            None => (None, num),
        };
        if let Some(p) = pen {
            out.pen = Some(
                p.trim()
                    .parse()
                    .map_err(|_| bad(spec, "bad enterprise number"))?,
            );
        }
        let id: u16 = id
            .trim()
            .parse()
            .map_err(|_| bad(spec, "bad element number"))?;
        if id & 0x8000 != 0 {
            return Err(bad(spec, "element number above 32767"));
        }
        out.id = Some(id);
    }
    let (ty, rest) = bracketed(rest, '<', '>', spec)?;
    if let Some(ty) = ty {
        out.data_type = Some(
            DataType::from_name(ty.trim())
                .ok_or_else(|| bad(spec, &format!("unknown type {ty:?}")))?,
        );
    }
    let (len, rest) = bracketed(rest, '[', ']', spec)?;
    if let Some(len) = len {
        out.length = Some(len.trim().parse().map_err(|_| bad(spec, "bad size"))?);
    }
    if !rest.trim().is_empty() {
        return Err(bad(spec, &format!("unexpected text {rest:?}")));
    }
    Ok(out)
}

/// Print parts back in IESpec form (parts that are `None` are left out).
pub fn format_spec(p: &SpecParts) -> String {
    let mut s = p.name.clone().unwrap_or_default();
    match (p.pen, p.id) {
        (Some(pen), Some(id)) => s.push_str(&format!("({pen}/{id})")),
        (None, Some(id)) => s.push_str(&format!("({id})")),
        _ => {}
    }
    if let Some(t) = p.data_type {
        s.push_str(&format!("<{}>", t.name()));
    }
    if let Some(l) = p.length {
        s.push_str(&format!("[{l}]"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_spec() {
        let p = parse_spec("tcpRttMs(35566/1030)<unsigned32>[4]").unwrap();
        assert_eq!(p.name.as_deref(), Some("tcpRttMs"));
        assert_eq!((p.pen, p.id), (Some(35566), Some(1030)));
        assert_eq!(p.data_type, Some(DataType::Unsigned32));
        assert_eq!(p.length, Some(4));
        assert_eq!(format_spec(&p), "tcpRttMs(35566/1030)<unsigned32>[4]");
    }

    #[test]
    fn partial_specs() {
        assert_eq!(
            parse_spec("octetDeltaCount").unwrap().name.as_deref(),
            Some("octetDeltaCount")
        );
        let p = parse_spec("(1)").unwrap();
        assert_eq!((p.pen, p.id, p.name), (None, Some(1), None));
        assert_eq!(parse_spec("octetDeltaCount[4]").unwrap().length, Some(4));
    }

    #[test]
    fn bad_specs() {
        for s in [
            "x(1",
            "x<nosuchtype>",
            "x(a/b)",
            "x(1)<unsigned8>junk",
            "x(40000)",
            "a b",
        ] {
            assert!(parse_spec(s).is_err(), "{s}");
        }
    }
}
