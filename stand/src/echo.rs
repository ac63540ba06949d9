//! The proxy: a UDP server that echoes, reverses or forwards each datagram.
//!
//! Each worker is a thread with its own socket bound to the same address with `SO_REUSEPORT`
//! (the kernel spreads clients over workers by a hash of the 4-tuple, so one client always
//! meets the same worker), or, with `shared_socket`, all workers block on one socket.
//! Sockets have a 50 ms receive timeout so workers notice a stop request promptly.
//!
//! The file is long because the worker loop, its socket setup and its statistics share one
//! configuration and are read together; splitting them would scatter one protocol.

use std::{
    collections::VecDeque,
    io,
    net::{SocketAddr, UdpSocket},
    os::fd::AsRawFd,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    thread::{self, JoinHandle},
    time::{Duration, Instant},
};

use serde::Serialize;
use socket2::{Domain, Protocol, Socket, Type};

use crate::{
    error::{Error, Result},
    payload,
    stats::{self, LatencySummary},
    timestamps::{self, ControlBuf, TimestampRecord},
};

/// What the server does with a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Send it back unchanged.
    #[default]
    Echo,
    /// Send it back with its bytes in reverse order.
    Reverse,
    /// Relay it to the upstream, and the upstream's reply back to the sender.
    Forward,
}

/// Server settings.
#[derive(Debug, Clone)]
pub struct EchoConfig {
    /// Address to listen on; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Worker threads.
    pub workers: usize,
    /// One socket shared by all workers instead of one `SO_REUSEPORT` socket each.
    pub shared_socket: bool,
    /// What to do with each datagram.
    pub mode: Mode,
    /// The upstream for [`Mode::Forward`].
    pub upstream: Option<SocketAddr>,
    /// Emulated processing work per datagram (a busy loop).
    pub busy: Duration,
    /// CPUs to pin workers to: worker i runs on `pin_cpus[i % len]`; empty = no pinning.
    pub pin_cpus: Vec<usize>,
    /// Record kernel receive/transmit timestamps of every datagram.
    pub timestamps: bool,
    /// Stop after this many received datagrams (all workers together).
    pub max_datagrams: Option<u64>,
    /// Stop after this long.
    pub duration: Option<Duration>,
    /// Test mode: silently drop every N-th received datagram (counted over all workers).
    pub drop_every: Option<u64>,
    /// Test mode: count datagrams after which another one was already queued (`FIONREAD`).
    pub count_backlog: bool,
    /// `SO_RCVBUF` in bytes (the kernel doubles it).
    pub recv_buffer: Option<usize>,
}

impl Default for EchoConfig {
    fn default() -> Self {
        EchoConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            workers: 1,
            shared_socket: false,
            mode: Mode::Echo,
            upstream: None,
            busy: Duration::ZERO,
            pin_cpus: Vec::new(),
            timestamps: false,
            max_datagrams: None,
            duration: None,
            drop_every: None,
            count_backlog: false,
            recv_buffer: None,
        }
    }
}

/// What a server did, reported at shutdown.
#[derive(Debug, Clone, Default, Serialize)]
pub struct EchoSummary {
    /// Datagrams received (including dropped ones).
    pub datagrams: u64,
    /// Payload bytes received.
    pub bytes: u64,
    /// Datagrams sent back.
    pub replies: u64,
    /// Failed sends or receives, and forward-mode upstream timeouts.
    pub errors: u64,
    /// Datagrams dropped on purpose (`drop_every`).
    pub dropped: u64,
    /// Datagrams the kernel dropped at the server's sockets before the server could read
    /// them (receive buffer full, ...): the `drops` column of `/proc/net/udp{,6}` at
    /// shutdown. `None` if it could not be read.
    pub socket_drops: Option<u64>,
    /// Receives after which another datagram was already waiting (only with `count_backlog`).
    pub backlogged: u64,
    /// Seconds from bind to stop.
    pub elapsed_s: f64,
    /// Replies whose transmit timestamp never arrived (timestamps mode).
    pub timestamps_missing: u64,
    /// Sojourn time `tx_ns − rx_ns` summary (timestamps mode).
    pub sojourn_ns: Option<LatencySummary>,
    /// Per-datagram timestamps (timestamps mode), in worker order.
    #[serde(skip)]
    pub timestamps: Vec<TimestampRecord>,
}

impl EchoSummary {
    /// The one-line summary printed at shutdown.
    pub fn line(&self) -> String {
        let mut s = format!(
            "kpath-stand echo: datagrams={} bytes={} replies={} errors={} dropped={} socket_drops={} backlogged={} elapsed={:.3}s",
            self.datagrams,
            self.bytes,
            self.replies,
            self.errors,
            self.dropped,
            self.socket_drops
                .map_or_else(|| "unknown".to_string(), |d| d.to_string()),
            self.backlogged,
            self.elapsed_s
        );
        if let Some(so) = &self.sojourn_ns {
            s.push_str(&format!(
                " sojourn_ns(n={} p50={:.0} p99={:.0} max={:.0} missing={})",
                so.count, so.p50, so.p99, so.max, self.timestamps_missing
            ));
        }
        s
    }
}

struct Shared {
    stop: AtomicBool,
    received: AtomicU64,
}

/// A running server.
pub struct EchoServer {
    local_addr: SocketAddr,
    shared: Arc<Shared>,
    handles: Vec<JoinHandle<WorkerStats>>,
    started: Instant,
    timestamps: bool,
}

#[derive(Default)]
struct WorkerStats {
    datagrams: u64,
    bytes: u64,
    replies: u64,
    errors: u64,
    dropped: u64,
    backlogged: u64,
    ts_missing: u64,
    records: Vec<TimestampRecord>,
    /// (inode, kernel drops) of the worker's socket at its end; workers sharing a socket
    /// report the same inode, counted once.
    socket_drops: Option<(u64, u64)>,
}

/// The kernel's drop counter of `sock`: the `drops` column of its line in
/// `/proc/self/net/udp` or `udp6` (this process's network namespace), found by inode.
fn socket_drops(sock: &UdpSocket) -> Option<(u64, u64)> {
    // SAFETY: fstat on an open descriptor we own, into a zeroed stat buffer.
    let ino = unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        if libc::fstat(sock.as_raw_fd(), &mut st) != 0 {
            return None;
        }
        st.st_ino
    };
    for table in ["/proc/self/net/udp", "/proc/self/net/udp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            // sl local rem st tx:rx tr:when retrnsmt uid timeout inode ref pointer drops
            let cols: Vec<&str> = line.split_whitespace().collect();
            if cols.get(9).and_then(|c| c.parse::<u64>().ok()) == Some(ino) {
                return cols.last()?.parse().ok().map(|d| (ino, d));
            }
        }
    }
    None
}

/// Most timestamp records kept per worker (48 bytes each).
const MAX_RECORDS_PER_WORKER: usize = 20_000_000;

fn new_socket(cfg: &EchoConfig, addr: SocketAddr) -> Result<Socket> {
    let err = |op| move |source| Error::Socket { op, addr, source };
    let sock = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))
        .map_err(err("create"))?;
    if cfg.workers > 1 && !cfg.shared_socket {
        sock.set_reuse_port(true).map_err(err("set SO_REUSEPORT"))?;
    }
    if let Some(bytes) = cfg.recv_buffer {
        sock.set_recv_buffer_size(bytes)
            .map_err(err("set SO_RCVBUF"))?;
    }
    sock.set_read_timeout(Some(Duration::from_millis(50)))
        .map_err(err("set SO_RCVTIMEO"))?;
    if cfg.timestamps {
        timestamps::enable(sock.as_raw_fd())
            .map_err(err("enable SO_TIMESTAMPNS/SO_TIMESTAMPING"))?;
    }
    sock.bind(&addr.into()).map_err(err("bind"))?;
    Ok(sock)
}

fn local_addr(sock: &Socket, addr: SocketAddr) -> Result<SocketAddr> {
    sock.local_addr()
        .ok()
        .and_then(|a| a.as_socket())
        .ok_or(Error::Socket {
            op: "read the local address",
            addr,
            source: io::Error::other("no inet address"),
        })
}

impl EchoServer {
    /// Binds all sockets and starts the workers; the server is ready when this returns.
    pub fn start(cfg: EchoConfig) -> Result<Self> {
        if cfg.workers == 0 {
            return Err(Error::InvalidArgument {
                flag: "--workers",
                reason: "need at least one worker".into(),
            });
        }
        if cfg.mode == Mode::Forward && cfg.upstream.is_none() {
            return Err(Error::InvalidArgument {
                flag: "--upstream",
                reason: "--mode forward needs --upstream ADDR:PORT".into(),
            });
        }
        if cfg.timestamps && cfg.shared_socket && cfg.workers > 1 {
            return Err(Error::InvalidArgument {
                flag: "--timestamps",
                reason: "transmit timestamps are numbered per socket, so they need one socket per \
                         worker: drop --shared-socket"
                    .into(),
            });
        }
        if cfg.drop_every == Some(0) {
            return Err(Error::InvalidArgument {
                flag: "--drop-every",
                reason: "must be at least 1".into(),
            });
        }
        let first = new_socket(&cfg, cfg.listen)?;
        let bound = local_addr(&first, cfg.listen)?;
        let mut sockets: Vec<UdpSocket> = vec![first.into()];
        for _ in 1..cfg.workers {
            if cfg.shared_socket {
                let clone = sockets[0].try_clone().map_err(|source| Error::Socket {
                    op: "clone",
                    addr: bound,
                    source,
                })?;
                sockets.push(clone);
            } else {
                sockets.push(new_socket(&cfg, bound)?.into());
            }
        }
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            received: AtomicU64::new(0),
        });
        let started = Instant::now();
        let mut handles = Vec::new();
        for (i, sock) in sockets.into_iter().enumerate() {
            let upstream = match (cfg.mode, cfg.upstream) {
                (Mode::Forward, Some(up)) => Some(connect_upstream(up)?),
                _ => None,
            };
            let cfg = cfg.clone();
            let shared = Arc::clone(&shared);
            let handle = thread::Builder::new()
                .name(format!("echo-{i}"))
                .spawn(move || worker(i, sock, upstream, &cfg, &shared, started))
                .map_err(|e| Error::io("spawn a worker thread", e))?;
            handles.push(handle);
        }
        Ok(EchoServer {
            local_addr: bound,
            shared,
            handles,
            started,
            timestamps: cfg.timestamps,
        })
    }

    /// The bound address (with the port chosen when asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Asks the workers to stop; they notice within 50 ms.
    pub fn stop(&self) {
        self.shared.stop.store(true, Ordering::SeqCst);
    }

    /// Whether every worker has finished (bound reached or stopped).
    pub fn is_finished(&self) -> bool {
        self.handles.iter().all(|h| h.is_finished())
    }

    /// Waits for the workers, stopping them as soon as `stop_requested()` returns true
    /// (polled every 20 ms), and sums up what they did.
    pub fn wait(self, stop_requested: impl Fn() -> bool) -> EchoSummary {
        while !self.is_finished() {
            if stop_requested() {
                self.stop();
            }
            thread::sleep(Duration::from_millis(20));
        }
        let mut sum = EchoSummary::default();
        let mut drops_by_socket = std::collections::BTreeMap::new();
        let mut drops_known = true;
        for h in self.handles {
            // A worker that panicked contributes nothing but is counted as an error.
            let w = h.join().unwrap_or_else(|_| WorkerStats {
                errors: 1,
                ..WorkerStats::default()
            });
            sum.datagrams += w.datagrams;
            sum.bytes += w.bytes;
            sum.replies += w.replies;
            sum.errors += w.errors;
            sum.dropped += w.dropped;
            sum.backlogged += w.backlogged;
            sum.timestamps_missing += w.ts_missing;
            sum.timestamps.extend(w.records);
            match w.socket_drops {
                Some((ino, d)) => {
                    drops_by_socket.insert(ino, d);
                }
                None => drops_known = false,
            }
        }
        sum.socket_drops = drops_known.then(|| drops_by_socket.values().sum());
        sum.elapsed_s = self.started.elapsed().as_secs_f64();
        if self.timestamps {
            let mut h = stats::new_histogram();
            for r in &sum.timestamps {
                stats::record(&mut h, r.sojourn_ns().max(0) as u64);
            }
            sum.sojourn_ns = Some(LatencySummary::from_histogram(&h));
        }
        sum
    }
}

fn connect_upstream(up: SocketAddr) -> Result<UdpSocket> {
    let local: SocketAddr = if up.is_ipv4() {
        SocketAddr::from(([0, 0, 0, 0], 0))
    } else {
        SocketAddr::from(([0u16; 8], 0))
    };
    let err = |op| {
        move |source| Error::Socket {
            op,
            addr: up,
            source,
        }
    };
    let sock = UdpSocket::bind(local).map_err(err("bind for the upstream"))?;
    sock.connect(up).map_err(err("connect to the upstream"))?;
    sock.set_read_timeout(Some(Duration::from_secs(1)))
        .map_err(err("set SO_RCVTIMEO"))?;
    Ok(sock)
}

/// Pins the calling thread to `cpu`.
pub fn pin_to_cpu(cpu: usize) -> io::Result<()> {
    // SAFETY: cpu_set_t is plain data; CPU_SET bounds-checks against its size.
    let rc = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set)
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Spins for `d` (the emulated processing), or until `stop` is set: a stop request
/// (SIGTERM, `--duration`) is never kept waiting behind a long busy time.
fn busy_wait(d: Duration, stop: &AtomicBool) {
    if d.is_zero() {
        return;
    }
    let end = Instant::now() + d;
    while Instant::now() < end && !stop.load(Ordering::Relaxed) {
        std::hint::spin_loop();
    }
}

fn queued_bytes(sock: &UdpSocket) -> usize {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int.
    let rc = unsafe { libc::ioctl(sock.as_raw_fd(), libc::FIONREAD, &mut n) };
    if rc == 0 {
        n.max(0) as usize
    } else {
        0
    }
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

struct Pending {
    id: u32,
    index: u64,
    seq: Option<u64>,
    len: u32,
    rx_ns: u64,
}

fn worker(
    index: usize,
    sock: UdpSocket,
    mut upstream: Option<UdpSocket>,
    cfg: &EchoConfig,
    shared: &Shared,
    started: Instant,
) -> WorkerStats {
    let mut st = WorkerStats::default();
    if !cfg.pin_cpus.is_empty() {
        let cpu = cfg.pin_cpus[index % cfg.pin_cpus.len()];
        if pin_to_cpu(cpu).is_err() {
            st.errors += 1;
        }
    }
    let fd = sock.as_raw_fd();
    let mut buf = vec![0u8; 65_536];
    let mut control = ControlBuf::default();
    let mut err_control = ControlBuf::default();
    let mut pending: VecDeque<Pending> = VecDeque::new();
    let mut next_tx_id: u32 = 0;
    let mut local_index: u64 = 0;
    loop {
        if shared.stop.load(Ordering::Relaxed) {
            break;
        }
        if cfg.duration.is_some_and(|d| started.elapsed() >= d) {
            shared.stop.store(true, Ordering::SeqCst);
            break;
        }
        let received = if cfg.timestamps {
            timestamps::recv_with_timestamp(fd, &mut buf, &mut control)
        } else {
            sock.recv_from(&mut buf)
                .map(|(n, from)| (n, Some(from), None))
        };
        let (n, from, rx_ns) = match received {
            Ok(r) => r,
            Err(e) if is_timeout(&e) => continue,
            Err(_) => {
                st.errors += 1;
                continue;
            }
        };
        let total = shared.received.fetch_add(1, Ordering::SeqCst) + 1;
        st.datagrams += 1;
        st.bytes += n as u64;
        let this_index = local_index;
        local_index += 1;
        if cfg.count_backlog && queued_bytes(&sock) > 0 {
            st.backlogged += 1;
        }
        let at_limit = cfg.max_datagrams.is_some_and(|m| total >= m);
        if at_limit {
            shared.stop.store(true, Ordering::SeqCst);
        }
        if cfg.drop_every.is_some_and(|k| total.is_multiple_of(k)) {
            st.dropped += 1;
            if at_limit {
                break;
            }
            continue;
        }
        let Some(peer) = from else {
            st.errors += 1;
            continue;
        };
        busy_wait(cfg.busy, &shared.stop);
        let seq = if cfg.timestamps {
            payload::seq_of(&buf[..n])
        } else {
            None
        };
        let mut reply_len = n;
        match cfg.mode {
            Mode::Echo => {}
            Mode::Reverse => buf[..n].reverse(),
            Mode::Forward => {
                let Some(up) = upstream.as_ref() else {
                    st.errors += 1;
                    continue;
                };
                let relayed = up.send(&buf[..n]).and_then(|_| up.recv(&mut buf));
                match relayed {
                    Ok(m) => reply_len = m,
                    Err(_) => {
                        st.errors += 1;
                        // The upstream may still answer this request, after its timeout: on
                        // the same socket that late reply would be read as the answer to the
                        // next request and sent to that request's client. A fresh socket (a
                        // new local port) makes the kernel drop it instead.
                        if let Some(fresh) = cfg.upstream.and_then(|a| connect_upstream(a).ok()) {
                            upstream = Some(fresh);
                        }
                        continue;
                    }
                }
            }
        }
        match sock.send_to(&buf[..reply_len], peer) {
            Ok(_) => {
                st.replies += 1;
                if let Some(rx_ns) = rx_ns.filter(|_| cfg.timestamps) {
                    pending.push_back(Pending {
                        id: next_tx_id,
                        index: this_index,
                        seq,
                        len: n as u32,
                        rx_ns,
                    });
                }
                if cfg.timestamps {
                    next_tx_id = next_tx_id.wrapping_add(1);
                }
            }
            Err(_) => st.errors += 1,
        }
        if cfg.timestamps {
            collect_tx(fd, &mut err_control, &mut pending, &mut st, index as u32);
        }
        if at_limit {
            break;
        }
    }
    if cfg.timestamps {
        collect_tx(fd, &mut err_control, &mut pending, &mut st, index as u32);
        st.ts_missing += pending.len() as u64;
    }
    st.socket_drops = socket_drops(&sock);
    st
}

fn collect_tx(
    fd: i32,
    control: &mut ControlBuf,
    pending: &mut VecDeque<Pending>,
    st: &mut WorkerStats,
    worker: u32,
) {
    let res = timestamps::drain_tx(fd, control, |id, tx_ns| {
        while let Some(p) = pending.front() {
            if p.id == id {
                if st.records.len() < MAX_RECORDS_PER_WORKER {
                    st.records.push(TimestampRecord {
                        worker,
                        index: p.index,
                        seq: p.seq,
                        len: p.len,
                        rx_ns: p.rx_ns,
                        tx_ns,
                    });
                }
                pending.pop_front();
                break;
            } else if id.wrapping_sub(p.id) < u32::MAX / 2 {
                // An older send whose stamp never came.
                st.ts_missing += 1;
                pending.pop_front();
            } else {
                // A stamp for a send we are not tracking.
                break;
            }
        }
    });
    if res.is_err() {
        st.errors += 1;
    }
}
