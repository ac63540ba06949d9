//! What every eBPF integration test checks first.

use kpath_probe::kernel;

/// Returns false (and says why) when this host cannot run the test.
pub fn can_run(test: &str) -> bool {
    if !kernel::is_root() {
        eprintln!("SKIP {test}: needs root to load BPF programs");
        return false;
    }
    if let Err(e) = kpath_probe::object::ebpf_object() {
        if std::env::var_os("KPATH_REQUIRE_EBPF").is_some() {
            panic!("{test}: {e}");
        }
        eprintln!("SKIP {test}: {e}");
        return false;
    }
    true
}

/// Held by every test that sends datagrams or calls `sendto` from this process: tests that
/// count through the pid filter (which cannot tell threads apart) would count the others'
/// calls too.
#[allow(dead_code)] // not every test file that includes this module counts by pid
pub static PID_COUNTED_SENDS: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A finished process's standard error, as text.
#[allow(dead_code)] // used by the files that run kpath-probe as a process
pub fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `kpath-probe record --mechanism tracepoint --stage sys_sendto -q`, for the caller to add
/// its options, output and command to.
#[allow(dead_code)] // used by the files that record through the binary
pub fn record_sendto() -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_kpath-probe"));
    cmd.args([
        "record",
        "--mechanism",
        "tracepoint",
        "--stage",
        "sys_sendto",
        "-q",
    ]);
    cmd
}

/// Starts `kpath-probe record --mechanism tracepoint` (plus `extra`) until a long command
/// ends, and returns once it records: its trace file appears only after every probe is
/// attached.
#[allow(dead_code)] // used by the files that record through the binary
pub fn start_recording(extra: &[&str], trace: &std::path::Path) -> std::process::Child {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_kpath-probe"))
        .args(["record", "--mechanism", "tracepoint", "-q"])
        .args(extra)
        .arg("-o")
        .arg(trace)
        .args(["--", "sleep", "60"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start kpath-probe");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !trace.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "kpath-probe did not start recording within 30 s"
        );
        assert!(
            child.try_wait().expect("poll").is_none(),
            "kpath-probe exited early"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child
}

/// Calls `sendto(-1)` `n` times: each call fires the `sys_sendto` tracepoint pair and fails
/// with EBADF before anything is sent.
#[allow(dead_code)] // not every test binary drives the syscall tracepoints
pub fn sendto_calls(n: u64) {
    let buf = [0u8; 1];
    for _ in 0..n {
        // SAFETY: sendto on fd -1 fails with EBADF before it reads the buffer.
        unsafe { libc::sendto(-1, buf.as_ptr().cast(), 1, 0, std::ptr::null(), 0) };
    }
}

/// Pins the calling thread to `cpu`.
#[allow(dead_code)] // not every test binary pins threads
pub fn pin_to(cpu: usize) {
    // SAFETY: a zeroed cpu_set_t is empty; CPU_SET stays inside it for cpu < 1024.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        assert_eq!(
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set),
            0,
            "pin to CPU {cpu}"
        );
    }
}

/// The calling thread's id.
#[allow(dead_code)] // used by the files that tell threads apart
pub fn tid() -> u32 {
    // SAFETY: no arguments.
    unsafe { libc::gettid() as u32 }
}

/// A current-thread tokio runtime, for tests that drive a `Recording` from the library.
#[allow(dead_code)] // used by the files that record through the library
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}
