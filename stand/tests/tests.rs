//! Integration tests: the real `kpath-stand` binary on loopback, and in network namespaces
//! when run as root.

mod loopback;
mod netns;
mod sweep;
mod util;
