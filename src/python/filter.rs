//! `where=` from Python: the filter on flow keys the columnar sink applies
//! while decoding ([`crate::columnar::RecordFilter`]).

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::columnar::{Prefix, RecordFilter};

/// A record filter as Python hands it over (see `ferrofix._arrow._filter`):
/// flow start range in nanoseconds since 1970, protocols, ports, prefixes.
pub(super) type FilterSpec = (Option<(i64, i64)>, Vec<u8>, Vec<u16>, Vec<(String, u8)>);

pub(super) fn record_filter(
    (start, protocols, ports, prefixes): FilterSpec,
) -> PyResult<RecordFilter> {
    let prefixes = prefixes
        .into_iter()
        .map(|(a, length)| {
            let address: std::net::IpAddr = a
                .parse()
                .map_err(|_| PyValueError::new_err(format!("{a:?} is not an IP address")))?;
            let max = if address.is_ipv4() { 32 } else { 128 };
            if length > max {
                return Err(PyValueError::new_err(format!(
                    "{a}/{length}: a prefix length is at most {max}"
                )));
            }
            Ok(Prefix { address, length })
        })
        .collect::<PyResult<Vec<_>>>()?;
    Ok(RecordFilter {
        start: start.map(|(a, b)| (i128::from(a), i128::from(b))),
        protocols,
        ports,
        prefixes,
    })
}
