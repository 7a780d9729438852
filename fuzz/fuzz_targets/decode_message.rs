//! Fuzz target: any byte string as a message stream (IPFIX, NetFlow v9/v5,
//! or a pcap/pcapng capture of flow export, recognised by content), read
//! both as a stream and in place, decoded under every policy with every
//! field value visited. It must never panic, hang or allocate without
//! bound. `make fuzz` seeds it with the IPFIX, NetFlow and capture fixtures.
#![no_main]

use ferrofix::decode::{Decoder, DecoderOptions, Policy, Record, RecordSink};
use ferrofix::model::InfoModel;
use ferrofix::source::MessageStream;
use libfuzzer_sys::fuzz_target;

struct Visit;

impl RecordSink for Visit {
    fn record(&mut self, rec: &Record<'_>) -> ferrofix::Result<()> {
        for i in 0..rec.len() {
            std::hint::black_box(rec.value(i));
        }
        Ok(())
    }
}

fn run(mut stream: MessageStream, policy: Policy) {
    let opts = DecoderOptions { policy, ..DecoderOptions::default() };
    let mut dec = Decoder::new(InfoModel::iana(), &opts);
    while let Ok(Some(m)) = stream.next_message() {
        if dec.decode(&m, &mut Visit).is_err() {
            break;
        }
    }
    std::hint::black_box(stream.capture_stats());
}

fuzz_target!(|data: &[u8]| {
    for policy in [Policy::Error, Policy::Skip] {
        run(MessageStream::new(Box::new(std::io::Cursor::new(data.to_vec()))), policy);
    }
    if let Ok(s) = MessageStream::from_shared(std::sync::Arc::from(data)) {
        run(s, Policy::Skip);
    }
});
