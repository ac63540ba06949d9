//! The emulated cards: their models and drivers, and the QEMU socket "cable" on 127.0.0.1
//! that joins the proxy's card to the generator's.

use std::net::TcpListener;

use anyhow::{Context, Result};

/// The emulated card model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Nic {
    /// QEMU's RTL8139C+: driven by `8139cp` (`8139too` declines it).
    Rtl8139,
    /// Intel 82540EM: driven by `e1000`.
    E1000,
}

impl Nic {
    /// Lower-case name, as on the command line.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Rtl8139 => "rtl8139",
            Self::E1000 => "e1000",
        }
    }

    /// QEMU `-device` model.
    const fn qemu_device(self) -> &'static str {
        match self {
            Self::Rtl8139 => "rtl8139",
            Self::E1000 => "e1000",
        }
    }

    /// The driver as sysfs names it.
    pub const fn driver(self) -> &'static str {
        match self {
            Self::Rtl8139 => "8139cp",
            Self::E1000 => "e1000",
        }
    }

    /// The driver's NAPI poll function (the method's receive root).
    pub const fn poll(self) -> &'static str {
        match self {
            Self::Rtl8139 => "cp_rx_poll",
            Self::E1000 => "e1000_clean",
        }
    }

    /// The driver's transmit function.
    pub const fn xmit(self) -> &'static str {
        match self {
            Self::Rtl8139 => "cp_start_xmit",
            Self::E1000 => "e1000_xmit_frame",
        }
    }

    /// Driver modules with their config symbols, in load order.
    pub(super) const fn modules(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Self::Rtl8139 => &[("mii", "CONFIG_MII"), ("8139cp", "CONFIG_8139CP")],
            Self::E1000 => &[("e1000", "CONFIG_E1000")],
        }
    }
}

/// A free TCP port on 127.0.0.1 for the socket "cable" (closed again before QEMU binds it).
pub(super) fn free_port() -> Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0").context("failed to find a free loopback port")?;
    Ok(l.local_addr()
        .context("failed to read the bound loopback port")?
        .port())
}

/// The QEMU arguments of the two cards and the cable between them.
pub(super) fn nic_args(nic: Nic, port: u16) -> Vec<String> {
    let dev = nic.qemu_device();
    [
        "-netdev".to_owned(),
        format!("socket,id=n0,listen=127.0.0.1:{port}"),
        "-device".to_owned(),
        format!("{dev},netdev=n0,mac={PROXY_MAC}"),
        "-netdev".to_owned(),
        format!("socket,id=n1,connect=127.0.0.1:{port}"),
        "-device".to_owned(),
        format!("{dev},netdev=n1,mac={GEN_MAC}"),
    ]
    .into()
}

pub(super) const PROXY_MAC: &str = "52:54:00:4b:50:01";
pub(super) const GEN_MAC: &str = "52:54:00:4b:50:02";
