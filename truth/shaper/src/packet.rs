//! The few IPv4/IPv6/TCP header fields the shaper decides on and logs, and CE marking.

/// Header facts of one queued packet (IP packet, no link layer).
#[derive(Clone, Debug, Default)]
pub struct PktInfo {
    pub ipver: u8,
    pub src: String,
    pub dst: String,
    pub is_tcp: bool,
    pub sport: u16,
    pub dport: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    pub payload: u32,
    pub ecn: u8,
    pub ip_len: usize,
}

pub fn parse_packet(p: &[u8]) -> PktInfo {
    let mut i = PktInfo {
        ip_len: p.len(),
        ..PktInfo::default()
    };
    if p.is_empty() {
        return i;
    }
    let ver = p[0] >> 4;
    let (l4, proto, ip_total) = if ver == 4 && p.len() >= 20 {
        let ihl = ((p[0] & 0x0f) as usize) * 4;
        i.ipver = 4;
        i.ecn = p[1] & 3;
        i.src = std::net::Ipv4Addr::new(p[12], p[13], p[14], p[15]).to_string();
        i.dst = std::net::Ipv4Addr::new(p[16], p[17], p[18], p[19]).to_string();
        let total = u16::from_be_bytes([p[2], p[3]]) as usize;
        (ihl, p[9], total.min(p.len()))
    } else if ver == 6 && p.len() >= 40 {
        i.ipver = 6;
        i.ecn = (p[1] >> 4) & 3;
        let a: [u8; 16] = p[8..24].try_into().unwrap();
        let b: [u8; 16] = p[24..40].try_into().unwrap();
        i.src = std::net::Ipv6Addr::from(a).to_string();
        i.dst = std::net::Ipv6Addr::from(b).to_string();
        let plen = u16::from_be_bytes([p[4], p[5]]) as usize;
        // No extension headers are expected on this path; anything else is "not TCP".
        (40, p[6], (40 + plen).min(p.len()))
    } else {
        return i;
    };
    if proto != 6 || ip_total < l4 + 20 {
        return i;
    }
    let t = &p[l4..];
    i.is_tcp = true;
    i.sport = u16::from_be_bytes([t[0], t[1]]);
    i.dport = u16::from_be_bytes([t[2], t[3]]);
    i.seq = u32::from_be_bytes([t[4], t[5], t[6], t[7]]);
    i.ack = u32::from_be_bytes([t[8], t[9], t[10], t[11]]);
    let doff = ((t[12] >> 4) as usize) * 4;
    i.flags = t[13];
    i.payload = ip_total.saturating_sub(l4 + doff) as u32;
    i
}

/// Set the ECN field to CE; the IPv4 header checksum is recomputed (IPv6 has none, and the
/// TCP checksum does not cover the field).
pub fn set_ce(p: &mut [u8]) {
    match p[0] >> 4 {
        4 => {
            p[1] |= 3;
            let ihl = ((p[0] & 0x0f) as usize) * 4;
            p[10] = 0;
            p[11] = 0;
            let mut sum: u32 = 0;
            for w in p[..ihl].chunks(2) {
                sum += u32::from(u16::from_be_bytes([w[0], *w.get(1).unwrap_or(&0)]));
            }
            while sum > 0xffff {
                sum = (sum & 0xffff) + (sum >> 16);
            }
            let c = !(sum as u16);
            p[10..12].copy_from_slice(&c.to_be_bytes());
        }
        6 => p[1] |= 0x30,
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An IPv4/TCP packet: 20-byte IP header, 20-byte TCP header, `payload` zero bytes.
    fn v4_tcp(payload: usize, tos: u8) -> Vec<u8> {
        let total = 40 + payload;
        let mut p = vec![0u8; total];
        p[0] = 0x45;
        p[1] = tos;
        p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
        p[8] = 64;
        p[9] = 6;
        p[12..16].copy_from_slice(&[10, 66, 1, 2]);
        p[16..20].copy_from_slice(&[10, 66, 2, 2]);
        p[20..22].copy_from_slice(&40000u16.to_be_bytes());
        p[22..24].copy_from_slice(&5001u16.to_be_bytes());
        p[24..28].copy_from_slice(&1234u32.to_be_bytes());
        p[32] = 5 << 4;
        p[33] = 0x18;
        p
    }

    #[test]
    fn parses_tcp_fields() {
        let i = parse_packet(&v4_tcp(100, 2));
        assert!(i.is_tcp);
        assert_eq!((i.ipver, i.ecn, i.payload, i.ip_len), (4, 2, 100, 140));
        assert_eq!((i.src.as_str(), i.dst.as_str()), ("10.66.1.2", "10.66.2.2"));
        assert_eq!(
            (i.sport, i.dport, i.seq, i.flags),
            (40000, 5001, 1234, 0x18)
        );
    }

    #[test]
    fn ce_mark_keeps_a_valid_ipv4_checksum() {
        let mut p = v4_tcp(0, 2);
        set_ce(&mut p);
        assert_eq!(p[1] & 3, 3);
        let mut sum: u32 = p[..20]
            .chunks(2)
            .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
            .sum();
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        assert_eq!(sum, 0xffff);
    }
}
