//! Fuzz target: a capture (seeded with the fixture captures) metered by
//! one table and by 2 and 3 workers reading it from a file themselves,
//! plain and gzipped: the same records (flowIds aside), counters and end,
//! whatever the bytes (`tests/support/meter_run.rs`, `workers_agree`).
#![no_main]

#[path = "../../tests/support/meter_run.rs"]
mod meter_run;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if ferrofix::pcap::is_capture(data) {
        meter_run::workers_agree(data);
    }
});
