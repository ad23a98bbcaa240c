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
    let cgroup = common::host::cgroup_of(child.id().unwrap());
    assert!(cgroup.join("memory.max").exists(), "{}", cgroup.display());
    child.wait().await.unwrap();
    let s = child.run_status().unwrap();
    assert_eq!(s.ended_by, EndReason::MemoryLimit, "{s:?}");
    assert_eq!(s.peak_memory_scope, "sandbox");
    assert!(s.limits.iter().any(|l| l.mechanism == "cgroup memory.max"));
    // Removed when the sandbox ended (at once, or once the kernel has torn the last process
    // down).
    assert!(
        settles(30, || !cgroup.exists()).await,
        "{} is left",
        cgroup.display()
    );
}

/// The sandbox cgroups of process `pid` (named `tokio-sandbox-PID-N`) in the parent the
/// probe names.
fn sandbox_cgroups_of(pid: u32) -> Vec<String> {
    let parent = tokio_sandbox::probe().cgroup_parent.clone().unwrap();
    std::fs::read_dir(parent)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(&format!("tokio-sandbox-{pid}-")))
        .collect()
}

/// Waits (at most `secs` seconds) until `check` holds; whether it does.
async fn settles(secs: u64, mut check: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    while !check() {
        if std::time::Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    true
}

/// The CLI's main case under a cgroup: `--memory 64M` and a program that touches 400 MiB end
/// with `ended_by: memory_limit`, the whole sandbox's peak (at most the limit, most of it used)
/// and `memory.max` named as the mechanism.
#[test]
fn cli_memory_limit_ends_a_hog_with_the_sandbox_peak() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    if !cgroup_limits_or_skip() || !common::python3_or_skip() {
        return;
    }
    let Some(mut cli) = common::cli() else {
        return;
    };
    let d = common::rw_dir();
    let status = d.path().join("status.json");
    let o = cli
        .arg("--memory")
        .arg("64M")
        .arg("--status-json")
        .arg(&status)
        .args([
            "--",
            "python3",
            "-c",
            "b = bytearray(400 << 20)\nfor i in range(0, len(b), 4096): b[i] = 1",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(128 + libc::SIGKILL), "{o:?}");
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&status).unwrap()).unwrap();
    assert_eq!(s["ended_by"], "memory_limit", "{s}");
    assert_eq!(s["peak_memory_scope"], "sandbox", "{s}");
    let peak = s["peak_memory_bytes"].as_u64().unwrap();
    assert!(peak <= 64 << 20 && peak > 32 << 20, "peak {peak}");
    let memory = s["limits"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["name"] == "memory_bytes")
        .unwrap();
    assert_eq!(memory["mechanism"], "cgroup memory.max", "{s}");
    assert_eq!(memory["value"], 64 << 20);
}

/// `--pids 8` is the sandbox cgroup's `pids.max`: a program forking without end gets `EAGAIN`
/// once the sandbox holds 8 processes (init, the program and 6 children).
#[test]
fn cli_pids_limit_holds_through_pids_max() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    if !cgroup_limits_or_skip() || !common::python3_or_skip() {
        return;
    }
    let Some(mut cli) = common::cli() else {
        return;
    };
    let o = cli
        .args(["--pids", "8", "--", "python3", "-c"])
        .arg(
            "import os, time\nn = 0\nwhile True:\n    try:\n        pid = os.fork()\n    \
             except OSError as e:\n        print(n, e.errno); break\n    if pid == 0:\n        \
             time.sleep(30); os._exit(0)\n    n += 1",
        )
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&o.stdout), "6 11\n", "{o:?}");
    assert_eq!(o.status.code(), Some(0), "{o:?}");
}

/// `cpu_millis` throttles for real: a program spinning for 2 s of wall time under 100
/// thousandths of a CPU is throttled (the sandbox cgroup's `cpu.stat` counts the periods) and
/// gets about a tenth of that time on a CPU (less than 30 %, where it would spin for all of it).
#[tokio::test]
async fn cpu_bandwidth_throttles_measurably() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    if !cgroup_limits_or_skip() || !common::python3_or_skip() {
        return;
    }
    let spin = "import time\nt = time.monotonic()\nwhile time.monotonic() - t < 2: pass";
    let mut child = Command::new("python3")
        .args(["-c", spin])
        .limits(Limits {
            cpu_millis: Some(100),
            ..Limits::default()
        })
        .spawn()
        .unwrap();
    let cgroup = common::host::cgroup_of(child.id().unwrap());
    assert_eq!(
        std::fs::read_to_string(cgroup.join("cpu.max")).unwrap(),
        "10000 100000\n"
    );
    let usage = |stat: &str, name: &str| -> u64 {
        stat.lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("{name} in {stat}"))
    };
    // Measured from here, so that the setup before the program spins does not count.
    let before = std::fs::read_to_string(cgroup.join("cpu.stat")).unwrap();
    let start = std::time::Instant::now();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let stat = std::fs::read_to_string(cgroup.join("cpu.stat")).unwrap();
    let elapsed = start.elapsed();
    child.wait().await.unwrap();
    let usage_us = usage(&stat, "usage_usec ") - usage(&before, "usage_usec ");
    let throttled = usage(&stat, "nr_throttled ");
    assert!(throttled > 0, "never throttled: {stat}");
    // A tenth of the wall time, plus the overrun the scheduler's ticks allow: well below the
    // 100 % it would spin unthrottled.
    let bound = elapsed.as_micros() as u64 * 3 / 10;
    assert!(
        usage_us < bound,
        "{usage_us} µs of CPU in {elapsed:?} under 100 millis: {before}\n{stat}"
    );
}

const ROLE: &str = "TSB_CGROUP_HELPER";

/// No sandbox cgroup is left after 1,000 runs (`TSB_TEST_SCALE` scales the count), of which
/// every fourth is cancelled while it sets up and every fourth killed while it runs. Runs in a
/// helper process, so that the other tests' sandboxes do not count.
#[test]
fn no_cgroup_is_left_after_a_thousand_runs() {
    if std::env::var(ROLE).as_deref() == Ok("thousand") {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
            .block_on(thousand_runs());
        println!("RESULT:ok");
        return;
    }
    if !common::host::sandbox_or_skip() {
        return;
    }
    if !cgroup_limits_or_skip() {
        return;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "no_cgroup_is_left_after_a_thousand_runs",
            "--nocapture",
        ])
        .env(ROLE, "thousand")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("RESULT:ok"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn thousand_runs() {
    // The helper runs in the leaf its parent moved into: its sandbox cgroups go beside it.
    assert!(tokio_sandbox::probe().cgroup_limits.is_available());
    let runs = common::scaled(1000);
    for i in 0..runs {
        let mut cmd = Command::new("sleep");
        cmd.arg("10").kill_on_drop(true);
        match i % 4 {
            0 => {
                let micros = (i as u64 * 37) % 5000;
                let _ =
                    tokio::time::timeout(Duration::from_micros(micros), cmd.spawn_async()).await;
            }
            1 => {
                let mut child = cmd.spawn().unwrap();
                child.kill().await.unwrap();
            }
            _ => {
                let status = Command::new("true").status().await.unwrap();
                assert!(status.success());
            }
        }
    }
    let me = std::process::id();
    assert!(
        settles(60, || sandbox_cgroups_of(me).is_empty()).await,
        "after {runs} runs: {:?}",
        sandbox_cgroups_of(me)
    );
}

/// A caller killed while its sandbox sets up cannot remove the sandbox's cgroup; the next
/// process that places sandboxes there removes it once it is empty (its sandbox ends with the
/// caller, by the lifeline).
#[tokio::test]
async fn cgroups_of_a_killed_caller_are_removed_by_the_next() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    if !cgroup_limits_or_skip() {
        return;
    }
    let mut killed = Vec::new();
    for delay_ms in [0u64, 5, 20, 50, 100, 200] {
        let Some(mut cli) = common::cli() else {
            return;
        };
        let mut caller = cli.args(["--", "sleep", "30"]).spawn().unwrap();
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        caller.kill().unwrap();
        caller.wait().unwrap();
        killed.push(caller.id());
    }
    let parent = tokio_sandbox::probe().cgroup_parent.clone().unwrap();
    let populated = |pid: u32| {
        sandbox_cgroups_of(pid).iter().any(|n| {
            std::fs::read_to_string(parent.join(n).join("cgroup.events"))
                .unwrap_or_default()
                .contains("populated 1")
        })
    };
    assert!(
        settles(60, || !killed.iter().any(|p| populated(*p))).await,
        "the sandboxes of killed callers still run"
    );
    let o = common::cli()
        .unwrap()
        .args(["--", "true"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{o:?}");
    for pid in killed {
        assert_eq!(
            sandbox_cgroups_of(pid),
            Vec::<String>::new(),
            "of pid {pid}"
        );
    }
}

/// The program can neither leave its cgroup nor raise its limits: it sees its own cgroup as
/// the root of its cgroup namespace, no cgroup hierarchy, and cannot mount one; even with the
/// cgroup hierarchy bound (read-only for a root caller, whose sandbox is host uid 65534; the
/// caller's delegated cgroup read-write for an unprivileged caller, whose sandbox has its
/// uid, where the host mounts cgroup2 with `nsdelegate`, as systemd does), moving itself to the
/// parent and writing its own `memory.max` and `pids.max` are refused.
#[tokio::test]
async fn the_program_cannot_leave_its_cgroup_or_raise_its_limits() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    if !cgroup_limits_or_skip() || !common::python3_or_skip() {
        return;
    }
    let probe = tokio_sandbox::probe();
    let mount = probe.cgroup_v2.mount.clone().unwrap();
    let parent = probe.cgroup_parent.clone().unwrap();
    let (mount_s, parent) = (mount.display().to_string(), parent.display().to_string());
    let script = format!(
        "import ctypes, glob, os\n\
         print(open('/proc/self/cgroup').read().strip())\n\
         print(os.path.exists('{mount_s}/cgroup.procs'))\n\
         libc = ctypes.CDLL(None, use_errno=True)\n\
         os.makedirs('/tmp/cg')\n\
         r = libc.mount(b'none', b'/tmp/cg', b'cgroup2', 0, None)\n\
         print('mount', r, ctypes.get_errno())\n"
    );
    let o = Command::new("python3")
        .args(["-c", &script])
        .limits(Limits {
            memory: Some(256 << 20),
            ..Limits::default()
        })
        .output()
        .await
        .unwrap();
    assert_eq!(
        common::stdout(&o),
        "0::/\nFalse\nmount -1 1\n",
        "{}",
        common::stderr(&o)
    );

    // A root caller's sandbox runs as host uid 65534, for which the hierarchy is read-only
    // (its files are root's); an unprivileged caller's runs as the caller, who owns the
    // delegated cgroups: bound read-write, only the kernel's delegation rules stand between
    // the program and its limits.
    let nsdelegate = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .any(|l| l.contains(" - cgroup2 ") && l.contains("nsdelegate"));
    if !nsdelegate && !common::is_root() {
        common::skip("cgroup2 is mounted without nsdelegate: the read-write bind part needs it");
        return;
    }
    let script = format!(
        "import glob, os\n\
         mine = [d for d in glob.glob('{parent}/tokio-sandbox-{me}-*')\n\
                 if str(os.getpid()) in open(d + '/cgroup.procs').read().split()]\n\
         print(len(mine))\n\
         def write(path, text):\n\
         \x20   try:\n\
         \x20       fd = os.open(path, os.O_WRONLY)\n\
         \x20       try:\n\
         \x20           os.write(fd, text.encode())\n\
         \x20       finally:\n\
         \x20           os.close(fd)\n\
         \x20       return 'written'\n\
         \x20   except OSError as e:\n\
         \x20       return e.errno\n\
         print('leave', write('{parent}/cgroup.procs', str(os.getpid())))\n\
         print('memory.max', write(mine[0] + '/memory.max', 'max'))\n\
         print('pids.max', write(mine[0] + '/pids.max', 'max'))\n\
         print(open(mine[0] + '/memory.max').read().strip())\n",
        me = std::process::id()
    );
    let mut cmd = Command::new("python3");
    if common::is_root() {
        cmd.read_only(&mount);
    } else {
        // The part delegated to the caller (the rest of the hierarchy is not writable).
        cmd.read_write(probe.cgroup_parent.as_ref().unwrap());
    }
    let o = cmd
        .args(["-c", &script])
        .limits(Limits {
            memory: Some(256 << 20),
            ..Limits::default()
        })
        .output()
        .await
        .unwrap();
    let out = common::stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.first(), Some(&"1"), "{out}{}", common::stderr(&o));
    for (line, what) in lines[1..4].iter().zip(["leave", "memory.max", "pids.max"]) {
        let (name, result) = line.split_once(' ').unwrap();
        assert_eq!(name, what);
        assert!(
            ["1", "2", "13", "30"].contains(&result),
            "{what}: {result} (EPERM, ENOENT, EACCES or EROFS expected)\n{out}"
        );
    }
    assert_eq!(lines[4], (256u64 << 20).to_string());
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

/// A caller that is the only process of a cgroup delegated to it moves itself into the leaf
/// `tokio-sandbox-caller` at its first spawn or probe, so that its cgroup may enable the
/// controllers for the sandbox cgroups beside the leaf; `TOKIO_SANDBOX_CGROUP=stay` keeps it
/// where it is (rlimits then), `off` uses no cgroup. The cgroups are made here as a service
/// manager makes them for a unit with `Delegate=yes` (for root: marked `trusted.delegate`).
#[test]
fn a_delegated_caller_moves_into_its_leaf_unless_told_otherwise() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    if !cgroup_limits_or_skip() {
        return;
    }
    let Some(cli) = common::cli() else {
        return;
    };
    let parent = tokio_sandbox::probe().cgroup_parent.clone().unwrap();
    let leaf = tokio_sandbox::CALLER_LEAF;
    for (mode, expected) in [
        (
            "auto",
            "limits in child cgroups of {cg} (this process moved into {cg}/{leaf}: controllers \
             are enabled only in a cgroup without processes)",
        ),
        (
            "stay",
            "not used: {cg} is delegated, but enabling controllers there needs this process to \
             move into its leaf {leaf}, which TOKIO_SANDBOX_CGROUP=stay forbids (limits use \
             rlimits)",
        ),
        (
            "off",
            "not used: TOKIO_SANDBOX_CGROUP=off (limits use rlimits)",
        ),
    ] {
        let cg = parent.join(format!("tsb-test-{mode}-{}", std::process::id()));
        std::fs::create_dir(&cg).unwrap();
        if common::is_root() {
            rustix::fs::setxattr(
                &cg,
                "trusted.delegate",
                b"1",
                rustix::fs::XattrFlags::empty(),
            )
            .unwrap();
        }
        let o = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg("echo $$ >\"$CG/cgroup.procs\" && exec \"$0\" \"$@\"")
            .arg(cli.get_program())
            .args(cli.get_args())
            .arg("--probe")
            .env("CG", &cg)
            .env(tokio_sandbox::CGROUP_ENV, mode)
            .output()
            .unwrap();
        let out = common::stdout(&o);
        let line = out
            .lines()
            .find_map(|l| l.strip_prefix("cgroup v2:"))
            .unwrap_or_else(|| panic!("{o:?}"))
            .trim_start()
            .to_string();
        let in_leaf = cg.join(leaf).exists();
        // What the CLI left: its (empty) leaf; no sandbox cgroup (checked by the removal).
        let _ = std::fs::remove_dir(cg.join(leaf));
        if let Err(e) = std::fs::remove_dir(&cg) {
            let left: Vec<_> = std::fs::read_dir(&cg)
                .unwrap()
                .flatten()
                .filter(|e| e.path().is_dir())
                .map(|e| e.file_name())
                .collect();
            panic!("{mode}: {} is not empty ({e}): {left:?}", cg.display());
        }
        let cg = cg.display().to_string();
        assert_eq!(
            line,
            expected.replace("{cg}", &cg).replace("{leaf}", leaf),
            "{mode}"
        );
        assert_eq!(in_leaf, mode == "auto", "{mode}");
    }
}
