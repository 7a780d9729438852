//! Fuzz target: the input is the choices of `ferrofix-testgen`'s
//! generator of gzip (one or two members) and zstd wrappers of any of the other kinds, mutated inside or outside the compression. The generator builds a valid input, then (seven
//! times in eight) mutates its lengths, counts, ids, options and blocks;
//! the result goes through the path of `decode_message`
//! (`tests/support/exercise.rs`). A valid input must decode to exactly the
//! records and list elements generated; any input must end without a
//! panic, a hang or unbounded work.
#![no_main]

#[path = "../../tests/support/exercise.rs"]
mod exercise;

use ferrofix_testgen::{generate_mutated, Choices, Kind};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let g = generate_mutated(Kind::Compressed, &mut Choices::new(data));
    if g.mutated {
        exercise::exercise(&g.out.bytes);
    } else {
        let e = &g.expect;
        exercise::exercise_valid(&g.out.bytes, e.records, e.list_elements, "compressed");
    }
});
