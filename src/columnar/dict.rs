//! Dictionary-encoded text addresses: each distinct address is formatted
//! once and every row stores a key, which pandas sees as a categorical. The
//! dictionary lives across batches (each batch's dictionary extends the one
//! before, and is the very same array when nothing was added) until it
//! holds [`MAX_CARRIED`] addresses, when it starts afresh at the next batch;
//! this bounds both the memory a batch carries and the formatting work.
//! The key lookup runs once per address value, so it is an open-addressing
//! table with a multiplicative hash rather than a SipHash map (addresses are
//! not chosen against a table of ours, and a table that fills up grows).

use std::io::Write as _;
use std::net::Ipv6Addr;
use std::sync::Arc;

use arrow_array::types::Int32Type;
use arrow_array::{ArrayRef, DictionaryArray, StringArray};
use arrow_buffer::{Buffer, OffsetBuffer, ScalarBuffer};

use super::prim::Prim;

/// A key that can be hashed into the table.
pub(crate) trait AddrKey: Copy + Eq + Default {
    fn hash(self) -> u64;
    fn format(self, out: &mut Vec<u8>);
}

/// Distinct addresses carried from batch to batch at most.
pub(crate) const MAX_CARRIED: usize = 16_384;

const MUL: u64 = 0x9E37_79B9_7F4A_7C15;

impl AddrKey for u32 {
    #[inline]
    fn hash(self) -> u64 {
        u64::from(self).wrapping_mul(MUL)
    }

    fn format(self, out: &mut Vec<u8>) {
        out.extend_from_slice(ipv4_text(self.to_be_bytes()).as_bytes());
    }
}

impl AddrKey for [u8; 16] {
    #[inline]
    fn hash(self) -> u64 {
        let hi = u64::from_le_bytes(self[..8].try_into().unwrap_or_default());
        let lo = u64::from_le_bytes(self[8..].try_into().unwrap_or_default());
        (hi.wrapping_mul(MUL).rotate_left(29) ^ lo).wrapping_mul(MUL)
    }

    fn format(self, out: &mut Vec<u8>) {
        let _ = write!(out, "{}", Ipv6Addr::from(self));
    }
}

/// The addresses of one column of the batch in progress.
pub(crate) struct AddressDict<K: AddrKey> {
    keys: Prim<Int32Type>,
    /// Open-addressing table of (address, key + 1); 0 marks a free slot.
    slots: Vec<(K, i32)>,
    /// Distinct addresses so far (= the next key).
    len: usize,
    /// The text of the addresses, one after another, and where each ends.
    text: Vec<u8>,
    ends: Vec<i32>,
    /// The dictionary handed out with the last batch, and its length.
    last: Option<(usize, ArrayRef)>,
}

impl<K: AddrKey> AddressDict<K> {
    pub fn new() -> Self {
        AddressDict {
            keys: Prim::new(),
            slots: Vec::new(),
            len: 0,
            text: Vec::new(),
            ends: Vec::new(),
            last: None,
        }
    }

    /// The key of `k`, adding it to the dictionary when new.
    // Called once per address value: inlined into the fill loops.
    #[allow(clippy::inline_always)]
    #[inline(always)]
    fn key(&mut self, k: K) -> i32 {
        if 2 * (self.len + 1) > self.slots.len() {
            self.grow();
        }
        let mask = self.slots.len() - 1;
        let shift = 64 - self.slots.len().trailing_zeros();
        let mut i = (k.hash() >> shift) as usize & mask;
        loop {
            let (key, v) = self.slots[i];
            if v == 0 {
                self.len += 1;
                let v = self.len as i32;
                self.slots[i] = (k, v);
                k.format(&mut self.text);
                self.ends
                    .push(i32::try_from(self.text.len()).unwrap_or(i32::MAX));
                return v - 1;
            }
            if key == k {
                return v - 1;
            }
            i = (i + 1) & mask;
        }
    }

    #[cold]
    fn grow(&mut self) {
        let size = (self.slots.len() * 2).max(1024);
        let old = std::mem::replace(&mut self.slots, vec![(K::default(), 0); size]);
        let mask = size - 1;
        let shift = 64 - size.trailing_zeros();
        for (k, v) in old.into_iter().filter(|s| s.1 != 0) {
            let mut i = (k.hash() >> shift) as usize & mask;
            while self.slots[i].1 != 0 {
                i = (i + 1) & mask;
            }
            self.slots[i] = (k, v);
        }
    }

    #[inline]
    pub fn append(&mut self, k: K) {
        let key = self.key(k);
        self.keys.push(key);
    }

    /// Append the key of `k` `n` times.
    pub fn append_n(&mut self, k: K, n: usize) {
        let key = self.key(k);
        self.keys.extend(std::iter::repeat_n(key, n));
    }

    /// Append the key of every address of `it`.
    #[inline]
    pub fn extend(&mut self, it: impl ExactSizeIterator<Item = K>) {
        // Keys go through a small stack buffer: `key` needs `&mut self`
        // while the keys column is being extended.
        let mut buf = [0i32; 256];
        let mut n = 0;
        for k in it {
            buf[n] = self.key(k);
            n += 1;
            if n == buf.len() {
                self.keys.extend(buf.iter().copied());
                n = 0;
            }
        }
        self.keys.extend(buf[..n].iter().copied());
    }

    pub fn append_null(&mut self) {
        self.keys.push_null();
    }

    pub fn append_nulls(&mut self, n: usize) {
        self.keys.push_nulls(n);
    }

    pub fn finish(&mut self) -> ArrayRef {
        let distinct = self.len;
        let values = match &self.last {
            Some((n, values)) if *n == self.len => values.clone(),
            _ => {
                let offsets: Vec<i32> = std::iter::once(0)
                    .chain(self.ends.iter().copied())
                    .collect();
                let values: ArrayRef = Arc::new(
                    StringArray::try_new(
                        OffsetBuffer::new(ScalarBuffer::from(offsets)),
                        Buffer::from_slice_ref(&self.text),
                        None,
                    )
                    .unwrap_or_else(|_| StringArray::from(Vec::<&str>::new())),
                );
                self.last = Some((self.len, values.clone()));
                values
            }
        };
        if self.len >= MAX_CARRIED {
            self.slots.iter_mut().for_each(|s| s.1 = 0);
            self.len = 0;
            self.text.clear();
            self.ends.clear();
            self.last = None;
        }
        let keys = self.keys.finish();
        if values.len() != distinct {
            // The values could not be built (text past 2 GiB): checked.
            return Arc::new(
                DictionaryArray::<Int32Type>::try_new(keys, values).unwrap_or_else(|_| {
                    std::iter::empty::<Option<&str>>().collect::<DictionaryArray<Int32Type>>()
                }),
            );
        }
        debug_assert!(keys
            .iter()
            .flatten()
            .all(|k| (0..distinct as i32).contains(&k)));
        // SAFETY: every key is the index of one of the `distinct` addresses
        // added before this batch ended, and `values` holds exactly those
        // (the dictionary is cleared only after they were built, above), so
        // each key is in 0..values.len(). try_new would check every key
        // again: 1.5% of decoding a capture to Arrow, per address column.
        Arc::new(unsafe { DictionaryArray::<Int32Type>::new_unchecked(keys, values) })
    }
}

/// Dotted-quad text of an IPv4 address, without the `fmt` machinery (this
/// runs once per distinct address per batch).
pub(crate) struct Ipv4Text {
    buf: [u8; 15],
    len: usize,
}

impl Ipv4Text {
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    #[cfg(test)]
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(self.as_bytes()).unwrap_or_default()
    }
}

pub(crate) fn ipv4_text(a: [u8; 4]) -> Ipv4Text {
    let mut t = Ipv4Text {
        buf: [0; 15],
        len: 0,
    };
    for (i, &x) in a.iter().enumerate() {
        if i > 0 {
            t.buf[t.len] = b'.';
            t.len += 1;
        }
        if x >= 100 {
            t.buf[t.len] = b'0' + x / 100;
            t.len += 1;
        }
        if x >= 10 {
            t.buf[t.len] = b'0' + x / 10 % 10;
            t.len += 1;
        }
        t.buf[t.len] = b'0' + x % 10;
        t.len += 1;
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::cast::AsArray;
    use arrow_array::Array;

    #[test]
    fn ipv4_text_matches_std() {
        for a in [
            [0, 0, 0, 0],
            [255, 255, 255, 255],
            [10, 0, 99, 100],
            [192, 168, 1, 9],
        ] {
            assert_eq!(
                ipv4_text(a).as_str(),
                std::net::Ipv4Addr::from(a).to_string()
            );
        }
    }

    #[test]
    fn keys_index_their_addresses_across_growth_and_batches() {
        let mut d = AddressDict::<u32>::new();
        // More distinct addresses than the first table holds, twice, each
        // run followed by a null; then the same again in a second batch.
        let addrs: Vec<u32> = (0..3000u32)
            .map(|i| i.wrapping_mul(2_654_435_761))
            .collect();
        let rows: Vec<Option<u32>> = (0..2)
            .flat_map(|_| addrs.iter().map(|&a| Some(a)).chain([None]))
            .collect();
        for _batch in 0..2 {
            for r in &rows {
                match r {
                    Some(a) => d.append(*a),
                    None => d.append_null(),
                }
            }
            let a = d.finish();
            let dict = a.as_dictionary::<Int32Type>();
            // Carried over: the second batch added nothing.
            assert_eq!(dict.values().len(), addrs.len());
            let text = dict.values().as_string::<i32>();
            for (row, want) in rows.iter().enumerate() {
                match want {
                    None => assert!(dict.is_null(row)),
                    Some(a) => assert_eq!(
                        text.value(dict.keys().value(row) as usize),
                        std::net::Ipv4Addr::from(*a).to_string()
                    ),
                }
            }
        }
    }

    #[test]
    fn a_full_dictionary_starts_afresh_at_the_next_batch() {
        let mut d = AddressDict::<u32>::new();
        let n = u32::try_from(MAX_CARRIED).unwrap();
        d.extend(0..n + 10);
        let a = d.finish();
        assert_eq!(
            a.as_dictionary::<Int32Type>().values().len(),
            MAX_CARRIED + 10
        );
        d.append(7);
        let a = d.finish();
        let dict = a.as_dictionary::<Int32Type>();
        assert_eq!(dict.values().len(), 1);
        assert_eq!(dict.values().as_string::<i32>().value(0), "0.0.0.7");
    }
}
