//! Primitive Arrow columns filled without the builder's per-value work: the
//! values go into a `Vec` that becomes the array's buffer without a copy,
//! and whole sets of fixed-length records (RFC 7011 §3.4.3: records of a
//! template without variable-length fields follow each other at a fixed
//! stride) are read column by column with one load per value.

use arrow_array::{ArrowPrimitiveType, PrimitiveArray};
use arrow_buffer::{NullBufferBuilder, ScalarBuffer};

use super::pool::POOL;

/// Values and validity of one primitive column of the batch in progress.
pub(crate) struct Prim<T: ArrowPrimitiveType> {
    values: Vec<T::Native>,
    nulls: NullBufferBuilder,
    /// Capacity to reserve for the next batch: the length of the last one.
    hint: usize,
}

impl<T: ArrowPrimitiveType> Prim<T> {
    pub fn new() -> Self {
        Prim {
            values: Vec::new(),
            nulls: NullBufferBuilder::new(0),
            hint: 0,
        }
    }

    /// Reserve for the whole batch on its first value, so a batch grows by
    /// doubling at most when it is longer than the one before.
    #[inline]
    fn ready(&mut self, more: usize) {
        if self.values.capacity() == 0 {
            self.values = POOL.take(self.hint.max(more));
        }
    }

    #[inline]
    pub fn push(&mut self, v: T::Native) {
        self.ready(1);
        self.values.push(v);
        self.nulls.append_non_null();
    }

    #[inline]
    pub fn push_option(&mut self, v: Option<T::Native>) {
        match v {
            Some(v) => self.push(v),
            None => self.push_null(),
        }
    }

    pub fn push_null(&mut self) {
        self.ready(1);
        self.values.push(T::Native::default());
        self.nulls.append_null();
    }

    pub fn push_nulls(&mut self, n: usize) {
        self.ready(n);
        self.values
            .resize(self.values.len() + n, T::Native::default());
        self.nulls.append_n_nulls(n);
    }

    /// Append every value of an exact-size iterator (no nulls).
    #[inline]
    pub fn extend(&mut self, it: impl ExactSizeIterator<Item = T::Native>) {
        let n = it.len();
        self.ready(n);
        self.values.extend(it);
        self.nulls.append_n_non_nulls(n);
    }

    /// The batch's array; the column is left empty for the next batch.
    pub fn finish(&mut self) -> PrimitiveArray<T> {
        self.hint = self.values.len();
        let values = std::mem::take(&mut self.values);
        let len = values.len();
        let values = ScalarBuffer::new(POOL.buffer(values), 0, len);
        PrimitiveArray::new(values, self.nulls.finish())
    }
}

/// The `N` bytes at `at` of a record as a big-endian unsigned integer; zero
/// when the record is too short (callers pass offsets inside the stride).
// One load per value in the fill loops.
#[allow(clippy::inline_always)]
#[inline(always)]
fn be<const N: usize>(r: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    if let (Some(dst), Some(src)) = (w.get_mut(8 - N..), r.get(at..at + N)) {
        dst.copy_from_slice(src);
    }
    u64::from_be_bytes(w)
}

/// Where one field lies in each of a run of fixed-length records.
#[derive(Clone, Copy)]
pub(crate) struct Strided<'a> {
    pub records: &'a [u8],
    pub stride: usize,
    pub at: usize,
    pub len: usize,
}

impl<'a> Strided<'a> {
    /// The raw field of every record.
    pub fn fields(self) -> impl ExactSizeIterator<Item = &'a [u8]> {
        let (at, end) = (self.at, self.at + self.len);
        self.records
            .chunks_exact(self.stride.max(1))
            .map(move |r| r.get(at..end).unwrap_or_default())
    }
}

/// Fill `p` with the field of every record read as an unsigned integer and
/// mapped by `f`; `false` (nothing appended) for widths over 8 bytes.
#[inline]
pub(crate) fn fill_uints<T: ArrowPrimitiveType>(
    p: &mut Prim<T>,
    s: Strided<'_>,
    f: impl Fn(u64) -> T::Native + Copy,
) -> bool {
    let at = s.at;
    let rows = s.records.chunks_exact(s.stride.max(1));
    match s.len {
        1 => p.extend(rows.map(|r| f(be::<1>(r, at)))),
        2 => p.extend(rows.map(|r| f(be::<2>(r, at)))),
        3 => p.extend(rows.map(|r| f(be::<3>(r, at)))),
        4 => p.extend(rows.map(|r| f(be::<4>(r, at)))),
        5 => p.extend(rows.map(|r| f(be::<5>(r, at)))),
        6 => p.extend(rows.map(|r| f(be::<6>(r, at)))),
        7 => p.extend(rows.map(|r| f(be::<7>(r, at)))),
        8 => p.extend(rows.map(|r| f(be::<8>(r, at)))),
        _ => return false,
    }
    true
}

/// Sign-extend the low `len` bytes of `v` (RFC 7011 §6.2: reduced-size
/// signed integers keep their sign bit at the top of the shorter field).
#[inline]
pub(crate) fn sign_extend(v: u64, len: usize) -> i64 {
    let shift = 64 - 8 * len.clamp(1, 8) as u32;
    ((v << shift) as i64) >> shift
}
