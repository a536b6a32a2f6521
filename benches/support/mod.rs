//! What the run benchmarks share: the gateway under test, a direct spawn of the same
//! interpreter as the floor, CPU accounting and percentiles.

pub mod warm;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub fn real_python() -> PathBuf {
    let out = Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .expect("python3");
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

/// A direct spawn of the interpreter the gateway uses, with the environment and working
/// folder a gateway run gets (HOME and the working folder in a run folder, the same Python
/// variables, the gateway's PATH), and none of its work: the physical floor.
pub struct Direct {
    python: PathBuf,
    script: PathBuf,
    folder: tempfile::TempDir,
}

impl Direct {
    pub fn new(python: PathBuf, script: PathBuf) -> Direct {
        let folder = tempfile::tempdir().expect("run folder");
        std::fs::create_dir_all(folder.path().join("work")).unwrap();
        std::fs::create_dir_all(folder.path().join("tmp")).unwrap();
        Direct {
            python,
            script,
            folder,
        }
    }

    pub fn run(&self) {
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

thread_local! {
    /// One client per thread, keeping its connection alive between runs, as a client of a
    /// service does (the Python client's `httpx.Client`, a browser, a load balancer).
    static CLIENT: ureq::Agent = ureq::AgentBuilder::new().max_idle_connections_per_host(1).build();
}

/// One run through the gateway over this thread's kept-alive connection.
pub fn gateway_run(url: &str) {
    CLIENT.with(|client| check_run(client.get(url).call()));
}

/// One run through the gateway on a new connection (connect, run, close).
pub fn gateway_run_new_connection(url: &str) {
    check_run(ureq::AgentBuilder::new().build().get(url).call());
}

fn check_run(response: Result<ureq::Response, ureq::Error>) {
    let body: serde_json::Value = response.expect("gateway run").into_json().expect("json");
    assert_eq!(body["status"], "success", "{body}");
}

/// The time `runs` runs take at `concurrency`, and the CPU the runs report spending in
/// this process.
pub fn throughput(
    runs: usize,
    concurrency: usize,
    one: impl Fn() -> Cpu + Send + Sync + 'static,
) -> (Duration, Cpu) {
    let one = Arc::new(one);
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let one = one.clone();
            std::thread::spawn(move || {
                (0..runs / concurrency).fold(Cpu::default(), |sum, _| sum.plus(one()))
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
pub struct Cpu {
    pub user: Duration,
    pub system: Duration,
}

impl Cpu {
    /// What this process's waited-for children spent.
    pub fn children() -> Cpu {
        Cpu::usage(libc::RUSAGE_CHILDREN)
    }

    /// The calling thread's own CPU time: what spawning and waiting cost the parent.
    pub fn own_thread() -> Cpu {
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

    pub fn plus(self, other: Cpu) -> Cpu {
        Cpu {
            user: self.user + other.user,
            system: self.system + other.system,
        }
    }

    pub fn minus(self, earlier: Cpu) -> Cpu {
        Cpu {
            user: self.user.saturating_sub(earlier.user),
            system: self.system.saturating_sub(earlier.system),
        }
    }

    pub fn per_run(self, runs: usize) -> (f64, f64) {
        (ms(self.user) / runs as f64, ms(self.system) / runs as f64)
    }
}

/// The parent's own CPU per run: the bench thread for direct spawns, the whole gateway
/// process (all its threads, not its children) for runs through it.
pub fn print_cpu(direct: Cpu, gateway: Cpu, runs: usize) {
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

pub struct Gateway {
    child: Child,
    pub address: String,
}

impl Gateway {
    pub fn start(repo: &Path, data: &Path, extra_args: &[&str]) -> Gateway {
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
            .args(extra_args)
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

    /// The run URL of the script at `path` (ids depend on the order schemas were read),
    /// once the gateway's scan has listed it.
    pub fn run_url(&self, path: &str, query: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let scripts: serde_json::Value =
                ureq::get(&format!("{}/api/scripts?page_size=100", self.address))
                    .call()
                    .expect("the script list")
                    .into_json()
                    .expect("json");
            let found = scripts["items"]
                .as_array()
                .and_then(|items| items.iter().find(|s| s["path"] == path))
                .and_then(|s| s["id"].as_i64());
            match found {
                Some(id) => return format!("{}/api/scripts/{id}/run{query}", self.address),
                None if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
                None => panic!("{path} is not listed: {scripts}"),
            }
        }
    }

    /// `GET /api/system/warm`.
    pub fn warm(&self) -> serde_json::Value {
        ureq::get(&format!("{}/api/system/warm", self.address))
            .call()
            .expect("warm report")
            .into_json()
            .expect("json")
    }

    /// utime and stime of the gateway process (every thread; not its children).
    pub fn cpu(&self) -> Cpu {
        // Fields 14 and 15 of stat.
        self.stat_times(14)
    }

    /// cutime and cstime: what the runs the gateway waited for spent.
    pub fn children_cpu(&self) -> Cpu {
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

    pub fn rss_mb(&self) -> f64 {
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

pub fn time(f: impl FnOnce()) -> Duration {
    let started = Instant::now();
    f();
    started.elapsed()
}

pub fn percentile(samples: &mut [Duration], p: usize) -> Duration {
    samples.sort();
    samples[(samples.len() * p / 100).min(samples.len() - 1)]
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

pub fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64()
}
