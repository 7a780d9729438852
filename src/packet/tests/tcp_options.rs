//! TCP options and flags, their expected values read off RFC 9293's and
//! RFC 2018's layouts.

use super::*;

#[test]
fn timestamps_alone_read_the_same_by_either_path() {
    // NOP, NOP, timestamps (RFC 7323 Appendix A's layout): the inline path.
    let ts = [1, 1, 8, 10, 0, 0, 0x01, 0x02, 0xFF, 0, 0, 0x03];
    let o = TcpOptions::parse(&ts);
    assert_eq!(o.timestamps(), Some((0x0102, 0xFF00_0003)));
    assert_eq!(
        (o.mss(), o.window_scale(), o.sack_permitted),
        (None, None, false)
    );
    assert!(o.sack_blocks().is_empty() && o.other == 0);
    // The same option after an MSS goes the general way and agrees.
    let o2 = TcpOptions::parse(&[2, 4, 0x05, 0xB4, 1, 1, 8, 10, 0, 0, 1, 2, 0xFF, 0, 0, 3]);
    assert_eq!(o2.timestamps(), o.timestamps());
    assert_eq!(o2.mss(), Some(1460));
    // An absent option reads as absent whatever the value left behind.
    let mut o3 = o2;
    o3.set_mss(None);
    o3.set_timestamps(None);
    o3.set_window_scale(Some(0));
    assert_eq!(
        (o3.mss(), o3.timestamps(), o3.window_scale()),
        (None, None, Some(0))
    );
}

#[test]
fn tcp_options_and_flags() {
    let mut t = vec![0x30, 0x39, 0x00, 0x50, 0, 0, 0, 1, 0, 0, 0, 2];
    // Data offset 13 words (52 bytes), the AE bit, SYN|ECE|CWR.
    t.extend_from_slice(&[0xD1, 0xC2, 0xFF, 0xFF, 0, 0, 0, 0]);
    t.extend_from_slice(&[2, 4, 0x05, 0xB4]); // MSS 1460
    t.extend_from_slice(&[1, 3, 3, 7]); // NOP, window scale 7
    t.extend_from_slice(&[4, 2]); // SACK permitted
    t.extend_from_slice(&[8, 10, 0, 0, 0, 5, 0, 0, 0, 6]); // TS 5, 6
    t.extend_from_slice(&[5, 10, 0, 0, 0, 10, 0, 0, 0, 20]); // SACK 10-20
    t.extend_from_slice(&[0, 0]); // EOL, padding
    assert_eq!(t.len(), 52);
    let h = tcp(&t).unwrap();
    assert_eq!(
        (h.src_port, h.dst_port, h.seq, h.ack, h.window),
        (12345, 80, 1, 2, 0xFFFF)
    );
    assert_eq!(h.control_bits(), 0x1C2);
    assert_eq!(h.flags & (SYN | ECE | CWR), SYN | ECE | CWR);
    let o = h.parsed_options();
    assert_eq!(
        (o.mss(), o.window_scale(), o.sack_permitted, o.timestamps()),
        (Some(1460), Some(7), true, Some((5, 6)))
    );
    assert_eq!(o.sack_blocks(), &[(10, 20)]);
    // A lying option length ends the walk with what came before.
    let o = TcpOptions::parse(&[2, 4, 0x05, 0xB4, 3, 9, 1]);
    assert_eq!((o.mss(), o.window_scale()), (Some(1460), None));
}

#[test]
fn a_sack_option_cut_by_the_snaplen_still_says_how_many_blocks_were_sent() {
    // NOP, NOP, timestamps, NOP, NOP, then a SACK option of length 26
    // (three blocks, RFC 2018 §3), as Linux lays it out.
    let mut b = vec![1, 1, 8, 10, 0, 0, 0, 5, 0, 0, 0, 6, 1, 1, 5, 26];
    for (l, r) in [(100u32, 200u32), (300, 400), (500, 600)] {
        b.extend_from_slice(&l.to_be_bytes());
        b.extend_from_slice(&r.to_be_bytes());
    }
    let whole = TcpOptions::parse(&b);
    assert_eq!((whole.sack_sent, whole.sack_count), (3, 3));
    assert_eq!(whole.sack_blocks(), &[(100, 200), (300, 400), (500, 600)]);
    // Cut after the first block and half the second: three sent, the
    // first read, the timestamps kept.
    let cut = TcpOptions::parse(&b[..16 + 12]);
    assert_eq!((cut.sack_sent, cut.sack_blocks()), (3, &[(100, 200)][..]));
    assert_eq!(cut.timestamps(), Some((5, 6)));
    // Cut inside the first block, and right after the length octet.
    for at in [16 + 6, 16] {
        let o = TcpOptions::parse(&b[..at]);
        assert_eq!((o.sack_sent, o.sack_blocks().len()), (3, 0), "cut at {at}");
    }
    // Cut before the length octet: nothing is known of it.
    assert_eq!(TcpOptions::parse(&b[..15]).sack_sent, 0);
    // A cut option whose length no whole number of blocks makes is
    // no SACK option.
    let mut odd = b[..16].to_vec();
    odd[15] = 13;
    assert_eq!(TcpOptions::parse(&odd).sack_sent, 0);
}
