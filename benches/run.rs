//! Run latency and throughput through the gateway, side by side with spawning the same
//! script directly, plus the cost of spawning with resource limits.
//!
//! `cargo bench --bench run` (prints figures; asserts nothing about time).

use std::os::unix::process::CommandExt;
mod support;

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use script_gateway::process::{self, ProcessSpec, ResourceLimits};
use support::{
    gateway_run, gateway_run_new_connection, ms, percentile, print_cpu, ratio, real_python,
    throughput, time, Cpu, Direct, Gateway,
};

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
    std::fs::write(repo.path().join("python/heavy.py"), support::warm::HEAVY).unwrap();
    std::fs::create_dir_all(repo.path().join("js")).unwrap();
    std::fs::write(repo.path().join("js/hello.js"), support::warm::NODE_HELLO).unwrap();
    let gateway = Gateway::start(repo.path(), data.path(), &["--execution-mode", "cold"]);
    let url = gateway.run_url("python/hello.py", "?name=bench");
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
    println!("via gateway    p50 {:6.1} ms   p95 {:6.1} ms   (HTTP round trip on a kept-alive connection, validation, run folder, history rows)", ms(g50), ms(g95));
    println!(
        "ratio          p50 {:.3}x      p95 {:.3}x",
        ratio(g50, d50),
        ratio(g95, d95)
    );
    print_cpu(direct_cpu, gateway_cpu, SEQUENTIAL);
    let before = gateway.cpu();
    for _ in 0..SEQUENTIAL {
        gateway_run_new_connection(&url);
    }
    let (user, system) = gateway.cpu().minus(before).per_run(SEQUENTIAL);
    println!(
        "parent CPU/run gateway {user:5.2} user + {system:5.2} sys = {:5.2} ms   (a new connection for every run: TCP set-up and tear-down included)",
        user + system
    );

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
        let (elapsed, cpu) = throughput(CONCURRENT_TOTAL / ROUNDS, CONCURRENCY, move || {
            let before = Cpu::own_thread();
            one.run();
            Cpu::own_thread().minus(before)
        });
        direct_children = direct_children.plus(Cpu::children().minus(children));
        direct_time += elapsed;
        direct_cpu = direct_cpu.plus(cpu);
        let one = url.clone();
        let (before, children) = (gateway.cpu(), gateway.children_cpu());
        let (elapsed, _) = throughput(CONCURRENT_TOTAL / ROUNDS, CONCURRENCY, move || {
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

    support::warm::compare(repo.path(), &direct, &gateway);

    spawn_costs();
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
