//! Spawning under simulated hosts: each test re-runs this test binary as a helper process in a
//! hostile environment (a seccomp filter like Docker's default profile, a partly covered
//! `/proc`) and checks what the library does there.

mod common;

use std::process::Command as StdCommand;

use seccompiler::{BpfProgram, SeccompAction, SeccompFilter, TargetArch};
use tokio_sandbox::{Command, Property, Requirement, SpawnError, Stage};

const ROLE: &str = "TOKIO_SANDBOX_TEST_ROLE";

/// Runs test `name` of this binary again as a helper with `ROLE=role`, optionally behind a
/// wrapper command, and returns its stdout and whether it succeeded.
fn run_helper(name: &str, role: &str, wrapper: &[&str]) -> (String, bool) {
    let exe = std::env::current_exe().expect("current_exe");
    let mut argv: Vec<String> = wrapper.iter().map(|s| s.to_string()).collect();
    argv.push(exe.to_string_lossy().into_owned());
    argv.extend(
        ["--exact", name, "--nocapture", "--test-threads=1"]
            .iter()
            .map(|s| s.to_string()),
    );
    let out = StdCommand::new(&argv[0])
        .args(&argv[1..])
        .env(ROLE, role)
        .output()
        .expect("run helper");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    eprintln!(
        "helper {role}: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (stdout, out.status.success())
}

/// In the helper: installs a filter that answers `nr` with `errno` (thread-local, before the
/// runtime exists, so the runtime's threads inherit it).
fn deny_syscall(nr: i64, errno: i32) {
    let filter = SeccompFilter::new(
        [(nr, vec![])].into_iter().collect(),
        SeccompAction::Allow,
        SeccompAction::Errno(errno as u32),
        TargetArch::x86_64,
    )
    .expect("filter");
    let prog: BpfProgram = filter.try_into().expect("compile");
    seccompiler::apply_filter(&prog).expect("apply filter");
}

fn current_thread_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Docker's default seccomp profile answers clone3 with ENOSYS: spawning falls back to clone(2).
#[test]
fn clone3_enosys_falls_back_to_clone() {
    if std::env::var(ROLE).as_deref() == Ok("clone3_enosys") {
        deny_syscall(libc::SYS_clone3, libc::ENOSYS);
        let out = current_thread_rt().block_on(async {
            Command::new("/bin/sh")
                .args(["-c", "echo fallback ok; exit 5"])
                .output()
                .await
                .expect("spawn with clone(2)")
        });
        print!("{}", String::from_utf8_lossy(&out.stdout));
        println!("code={:?}", out.status.code());
        return;
    }
    if !common::host::sandbox_or_skip() {
        return;
    }
    let (stdout, ok) = run_helper("clone3_enosys_falls_back_to_clone", "clone3_enosys", &[]);
    assert!(ok);
    assert!(stdout.contains("fallback ok\ncode=Some(5)\n"), "{stdout}");
}

fn landlock_missing(role: &str, errno: i32, expected_reason: &str) {
    if std::env::var(ROLE).as_deref() == Ok(role) {
        deny_syscall(libc::SYS_landlock_create_ruleset, errno);
        let err = current_thread_rt()
            .block_on(Command::new("/bin/true").spawn_async())
            .expect_err("Landlock is required by default");
        match &err {
            SpawnError::Unsupported { mechanism, reason } => {
                println!("unsupported {mechanism}: {reason}")
            }
            other => println!("unexpected: {other}"),
        }
        // Best effort for the filesystem: the mount namespace holds it alone, and the report
        // says Landlock is not enforced and why; unlisted paths stay unreadable.
        let rt = current_thread_rt();
        let mut cmd = Command::new("/bin/sh");
        cmd.args(["-c", "cat /etc/shadow"])
            .policy_mut()
            .require(Property::Filesystem, Requirement::BestEffort);
        let child = rt
            .block_on(cmd.stderr(tokio_sandbox::Stdio::piped()).spawn_async())
            .expect("best effort runs");
        let fs = child.enforcement().properties[0].clone();
        println!("fs {:?} {}", fs.layers, fs.not_enforced.unwrap_or_default());
        println!("abi {:?}", child.enforcement().landlock_abi);
        let out = rt.block_on(child.wait_with_output()).unwrap();
        print!("{}", String::from_utf8_lossy(&out.stderr));
        return;
    }
    if !common::host::user_namespace_or_skip() {
        return;
    }
    let name = format!("c16_landlock_missing_{role}");
    let (stdout, ok) = run_helper(&name, role, &[]);
    assert!(ok);
    assert!(
        stdout.contains(&format!("unsupported Landlock: {expected_reason}")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "fs [\"mount namespace\"] Landlock: {expected_reason}"
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains("abi None\ncat: /etc/shadow: No such file or directory\n"),
        "{stdout}"
    );
}

/// C16: without Landlock (not built: ENOSYS) spawning fails with an error naming the reason.
#[test]
fn c16_landlock_missing_enosys() {
    landlock_missing("enosys", libc::ENOSYS, "not built into the kernel (ENOSYS)");
}

/// C16: Landlock disabled at boot (EOPNOTSUPP).
#[test]
fn c16_landlock_missing_eopnotsupp() {
    landlock_missing(
        "eopnotsupp",
        libc::EOPNOTSUPP,
        "disabled at boot (EOPNOTSUPP",
    );
}

/// C06: a host /proc with covered entries (as in containers) makes the kernel refuse a new
/// procfs in a user namespace: spawning fails naming the /proc mount, never binding the host's.
#[test]
fn c06_proc_covered_is_a_clear_error() {
    if std::env::var(ROLE).as_deref() == Ok("proc_covered") {
        let err = current_thread_rt()
            .block_on(Command::new("/bin/true").spawn_async())
            .expect_err("a covered /proc must fail");
        match &err {
            SpawnError::Setup {
                stage: Stage::Proc,
                path,
                source,
                ..
            } => println!(
                "proc error path={:?} errno={:?} msg={err}",
                path,
                source.raw_os_error()
            ),
            other => println!("unexpected: {other}"),
        }
        return;
    }
    // The helper spawns a default sandbox: Landlock too.
    if !common::host::sandbox_or_skip() {
        return;
    }
    if !common::has("/usr/bin/unshare") {
        common::missing("unshare (util-linux)");
        return;
    }
    let uid = rustix::process::getuid().as_raw();
    let gid = rustix::process::getgid().as_raw();
    // As root: a private mount namespace. Unprivileged: a user namespace where we are root for
    // the mount, then a nested one that maps our own ids back, so the library sees the caller's
    // ids as on the host.
    let cover = if common::is_root() {
        "mount --bind /dev/null /proc/kmsg && exec \"$0\" \"$@\"".to_string()
    } else {
        format!(
            "mount --bind /dev/null /proc/kmsg && \
             exec unshare --user --map-user={uid} --map-group={gid} \"$0\" \"$@\""
        )
    };
    let mut wrapper = vec!["unshare", "--mount", "--propagation", "private"];
    if !common::is_root() {
        wrapper.extend(["--user", "--map-root-user"]);
    }
    wrapper.extend(["sh", "-c", &cover]);
    let (stdout, ok) = run_helper(
        "c06_proc_covered_is_a_clear_error",
        "proc_covered",
        &wrapper,
    );
    assert!(ok);
    assert!(
        stdout.contains("proc error path=Some(\"/proc\") errno=Some(1)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("covered"),
        "the message names the likely cause: {stdout}"
    );
}

/// Ubuntu 23.10 and later: with `kernel.apparmor_restrict_unprivileged_userns = 1`,
/// `CLONE_NEWUSER` succeeds for an unprivileged program without an AppArmor profile allowing
/// `userns`, and the first step that needs a capability in the new namespace fails with
/// `EPERM`. Simulated: the sysctl file reads 1 (a tmpfs over `/proc/sys/kernel` in the helper's
/// mount namespace) and a seccomp filter refuses mount(2) with `EPERM`. For an unprivileged
/// caller the error and the probe name AppArmor and the fix; root, whom the restriction never
/// applies to, gets the plain error naming the step.
#[test]
fn apparmor_userns_restriction_names_the_fix() {
    if std::env::var(ROLE).as_deref() == Ok("apparmor") {
        deny_syscall(libc::SYS_mount, libc::EPERM);
        let err = current_thread_rt()
            .block_on(Command::new("/bin/true").spawn_async())
            .expect_err("mount(2) is refused");
        println!("error: {err}");
        println!("probe: {}", tokio_sandbox::probe().user_namespace);
        return;
    }
    if !common::host::sandbox_or_skip() {
        return;
    }
    if !common::has("/usr/bin/unshare") {
        common::missing("unshare (util-linux)");
        return;
    }
    let fake = "mount -t tmpfs tmpfs /proc/sys/kernel && \
                echo 1 > /proc/sys/kernel/apparmor_restrict_unprivileged_userns";
    let uid = rustix::process::getuid().as_raw();
    let gid = rustix::process::getgid().as_raw();
    let cover = if common::is_root() {
        format!("{fake} && exec \"$0\" \"$@\"")
    } else {
        format!("{fake} && exec unshare --user --map-user={uid} --map-group={gid} \"$0\" \"$@\"")
    };
    let mut wrapper = vec!["unshare", "--mount", "--propagation", "private"];
    if !common::is_root() {
        wrapper.extend(["--user", "--map-root-user"]);
    }
    wrapper.extend(["sh", "-c", &cover]);
    let (stdout, ok) = run_helper(
        "apparmor_userns_restriction_names_the_fix",
        "apparmor",
        &wrapper,
    );
    assert!(ok, "{stdout}");
    let step = "sandbox setup failed at tmpfs root (/tmp): mount(";
    assert!(stdout.contains(&format!("error: {step}")), "{stdout}");
    let apparmor = "AppArmor refuses capabilities in new user namespaces to programs without a \
                    profile that allows them here, kernel.apparmor_restrict_unprivileged_userns \
                    = 1: install one for this program, printed by `tokio-sandbox \
                    --apparmor-profile /path/to/program`, or, as root, set that sysctl to 0";
    let named = stdout.matches(apparmor).count();
    if common::is_root() {
        assert_eq!(named, 0, "root is not restricted: {stdout}");
    } else {
        // In the error and in the probe's reason.
        assert_eq!(named, 2, "{stdout}");
        assert!(stdout.contains(&format!("probe: no ({step}")), "{stdout}");
    }
}

/// The caller's working directory is kept when the sandbox has it because it holds a bound
/// path, so a relative `--rw out` works with relative paths (`out/f`).
#[test]
fn cwd_is_kept_when_it_holds_a_bound_path() {
    if std::env::var(ROLE).as_deref() == Ok("cwd") {
        let out = current_thread_rt().block_on(async {
            Command::new("sh")
                .args(["-c", "pwd; echo hi > out/f"])
                .read_write("out")
                .output()
                .await
                .expect("spawn")
        });
        print!("{}", String::from_utf8_lossy(&out.stdout));
        println!("code={:?}", out.status.code());
        return;
    }
    if !common::host::sandbox_or_skip() {
        return;
    }
    let d = common::rw_dir();
    let out_dir = d.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let (uid, gid) = common::sandbox_host_ids();
    std::os::unix::fs::chown(&out_dir, Some(uid), Some(gid)).unwrap();
    let exe = std::env::current_exe().unwrap();
    let out = StdCommand::new(exe)
        .args([
            "--exact",
            "cwd_is_kept_when_it_holds_a_bound_path",
            "--nocapture",
        ])
        .current_dir(d.path())
        .env(ROLE, "cwd")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("{}\ncode=Some(0)\n", d.path().display())),
        "{stdout}"
    );
    assert_eq!(std::fs::read_to_string(out_dir.join("f")).unwrap(), "hi\n");
}

/// Runs test `name` again as a helper with `ROLE=role` from working directory `dir`; returns
/// its stdout.
fn run_helper_in(dir: &std::path::Path, name: &str, role: &str) -> String {
    let out = StdCommand::new(std::env::current_exe().unwrap())
        .args(["--exact", name, "--nocapture"])
        .current_dir(dir)
        .env(ROLE, role)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The working directory inside: the caller's when bound at the same place; `/` when it is not
/// visible, or visible only at another place.
#[test]
fn cwd_is_the_callers_when_visible_else_root() {
    const NAME: &str = "cwd_is_the_callers_when_visible_else_root";
    if let Ok(role @ ("cwd_bound" | "cwd_hidden" | "cwd_elsewhere")) =
        std::env::var(ROLE).as_deref()
    {
        {
            let cwd = std::env::current_dir().unwrap();
            let out = current_thread_rt().block_on(async {
                let mut cmd = Command::new("/usr/bin/pwd");
                match role {
                    "cwd_bound" => {
                        cmd.read_only(&cwd);
                    }
                    "cwd_elsewhere" => {
                        cmd.bind(&cwd, "/elsewhere", false);
                    }
                    _ => {}
                }
                cmd.output().await.expect("spawn")
            });
            print!("RESULT:{}", String::from_utf8_lossy(&out.stdout));
            return;
        }
    }
    if !common::host::sandbox_or_skip() {
        return;
    }
    let d = common::rw_dir();
    let expected = format!("RESULT:{}\n", d.path().display());
    assert!(run_helper_in(d.path(), NAME, "cwd_bound").contains(&expected));
    assert!(run_helper_in(d.path(), NAME, "cwd_hidden").contains("RESULT:/\n"));
    assert!(run_helper_in(d.path(), NAME, "cwd_elsewhere").contains("RESULT:/\n"));
}

/// probe() on this host: what it reports matches what the kernel answers directly.
#[test]
fn probe_reports_this_host() {
    let p = tokio_sandbox::probe();
    assert!(p.clone3.is_available());
    // Available, or refused for a reason the host shows (switched off, a container's /proc or
    // seccomp filter); `user_namespace` fails the test when there is no such reason.
    match common::host::user_namespace() {
        Ok(()) => assert!(p.user_namespace.is_available(), "{}", p.user_namespace),
        Err(why) => eprintln!("user namespaces are refused here: {why}"),
    }
    // SAFETY: landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION) reads nothing.
    let abi = unsafe { libc::syscall(libc::SYS_landlock_create_ruleset, 0usize, 0usize, 1u32) };
    assert_eq!(p.landlock_abi, u32::try_from(abi).ok());
    assert_eq!(p.landlock.is_available(), abi > 0, "{}", p.landlock);
    assert!(p.mount_setattr.is_available());
    let controllers = p
        .cgroup_v2
        .cgroup
        .as_ref()
        .and_then(|c| std::fs::read_to_string(c.join("cgroup.controllers")).ok())
        .unwrap_or_default();
    for c in &p.cgroup_v2.missing {
        assert!(!controllers.split_whitespace().any(|x| x == *c), "{c}");
    }
    assert_eq!(p, tokio_sandbox::probe(), "cached");
}

/// Docker's default profile: clone3 is ENOSYS and CLONE_NEWUSER is EPERM. The probe says
/// clone3 and user namespaces are unavailable, and spawning fails with a clear error.
#[test]
fn probe_under_a_docker_like_filter() {
    if std::env::var(ROLE).as_deref() == Ok("docker") {
        use seccompiler::{SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompRule};
        let newuser = || {
            SeccompRule::new(vec![SeccompCondition::new(
                0,
                SeccompCmpArgLen::Dword,
                SeccompCmpOp::MaskedEq(libc::CLONE_NEWUSER as u64),
                libc::CLONE_NEWUSER as u64,
            )
            .unwrap()])
            .unwrap()
        };
        let eperm: BpfProgram = SeccompFilter::new(
            [
                (libc::SYS_clone, vec![newuser()]),
                (libc::SYS_unshare, vec![newuser()]),
            ]
            .into_iter()
            .collect(),
            SeccompAction::Allow,
            SeccompAction::Errno(libc::EPERM as u32),
            TargetArch::x86_64,
        )
        .unwrap()
        .try_into()
        .unwrap();
        deny_syscall(libc::SYS_clone3, libc::ENOSYS);
        seccompiler::apply_filter(&eperm).unwrap();
        let p = tokio_sandbox::probe();
        println!("clone3={} userns={}", p.clone3, p.user_namespace);
        // Best effort for what only namespaces give: the sandbox runs on Landlock alone and
        // says so; unlisted paths are EACCES (Landlock) instead of ENOENT.
        let rt = current_thread_rt();
        // Network stays required: without a network namespace, seccomp refuses socket(2).
        let sockets = "import socket\n\
            for f in (socket.AF_INET, socket.AF_INET6, socket.AF_UNIX, socket.AF_NETLINK):\n\
            \x20   try:\n\
            \x20       socket.socket(f, socket.SOCK_DGRAM); print(int(f), 'ok')\n\
            \x20   except OSError as e:\n\
            \x20       print(int(f), e.errno)\n\
            a, b = socket.socketpair(); a.send(b'pair'); print(b.recv(4).decode())\n";
        let mut cmd = Command::new("/bin/sh");
        cmd.args([
            "-c",
            "cat /etc/shadow /root/.profile; echo x > /usr/x; echo ran; python3 -c \"$1\"",
            "sh",
            sockets,
        ])
        .policy_mut()
        .require(Property::Processes, Requirement::BestEffort);
        let child = rt
            .block_on(
                cmd.stdout(tokio_sandbox::Stdio::piped())
                    .stderr(tokio_sandbox::Stdio::piped())
                    .spawn_async(),
            )
            .unwrap();
        for r in &child.enforcement().properties {
            println!(
                "{:?}: {:?} / {:?}",
                r.property,
                r.layers,
                r.not_enforced.is_some()
            );
        }
        let out = rt.block_on(child.wait_with_output()).unwrap();
        print!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        // Required (the default): a typed error naming the mechanism.
        let err = rt
            .block_on(Command::new("/bin/true").spawn_async())
            .unwrap_err();
        println!("required: {err}");
        return;
    }
    if !common::host::landlock_or_skip() {
        return;
    }
    let (stdout, ok) = run_helper("probe_under_a_docker_like_filter", "docker", &[]);
    assert!(ok);
    assert!(stdout.contains("Filesystem: [\"Landlock ABI "), "{stdout}");
    // Without a pid namespace, Landlock ABI 6 still keeps signals inside.
    let abi = common::host::landlock_abi().unwrap();
    let processes = if abi >= 6 {
        format!("[\"Landlock ABI {abi} (signals scoped)\"]")
    } else {
        "[]".to_string()
    };
    assert!(
        stdout.contains(&format!(
            "\"] / true\nNetwork: [\"seccomp (no socket(2); socket pairs only)\"] / false\n\
             Processes: {processes} / true\nSyscalls: [\"seccomp\"] / false\n"
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "ran\n2 13\n10 13\n1 13\n16 13\npair\ncat: /etc/shadow: Permission denied\ncat: /root/.profile: Permission denied\n\
             sh: 1: cannot create /usr/x: Permission denied\n"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("required: a user namespace is required by the policy but unavailable"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "clone3=no (ENOSYS) userns=no (a user namespace is required by the policy but \
             unavailable: clone with CLONE_NEWUSER: Operation not permitted"
        ),
        "{stdout}"
    );
}

/// Podman's default seccomp profile, for a container without `CAP_SYS_ADMIN`: clone with
/// `CLONE_NEWUSER` and mounts are allowed, sethostname(2) is `EPERM`. The probe says user
/// namespaces work and the host name cannot be set; a default spawn fails at that step with
/// the cause and the fix named; with an empty host name the sandbox runs with every namespace
/// and keeps this host's name.
#[test]
fn probe_under_a_podman_like_filter() {
    if std::env::var(ROLE).as_deref() == Ok("podman") {
        deny_syscall(libc::SYS_sethostname, libc::EPERM);
        let p = tokio_sandbox::probe();
        println!("userns={} hostname={}", p.user_namespace, p.hostname);
        let rt = current_thread_rt();
        let err = rt
            .block_on(Command::new("/bin/true").spawn_async())
            .unwrap_err();
        println!("default: {err}");
        let mut cmd = Command::new("/bin/sh");
        cmd.args([
            "-c",
            "cat /proc/sys/kernel/hostname /etc/hostname; readlink /proc/self/ns/uts",
        ]);
        cmd.policy_mut().hostname("");
        let out = rt.block_on(async { cmd.output().await }).unwrap();
        print!(
            "empty: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        return;
    }
    if !common::host::sandbox_or_skip() {
        return;
    }
    let (stdout, ok) = run_helper("probe_under_a_podman_like_filter", "podman", &[]);
    assert!(ok, "{stdout}");
    assert!(
        stdout.contains(
            "userns=yes hostname=no (sandbox setup failed at hostname: sethostname: Operation \
             not permitted (os error 1) (a seccomp filter of this process refuses \
             sethostname(2)"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "default: sandbox setup failed at hostname: sethostname: Operation not permitted \
             (os error 1) (a seccomp filter of this process refuses sethostname(2), as a \
             container's default profile does without CAP_SYS_ADMIN (podman's); an empty host \
             name (Policy::hostname(\"\"), hostname = \"\" in a policy file)"
        ),
        "{stdout}"
    );
    let name = rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned();
    // The name is this host's, the UTS namespace the sandbox's own.
    let uts = std::fs::read_link("/proc/self/ns/uts").unwrap();
    let uts = uts.to_string_lossy();
    assert!(
        stdout.contains(&format!("empty: {name}\n{name}\nuts:[")),
        "{stdout}"
    );
    assert!(!stdout.contains(&format!("\n{uts}\n")), "{stdout}");
}

/// An older Landlock ABI, by the documented cap: the kernel enforces that ABI's rights for
/// real. ABI 1 has no REFER right, so a rename across directories of a read-write tree is
/// EXDEV; from ABI 2 it works (C17). The report names the ABI used.
#[test]
fn c17_landlock_abi_cap() {
    if let Ok(role) = std::env::var(ROLE) {
        if let Some(abi) = role.strip_prefix("abi") {
            let dir = std::env::var("TSB_DIR").unwrap();
            let script = format!(
                "import os\nos.makedirs('{dir}/a', exist_ok=True)\nos.makedirs('{dir}/b', exist_ok=True)\n\
                 open('{dir}/a/f', 'w').write('f')\n\
                 try:\n    os.rename('{dir}/a/f', '{dir}/b/f')\n    print('renamed')\n\
                 except OSError as e:\n    print('errno', e.errno)"
            );
            let rt = current_thread_rt();
            let mut cmd = Command::new("python3");
            cmd.args(["-c", &script]).read_write(&dir);
            let child = rt
                .block_on(cmd.stdout(tokio_sandbox::Stdio::piped()).spawn_async())
                .unwrap();
            println!("abi={:?} cap={abi}", child.enforcement().landlock_abi);
            let out = rt.block_on(child.wait_with_output()).unwrap();
            print!("{}", String::from_utf8_lossy(&out.stdout));
        }
        return;
    }
    if !common::host::sandbox_or_skip() {
        return;
    }
    if !common::python3_or_skip() {
        return;
    }
    for (abi, expected) in [("1", "errno 18"), ("2", "renamed")] {
        let d = common::rw_dir();
        let out = StdCommand::new(std::env::current_exe().unwrap())
            .args(["--exact", "c17_landlock_abi_cap", "--nocapture"])
            .env(ROLE, format!("abi{abi}"))
            .env(tokio_sandbox::landlock::ABI_MAX_ENV, abi)
            .env("TSB_DIR", d.path())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.contains(&format!("abi=Some({abi}) cap={abi}\n{expected}\n")),
            "ABI {abi}: {stdout}"
        );
    }
}

/// On a real host that refuses what the default sandbox needs, the mode it supports: without
/// usable user namespaces (`user.max_user_namespaces=0`, a container's seccomp profile),
/// Landlock and seccomp alone with processes best effort, where "no network" still holds
/// (every `socket(2)` is `EACCES`, socket pairs work) and unlisted paths are `EACCES`; where
/// the kernel refuses a fresh procfs (a container's masked `/proc`), every namespace with
/// the filesystem best effort and no `/proc` (only loopback in the network namespace); without
/// Landlock (not built in, or disabled at boot), every namespace with the filesystem best
/// effort, held by the mount namespace alone (unlisted paths are `ENOENT`). The report says
/// what was left out and why. Hosts with the default sandbox have the simulated tests above.
#[tokio::test]
async fn the_mode_this_host_supports() {
    use common::host::Mode;
    let mode = match common::host::mode() {
        Ok(Mode::Full) => {
            common::skip(
                "this host runs the default sandbox (its degraded modes are simulated above)",
            );
            return;
        }
        Err(why) => {
            common::skip(&format!("no sandbox runs here (checked): {why}"));
            return;
        }
        Ok(mode) => mode.clone(),
    };
    if !common::python3_or_skip() {
        return;
    }
    let script = "import os, socket\n\
        for f in (socket.AF_INET, socket.AF_INET6, socket.AF_UNIX):\n\
        \x20   try:\n\
        \x20       socket.socket(f, socket.SOCK_DGRAM); print(int(f), 'ok')\n\
        \x20   except OSError as e:\n\
        \x20       print(int(f), e.errno)\n\
        a, b = socket.socketpair(); a.send(b'pair'); print(b.recv(4).decode())\n\
        try:\n\
        \x20   open('/etc/shadow'); print('shadow readable')\n\
        except OSError as e:\n\
        \x20   print('shadow', e.errno)\n\
        print('proc', os.path.exists('/proc/self/status'))\n";
    let mut cmd = Command::new("python3");
    cmd.args(["-c", script]);
    let property = match &mode {
        Mode::LandlockOnly(_) => Property::Processes,
        _ => Property::Filesystem,
    };
    cmd.policy_mut().require(property, Requirement::BestEffort);
    // A container's seccomp profile may refuse sethostname(2) (podman's, without
    // CAP_SYS_ADMIN): the sandbox then keeps this host's name, as the probe advises.
    let probe = tokio_sandbox::probe();
    if probe.user_namespace.is_available() && !probe.hostname.is_available() {
        assert!(
            common::host::under_seccomp_filter(),
            "the probe says sethostname is refused ({}), but no seccomp filter is installed",
            probe.hostname
        );
        eprintln!("the host name is kept: {}", probe.hostname);
        cmd.policy_mut().hostname("");
    }
    let child = cmd
        .stdout(tokio_sandbox::Stdio::piped())
        .stderr(tokio_sandbox::Stdio::piped())
        .spawn()
        .unwrap();
    let report: Vec<_> = child
        .enforcement()
        .properties
        .iter()
        .map(|r| (r.property, r.layers.clone(), r.not_enforced.clone()))
        .collect();
    let out = child.wait_with_output().await.unwrap();
    let stdout = common::stdout(&out);
    let find = |p: Property| report.iter().find(|r| r.0 == p).unwrap().clone();
    match &mode {
        Mode::LandlockOnly(why) => {
            eprintln!("Landlock-only mode: {why}");
            assert!(
                stdout.starts_with("2 13\n10 13\n1 13\npair\nshadow 13\n"),
                "{stdout}{}",
                common::stderr(&out)
            );
            let net = find(Property::Network);
            assert_eq!(
                net.1,
                ["seccomp (no socket(2); socket pairs only)"],
                "{report:?}"
            );
            assert_eq!(net.2, None);
            let procs = find(Property::Processes);
            assert!(
                procs.2.as_deref().unwrap().contains("pid namespace"),
                "{report:?}"
            );
            let fs = find(Property::Filesystem);
            assert!(fs.1[0].starts_with("Landlock ABI "), "{report:?}");
            assert!(
                fs.2.as_deref().unwrap().contains("mount namespace"),
                "{report:?}"
            );
        }
        Mode::NoLandlock(why) => {
            eprintln!("no-Landlock mode: {why}");
            // Every namespace: sockets in a network namespace of its own, a fresh /proc, and
            // unlisted paths absent from the mount namespace's root.
            assert_eq!(
                stdout,
                "2 ok\n10 ok\n1 ok\npair\nshadow 2\nproc True\n",
                "{}",
                common::stderr(&out)
            );
            assert_eq!(
                find(Property::Network).1,
                ["network namespace"],
                "{report:?}"
            );
            assert_eq!(find(Property::Processes).1, ["pid namespace"], "{report:?}");
            let fs = find(Property::Filesystem);
            assert_eq!(fs.1, ["mount namespace"], "{report:?}");
            // The reason the kernel gives for having no Landlock is in the report.
            let errno = ["ENOSYS", "EOPNOTSUPP"]
                .into_iter()
                .find(|e| why.contains(e))
                .unwrap_or_else(|| panic!("no errno in {why}"));
            let lost = fs.2.as_deref().unwrap_or_default();
            assert!(
                lost.starts_with("Landlock: ") && lost.contains(errno),
                "{report:?}"
            );
        }
        Mode::NoProc(why) => {
            eprintln!("no-/proc mode: {why}");
            // A network namespace of its own: sockets work, but only loopback is there.
            assert_eq!(
                stdout,
                "2 ok\n10 ok\n1 ok\npair\nshadow 2\nproc False\n",
                "{}",
                common::stderr(&out)
            );
            assert_eq!(
                find(Property::Network).1,
                ["network namespace"],
                "{report:?}"
            );
            assert_eq!(find(Property::Processes).1, ["pid namespace"], "{report:?}");
            let fs = find(Property::Filesystem);
            assert!(
                fs.2.as_deref().unwrap().starts_with("no /proc: "),
                "{report:?}"
            );
        }
        Mode::Full => unreachable!(),
    }
}
