//! The caller's policy as it runs on this host: what a spawn does where the host lacks a layer
//! the policy lets it go without.

use crate::policy::{Policy, Property, Requirement};
use crate::probe::{Availability, Probe};

/// Whether a spawn of `policy` depends on what the host offers, so that the host must be
/// probed first (once per process): the policy uses user namespaces and may run without them
/// (its Landlock-only form), or without a fresh procfs (the filesystem is best effort).
pub(crate) fn needs_probe(policy: &Policy) -> bool {
    policy.layers.user_namespace && (policy.landlock_only().is_some() || without_proc(policy))
}

/// Whether `policy` may run without `/proc` where the kernel refuses a fresh procfs.
fn without_proc(policy: &Policy) -> bool {
    policy.requirements.get(Property::Filesystem) == Requirement::BestEffort
        && policy.layers.mount
        && policy.layers.pid
}

/// The policy a spawn of `policy` runs with here, and why user namespaces are not used when
/// they are not, given the host's `probe` (`None` where [`needs_probe`] said it is not
/// needed):
/// - without usable user namespaces, the Landlock-only form of the policy
///   ([`Policy::landlock_only`]), where its requirements allow it;
/// - where the kernel refuses a fresh procfs (a container's masked `/proc`) and the
///   filesystem is best effort, every namespace but no `/proc` (the report says so).
///
/// Otherwise the policy is unchanged, and a missing layer fails the spawn naming it.
pub(crate) fn for_host(policy: &Policy, probe: Option<&Probe>) -> (Policy, Option<String>) {
    let Some(probe) = probe.filter(|_| policy.layers.user_namespace) else {
        return (policy.clone(), None);
    };
    if let Availability::Unavailable(why) = &probe.user_namespace {
        return match policy.landlock_only() {
            Some(p) => (p, Some(why.clone())),
            None => (policy.clone(), None),
        };
    }
    let mut policy = policy.clone();
    if let (true, Availability::Unavailable(why)) = (without_proc(&policy), &probe.proc_mount) {
        policy.no_proc = Some(why.clone());
    }
    (policy, None)
}
