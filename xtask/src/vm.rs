//! The VM harness: a stock Debian kernel under QEMU (software emulation), an initramfs with
//! busybox, our binaries and the modules a scenario needs, and a scenario script whose result
//! is read off the console (`init: success` / `init: failure`), the way aya tests itself.
//!
//! The file is long because the kernel download, the initramfs and the boot are one
//! pipeline; the guest scripts are in `xtask/scenarios/`, a third of the file is tests.

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};

use crate::util::{output, run, workspace_root};

/// A kernel unpacked from a Debian package.
#[derive(Debug, Clone)]
pub struct Kernel {
    /// Debian package name.
    pub package: String,
    /// `uname -r` inside the guest.
    pub release: String,
    /// The bootable image.
    pub vmlinuz: PathBuf,
    /// `lib/modules/<release>` of the unpacked package.
    pub modules: PathBuf,
}

/// Which kernel package family to boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Flavour {
    /// `-cloud-amd64`: small, virtio drivers, boots fastest.
    Cloud,
    /// `-amd64`: the generic kernel, with real NIC drivers (8139cp, e1000) as modules.
    Generic,
    /// `-rt-amd64`: PREEMPT_RT.
    Rt,
}

impl Flavour {
    fn suffix(self) -> &'static str {
        match self {
            Self::Cloud => "-cloud-amd64-unsigned",
            Self::Generic => "-amd64-unsigned",
            Self::Rt => "-rt-amd64-unsigned",
        }
    }
}

fn cache_dir() -> PathBuf {
    workspace_root().join("target/vm")
}

/// Downloaded packages outlive `target/` (CI clones afresh): kept in ~/.cache/kpath/debs.
fn deb_cache() -> PathBuf {
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/root"));
    home.join(".cache/kpath/debs")
}

/// The newest kernel package of `flavour` whose version starts with `series` (e.g. "6.1",
/// "6.12"), or the newest of all when `series` is `None`.
pub fn find_kernel_package(flavour: Flavour, series: Option<&str>) -> Result<String> {
    let search = || -> Result<Vec<String>> {
        let text = output(Command::new("apt-cache").args([
            "search",
            "--names-only",
            "^linux-image-[0-9]",
        ]))?;
        Ok(text
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .filter(|name| {
                let Some(ver) = name
                    .strip_prefix("linux-image-")
                    .and_then(|v| v.strip_suffix(flavour.suffix()))
                else {
                    return false;
                };
                // "-amd64-unsigned" also ends "-cloud-amd64-unsigned": require a plain version.
                !ver.contains("cloud")
                    && !ver.contains("-rt")
                    && series.is_none_or(|s| ver.starts_with(&format!("{s}.")))
            })
            .map(str::to_owned)
            .collect())
    };
    let mut names = search()?;
    if names.is_empty() {
        run(Command::new("apt-get").args(["update", "-qq"]))?;
        names = search()?;
    }
    let mut best: Option<String> = None;
    for n in names {
        let newer = match &best {
            None => true,
            Some(b) => Command::new("dpkg")
                .args([
                    "--compare-versions",
                    &version_of(&n, flavour),
                    "gt",
                    &version_of(b, flavour),
                ])
                .status()
                .map(|s| s.success())
                .unwrap_or(false),
        };
        if newer {
            best = Some(n);
        }
    }
    best.ok_or_else(|| {
        anyhow!(
            "apt offers no linux-image-*{} package{}",
            flavour.suffix(),
            series
                .map(|s| format!(" of series {s}"))
                .unwrap_or_default()
        )
    })
}

fn version_of(package: &str, flavour: Flavour) -> String {
    package
        .trim_start_matches("linux-image-")
        .trim_end_matches(flavour.suffix())
        .to_owned()
}

/// Downloads (once) and unpacks (once) a kernel package under `target/vm/kernels/`.
pub fn fetch_kernel(flavour: Flavour, series: Option<&str>) -> Result<Kernel> {
    let package = find_kernel_package(flavour, series)?;
    let dir = cache_dir().join("kernels").join(&package);
    if !dir.join("boot").exists() {
        let debs = deb_cache();
        fs::create_dir_all(&debs)
            .with_context(|| format!("failed to create {}", debs.display()))?;
        let deb = find_deb(&debs, &package)?;
        let deb = match deb {
            Some(d) => {
                eprintln!("vm: using cached {}", d.display());
                d
            }
            None => {
                eprintln!("vm: downloading {package}");
                run(Command::new("apt-get").current_dir(&debs).args([
                    "-o",
                    "APT::Sandbox::User=root",
                    "download",
                    "-q",
                    &package,
                ]))?;
                find_deb(&debs, &package)?.ok_or_else(|| {
                    anyhow!(
                        "apt-get download left no {package}_*.deb in {}",
                        debs.display()
                    )
                })?
            }
        };
        let tmp = dir.with_extension("partial");
        let _ = fs::remove_dir_all(&tmp);
        fs::create_dir_all(&tmp)?;
        run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&tmp))?;
        fs::rename(&tmp, &dir)
            .with_context(|| format!("failed to move the unpacked kernel to {}", dir.display()))?;
    }
    let boot = dir.join("boot");
    let vmlinuz = fs::read_dir(&boot)
        .with_context(|| format!("failed to read {}", boot.display()))?
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("vmlinuz-"))
        })
        .ok_or_else(|| anyhow!("no vmlinuz-* in {}", boot.display()))?;
    let release = vmlinuz
        .file_name()
        .map(|n| {
            n.to_string_lossy()
                .trim_start_matches("vmlinuz-")
                .to_owned()
        })
        .unwrap_or_default();
    let modules = dir.join("lib/modules").join(&release);
    Ok(Kernel {
        package,
        release,
        vmlinuz,
        modules,
    })
}

fn find_deb(dir: &Path, package: &str) -> Result<Option<PathBuf>> {
    Ok(fs::read_dir(dir)?.flatten().map(|e| e.path()).find(|p| {
        p.file_name().is_some_and(|n| {
            let n = n.to_string_lossy();
            n.starts_with(&format!("{package}_")) && n.ends_with(".deb")
        })
    }))
}

/// A root filesystem being assembled for the guest.
pub struct Initramfs {
    root: PathBuf,
    modules: Vec<String>,
}

impl Initramfs {
    /// Starts an empty tree under `target/vm/initramfs/<name>`, with busybox and its applets.
    pub fn new(name: &str) -> Result<Self> {
        let root = cache_dir().join("initramfs").join(name);
        let _ = fs::remove_dir_all(&root);
        for d in [
            "bin", "sbin", "lib", "lib64", "proc", "sys", "dev", "tmp", "run", "out", "etc",
            "usr/lib",
        ] {
            fs::create_dir_all(root.join(d))?;
        }
        let busybox = Path::new("/bin/busybox");
        if !busybox.exists() {
            bail!("/bin/busybox is missing: run `cargo xtask setup` (package busybox-static)");
        }
        fs::copy(busybox, root.join("bin/busybox")).context("failed to copy busybox")?;
        let applets = output(Command::new(busybox).arg("--list"))?;
        for applet in applets
            .lines()
            .map(str::trim)
            .filter(|a| !a.is_empty() && *a != "busybox")
        {
            let link = root.join("bin").join(applet);
            if !link.exists() {
                std::os::unix::fs::symlink("busybox", &link)?;
            }
        }
        Ok(Self {
            root,
            modules: Vec::new(),
        })
    }

    /// Copies a dynamically linked binary to /bin with the libraries `ldd` lists.
    pub fn add_binary(&mut self, path: &Path) -> Result<()> {
        let name = path
            .file_name()
            .ok_or_else(|| anyhow!("{} has no file name", path.display()))?;
        fs::copy(path, self.root.join("bin").join(name))
            .with_context(|| format!("failed to copy {}", path.display()))?;
        let deps = output(Command::new("ldd").arg(path)).unwrap_or_default();
        for line in deps.lines() {
            // "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" or "/lib64/ld-linux-x86-64.so.2 (0x...)"
            let lib = line
                .split("=>")
                .last()
                .and_then(|r| r.split_whitespace().next())
                .filter(|p| p.starts_with('/'));
            if let Some(lib) = lib {
                let dest = self.root.join(lib.trim_start_matches('/'));
                if let Some(parent) = dest.parent() {
                    fs::create_dir_all(parent)?;
                }
                fs::copy(lib, &dest).with_context(|| format!("failed to copy library {lib}"))?;
            }
        }
        Ok(())
    }

    /// Adds a kernel module (decompressed) to be loaded by init, in the order added.
    pub fn add_module(&mut self, kernel: &Kernel, name: &str) -> Result<()> {
        let found = find_module(&kernel.modules, name)?
            .ok_or_else(|| anyhow!("kernel {} has no module {name}.ko", kernel.release))?;
        let dest = self.root.join("lib").join(format!("{name}.ko"));
        let file = found.to_string_lossy().into_owned();
        if file.ends_with(".ko.xz") {
            let bytes = Command::new("xz")
                .args(["-dc", &file])
                .output()
                .context("failed to run xz")?;
            fs::write(&dest, bytes.stdout)?;
        } else if file.ends_with(".ko.zst") {
            let bytes = Command::new("zstd")
                .args(["-dc", &file])
                .output()
                .context("failed to run zstd")?;
            fs::write(&dest, bytes.stdout)?;
        } else {
            fs::copy(&found, &dest)?;
        }
        self.modules.push(name.to_owned());
        Ok(())
    }

    /// Writes a file into the tree.
    pub fn add_file(&mut self, dest: &str, contents: &str, executable: bool) -> Result<()> {
        use std::os::unix::fs::PermissionsExt;
        let path = self.root.join(dest.trim_start_matches('/'));
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)?;
        }
        fs::write(&path, contents)?;
        if executable {
            fs::set_permissions(&path, fs::Permissions::from_mode(0o755))?;
        }
        Ok(())
    }

    /// Writes /init around `scenario` and packs the tree into a gzip'd newc cpio archive.
    pub fn pack(mut self, scenario: &str) -> Result<PathBuf> {
        let modules = self
            .modules
            .iter()
            .map(|m| format!("insmod /lib/{m}.ko || echo \"init: insmod {m} failed\"\n"))
            .collect::<String>();
        let init = INIT_TEMPLATE.replace("@MODULES@", &modules);
        self.add_file("init", &init, true)?;
        self.add_file("scenario.sh", &format!("{SCENARIO_LIB}\n{scenario}"), true)?;
        let out = self.root.with_extension("cpio.gz");
        let script = format!(
            "cd '{}' && find . -print0 | cpio --null -o -H newc --quiet | gzip -1 > '{}'",
            self.root.display(),
            out.display()
        );
        run(Command::new("sh").args(["-c", &script]))?;
        Ok(out)
    }
}

fn find_module(dir: &Path, name: &str) -> Result<Option<PathBuf>> {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Some(f) = p.file_name().map(|f| f.to_string_lossy().into_owned()) {
                if [".ko", ".ko.xz", ".ko.zst"]
                    .iter()
                    .any(|ext| f == format!("{name}{ext}"))
                {
                    return Ok(Some(p));
                }
            }
        }
    }
    Ok(None)
}

const INIT_TEMPLATE: &str = include_str!("../scenarios/init.sh");

/// Shell functions put in front of every scenario (`netns_holders`).
const SCENARIO_LIB: &str = include_str!("../scenarios/lib.sh");

/// Options of one boot.
pub struct Boot<'a> {
    /// Kernel to boot.
    pub kernel: &'a Kernel,
    /// Packed initramfs.
    pub initrd: &'a Path,
    /// Extra QEMU arguments (NICs, disks).
    pub extra_args: Vec<String>,
    /// Give up after this long.
    pub timeout: Duration,
    /// Guest memory, MiB.
    pub memory_mib: u32,
    /// A raw disk image the guest tars its `/out` onto (needs the `virtio_blk` module).
    pub out_disk: Option<PathBuf>,
}

/// Boots the guest, streams its console to stderr (prefixed `vm| `) and returns the console
/// text when the scenario reported success.
pub fn boot(opts: &Boot<'_>) -> Result<String> {
    let mut cmd = Command::new("qemu-system-x86_64");
    // One host thread for both vCPUs: with multi-threaded TCG, patching a tracepoint's
    // static branch while the other vCPU runs it was seen to oops the guest (int3 in
    // handle_softirqs), a QEMU cross-modifying-code race rather than a kernel or kpath bug.
    cmd.args([
        "-accel",
        "tcg,thread=single",
        "-cpu",
        "max",
        "-smp",
        "2",
        "-nographic",
        "-no-reboot",
    ])
    .args(["-m", &opts.memory_mib.to_string()])
    .arg("-kernel")
    .arg(&opts.kernel.vmlinuz)
    .arg("-initrd")
    .arg(opts.initrd)
    .args(["-append", "console=ttyS0 quiet panic=-1 init=/init"])
    .args(&opts.extra_args)
    .args(opts.out_disk.iter().flat_map(|d| {
        [
            "-drive".to_string(),
            format!("file={},format=raw,if=virtio", d.display()),
        ]
    }))
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::inherit());
    eprintln!("+ {}", crate::util::show(&cmd));
    let mut child = cmd
        .spawn()
        .context("failed to start qemu-system-x86_64 (run `cargo xtask setup`)")?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| anyhow!("no QEMU stdout"))?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let start = Instant::now();
    let mut console = String::new();
    let mut verdict: Option<Result<()>> = None;
    while verdict.is_none() {
        let left = opts.timeout.saturating_sub(start.elapsed());
        match rx.recv_timeout(left) {
            Ok(line) => {
                let line = line.trim_end_matches('\r').to_owned();
                eprintln!("vm| {line}");
                if line.starts_with("init: success") {
                    verdict = Some(Ok(()));
                } else if line.starts_with("init: failure") {
                    verdict = Some(Err(anyhow!("the VM scenario failed: {line}")));
                } else if line.contains("Kernel panic") {
                    verdict = Some(Err(anyhow!("the guest kernel panicked: {line}")));
                }
                console.push_str(&line);
                console.push('\n');
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                verdict = Some(Err(anyhow!(
                    "the VM scenario did not finish within {:?}",
                    opts.timeout
                )));
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                verdict = Some(Err(anyhow!(
                    "QEMU exited before the scenario reported a result"
                )));
            }
        }
    }
    // Let the guest power off by itself briefly, then make sure QEMU is gone.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() < deadline => {
                // Drain console lines while waiting (bounded by the deadline).
                if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
                    eprintln!("vm| {line}");
                }
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                break;
            }
        }
    }
    eprintln!("vm: {:.1} s", start.elapsed().as_secs_f64());
    verdict.unwrap_or_else(|| Err(anyhow!("no verdict")))?;
    Ok(console)
}

/// A sparse raw disk image for the guest's results.
pub fn out_disk(name: &str, size_mib: u64) -> Result<PathBuf> {
    let path = cache_dir().join(format!("{name}-out.img"));
    let f =
        fs::File::create(&path).with_context(|| format!("failed to create {}", path.display()))?;
    f.set_len(size_mib << 20)?;
    Ok(path)
}

/// Unpacks what the guest wrote to its disk into `dest` and checks every file against the
/// sha256 sums it printed on the console, so a trace arrives byte-exact or not at all.
pub fn collect_out(disk: &Path, console: &str, dest: &Path) -> Result<Vec<PathBuf>> {
    fs::create_dir_all(dest)?;
    run(Command::new("tar").arg("-xf").arg(disk).arg("-C").arg(dest))?;
    let mut files = Vec::new();
    for line in console
        .lines()
        .filter_map(|l| l.strip_prefix("init: sha256 "))
    {
        let mut parts = line.split_whitespace();
        let (Some(sum), Some(name)) = (parts.next(), parts.next()) else {
            continue;
        };
        let path = dest.join(name);
        let got = output(Command::new("sha256sum").arg(&path))?;
        if got.split_whitespace().next() != Some(sum) {
            bail!(
                "{} arrived corrupted: sha256 {} in the guest, {} here",
                name,
                sum,
                got.split_whitespace().next().unwrap_or("?")
            );
        }
        files.push(path);
    }
    if files.is_empty() {
        bail!("the guest reported no files in /out");
    }
    Ok(files)
}

/// The binaries built by `cargo xtask build`.
pub fn release_binary(name: &str) -> PathBuf {
    workspace_root().join("target/release").join(name)
}

/// `cargo xtask vm-test`: the VM scenarios that need kprobes and fentry, in one boot.
pub fn vm_test(flavour: Flavour, series: Option<&str>) -> Result<()> {
    let kernel = fetch_kernel(flavour, series)?;
    eprintln!("vm: kernel {} ({})", kernel.release, kernel.package);
    let tail = format!(
        "{SCENARIO_CHECK}{}",
        SCENARIO_UDP_ECHO.replace("@COUNT@", &UDP_ECHO_COUNT.to_string())
    );
    let dest = run_veth_scenario(&kernel, "vm-test", &tail, Duration::from_secs(900))?;
    check_mechanisms(&dest.join("check.json"), CHECK_COUNT)
        .with_context(|| format!("`kpath-probe check` on {}", kernel.release))?;
    eprintln!(
        "vm-test: kprobe, kretprobe, fentry, fexit and the tracepoints each fired {CHECK_COUNT} \
         times on {}",
        kernel.release
    );
    check_udp_echo(&dest, &kernel)?;
    Ok(())
}

/// Datagrams of the guest's `kpath-probe check`.
const CHECK_COUNT: u64 = 1000;

/// Reads the guest's `check --json` report and requires every mechanism to have fired
/// exactly `count` times, nothing lost.
fn check_mechanisms(path: &Path, count: u64) -> Result<()> {
    let text =
        fs::read_to_string(path).with_context(|| format!("failed to read {}", path.display()))?;
    let report: kpath_probe::check::CheckReport = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a `check --json` report", path.display()))?;
    for entry in ["kprobe", "fentry", "tracepoint-enter"] {
        let m = report
            .mechanism(entry)
            .ok_or_else(|| anyhow!("{}: no `{entry}` row", path.display()))?;
        if !m.works || m.entries != count || m.timed_exits != count {
            bail!(
                "`{}` did not fire {count} times: {} entries, {} timed exits, {} lost{}",
                m.pair(),
                m.entries,
                m.timed_exits,
                m.lost,
                m.error
                    .as_deref()
                    .map_or(String::new(), |e| format!(", {e}"))
            );
        }
    }
    Ok(())
}

/// Datagrams echoed per mechanism in the udp-echo scenario.
const UDP_ECHO_COUNT: usize = 200;

/// Checks the udp-echo scenario's traces (a UDP echo between two namespaces joined by veth,
/// recorded with the `udp-echo` preset with kprobes, with fentry and in stats mode) and its
/// discovery, in `dest`.
fn check_udp_echo(dest: &Path, kernel: &Kernel) -> Result<()> {
    for mech in ["kprobe", "fentry"] {
        let trace = dest.join(format!("udp-echo-{mech}.trace"));
        let s = crate::treecheck::check_udp_echo(&trace, UDP_ECHO_COUNT).with_context(|| {
            format!(
                "the {mech} trace of the udp-echo scenario on {}",
                kernel.release
            )
        })?;
        if !s.mechanisms.contains(mech) {
            bail!("the {mech} run recorded with {:?}", s.mechanisms);
        }
    }
    crate::treecheck::check_stats_mode(&dest.join("udp-echo-stats.trace"), UDP_ECHO_COUNT)?;
    let discovered = crate::treecheck::check_discovery(&dest.join("discover.json"), 50)?;
    eprintln!("vm-test: discovery found {discovered} network functions called during the session");
    eprintln!(
        "vm-test: udp-echo traces (kprobe and fentry) have the expected trees; in {}",
        dest.display()
    );
    Ok(())
}

/// Two network namespaces joined by veth in the guest, `kpath-stand echo` ready in the
/// proxy one. Leaves `$G`/`$P` (run in gen/proxy), `$ECHO`, `$GEN`, `$PROXY` set.
const SCENARIO_NETNS_SETUP: &str = include_str!("../scenarios/netns-setup.sh");

/// The udp-echo session (after [`SCENARIO_NETNS_SETUP`]): recorded with kprobes, with fentry
/// and in stats mode, then discovery; everything lands in `/out`.
const SCENARIO_UDP_ECHO: &str = include_str!("../scenarios/udp-echo.sh");

/// The demo's session inside the VM: one recording with the mechanism chosen as on a real
/// host (`auto`), timings marked as emulated.
const SCENARIO_DEMO: &str = include_str!("../scenarios/demo.sh");

/// Runs the demo's session in the VM (cloud kernel) and returns the directory with `demo.trace`.
pub fn vm_demo_session(count: usize) -> Result<PathBuf> {
    let kernel = fetch_kernel(Flavour::Cloud, None)?;
    let tail = SCENARIO_DEMO.replace("@COUNT@", &count.to_string());
    run_veth_scenario(&kernel, "demo", &tail, Duration::from_secs(900))
}

/// Boots `kernel` with the two-namespace veth setup followed by `scenario_tail`, with
/// kpath-probe and kpath-stand on board, and brings the guest's `/out` back, checked, into
/// `target/vm/results/<name>`.
fn run_veth_scenario(
    kernel: &Kernel,
    name: &str,
    scenario_tail: &str,
    timeout: Duration,
) -> Result<PathBuf> {
    let mut fs = Initramfs::new(name)?;
    fs.add_binary(&release_binary("kpath-probe"))?;
    fs.add_binary(&release_binary("kpath-stand"))?;
    fs.add_module(kernel, "veth")?;
    fs.add_module(kernel, "virtio_blk")?;
    let initrd = fs.pack(&format!("{SCENARIO_NETNS_SETUP}{scenario_tail}"))?;
    let disk = out_disk(name, 512)?;
    let console = boot(&Boot {
        kernel,
        initrd: &initrd,
        extra_args: Vec::new(),
        timeout,
        memory_mib: 1024,
        out_disk: Some(disk.clone()),
    })?;
    let dest = cache_dir().join("results").join(name);
    let _ = fs::remove_dir_all(&dest);
    collect_out(&disk, &console, &dest)?;
    Ok(dest)
}

/// First scenario: each mechanism on `udp_sendmsg`, 1000 datagrams on loopback, reported as
/// JSON on the out disk (the xtask reads it: no printed table is parsed); then the probes'
/// own cost per mechanism (method step 1; times emulated here).
const SCENARIO_CHECK: &str = include_str!("../scenarios/check.sh");

#[cfg(test)]
mod tests {
    use super::*;

    /// Every guest script is valid shell (`sh -n`), so that a typo fails here rather than
    /// after a kernel download and a boot.
    #[test]
    fn guest_scripts_parse() {
        for (name, script) in [
            ("init.sh", INIT_TEMPLATE),
            ("lib.sh", SCENARIO_LIB),
            ("netns-setup.sh", SCENARIO_NETNS_SETUP),
            ("udp-echo.sh", SCENARIO_UDP_ECHO),
            ("demo.sh", SCENARIO_DEMO),
            ("check.sh", SCENARIO_CHECK),
            ("stand.sh", crate::vmstand::SCENARIO),
        ] {
            let out = Command::new("sh")
                .args(["-n", "-c", script])
                .output()
                .expect("run sh");
            assert!(
                out.status.success(),
                "{name}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}
