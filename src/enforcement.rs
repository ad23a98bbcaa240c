//! The enforcement report: which layers enforce each property of a sandbox.

use crate::plan::Compiled;
use crate::policy::Network;

/// Which isolation layers were applied to a sandbox.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct Enforcement {
    /// The namespaces the sandbox runs in (`"user"`, `"mount"`, `"pid"`, `"ipc"`, `"uts"`,
    /// `"cgroup"`, `"network"`).
    pub namespaces: Vec<&'static str>,
    /// The Landlock ABI version whose rules were enforced, or `None` if Landlock was not applied.
    pub landlock_abi: Option<u32>,
    /// Whether the default seccomp filter was installed.
    pub seccomp: bool,
    /// Whether `PR_SET_NO_NEW_PRIVS` was set.
    pub no_new_privs: bool,
    /// Whether every capability was dropped (bounding, ambient, permitted, effective, inheritable).
    pub capabilities_dropped: bool,
    /// The process limit in force (`RLIMIT_NPROC` in the sandbox's user namespace), or `None`
    /// when none is (not asked for, or the sandbox runs as host uid 0, which is exempt).
    pub process_limit: Option<u64>,
    /// What backs the memory limit ([`Limits::memory`](crate::Limits::memory)), when one is
    /// set: `"cgroup memory.max"` (the whole sandbox's memory) or `"RLIMIT_AS"` (address space
    /// per process, where no cgroup could be made for the sandbox).
    pub memory_limit: Option<&'static str>,
    /// Whether the program may trace its own processes ([`Policy::ptrace`](crate::Policy::ptrace)):
    /// the policy allows it and a pid namespace or Landlock confines it to the sandbox.
    pub ptrace: bool,
    /// The uid and gid the program has inside the sandbox, and on the host (see
    /// [`Policy::uid`](crate::Policy::uid)).
    pub ids: Ids,
    /// For each property, the layers that enforce it, or why it is not enforced.
    pub properties: Vec<PropertyReport>,
}

/// The ids a sandbox runs as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct Ids {
    /// The uid inside the sandbox's user namespace.
    pub inside_uid: u32,
    /// The gid inside.
    pub inside_gid: u32,
    /// The uid on the host (what owns the files it writes).
    pub host_uid: u32,
    /// The gid on the host.
    pub host_gid: u32,
}

/// Which layers enforce one property of the policy.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct PropertyReport {
    /// The property.
    pub property: crate::policy::Property,
    /// The layers enforcing it, e.g. `mount namespace`, `Landlock ABI 7`.
    pub layers: Vec<String>,
    /// What of it is not enforced, and why; `None` when it is fully enforced.
    pub not_enforced: Option<String>,
}

/// Which layers enforce each property, and why one is not enforced.
pub(crate) fn property_report(
    compiled: &Compiled,
    requested_network: Network,
    fallback: Option<&str>,
) -> Vec<PropertyReport> {
    use crate::policy::Property;
    let (policy, abi) = (&compiled.policy, compiled.abi);
    let l = policy.layers;
    let why = |what: &str| match fallback {
        Some(reason) => format!("{what}: user namespaces are unusable here ({reason})"),
        None => format!("{what}: the layer was switched off"),
    };
    let mut fs = Vec::new();
    if l.mount {
        fs.push("mount namespace".to_string());
    }
    if let Some(v) = abi {
        fs.push(format!("Landlock ABI {v}"));
    }
    let fs_missing = if let Some(why) = &compiled.landlock_missing {
        Some(format!("Landlock: {why}"))
    } else if fs.is_empty() {
        Some("no mount namespace and no Landlock".to_string())
    } else if !l.mount && !policy.no_sockets {
        Some(why(
            "a private /tmp, home and /dev/shm, a fresh /proc and generated /etc files need a \
             mount namespace, and without one connect(2) reaches the pathname unix sockets of \
             the whole host (Landlock does not check it)",
        ))
    } else if !l.mount {
        Some(why(
            "a private /tmp, home and /dev/shm, a fresh /proc and generated /etc files need a \
             mount namespace",
        ))
    } else {
        policy.no_proc.as_ref().map(|reason| {
            format!("no /proc: {reason} (the filesystem is best effort; the host's is never bound)")
        })
    };
    let tcp_rules =
        (policy.tcp_bind.is_some() || policy.tcp_connect.is_some()) && abi.is_some_and(|v| v >= 4);
    let net = match (requested_network, policy.network) {
        (Network::Host, _) if tcp_rules => (
            vec![format!(
                "Landlock TCP port rules (ABI {})",
                abi.unwrap_or(0)
            )],
            Some("host network: only TCP bind/connect ports are restricted, not UDP".into()),
        ),
        (Network::Host, _) => (
            Vec::new(),
            Some("the policy asks for the host network".into()),
        ),
        (Network::None, Network::None) => (vec!["network namespace".to_string()], None),
        (Network::None, Network::Host) if policy.no_sockets => (
            vec!["seccomp (no socket(2); socket pairs only)".to_string()],
            None,
        ),
        (Network::None, Network::Host) => (
            Vec::new(),
            Some(why(
                "no network needs a network namespace (Landlock does not cover UDP)",
            )),
        ),
    };
    // A property one layer enforces: that layer, or why it is not enforced.
    let single = |on: bool, layer: &str, missing: String| {
        if on {
            (vec![layer.to_string()], None)
        } else {
            (Vec::new(), Some(missing))
        }
    };
    let procs = match abi {
        // Without a pid namespace Landlock (ABI 6) still keeps signals from reaching
        // processes outside the sandbox.
        Some(v) if !l.pid && v >= 6 => (
            vec![format!("Landlock ABI {v} (signals scoped)")],
            Some(why(
                "hiding host processes and killing the whole tree need a pid namespace",
            )),
        ),
        _ => single(
            l.pid,
            "pid namespace",
            why("hiding host processes and killing the whole tree need a pid namespace"),
        ),
    };
    let sys = single(
        l.seccomp,
        "seccomp",
        "the seccomp layer was switched off".to_string(),
    );
    vec![
        PropertyReport {
            property: Property::Filesystem,
            layers: fs,
            not_enforced: fs_missing,
        },
        PropertyReport {
            property: Property::Network,
            layers: net.0,
            not_enforced: net.1,
        },
        PropertyReport {
            property: Property::Processes,
            layers: procs.0,
            not_enforced: procs.1,
        },
        PropertyReport {
            property: Property::Syscalls,
            layers: sys.0,
            not_enforced: sys.1,
        },
    ]
}
