//! cgroup v2 limits for a whole sandbox, where a hierarchy with the memory, pids and cpu
//! controllers is delegated to the caller. Elsewhere (this project's CI machine: cgroup v2 has
//! no controllers, they are bound to cgroup v1) each test skips, naming what is missing; where
//! the caller's cgroup is delegated, a skip is a failure.

mod common;

use std::time::Duration;

use tokio_sandbox::{Availability, Command, EndReason, Limits};

/// Whether sandboxes get cgroup limits here; prints why not.
fn cgroup_limits_or_skip() -> bool {
    match &tokio_sandbox::probe().cgroup_limits {
        Availability::Available => true,
        Availability::Unavailable(why) => {
            not_delegated(why);
            common::skip(&format!("cgroup v2 limits are not available here: {why}"));
            false
        }
        other => panic!("unexpected availability {other:?}"),
    }
}

/// Fails the test when the caller's cgroup is delegated although the library says cgroup
/// limits are unavailable (`why`).
fn not_delegated(why: &str) {
    if let Some(dir) = common::host::cgroup_delegated_to_caller() {
        panic!(
            "{} is delegated to this process (memory, pids and cpu available, writable), yet \
             sandboxes get no cgroup limits: {why}",
            dir.display()
        );
    }
}

/// A memory hog under a cgroup memory limit is OOM-killed and reported as such; the peak is
/// the whole sandbox's; the cgroup is removed after the run.
#[tokio::test]
async fn memory_hog_is_oom_killed_under_the_cgroup_limit() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    if !cgroup_limits_or_skip() || !common::python3_or_skip() {
        return;
    }
    let mut child = Command::new("python3")
        .args([
            "-c",
            "b = bytearray(512 << 20)\nfor i in range(0, len(b), 4096): b[i] = 1",
        ])
        .limits(Limits {
            memory: Some(128 << 20),
            ..Limits::default()
        })
        .timeout(Duration::from_secs(30))
        .spawn()
        .unwrap();
    child.wait().await.unwrap();
    let s = child.run_status().unwrap();
    assert_eq!(s.ended_by, EndReason::MemoryLimit, "{s:?}");
    assert_eq!(s.peak_memory_scope, "sandbox");
    assert!(s.limits.iter().any(|l| l.mechanism == "cgroup memory.max"));
    let parent = tokio_sandbox::probe().cgroup_v2.cgroup.clone().unwrap();
    let left: Vec<_> = std::fs::read_dir(parent)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(&format!("tokio-sandbox-{}-", std::process::id()))
        })
        .collect();
    assert!(left.is_empty(), "cgroups left behind: {left:?}");
}

/// A fork bomb under a cgroup pids limit stops there, as host uid 0 too.
#[tokio::test]
async fn fork_bomb_stops_at_the_cgroup_pids_limit() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    if !cgroup_limits_or_skip() || !common::python3_or_skip() {
        return;
    }
    let o = Command::new("python3")
        .args([
            "-c",
            "import os, time\nn = 0\nwhile True:\n    try:\n        pid = os.fork()\n    \
             except OSError as e:\n        print(n < 32, e.errno); break\n    if pid == 0:\n        \
             time.sleep(30); os._exit(0)\n    n += 1",
        ])
        .limits(Limits {
            processes: Some(32),
            ..Limits::default()
        })
        .output()
        .await
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&o.stdout), "True 11\n");
}

/// A CPU bandwidth limit has no rlimit to fall back on: without a delegated cgroup v2 cpu
/// controller spawning fails naming it; with one the sandbox's `cpu.max` is set.
#[tokio::test]
async fn cpu_bandwidth_needs_the_cgroup_cpu_controller() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let limits = Limits {
        cpu_millis: Some(500),
        ..Limits::default()
    };
    let result = Command::new("true").limits(limits).spawn_async().await;
    match &tokio_sandbox::probe().cgroup_limits {
        Availability::Available => {
            let mut child = result.expect("spawn with cpu.max");
            child.wait().await.unwrap();
            let s = child.run_status().unwrap();
            assert!(s.limits.iter().any(|l| l.mechanism == "cgroup cpu.max"));
        }
        Availability::Unavailable(why) => match result {
            _ if common::host::cgroup_delegated_to_caller().is_some() => not_delegated(why),
            Err(tokio_sandbox::SpawnError::Unsupported { mechanism, reason }) => {
                assert_eq!(mechanism, "a cgroup v2 cpu controller");
                assert_eq!(&reason, why);
            }
            other => panic!("expected Unsupported, got {other:?}"),
        },
        other => panic!("unexpected availability {other:?}"),
    }
}
