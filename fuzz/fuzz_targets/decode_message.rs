//! Fuzz target: any byte string as an IPFIX message stream, decoded under
//! every policy with every field value visited. It must never panic, hang or
//! allocate without bound.
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

fuzz_target!(|data: &[u8]| {
    for policy in [Policy::Error, Policy::Skip] {
        let opts = DecoderOptions { policy, ..DecoderOptions::default() };
        let mut dec = Decoder::new(InfoModel::iana(), &opts);
        let mut stream = MessageStream::new(Box::new(std::io::Cursor::new(data.to_vec())));
        while let Ok(Some(m)) = stream.next_message() {
            if dec.decode(&m, &mut Visit).is_err() {
                break;
            }
        }
    }
});
