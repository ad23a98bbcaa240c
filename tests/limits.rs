//! Limits, timeouts and accounting: nothing runs past its budget, every run is measured.
//! (Time bounds here are generous limits on behaviour, not performance measurements.)

mod common;

use std::os::unix::process::ExitStatusExt;
use std::time::{Duration, Instant};

use tokio_sandbox::{Command, Limits, DEFAULT_PROCESS_LIMIT};

async fn sh_with(script: &str, limits: Limits) -> std::process::Output {
    Command::new("/bin/sh")
        .args(["-c", script])
        .limits(limits)
        .output()
        .await
        .expect("spawn")
}

/// A default sandbox cannot fork-bomb the host: at most 1024 processes, visible inside as
/// `RLIMIT_NPROC`; with cgroup limits it is the sandbox cgroup's `pids.max` instead, and the
/// rlimit inside stays the caller's.
#[tokio::test]
async fn default_process_limit_is_visible_inside() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    if common::host::cgroup_limits() {
        let mut child = Command::new("sleep").arg("30").spawn().unwrap();
        let cg = common::host::cgroup_of(child.id().unwrap());
        assert_eq!(
            std::fs::read_to_string(cg.join("pids.max")).unwrap(),
            format!("{DEFAULT_PROCESS_LIMIT}\n"),
            "{}",
            cg.display()
        );
        assert_eq!(
            child.enforcement().process_limit,
            Some(DEFAULT_PROCESS_LIMIT)
        );
        child.kill().await.unwrap();
        let own = std::fs::read_to_string("/proc/self/limits").unwrap();
        let own = own
            .lines()
            .find(|l| l.starts_with("Max processes"))
            .unwrap();
        let o = common::sh("grep 'Max processes' /proc/self/limits", |_| {}).await;
        assert_eq!(common::stdout(&o), format!("{own}\n"));
        return;
    }
    let o = common::sh("grep 'Max processes' /proc/self/limits | tr -s ' '", |_| {}).await;
    assert_eq!(
        common::stdout(&o),
        format!("Max processes {DEFAULT_PROCESS_LIMIT} {DEFAULT_PROCESS_LIMIT} processes \n")
    );
    let child = Command::new("/bin/true").spawn().unwrap();
    assert_eq!(
        child.enforcement().process_limit,
        Some(DEFAULT_PROCESS_LIMIT)
    );
}

/// C15: a process limit counts threads; Python starting 32 threads under a limit of 8 fails
/// with "can't start new thread", and the limit is visible inside (as `RLIMIT_NPROC`; with
/// cgroup limits it is `pids.max`, outside the sandbox's view).
#[tokio::test]
async fn c15_thread_limits_look_like_application_bugs() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    if !common::python3_or_skip() {
        return;
    }
    let limits = Limits {
        processes: Some(8),
        ..Limits::default()
    };
    let o = Command::new("python3")
        .args([
            "-c",
            "import threading, time
print(open('/proc/self/limits').read().count('Max processes             8'))
ts = []
try:
    for i in range(32):
        t = threading.Thread(target=time.sleep, args=(0.5,)); t.start(); ts.append(t)
except RuntimeError as e:
    print(e)
print(len(ts) < 32)",
        ])
        .limits(limits)
        .output()
        .await
        .unwrap();
    let visible = if common::host::cgroup_limits() { 0 } else { 1 };
    assert_eq!(
        common::stdout(&o),
        format!("{visible}\ncan't start new thread\nTrue\n")
    );
}

/// A fork bomb under a process limit stops at the limit with EAGAIN; the host is unharmed and
/// the sandbox ends with its main program.
#[tokio::test]
async fn fork_bomb_stops_at_the_process_limit() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    if !common::python3_or_skip() {
        return;
    }
    let limits = Limits {
        processes: Some(64),
        ..Limits::default()
    };
    let start = Instant::now();
    let o = Command::new("python3")
        .args([
            "-c",
            "import os, time
n = 0
while True:
    try:
        pid = os.fork()
    except OSError as e:
        print(n < 64, e.errno)
        break
    if pid == 0:
        time.sleep(30)
        os._exit(0)
    n += 1",
        ])
        .limits(limits)
        .output()
        .await
        .unwrap();
    assert_eq!(common::stdout(&o), "True 11\n");
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "the sleepers died with the sandbox"
    );
    // The host still forks.
    assert!(Command::new("true").status().await.unwrap().success());
}

/// A CPU-bound program under a 1 s CPU limit ends with SIGXCPU (or SIGKILL at the hard limit).
#[tokio::test]
async fn cpu_limit_ends_a_busy_program() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let limits = Limits {
        cpu_seconds: Some(1),
        ..Limits::default()
    };
    let start = Instant::now();
    let o = sh_with("exec yes > /dev/null", limits).await;
    let sig = o.status.signal();
    assert!(
        sig == Some(libc::SIGXCPU) || sig == Some(libc::SIGKILL),
        "{:?}",
        o.status
    );
    assert!(start.elapsed() < Duration::from_secs(5));
}

/// A memory hog under an address-space limit fails to get its memory.
#[tokio::test]
async fn address_space_limit_refuses_a_memory_hog() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    if !common::python3_or_skip() {
        return;
    }
    let limits = Limits {
        address_space: Some(256 << 20),
        ..Limits::default()
    };
    let o = Command::new("python3")
        .args([
            "-c",
            "try:\n    b = bytearray(512 << 20)\n    print('got it')\nexcept MemoryError:\n    print('MemoryError')",
        ])
        .limits(limits)
        .output()
        .await
        .unwrap();
    assert_eq!(common::stdout(&o), "MemoryError\n");
}

/// `sleep 30` with a 200 ms timeout is killed and reported as timed out in well under 1 s.
#[tokio::test]
async fn timeout_ends_a_long_run() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let start = Instant::now();
    let mut child = Command::new("sleep")
        .arg("30")
        .timeout(Duration::from_millis(200))
        .spawn()
        .unwrap();
    let status = child.wait().await.unwrap();
    assert!(child.timed_out());
    assert_eq!(status.signal(), Some(libc::SIGKILL));
    assert!(start.elapsed() < common::slack(Duration::from_secs(1)));
    // A run that ends in time is not timed out.
    let mut child = Command::new("true")
        .timeout(Duration::from_secs(10))
        .spawn()
        .unwrap();
    assert!(child.wait().await.unwrap().success());
    assert!(!child.timed_out());
}

/// A timeout too long to be a point in time (`Duration::MAX`) is no limit, and no panic.
#[tokio::test]
async fn timeout_too_long_for_an_instant_is_no_limit() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let mut child = Command::new("sh")
        .args(["-c", "exit 3"])
        .timeout(Duration::MAX)
        .spawn()
        .unwrap();
    assert_eq!(child.wait().await.unwrap().code(), Some(3));
    assert!(!child.timed_out());
}

/// A program printing forever under a timeout is killed on time; output() returns.
#[tokio::test]
async fn timeout_ends_a_program_printing_forever() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let start = Instant::now();
    let o = Command::new("yes")
        .timeout(Duration::from_millis(300))
        .output()
        .await
        .unwrap();
    assert_eq!(o.status.signal(), Some(libc::SIGKILL));
    assert!(!o.stdout.is_empty());
    assert!(start.elapsed() < Duration::from_secs(3));
}

/// terminate: SIGTERM ends a cooperative program; one that ignores it is killed after grace.
#[tokio::test]
async fn terminate_sends_sigterm_then_kills() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let mut child = Command::new("sleep").arg("30").spawn().unwrap();
    let status = child.terminate(Duration::from_secs(2)).await.unwrap();
    assert_eq!(status.signal(), Some(libc::SIGTERM));

    let mut child = Command::new("sh")
        .args(["-c", "trap '' TERM; echo ready; sleep 30"])
        .stdout(tokio_sandbox::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut buf = [0u8; 6];
    tokio::io::AsyncReadExt::read_exact(&mut out, &mut buf)
        .await
        .unwrap();
    let start = Instant::now();
    let status = child.terminate(Duration::from_millis(300)).await.unwrap();
    assert_eq!(status.signal(), Some(libc::SIGKILL));
    assert!(start.elapsed() >= Duration::from_millis(300));
    assert!(start.elapsed() < Duration::from_secs(2));
}

/// A program that allocates and touches 100 MiB reports a peak between 100 and 130 MiB, and
/// CPU time is accounted.
#[tokio::test]
async fn peak_memory_and_cpu_time_are_reported() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    if !common::python3_or_skip() {
        return;
    }
    let mut child = Command::new("python3")
        .args([
            "-c",
            "b = bytearray(100 << 20)\nfor i in range(0, len(b), 4096): b[i] = 1\nx = sum(range(3000000))",
        ])
        .spawn()
        .unwrap();
    assert!(child.resource_usage().is_none());
    assert!(child.wait().await.unwrap().success());
    let usage = child.resource_usage().expect("usage after wait");
    let mib = usage.max_rss_bytes.expect("init reports the peak") >> 20;
    assert!((100..=130).contains(&mib), "peak {mib} MiB");
    assert!(usage.user_time + usage.system_time > Duration::from_millis(10));
}

/// C41: the process limit is set inside the sandbox's own user namespace, so the caller's own
/// processes do not count against it; as host uid 0 (exempt from `RLIMIT_NPROC`) it is not
/// reported as enforced, unless it is a cgroup's `pids.max`, which binds uid 0 too.
#[tokio::test]
async fn c41_process_limit_counts_the_sandbox_only() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    // The caller has more processes than the limit allows; the sandbox still starts.
    let mut sleepers = Vec::new();
    for _ in 0..6 {
        sleepers.push(
            std::process::Command::new("sleep")
                .arg("5")
                .spawn()
                .unwrap(),
        );
    }
    let limits = Limits {
        processes: Some(3),
        ..Limits::default()
    };
    let o = sh_with("echo started", limits).await;
    assert_eq!(common::stdout(&o), "started\n");
    for mut s in sleepers {
        let _ = s.kill();
        let _ = s.wait();
    }
    if common::is_root() {
        let child = Command::new("/bin/true").uid(0).gid(0).spawn().unwrap();
        let expected = common::host::cgroup_limits().then_some(DEFAULT_PROCESS_LIMIT);
        assert_eq!(child.enforcement().process_limit, expected);
    }
}

/// The final status says how a run ended, with the limits in force and the layers.
#[tokio::test]
async fn run_status_reports_how_it_ended() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    use tokio_sandbox::EndReason;
    let mut child = Command::new("sh").args(["-c", "exit 3"]).spawn().unwrap();
    assert!(child.run_status().is_none());
    child.wait().await.unwrap();
    let s = child.run_status().unwrap();
    assert_eq!(
        (s.exit_code, s.signal, s.ended_by),
        (Some(3), None, EndReason::Exited)
    );
    let cgroup = common::host::cgroup_limits();
    assert_eq!(
        s.peak_memory_scope,
        if cgroup { "sandbox" } else { "largest_process" }
    );
    // The default process limit, and the open-files limit derived from it.
    let names: Vec<&str> = s.limits.iter().map(|l| l.name).collect();
    assert_eq!(names, ["open_files", "processes"]);
    let processes = &s.limits[1];
    assert_eq!(
        processes.mechanism,
        if cgroup {
            "cgroup pids.max"
        } else {
            "RLIMIT_NPROC"
        }
    );

    let mut child = Command::new("sleep")
        .arg("30")
        .timeout(Duration::from_millis(100))
        .spawn()
        .unwrap();
    child.wait().await.unwrap();
    assert_eq!(child.run_status().unwrap().ended_by, EndReason::Timeout);

    let mut child = Command::new("sleep").arg("30").spawn().unwrap();
    child.kill().await.unwrap();
    let s = child.run_status().unwrap();
    assert_eq!(
        (s.signal, s.ended_by),
        (Some(libc::SIGKILL), EndReason::Killed)
    );

    let mut child = Command::new("sh")
        .args(["-c", "exec yes > /dev/null"])
        .limits(Limits {
            cpu_seconds: Some(1),
            ..Limits::default()
        })
        .spawn()
        .unwrap();
    child.wait().await.unwrap();
    let s = child.run_status().unwrap();
    assert_eq!(s.ended_by, EndReason::CpuLimit);
    // The CPU time is accounted (rusage rounds and scales, so not exactly the limit).
    assert!(s.user_time_ms + s.system_time_ms >= 500, "{s:?}");
    let json = serde_json::to_value(&s).unwrap();
    assert_eq!(json["ended_by"], "cpu_limit");
    assert_eq!(json["limits"][0]["mechanism"], "RLIMIT_CPU");
}

/// C42: without a cgroup, a memory limit is backed by RLIMIT_AS, which the status names with
/// what breaks under it; Node reserves more address space than 512 MiB and fails at start.
/// With cgroup limits it is the cgroup's `memory.max`, which Node starts under.
#[tokio::test]
async fn c42_address_space_is_not_a_memory_limit() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let limits = Limits {
        memory: Some(512 << 20),
        ..Limits::default()
    };
    let mut child = Command::new("true").limits(limits).spawn().unwrap();
    child.wait().await.unwrap();
    let s = child.run_status().unwrap();
    let memory = s.limits.iter().find(|l| l.name == "memory_bytes").unwrap();
    let cgroup = common::host::cgroup_limits();
    if cgroup {
        assert_eq!(memory.mechanism, "cgroup memory.max");
        assert_eq!(memory.note, None);
    } else {
        assert_eq!(memory.mechanism, "RLIMIT_AS");
        assert!(memory.note.unwrap().contains("the JVM, Node and Go"));
    }
    if !common::has("/usr/bin/node") {
        common::skip("node is not installed: the start failure under RLIMIT_AS is not shown");
        return;
    }
    let ok = Command::new("node")
        .args(["-e", "1"])
        .status()
        .await
        .unwrap();
    assert!(ok.success());
    let limited = Command::new("node")
        .args(["-e", "1"])
        .limits(limits)
        .output()
        .await
        .unwrap();
    assert_eq!(limited.status.success(), cgroup, "{:?}", limited.status);
}
