//! Live export to a collector (RFC 7011 §10): over UDP, each message is
//! one datagram (§10.3: a message must fit the path MTU, so messages are
//! built to at most [`UDP_MTU`] octets, and templates are re-sent every
//! [`UDP_TEMPLATE_REFRESH`] messages, §8.4, since a collector that starts
//! later or loses a datagram has no other way to learn them); over TCP,
//! messages follow one another on one connection (§10.4), templates sent
//! once.

use std::io::{self, BufWriter, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs, UdpSocket};

use super::{ExportOptions, NotSent};

/// Largest message sent over UDP: an Ethernet MTU less IPv6 and UDP
/// headers, with room for tunnels.
pub const UDP_MTU: usize = 1400;
/// Messages between re-sent templates over UDP.
pub const UDP_TEMPLATE_REFRESH: u64 = 64;
/// Seconds of export time between re-sent templates over UDP at most
/// (RFC 7011 §8.4's recommended templateRefreshTimeout, 600 s), so that a
/// quiet link's collector does not expire them (ferrofix's readers: after
/// 1800 s).
pub const UDP_TEMPLATE_REFRESH_SECS: u32 = 600;

/// How long the end of an export over UDP waits for the collector's host
/// to refuse the last datagram ([`NetOut::settle`]).
pub const UDP_SETTLE: std::time::Duration = std::time::Duration::from_millis(20);

/// A connection to a collector.
pub enum NetOut {
    /// The socket, the collector's URL, and the messages lost so far
    /// ([`NetOut::lost`]).
    Udp(UdpSocket, String, u64),
    Tcp(BufWriter<TcpStream>, String),
}

/// A failed UDP send that may pass: the collector not listening (ICMP
/// port unreachable, reported at a later send), no route to it for now
/// (ICMP host or network unreachable, a link going down), or no buffer
/// space in the kernel's queue. The message is lost as UDP may lose any
/// datagram, and the export goes on (a collector restarted, a route
/// flapping, must not end a live capture's export). Anything else (a
/// datagram too long, a socket error) is the export's error.
fn passing(e: &io::Error) -> bool {
    use io::ErrorKind as K;
    matches!(
        e.kind(),
        K::ConnectionRefused | K::HostUnreachable | K::NetworkUnreachable | K::NetworkDown
    ) || no_buffer_space(e)
}

/// ENOBUFS, which std gives no kind of its own.
#[cfg(unix)]
fn no_buffer_space(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::ENOBUFS)
}

#[cfg(not(unix))]
fn no_buffer_space(_: &io::Error) -> bool {
    false
}

/// `e` naming the collector `url`: a failed send is the export's, not the
/// input's or the standard output's (a collector closing a TCP connection
/// gives EPIPE, which a command line takes for its output closed).
fn at(url: &str, e: &io::Error) -> io::Error {
    let kind = match e.kind() {
        io::ErrorKind::BrokenPipe => io::ErrorKind::ConnectionAborted,
        k => k,
    };
    io::Error::new(kind, format!("export to {url}: {e}"))
}

impl NetOut {
    /// Connect to `url`: `udp://host:port` or `tcp://host:port` (IPv6
    /// hosts in brackets); the exporter options that transport needs.
    pub fn connect(url: &str) -> io::Result<(NetOut, ExportOptions)> {
        let bad = || {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("export to {url:?}: give udp://HOST:PORT or tcp://HOST:PORT"),
            )
        };
        let (scheme, addr) = url.split_once("://").ok_or_else(bad)?;
        // A host without a port (the last ':' not after a bracketed
        // IPv6 address): said as such, not as the resolver's
        // "invalid socket address".
        let has_port = addr.rsplit_once(':').is_some_and(|(host, port)| {
            !port.is_empty() && !port.contains(']') && !host.is_empty()
        });
        if !has_port {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("export to {url:?}: no port: give udp://HOST:PORT or tcp://HOST:PORT"),
            ));
        }
        let all: Vec<SocketAddr> = addr
            .to_socket_addrs()
            .map_err(|e| io::Error::new(e.kind(), format!("export to {url:?}: {e}")))?
            .collect();
        // UDP cannot tell which address listens: the first (give an
        // address rather than a name that resolves to several); TCP tries
        // each in turn, as connecting does.
        let target = *all.first().ok_or_else(bad)?;
        match scheme {
            "udp" => {
                let local = if target.is_ipv4() {
                    "0.0.0.0:0"
                } else {
                    "[::]:0"
                };
                let s = UdpSocket::bind(local).map_err(|e| at(url, &e))?;
                s.connect(target).map_err(|e| at(url, &e))?;
                Ok((
                    NetOut::Udp(s, url.to_string(), 0),
                    ExportOptions {
                        mtu: UDP_MTU,
                        template_refresh: Some(UDP_TEMPLATE_REFRESH),
                        template_refresh_secs: Some(UDP_TEMPLATE_REFRESH_SECS),
                        export_time: None,
                    },
                ))
            }
            "tcp" => {
                let s = TcpStream::connect(all.as_slice())
                    .map_err(|e| io::Error::new(e.kind(), format!("export to {url}: {e}")))?;
                s.set_nodelay(true).map_err(|e| at(url, &e))?;
                Ok((
                    NetOut::Tcp(BufWriter::with_capacity(1 << 16, s), url.to_string()),
                    ExportOptions::default(),
                ))
            }
            _ => Err(bad()),
        }
    }
}

impl NetOut {
    /// Messages lost over UDP: not sent for a reason that may pass (no
    /// route, no buffer space), or refused by the collector's host (each
    /// refusal the kernel reports; it keeps one at a time, so more may
    /// have been refused). 0 over TCP, where a failed send is an error.
    pub fn lost(&self) -> u64 {
        match self {
            NetOut::Udp(_, _, lost) => *lost,
            NetOut::Tcp(..) => 0,
        }
    }

    /// The end of an export over UDP: the host's refusal of the last
    /// datagram, which the kernel reports only at a later send or when
    /// asked, waited for a moment (20 ms, a local network's round
    /// trip) and counted lost.
    pub fn settle(&mut self) {
        if let NetOut::Udp(s, _, lost) = self {
            std::thread::sleep(UDP_SETTLE);
            if let Ok(Some(e)) = s.take_error() {
                if e.kind() == io::ErrorKind::ConnectionRefused {
                    *lost = lost.saturating_add(1);
                }
            }
        }
    }

    /// The collector's URL.
    pub fn url(&self) -> &str {
        match self {
            NetOut::Udp(_, url, _) | NetOut::Tcp(_, url) => url,
        }
    }
}

impl Write for NetOut {
    /// Over UDP, one call is one datagram: the exporter writes each
    /// message with a single call.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            NetOut::Udp(s, url, lost) => {
                let mut refused = false;
                loop {
                    match s.send(buf) {
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        // A collector not (yet) listening: an earlier
                        // datagram's ICMP port unreachable comes back as
                        // this error at a later send, which did not go out:
                        // the earlier one counted lost, this one sent again
                        // once (the collector may be back).
                        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused && !refused => {
                            *lost = lost.saturating_add(1);
                            refused = true;
                        }
                        // This message not sent: said to the exporter,
                        // which leaves it out of what it counts as sent.
                        Err(e) if passing(&e) => {
                            *lost = lost.saturating_add(1);
                            return Err(NotSent::error(e.kind()));
                        }
                        r => return r.map_err(|e| at(url, &e)),
                    }
                }
            }
            NetOut::Tcp(w, url) => w.write(buf).map_err(|e| at(url, &e)),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            NetOut::Udp(..) => Ok(()),
            NetOut::Tcp(w, url) => w.flush().map_err(|e| at(url, &e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn udp_messages_are_datagrams_and_tcp_a_stream() {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let url = format!("udp://{}", rx.local_addr().unwrap());
        let (mut out, opts) = NetOut::connect(&url).unwrap();
        assert_eq!(
            (opts.mtu, opts.template_refresh),
            (UDP_MTU, Some(UDP_TEMPLATE_REFRESH))
        );
        out.write_all(&[1, 2, 3]).unwrap();
        out.write_all(&[4, 5]).unwrap();
        let mut buf = [0u8; 16];
        assert_eq!(rx.recv(&mut buf).unwrap(), 3);
        assert_eq!(rx.recv(&mut buf).unwrap(), 2);
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("tcp://{}", l.local_addr().unwrap());
        let (mut out, _) = NetOut::connect(&url).unwrap();
        let (mut conn, _) = l.accept().unwrap();
        out.write_all(&[7, 8, 9]).unwrap();
        out.flush().unwrap();
        drop(out);
        let mut got = Vec::new();
        std::io::Read::read_to_end(&mut conn, &mut got).unwrap();
        assert_eq!(got, vec![7, 8, 9]);
        assert!(NetOut::connect("http://x").is_err());
        assert!(NetOut::connect("udp:/x").is_err());
    }

    /// Export to a UDP port nothing listens on: its ICMP port unreachable
    /// comes back as ECONNREFUSED at the next send (Linux, on a connected
    /// socket). The URL too.
    fn to_a_closed_port() -> (NetOut, String) {
        let url = {
            let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
            format!("udp://{}", rx.local_addr().unwrap())
        };
        (NetOut::connect(&url).unwrap().0, url)
    }

    #[test]
    fn udp_datagrams_a_closed_port_refuses_are_counted_lost_and_the_export_goes_on() {
        let (mut out, url) = to_a_closed_port();
        assert_eq!(out.url(), url);
        for _ in 0..20 {
            out.write_all(&[0u8; 64]).unwrap();
            // Time for the ICMP message to come back.
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        out.settle();
        // Each refused, each refusal reported (one at a time: ICMP's rate
        // limit on another host could merge some).
        assert!((10..=20).contains(&out.lost()), "{} of 20 lost", out.lost());
        // A datagram longer than UDP allows is no passing failure.
        let e = out.write(&vec![0u8; 70_000]).unwrap_err();
        assert!(e.to_string().contains(&format!("export to {url}")), "{e}");
    }

    #[test]
    fn the_refusal_of_the_last_datagram_is_counted_at_the_end() {
        let (mut out, _) = to_a_closed_port();
        out.write_all(&[0u8; 64]).unwrap();
        assert_eq!(out.lost(), 0, "no send since to report it");
        out.settle();
        assert_eq!(out.lost(), 1);
        // Nothing more to report.
        out.settle();
        assert_eq!(out.lost(), 1);
    }

    #[test]
    fn a_collector_closing_the_connection_is_an_error_naming_it() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("tcp://{}", l.local_addr().unwrap());
        let (mut out, _) = NetOut::connect(&url).unwrap();
        drop(l.accept().unwrap());
        drop(l);
        // The peer is gone: a write soon fails (EPIPE or ECONNRESET).
        let block = vec![0u8; 1 << 16];
        let e = (0..1000)
            .find_map(|_| out.write_all(&block).and_then(|()| out.flush()).err())
            .expect("a write to a closed connection fails");
        assert!(e.to_string().contains(&format!("export to {url}")), "{e}");
        // Not the kind a command line takes for its own output closed.
        assert_ne!(e.kind(), io::ErrorKind::BrokenPipe);
    }
}
