//! Process set-up for timing precision, and the netlink socket the nfq crate keeps to itself.

/// What the real-time set-up obtained (each may be refused, e.g. without CAP_SYS_NICE).
pub struct RtSetup {
    pub timerslack: bool,
    pub locked: bool,
    pub pinned: bool,
    pub fifo: bool,
}

/// 1 ns timer slack (default 50 us), no page-fault stalls (mlockall), pinned to `cpu`, and
/// SCHED_FIFO, for the calling thread (the main one).
pub fn realtime_setup(cpu: Option<usize>) -> RtSetup {
    // SAFETY: prctl/mlockall take no pointers here.
    let timerslack =
        unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong, 0, 0, 0) } == 0;
    // SAFETY: as above.
    let locked = unsafe { libc::mlockall(libc::MCL_CURRENT | libc::MCL_FUTURE) } == 0;
    // SAFETY: a zeroed cpu_set_t of the size passed, read by the kernel.
    let pinned = cpu.is_some_and(|c| unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(c, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) == 0
    });
    // SAFETY: a valid sched_param read by the kernel.
    let fifo = unsafe {
        let p = libc::sched_param { sched_priority: 10 };
        libc::sched_setscheduler(0, libc::SCHED_FIFO, &p) == 0
    };
    RtSetup {
        timerslack,
        locked,
        pinned,
        fifo,
    }
}

/// The nfq crate does not expose its socket; find it: the one AF_NETLINK/NETLINK_NETFILTER
/// socket this process has open (we open exactly one).
pub fn find_netfilter_socket() -> Option<libc::c_int> {
    let mut found = None;
    for entry in std::fs::read_dir("/proc/self/fd").ok()?.flatten() {
        let Ok(fd) = entry.file_name().to_string_lossy().parse::<libc::c_int>() else {
            continue;
        };
        let get = |opt: libc::c_int| -> Option<libc::c_int> {
            let mut v: libc::c_int = 0;
            let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
            // SAFETY: v and len are valid for the sizes given.
            let r = unsafe {
                libc::getsockopt(
                    fd,
                    libc::SOL_SOCKET,
                    opt,
                    std::ptr::addr_of_mut!(v).cast(),
                    &mut len,
                )
            };
            (r == 0).then_some(v)
        };
        if get(libc::SO_DOMAIN) == Some(libc::AF_NETLINK)
            && get(libc::SO_PROTOCOL) == Some(libc::NETLINK_NETFILTER)
        {
            if found.is_some() {
                return None;
            }
            found = Some(fd);
        }
    }
    found
}

/// A receive buffer beyond rmem_max (SO_RCVBUFFORCE, root): bursts are not lost to ENOBUFS.
pub fn force_rcvbuf(fd: libc::c_int, bytes: libc::c_int) {
    // SAFETY: a c_int option value of the size given.
    unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVBUFFORCE,
            std::ptr::addr_of!(bytes).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

/// Wait for the netlink socket or stdin to be readable, or until `timeout_ns` has passed
/// (forever with None). Returns (netlink readable, stdin readable); EINTR is (false, false).
pub fn wait(fd: libc::c_int, timeout_ns: Option<u64>) -> std::io::Result<(bool, bool)> {
    let timeout = timeout_ns.map(|d| libc::timespec {
        tv_sec: (d / 1_000_000_000) as libc::time_t,
        tv_nsec: (d % 1_000_000_000) as libc::c_long,
    });
    let mut fds = [
        libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        },
        libc::pollfd {
            fd: 0,
            events: libc::POLLIN,
            revents: 0,
        },
    ];
    let tp = timeout
        .as_ref()
        .map_or(std::ptr::null(), std::ptr::from_ref);
    // SAFETY: two valid pollfds, an optional valid timespec, no signal mask.
    let r = unsafe { libc::ppoll(fds.as_mut_ptr(), 2, tp, std::ptr::null()) };
    if r < 0 {
        let e = std::io::Error::last_os_error();
        if e.kind() == std::io::ErrorKind::Interrupted {
            return Ok((false, false));
        }
        return Err(e);
    }
    Ok((fds[0].revents != 0, fds[1].revents != 0))
}
