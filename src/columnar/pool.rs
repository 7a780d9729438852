//! Column buffers recycled from batch to batch.
//!
//! A batch's primitive columns are `Vec`s handed to Arrow without a copy.
//! Freed and allocated again for every batch, their memory went back to the
//! system between batches (the allocator trims the top of its heap) and
//! came back as fresh pages, each faulted in on first write: for a consumer
//! that drops each batch before taking the next, about half the time of the
//! Arrow path (`scan_ipfix(...).batches()`: 22M records/s with the
//! allocator's trimming, 40-48M without it, same process, 2026-11-27). So a
//! batch's buffers are owned by a [`Recycled`] value that, when Arrow lets
//! go of the buffer, keeps the `Vec` for a later batch instead of freeing
//! it. The pool is bounded ([`POOL_BYTES`]); a buffer is only reused for a
//! column of about its size, so a small batch does not pin a large one.
//! A consumer that keeps every batch (`read_ipfix`) gets fresh memory as
//! before; the pool then fills, to its bound, only once they are dropped.

use std::any::{Any, TypeId};
use std::panic::AssertUnwindSafe;
use std::ptr::NonNull;
use std::sync::{Arc, Mutex};

use arrow_buffer::{ArrowNativeType, Buffer};

/// Bytes the process-wide pool keeps at most, over all types.
pub(crate) const POOL_BYTES: usize = 32 << 20;

/// The pool the columnar sink takes its buffers from.
pub(crate) static POOL: Pool = Pool::new(POOL_BYTES);

/// (element type, capacity in bytes, the `Vec` itself).
type Kept = (TypeId, usize, Box<dyn Any + Send>);

/// Kept `Vec`s, at most `limit` bytes of them; a `Vec` of more than a
/// quarter of that is not kept.
pub(crate) struct Pool {
    limit: usize,
    kept: Mutex<(usize, Vec<Kept>)>,
}

impl Pool {
    pub(crate) const fn new(limit: usize) -> Self {
        Pool {
            limit,
            kept: Mutex::new((0, Vec::new())),
        }
    }

    /// An empty `Vec` with room for at least `cap` values: a kept one of
    /// up to twice that (and 4 KiB) when there is one, else a new one.
    pub(crate) fn take<T: ArrowNativeType>(&self, cap: usize) -> Vec<T> {
        let want = cap.saturating_mul(size_of::<T>());
        if want > 0 {
            if let Ok(mut k) = self.kept.lock() {
                let fits = |c: usize| c >= want && c <= want.saturating_mul(2).saturating_add(4096);
                if let Some(i) =
                    k.1.iter()
                        .position(|(t, c, _)| *t == TypeId::of::<T>() && fits(*c))
                {
                    let (_, c, v) = k.1.swap_remove(i);
                    k.0 -= c;
                    if let Ok(v) = v.downcast::<Vec<T>>() {
                        let mut v = *v;
                        v.clear();
                        return v;
                    }
                }
            }
        }
        Vec::with_capacity(cap)
    }

    /// Keep `v` for a later batch if there is room.
    fn give<T: ArrowNativeType>(&self, v: Vec<T>) {
        let c = v.capacity() * size_of::<T>();
        if c == 0 || c > self.limit / 4 {
            return;
        }
        if let Ok(mut k) = self.kept.lock() {
            if k.0 + c <= self.limit {
                k.0 += c;
                k.1.push((TypeId::of::<T>(), c, Box::new(v)));
            }
        }
    }

    /// The values of `v` as an Arrow buffer (no copy) whose memory comes
    /// back to this pool when the buffer is dropped.
    pub(crate) fn buffer<T: ArrowNativeType>(&'static self, v: Vec<T>) -> Buffer {
        let Some(ptr) = NonNull::new(v.as_ptr().cast_mut().cast::<u8>()) else {
            return Buffer::from_vec(v);
        };
        if v.capacity() == 0 {
            return Buffer::from_vec(v);
        }
        let bytes = v.len() * size_of::<T>();
        // SAFETY: `ptr` is the start of `v`'s heap allocation, which holds
        // `v.len()` initialised values (`bytes` bytes) and does not move
        // when `v` is moved into its owner; the owner keeps it alive and
        // unchanged until Arrow drops the buffer.
        unsafe {
            Buffer::from_custom_allocation(
                ptr,
                bytes,
                Arc::new(Recycled(AssertUnwindSafe(v), self)),
            )
        }
    }

    /// Bytes kept now.
    #[cfg(test)]
    fn bytes(&self) -> usize {
        self.kept.lock().map_or(0, |k| k.0)
    }
}

/// Owner of a buffer's memory: gives its `Vec` back to its pool when Arrow
/// drops the last reference to the buffer. (Arrow's owners must be unwind
/// safe: a `Vec` of plain numbers has no state a panic could leave broken.)
struct Recycled<T: ArrowNativeType>(AssertUnwindSafe<Vec<T>>, &'static Pool);

impl<T: ArrowNativeType> Drop for Recycled<T> {
    fn drop(&mut self) {
        self.1.give(std::mem::take(&mut *self.0));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(limit: usize) -> &'static Pool {
        Box::leak(Box::new(Pool::new(limit)))
    }

    #[test]
    fn a_dropped_buffer_is_reused_for_a_column_of_its_size() {
        let p = pool(1 << 20);
        let mut v: Vec<u64> = p.take(1000);
        v.extend(0..1000u64);
        let at = v.as_ptr();
        let b = p.buffer(v);
        assert_eq!(b.typed_data::<u64>()[999], 999);
        assert_eq!(p.bytes(), 0);
        drop(b);
        assert_eq!(p.bytes(), 8000);
        // Not for another type, nor for a column of under half or over
        // its size.
        let other: Vec<i64> = p.take(1000);
        let smaller: Vec<u64> = p.take(100);
        let larger: Vec<u64> = p.take(1001);
        assert_ne!(other.as_ptr().cast::<u64>(), at);
        assert_ne!(smaller.as_ptr(), at);
        assert_ne!(larger.as_ptr(), at);
        let again: Vec<u64> = p.take(900);
        assert_eq!((again.as_ptr(), again.len()), (at, 0));
        assert_eq!(p.bytes(), 0);
    }

    #[test]
    fn the_pool_keeps_at_most_its_limit() {
        let p = pool(64 << 10);
        // Over a quarter of the limit: freed, not kept.
        drop(p.buffer(vec![0u8; 20 << 10]));
        assert_eq!(p.bytes(), 0);
        for _ in 0..10 {
            let mut v: Vec<u8> = p.take(16 << 10);
            v.resize(16 << 10, 7);
            drop(p.buffer(v));
        }
        // Each buffer was dropped before the next was taken: one kept.
        assert_eq!(p.bytes(), 16 << 10);
        let held: Vec<Buffer> = (0..10).map(|_| p.buffer(vec![1u8; 16 << 10])).collect();
        drop(held);
        assert_eq!(p.bytes(), 64 << 10);
    }
}
