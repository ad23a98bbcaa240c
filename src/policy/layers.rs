//! Which isolation layers a sandbox uses.

/// Which isolation layers a sandbox uses. All are on by default; switching one off weakens the
/// sandbox and exists to measure each layer's cost (see `benches/`) and for hosts that lack a
/// mechanism.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Layers {
    /// A user namespace, which every other namespace here needs. Without it (hosts that
    /// forbid user namespaces) the sandbox is Landlock, seccomp and `no_new_privs` alone: the
    /// policy's paths become Landlock rules on the host paths, and what only namespaces give
    /// (private `/tmp` and home, a fresh `/proc`, hidden host pids, no network, killing the
    /// whole tree) is not enforced; the enforcement report lists each.
    pub user_namespace: bool,
    /// A mount namespace with the tmpfs root, binds, `/proc`, `/dev` and `pivot_root`. When off
    /// the program sees the host's filesystem (and Landlock, which is added to the new root's
    /// paths, must be off too).
    pub mount: bool,
    /// A pid namespace: the sandbox's processes see only each other and die with its init.
    pub pid: bool,
    /// The Landlock ruleset built from the policy.
    pub landlock: bool,
    /// The default seccomp filter.
    pub seccomp: bool,
}

impl Default for Layers {
    fn default() -> Self {
        Layers {
            user_namespace: true,
            mount: true,
            pid: true,
            landlock: true,
            seccomp: true,
        }
    }
}
