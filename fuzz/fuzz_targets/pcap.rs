//! Fuzz target: the input is the choices of `ferrofix-testgen`'s
//! generator of classic pcap captures (both byte orders, µs and ns magic; Ethernet, raw IPv4/IPv6, Linux SLL/SLL2, BSD null/loopback) of IPFIX and NetFlow over UDP, IPFIX over TCP and other traffic. The generator builds a valid input, then (seven
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
    let g = generate_mutated(Kind::Pcap, &mut Choices::new(data));
    if g.mutated {
        exercise::exercise(&g.out.bytes);
    } else {
        let e = &g.expect;
        exercise::exercise_valid(&g.out.bytes, e.records, e.list_elements, "pcap");
    }
});
