//! An optional `i64` in eight octets rather than sixteen: a connection
//! keeps a score of optional times and sequence positions per direction,
//! and a million connections open at once keep them all (DESIGN: per-flow
//! state stays small).

use std::fmt;

/// `Option<i64>` without its tag: `i64::MIN` stands for none. No capture
/// time, unwrapped sequence position, octet count or clock rate reaches
/// it; [`OptI64::some`] moves it up by one rather than lose a value.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct OptI64(i64);

impl OptI64 {
    pub const NONE: OptI64 = OptI64(i64::MIN);

    #[inline]
    pub fn some(v: i64) -> Self {
        OptI64(v.max(i64::MIN + 1))
    }

    #[inline]
    pub fn get(self) -> Option<i64> {
        (self.0 != i64::MIN).then_some(self.0)
    }

    #[inline]
    pub fn is_some(self) -> bool {
        self.0 != i64::MIN
    }

    #[inline]
    pub fn is_none(self) -> bool {
        self.0 == i64::MIN
    }
}

impl Default for OptI64 {
    fn default() -> Self {
        OptI64::NONE
    }
}

impl From<Option<i64>> for OptI64 {
    #[inline]
    fn from(v: Option<i64>) -> Self {
        v.map_or(OptI64::NONE, OptI64::some)
    }
}

impl fmt::Debug for OptI64 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.get().fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::OptI64;

    #[test]
    fn none_some_and_the_sentinel() {
        assert_eq!(OptI64::default().get(), None);
        assert_eq!(OptI64::some(0).get(), Some(0));
        assert_eq!(OptI64::some(-5).get(), Some(-5));
        assert_eq!(OptI64::some(i64::MAX).get(), Some(i64::MAX));
        // The one value it cannot hold moves up by one, never to none.
        assert_eq!(OptI64::some(i64::MIN).get(), Some(i64::MIN + 1));
        assert_eq!(OptI64::from(None).get(), None);
        assert_eq!(OptI64::from(Some(7)).get(), Some(7));
        assert_eq!(std::mem::size_of::<OptI64>(), 8);
    }
}
