//! Helpers shared by the integration tests. Every test spawns real sandboxed processes.
#![allow(dead_code)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Output;

use tokio_sandbox::Command;

/// Whether the tests run as root (CI runs them as root and again as uid 65534).
pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// The host uid/gid a default sandbox runs as: 65534 for a root caller, the caller otherwise.
pub fn sandbox_host_ids() -> (u32, u32) {
    if is_root() {
        (65534, 65534)
    } else {
        (
            rustix::process::geteuid().as_raw(),
            rustix::process::getegid().as_raw(),
        )
    }
}

/// A temporary directory the sandbox's host id can read and write (under /tmp, which every
/// uid can traverse).
pub fn rw_dir() -> tempfile::TempDir {
    let d = tempfile::Builder::new()
        .prefix("tsb-test-")
        .tempdir_in("/tmp")
        .expect("tempdir");
    let (uid, gid) = sandbox_host_ids();
    if is_root() {
        std::os::unix::fs::chown(d.path(), Some(uid), Some(gid)).expect("chown tempdir");
    }
    std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    d
}

/// Runs `sh -c script` in a default sandbox (plus `extra` policy) and returns its output.
pub async fn sh(script: &str, extra: impl FnOnce(&mut Command)) -> Output {
    let mut cmd = Command::new("/bin/sh");
    cmd.args(["-c", script]);
    extra(&mut cmd);
    cmd.output().await.expect("spawn")
}

/// stdout as a String.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// stderr as a String.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `n` scaled by `TSB_TEST_SCALE` (a factor, default 1; at least 1): the host runner's CI
/// selection runs the counting tests with fewer rounds under emulation
/// (`tests/hosts/README.md`).
pub fn scaled(n: usize) -> usize {
    let factor: f64 = std::env::var("TSB_TEST_SCALE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1.0);
    ((n as f64 * factor).round() as usize).max(1)
}

/// A time bound stretched by the inverse of `TSB_TEST_SCALE` (at least 1): a guest under
/// emulation (the host runner's CI selection sets the scale below 1) takes longer for the same
/// work, so a bound such as "the run ended within 1 s of its deadline" gets that much more.
pub fn slack(d: std::time::Duration) -> std::time::Duration {
    let factor: f64 = std::env::var("TSB_TEST_SCALE")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|f: &f64| *f > 0.0)
        .unwrap_or(1.0);
    d.mul_f64((1.0 / factor).max(1.0))
}

/// The CLI: `TOKIO_SANDBOX_CLI` when set (CI runs a copy as another user), else the one cargo
/// built for this test run; `None` (printed) without the `cli` feature.
pub fn cli() -> Option<std::process::Command> {
    let exe = match std::env::var_os("TOKIO_SANDBOX_CLI") {
        Some(exe) => exe,
        None => match option_env!("CARGO_BIN_EXE_tokio-sandbox") {
            Some(exe) => exe.into(),
            None => {
                skip("the CLI is built only with --features cli");
                return None;
            }
        },
    };
    Some(std::process::Command::new(exe))
}

/// Prints why a test is skipped; the caller returns right after.
pub fn skip(reason: &str) {
    eprintln!("SKIPPED: {reason}");
}

/// Whether `path` exists on the host (for tests that need a program such as python3).
pub fn has(path: &str) -> bool {
    Path::new(path).exists()
}

/// Reports a missing host tool: a failure on CI (whose `.ci/run` installs what the tests need),
/// a printed skip elsewhere. The caller returns right after.
pub fn missing(tool: &str) {
    if std::env::var_os("CI").is_some() {
        panic!("{tool} is missing on CI, where .ci/run installs it");
    }
    skip(&format!("{tool} is not installed"));
}

/// The kernel's overflow uid and gid (`/proc/sys/kernel/overflow{uid,gid}`): how an owner the
/// sandbox does not map shows inside.
pub fn overflow_ids() -> (u32, u32) {
    let read = |name: &str| {
        std::fs::read_to_string(format!("/proc/sys/kernel/{name}"))
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(65534)
    };
    (read("overflowuid"), read("overflowgid"))
}

/// The uid/gid a default sandbox has inside: its host ids, except that an overflow id shows as
/// 1000 (so a root caller's sandbox, host 65534, is 1000 inside).
pub fn inside_ids() -> (u32, u32) {
    let (uid, gid) = sandbox_host_ids();
    let (ou, og) = overflow_ids();
    (
        if uid == ou { 1000 } else { uid },
        if gid == og { 1000 } else { gid },
    )
}

/// User name and `HOME` of a default sandbox, after its inside uid (`root` for 0, `nobody`
/// for 65534, `sandbox` for any other).
pub fn default_user() -> (&'static str, &'static str) {
    match inside_ids().0 {
        0 => ("root", "/root"),
        65534 => ("nobody", "/home/nobody"),
        _ => ("sandbox", "/home/sandbox"),
    }
}

/// The environment of a default sandbox whose stdio is not a terminal, as sorted `NAME=VALUE`
/// lines: `HOME`, `LANG=C.UTF-8` (where the host has that locale), `LOGNAME`, `PATH`,
/// `SHELL=/bin/sh`, `TMPDIR=/tmp`, `USER`.
pub fn default_env() -> Vec<String> {
    let (user, home) = default_user();
    let mut env = vec![
        format!("HOME={home}"),
        format!("LOGNAME={user}"),
        format!("PATH={}", tokio_sandbox::DEFAULT_PATH),
        "SHELL=/bin/sh".to_string(),
        "TMPDIR=/tmp".to_string(),
        format!("USER={user}"),
    ];
    let utf8 = ["/usr/lib/locale/C.utf8", "/usr/lib/locale/C.UTF-8"];
    if utf8.iter().any(|p| Path::new(p).is_dir()) {
        env.push("LANG=C.UTF-8".to_string());
    }
    env.sort();
    env
}

/// [`default_env`] as `env(1)` prints it.
pub fn default_env_text() -> String {
    default_env().iter().map(|l| format!("{l}\n")).collect()
}

/// A name quoted as coreutils quote it in the messages of a default sandbox (`mkdir`, `rmdir`):
/// `‘name’` in its UTF-8 locale, `'name'` where the host has no `C.UTF-8`.
pub fn quoted(name: &str) -> String {
    if default_env().iter().any(|l| l == "LANG=C.UTF-8") {
        format!("\u{2018}{name}\u{2019}")
    } else {
        format!("'{name}'")
    }
}

/// Whether python3 is there for a test that runs it; reports the skip (a failure on CI, whose
/// machine has it) when it is not.
pub fn python3_or_skip() -> bool {
    if has("/usr/bin/python3") {
        true
    } else {
        missing("python3");
        false
    }
}

/// A new pseudo-terminal: (master, slave) (openpty(3)).
pub fn openpty() -> std::io::Result<(std::os::fd::OwnedFd, std::os::fd::OwnedFd)> {
    use std::os::fd::FromRawFd;
    let (mut master, mut slave) = (0, 0);
    // SAFETY: openpty fills the two descriptors; the name and terminal settings may be null.
    let r = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    if r != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: openpty returned these two open descriptors, owned by the caller from now on.
    Ok(unsafe {
        (
            std::os::fd::OwnedFd::from_raw_fd(master),
            std::os::fd::OwnedFd::from_raw_fd(slave),
        )
    })
}

/// What this host offers a sandbox, read from the kernel directly and checked against
/// [`tokio_sandbox::probe`]: a test that needs a feature the host lacks asserts the documented
/// refusal and skips, naming the feature; where the kernel has the feature, the probe must say
/// so too, or the test fails (a skip is never possible on a host that has it).
pub mod host {
    use std::sync::OnceLock;

    use tokio_sandbox::Availability;

    /// A `/proc/sys` value, trimmed (`None` when the file does not exist).
    pub fn sysctl(path: &str) -> Option<String> {
        std::fs::read_to_string(format!("/proc/sys/{path}"))
            .ok()
            .map(|s| s.trim().to_string())
    }

    /// The Landlock ABI the kernel answers (`landlock_create_ruleset` with
    /// `LANDLOCK_CREATE_RULESET_VERSION`), or why there is none.
    pub fn kernel_landlock_abi() -> Result<u32, String> {
        // SAFETY: a NULL attribute with size 0 and the VERSION flag only asks for the ABI.
        let r = unsafe {
            libc::syscall(
                libc::SYS_landlock_create_ruleset,
                std::ptr::null::<u8>(),
                0usize,
                1u32,
            )
        };
        if r >= 0 {
            return Ok(r as u32);
        }
        Err(match std::io::Error::last_os_error().raw_os_error() {
            Some(libc::ENOSYS) => "Landlock is not built into this kernel (ENOSYS)".into(),
            Some(libc::EOPNOTSUPP) => "Landlock is disabled at boot (EOPNOTSUPP)".into(),
            e => format!("Landlock answers errno {e:?}"),
        })
    }

    /// The Landlock ABI sandboxes use here, or why Landlock is unavailable. Fails the test
    /// when the probe and the kernel disagree.
    pub fn landlock_abi() -> Result<u32, String> {
        let probe = tokio_sandbox::probe();
        match (kernel_landlock_abi(), probe.landlock_abi) {
            (Ok(k), Some(p)) => {
                assert!(p >= 1 && p <= k, "the probe says ABI {p}, the kernel {k}");
                Ok(p)
            }
            (Err(why), None) => Err(why),
            (k, p) => panic!("the kernel's Landlock ({k:?}) and the probe's ({p:?}) disagree"),
        }
    }

    /// Whether a seccomp filter is installed on this process (as in a container).
    pub fn under_seccomp_filter() -> bool {
        std::fs::read_to_string("/proc/self/status")
            .unwrap_or_default()
            .lines()
            .any(|l| l.starts_with("Seccomp:") && l.trim_end().ends_with('2'))
    }

    /// Mounts over entries of `/proc` (a container's masked paths), which make the kernel
    /// refuse a fresh procfs in a user namespace.
    pub fn proc_covered() -> Vec<String> {
        std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split_whitespace().nth(4).map(String::from))
            .filter(|m| m.starts_with("/proc/") && m != "/proc/sys/fs/binfmt_misc")
            .collect()
    }

    /// Why this host refuses user namespaces to this caller, from the kernel's own switches
    /// and the caller's confinement; `None` when nothing does.
    pub fn userns_refused_by() -> Option<String> {
        if sysctl("user/max_user_namespaces").as_deref() == Some("0") {
            return Some("user namespaces are off (user.max_user_namespaces = 0)".into());
        }
        if !super::is_root() && sysctl("kernel/unprivileged_userns_clone").as_deref() == Some("0") {
            return Some(
                "unprivileged user namespaces are off (kernel.unprivileged_userns_clone = 0)"
                    .into(),
            );
        }
        if !super::is_root()
            && sysctl("kernel/apparmor_restrict_unprivileged_userns").as_deref() == Some("1")
        {
            return Some(
                "AppArmor restricts unprivileged user namespaces \
                 (kernel.apparmor_restrict_unprivileged_userns = 1)"
                    .into(),
            );
        }
        let covered = proc_covered();
        if !covered.is_empty() {
            return Some(format!(
                "the host's /proc has covered entries ({}), so the kernel refuses a fresh procfs",
                covered.join(", ")
            ));
        }
        if under_seccomp_filter() {
            return Some("this process runs under a seccomp filter (a container's)".into());
        }
        None
    }

    /// Whether sandboxes with a user namespace (the default) can be set up here, or why not.
    /// Fails the test when the probe says no and the host gives no reason for it.
    pub fn user_namespace() -> Result<(), String> {
        let Availability::Unavailable(why) = &tokio_sandbox::probe().user_namespace else {
            return Ok(());
        };
        match userns_refused_by() {
            Some(cause) => Err(format!("{cause}; the probe: {why}")),
            None => panic!(
                "the probe says user namespaces are unavailable ({why}), but this host neither \
                 switches them off nor confines this process"
            ),
        }
    }

    /// Whether sandboxes get a fresh procfs here, or why not. Fails the test when the probe
    /// says no and the host's /proc shows no reason for it.
    pub fn fresh_proc() -> Result<(), String> {
        let Availability::Unavailable(why) = &tokio_sandbox::probe().proc_mount else {
            return Ok(());
        };
        let covered = proc_covered();
        if covered.is_empty() {
            panic!(
                "the probe says a fresh /proc is refused ({why}), but no entry of this host's \
                 /proc is covered"
            );
        }
        Err(format!(
            "the host's /proc has covered entries ({}), so the kernel refuses a fresh procfs; \
             the probe: {why}",
            covered.join(", ")
        ))
    }

    /// Whether the default policy takes this caller, or why not: an unprivileged caller's
    /// supplementary groups other than its own gid (as `setpriv --groups` or a desktop login
    /// in `sudo`, `adm` or `docker` leaves them) would stay in force inside, which a default
    /// sandbox refuses ([`tokio_sandbox::PolicyError::RetainedGroups`]). Fails the test when
    /// the probe and getgroups(2) disagree.
    pub fn retained_groups() -> Result<(), String> {
        let egid = rustix::process::getegid();
        let groups: Vec<u32> = if super::is_root() {
            Vec::new()
        } else {
            rustix::process::getgroups()
                .expect("getgroups")
                .into_iter()
                .filter(|g| *g != egid)
                .map(|g| g.as_raw())
                .collect()
        };
        assert_eq!(
            tokio_sandbox::probe().retained_groups,
            groups,
            "the probe's retained groups and getgroups(2) disagree"
        );
        if groups.is_empty() {
            return Ok(());
        }
        Err(format!(
            "this caller's supplementary groups ({}) would stay in force inside, which the \
             default policy refuses (tests/cli.rs and the C38 tests check that and the opt-in); \
             run the suite without supplementary groups",
            groups
                .iter()
                .map(|g| g.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ))
    }

    /// Whether sandboxes may set their host name here, or why not. Fails the test when the
    /// probe says no and no seccomp filter of this process explains it.
    pub fn hostname() -> Result<(), String> {
        let Availability::Unavailable(why) = &tokio_sandbox::probe().hostname else {
            return Ok(());
        };
        assert!(
            under_seccomp_filter(),
            "the probe says sethostname is refused ({why}), but this process has no seccomp filter"
        );
        Err(format!(
            "this process's seccomp filter refuses sethostname(2) (a container's); the probe: \
             {why}"
        ))
    }

    /// Whether a default sandbox (user namespace, a fresh /proc, its host name, Landlock,
    /// seccomp) can run here for this caller, or why not.
    pub fn default_sandbox() -> Result<(), String> {
        user_namespace()?;
        fresh_proc()?;
        hostname()?;
        landlock_abi()?;
        retained_groups()
    }

    /// How the suite's sandboxes run on this host.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum Mode {
        /// Every layer of the default policy.
        Full,
        /// Every namespace, but no /proc (the kernel refuses a fresh procfs, as in a
        /// container): the suite's policies make the filesystem best effort.
        NoProc(String),
        /// Landlock and seccomp alone (no usable user namespaces): the suite's policies make
        /// the processes property best effort (and the network below Landlock ABI 6).
        LandlockOnly(String),
        /// Every namespace, but no Landlock (not built in, or disabled at boot): the suite's
        /// policies make the filesystem best effort, which the mount namespace then holds
        /// alone.
        NoLandlock(String),
    }

    /// The mode this host supports, or why no sandbox runs here at all. The first call checks
    /// that a default sandbox is refused as documented where it cannot run.
    pub fn mode() -> &'static Result<Mode, String> {
        static MODE: OnceLock<Result<Mode, String>> = OnceLock::new();
        MODE.get_or_init(|| {
            let why = match default_sandbox() {
                Ok(()) => return Ok(Mode::Full),
                Err(why) => why,
            };
            refused_as_documented(&why);
            if landlock_abi().is_err() {
                let namespaces = user_namespace()
                    .and_then(|()| fresh_proc())
                    .and_then(|()| retained_groups());
                return match namespaces {
                    Ok(()) => Ok(Mode::NoLandlock(why)),
                    Err(_) => Err(why),
                };
            }
            if user_namespace().is_err() {
                Ok(Mode::LandlockOnly(why))
            } else {
                Ok(Mode::NoProc(why))
            }
        })
    }

    /// This process's cgroup v2 directory now (read from `/proc/self/cgroup`).
    pub fn own_cgroup() -> Option<std::path::PathBuf> {
        let mount = tokio_sandbox::probe().cgroup_v2.mount.clone()?;
        let text = std::fs::read_to_string("/proc/self/cgroup").ok()?;
        let rel = text.lines().find_map(|l| l.strip_prefix("0::"))?;
        let rel = rel.trim().trim_start_matches('/');
        Some(if rel.is_empty() {
            mount
        } else {
            mount.join(rel)
        })
    }

    fn all_needed(list: &str) -> bool {
        ["memory", "pids", "cpu"]
            .iter()
            .all(|c| list.split_whitespace().any(|e| e == *c))
    }

    fn read(dir: &std::path::Path, file: &str) -> String {
        std::fs::read_to_string(dir.join(file)).unwrap_or_default()
    }

    fn writable(path: &std::path::Path) -> bool {
        rustix::fs::access(path, rustix::fs::Access::WRITE_OK).is_ok()
    }

    /// Where sandbox cgroups should go here, from the cgroup files (after the probe, which
    /// moves a caller of a delegated cgroup into its leaf): the real root cgroup when the host
    /// enabled memory, pids and cpu there, or the parent of the leaf this process is in when
    /// that parent enables them; else `None`.
    pub fn expected_cgroup_parent() -> Option<std::path::PathBuf> {
        let own = own_cgroup()?;
        let real_root = !own.join("cgroup.type").exists();
        let candidate = if real_root {
            own
        } else if own.file_name()? == tokio_sandbox::CALLER_LEAF {
            own.parent()?.to_path_buf()
        } else {
            return None;
        };
        (all_needed(&read(&candidate, "cgroup.subtree_control"))
            && writable(&candidate)
            && writable(&candidate.join("cgroup.procs")))
        .then_some(candidate)
    }

    /// This process's cgroup when a cgroup v2 subtree with the memory, pids and cpu
    /// controllers is delegated to it and it is the only process there, so that the library
    /// should have moved it into its leaf and given sandboxes cgroup limits: the controllers
    /// are in its `cgroup.controllers`, this process may write the directory, `cgroup.procs`
    /// and `cgroup.subtree_control`, and for root the cgroup is marked delegated as systemd's
    /// `Delegate=yes` marks it (`trusted.delegate`). The root cgroup is not delegated to
    /// anyone.
    pub fn cgroup_delegated_to_caller() -> Option<std::path::PathBuf> {
        let dir = own_cgroup()?;
        if !dir.join("cgroup.type").exists() {
            return None;
        }
        let files_writable = writable(&dir)
            && writable(&dir.join("cgroup.procs"))
            && writable(&dir.join("cgroup.subtree_control"));
        let marked = !super::is_root()
            || ["trusted.delegate", "user.delegate"].iter().any(|n| {
                let mut buf = [0u8; 8];
                matches!(rustix::fs::getxattr(&dir, *n, &mut buf[..]), Ok(1) if buf[0] == b'1')
            });
        let alone = read(&dir, "cgroup.procs")
            .split_whitespace()
            .collect::<Vec<_>>()
            == [std::process::id().to_string()];
        (all_needed(&read(&dir, "cgroup.controllers")) && files_writable && marked && alone)
            .then_some(dir)
    }

    /// Whether sandboxes get cgroup v2 limits here (else the limits are rlimits). Fails the
    /// test when the probe and the cgroup files disagree.
    pub fn cgroup_limits() -> bool {
        let probe = tokio_sandbox::probe();
        let expected = expected_cgroup_parent();
        assert_eq!(
            probe.cgroup_parent, expected,
            "where the probe puts sandbox cgroups ({:?}) and this process's cgroup files \
             disagree",
            probe.cgroup_limits
        );
        assert_eq!(probe.cgroup_limits.is_available(), expected.is_some());
        expected.is_some()
    }

    /// The cgroup v2 directory of process `pid` (a running sandbox's own cgroup on a host with
    /// cgroup limits).
    pub fn cgroup_of(pid: u32) -> std::path::PathBuf {
        let mount = tokio_sandbox::probe()
            .cgroup_v2
            .mount
            .clone()
            .expect("cgroup2 is mounted");
        let line = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).expect("its cgroup");
        let rel = line
            .lines()
            .find_map(|l| l.strip_prefix("0::"))
            .expect("a cgroup v2 entry");
        mount.join(rel.trim_start_matches('/'))
    }

    /// Whether a default sandbox runs here; when none does, checks that spawning one is
    /// refused with an error naming what is missing, prints the skip (with the mode the host
    /// supports, [`mode`]) and returns false.
    pub fn sandbox_or_skip() -> bool {
        match mode() {
            Ok(Mode::Full) => true,
            Ok(Mode::LandlockOnly(why))
            | Ok(Mode::NoProc(why))
            | Ok(Mode::NoLandlock(why))
            | Err(why) => {
                super::skip(&format!(
                    "a default sandbox is refused here (checked): {why}"
                ));
                false
            }
        }
    }

    /// Whether a sandbox of the namespace layers alone (a user namespace, a fresh /proc, its
    /// host name) can be set up here, or why not.
    pub fn namespaces() -> Result<(), String> {
        user_namespace()?;
        fresh_proc()?;
        hostname()?;
        retained_groups()
    }

    /// Whether sandboxes of the namespace layers can be set up here (for tests that need the
    /// namespaces but not Landlock); when not, checks the refusal and prints the skip.
    pub fn user_namespace_or_skip() -> bool {
        skip_unless(namespaces())
    }

    /// Whether Landlock is there (for tests that need it but not the namespaces); when not,
    /// checks the refusal and prints the skip.
    pub fn landlock_or_skip() -> bool {
        skip_unless(landlock_abi().and_then(|_| retained_groups()))
    }

    /// Whether TCP port allow-lists can be enforced here (Landlock ABI 4). When not, checks
    /// that a policy with one is refused with the typed error naming this host's ABI, and
    /// prints the skip. Call after [`sandbox_or_skip`].
    pub fn landlock_tcp_or_skip() -> bool {
        let abi = landlock_abi().expect("Landlock (checked by sandbox_or_skip first)");
        if abi >= 4 {
            return true;
        }
        let err = std::thread::spawn(|| {
            let mut cmd = tokio_sandbox::Command::new("/bin/true");
            cmd.network(tokio_sandbox::Network::Host)
                .policy_mut()
                .allow_tcp_connect(9);
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            match rt.block_on(cmd.spawn_async()) {
                Ok(_) => panic!("a TCP allow-list runs below Landlock ABI 4"),
                Err(e) => e,
            }
        })
        .join()
        .unwrap();
        match &err {
            tokio_sandbox::SpawnError::Unsupported { mechanism, reason } => {
                assert_eq!(*mechanism, "Landlock TCP rules");
                assert!(reason.contains(&format!("ABI {abi}")), "{reason}");
            }
            other => panic!("expected the Landlock TCP rules refusal, got {other:?}"),
        }
        super::skip(&format!(
            "TCP allow-lists need Landlock ABI 4, this host has ABI {abi} (refused as documented)"
        ));
        false
    }

    fn skip_unless(have: Result<(), String>) -> bool {
        match have {
            Ok(()) => true,
            Err(why) => {
                refused_as_documented(&why);
                super::skip(&format!(
                    "a default sandbox is refused here (checked): {why}"
                ));
                false
            }
        }
    }

    /// Spawns a default sandbox (on a thread of its own, outside the caller's runtime) and
    /// asserts it fails with the error for `why`.
    fn refused_as_documented(why: &str) {
        let why = why.to_string();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let err = rt
                .block_on(async { tokio_sandbox::Command::new("/bin/true").status().await })
                .expect_err("a default sandbox is refused on this host");
            let msg = err.to_string();
            let named = if why.contains("supplementary groups") {
                msg.contains("Policy::allow_retained_groups(true)")
            } else if why.contains("Landlock") {
                msg.contains("Landlock")
            } else if why.contains("covered entries") {
                msg.contains("/proc")
            } else if why.contains("sethostname") {
                msg.contains("sethostname")
            } else {
                msg.contains("user namespace") || msg.contains("CLONE_NEWUSER")
            };
            assert!(
                named,
                "the refusal does not name what is missing ({why}): {msg}"
            );
        })
        .join()
        .expect("the refusal check");
    }
}

/// The environment variable naming the helper test that a re-run of a test binary runs.
pub const HELPER: &str = "TSB_TEST_HELPER";

/// Whether this process was started to run the helper test `name` (see [`run_helper`]).
pub fn is_helper(name: &str) -> bool {
    std::env::var_os(HELPER).is_some_and(|v| v == *name)
}

/// Runs this test binary again with only its test `name` (which returns at once unless
/// [`is_helper`] says it is the helper), changed by `configure` (environment, rlimits, ...),
/// and asserts that it passed within `limit`. For what a test must not do to its own process
/// (set an rlimit, ignore a signal, change its environment).
pub fn run_helper(
    name: &str,
    limit: std::time::Duration,
    configure: impl FnOnce(&mut std::process::Command),
) {
    let exe = std::env::current_exe().expect("current_exe");
    let mut cmd = std::process::Command::new(exe);
    cmd.args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env(HELPER, name)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    configure(&mut cmd);
    let child = cmd.spawn().expect("start the helper process");
    let pid = child.id() as libc::pid_t;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let out = match rx.recv_timeout(limit) {
        Ok(r) => r.expect("wait for the helper"),
        Err(_) => {
            // SAFETY: kill(2) of our own child, which has not been reaped yet.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            panic!("helper {name} did not finish within {limit:?}");
        }
    };
    let (o, e) = (stdout(&out), stderr(&out));
    assert!(
        out.status.success() && o.contains("test result: ok. 1 passed"),
        "helper {name} failed: {:?}\n--- stdout\n{o}\n--- stderr\n{e}",
        out.status
    );
}
