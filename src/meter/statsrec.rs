//! The meter's statistics as IPFIX options records, in the options
//! templates RFC 7011 §4 recommends, with IANA's IEs, holding only what
//! the meter knows to be true:
//!
//! - Metering Process Statistics (§4.1; template
//!   [`METERING_STATS_TEMPLATE`]): scope `observationDomainId` (the
//!   domain of the flow records, which the records are exported in too;
//!   the meter is its one metering process, so no `meteringProcessId`),
//!   then `exportedMessageTotalCount`,
//!   `exportedFlowRecordTotalCount` and `exportedOctetTotalCount`. IANA
//!   defines each to exclude the message that carries it: the record is
//!   written by [`Exporter::encode_counted_record`], which writes what is
//!   pending and any template refresh due before it reads the counts, so
//!   they are of every message written before the record's own (octets
//!   as the messages' length fields sum them; flow records without the
//!   options records written earlier).
//! - Metering Process Reliability Statistics (§4.2; template
//!   [`METERING_RELIABILITY_TEMPLATE`]): scope `observationDomainId`,
//!   then `ignoredPacketTotalCount`: "observed IP packets that the
//!   Metering Process did not process", the frames whose link layer
//!   carried IPv4 or IPv6 with a malformed or cut IP header (the
//!   dissector's `malformed_ip`); and `ignoredOctetTotalCount`, their
//!   octets as on the wire (the frame's original length less its link
//!   header: a malformed header's own length field is no length to
//!   trust). Frames of an unread link type, frames carrying something
//!   else (ARP, LLDP) and frames that end inside their link header are
//!   not IP packets the meter observed, and are left out. Once a packet
//!   has been ignored, the record goes in
//!   [`METERING_RELIABILITY_TIMED_TEMPLATE`] instead, the same fields then
//!   §4.2's times of the first and last packet ignored, as two
//!   `observationTimeNanoseconds` (the earliest and the latest capture
//!   time of those packets); with none ignored there is no such time, and
//!   none is made up.
//!
//! §4.3 (Exporting Process Reliability) is not written: a record the
//! exporter cannot write to a file or a TCP connection ends the run with
//! an error, and over UDP it cannot know what the collector received.

use std::io::Write;
use std::sync::Arc;

use arrow_schema::TimeUnit;

use super::record::{FIRST_TEMPLATE, MAX_TEMPLATES};
use super::MeterStats;
use crate::decode::Value;
use crate::encode::{time_of, Exporter};
use crate::error::{Error, ErrorKind, Result};
use crate::model::InfoModel;
use crate::packet::NotIp;
use crate::session::Template;
use crate::wire::FieldSpec;

/// The Metering Process Statistics template's id: the first past every
/// id the flow templates can take.
#[allow(clippy::cast_possible_truncation)] // 256 + 4096 (asserted below)
pub const METERING_STATS_TEMPLATE: u16 = FIRST_TEMPLATE + MAX_TEMPLATES as u16;
/// The Metering Process Reliability Statistics template's id.
pub const METERING_RELIABILITY_TEMPLATE: u16 = METERING_STATS_TEMPLATE + 1;
/// The same with the times of the first and last packet ignored.
pub const METERING_RELIABILITY_TIMED_TEMPLATE: u16 = METERING_STATS_TEMPLATE + 2;
const _: () = assert!(
    FIRST_TEMPLATE as usize + MAX_TEMPLATES == METERING_STATS_TEMPLATE as usize,
    "the options templates' ids clash with the flow templates'"
);

/// The fields of each template, scope first (one scope field each).
const METERING_STATS: [&str; 4] = [
    "observationDomainId",
    "exportedMessageTotalCount",
    "exportedFlowRecordTotalCount",
    "exportedOctetTotalCount",
];
const METERING_RELIABILITY: [&str; 3] = [
    "observationDomainId",
    "ignoredPacketTotalCount",
    "ignoredOctetTotalCount",
];
const METERING_RELIABILITY_TIMED: [&str; 5] = [
    "observationDomainId",
    "ignoredPacketTotalCount",
    "ignoredOctetTotalCount",
    "observationTimeNanoseconds",
    "observationTimeNanoseconds",
];

/// The options templates and what has been written in them.
pub struct StatsRecords {
    metering: Arc<Template>,
    reliability: Arc<Template>,
    reliability_timed: Arc<Template>,
    /// The observation domain they describe and are exported in.
    domain: u32,
    /// Options records written so far (the exporter counts them among
    /// its data records; `exportedFlowRecordTotalCount` does not).
    written: u64,
}

impl StatsRecords {
    /// The two options templates of observation domain `domain` (the flow
    /// records'), their IEs from `model`.
    pub fn new(model: &InfoModel, domain: u32) -> Result<Self> {
        Ok(StatsRecords {
            metering: Arc::new(options_template(
                METERING_STATS_TEMPLATE,
                &METERING_STATS,
                domain,
                model,
            )?),
            reliability: Arc::new(options_template(
                METERING_RELIABILITY_TEMPLATE,
                &METERING_RELIABILITY,
                domain,
                model,
            )?),
            reliability_timed: Arc::new(options_template(
                METERING_RELIABILITY_TIMED_TEMPLATE,
                &METERING_RELIABILITY_TIMED,
                domain,
                model,
            )?),
            domain,
            written: 0,
        })
    }

    /// The templates, to announce with the flow templates (so that a
    /// template refresh sends them too).
    pub fn templates(&self) -> [Arc<Template>; 3] {
        [
            self.metering.clone(),
            self.reliability.clone(),
            self.reliability_timed.clone(),
        ]
    }

    /// Write one record of each template, describing `stats` and what
    /// `exporter` has written so far, in a message of their own (flushed).
    pub fn write<W: Write>(
        &mut self,
        exporter: &mut Exporter<W>,
        stats: &MeterStats,
    ) -> Result<()> {
        let odid = self.domain;
        for t in self.templates() {
            if exporter.template(odid, t.id).is_none() {
                exporter.add_template(t)?;
            }
        }
        let domain = Value::Unsigned(u64::from(odid));
        // Every message before the one carrying the counts is counted.
        let earlier = self.written;
        exporter.encode_counted_record(odid, METERING_STATS_TEMPLATE, |sent| {
            vec![
                domain,
                Value::Unsigned(sent.messages),
                Value::Unsigned(sent.records.saturating_sub(earlier)),
                Value::Unsigned(sent.bytes),
            ]
        })?;
        let ignored = NotIp::ALL
            .iter()
            .zip(stats.dissect.not_ip)
            .find(|(w, _)| **w == NotIp::BadIp)
            .map_or(0, |(_, n)| n);
        let i = stats.dissect.ignored;
        let mut values = vec![domain, Value::Unsigned(ignored), Value::Unsigned(i.octets)];
        let template = match i.span {
            Some((first, last)) => {
                let at = |ns| Value::DateTime(time_of(ns, TimeUnit::Nanosecond));
                values.extend([at(first), at(last)]);
                METERING_RELIABILITY_TIMED_TEMPLATE
            }
            None => METERING_RELIABILITY_TEMPLATE,
        };
        exporter.encode_record(odid, template, &values)?;
        self.written = self.written.saturating_add(2);
        exporter.flush()
    }
}

/// An options template of domain `domain` of `fields` (the first the one
/// scope field), each at its type's own length.
fn options_template(id: u16, fields: &[&str], domain: u32, model: &InfoModel) -> Result<Template> {
    let specs = fields
        .iter()
        .map(|name| {
            let ie = model.by_name(name).ok_or_else(|| {
                Error::new(ErrorKind::Internal(format!(
                    "the meter's statistics IE {name} is not in the model"
                )))
            })?;
            let length = ie.data_type.native_length().ok_or_else(|| {
                Error::new(ErrorKind::Internal(format!("{name} has no fixed length")))
            })?;
            Ok(FieldSpec {
                id: ie.id,
                length,
                pen: ie.pen,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Template::new(id, domain, Some(1), specs, model))
}

#[cfg(test)]
#[path = "tests/statsrec.rs"]
mod tests;
