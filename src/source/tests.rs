//! Tests of message streams: framing, mapped and compressed inputs, endless streams.

use super::*;
use crate::error::ErrorKind;

fn msg(len: u16) -> Vec<u8> {
    let mut m = vec![0, 10];
    m.extend_from_slice(&len.to_be_bytes());
    m.resize(len as usize, 0);
    m
}

#[test]
fn reads_messages_and_reports_truncation() {
    let mut data = msg(16);
    data.extend(msg(20));
    data.extend(&msg(30)[..25]);
    let mut s = MessageStream::new(Box::new(io::Cursor::new(data)));
    assert_eq!(s.next_message().unwrap().unwrap().offset, 0);
    let m = s.next_message().unwrap().unwrap();
    assert_eq!((m.offset, m.index, m.bytes.len()), (16, 1, 20));
    let e = s.next_message().err().unwrap();
    assert_eq!((e.offset, e.message_index), (Some(36), Some(2)));
    assert!(matches!(e.kind, ErrorKind::Truncated { .. }));
    assert!(s.next_message().unwrap().is_none());
}

#[test]
fn whole_inputs_give_the_same_messages_and_errors() {
    let mut data = msg(16);
    data.extend(msg(20));
    data.extend(&msg(30)[..25]);
    let dir = std::env::temp_dir().join(format!("ferrofix-src-{}", std::process::id()));
    std::fs::write(&dir, &data).unwrap();
    for mut s in [
        MessageStream::from_shared(Arc::from(data.clone())).unwrap(),
        MessageStream::open(&dir).unwrap(),
    ] {
        assert!(matches!(s.input, Input::Whole { .. }));
        assert_eq!(s.next_message().unwrap().unwrap().bytes, &data[..16]);
        let m = s.next_message().unwrap().unwrap();
        assert_eq!((m.offset, m.index, m.bytes), (16, 1, &data[16..36]));
        let e = s.next_message().err().unwrap();
        assert_eq!((e.offset, e.message_index), (Some(36), Some(2)));
        assert!(matches!(
            e.kind,
            ErrorKind::Truncated {
                needed: 30,
                available: 25
            }
        ));
        assert!(s.next_message().unwrap().is_none());
        assert_eq!(s.offset(), data.len() as u64);
    }
    std::fs::remove_file(&dir).unwrap();
}

#[test]
fn a_mapped_file_reads_on_past_released_pages() {
    // 6+ MB of messages whose last byte is their number: the pages
    // behind the cursor are released twice on the way.
    let n = (3 * RELEASE_STEP) / 65_535 + 1;
    let mut data = Vec::new();
    for i in 0..n {
        let mut m = msg(65_535);
        m[65_534] = i as u8;
        data.extend(m);
    }
    let path = std::env::temp_dir().join(format!("ferrofix-map-{}", std::process::id()));
    std::fs::write(&path, &data).unwrap();
    let mut s = MessageStream::open(&path).unwrap();
    let mut seen = 0;
    while let Some(m) = s.next_message().unwrap() {
        assert_eq!(m.bytes[65_534], seen as u8);
        seen += 1;
    }
    let Input::Whole { released, .. } = s.input else {
        panic!("not mapped");
    };
    assert!(released >= RELEASE_STEP);
    assert_eq!(seen, n);
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn gzip_is_undone() {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(&msg(16)).unwrap();
    let gz = enc.finish().unwrap();
    let r = decompressing(Box::new(io::Cursor::new(gz))).unwrap();
    let mut s = MessageStream::new(r);
    assert_eq!(s.next_message().unwrap().unwrap().bytes.len(), 16);
    assert!(s.next_message().unwrap().is_none());
}

/// A reader of `head` then zeros without end, counting what was read.
struct Endless {
    head: Vec<u8>,
    read: Arc<std::sync::atomic::AtomicU64>,
}

impl Read for Endless {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len();
        let from_head = self.head.len().min(n);
        buf[..from_head].copy_from_slice(&self.head[..from_head]);
        self.head.drain(..from_head);
        buf[from_head..].fill(0);
        self.read
            .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(n)
    }
}

#[test]
fn an_endless_stream_of_padding_is_an_error_after_one_packet() {
    // A NetFlow v9 header then zeros forever (issue 13: each 4 zero
    // bytes were taken for padding and buffered without end).
    let read = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut head = vec![0, 9, 0, 0];
    head.resize(20, 0);
    let mut s = MessageStream::new(Box::new(Endless {
        head,
        read: read.clone(),
    }));
    let Err(e) = s.next_message() else {
        panic!("endless padding was framed as a packet");
    };
    assert!(e.to_string().contains("65535 bytes"), "{e}");
    assert_eq!(e.offset, Some(65_536));
    // What was read: one packet's bound and the reader's buffer.
    assert!(read.load(std::sync::atomic::Ordering::Relaxed) < 200_000);
    assert!(s.next_message().unwrap().is_none());
}
