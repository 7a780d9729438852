//! A test-only fault injector: tests arm a named point and the next pass
//! through it panics, so that every entry from Python and every callback
//! handed to a foreign consumer can be shown to turn a panic into an error
//! (issue 13). Unarmed, a point costs one relaxed atomic load; the points
//! sit once per call or per batch, never per record.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

static ARMED: AtomicBool = AtomicBool::new(false);
static POINT: Mutex<String> = Mutex::new(String::new());

/// Arm `name` (the next [`panic_point`] of that name panics once), or
/// disarm with `None`.
pub fn arm(name: Option<&str>) {
    if let Ok(mut p) = POINT.lock() {
        p.clear();
        if let Some(n) = name {
            p.push_str(n);
        }
        ARMED.store(name.is_some(), Ordering::SeqCst);
    }
}

/// Panic here if this point is armed (then disarm it).
pub fn panic_point(name: &str) {
    if !ARMED.load(Ordering::Relaxed) {
        return;
    }
    let hit = POINT.lock().is_ok_and(|mut p| {
        let hit = *p == name;
        if hit {
            p.clear();
            ARMED.store(false, Ordering::SeqCst);
        }
        hit
    });
    // A panic is the point of this hook.
    #[allow(clippy::manual_assert)]
    if hit {
        panic!("test hook: forced panic at {name}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_armed_point_panics_once_and_is_caught() {
        arm(Some("unit.point"));
        panic_point("another.point");
        let e = crate::error::catch_panic(|| "testing".into(), || panic_point("unit.point"))
            .unwrap_err();
        assert!(e.to_string().contains("forced panic at unit.point"), "{e}");
        assert!(e.to_string().contains("testing stopped"), "{e}");
        // Disarmed after one hit.
        panic_point("unit.point");
    }
}
