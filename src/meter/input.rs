//! The meter's input: one capture or several, their packets merged in
//! timestamp order (a k-way merge on each capture's next packet; a
//! capture's own order is kept as it is, out-of-order packets included).

use crate::error::Error;
use crate::pcap::{CaptureReader, Packet};
use crate::source::DynRead;

struct One {
    reader: CaptureReader<DynRead>,
    /// The time of the packet read ahead and not yet given out.
    staged: Option<i64>,
    done: bool,
}

/// What the captures give next.
pub enum Next<'a> {
    /// A packet of capture `index`.
    Packet(usize, Packet<'a>),
    /// Capture `index` failed (it gives no more packets; the others go
    /// on).
    Failed(usize, Error),
    End,
}

/// Captures read as one, in time order.
pub struct Captures {
    all: Vec<One>,
}

impl Captures {
    pub fn new(readers: Vec<CaptureReader<DynRead>>) -> Self {
        Captures {
            all: readers
                .into_iter()
                .map(|mut reader| One {
                    reader: {
                        // The meter keeps no packet bytes past the next one.
                        reader.read_in_buffer();
                        reader
                    },
                    staged: None,
                    done: false,
                })
                .collect(),
        }
    }

    /// How many captures.
    pub fn len(&self) -> usize {
        self.all.len()
    }

    pub fn is_empty(&self) -> bool {
        self.all.is_empty()
    }

    /// Bytes read so far, all captures together.
    pub fn position(&self) -> u64 {
        self.all
            .iter()
            .map(|o| o.reader.position())
            .fold(0u64, u64::saturating_add)
    }

    /// The next packet in time order.
    #[inline]
    pub fn next_packet(&mut self) -> Next<'_> {
        if self.all.len() == 1 {
            let one = &mut self.all[0];
            if one.done {
                return Next::End;
            }
            return match one.reader.next_packet() {
                Ok(Some(p)) => Next::Packet(0, p),
                Ok(None) => {
                    one.done = true;
                    Next::End
                }
                Err(e) => {
                    one.done = true;
                    Next::Failed(0, e)
                }
            };
        }
        self.next_merged()
    }

    /// The next packet if it is the common case (one capture, a classic
    /// pcap record whole in the stream's buffer or in memory:
    /// [`CaptureReader::next_fast`]), else
    /// `None` and [`Captures::next_packet`] says what comes next. A loop
    /// asks here first.
    #[allow(clippy::inline_always)]
    #[inline(always)]
    pub fn next_fast(&mut self) -> Option<Packet<'_>> {
        match self.all.as_mut_slice() {
            [one] => one.reader.next_fast(),
            _ => None,
        }
    }

    /// [`Captures::next_packet`] of several captures.
    #[inline(never)]
    fn next_merged(&mut self) -> Next<'_> {
        // Read ahead in every capture without a packet staged.
        for (i, one) in self.all.iter_mut().enumerate() {
            if one.done || one.staged.is_some() {
                continue;
            }
            match one.reader.next_packet() {
                Ok(Some(p)) => one.staged = Some(p.ts_ns),
                Ok(None) => one.done = true,
                Err(e) => {
                    one.done = true;
                    return Next::Failed(i, e);
                }
            }
        }
        let pick = self
            .all
            .iter()
            .enumerate()
            .filter_map(|(i, o)| o.staged.map(|t| (t, i)))
            .min();
        let Some((_, i)) = pick else {
            return Next::End;
        };
        let one = &mut self.all[i];
        one.staged = None;
        match one.reader.current() {
            Some(p) => Next::Packet(i, p),
            None => Next::End,
        }
    }
}
