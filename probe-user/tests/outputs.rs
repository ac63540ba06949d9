//! How `kpath-probe` (root) creates its outputs, tried as a hostile or clumsy user would, on
//! real processes (root only; skipped with a reason otherwise): a planted link, an existing
//! file, two recorders on one path, a `sudo` environment, and a disk that fills up.

use std::net::UdpSocket;
use std::os::unix::fs::{symlink, MetadataExt};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

mod common;

use kpath_trace::{TraceReader, EVENT_SIZE};

fn probe() -> Command {
    Command::new(env!("CARGO_BIN_EXE_kpath-probe"))
}

use common::stderr;

/// `kpath-probe record --mechanism tracepoint` of one stage for `duration`, to `trace`.
fn record(trace: &Path, duration: &str, extra: &[&str]) -> Output {
    common::record_sendto()
        .args(["--duration", duration])
        .args(extra)
        .arg("-o")
        .arg(trace)
        .output()
        .expect("run kpath-probe")
}

/// `kpath-probe calibrate` of the tracepoint pair, briefly, to `out`, with `env` set.
fn calibrate(out: &Path, env: &[(&str, &str)]) -> Output {
    probe()
        .envs(env.iter().copied())
        .args([
            "calibrate",
            "--mechanism",
            "tracepoint",
            "--count",
            "100",
            "-o",
        ])
        .arg(out)
        .output()
        .expect("run kpath-probe calibrate")
}

#[test]
fn a_link_at_the_output_path_is_never_written_through() {
    if !common::can_run(module_path!()) {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let victim = dir.path().join("victim");
    std::fs::write(&victim, "precious").expect("write");
    let link = dir.path().join("link.trace");
    symlink(&victim, &link).expect("symlink");
    let o = record(&link, "200ms", &[]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("symbolic link"), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(&victim).expect("read"), "precious");

    // A dangling link does not create its target.
    let target = dir.path().join("created-by-root");
    let dangling = dir.path().join("dangling.trace");
    symlink(&target, &dangling).expect("symlink");
    let o = record(&dangling, "200ms", &[]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(!target.exists(), "the link's target was created");

    // --force replaces the link itself with a trace; the victim is untouched.
    let o = record(&link, "200ms", &["--force"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!std::fs::symlink_metadata(&link)
        .expect("stat")
        .file_type()
        .is_symlink());
    TraceReader::open(&link).expect("a trace replaced the link");
    assert_eq!(std::fs::read_to_string(&victim).expect("read"), "precious");
}

#[test]
fn an_existing_trace_is_kept_unless_forced() {
    if !common::can_run(module_path!()) {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let trace = dir.path().join("run.trace");
    std::fs::write(&trace, "earlier work").expect("write");
    let started = Instant::now();
    let o = record(&trace, "5s", &[]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--force"), "{}", stderr(&o));
    // Refused before attaching or recording anything, not after the 5 s.
    assert!(started.elapsed() < Duration::from_secs(4));
    assert_eq!(
        std::fs::read_to_string(&trace).expect("read"),
        "earlier work"
    );
    let o = record(&trace, "200ms", &["--force"]);
    assert!(o.status.success(), "{}", stderr(&o));
    TraceReader::open(&trace).expect("replaced by a trace");

    // The calibration output follows the same rule.
    let cal = dir.path().join("calibration.json");
    std::fs::write(&cal, "{}").expect("write");
    let o = calibrate(&cal, &[]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(&cal).expect("read"), "{}");
}

/// Two recorders started on one path: the second is refused, and the first's trace is whole.
#[test]
fn a_second_recorder_on_the_same_path_is_refused() {
    if !common::can_run(module_path!()) {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let trace = dir.path().join("shared.trace");
    let mut first = common::start_recording(&["--stage", "sys_sendto"], &trace);
    let second = record(&trace, "1s", &[]);
    assert_eq!(second.status.code(), Some(2), "{}", stderr(&second));
    assert!(
        stderr(&second).contains("already exists"),
        "{}",
        stderr(&second)
    );
    // SAFETY: signalling our own child.
    unsafe { libc::kill(first.id() as i32, libc::SIGINT) };
    assert!(first.wait().expect("wait").success());
    let reader = TraceReader::open(&trace).expect("the first trace reads");
    assert!(reader.is_finalised());
}

/// Under `sudo`, the trace and the calibration belong to the user who ran it.
#[test]
fn files_made_under_sudo_belong_to_the_invoking_user() {
    if !common::can_run(module_path!()) {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let trace = dir.path().join("sudo.trace");
    let cal = dir.path().join("sudo-calibration.json");
    let (uid, gid) = ("4242", "4343");
    let o = probe()
        .env("SUDO_UID", uid)
        .env("SUDO_GID", gid)
        .args([
            "record",
            "--mechanism",
            "tracepoint",
            "--stage",
            "sys_sendto",
        ])
        .args(["-q", "--duration", "200ms", "-o"])
        .arg(&trace)
        .output()
        .expect("run");
    assert!(o.status.success(), "{}", stderr(&o));
    let o = calibrate(&cal, &[("SUDO_UID", uid), ("SUDO_GID", gid)]);
    assert!(o.status.success(), "{}", stderr(&o));
    for path in [&trace, &cal] {
        let meta = std::fs::metadata(path).expect("stat");
        assert_eq!((meta.uid(), meta.gid()), (4242, 4343), "{}", path.display());
    }
}

/// A disk that fills up mid-recording: the recorder stops with an error naming the cause,
/// and the trace it leaves is read up to its last whole record, with the cut one reported.
#[test]
fn a_full_disk_leaves_a_trace_that_is_read_up_to_its_last_whole_record() {
    if !common::can_run(module_path!()) {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let mnt = dir.path().join("small");
    std::fs::create_dir(&mnt).expect("mkdir");
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=192k", "kpath-test"])
        .arg(&mnt)
        .status();
    if !mounted.is_ok_and(|s| s.success()) {
        eprintln!("SKIP {}: cannot mount a tmpfs here", module_path!());
        return;
    }
    struct Unmount<'a>(&'a Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(self.0).status();
        }
    }
    let _unmount = Unmount(&mnt);
    let trace = mnt.join("full.trace");
    let mut child = probe()
        .args([
            "record",
            "--mechanism",
            "tracepoint",
            "-q",
            "--duration",
            "60s",
        ])
        .arg("-o")
        .arg(&trace)
        .stderr(Stdio::piped())
        .spawn()
        .expect("start kpath-probe");
    // Traffic until the recorder gives up (bounded: 10 M datagrams or 60 s). Not a fixed
    // count: the recorder attaches in its own time (seconds on a loaded host), and traffic
    // sent before that fills nothing.
    let rx = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let tx = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let to = rx.local_addr().expect("addr");
    let mut buf = [0u8; 8];
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut status = None;
    for i in 0u32..10_000_000 {
        tx.send_to(&i.to_le_bytes(), to).expect("send");
        rx.recv_from(&mut buf).expect("recv");
        if i % 64 == 0 {
            status = child.try_wait().expect("poll");
            if status.is_some() || Instant::now() > deadline {
                break;
            }
        }
    }
    // Attaching and detaching take seconds here: poll for the exit (bounded).
    let wait_until = Instant::now() + Duration::from_secs(30);
    while status.is_none() && Instant::now() < wait_until {
        std::thread::sleep(Duration::from_millis(50));
        status = child.try_wait().expect("poll");
    }
    let status = match status {
        Some(s) => s,
        None => {
            let _ = child.kill();
            panic!("the recorder did not stop on a full disk");
        }
    };
    let err = child
        .wait_with_output()
        .map(|o| String::from_utf8_lossy(&o.stderr).into_owned())
        .unwrap_or_default();
    assert_eq!(status.code(), Some(2), "{err}");
    assert!(err.contains("No space left"), "{err}");

    let len = std::fs::metadata(&trace).expect("stat").len();
    let mut reader = TraceReader::open(&trace).expect("the header is readable");
    assert!(!reader.is_finalised());
    let mut events = 0u64;
    while let Some(_e) = reader.next_event().expect("every whole record reads") {
        events += 1;
    }
    // The file's records (exits only: the reader returns their rebuilt entries too).
    let records = reader.records_read();
    assert!(
        records > 100 && events >= records,
        "only {records} records salvaged ({events} with the entries rebuilt)"
    );
    let header =
        len - records * EVENT_SIZE as u64 - reader.cut_tail().map_or(0, |c| c.bytes as u64);
    assert!(
        header > 0 && header.is_multiple_of(8),
        "records end where they should"
    );
    // The cut record, if the disk filled inside one, is reported with its offset.
    if let Some(cut) = reader.cut_tail() {
        assert_eq!(cut.index, records);
        assert!(cut.bytes > 0 && cut.bytes < EVENT_SIZE);
        assert_eq!(cut.offset + cut.bytes as u64, len);
    }
}

/// `kpath-probe list | head` once `head` has gone: the command ends quietly (exit 0 as root;
/// never a panic, 101, whoever runs it). The pipe's reading end is closed before the command
/// starts, so every write fails.
#[test]
fn a_closed_pipe_ends_list_quietly() {
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    let status = probe()
        .args(["list", "--preset", "udp-echo", "--stages"])
        .stdout(writer.try_clone().expect("clone"))
        .stderr(writer)
        .status()
        .expect("run kpath-probe list");
    assert_ne!(status.code(), Some(101), "kpath-probe list panicked");
    if kpath_cli::is_root() {
        assert_eq!(status.code(), Some(0));
    }
}

/// `kpath-probe list > FILE` on a full disk (`/dev/full`): the lost output is an error, exit 2
/// with the reason, not a quiet success.
#[test]
fn a_full_disk_on_standard_output_fails_list() {
    if !kpath_cli::is_root() {
        eprintln!("skipped: `kpath-probe list` reads tracefs, which needs root");
        return;
    }
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full");
    let out = probe()
        .args(["list", "--mechanism", "tracepoint", "--stages"])
        .stdout(full)
        .output()
        .expect("run kpath-probe list");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("kpath-probe: cannot write standard output (No space left on device"),
        "{err}"
    );
}
