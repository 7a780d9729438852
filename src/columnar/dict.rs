//! Dictionary-encoded text addresses: each distinct address is formatted
//! once and every row stores a key, which pandas sees as a categorical. The
//! dictionary lives across batches (each batch's dictionary extends the one
//! before, and is the very same array when nothing was added) until it
//! holds [`MAX_CARRIED`] addresses, when it starts afresh at the next batch;
//! this bounds both the memory a batch carries and the formatting work.
//! The key lookup runs once per address value, so it is an open-addressing
//! table with a multiplicative hash rather than a SipHash map (addresses are
//! not chosen against a table of ours, and a table that fills up grows).
//! At millions of distinct addresses the table stops paying (each lookup a
//! cache miss, each address formatted anyway): a column whose batch is
//! mostly new addresses is filled without it for a while
//! ([`AddressDict::finish`]), so speed holds at any cardinality.

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

/// Distinct addresses carried from batch to batch at most (each batch's
/// dictionary is a copy of the text so far: at most about 1 MiB of IPv4
/// text, 2.5 MiB of IPv6). pandas readers keep a column of at most this many
/// categories as a categorical (`_categorical_pays` in `_arrow.py`).
pub(crate) const MAX_CARRIED: usize = 65_536;

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
        ipv6_text(self, out);
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
    /// Rows appended to the batch in progress, and the dictionary's length
    /// when it began.
    rows: usize,
    len_at_start: usize,
    /// Batches still to fill without the table: each address's text goes
    /// straight into the batch's dictionary (see [`AddressDict::finish`]).
    direct: u32,
}

/// A batch that adds more distinct addresses than half its rows switches
/// the dictionary off for this many batches; then one batch measures again.
const DIRECT_BATCHES: u32 = 8;

impl<K: AddrKey> AddressDict<K> {
    pub fn new() -> Self {
        AddressDict {
            keys: Prim::new(),
            slots: Vec::new(),
            len: 0,
            text: Vec::new(),
            ends: Vec::new(),
            last: None,
            rows: 0,
            len_at_start: 0,
            direct: 0,
        }
    }

    /// Add the text of `k` as the next value.
    #[inline]
    fn push_text(&mut self, k: K) -> i32 {
        self.len += 1;
        k.format(&mut self.text);
        self.ends
            .push(i32::try_from(self.text.len()).unwrap_or(i32::MAX));
        self.len as i32 - 1
    }

    /// The key of `k`, adding it to the dictionary when new.
    // Called once per address value: inlined into the fill loops.
    #[allow(clippy::inline_always)]
    #[inline(always)]
    fn key(&mut self, k: K) -> i32 {
        if self.direct > 0 {
            return self.push_text(k);
        }
        if 2 * (self.len + 1) > self.slots.len() {
            self.grow();
        }
        let mask = self.slots.len() - 1;
        let shift = 64 - self.slots.len().trailing_zeros();
        let mut i = (k.hash() >> shift) as usize & mask;
        loop {
            let (key, v) = self.slots[i];
            if v == 0 {
                let key = self.push_text(k);
                self.slots[i] = (k, key + 1);
                return key;
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
        self.rows += 1;
    }

    /// Append the key of `k` `n` times.
    pub fn append_n(&mut self, k: K, n: usize) {
        let key = self.key(k);
        self.keys.extend(std::iter::repeat_n(key, n));
        self.rows += n;
    }

    /// Append the key of every address of `it`.
    #[inline]
    pub fn extend(&mut self, it: impl ExactSizeIterator<Item = K>) {
        // Keys go through a small stack buffer: `key` needs `&mut self`
        // while the keys column is being extended.
        let mut buf = [0i32; 256];
        let mut n = 0;
        self.rows += it.len();
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

    /// End the batch: its keys and dictionary.
    ///
    /// A dictionary pays while addresses repeat. A batch that fills the
    /// carried dictionary ([`MAX_CARRIED`]) with more new addresses than
    /// half its rows (a collector's day of random hosts) shows it does
    /// not: the next [`DIRECT_BATCHES`] batches skip
    /// the table (a cache miss per address at millions of addresses) and
    /// give each row its own dictionary entry, as plain strings would, and
    /// the batch after them measures again. Readers of the Arrow data see
    /// the same type throughout; pandas gets strings for such a column.
    pub fn finish(&mut self) -> ArrayRef {
        let added = self.len - self.len_at_start;
        let was_direct = self.direct > 0;
        let go_direct =
            !was_direct && self.len >= MAX_CARRIED && added * 2 > self.rows && self.rows >= 1024;
        let arr = self.finish_arrays();
        if was_direct {
            self.direct -= 1;
        } else if go_direct {
            self.direct = DIRECT_BATCHES;
        }
        if was_direct || go_direct {
            self.clear();
        }
        self.rows = 0;
        self.len_at_start = self.len;
        arr
    }

    /// Start the dictionary afresh.
    fn clear(&mut self) {
        if self.slots.iter().any(|s| s.1 != 0) {
            self.slots.iter_mut().for_each(|s| s.1 = 0);
        }
        self.len = 0;
        self.text.clear();
        self.ends.clear();
        self.last = None;
    }

    fn finish_arrays(&mut self) -> ArrayRef {
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
            self.clear();
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

/// The text of an IPv6 address as Rust's `Display` writes it (RFC 5952:
/// lowercase hexadecimal groups without leading zeros, the first longest
/// run of two or more zero groups as `::`; an IPv4-mapped address as
/// `::ffff:a.b.c.d`), without the `fmt` machinery: at millions of distinct
/// addresses this runs once per row.
pub(crate) fn ipv6_text(a: [u8; 16], out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let g: [u16; 8] = std::array::from_fn(|i| u16::from_be_bytes([a[2 * i], a[2 * i + 1]]));
    if g[..5] == [0; 5] && g[5] == 0xffff {
        out.extend_from_slice(b"::ffff:");
        out.extend_from_slice(ipv4_text([a[12], a[13], a[14], a[15]]).as_bytes());
        return;
    }
    // The first longest run of zero groups (only a run of 2+ is elided).
    let (mut best, mut best_len, mut run_start, mut run_len) = (0, 0, 0, 0);
    for (i, &x) in g.iter().enumerate() {
        if x == 0 {
            if run_len == 0 {
                run_start = i;
            }
            run_len += 1;
            if run_len > best_len {
                (best, best_len) = (run_start, run_len);
            }
        } else {
            run_len = 0;
        }
    }
    let group = |out: &mut Vec<u8>, x: u16| {
        let digits = [x >> 12, (x >> 8) & 15, (x >> 4) & 15, x & 15];
        let skip = digits.iter().take(3).take_while(|&&d| d == 0).count();
        out.extend(digits[skip..].iter().map(|&d| HEX[usize::from(d)]));
    };
    let groups = |out: &mut Vec<u8>, gs: &[u16]| {
        for (i, &x) in gs.iter().enumerate() {
            if i > 0 {
                out.push(b':');
            }
            group(out, x);
        }
    };
    if best_len > 1 {
        groups(out, &g[..best]);
        out.extend_from_slice(b"::");
        groups(out, &g[best + best_len..]);
    } else {
        groups(out, &g);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::cast::AsArray;

    #[test]
    fn ipv6_text_matches_std() {
        // Every pattern of zero and non-zero groups (256), with small and
        // large group values, IPv4-mapped and near-mapped addresses.
        let mut cases = Vec::new();
        for mask in 0u32..256 {
            for v in [1u16, 0xabc, 0xffff, 0x10] {
                let mut a = [0u8; 16];
                for i in 0..8 {
                    if mask & (1 << i) != 0 {
                        let x = v.wrapping_add(i as u16 * 0x1111);
                        a[2 * i..2 * i + 2].copy_from_slice(&x.to_be_bytes());
                    }
                }
                cases.push(a);
            }
        }
        let mut mapped = [0u8; 16];
        mapped[10..12].copy_from_slice(&[0xff, 0xff]);
        mapped[12..].copy_from_slice(&[192, 0, 2, 1]);
        cases.push(mapped);
        mapped[9] = 1;
        cases.push(mapped);
        let mut x = 0x9E37_79B9_7F4A_7C15_u64;
        for _ in 0..10_000 {
            let mut a = [0u8; 16];
            for b in &mut a {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                // Zero bytes often, so zero groups and runs come up.
                *b = if x % 3 == 0 { 0 } else { (x >> 24) as u8 };
            }
            cases.push(a);
        }
        for a in cases {
            let mut out = Vec::new();
            ipv6_text(a, &mut out);
            assert_eq!(
                String::from_utf8(out).unwrap(),
                std::net::Ipv6Addr::from(a).to_string(),
                "{a:?}"
            );
        }
    }
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
    fn mostly_distinct_batches_switch_the_table_off_and_measure_again() {
        let mut d = AddressDict::<u32>::new();
        let check = |a: &ArrayRef, want: &[u32]| {
            let dict = a.as_dictionary::<Int32Type>();
            let text = dict.values().as_string::<i32>();
            let got: Vec<String> = dict
                .keys()
                .iter()
                .map(|k| text.value(k.unwrap() as usize).to_string())
                .collect();
            let want: Vec<String> = want
                .iter()
                .map(|&a| std::net::Ipv4Addr::from(a).to_string())
                .collect();
            assert_eq!(got, want);
            dict.values().len()
        };
        // A batch of 4096 distinct addresses is carried (it may be the
        // first of a stream that repeats them)...
        let distinct: Vec<u32> = (0..4096u32)
            .map(|i| i.wrapping_mul(2_654_435_761))
            .collect();
        d.extend(distinct.iter().copied());
        assert_eq!(check(&d.finish(), &distinct), 4096);
        d.append(distinct[0]);
        assert_eq!(check(&d.finish(), &distinct[..1]), 4096);
        // ... a batch that fills the dictionary with new addresses sends
        // the next batches direct.
        let many: Vec<u32> = (0..u32::try_from(MAX_CARRIED).unwrap())
            .map(|i| i.wrapping_mul(2_654_435_761) ^ 1)
            .collect();
        d.extend(many.iter().copied());
        assert_eq!(check(&d.finish(), &many), 4096 + MAX_CARRIED);
        // Direct: a repeated address gets an entry per row.
        let repeated = vec![7u32; 2000];
        for _ in 0..DIRECT_BATCHES {
            d.extend(repeated.iter().copied());
            d.append_n(9, 3);
            let mut want = repeated.clone();
            want.extend([9, 9, 9]);
            assert_eq!(check(&d.finish(), &want), 2001);
        }
        // Measured again: a dictionary (two entries), carried on.
        d.extend(repeated.iter().copied());
        d.append(9);
        let mut want = repeated.clone();
        want.push(9);
        assert_eq!(check(&d.finish(), &want), 2);
        d.append(9);
        assert_eq!(check(&d.finish(), &[9]), 2);
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
