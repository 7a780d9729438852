//! The enterprise Information Elements ferrofix ships: CERT's (PEN 6871, the
//! IEs YAF, SiLK and QoF export, e.g. initialTCPFlags, unionTCPFlags,
//! reverseFlowDeltaMilliseconds) and QoF's (PEN 35566, "trammell.ch", the
//! TCP performance IEs such as tcpSequenceCount and minTcpRttMilliseconds).
//!
//! The IE tables live in one place only, the IESpec files under
//! `python/ferrofix/specs/` (their headers say where each came from); they
//! are embedded here at compile time so that Rust code (a flow meter, cargo
//! tests) knows the IEs without the Python package. Their RFC 5103 §6.2
//! reverse IEs (element id | 0x4000, same PEN, `reverse` + capitalised name)
//! follow from [`InfoModel::add`], as for any enterprise IE.
//!
//! The Python layer reads the same files from disk into a bare IANA model
//! ([`InfoModel::iana`]), so that `spec_files=[]` still means "none".

use std::sync::OnceLock;

use super::InfoModel;
use crate::error::Result;

/// CERT's IEs (PEN 6871), generated from libfixbuf's cert_ipfix.xml by
/// `scripts/gen_cert_spec.py`.
pub const CERT_IESPEC: &str = include_str!("../../python/ferrofix/specs/cert.iespec");

/// QoF's IEs (PEN 35566), forward IEs only.
pub const QOF_IESPEC: &str = include_str!("../../python/ferrofix/specs/qof.iespec");

/// ferrofix's TCP-performance IEs (PEN 32473, RFC 5612's documentation
/// number, unless the meter is given another), forward IEs only.
pub const FERROFIX_IESPEC: &str = include_str!("../../python/ferrofix/specs/ferrofix.iespec");

/// The PEN of [`FERROFIX_IESPEC`].
pub const FERROFIX_PEN: u32 = 32473;

/// [`FERROFIX_IESPEC`] under enterprise number `pen` instead of
/// [`FERROFIX_PEN`]: the same numbers and names, for an organisation that
/// exports them under its own PEN.
pub fn ferrofix_spec_at(pen: u32) -> String {
    FERROFIX_IESPEC.replace(&format!("({FERROFIX_PEN}/"), &format!("({pen}/"))
}

/// Every bundled spec file as (name, text), in the order Python's
/// `ferrofix.BUNDLED_SPECS` loads them (a later file wins a clash).
pub const BUNDLED_SPECS: [(&str, &str); 3] = [
    ("cert", CERT_IESPEC),
    ("qof", QOF_IESPEC),
    ("ferrofix", FERROFIX_IESPEC),
];

/// Add every bundled spec to `model`, in order; the number of IEs added
/// (forward ones, as written in the files).
pub fn add_bundled(model: &mut InfoModel) -> Result<usize> {
    let mut n = 0;
    for (_, text) in BUNDLED_SPECS {
        n += model.add_spec_text(text)?;
    }
    Ok(n)
}

/// The IANA model plus the bundled IEs, built once; models clone it (its
/// tables are shared until a model adds an IE of its own).
pub(super) fn bundled_model() -> &'static InfoModel {
    static MODEL: OnceLock<InfoModel> = OnceLock::new();
    MODEL.get_or_init(|| {
        let mut m = InfoModel::iana();
        // The texts are compiled in, not input: a line that does not parse
        // is a bug in a committed file, caught by the tests below.
        add_bundled(&mut m).expect("the bundled spec files parse");
        m
    })
}

#[cfg(test)]
#[path = "bundled_tests.rs"]
mod tests;

#[cfg(test)]
mod load_tests {
    use super::*;

    #[test]
    fn ferrofix_ies_move_to_another_pen_by_name() {
        let mut m = InfoModel::new();
        m.add_spec_text(&ferrofix_spec_at(4_200_000_001)).unwrap();
        let ie = m.by_name("minTcpRttMicroseconds").unwrap();
        assert_eq!((ie.pen, ie.id), (4_200_000_001, 1));
        let rev = m.by_name("reverseTcpEcnNegotiated").unwrap();
        assert_eq!((rev.pen, rev.id), (4_200_000_001, 47 + 16384));
        // No line is left under the documentation PEN.
        assert!(!ferrofix_spec_at(7).contains("(32473/"));
    }

    fn spec_lines(text: &str) -> usize {
        text.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .count()
    }

    #[test]
    fn every_line_of_every_bundled_file_loads() {
        let mut m = InfoModel::iana();
        let want: usize = BUNDLED_SPECS.iter().map(|(_, t)| spec_lines(t)).sum();
        assert_eq!(add_bundled(&mut m).unwrap(), want);
        // 30 QoF IEs (qof.iespec lists 1024..=1053).
        assert_eq!(spec_lines(QOF_IESPEC), 30);
        // 50 of ferrofix's, numbered 1..=50.
        assert_eq!(spec_lines(FERROFIX_IESPEC), 50);
    }
}
