//! The guest's kernel: which series and flavour (`--kernel 6.12-rt`), and the modules of it
//! the initramfs carries (those the package builds as modules; built-in ones need nothing).

use std::fs;

use anyhow::{bail, Context, Result};

use crate::vm::{Flavour, Initramfs, Kernel};

/// A kernel choice: `6.1`, `6.12`, `6.12-rt` (any `<series>` or `<series>-rt`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelChoice {
    /// Package flavour: generic, or PREEMPT_RT.
    pub flavour: Flavour,
    /// Version series.
    pub series: String,
}

impl KernelChoice {
    /// Parses `6.12` or `6.12-rt`.
    pub fn parse(s: &str) -> Result<Self> {
        let (series, flavour) = match s.strip_suffix("-rt") {
            Some(series) => (series, Flavour::Rt),
            None => (s, Flavour::Generic),
        };
        let valid = !series.is_empty()
            && series
                .split('.')
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
        if !valid {
            bail!("--kernel {s:?}: want a series such as 6.1, 6.12 or 6.12-rt");
        }
        Ok(Self {
            flavour,
            series: series.to_owned(),
        })
    }

    /// `6.12` or `6.12-rt`.
    pub fn label(&self) -> String {
        match self.flavour {
            Flavour::Rt => format!("{}-rt", self.series),
            _ => self.series.clone(),
        }
    }
}

/// The result disk's stack (virtio_blk and what it needs), in load order; 6.1's generic
/// kernel has all of them as modules, 6.12's only `virtio_blk`.
pub(super) const DISK_MODULES: &[(&str, &str)] = &[
    ("virtio_ring", "CONFIG_VIRTIO"),
    ("virtio", "CONFIG_VIRTIO"),
    ("virtio_pci_legacy_dev", "CONFIG_VIRTIO_PCI_LIB_LEGACY"),
    ("virtio_pci_modern_dev", "CONFIG_VIRTIO_PCI_LIB"),
    ("virtio_pci", "CONFIG_VIRTIO_PCI"),
    ("virtio_blk", "CONFIG_VIRTIO_BLK"),
];

/// `CONFIG_X`'s value in the package's `boot/config-*` (`y`, `m`), `None` if unset.
fn config_value(kernel: &Kernel, symbol: &str) -> Result<Option<String>> {
    let path = kernel
        .vmlinuz
        .with_file_name(format!("config-{}", kernel.release));
    let text =
        fs::read_to_string(&path).with_context(|| format!("failed to read {}", path.display()))?;
    let prefix = format!("{symbol}=");
    Ok(text
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map(str::to_owned))
}

/// Adds each module that the kernel builds as a module; built-in ones are skipped.
pub(super) fn add_modules(
    fs: &mut Initramfs,
    kernel: &Kernel,
    modules: &[(&str, &str)],
) -> Result<()> {
    for (module, symbol) in modules {
        match config_value(kernel, symbol)?.as_deref() {
            Some("m") => fs.add_module(kernel, module)?,
            Some("y") => eprintln!("vm-stand: {module} is built into {}", kernel.release),
            _ => bail!("{} lacks {symbol} (needed for {module})", kernel.release),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_choices_parse() {
        let k = KernelChoice::parse("6.12-rt").expect("6.12-rt parses");
        assert_eq!((k.flavour, k.series.as_str()), (Flavour::Rt, "6.12"));
        assert_eq!(k.label(), "6.12-rt");
        let k = KernelChoice::parse("6.1").expect("6.1 parses");
        assert_eq!((k.flavour, k.label().as_str()), (Flavour::Generic, "6.1"));
        assert!(KernelChoice::parse("rt").is_err());
        assert!(KernelChoice::parse("6..1").is_err());
    }
}
