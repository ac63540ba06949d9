//! `kpath-stand`: the experiment kpath measures. A UDP echo/proxy server ([`echo`]), a load
//! generator with ping-pong, closed-loop and open-loop patterns ([`gen`]), two network
//! namespaces joined by a veth pair that stand in for two hosts ([`netns`]), and factorial
//! sweeps over clients and payload sizes ([`sweep`]).
#![deny(missing_docs)]

pub mod arrival;
pub mod echo;
pub mod error;
pub mod gen;
pub mod netns;
pub mod pace;
pub mod payload;
pub mod procstat;
pub mod signal;
pub mod stats;
pub mod sweep;
pub mod timestamps;
pub mod units;

pub use error::{Error, Result};
