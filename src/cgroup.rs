//! cgroup v2 limits for a whole sandbox (`Documentation/admin-guide/cgroup-v2.rst`).
//!
//! Each sandbox gets a child cgroup with `memory.max`, `pids.max` and `cpu.max`, is placed in
//! it by `clone3(CLONE_INTO_CGROUP)`, and the cgroup is read (`memory.events`, `pids.events`,
//! `memory.peak`) and removed after the run. Elsewhere the limits are rlimits.
//!
//! Where the sandbox cgroups go ([`delegated`]):
//! - the real root cgroup, where the host enabled memory, pids and cpu in its
//!   `cgroup.subtree_control` (the root is exempt from the "no internal processes" rule; the
//!   library never changes the root's controllers);
//! - a cgroup delegated to this process (cgroup-v2.rst, "Delegation"): for an unprivileged
//!   caller one whose directory, `cgroup.procs` and `cgroup.subtree_control` it may write
//!   (systemd's `Delegate=yes` chowns them); for root one that systemd marks delegated (the
//!   `trusted.delegate` or `user.delegate` extended attribute) or the root of its cgroup
//!   namespace (a container's own cgroup). The kernel refuses to enable controllers for the
//!   children of a non-root cgroup that holds processes, and this process is in it; so, when
//!   it is the only process there, it moves itself into a leaf, [`CALLER_LEAF`], enables the
//!   controllers, and sandbox cgroups become siblings of that leaf. A delegated cgroup that
//!   holds other processes is left alone (they are not this process's to move), and the
//!   probe says so;
//! - the parent of a [`CALLER_LEAF`] that this process was started in (a child of such a
//!   caller, e.g. the CLI run by a server), where the controllers are enabled already.
//!
//! What the move does to the caller: every thread of this process is in the leaf from the
//! first spawn or probe on, and so are the children it starts afterwards; its own usage and
//! limits are those of the leaf (none set); it stays inside its delegated cgroup, which holds
//! the same processes as before plus the sandboxes. [`CGROUP_ENV`] opts out: `stay` never moves
//! this process (cgroup limits only where the cgroup is set up already), `off` uses no cgroup
//! at all (rlimits).

use std::fs;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::policy::Limits;

/// The controllers a sandbox's cgroup uses.
pub(crate) const NEEDED: [&str; 3] = ["memory", "pids", "cpu"];

/// The leaf cgroup a caller in a delegated cgroup moves itself into, so that its own cgroup
/// may enable controllers for the sandbox cgroups beside it.
pub const CALLER_LEAF: &str = "tokio-sandbox-caller";

/// The environment variable that chooses how this process's sandboxes use cgroup v2, read at
/// its first spawn or probe: unset or `auto` (the default: see the module's documentation),
/// `stay` (this process is never moved into [`CALLER_LEAF`]; cgroup limits only where the
/// controllers are enabled already: the real root cgroup, or the parent of a leaf this process
/// was started in) or `off` (no cgroup: the limits are rlimits).
pub const CGROUP_ENV: &str = "TOKIO_SANDBOX_CGROUP";

/// Where sandbox cgroups are created, and how that came about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Delegation {
    /// The cgroup directory sandbox cgroups are created in.
    pub parent: PathBuf,
    /// The leaf this process moved itself into to get there, if it did.
    pub moved_into: Option<PathBuf>,
}

/// The cgroup directory sandbox cgroups are created in, where sandboxes can get child cgroups
/// with the needed controllers; else why not. The first call may move this process into
/// [`CALLER_LEAF`] (see the module's documentation).
pub(crate) fn delegated() -> Result<&'static Path, &'static str> {
    delegation().map(|d| d.parent.as_path())
}

/// [`delegated`], with whether this process moved itself.
pub(crate) fn delegation() -> Result<&'static Delegation, &'static str> {
    static PLACE: OnceLock<Result<Delegation, String>> = OnceLock::new();
    PLACE
        .get_or_init(|| {
            let place = place(&cgroup_v2());
            if let Ok(d) = &place {
                sweep_stale(&d.parent);
            }
            place
        })
        .as_ref()
        .map_err(|e| e.as_str())
}

/// Whether `list` (a `cgroup.controllers` or `cgroup.subtree_control`) has every needed
/// controller; the missing ones otherwise.
fn lacking(list: &str) -> Vec<&'static str> {
    NEEDED
        .into_iter()
        .filter(|c| !list.split_whitespace().any(|e| e == *c))
        .collect()
}

fn read(dir: &Path, file: &str) -> String {
    fs::read_to_string(dir.join(file)).unwrap_or_default()
}

fn writable(path: &Path) -> bool {
    rustix::fs::access(path, rustix::fs::Access::WRITE_OK).is_ok()
}

/// Whether `dir`'s `cgroup.subtree_control` enables every needed controller and this process
/// may create cgroups there and move processes within it.
fn enabled_and_writable(dir: &Path) -> Result<(), String> {
    let off = lacking(&read(dir, "cgroup.subtree_control"));
    if !off.is_empty() {
        return Err(format!(
            "{} is not enabled in {}",
            off.join(", "),
            dir.join("cgroup.subtree_control").display()
        ));
    }
    if !writable(dir) || !writable(&dir.join("cgroup.procs")) {
        return Err(format!("{} is not writable (not delegated)", dir.display()));
    }
    Ok(())
}

/// Whether `dir` (this process's own, non-root cgroup) is delegated to this process, or why
/// it counts as not delegated.
fn delegated_to_this_process(dir: &Path, ns_root: bool) -> Result<(), String> {
    let files = ["cgroup.procs", "cgroup.subtree_control"];
    let all_writable = writable(dir) && files.iter().all(|f| writable(&dir.join(f)));
    if !rustix::process::geteuid().is_root() {
        return if all_writable {
            Ok(())
        } else {
            Err(format!(
                "{} is not delegated to this user (its directory, cgroup.procs and \
                 cgroup.subtree_control are not all writable)",
                dir.display()
            ))
        };
    }
    let marked = ["trusted.delegate", "user.delegate"].iter().any(|name| {
        let mut buf = [0u8; 8];
        matches!(rustix::fs::getxattr(dir, *name, &mut buf[..]), Ok(n) if &buf[..n] == b"1")
    });
    if (marked || ns_root) && all_writable {
        Ok(())
    } else {
        Err(format!(
            "{} is not delegated (neither marked by systemd's Delegate=yes, trusted.delegate, \
             nor the root of this process's cgroup namespace): the service manager owns it",
            dir.display()
        ))
    }
}

/// Where sandboxes of this process get their cgroups, moving this process into
/// [`CALLER_LEAF`] where that is needed and allowed; else why there are none.
pub(crate) fn place(cg: &CgroupV2) -> Result<Delegation, String> {
    let mode = std::env::var(CGROUP_ENV).unwrap_or_default();
    let stay = match mode.as_str() {
        "" | "auto" => false,
        "stay" => true,
        "off" => return Err(format!("{CGROUP_ENV}=off")),
        other => {
            return Err(format!(
                "{CGROUP_ENV}={other:?} is not one of auto, stay, off"
            ))
        }
    };
    let dir = cg.cgroup.clone().ok_or("cgroup v2 is not mounted")?;
    if !cg.missing.is_empty() {
        return Err(format!(
            "cgroup v2 at {} has no {} controller",
            dir.display(),
            cg.missing.join(", ")
        ));
    }
    let ns_root = cg.mount.as_deref() == Some(dir.as_path());
    // Only the real root cgroup lacks cgroup.type.
    if ns_root && !dir.join("cgroup.type").exists() {
        enabled_and_writable(&dir)?;
        return Ok(Delegation {
            parent: dir,
            moved_into: None,
        });
    }
    // Set up already: by the service manager, or by the caller that started this process in
    // its leaf.
    if enabled_and_writable(&dir).is_ok() {
        return Ok(Delegation {
            parent: dir,
            moved_into: None,
        });
    }
    if dir.file_name().is_some_and(|n| n == CALLER_LEAF) {
        if let Some(parent) = dir.parent() {
            if enabled_and_writable(parent).is_ok() {
                return Ok(Delegation {
                    parent: parent.to_path_buf(),
                    moved_into: None,
                });
            }
        }
    }
    delegated_to_this_process(&dir, ns_root)?;
    if stay {
        return Err(format!(
            "{} is delegated, but enabling controllers there needs this process to move into \
             its leaf {CALLER_LEAF}, which {CGROUP_ENV}=stay forbids",
            dir.display()
        ));
    }
    let me = std::process::id();
    let others: Vec<String> = read(&dir, "cgroup.procs")
        .split_whitespace()
        .filter(|p| p.parse() != Ok(me))
        .map(String::from)
        .collect();
    if !others.is_empty() {
        return Err(format!(
            "{} is delegated but holds other processes than this one ({}); the kernel enables \
             controllers only in a cgroup without processes, and only this process is moved \
             into a leaf: start it as the only process of its cgroup (e.g. systemd-run -p \
             Delegate=yes, or a service with Delegate=yes)",
            dir.display(),
            others.join(" ")
        ));
    }
    let leaf = dir.join(CALLER_LEAF);
    let step = |what: &str, path: &Path, e: io::Error| format!("{what} {}: {e}", path.display());
    match fs::create_dir(&leaf) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(step("creating", &leaf, e)),
    }
    // Writing a pid to cgroup.procs moves every thread of the process.
    fs::write(leaf.join("cgroup.procs"), me.to_string())
        .map_err(|e| step("moving this process into", &leaf, e))?;
    let enable = NEEDED.map(|c| format!("+{c}")).join(" ");
    if let Err(e) = fs::write(dir.join("cgroup.subtree_control"), &enable) {
        // Back where it was, as if nothing happened.
        let _ = fs::write(dir.join("cgroup.procs"), me.to_string());
        let _ = fs::remove_dir(&leaf);
        return Err(step(
            &format!("enabling {enable} in"),
            &dir.join("cgroup.subtree_control"),
            e,
        ));
    }
    Ok(Delegation {
        parent: dir,
        moved_into: Some(leaf),
    })
}

/// How often a process looks again for the sandbox cgroups that processes which no longer
/// exist left beside its own (see [`sweep_stale`]).
const STALE_SWEEP_INTERVAL: Duration = Duration::from_secs(1);

/// [`remove_stale`] at most once per [`STALE_SWEEP_INTERVAL`]: a process that keeps placing
/// sandboxes also removes those of other processes killed meanwhile (a helper process of its
/// own, a worker of a pool of processes), not only those found at its first spawn.
fn sweep_stale(parent: &Path) {
    static LAST: Mutex<Option<Instant>> = Mutex::new(None);
    let now = Instant::now();
    {
        let Ok(mut last) = LAST.lock() else {
            return;
        };
        if last.is_some_and(|t| now.duration_since(t) < STALE_SWEEP_INTERVAL) {
            return;
        }
        *last = Some(now);
    }
    remove_stale(parent);
}

/// Removes the empty sandbox cgroups that processes which no longer exist left in `parent`
/// (killed before they could remove them).
fn remove_stale(parent: &Path) {
    let Ok(entries) = fs::read_dir(parent) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("tokio-sandbox-"))
            .and_then(|n| n.split_once('-'))
            .and_then(|(pid, _)| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == std::process::id() {
            continue;
        }
        if !Path::new(&format!("/proc/{pid}")).exists() {
            // rmdir(2) removes empty cgroups only.
            let _ = fs::remove_dir(e.path());
        }
    }
}

/// The cgroup v2 hierarchy as seen from this process.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct CgroupV2 {
    /// Where cgroup2 is mounted (e.g. `/sys/fs/cgroup` or `/sys/fs/cgroup/unified`).
    pub mount: Option<PathBuf>,
    /// This process's cgroup directory.
    pub cgroup: Option<PathBuf>,
    /// The controllers available there (`cgroup.controllers`).
    pub controllers: Vec<String>,
    /// Of `memory`, `pids` and `cpu`, those missing.
    pub missing: Vec<&'static str>,
}

/// Where cgroup v2 is mounted, this process's cgroup in it and the controllers it offers.
pub(crate) fn cgroup_v2() -> CgroupV2 {
    let mount = std::fs::read_to_string("/proc/self/mountinfo")
        .ok()
        .and_then(|m| {
            m.lines().find_map(|l| {
                let (pre, post) = l.split_once(" - ")?;
                if post.split_whitespace().next()? != "cgroup2" {
                    return None;
                }
                Some(PathBuf::from(pre.split_whitespace().nth(4)?))
            })
        });
    let own = std::fs::read_to_string("/proc/self/cgroup")
        .ok()
        .and_then(|c| {
            c.lines().find_map(|l| {
                l.strip_prefix("0::")
                    .map(|p| p.trim_start_matches('/').to_string())
            })
        });
    let cgroup = match (&mount, own) {
        // The root cgroup is the mount point itself (no trailing slash).
        (Some(m), Some(p)) if p.is_empty() => Some(m.clone()),
        (Some(m), Some(p)) => Some(m.join(p)),
        _ => None,
    };
    let controllers: Vec<String> = cgroup
        .as_ref()
        .and_then(|c| std::fs::read_to_string(c.join("cgroup.controllers")).ok())
        .map(|s| s.split_whitespace().map(String::from).collect())
        .unwrap_or_default();
    let missing = ["memory", "pids", "cpu"]
        .into_iter()
        .filter(|c| !controllers.iter().any(|x| x == c))
        .collect();
    CgroupV2 {
        mount,
        cgroup,
        controllers,
        missing,
    }
}

/// A sandbox's own cgroup, removed when dropped.
#[derive(Debug)]
pub(crate) struct SandboxCgroup {
    dir: PathBuf,
}

/// What a sandbox's cgroup recorded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct CgroupEvents {
    pub oom_kills: u64,
    pub pids_max_hits: u64,
    pub memory_peak: Option<u64>,
}

fn event(text: &str, key: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.trim().parse().ok())
        .unwrap_or(0)
}

impl SandboxCgroup {
    /// Creates a child cgroup of `parent` with the cgroup parts of `limits` (memory, processes).
    pub(crate) fn create(parent: &Path, limits: &Limits) -> io::Result<SandboxCgroup> {
        static SEQ: AtomicU64 = AtomicU64::new(0);
        sweep_stale(parent);
        let dir = parent.join(format!(
            "tokio-sandbox-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        fs::create_dir(&dir)?;
        let cg = SandboxCgroup { dir };
        if let Some(m) = limits.memory {
            fs::write(cg.dir.join("memory.max"), m.to_string())?;
            // No swap either: the limit is on memory, not on memory plus swap.
            let _ = fs::write(cg.dir.join("memory.swap.max"), "0");
        }
        if let Some(p) = limits.processes {
            fs::write(cg.dir.join("pids.max"), p.to_string())?;
        }
        if let Some(m) = limits.cpu_millis {
            // Quota per 100 ms period.
            let quota = (u64::from(m) * 100).max(1000);
            fs::write(cg.dir.join("cpu.max"), format!("{quota} 100000"))?;
        }
        Ok(cg)
    }

    /// An `O_PATH` fd of the cgroup directory for `clone3`'s `cgroup` field.
    pub(crate) fn fd(&self) -> io::Result<OwnedFd> {
        use rustix::fs::{Mode, OFlags};
        Ok(rustix::fs::open(
            &self.dir,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?)
    }

    /// Kills every process in the cgroup (`cgroup.kill`, Linux 5.14): the kernel sends
    /// `SIGKILL` to each, so the sandbox ends without its init having to run first. `Ok(false)`
    /// on a kernel without the file.
    pub(crate) fn kill(&self) -> io::Result<bool> {
        let file = fs::OpenOptions::new()
            .write(true)
            .open(self.dir.join("cgroup.kill"));
        match file {
            Ok(f) => f.write_at(b"1", 0).map(|_| true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Reads what the cgroup recorded.
    pub(crate) fn events(&self) -> CgroupEvents {
        let read = |f: &str| fs::read_to_string(self.dir.join(f)).unwrap_or_default();
        CgroupEvents {
            oom_kills: event(&read("memory.events"), "oom_kill "),
            pids_max_hits: event(&read("pids.events"), "max "),
            memory_peak: read("memory.peak").trim().parse().ok(),
        }
    }
}

impl Drop for SandboxCgroup {
    fn drop(&mut self) {
        // Empty once every process of the sandbox is gone, which is usually the case by now.
        if remove(&self.dir) {
            return;
        }
        // The sandbox is over (its init was reaped, or its spawn was cancelled and the child
        // killed), yet processes are left: ones being torn down, or, without a pid namespace,
        // ones that left the program's process tree. None may outlive the sandbox.
        let _ = self.kill();
        // Wait for the kernel to say the cgroup is empty, off the runtime's threads.
        let dir = std::mem::take(&mut self.dir);
        let remove_later = move || remove_when_empty(&dir);
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => drop(rt.spawn_blocking(remove_later)),
            Err(_) => drop(std::thread::spawn(remove_later)),
        }
    }
}

/// Removes a cgroup directory (rmdir(2)); whether it is gone.
fn remove(dir: &Path) -> bool {
    match fs::remove_dir(dir) {
        Ok(()) => true,
        Err(e) => e.kind() == io::ErrorKind::NotFound,
    }
}

/// How long a dropped cgroup waits for its last processes to be torn down (killed, they end
/// within milliseconds; a cgroup still populated after this is removed by the next spawn of a
/// process that places sandboxes there, see `sweep_stale`).
const EMPTY_PATIENCE: Duration = Duration::from_secs(30);

/// Waits (blocking, at most [`EMPTY_PATIENCE`]) until `cgroup.events` says `populated 0`, then
/// removes the cgroup. The kernel signals every change of that file with `POLLPRI`, and reading
/// it re-arms the notification (`cgroup.events` in cgroup-v2.rst).
fn remove_when_empty(dir: &Path) {
    let deadline = Instant::now() + EMPTY_PATIENCE;
    if let Ok(events) = fs::File::open(dir.join("cgroup.events")) {
        let mut buf = [0u8; 256];
        loop {
            let n = events.read_at(&mut buf, 0).unwrap_or(0);
            let text = String::from_utf8_lossy(&buf[..n]);
            if text.lines().any(|l| l == "populated 0") {
                break;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            let mut pfd = libc::pollfd {
                fd: events.as_raw_fd(),
                events: libc::POLLPRI,
                revents: 0,
            };
            let ms = libc::c_int::try_from(left.as_millis()).unwrap_or(libc::c_int::MAX);
            // SAFETY: one live pollfd for an fd this function holds open.
            if unsafe { libc::poll(&mut pfd, 1, ms.max(1)) } < 0
                && io::Error::last_os_error().kind() != io::ErrorKind::Interrupted
            {
                break;
            }
        }
    }
    remove(dir);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A new cgroup under this process's own (cgroup v2, writable), or why there is none.
    fn new_cgroup() -> Result<SandboxCgroup, String> {
        let cg = cgroup_v2();
        let dir = cg.cgroup.ok_or("cgroup v2 is not mounted")?;
        if rustix::fs::access(&dir, rustix::fs::Access::WRITE_OK).is_err() {
            return Err(format!("{} is not writable", dir.display()));
        }
        let limits = Limits {
            processes: None,
            ..Limits::default()
        };
        SandboxCgroup::create(&dir, &limits).map_err(|e| format!("{}: {e}", dir.display()))
    }

    /// A new cgroup holding a new process (`sleep 10`), or `None` (printed) where none can be
    /// created.
    fn cgroup_with_a_process() -> Option<(SandboxCgroup, std::process::Child)> {
        let cg = match new_cgroup() {
            Ok(cg) => cg,
            Err(why) => {
                println!("skipped: no cgroup v2 hierarchy to create cgroups in: {why}");
                return None;
            }
        };
        let process = std::process::Command::new("sleep")
            .arg("10")
            .spawn()
            .unwrap();
        fs::write(cg.dir.join("cgroup.procs"), process.id().to_string()).unwrap();
        Some((cg, process))
    }

    #[test]
    fn removal_waits_until_the_cgroup_is_empty() {
        let Some((cg, mut process)) = cgroup_with_a_process() else {
            return;
        };
        let dir = cg.dir.clone();
        std::mem::forget(cg);
        let waiter = {
            let dir = dir.clone();
            std::thread::spawn(move || {
                let t = Instant::now();
                remove_when_empty(&dir);
                t.elapsed()
            })
        };
        assert!(dir.exists());
        process.kill().unwrap();
        process.wait().unwrap();
        let waited = waiter.join().unwrap();
        assert!(!dir.exists(), "{} is still there", dir.display());
        assert!(waited < EMPTY_PATIENCE, "{waited:?}");
    }

    #[test]
    fn kill_ends_every_process_in_it() {
        let Some((cg, mut process)) = cgroup_with_a_process() else {
            return;
        };
        if !cg.kill().unwrap() {
            println!("skipped: this kernel has no cgroup.kill");
            process.kill().unwrap();
            process.wait().unwrap();
            return;
        }
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(process.wait().unwrap().signal(), Some(libc::SIGKILL));
    }

    #[tokio::test]
    async fn a_cgroup_dropped_on_a_runtime_thread_is_removed_in_the_background() {
        let Some((cg, mut process)) = cgroup_with_a_process() else {
            return;
        };
        let dir = cg.dir.clone();
        let t = Instant::now();
        drop(cg);
        // The drop does not wait for the process.
        assert!(
            t.elapsed() < Duration::from_millis(100),
            "{:?}",
            t.elapsed()
        );
        assert!(dir.exists(), "removed while a process is in it");
        process.kill().unwrap();
        process.wait().unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while dir.exists() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(!dir.exists(), "{} is still there", dir.display());
    }
}
