//! What the benches share: bubblewrap with the default sandbox's policy, and the timer that
//! measures how late a current-thread runtime fires while sandboxes start on it.

#![allow(dead_code)]

use std::path::Path;
use std::time::{Duration, Instant};

use tokio::runtime::Runtime;

/// The multi-thread runtime the benches spawn on: two workers, as this machine has two CPUs.
pub fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// `/bin/true` with `tokio::process`, the reference every ratio is taken against.
pub async fn tokio_true() {
    let s = tokio::process::Command::new("/bin/true")
        .status()
        .await
        .expect("spawn");
    assert!(s.success());
}

/// bubblewrap with the default sandbox's policy: read-only /usr with the merged-/usr links,
/// fresh /proc, minimal /dev, private /tmp, every namespace, new session, no capability.
pub const BWRAP_ARGS: &[&str] = &[
    "--unshare-all",
    "--die-with-parent",
    "--new-session",
    "--cap-drop",
    "ALL",
    "--ro-bind",
    "/usr",
    "/usr",
    "--symlink",
    "usr/bin",
    "/bin",
    "--symlink",
    "usr/sbin",
    "/sbin",
    "--symlink",
    "usr/lib",
    "/lib",
    "--symlink",
    "usr/lib64",
    "/lib64",
    "--ro-bind",
    "/etc/ld.so.cache",
    "/etc/ld.so.cache",
    "--proc",
    "/proc",
    "--dev",
    "/dev",
    "--tmpfs",
    "/tmp",
    "/bin/true",
];

/// The `bwrap` binary, if it runs [`BWRAP_ARGS`] here; else why not.
pub fn bwrap() -> Result<&'static str, String> {
    let path = ["/usr/bin/bwrap", "/usr/local/bin/bwrap"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .ok_or("bubblewrap is not installed (apt-get install bubblewrap)")?;
    let out = std::process::Command::new(path)
        .args(BWRAP_ARGS)
        .output()
        .map_err(|e| format!("{path}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{path} fails here: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(path)
}

/// One run of the timer measure: how many sandboxes started, how long that took, and how late
/// each tick of the 10 ms timer was (sorted).
pub struct Lateness {
    pub spawned: usize,
    pub total: Duration,
    pub late: Vec<Duration>,
}

impl Lateness {
    /// The lateness at fraction `p` (0.0 to 1.0) of the sorted ticks.
    pub fn percentile(&self, p: f64) -> Duration {
        self.late[((self.late.len() - 1) as f64 * p) as usize]
    }
}

/// Starts 1,000 sandboxes running `sleep 1` (with `spawn_async`) on a current-thread runtime
/// while a 10 ms interval timer runs on it, and waits for them all.
pub fn lateness_while_1000_start() -> Lateness {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let (stop_tx, mut stop_rx) = tokio::sync::oneshot::channel::<()>();
        let timer = tokio::spawn(async move {
            let period = Duration::from_millis(10);
            let mut late = Vec::new();
            let mut next = Instant::now() + period;
            loop {
                tokio::select! {
                    _ = tokio::time::sleep_until(next.into()) => {
                        late.push(Instant::now().saturating_duration_since(next));
                        next += period;
                    }
                    _ = &mut stop_rx => return late,
                }
            }
        });
        let start = Instant::now();
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..1000 {
            set.spawn(async {
                let mut child = tokio_sandbox::Command::new("sleep")
                    .arg("1")
                    .spawn_async()
                    .await
                    .expect("spawn");
                child.wait().await.expect("wait")
            });
        }
        let mut spawned = 0;
        while let Some(r) = set.join_next().await {
            assert!(r.expect("task").success());
            spawned += 1;
        }
        let total = start.elapsed();
        stop_tx.send(()).ok();
        let mut late = timer.await.expect("timer task");
        late.sort();
        Lateness {
            spawned,
            total,
            late,
        }
    })
}
