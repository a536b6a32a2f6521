//! Run latency and throughput through the gateway, side by side with spawning the same
//! script directly, plus the cost of spawning with resource limits.
//!
//! `cargo bench --bench run` (prints figures; asserts nothing about time).

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use script_gateway::process::{self, ProcessSpec, ResourceLimits};

const SCRIPT: &str = r#"import json, sys
if "--_sys_get_schema" in sys.argv:
    print(json.dumps({"name": {"flag": "--name", "type": "str", "default": "x"}}))
    sys.exit(0)
print(json.dumps({"hello": sys.argv[2]}))
"#;
const SEQUENTIAL: usize = 100;
const CONCURRENT_TOTAL: usize = 200;
const CONCURRENCY: usize = 4;
/// Direct and gateway batches alternate, so a drift in the machine's speed hits both alike.
const ROUNDS: usize = 5;
const SPAWNS: usize = 300;

fn main() {
    let repo = tempfile::tempdir().expect("temp repo");
    let data = tempfile::tempdir().expect("temp data");
    std::fs::create_dir_all(repo.path().join("python")).unwrap();
    let script = repo.path().join("python/hello.py");
    std::fs::write(&script, SCRIPT).unwrap();
    let python = real_python();
    let direct = Direct::new(python, script);
    let gateway = Gateway::start(repo.path(), data.path());
    let url = format!("{}/api/scripts/1/run?name=bench", gateway.address);
    for _ in 0..5 {
        direct.run();
        gateway_run(&url);
    }

    println!("== trivial Python run, {SEQUENTIAL} sequential runs each, interleaved");
    let (mut direct_times, mut through) = (Vec::new(), Vec::new());
    let (mut direct_cpu, mut gateway_cpu) = (Cpu::default(), Cpu::default());
    for _ in 0..SEQUENTIAL {
        let before = Cpu::own_thread();
        direct_times.push(time(|| direct.run()));
        direct_cpu = direct_cpu.plus(Cpu::own_thread().minus(before));
        let before = gateway.cpu();
        through.push(time(|| gateway_run(&url)));
        gateway_cpu = gateway_cpu.plus(gateway.cpu().minus(before));
    }
    let (d50, d95) = (
        percentile(&mut direct_times, 50),
        percentile(&mut direct_times, 95),
    );
    let (g50, g95) = (percentile(&mut through, 50), percentile(&mut through, 95));
    println!(
        "direct spawn   p50 {:6.1} ms   p95 {:6.1} ms",
        ms(d50),
        ms(d95)
    );
    println!("via gateway    p50 {:6.1} ms   p95 {:6.1} ms   (HTTP round trip, validation, run folder, history rows)", ms(g50), ms(g95));
    println!(
        "ratio          p50 {:.3}x      p95 {:.3}x",
        ratio(g50, d50),
        ratio(g95, d95)
    );
    print_cpu(direct_cpu, gateway_cpu, SEQUENTIAL);

    println!(
        "== throughput, {CONCURRENT_TOTAL} runs at concurrency {CONCURRENCY}, in {ROUNDS} alternating rounds"
    );
    let direct = Arc::new(direct);
    let url = Arc::new(url);
    let (mut direct_time, mut gateway_time) = (Duration::ZERO, Duration::ZERO);
    let (mut direct_cpu, mut gateway_cpu) = (Cpu::default(), Cpu::default());
    let (mut direct_children, mut gateway_children) = (Cpu::default(), Cpu::default());
    for _ in 0..ROUNDS {
        let one = direct.clone();
        let children = Cpu::children();
        let (elapsed, cpu) = throughput(move || {
            let before = Cpu::own_thread();
            one.run();
            Cpu::own_thread().minus(before)
        });
        direct_children = direct_children.plus(Cpu::children().minus(children));
        direct_time += elapsed;
        direct_cpu = direct_cpu.plus(cpu);
        let one = url.clone();
        let (before, children) = (gateway.cpu(), gateway.children_cpu());
        let (elapsed, _) = throughput(move || {
            gateway_run(&one);
            Cpu::default()
        });
        gateway_cpu = gateway_cpu.plus(gateway.cpu().minus(before));
        gateway_children = gateway_children.plus(gateway.children_cpu().minus(children));
        gateway_time += elapsed;
    }
    let rate = |elapsed: Duration| CONCURRENT_TOTAL as f64 / elapsed.as_secs_f64();
    let (direct_rate, gateway_rate) = (rate(direct_time), rate(gateway_time));
    println!("direct spawn   {direct_rate:6.1} runs/s");
    println!(
        "via gateway    {gateway_rate:6.1} runs/s   ({:.3}x direct)",
        gateway_rate / direct_rate
    );
    print_cpu(direct_cpu, gateway_cpu, CONCURRENT_TOTAL);
    let (du, ds) = direct_children.per_run(CONCURRENT_TOTAL);
    let (gu, gs) = gateway_children.per_run(CONCURRENT_TOTAL);
    println!(
        "child CPU/run  direct  {du:5.1} user + {ds:5.1} sys = {:5.1} ms   via gateway {gu:5.1} user + {gs:5.1} sys = {:5.1} ms   (the interpreter itself)",
        du + ds,
        gu + gs
    );
    println!("gateway RSS after the runs: {:.1} MB", gateway.rss_mb());

    spawn_costs();
}

fn real_python() -> PathBuf {
    let out = Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .expect("python3");
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

/// A direct spawn of the interpreter the gateway uses, with the environment and working
/// folder a gateway run gets (HOME and the working folder in a run folder, the same Python
/// variables, the gateway's PATH), and none of its work: the physical floor.
struct Direct {
    python: PathBuf,
    script: PathBuf,
    folder: tempfile::TempDir,
}

impl Direct {
    fn new(python: PathBuf, script: PathBuf) -> Direct {
        let folder = tempfile::tempdir().expect("run folder");
        std::fs::create_dir_all(folder.path().join("work")).unwrap();
        std::fs::create_dir_all(folder.path().join("tmp")).unwrap();
        Direct {
            python,
            script,
            folder,
        }
    }

    fn run(&self) {
        let work = self.folder.path().join("work");
        let out = Command::new(&self.python)
            .arg(&self.script)
            .args(["--name", "bench"])
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("LANG", "C.UTF-8")
            .env("HOME", &work)
            .env("PYTHONUNBUFFERED", "1")
            .env("PYTHONIOENCODING", "utf-8")
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env("TMPDIR", self.folder.path().join("tmp"))
            .current_dir(&work)
            .stdin(Stdio::null())
            .output()
            .expect("direct run");
        assert!(out.status.success());
    }
}

fn gateway_run(url: &str) {
    let body: serde_json::Value = ureq::get(url)
        .call()
        .expect("gateway run")
        .into_json()
        .expect("json");
    assert_eq!(body["status"], "success", "{body}");
}

/// The time `CONCURRENT_TOTAL / ROUNDS` runs take at `CONCURRENCY`, and the CPU the runs
/// report spending in this process.
fn throughput(one: impl Fn() -> Cpu + Send + Sync + 'static) -> (Duration, Cpu) {
    let one = Arc::new(one);
    let started = Instant::now();
    let workers: Vec<_> = (0..CONCURRENCY)
        .map(|_| {
            let one = one.clone();
            std::thread::spawn(move || {
                (0..CONCURRENT_TOTAL / ROUNDS / CONCURRENCY)
                    .fold(Cpu::default(), |sum, _| sum.plus(one()))
            })
        })
        .collect();
    let cpu = workers
        .into_iter()
        .fold(Cpu::default(), |sum, w| sum.plus(w.join().expect("worker")));
    (started.elapsed(), cpu)
}

/// User and system CPU time.
#[derive(Debug, Clone, Copy, Default)]
struct Cpu {
    user: Duration,
    system: Duration,
}

impl Cpu {
    /// What this process's waited-for children spent.
    fn children() -> Cpu {
        Cpu::usage(libc::RUSAGE_CHILDREN)
    }

    /// The calling thread's own CPU time: what spawning and waiting cost the parent.
    fn own_thread() -> Cpu {
        Cpu::usage(libc::RUSAGE_THREAD)
    }

    fn usage(who: libc::c_int) -> Cpu {
        // SAFETY: getrusage only writes the struct it is given.
        let usage = unsafe {
            let mut usage: libc::rusage = std::mem::zeroed();
            libc::getrusage(who, &mut usage);
            usage
        };
        let time = |t: libc::timeval| {
            Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
        };
        Cpu {
            user: time(usage.ru_utime),
            system: time(usage.ru_stime),
        }
    }

    fn plus(self, other: Cpu) -> Cpu {
        Cpu {
            user: self.user + other.user,
            system: self.system + other.system,
        }
    }

    fn minus(self, earlier: Cpu) -> Cpu {
        Cpu {
            user: self.user.saturating_sub(earlier.user),
            system: self.system.saturating_sub(earlier.system),
        }
    }

    fn per_run(self, runs: usize) -> (f64, f64) {
        (ms(self.user) / runs as f64, ms(self.system) / runs as f64)
    }
}

/// The parent's own CPU per run: the bench thread for direct spawns, the whole gateway
/// process (all its threads, not its children) for runs through it.
fn print_cpu(direct: Cpu, gateway: Cpu, runs: usize) {
    let (du, ds) = direct.per_run(runs);
    let (gu, gs) = gateway.per_run(runs);
    println!(
        "parent CPU/run direct  {du:5.2} user + {ds:5.2} sys = {:5.2} ms   (spawning thread)",
        du + ds
    );
    println!(
        "parent CPU/run gateway {gu:5.2} user + {gs:5.2} sys = {:5.2} ms   (/proc/<gateway>/stat utime+stime)",
        gu + gs
    );
}

/// posix_spawn + prlimit (what the gateway does) against a pre_exec hook, which makes std fork.
fn spawn_costs() {
    println!("== spawning /bin/true {SPAWNS} times");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let limits = ResourceLimits {
        cpu_seconds: Some(600),
        address_space_bytes: Some(2 << 30),
        open_files: Some(1024),
        processes: Some(512),
        file_size_bytes: Some(1 << 30),
    };
    let contained_data = tempfile::tempdir().expect("temp data");
    for (label, limits, contained) in [
        ("process::run, no limits", ResourceLimits::default(), false),
        ("process::run + rlimits", limits, false),
        ("process::run + rlimits + cell", limits, true),
    ] {
        if contained {
            let report = process::contain::install(&process::contain::Request {
                choice: process::contain::Choice::Auto,
                run_as: process::contain::RunAsChoice::Off,
                data_dir: contained_data.path().to_path_buf(),
                reachable: vec![],
            })
            .expect("containment")
            .report();
            println!("(containment: {})", report.mechanism);
        }
        let spec = ProcessSpec::new("/bin/true", vec![], std::env::temp_dir(), vec![])
            .timeout(Duration::from_secs(5))
            .output_limit(1024)
            .kill_grace(Duration::from_millis(100))
            .limits(limits);
        let mut samples: Vec<Duration> = (0..SPAWNS)
            .map(|_| time(|| drop(runtime.block_on(process::run(&spec, None)).expect("spawn"))))
            .collect();
        println!("{label:32} p50 {:6.3} ms", ms(percentile(&mut samples, 50)));
    }
    let ballast = vec![1u8; 512 << 20]; // a gateway that has grown: fork copies its page tables
    std::hint::black_box(&ballast);
    let mut samples: Vec<Duration> = (0..SPAWNS)
        .map(|_| {
            time(|| {
                let mut command = Command::new("/bin/true");
                // SAFETY: setrlimit is async-signal-safe.
                unsafe {
                    command.pre_exec(|| {
                        let limit = libc::rlimit {
                            rlim_cur: 1024,
                            rlim_max: 1024,
                        };
                        libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
                        Ok(())
                    });
                }
                command.status().expect("spawn");
            })
        })
        .collect();
    println!(
        "{:32} p50 {:6.3} ms   (with 512 MB resident, for comparison)",
        "std fork + pre_exec setrlimit",
        ms(percentile(&mut samples, 50))
    );
}

struct Gateway {
    child: Child,
    address: String,
}

impl Gateway {
    fn start(repo: &Path, data: &Path) -> Gateway {
        let mut child = Command::new(env!("CARGO_BIN_EXE_script-gateway"))
            .args([
                "serve",
                "--port",
                "0",
                "--scan-interval-sec",
                "0",
                "--log",
                "warn",
            ])
            .arg("--scripts-repo")
            .arg(repo)
            .arg("--data-dir")
            .arg(data)
            .stdout(Stdio::piped())
            .spawn()
            .expect("gateway starts");
        let stdout = child.stdout.take().expect("piped");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("listening line");
        let address = line
            .trim()
            .strip_prefix("listening on ")
            .expect("listening on ...")
            .to_string();
        Gateway { child, address }
    }

    /// utime and stime of the gateway process (every thread; not its children).
    fn cpu(&self) -> Cpu {
        // Fields 14 and 15 of stat.
        self.stat_times(14)
    }

    /// cutime and cstime: what the runs the gateway waited for spent.
    fn children_cpu(&self) -> Cpu {
        // Fields 16 and 17 of stat.
        self.stat_times(16)
    }

    fn stat_times(&self, field: usize) -> Cpu {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()))
            .expect("gateway stat");
        // `fields` starts at field 3, after the command name.
        let fields: Vec<&str> = stat[stat.rfind(')').expect("comm") + 2..]
            .split_whitespace()
            .collect();
        // SAFETY: sysconf has no preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
        let ticks = |i: usize| fields[i - 3].parse::<u64>().expect("ticks");
        let time = |t: u64| Duration::from_micros(t * 1_000_000 / hz);
        Cpu {
            user: time(ticks(field)),
            system: time(ticks(field + 1)),
        }
    }

    fn rss_mb(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        let kb: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0.0);
        kb / 1024.0
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn time(f: impl FnOnce()) -> Duration {
    let started = Instant::now();
    f();
    started.elapsed()
}

fn percentile(samples: &mut [Duration], p: usize) -> Duration {
    samples.sort();
    samples[(samples.len() * p / 100).min(samples.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64()
}
