//! Spawning under every failure mode: exit codes, signals, timeouts, output caps, limits.

use super::*;
use std::os::unix::process::CommandExt;

fn sh(script: &str, timeout: Duration, output_limit: usize) -> ProcessSpec {
    ProcessSpec::new(
        "/bin/sh",
        vec!["-c".into(), script.into()],
        std::env::temp_dir(),
        vec![("PATH".into(), "/usr/bin:/bin".into())],
    )
    .timeout(timeout)
    .output_limit(output_limit)
    .kill_grace(Duration::from_millis(300))
}

#[tokio::test]
async fn captures_both_streams_and_the_exit_code() {
    let out = run(
        &sh(
            "echo out; echo err >&2; exit 3",
            Duration::from_secs(5),
            1024,
        ),
        None,
    )
    .await
    .unwrap();
    assert_eq!(out.termination, Termination::Exited(3));
    assert_eq!(out.stdout, b"out\n");
    assert_eq!(out.stderr, b"err\n");
}

#[tokio::test]
async fn the_environment_is_only_what_was_given() {
    std::env::set_var("SG_TEST_SECRET_FOR_PROCESS", "hunter2");
    let out = run(&sh("env", Duration::from_secs(5), 64 * 1024), None)
        .await
        .unwrap();
    let env = String::from_utf8(out.stdout).unwrap();
    assert!(!env.contains("hunter2"), "{env}");
    assert!(env.contains("PATH=/usr/bin:/bin"), "{env}");
}

#[tokio::test]
async fn a_timeout_kills_the_whole_group() {
    let marker = tempfile::tempdir().unwrap();
    let file = marker.path().join("late");
    let script = format!("(sleep 1; touch {}) & sleep 30", file.display());
    let out = run(&sh(&script, Duration::from_millis(300), 1024), None)
        .await
        .unwrap();
    assert_eq!(out.termination, Termination::TimedOut);
    assert!(out.duration < Duration::from_secs(3), "{:?}", out.duration);
    std::thread::sleep(Duration::from_millis(1500));
    assert!(!file.exists(), "the grandchild survived the timeout");
}

#[tokio::test]
async fn a_background_grandchild_does_not_outlive_a_normal_exit() {
    let marker = tempfile::tempdir().unwrap();
    let file = marker.path().join("late");
    let script = format!("(sleep 1; touch {}) & echo done", file.display());
    let out = run(&sh(&script, Duration::from_secs(5), 1024), None)
        .await
        .unwrap();
    assert_eq!(out.termination, Termination::Exited(0));
    std::thread::sleep(Duration::from_millis(1500));
    assert!(!file.exists(), "the grandchild survived its parent");
}

#[tokio::test]
async fn flooding_past_the_cap_stops_the_child() {
    let out = run(&sh("yes flood", Duration::from_secs(10), 100_000), None)
        .await
        .unwrap();
    assert_eq!(out.termination, Termination::OutputLimit(Stream::Stdout));
    assert_eq!(out.stdout.len(), 100_000);
}

#[tokio::test]
async fn cancellation_stops_the_child() {
    let token = CancellationToken::new();
    let cancel = token.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        cancel.cancel();
    });
    let out = run(&sh("sleep 30", Duration::from_secs(30), 1024), Some(&token))
        .await
        .unwrap();
    assert_eq!(out.termination, Termination::Cancelled);
    assert!(out.duration < Duration::from_secs(3));
}

#[tokio::test]
async fn a_missing_program_is_a_spawn_error() {
    let mut spec = sh("", Duration::from_secs(1), 10);
    spec.program = "/nonexistent/interpreter".into();
    let err = run(&spec, None).await.unwrap_err();
    assert!(
        err.to_string().contains("/nonexistent/interpreter"),
        "{err}"
    );
}

#[test]
fn tail_text_keeps_the_end() {
    assert_eq!(tail_text(b"short\n", 10), "short");
    assert_eq!(tail_text(b"0123456789abc", 3), "…abc");
}

#[tokio::test]
async fn resource_limits_reach_the_child() {
    let mut spec = sh(
        "ulimit -n; ulimit -f; ulimit -v",
        Duration::from_secs(5),
        1024,
    );
    spec.limits = ResourceLimits {
        open_files: Some(64),
        file_size_bytes: Some(1024 * 1024),
        address_space_bytes: Some(512 * 1024 * 1024),
        ..ResourceLimits::default()
    };
    // The shell reads its limits after start-up, by which time prlimit has landed.
    spec.args = vec![
        "-c".into(),
        "sleep 0.05; ulimit -n; ulimit -f; ulimit -v".into(),
    ];
    let out = run(&spec, None).await.unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        text.split_whitespace().collect::<Vec<_>>(),
        ["64", "2048", "524288"],
        "{text}"
    );
}

#[tokio::test]
async fn a_cpu_limit_stops_a_busy_child() {
    let mut spec = sh("while :; do :; done", Duration::from_secs(20), 1024);
    spec.limits.cpu_seconds = Some(1);
    let out = run(&spec, None).await.unwrap();
    assert_eq!(
        out.termination,
        Termination::Signaled(libc::SIGXCPU),
        "{:?}",
        out.termination
    );
}

#[tokio::test]
async fn an_observer_sees_the_pid_and_the_output_as_it_comes() {
    #[derive(Default)]
    struct Seen(std::sync::Mutex<(Option<u32>, Vec<u8>)>);
    impl Observer for Seen {
        fn spawned(&self, pid: u32) {
            self.0.lock().unwrap().0 = Some(pid);
        }
        fn output(&self, stream: Stream, bytes: &[u8]) {
            if stream == Stream::Stdout {
                self.0.lock().unwrap().1.extend_from_slice(bytes);
            }
        }
    }
    let seen = Arc::new(Seen::default());
    let out = run_observed(
        &sh("echo one; echo two", Duration::from_secs(5), 1024),
        None,
        Some(seen.clone()),
    )
    .await
    .unwrap();
    let (pid, bytes) = seen.0.lock().unwrap().clone();
    assert!(pid.is_some_and(|p| p > 1));
    assert_eq!(bytes, out.stdout);
}

#[test]
fn leftover_groups_are_killed_only_when_they_are_ours() {
    let mut child = std::process::Command::new("sleep")
        .arg("30")
        .env("SG_RUN_ID", "4242")
        .process_group(0)
        .spawn()
        .unwrap();
    let pid = child.id();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !std::fs::read(format!("/proc/{pid}/cmdline"))
        .unwrap_or_default()
        .starts_with(b"sleep")
    {
        assert!(std::time::Instant::now() < deadline, "sleep never started");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(
        !kill_leftover_group(pid, "SG_RUN_ID=1"),
        "another run's marker"
    );
    assert!(child.try_wait().unwrap().is_none(), "left alone");
    assert!(kill_leftover_group(pid, "SG_RUN_ID=4242"));
    let status = child.wait().unwrap();
    assert!(!status.success());
}

#[test]
fn a_leftover_group_is_killed_even_when_its_leader_is_gone() {
    // A leader that starts a grandchild in its own group and exits at once.
    let leader = std::process::Command::new("sh")
        .args(["-c", "sleep 30 >/dev/null 2>&1 & echo $!"])
        .env("SG_RUN_ID", "777")
        .process_group(0)
        .output()
        .unwrap();
    let pgid_hint: u32 = String::from_utf8_lossy(&leader.stdout)
        .trim()
        .parse()
        .unwrap();
    let pgid = procfs::process_group_of(pgid_hint).expect("the grandchild lives");
    assert!(
        kill_leftover_group(pgid, "SG_RUN_ID=777"),
        "found through the grandchild"
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while procfs::process_group_of(pgid_hint) == Some(pgid) {
        assert!(
            std::time::Instant::now() < deadline,
            "the grandchild survived"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
