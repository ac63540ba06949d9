//! Stages (receive, send) and how a root invocation is assigned to one.
//!
//! A **root invocation** is an outermost (depth 0) probed call of one context stream. Its
//! stage is decided by the name of its root function:
//!
//! 1. a name in the receive list → [`Stage::Rx`];
//! 2. a name in the send list → [`Stage::Tx`];
//! 3. otherwise [`Stage::Other`] (reported, but not part of `T = T_rx + T_tx`).
//!
//! The default lists ([`DEFAULT_RX_ROOTS`], [`DEFAULT_TX_ROOTS`]) cover the NET_RX softirq
//! and NAPI entry points, the generic receive entry points, the send system calls and the
//! socket send path, plus the `tp:` tracepoint stages of `probe_common::stage`. `kpath
//! --rx-root NAME` / `--tx-root NAME` (repeatable) replace the corresponding list.
//! The receive system calls (`tp:sys_recvfrom`, `__sys_recvfrom`, ...) are deliberately in
//! neither list: the method's receive stage ends at the socket.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A stage of the network path (methodology vocabulary).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    /// Receive: from the driver's poll function up to the socket.
    Rx,
    /// Send: from the socket send call down to the driver's transmit function.
    Tx,
    /// Root invocations matching neither list, and calls seen without their root.
    Other,
}

impl Stage {
    /// All stages, in report order.
    pub const ALL: [Stage; 3] = [Stage::Rx, Stage::Tx, Stage::Other];

    /// Short name: `rx`, `tx`, `other`.
    pub const fn name(self) -> &'static str {
        match self {
            Stage::Rx => "rx",
            Stage::Tx => "tx",
            Stage::Other => "other",
        }
    }

    /// Index into per-stage arrays (`[T; 3]`).
    pub const fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Root functions of the receive stage by default.
pub const DEFAULT_RX_ROOTS: &[&str] = &[
    "tp:net_rx_softirq",
    "net_rx_action",
    "__napi_poll",
    "napi_poll",
    "veth_poll",
    "rtl8139_poll",
    "cp_rx_poll",
    "e1000_clean",
    "virtnet_poll",
    "process_backlog",
    "tp:napi_gro_receive",
    "napi_gro_receive",
    "gro_receive_skb",
    "tp:netif_receive_skb",
    "netif_receive_skb",
    "__netif_receive_skb",
    "__netif_receive_skb_core",
    "__netif_receive_skb_one_core",
    "tp:netif_rx",
    "netif_rx",
    "ip_rcv",
    "ip_rcv_finish",
    "ip_local_deliver",
    "udp_rcv",
    "__udp4_lib_rcv",
];

/// Root functions of the send stage by default.
pub const DEFAULT_TX_ROOTS: &[&str] = &[
    "tp:sys_sendto",
    "tp:sys_sendmsg",
    "__x64_sys_sendto",
    "__arm64_sys_sendto",
    "__sys_sendto",
    "__x64_sys_sendmsg",
    "__sys_sendmsg",
    "___sys_sendmsg",
    "sock_sendmsg",
    "__sock_sendmsg",
    "inet_sendmsg",
    "udp_sendmsg",
    "udp_send_skb",
    "ip_send_skb",
    "ip_output",
    "ip_finish_output",
    "ip_finish_output2",
    "tp:net_dev_xmit",
    "dev_queue_xmit",
    "__dev_queue_xmit",
    "dev_hard_start_xmit",
    "veth_xmit",
    "rtl8139_start_xmit",
    "cp_start_xmit",
    "e1000_xmit_frame",
];

/// Decides the stage of a root function by name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageClassifier {
    /// Root function names of the receive stage.
    pub rx_roots: Vec<String>,
    /// Root function names of the send stage.
    pub tx_roots: Vec<String>,
}

impl Default for StageClassifier {
    fn default() -> Self {
        Self {
            rx_roots: DEFAULT_RX_ROOTS.iter().map(|s| s.to_string()).collect(),
            tx_roots: DEFAULT_TX_ROOTS.iter().map(|s| s.to_string()).collect(),
        }
    }
}

impl StageClassifier {
    /// The stage of a root invocation whose root function is `name`.
    pub fn classify(&self, name: &str) -> Stage {
        if self.rx_roots.iter().any(|r| r == name) {
            Stage::Rx
        } else if self.tx_roots.iter().any(|r| r == name) {
            Stage::Tx
        } else {
            Stage::Other
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_classify_both_stages_and_leave_recv_out() {
        let c = StageClassifier::default();
        assert_eq!(c.classify("net_rx_action"), Stage::Rx);
        assert_eq!(c.classify("tp:netif_receive_skb"), Stage::Rx);
        assert_eq!(c.classify("tp:sys_sendto"), Stage::Tx);
        assert_eq!(c.classify("udp_sendmsg"), Stage::Tx);
        assert_eq!(c.classify("tp:sys_recvfrom"), Stage::Other);
    }

    #[test]
    fn emulated_nic_drivers_are_roots() {
        // QEMU's rtl8139 is driven by 8139cp, its e1000 by e1000 (the VM stand's cards).
        let c = StageClassifier::default();
        for rx in ["cp_rx_poll", "e1000_clean", "rtl8139_poll"] {
            assert_eq!(c.classify(rx), Stage::Rx, "{rx}");
        }
        for tx in ["cp_start_xmit", "e1000_xmit_frame", "rtl8139_start_xmit"] {
            assert_eq!(c.classify(tx), Stage::Tx, "{tx}");
        }
        // Interrupt handlers stay out of both stages.
        assert_eq!(c.classify("cp_interrupt"), Stage::Other);
    }

    #[test]
    fn every_tracepoint_stage_is_known_or_deliberately_other() {
        let c = StageClassifier::default();
        for tp in probe_common::stage::TpStage::ALL {
            let s = c.classify(tp.name());
            let recv_syscall = tp.name().starts_with("tp:sys_recv");
            assert_eq!(s == Stage::Other, recv_syscall, "{}", tp.name());
        }
    }
}
