//! Kernel timestamps for the proxy-side sojourn time: `SO_TIMESTAMPNS` on receive and
//! `SO_TIMESTAMPING` software transmit timestamps read back from the socket's error queue.
//!
//! Both are `CLOCK_REALTIME` nanoseconds taken by the kernel: the receive stamp when the
//! datagram entered the network stack (`netif_rx`/`netif_receive_skb`), the transmit stamp
//! when the driver took the reply (`skb_tx_timestamp` in `loopback_xmit`/`veth_xmit`). Their
//! difference is the time the datagram spent inside the proxy host.
//!
//! # File format (`kpath-stand echo --timestamps FILE`)
//!
//! CSV with one header line and one row per relayed datagram whose transmit stamp arrived:
//!
//! ```text
//! worker,index,seq,len,rx_ns,tx_ns,sojourn_ns
//! 0,0,0,64,1717171717000000000,1717171717000012345,12345
//! ```
//!
//! - `worker`: the server worker (socket) that relayed it; `index`: its receive index within
//!   that worker, from 0.
//! - `seq`: the generator's sequence number from the payload (see [`crate::payload`]), empty when
//!   the datagram is shorter than the header or not from `kpath-stand gen`.
//! - `len`: payload bytes. `rx_ns`, `tx_ns`: kernel timestamps, ns since the Unix epoch.
//! - `sojourn_ns` = `tx_ns − rx_ns`.

use std::{
    fs::File,
    io::{self, BufWriter, Write},
    mem,
    net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6},
    os::fd::RawFd,
    path::Path,
};

use serde::Serialize;

use crate::error::{Error, Result};

/// One datagram's stay in the proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TimestampRecord {
    /// The worker that relayed it.
    pub worker: u32,
    /// Receive index within the worker, from 0.
    pub index: u64,
    /// The generator's sequence number, when the payload carries one.
    pub seq: Option<u64>,
    /// Payload bytes.
    pub len: u32,
    /// Kernel receive timestamp, ns since the epoch (`CLOCK_REALTIME`).
    pub rx_ns: u64,
    /// Kernel software transmit timestamp of the reply, ns since the epoch.
    pub tx_ns: u64,
}

impl TimestampRecord {
    /// `tx_ns − rx_ns`, negative if the clock stepped.
    pub fn sojourn_ns(&self) -> i64 {
        self.tx_ns as i64 - self.rx_ns as i64
    }
}

fn setsockopt_int(fd: RawFd, level: i32, name: i32, value: i32) -> io::Result<()> {
    // SAFETY: passes a valid pointer to an int and its size.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            &value as *const i32 as *const libc::c_void,
            mem::size_of::<i32>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Turns on receive (`SO_TIMESTAMPNS`) and software transmit (`SO_TIMESTAMPING` with
/// `OPT_ID | OPT_TSONLY`) timestamps. Transmit stamps are numbered from 0 per socket.
pub fn enable(fd: RawFd) -> io::Result<()> {
    setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_TIMESTAMPNS, 1)?;
    let flags = libc::SOF_TIMESTAMPING_TX_SOFTWARE
        | libc::SOF_TIMESTAMPING_SOFTWARE
        | libc::SOF_TIMESTAMPING_OPT_ID
        | libc::SOF_TIMESTAMPING_OPT_TSONLY;
    setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_TIMESTAMPING, flags as i32)
}

fn ts_ns(ts: &libc::timespec) -> u64 {
    (ts.tv_sec as u64)
        .wrapping_mul(1_000_000_000)
        .wrapping_add(ts.tv_nsec as u64)
}

fn sockaddr_to_std(ss: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match ss.ss_family as i32 {
        libc::AF_INET => {
            // SAFETY: the family says this is a sockaddr_in, which fits in sockaddr_storage.
            let sin = unsafe { &*(ss as *const _ as *const libc::sockaddr_in) };
            Some(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)),
                u16::from_be(sin.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: as above, for sockaddr_in6.
            let sin6 = unsafe { &*(ss as *const _ as *const libc::sockaddr_in6) };
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(sin6.sin6_addr.s6_addr),
                u16::from_be(sin6.sin6_port),
                sin6.sin6_flowinfo,
                sin6.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

/// A control-message buffer aligned for `cmsghdr`.
#[repr(C, align(8))]
pub struct ControlBuf([u8; 256]);

impl Default for ControlBuf {
    fn default() -> Self {
        ControlBuf([0; 256])
    }
}

/// Receives one datagram with its kernel receive timestamp (ns since the epoch, if present).
pub fn recv_with_timestamp(
    fd: RawFd,
    buf: &mut [u8],
    control: &mut ControlBuf,
) -> io::Result<(usize, Option<SocketAddr>, Option<u64>)> {
    // SAFETY: zeroed sockaddr_storage and msghdr are valid; all pointers below point into
    // live buffers with the lengths given.
    unsafe {
        let mut from: libc::sockaddr_storage = mem::zeroed();
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr() as *mut libc::c_void,
            iov_len: buf.len(),
        };
        let mut msg: libc::msghdr = mem::zeroed();
        msg.msg_name = &mut from as *mut _ as *mut libc::c_void;
        msg.msg_namelen = mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.0.as_mut_ptr() as *mut libc::c_void;
        msg.msg_controllen = control.0.len() as _;
        let n = libc::recvmsg(fd, &mut msg, 0);
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut rx = None;
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_TIMESTAMPNS
            {
                let ts = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg) as *const libc::timespec);
                rx = Some(ts_ns(&ts));
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
        Ok((n as usize, sockaddr_to_std(&from), rx))
    }
}

/// Reads every transmit timestamp waiting on the error queue without blocking, calling
/// `on_stamp(id, tx_ns)` for each; `id` counts the socket's sends from 0.
pub fn drain_tx(
    fd: RawFd,
    control: &mut ControlBuf,
    mut on_stamp: impl FnMut(u32, u64),
) -> io::Result<usize> {
    let mut count = 0;
    loop {
        // SAFETY: as in `recv_with_timestamp`; no payload is read (OPT_TSONLY).
        unsafe {
            let mut data = [0u8; 64];
            let mut iov = libc::iovec {
                iov_base: data.as_mut_ptr() as *mut libc::c_void,
                iov_len: data.len(),
            };
            let mut msg: libc::msghdr = mem::zeroed();
            msg.msg_iov = &mut iov;
            msg.msg_iovlen = 1;
            msg.msg_control = control.0.as_mut_ptr() as *mut libc::c_void;
            msg.msg_controllen = control.0.len() as _;
            let n = libc::recvmsg(fd, &mut msg, libc::MSG_ERRQUEUE | libc::MSG_DONTWAIT);
            if n < 0 {
                let err = io::Error::last_os_error();
                return match err.kind() {
                    io::ErrorKind::WouldBlock => Ok(count),
                    io::ErrorKind::Interrupted => continue,
                    _ => Err(err),
                };
            }
            let mut tx = None;
            let mut id = None;
            let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
            while !cmsg.is_null() {
                let (level, kind) = ((*cmsg).cmsg_level, (*cmsg).cmsg_type);
                if level == libc::SOL_SOCKET && kind == libc::SCM_TIMESTAMPING {
                    let ts = std::ptr::read_unaligned(
                        libc::CMSG_DATA(cmsg) as *const [libc::timespec; 3]
                    );
                    tx = Some(ts_ns(&ts[0]));
                } else if (level == libc::SOL_IP && kind == libc::IP_RECVERR)
                    || (level == libc::SOL_IPV6 && kind == libc::IPV6_RECVERR)
                {
                    let ee = std::ptr::read_unaligned(
                        libc::CMSG_DATA(cmsg) as *const libc::sock_extended_err
                    );
                    if ee.ee_origin == libc::SO_EE_ORIGIN_TIMESTAMPING {
                        id = Some(ee.ee_data);
                    }
                }
                cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
            }
            if let (Some(id), Some(tx)) = (id, tx) {
                on_stamp(id, tx);
                count += 1;
            }
        }
    }
}

/// Writes records in the CSV format described in the module docs to `path`, created as `out`
/// says.
pub fn write_csv(path: &Path, records: &[TimestampRecord], out: &kpath_cli::Output) -> Result<()> {
    let file = out.create(path)?;
    let mut w = BufWriter::new(file);
    let write = |w: &mut BufWriter<File>| -> io::Result<()> {
        writeln!(w, "worker,index,seq,len,rx_ns,tx_ns,sojourn_ns")?;
        for r in records {
            let seq = r.seq.map(|s| s.to_string()).unwrap_or_default();
            writeln!(
                w,
                "{},{},{},{},{},{},{}",
                r.worker,
                r.index,
                seq,
                r.len,
                r.rx_ns,
                r.tx_ns,
                r.sojourn_ns()
            )?;
        }
        w.flush()
    };
    write(&mut w).map_err(|e| Error::file("write", path, e))
}

/// Reads a file written by [`write_csv`].
pub fn read_csv(path: &Path) -> Result<Vec<TimestampRecord>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::file("read", path, e))?;
    let bad = |line: &str| Error::Parse {
        what: format!("timestamps file {}", path.display()),
        detail: format!("bad line {line:?}"),
    };
    let mut out = Vec::new();
    for line in text.lines().skip(1).filter(|l| !l.is_empty()) {
        let f: Vec<&str> = line.split(',').collect();
        if f.len() != 7 {
            return Err(bad(line));
        }
        let num = |s: &str| s.parse::<u64>().map_err(|_| bad(line));
        out.push(TimestampRecord {
            worker: num(f[0])? as u32,
            index: num(f[1])?,
            seq: if f[2].is_empty() {
                None
            } else {
                Some(num(f[2])?)
            },
            len: num(f[3])? as u32,
            rx_ns: num(f[4])?,
            tx_ns: num(f[5])?,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_roundtrip() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("ts.csv");
        let recs = vec![
            TimestampRecord {
                worker: 0,
                index: 0,
                seq: Some(5),
                len: 64,
                rx_ns: 1_000,
                tx_ns: 1_500,
            },
            TimestampRecord {
                worker: 1,
                index: 3,
                seq: None,
                len: 1,
                rx_ns: 2_000,
                tx_ns: 2_100,
            },
        ];
        write_csv(&path, &recs, &kpath_cli::Output::new(false)).expect("write");
        assert_eq!(read_csv(&path).expect("read"), recs);
        assert_eq!(recs[0].sojourn_ns(), 500);
    }
}
