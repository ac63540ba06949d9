//! Tracepoint stages: pairs of kernel tracepoints that bracket a piece of the network path,
//! recorded like function calls. They work on any kernel, including ones without kprobes.
//!
//! The kernel side knows a stage by its index ([`TpStage`] as `u32`); user space maps the index
//! to a function-table id through the `TP_FUNC_IDS` array map.

/// A tracepoint pair recorded as one pseudo-function.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TpStage {
    /// `net:netif_receive_skb_entry` → `net:netif_receive_skb_exit`.
    NetifReceiveSkb = 0,
    /// `net:netif_rx_entry` → `net:netif_rx_exit`.
    NetifRx = 1,
    /// `net:napi_gro_receive_entry` → `net:napi_gro_receive_exit`.
    NapiGroReceive = 2,
    /// `irq:softirq_entry` → `irq:softirq_exit` for the NET_RX softirq.
    NetRxSoftirq = 3,
    /// `syscalls:sys_enter_sendto` → `syscalls:sys_exit_sendto`.
    SysSendto = 4,
    /// `syscalls:sys_enter_sendmsg` → `syscalls:sys_exit_sendmsg`.
    SysSendmsg = 5,
    /// `net:net_dev_start_xmit` → `net:net_dev_xmit`.
    DevXmit = 6,
    /// `syscalls:sys_enter_recvfrom` → `syscalls:sys_exit_recvfrom`.
    SysRecvfrom = 7,
    /// `syscalls:sys_enter_recvmsg` → `syscalls:sys_exit_recvmsg`.
    SysRecvmsg = 8,
}

/// Number of [`TpStage`] values; the length of the `TP_FUNC_IDS` map.
pub const TP_STAGE_COUNT: u32 = 9;

/// Marks a `TP_FUNC_IDS` slot whose stage is not being recorded.
pub const TP_STAGE_OFF: u32 = u32::MAX;

impl TpStage {
    /// Every stage, in index order.
    pub const ALL: [TpStage; TP_STAGE_COUNT as usize] = [
        Self::NetifReceiveSkb,
        Self::NetifRx,
        Self::NapiGroReceive,
        Self::NetRxSoftirq,
        Self::SysSendto,
        Self::SysSendmsg,
        Self::DevXmit,
        Self::SysRecvfrom,
        Self::SysRecvmsg,
    ];

    /// Name of the pseudo-function in the trace's function table.
    pub const fn name(self) -> &'static str {
        match self {
            Self::NetifReceiveSkb => "tp:netif_receive_skb",
            Self::NetifRx => "tp:netif_rx",
            Self::NapiGroReceive => "tp:napi_gro_receive",
            Self::NetRxSoftirq => "tp:net_rx_softirq",
            Self::SysSendto => "tp:sys_sendto",
            Self::SysSendmsg => "tp:sys_sendmsg",
            Self::DevXmit => "tp:net_dev_xmit",
            Self::SysRecvfrom => "tp:sys_recvfrom",
            Self::SysRecvmsg => "tp:sys_recvmsg",
        }
    }

    /// The stage called `name`, as [`TpStage::name`] prints it, with or without `tp:`.
    pub fn from_name(name: &str) -> Option<Self> {
        let bare = name.strip_prefix("tp:").unwrap_or(name);
        Self::ALL
            .into_iter()
            .find(|s| s.name().strip_prefix("tp:") == Some(bare))
    }

    /// `(category, entry tracepoint, exit tracepoint)`.
    pub const fn tracepoints(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Self::NetifReceiveSkb => ("net", "netif_receive_skb_entry", "netif_receive_skb_exit"),
            Self::NetifRx => ("net", "netif_rx_entry", "netif_rx_exit"),
            Self::NapiGroReceive => ("net", "napi_gro_receive_entry", "napi_gro_receive_exit"),
            Self::NetRxSoftirq => ("irq", "softirq_entry", "softirq_exit"),
            Self::SysSendto => ("syscalls", "sys_enter_sendto", "sys_exit_sendto"),
            Self::SysSendmsg => ("syscalls", "sys_enter_sendmsg", "sys_exit_sendmsg"),
            Self::DevXmit => ("net", "net_dev_start_xmit", "net_dev_xmit"),
            Self::SysRecvfrom => ("syscalls", "sys_enter_recvfrom", "sys_exit_recvfrom"),
            Self::SysRecvmsg => ("syscalls", "sys_enter_recvmsg", "sys_exit_recvmsg"),
        }
    }
}
