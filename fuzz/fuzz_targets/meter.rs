//! Fuzz target: the meter on any bytes: a capture when they start like one
//! (seeded with the fixture captures), else frames under every link type
//! fed straight to the packet layer and the flow table. Checks the
//! counters add up (every packet metered or counted as not IP, every
//! record ended once; `tests/support/meter_run.rs`) besides no panic.
#![no_main]

#[path = "../../tests/support/meter_run.rs"]
mod meter_run;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    meter_run::meter_bytes(data);
});
