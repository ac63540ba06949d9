//! `cargo xtask demo`: the main job on a built-in default, end to end.
//!
//! Two network namespaces joined by veth (the method's two hosts), `kpath-stand echo` as the
//! proxy with kernel receive/transmit timestamps, `kpath-probe record --preset udp-echo` on
//! the proxy side during a ping-pong session, `kpath analyze`, the validation of the queueing
//! projection with open-loop Poisson load at several ρ for each choice of service time (the
//! probes', the relay's at low load, and on the isolated stand the proxy CPU's busy time), and
//! `kpath html`. Everything lands in one directory; the stand is torn down on every exit path.
//!
//! The file is long because it is one script, step by step (stand, recording, analysis,
//! validation, report), and reads best top to bottom.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use kpath_analysis::validation::{
    self, ChoiceInput, MeasuredPoint, PointsFile, ServiceSpec, ServiceTime, SojournStats, Sojourns,
};
use kpath_analysis::{Results, Stage};
use serde_json::Value;

use crate::util::{is_root, run, show};
use crate::vm::release_binary;

/// The loads at which the projection is validated.
pub const RHOS: [f64; 6] = [0.1, 0.3, 0.5, 0.7, 0.8, 0.9];
/// The loads measured a second time (those a fit is judged at, `verdict::FIT_RHO`).
const REPEAT_RHO: f64 = 0.7;

const GEN_NS: &str = "kpath-gen";
const PROXY_NS: &str = "kpath-proxy";
const PROXY_IF: &str = "veth-proxy";
const PROXY_ADDR: &str = "198.18.0.2:9000";

/// What the demo runs; every field has a default.
#[derive(Debug, Clone, clap::Args)]
pub struct DemoOptions {
    /// Datagrams in the recorded ping-pong session.
    #[arg(long, default_value_t = 20_000)]
    pub count: u32,
    /// Payload bytes per datagram.
    #[arg(long, default_value_t = 64)]
    pub size: u32,
    /// Datagrams sent before the measured ones (not measured).
    #[arg(long, default_value_t = 1_000)]
    pub warmup: u32,
    /// Datagrams per validation point (open-loop Poisson).
    #[arg(long, default_value_t = 5_000)]
    pub validation_count: u32,
    /// Extra kernel functions to probe besides the udp-echo preset (repeatable).
    #[arg(long = "function", value_name = "NAME")]
    pub functions: Vec<String>,
    /// Output directory.
    #[arg(long, default_value = "kpath-report")]
    pub out: PathBuf,
    /// Run the session inside the VM kernel (kprobe/fentry trees; timings emulated).
    #[arg(long)]
    pub vm: bool,
}

/// Namespaces made by `kpath-stand netns up`, removed on drop (failure, Ctrl-C, success).
struct Stand {
    /// The generator's CPU and the proxy's, when the machine has two to give
    /// (`netns up --isolate`: the generator on CPU 0, the proxy on the last).
    split: Option<(usize, usize)>,
}

impl Stand {
    fn up() -> Result<Self> {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let split = (cpus >= 2).then(|| (0, cpus - 1));
        let mut up = Command::new(release_binary("kpath-stand"));
        up.args(["netns", "up"]);
        if split.is_some() {
            up.arg("--isolate");
        } else {
            eprintln!(
                "demo: one CPU: the generator's work shares the proxy's CPU (docs/model.md, \
                 \"Isolation\")"
            );
        }
        run(&mut up)?;
        Ok(Stand { split })
    }

    /// The proxy's CPU, if it has its own.
    fn proxy_cpu(&self) -> Option<usize> {
        self.split.map(|(_, p)| p)
    }

    /// `kpath-stand` run in the generator's namespace, on the generator's CPU if it has one.
    /// `kpath-stand gen` in the generator's namespace (on its CPU when split), aimed at the
    /// proxy; the caller adds the load's flags.
    fn gen_to_proxy(&self) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", GEN_NS]);
        if let Some((g, _)) = self.split {
            c.args(["taskset", "-c", &g.to_string()]);
        }
        c.arg(release_binary("kpath-stand")).args([
            "gen",
            "--force",
            "--target",
            PROXY_ADDR,
            "--allow-remote",
            "-q",
        ]);
        c
    }
}

impl Drop for Stand {
    fn drop(&mut self) {
        eprintln!("demo: tearing the stand down");
        let _ = Command::new(release_binary("kpath-stand"))
            .args(["netns", "down"])
            .status();
    }
}

/// `kpath-stand echo` in the proxy namespace, with kernel timestamps to `csv`.
struct Echo {
    child: Child,
    csv: PathBuf,
}

impl Echo {
    /// Starts the echo, pinned to `cpu` if given.
    fn start(
        csv: &Path,
        ready: &Path,
        interrupted: &AtomicBool,
        cpu: Option<usize>,
    ) -> Result<Self> {
        let _ = fs::remove_file(ready);
        // `ip netns exec` execs the command, so the child's pid is the server's (for --pid).
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", PROXY_NS])
            .arg(release_binary("kpath-stand"))
            .args(["echo", "--force", "--listen", PROXY_ADDR, "--ready-file"])
            .arg(ready)
            .arg("--timestamps")
            .arg(csv)
            .stdout(Stdio::null());
        if let Some(c) = cpu {
            cmd.args(["--pin-cpu", &c.to_string()]);
        }
        eprintln!("+ {}", show(&cmd));
        let child = cmd.spawn().context("failed to start kpath-stand echo")?;
        let mut echo = Echo {
            child,
            csv: csv.to_owned(),
        };
        // Wait for the server's own readiness signal (bounded), not for a fixed time.
        let deadline = Instant::now() + Duration::from_secs(20);
        while !ready.exists() || fs::metadata(ready).map(|m| m.len() == 0).unwrap_or(true) {
            if let Some(status) = echo.child.try_wait()? {
                bail!("kpath-stand echo exited before it was ready ({status})");
            }
            if Instant::now() > deadline || interrupted.load(Ordering::SeqCst) {
                bail!("kpath-stand echo did not become ready within 20 s");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(echo)
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGINT: the server writes its timestamps and summary, then exits.
    fn stop(mut self) -> Result<PathBuf> {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) };
        let status = self
            .child
            .wait()
            .context("failed to wait for kpath-stand echo")?;
        if !status.success() {
            bail!("kpath-stand echo exited with {status}");
        }
        Ok(self.csv.clone())
    }
}

impl Drop for Echo {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn in_ns(ns: &str, program: &Path) -> Command {
    let mut c = Command::new("ip");
    c.args(["netns", "exec", ns]).arg(program);
    c
}

fn kpath() -> Command {
    Command::new(release_binary("kpath"))
}

fn read_json(path: &Path) -> Result<Value> {
    let text =
        fs::read_to_string(path).with_context(|| format!("failed to read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("failed to parse {}", path.display()))
}

/// The relay's sojourn time at low load: the `sojourn_ns` column of `csv` after `skip` rows,
/// through the analysis's own reader and statistics (the validation uses the same).
fn sojourn_moments(csv: &Path, skip: u64) -> Result<SojournStats> {
    let stats = validation::sojourn_stats(
        &Sojourns::Csv {
            csv: csv.to_path_buf(),
            skip,
        },
        1.0,
    )
    .with_context(|| format!("failed to read the sojourns of {}", csv.display()))?;
    if stats.samples < 2 {
        bail!(
            "{} holds {} sojourn samples after skipping {skip}",
            csv.display(),
            stats.samples
        );
    }
    Ok(stats)
}

/// Runs the demo.
pub fn demo(opts: &DemoOptions) -> Result<()> {
    if opts.vm {
        return demo_vm(opts);
    }
    if !is_root() {
        bail!("the demo needs root (network namespaces and eBPF): run `sudo -E cargo xtask demo`");
    }
    let started = Instant::now();
    let interrupted = Arc::new(AtomicBool::new(false));
    {
        let flag = interrupted.clone();
        ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst))
            .context("failed to install the Ctrl-C handler")?;
    }
    let out = &opts.out;
    let _ = fs::remove_dir_all(out);
    fs::create_dir_all(out.join("validation"))
        .with_context(|| format!("failed to create {}", out.display()))?;
    let out = fs::canonicalize(out)?;
    let stand = Stand::up()?;
    let ready = out.join(".echo-ready");
    let check = |what: &str| -> Result<()> {
        if interrupted.load(Ordering::SeqCst) {
            bail!("interrupted during {what}");
        }
        Ok(())
    };

    // 0. The probes' own cost (method step 1), stored in the trace for analysis.
    let calibration = out.join("calibration.json");
    run(Command::new(release_binary("kpath-probe"))
        .args(["calibrate", "--force", "--count", "10000", "-o"])
        .arg(&calibration))
    .context("failed to calibrate the probes")?;

    // 1. The recorded session: ping-pong through the proxy, probes on the proxy side.
    eprintln!(
        "\n=== demo: recording a {}-datagram ping-pong session",
        opts.count
    );
    let echo = Echo::start(
        &out.join("timestamps-pingpong.csv"),
        &ready,
        &interrupted,
        stand.proxy_cpu(),
    )?;
    let trace = out.join("kpath.trace");
    let mut record = in_ns(PROXY_NS, &release_binary("kpath-probe"));
    record
        .args([
            "record",
            "--force",
            "--mechanism",
            "auto",
            "--preset",
            "udp-echo",
            "--interface",
            PROXY_IF,
            "-q",
        ])
        .args(["--pid", &echo.pid().to_string()])
        // Only the proxy's CPU: every context there is the proxy's work.
        .args(
            stand
                .proxy_cpu()
                .map(|c| ["--cpu".to_string(), c.to_string()])
                .into_iter()
                .flatten(),
        )
        .arg("--calibration")
        .arg(&calibration)
        .args(
            opts.functions
                .iter()
                .flat_map(|f| ["--function", f.as_str()]),
        )
        .arg("-o")
        .arg(&trace)
        .arg("--")
        .arg(stand.gen_to_proxy().get_program())
        .args(stand.gen_to_proxy().get_args())
        .args([
            "--count",
            &opts.count.to_string(),
            "--size",
            &opts.size.to_string(),
        ])
        .args(["--warmup", &opts.warmup.to_string(), "--json"])
        .arg(out.join("pingpong.json"));
    run(&mut record).context("failed to record the ping-pong session")?;
    let pingpong_csv = echo.stop()?;
    check("the recording")?;

    // 2. The probes' service time T = T_rx + T_tx, and the relay's at low load.
    //
    // On the isolated stand the method's default filter (drop interrupted samples) keeps
    // nearly every sample. With one CPU the peer's NET_RX softirq runs inside every send
    // system call (veth hands the datagram over when bottom halves are re-enabled), so the
    // interrupt time is subtracted instead (`--filter net`; docs/model.md, "Isolation").
    let filter = if stand.proxy_cpu().is_some() {
        "interrupted"
    } else {
        "net"
    };
    run(kpath()
        .args(["analyze", "--force"])
        .arg(&trace)
        .args(["--filter", filter, "-o"])
        .arg(out.join("results.json")))?;
    // Typed, and checked: a missing or zero service time is an error, not λ = ρ/0.
    let first = Results::load(&out.join("results.json"))?;
    let Some(service) = &first.service else {
        bail!(
            "the probes gave no service time ({}): nothing to validate",
            first
                .service_unknown
                .as_deref()
                .unwrap_or("no reason given")
        );
    };
    if stand.proxy_cpu().is_some() {
        check_one_invocation_per_datagram(&first, u64::from(opts.count + opts.warmup))?;
    }
    let t_probes = service.mean * first.unit_ns;
    if !(t_probes.is_finite() && t_probes > 0.0) {
        bail!("the probes gave no service time (T = {t_probes} ns): nothing to validate");
    }
    let relay = sojourn_moments(&pingpong_csv, u64::from(opts.warmup))?;
    let (t_relay, relay_n) = (relay.mean, relay.samples);
    eprintln!("demo: service time from the probes T = {t_probes:.0} ns; relay at low load {t_relay:.0} ns ({relay_n} datagrams)");
    // The proxy CPU's whole demand per datagram, from its busy time (utilisation law), with
    // the variance of its busy cycles: at ping-pong, one datagram per cycle.
    let busy = stand
        .proxy_cpu()
        .and_then(|cpu| first.demand.iter().find(|d| d.cpu as usize == cpu));
    let busy_service = match busy {
        Some(d) => {
            eprintln!(
                "demo: the proxy's CPU was busy {:.0} ns per datagram received ({} cycles, \
                 mean {:.0} ns); the probes' T is {:.0} % of it",
                d.busy_per_receive_ns,
                d.busy.cycles,
                d.busy.cycle_mean_ns.unwrap_or(f64::NAN),
                100.0 * d.probed_share.unwrap_or(f64::NAN)
            );
            Some(ServiceTime {
                mean: d.busy_per_receive_ns,
                variance: d.busy.cycle_variance_ns2.unwrap_or(0.0),
            })
        }
        None => {
            eprintln!(
                "demo: no busy time of a proxy CPU (the stand is not isolated, or the trace has \
                 none): the \"busy\" choice is left out"
            );
            None
        }
    };

    // 3. Validation: open-loop Poisson load at λ = ρ/T for each choice of T.
    let mut plan = vec![("probes", t_probes), ("relay", t_relay)];
    if let Some(s) = &busy_service {
        plan.push(("busy", s.mean));
    }
    let session = Session {
        stand: &stand,
        opts,
        out: &out,
        ready: &ready,
        interrupted: &interrupted,
    };
    let run_points = |name: &str, t_ns: f64| -> Result<Vec<MeasuredPoint>> {
        let mut points = Vec::new();
        for rho in RHOS {
            check("the validation")?;
            points.push(validation_point(&session, name, t_ns, rho, 1)?);
        }
        Ok(points)
    };
    let mut choices = Vec::new();
    // Each choice's T, for the second run of its points.
    let mut service_of = Vec::new();
    for (name, t_ns) in plan {
        service_of.push(t_ns);
        let points = run_points(name, t_ns)?;
        let (description, service) = match name {
            "relay" => (
                "the whole relay (kernel receive to kernel transmit, echo program included) measured at low load",
                Some(ServiceSpec::Sojourns {
                    sojourns: Sojourns::Csv {
                        csv: "timestamps-pingpong.csv".into(),
                        skip: u64::from(opts.warmup),
                    },
                }),
            ),
            "busy" => (
                "S = the proxy CPU's busy time per datagram at ping-pong (utilisation law), variance of its busy cycles (kpath's switch accounting)",
                busy_service.map(ServiceSpec::Moments),
            ),
            _ => ("T = T_rx + T_tx from the probes (the method's)", None),
        };
        choices.push(ChoiceInput {
            name: name.into(),
            description: Some(description.into()),
            service,
            setup: None,
            points,
        });
    }

    // busy+setup: the demand once wake-ups are amortised, S at the busy runs' highest reached
    // load, and what an arrival to an idle proxy pays beyond it as a setup time: at ρ → 0 the
    // sojourn is setup + S, so setup = W₀ − S (variance Var W₀ − D, each at least 0), with W₀
    // the busy runs' sojourn at their lowest load. Poisson arrivals that far apart find the
    // CPU deeper in its idle state than the ping-pong's do (docs/model.md).
    let busy_points = choices.iter().find(|c| c.name == "busy").map(|c| &c.points);
    let loaded = busy_points.and_then(|p| demand_at_load(p));
    let idle = match busy_points {
        Some(p) => low_load_sojourn(p, &out)?,
        None => None,
    };
    match (loaded, idle, busy_service) {
        (Some((rho, s_load)), Some((rho_low, w0)), Some(busy)) => {
            let setup = ServiceTime {
                mean: (w0.mean - s_load).max(0.0),
                variance: (w0.variance - busy.variance).max(0.0),
            };
            eprintln!(
                "demo: the proxy's demand at load (busy runs, ρ = {rho:.1}) S = {s_load:.0} ns; \
                 sojourn at ρ = {rho_low:.1} W₀ = {:.0} ns; setup W₀ − S = {:.0} ns, sd {:.0} ns",
                w0.mean,
                setup.mean,
                setup.variance.sqrt()
            );
            let points = run_points("busy+setup", s_load)?;
            service_of.push(s_load);
            choices.push(ChoiceInput {
                name: "busy+setup".into(),
                description: Some(
                    "S = the proxy CPU's busy time per datagram at the highest reached load of \
                     the busy runs (wake-ups amortised), and their lowest-load sojourn beyond it \
                     as a setup time (W₀ − S): M/G/1 with setup"
                        .into(),
                ),
                service: Some(ServiceSpec::Moments(ServiceTime {
                    mean: s_load,
                    variance: busy.variance,
                })),
                setup: Some(setup),
                points,
            });
        }
        (_, _, Some(_)) => eprintln!(
            "demo: no busy time or no sojourns measured at a reached point of the busy runs: \
             the \"busy+setup\" choice is left out"
        ),
        _ => {}
    }
    // Each choice's points up to ρ = 0.7 again, choices in reverse order so that the two runs
    // of a point lie apart in time: how well the measurement repeats bounds how closely any
    // model can be judged (`validation::verdict::repeatability`).
    for (c, &t_ns) in choices.iter_mut().zip(&service_of).rev() {
        for rho in RHOS.into_iter().filter(|&r| r <= REPEAT_RHO) {
            check("the validation")?;
            c.points
                .push(validation_point(&session, &c.name, t_ns, rho, 2)?);
        }
    }
    let points_file = out.join("points.json");
    let points = PointsFile {
        unit_ns: 1.0,
        rate_tolerance: Some(0.10),
        choices,
    };
    fs::write(&points_file, serde_json::to_string_pretty(&points)?)?;

    // 4. Results with validation, plots, the report.
    run(kpath()
        .args(["analyze", "--force"])
        .arg(&trace)
        .args(["--filter", filter, "-o"])
        .arg(out.join("results.json"))
        .arg("--validation")
        .arg(&points_file))?;
    run(kpath()
        .args(["html", "--force"])
        .arg(out.join("results.json"))
        .arg("-o")
        .arg(&out))?;
    drop(stand);
    check_report(&out)?;
    summarise(&out, started.elapsed())
}

/// On the isolated stand the proxy's CPU does the proxy's work only: one receive invocation
/// (its NET_RX softirq) and one send invocation (its `sendto`) per datagram relayed, where
/// without the isolation there are two receives per datagram. Slack of 1 % + 3 either way:
/// the ARP exchange and unrelated host traffic add receives, and a softirq that starts
/// while one of kpath's programs runs on that CPU is not seen (the kernel's BPF recursion
/// guard; 2 of 2 200 in one run here).
fn check_one_invocation_per_datagram(r: &Results, datagrams: u64) -> Result<()> {
    let invocations = |stage| r.stage(stage).map_or(0, |s| s.invocations);
    let (rx, tx) = (invocations(Stage::Rx), invocations(Stage::Tx));
    eprintln!(
        "demo: the proxy's CPU: {rx} receive and {tx} send invocations for {datagrams} datagrams"
    );
    let near = |x: u64| x.abs_diff(datagrams) <= datagrams / 100 + 3;
    if !(near(rx) && near(tx)) {
        bail!(
            "the proxy's CPU shows {rx} receive and {tx} send invocations for {datagrams} \
             datagrams, not one of each per datagram: the stand is not isolated \
             (docs/model.md, \"Isolation\")"
        );
    }
    Ok(())
}

/// What every measurement of the demo runs in.
struct Session<'a> {
    stand: &'a Stand,
    opts: &'a DemoOptions,
    out: &'a Path,
    ready: &'a Path,
    interrupted: &'a AtomicBool,
}

/// One load point of a choice: open-loop Poisson arrivals at λ = ρ/T; `run` 1 or 2 (the
/// repeat, its files tagged `-run2`).
fn validation_point(
    session: &Session<'_>,
    choice: &str,
    t_ns: f64,
    rho: f64,
    run: u32,
) -> Result<MeasuredPoint> {
    let Session {
        stand,
        opts,
        out,
        ready,
        interrupted,
    } = *session;
    let rate = rho / (t_ns * 1e-9);
    let tag = match run {
        1 => format!("{choice}-rho{rho:.1}"),
        n => format!("{choice}-rho{rho:.1}-run{n}"),
    };
    let csv = out.join("validation").join(format!("{tag}.csv"));
    let gen_json = out.join("validation").join(format!("{tag}.json"));
    eprintln!("demo: validation {choice} ρ={rho:.1} (run {run}): λ = {rate:.0}/s");
    let echo = Echo::start(&csv, ready, interrupted, stand.proxy_cpu())?;
    let mut gen = stand.gen_to_proxy();
    gen.args(["--pattern", "open", "--arrivals", "poisson"])
        .args([
            "--rate",
            &format!("{rate:.3}"),
            "--count",
            &opts.validation_count.to_string(),
        ])
        .args([
            "--size",
            &opts.size.to_string(),
            "--duration",
            "30s",
            "--json",
        ])
        .arg(&gen_json)
        .stdout(Stdio::null());
    // On the isolated stand, the proxy CPU's busy time during the point, from kpath's switch
    // accounting: a recorder whose only probe pair (`sendto`) is filtered out for every task
    // (pid 1 sends nothing here), so that it costs the proxy the filtered programs' runs and
    // the interrupt and switch accounting, and writes no records.
    let busy_trace = out.join("validation").join(format!("{tag}.trace"));
    // `--cpu` of the proxy's CPU keeps the recorder's own drain work off it.
    let status = match stand.proxy_cpu() {
        Some(cpu) => in_ns(PROXY_NS, &release_binary("kpath-probe"))
            .args([
                "record",
                "--force",
                "--mechanism",
                "tracepoint",
                "--stage",
                "sys_sendto",
                "--pid",
                "1",
                "--cpu",
                &cpu.to_string(),
                "-q",
                "-o",
            ])
            .arg(&busy_trace)
            .arg("--")
            .arg(gen.get_program())
            .args(gen.get_args())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .context("failed to run the generator under kpath-probe")?,
        None => gen.status().context("failed to run the generator")?,
    };
    let csv = echo.stop()?;
    let rel = |p: &Path| p.strip_prefix(out).unwrap_or(p).display().to_string();
    let mut point = MeasuredPoint {
        rho,
        lambda_target_per_s: Some(rate),
        lambda_achieved_per_s: None,
        sojourns: None,
        unreachable: None,
        busy_per_datagram: None,
    };
    if !status.success() {
        point.unreachable = Some(format!("the generator failed ({status}) at {rate:.0}/s"));
        return Ok(point);
    }
    let g = read_json(&gen_json)?;
    point.lambda_achieved_per_s = Some(
        g["send_rate_per_s"]
            .as_f64()
            .ok_or_else(|| anyhow!("{}: no send_rate_per_s", gen_json.display()))?,
    );
    if let Some(cpu) = stand.proxy_cpu() {
        let field = |name: &str| {
            g[name]
                .as_u64()
                .ok_or_else(|| anyhow!("{}: no {name}", gen_json.display()))
        };
        let sent = field("sent")? + field("warmup")?;
        point.busy_per_datagram = busy_per_datagram(&busy_trace, cpu, sent)?;
    }
    // The first tenth is the queue filling from empty: not the steady state.
    point.sojourns = Some(Sojourns::Csv {
        csv: rel(&csv).into(),
        skip: u64::from(opts.validation_count / 10),
    });
    Ok(point)
}

/// Whether the generator reached the point's rate within 10 % (the validation's default
/// tolerance), with nothing else wrong.
fn reached_rate(p: &MeasuredPoint) -> bool {
    match (p.lambda_target_per_s, p.lambda_achieved_per_s) {
        (Some(target), Some(achieved)) => p.unreachable.is_none() && achieved >= 0.9 * target,
        _ => false,
    }
}

/// The busy time per datagram at the highest load the generator reached within 10 % of its
/// target, with that load: the demand once wake-ups are amortised.
fn demand_at_load(points: &[MeasuredPoint]) -> Option<(f64, f64)> {
    points
        .iter()
        .filter(|p| reached_rate(p))
        .filter_map(|p| Some((p.rho, p.busy_per_datagram?)))
        .max_by(|a, b| a.0.total_cmp(&b.0))
}

/// The sojourns of the reached point of lowest load, with that load (CSV paths relative to
/// `out`, as the points file has them).
fn low_load_sojourn(points: &[MeasuredPoint], out: &Path) -> Result<Option<(f64, SojournStats)>> {
    let lowest = points
        .iter()
        .filter(|p| reached_rate(p))
        .min_by(|a, b| a.rho.total_cmp(&b.rho));
    match lowest.and_then(|p| Some((p.rho, p.sojourns.as_ref()?))) {
        Some((rho, Sojourns::Csv { csv, skip })) => {
            Ok(Some((rho, sojourn_moments(&out.join(csv), *skip)?)))
        }
        _ => Ok(None),
    }
}

/// The busy time of `cpu` in the trace at `path` per datagram of the `datagrams` sent, ns;
/// `None` (with a note) when the trace has none for it.
fn busy_per_datagram(path: &Path, cpu: usize, datagrams: u64) -> Result<Option<f64>> {
    let reader = kpath_trace::TraceReader::open(path)
        .with_context(|| format!("failed to read {}", path.display()))?;
    let busy = reader
        .metadata()
        .cpu_busy
        .iter()
        .flatten()
        .find(|b| b.cpu as usize == cpu);
    match busy {
        Some(b) if datagrams > 0 => Ok(Some(b.busy_ns as f64 / datagrams as f64)),
        _ => {
            eprintln!(
                "demo: {}: no busy time of CPU {cpu} for {datagrams} datagrams",
                path.display()
            );
            Ok(None)
        }
    }
}

fn summarise(out: &Path, took: Duration) -> Result<()> {
    let r = Results::load(&out.join("results.json"))?;
    let unit = &r.unit;
    println!("\nkpath demo finished in {:.0} s", took.as_secs_f64());
    println!(
        "  kernel {:?}  records {}  lost events {}",
        r.trace.kernel_release, r.trace.records, r.trace.lost_events
    );
    if let Some(f) = r.trace.notes.get("fallback") {
        println!("  mechanism: {f}");
    }
    match &r.service {
        Some(s) => println!(
            "  service time T = {:.1} {unit}, D = {:.1} {unit}², C² = {:.3}",
            s.mean, s.variance, s.cv2
        ),
        None => println!(
            "  {}",
            r.service_unknown.as_deref().unwrap_or("no service time")
        ),
    }
    println!("  report: {}", out.join("index.html").display());
    println!("  summary: {}", out.join("summary.md").display());
    Ok(())
}

/// `--vm`: the same session inside the VM kernel with function-level probes; the trace comes
/// back to the host for analysis. Timings there are emulated and marked as such.
fn demo_vm(opts: &DemoOptions) -> Result<()> {
    let started = Instant::now();
    let dir = crate::vm::vm_demo_session(opts.count.min(5_000) as usize)?;
    let out = &opts.out;
    let _ = fs::remove_dir_all(out);
    fs::create_dir_all(out)?;
    let trace = out.join("kpath.trace");
    fs::copy(dir.join("demo.trace"), &trace).context("failed to copy the VM trace")?;
    // `--filter net` for the same reason as on the host: the peer's softirq runs inside sends.
    run(kpath()
        .args(["analyze", "--force"])
        .arg(&trace)
        .args(["--filter", "net"])
        .arg("-o")
        .arg(out.join("results.json")))?;
    run(kpath()
        .args(["html", "--force"])
        .arg(out.join("results.json"))
        .arg("-o")
        .arg(out))?;
    for stage in ["rx", "tx"] {
        let text = crate::util::output(kpath().arg("tree").arg(&trace).args(["--stage", stage]))?;
        fs::write(out.join(format!("tree-{stage}.txt")), text)?;
    }
    println!(
        "(VM run: call trees and depths are real; times are inflated by QEMU's software emulation)"
    );
    summarise(out, started.elapsed())
}

/// Sections `kpath html` promises, by element id.
const SECTIONS: [&str; 8] = [
    "metadata",
    "stages",
    "chains",
    "top-functions",
    "trees",
    "plots",
    "validation",
    "links",
];

/// Checks a demo report the way a reader would meet it: every section present with content,
/// every table with rows, every image a real PNG, every relative link resolving, and a
/// validation row (or a stated reason) for each ρ of each service-time choice.
pub fn check_report(dir: &Path) -> Result<()> {
    let index = dir.join("index.html");
    let html = fs::read_to_string(&index)
        .with_context(|| format!("failed to read {}", index.display()))?;
    for id in SECTIONS {
        let at = html
            .find(&format!("id=\"{id}\""))
            .ok_or_else(|| anyhow!("{}: section `{id}` is missing", index.display()))?;
        let body = &html[at..html.len().min(at + 2000)];
        if body
            .split('>')
            .skip(1)
            .all(|chunk| chunk.split('<').next().unwrap_or("").trim().is_empty())
        {
            bail!("{}: section `{id}` is empty", index.display());
        }
    }
    for table in html.split("<table").skip(1) {
        let table = table.split("</table>").next().unwrap_or("");
        if table.matches("<tr").count() < 2 {
            bail!(
                "{}: a table has no data rows: {}",
                index.display(),
                &table[..table.len().min(200)]
            );
        }
    }
    let mut images = 0;
    for (attr, is_img) in [("src=\"", true), ("href=\"", false)] {
        for piece in html.split(attr).skip(1) {
            let target = piece.split('"').next().unwrap_or("");
            if target.is_empty() || target.starts_with('#') || target.contains("://") {
                continue;
            }
            // Images are embedded, so that the page alone can be mailed.
            if target.starts_with("data:") {
                let (media, bytes) = kpath_analysis::html::decode_data_uri(target)
                    .ok_or_else(|| anyhow!("{}: a malformed data: URI", index.display()))?;
                let ok = match media {
                    "image/png" => bytes.starts_with(b"\x89PNG\r\n\x1a\n") && bytes.len() > 1000,
                    "image/svg+xml" => bytes.windows(4).any(|w| w == b"<svg"),
                    _ => false,
                };
                if !ok {
                    bail!("{}: an embedded {media} image is not one", index.display());
                }
                images += 1;
                continue;
            }
            let decoded = percent_decode(target);
            let path = dir.join(&decoded);
            let meta = fs::metadata(&path).with_context(|| {
                format!("{}: link `{target}` does not resolve", index.display())
            })?;
            if meta.len() == 0 {
                bail!("{}: `{target}` is empty", index.display());
            }
            if is_img {
                let bytes = fs::read(&path)?;
                if !bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
                    bail!("{}: `{target}` is not a PNG", index.display());
                }
                images += 1;
            }
        }
    }
    if images < 4 {
        bail!("{}: only {images} images", index.display());
    }
    let results = Results::load(&dir.join("results.json"))?;
    let choices = results
        .validation
        .map(|v| v.choices)
        .ok_or_else(|| anyhow!("results.json has no validation"))?;
    for want in ["probes", "relay"] {
        if !choices.iter().any(|c| c.name == want) {
            bail!("the validation has no \"{want}\" choice");
        }
    }
    for c in &choices {
        for rho in RHOS {
            let p = c
                .points
                .iter()
                .find(|p| (p.rho - rho).abs() < 1e-9)
                .ok_or_else(|| anyhow!("choice {} has no row for ρ = {rho}", c.name))?;
            let measured = p.measured.as_ref().is_some_and(|m| m.sojourn.samples > 0);
            let reason = p.reason.as_deref().is_some_and(|r| !r.is_empty());
            if !(measured || reason) {
                bail!(
                    "choice {} ρ = {rho}: neither a measurement nor a reason",
                    c.name
                );
            }
        }
    }
    let summary = fs::read_to_string(dir.join("summary.md"))?;
    if !summary.contains("## Validation") || summary.lines().count() < 20 {
        bail!("summary.md is missing its validation section or is too short");
    }
    eprintln!(
        "demo report {}: {} sections, {images} images, 2 × {} validation rows: ok",
        dir.display(),
        SECTIONS.len(),
        RHOS.len()
    );
    Ok(())
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
            if let Ok(v) = u8::from_str_radix(hex, 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
