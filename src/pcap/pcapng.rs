//! pcapng blocks (draft-ietf-opsawg-pcapng): section headers of either
//! byte order, interface descriptions (link type, `if_tsresol`,
//! `if_tsoffset`), enhanced, simple and obsolete packet blocks; other blocks
//! are skipped.

use std::io::Read;

use super::{
    bad, cut, u16_at, u32_at, CaptureReader, DataIn, Error, ErrorKind, Format, Interface, Meta,
    Result, MAX_INTERFACES, MAX_PACKET, PCAPNG_BOM, PCAPNG_SHB,
};

impl<R: Read> CaptureReader<R> {
    /// Read the rest of a Section Header Block whose type was just read
    /// (and its length too, when `len` holds it).
    pub(super) fn section_header(&mut self, start: u64, len: Option<[u8; 4]>) -> Result<()> {
        let got = match len {
            Some(l) => {
                let got = self.fill(4)?;
                let mut head = l.to_vec();
                head.extend_from_slice(&self.buf);
                self.buf = head;
                got.saturating_add(4)
            }
            None => self.fill(8)?,
        };
        if got < 8 {
            return Err(cut(12, 4u64.saturating_add(got as u64), start, 0));
        }
        let big = match (u32_at(&self.buf, 4, true), u32_at(&self.buf, 4, false)) {
            (PCAPNG_BOM, _) => true,
            (_, PCAPNG_BOM) => false,
            _ => {
                return Err(bad(
                    "pcapng section without its byte-order magic".into(),
                    start.saturating_add(8),
                ))
            }
        };
        let total = u32_at(&self.buf, 0, big) as usize;
        if !(28..=MAX_PACKET).contains(&total) || total % 4 != 0 {
            return Err(bad(
                format!("pcapng section header of {total} bytes"),
                start.saturating_add(4),
            ));
        }
        // total >= 28 (checked above).
        let rest = total.saturating_sub(12);
        let got = self.fill(rest)?;
        if got < rest {
            return Err(cut(
                total as u64,
                12u64.saturating_add(got as u64),
                start,
                0,
            ));
        }
        self.pos = start.saturating_add(total as u64);
        self.format = Format::Pcapng {
            big,
            interfaces: Vec::new(),
        };
        Ok(())
    }

    pub(super) fn next_pcapng(&mut self) -> Result<Option<Meta>> {
        loop {
            let start = self.pos;
            let got = self.fill(8)?;
            if got == 0 {
                return Ok(None);
            }
            if got < 8 {
                return Err(cut(8, got as u64, start, self.number));
            }
            let Format::Pcapng { big, .. } = self.format else {
                return Ok(None);
            };
            let kind = u32_at(&self.buf, 0, big);
            if kind == PCAPNG_SHB {
                // A new section: its own byte order, no interfaces yet.
                let len = [self.buf[4], self.buf[5], self.buf[6], self.buf[7]];
                self.section_header(start, Some(len))?;
                continue;
            }
            let total = u32_at(&self.buf, 4, big) as usize;
            if !(12..=MAX_PACKET).contains(&total) || total % 4 != 0 {
                return Err(bad(
                    format!("pcapng block of type {kind:#x} has length {total}"),
                    start.saturating_add(4),
                ));
            }
            // 12 <= total <= MAX_PACKET (checked above).
            let body_len = total.saturating_sub(12);
            let got = self.fill(body_len.saturating_add(4))?;
            if got < body_len.saturating_add(4) {
                return Err(cut(
                    total as u64,
                    8u64.saturating_add(got as u64),
                    start,
                    self.number,
                ));
            }
            self.pos = start.saturating_add(total as u64);
            let body_at = start.saturating_add(8);
            match kind {
                1 => self.interface(big, body_len, body_at)?,
                6 | 2 => {
                    // Enhanced (6): interface u32, ts high, ts low, caplen,
                    // origlen. Obsolete packet (2): interface u16, drops
                    // u16, then the same.
                    if body_len < 20 {
                        return Err(bad(format!("pcapng packet block of {total} bytes"), start));
                    }
                    let iface = if kind == 6 {
                        u32_at(&self.buf, 0, big) as usize
                    } else {
                        usize::from(u16_at(&self.buf, 0, big))
                    };
                    let hi = u64::from(u32_at(&self.buf, 4, big));
                    let lo = u64::from(u32_at(&self.buf, 8, big));
                    let cap = u32_at(&self.buf, 12, big) as usize;
                    let orig = u32_at(&self.buf, 16, big);
                    // body_len >= 20 (checked above).
                    if cap > body_len.saturating_sub(20) {
                        return Err(bad(
                            format!("pcapng packet of {cap} bytes in a {total}-byte block"),
                            start.saturating_add(20),
                        ));
                    }
                    let Some(i) = self.interface_of(iface) else {
                        return Err(bad(
                            format!("pcapng packet on undescribed interface {iface}"),
                            start.saturating_add(8),
                        ));
                    };
                    self.number = self.number.saturating_add(1);
                    self.data = (20, cap);
                    self.data_in = DataIn::Buf;
                    let Some(ts) = timestamp(hi << 32 | lo, i) else {
                        return Err(bad(
                            format!(
                                "pcapng timestamp {} in units of 1/{} s plus if_tsoffset {} s \
                                 is not a time from 1677 to 2262",
                                hi << 32 | lo,
                                i.units,
                                i.offset_s
                            ),
                            start.saturating_add(12),
                        ));
                    };
                    return Ok(Some((i.linktype, ts, orig, body_at.saturating_add(20))));
                }
                3 => {
                    // Simple: original length, data (interface 0, no time).
                    if body_len < 4 {
                        return Err(bad(format!("pcapng simple block of {total} bytes"), start));
                    }
                    let orig = u32_at(&self.buf, 0, big);
                    let Some(i) = self.interface_of(0) else {
                        return Err(bad(
                            "pcapng packet before any interface".into(),
                            start.saturating_add(8),
                        ));
                    };
                    // body_len >= 4 (checked above).
                    let cap = (orig as usize).min(body_len.saturating_sub(4));
                    self.number = self.number.saturating_add(1);
                    self.data = (4, cap);
                    self.data_in = DataIn::Buf;
                    return Ok(Some((i.linktype, 0, orig, body_at.saturating_add(4))));
                }
                _ => {}
            }
        }
    }

    fn interface_of(&self, i: usize) -> Option<Interface> {
        match &self.format {
            Format::Pcapng { interfaces, .. } => interfaces.get(i).copied(),
            Format::Pcap { .. } => None,
        }
    }

    /// An Interface Description Block: link type, snap length, options
    /// (if_tsresol 9, if_tsoffset 14).
    fn interface(&mut self, big: bool, body_len: usize, at: u64) -> Result<()> {
        if body_len < 8 {
            return Err(bad("pcapng interface block too short".into(), at));
        }
        let mut iface = Interface {
            linktype: u16_at(&self.buf, 0, big),
            units: 1_000_000,
            offset_s: 0,
        };
        let mut o: usize = 8;
        // o <= body_len <= MAX_PACKET and len < 2^16: no sum below
        // saturates, and a saturated one would end the loop.
        while o.saturating_add(4) <= body_len {
            let code = u16_at(&self.buf, o, big);
            let len = usize::from(u16_at(&self.buf, o.saturating_add(2), big));
            let v = o.saturating_add(4);
            if code == 0 || v.saturating_add(len) > body_len {
                break;
            }
            if code == 9 && len >= 1 {
                let r = self.buf.get(v).copied().unwrap_or(0);
                let exp = u32::from(r & 0x7F);
                iface.units = if r & 0x80 == 0 {
                    10u64.checked_pow(exp).unwrap_or(1_000_000)
                } else {
                    1u64.checked_shl(exp).unwrap_or(1_000_000)
                };
                if iface.units == 0 {
                    iface.units = 1_000_000;
                }
            }
            if code == 14 && len >= 8 {
                let hi = u64::from(u32_at(&self.buf, v, big));
                let lo = u64::from(u32_at(&self.buf, v.saturating_add(4), big));
                let x = if big { hi << 32 | lo } else { lo << 32 | hi };
                iface.offset_s = x as i64;
            }
            o = v.saturating_add(len.div_ceil(4).saturating_mul(4));
        }
        if let Format::Pcapng { interfaces, .. } = &mut self.format {
            if interfaces.len() >= MAX_INTERFACES {
                return Err(Error::new(ErrorKind::LimitExceeded(format!(
                    "more than {MAX_INTERFACES} pcapng interfaces in a section"
                )))
                .at(at, self.number));
            }
            interfaces.push(iface);
        }
        Ok(())
    }
}

/// Nanoseconds since the epoch of a pcapng timestamp in `i`'s units, plus
/// the interface's if_tsoffset; None when that is not an `i64` of
/// nanoseconds (both come from the file: a hostile capture must not
/// overflow).
fn timestamp(t: u64, i: Interface) -> Option<i64> {
    let units = u128::from(i.units.max(1));
    // A u64 times 10^9 fits a u128; units >= 1.
    let ns = i64::try_from(
        u128::from(t)
            .saturating_mul(1_000_000_000)
            .checked_div(units)?,
    )
    .ok()?;
    ns.checked_add(i.offset_s.checked_mul(1_000_000_000)?)
}
