//! Live collection: UDP and TCP listeners (IPv4 and IPv6) whose datagrams
//! and messages go, through one bounded queue, to the message stream. One
//! thread per socket receives; the reading side frames each datagram per
//! transport session (datagrams.rs), as for a capture. Memory is bounded by
//! the queue ([`LiveOptions::queue`] items of at most 64 KiB): when the
//! reader falls behind, the receiving threads wait and the kernel's socket
//! buffer (asked for [`LiveOptions::recv_buffer`] bytes) absorbs the burst.
//! Stopping ends the threads after what was queued has been read.

use std::io::{self, Read};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};

use super::capture::Exporter;
use super::datagrams::{export_payload, Datagrams};
use super::framing::{Framed, Framer};
use crate::error::Result;

/// How often the receiving threads look at the stop flag.
const POLL: Duration = Duration::from_millis(100);
const HALF_POLL: Duration = Duration::from_millis(50);

/// What to listen on.
#[derive(Debug, Clone)]
pub struct LiveOptions {
    pub udp: Vec<SocketAddr>,
    pub tcp: Vec<SocketAddr>,
    /// Datagrams or messages queued between the sockets and the reader.
    pub queue: usize,
    /// Socket receive buffer asked of the kernel, bytes.
    pub recv_buffer: usize,
    /// How long the reader waits for data before reporting idle.
    pub interval: Duration,
}

impl Default for LiveOptions {
    fn default() -> Self {
        LiveOptions {
            udp: Vec::new(),
            tcp: Vec::new(),
            queue: 8192,
            recv_buffer: 32 << 20,
            interval: Duration::from_secs(1),
        }
    }
}

/// Counters of the listeners.
#[derive(Debug, Default)]
pub struct LiveCounters {
    pub datagrams: AtomicU64,
    pub bytes: AtomicU64,
    /// UDP datagrams that were not flow export.
    pub other: AtomicU64,
    pub connections: AtomicU64,
}

enum Item {
    Data {
        from: SocketAddr,
        to: SocketAddr,
        bytes: Vec<u8>,
        udp: bool,
        /// When it was received, seconds since the epoch.
        at: u32,
    },
    Closed {
        from: SocketAddr,
        to: SocketAddr,
    },
    /// A listener thread stopped on a panic (a bug): reported to the
    /// reader as an internal error instead of going silent.
    Failed(crate::Error),
}

/// What reading the live source gave.
pub(super) enum Step {
    Message,
    Idle,
    End,
}

/// The live side of a message stream.
pub(super) struct Live {
    rx: Receiver<Item>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    pub(super) d: Datagrams,
    pub(super) counters: Arc<LiveCounters>,
    pub(super) local: Vec<(&'static str, SocketAddr)>,
    interval: Duration,
    received: u64,
}

fn exporter(a: SocketAddr) -> Exporter {
    Exporter {
        addr: a.ip(),
        port: a.port(),
    }
}

fn udp_socket(addr: SocketAddr, recv_buffer: usize) -> io::Result<UdpSocket> {
    let s = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        // "[::]" listens for IPv6 only; IPv4 has its own socket.
        s.set_only_v6(true)?;
    }
    // The kernel caps the buffer at net.core.rmem_max; asking more is fine.
    let _ = s.set_recv_buffer_size(recv_buffer);
    s.set_reuse_address(true)?;
    s.bind(&addr.into())?;
    let u: UdpSocket = s.into();
    u.set_read_timeout(Some(POLL))?;
    Ok(u)
}

impl Live {
    /// Bind every listener and start its thread.
    pub(super) fn bind(opts: &LiveOptions) -> io::Result<Live> {
        if opts.udp.is_empty() && opts.tcp.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "nothing to listen on: give udp= and/or tcp= addresses",
            ));
        }
        let (tx, rx) = mpsc::sync_channel(opts.queue.max(1));
        let stop = Arc::new(AtomicBool::new(false));
        let counters = Arc::new(LiveCounters::default());
        let mut threads = Vec::new();
        let mut local = Vec::new();
        for &addr in &opts.udp {
            let sock = udp_socket(addr, opts.recv_buffer)?;
            let to = sock.local_addr()?;
            local.push(("udp", to));
            let (tx, stop, counters) = (tx.clone(), stop.clone(), counters.clone());
            threads.push(
                std::thread::Builder::new()
                    .name("ferrofix-udp".into())
                    .spawn(move || {
                        guarded(
                            &tx,
                            || format!("the UDP listener on {to}"),
                            || {
                                udp_loop(&sock, to, &tx, &stop, &counters);
                            },
                        );
                    })?,
            );
        }
        for &addr in &opts.tcp {
            let listener = TcpListener::bind(addr)?;
            listener.set_nonblocking(true)?;
            let to = listener.local_addr()?;
            local.push(("tcp", to));
            let (tx, stop, counters) = (tx.clone(), stop.clone(), counters.clone());
            threads.push(
                std::thread::Builder::new()
                    .name("ferrofix-tcp".into())
                    .spawn(move || {
                        guarded(
                            &tx,
                            || format!("the TCP listener on {to}"),
                            || {
                                tcp_accept(&listener, &tx, &stop, &counters);
                            },
                        );
                    })?,
            );
        }
        Ok(Live {
            rx,
            stop,
            threads,
            d: Datagrams::default(),
            counters,
            local,
            interval: opts.interval,
            received: 0,
        })
    }

    /// Ask the listeners to stop; what is queued is still read.
    pub(super) fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    /// The flag that stops the listeners, for another thread to set.
    pub(super) fn stopper(&self) -> Arc<AtomicBool> {
        self.stop.clone()
    }

    /// The next message, idle after `interval` without one, or the end
    /// (stopped and drained).
    pub(super) fn advance(&mut self) -> Result<Step> {
        loop {
            if self.d.next()? {
                return Ok(Step::Message);
            }
            let item = match self.rx.recv_timeout(self.interval) {
                Ok(item) => item,
                Err(RecvTimeoutError::Timeout) => {
                    return Ok(
                        if self.stop.load(Ordering::SeqCst) && self.listeners_done() {
                            Step::End
                        } else {
                            Step::Idle
                        },
                    );
                }
                Err(RecvTimeoutError::Disconnected) => return Ok(Step::End),
            };
            match item {
                Item::Data {
                    from,
                    to,
                    bytes,
                    udp,
                    at: when,
                } => {
                    let at = self.received;
                    self.received = self.received.saturating_add(bytes.len() as u64);
                    self.d.load((exporter(from), exporter(to)), &bytes, at, 0);
                    self.d.set_udp(udp);
                    self.d.set_received(when);
                }
                Item::Closed { from, to } => self.d.end_session(&(exporter(from), exporter(to))),
                Item::Failed(e) => return Err(e),
            }
        }
    }

    fn listeners_done(&self) -> bool {
        self.threads.iter().all(JoinHandle::is_finished)
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        self.stop();
        // Let blocked senders finish: drain, then join.
        while self.rx.try_recv().is_ok() {}
        for t in self.threads.drain(..) {
            while !t.is_finished() {
                while self.rx.try_recv().is_ok() {}
                std::thread::sleep(Duration::from_millis(5));
            }
            let _ = t.join();
        }
    }
}

/// The clock, seconds since the epoch.
fn now_secs() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as u32)
}

/// A read that timed out or was interrupted: try again.
fn transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

/// Count a datagram or message of flow export and queue it; `false` when
/// the reading side is gone.
fn deliver(
    tx: &SyncSender<Item>,
    counters: &LiveCounters,
    from: SocketAddr,
    to: SocketAddr,
    bytes: &[u8],
    udp: bool,
) -> bool {
    counters.datagrams.fetch_add(1, Ordering::Relaxed);
    counters
        .bytes
        .fetch_add(bytes.len() as u64, Ordering::Relaxed);
    let item = Item::Data {
        from,
        to,
        bytes: bytes.to_vec(),
        udp,
        at: now_secs(),
    };
    tx.send(item).is_ok()
}

/// Run a listener thread's body; a panic is sent to the reader as an error.
fn guarded(tx: &SyncSender<Item>, doing: impl FnOnce() -> String, body: impl FnOnce()) {
    if let Err(e) = crate::error::catch_panic(doing, body) {
        let _ = tx.send(Item::Failed(e));
    }
}

fn udp_loop(
    sock: &UdpSocket,
    to: SocketAddr,
    tx: &SyncSender<Item>,
    stop: &AtomicBool,
    counters: &LiveCounters,
) {
    let mut buf = vec![0u8; 65_536];
    while !stop.load(Ordering::SeqCst) {
        match sock.recv_from(&mut buf) {
            Ok((n, from)) => {
                crate::testhook::panic_point("listener.udp");
                let payload = &buf[..n];
                if !export_payload(payload) {
                    counters.other.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                if !deliver(tx, counters, from, to, payload, true) {
                    return;
                }
            }
            Err(e) if transient(&e) => {}
            Err(_) => return,
        }
    }
}

fn tcp_accept(
    listener: &TcpListener,
    tx: &SyncSender<Item>,
    stop: &Arc<AtomicBool>,
    counters: &Arc<LiveCounters>,
) {
    let mut conns = Vec::new();
    while !stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((conn, from)) => {
                counters.connections.fetch_add(1, Ordering::Relaxed);
                let to = conn.local_addr().unwrap_or(from);
                let (tx, stop, counters) = (tx.clone(), stop.clone(), counters.clone());
                if let Ok(h) = std::thread::Builder::new()
                    .name("ferrofix-tcp-conn".into())
                    .spawn(move || {
                        guarded(
                            &tx,
                            || format!("the TCP connection from {from}"),
                            || {
                                tcp_conn(conn, from, to, &tx, &stop, &counters);
                            },
                        );
                    })
                {
                    conns.push(h);
                }
            }
            // Nothing to accept (or a refused connection): look again soon.
            Err(_) => std::thread::sleep(HALF_POLL),
        }
        conns.retain(|h: &JoinHandle<()>| !h.is_finished());
    }
    for h in conns {
        let _ = h.join();
    }
}

/// IPFIX messages of one TCP connection (RFC 7011 §10.4), each queued as
/// it completes; the session ends with the connection.
fn tcp_conn(
    mut conn: TcpStream,
    from: SocketAddr,
    to: SocketAddr,
    tx: &SyncSender<Item>,
    stop: &AtomicBool,
    counters: &LiveCounters,
) {
    let _ = conn.set_read_timeout(Some(POLL));
    let mut buf: Vec<u8> = Vec::with_capacity(1 << 17);
    let mut chunk = vec![0u8; 1 << 16];
    loop {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        match conn.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if transient(&e) => continue,
            Err(_) => break,
        }
        // Whole messages off the front of the buffer (framed as every
        // input is: at most 65,535 bytes are ever waited for).
        let mut at = 0;
        let mut framer = Framer::default();
        loop {
            let rest = buf.get(at..).unwrap_or_default();
            let len = match framer.step(rest, false) {
                Ok(Framed::Packet(_, len)) => len,
                Ok(Framed::Need(_) | Framed::End) => break,
                Err(_) => 0,
            };
            if len == 0 {
                // Not flow-export framing: hand the rest over as is (the
                // reader reports it) and close.
                let _ = tx.send(Item::Data {
                    from,
                    to,
                    bytes: rest.to_vec(),
                    udp: false,
                    at: now_secs(),
                });
                let _ = tx.send(Item::Closed { from, to });
                return;
            }
            let message = rest.get(..len).unwrap_or_default();
            if !deliver(tx, counters, from, to, message, false) {
                return;
            }
            at = at.saturating_add(len);
        }
        buf.drain(..at);
    }
    let _ = tx.send(Item::Closed { from, to });
}
