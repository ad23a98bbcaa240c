//! A policy compiled for this host: the mount plan, the identity, and the paths as C strings.

use std::sync::Arc;

use crate::child::plan::{Bpf, LandlockPlan, PolicySetup};
use crate::child::sys;
use crate::error::{PolicyError, SpawnError};
use crate::landlock::Masks;
use crate::plan::builder::PlanBuilder;
use crate::plan::identity::Identity;
use crate::plan::landlock::host_rules;
use crate::plan::lower::child_ops;
use crate::plan::mount::MountPlan;
use crate::policy::Policy;

pub(crate) mod bind;
pub(crate) mod builder;
pub(crate) mod etc;
pub(crate) mod identity;
pub(crate) mod landlock;
pub(crate) mod lower;
pub(crate) mod mount;
pub(crate) mod tables;
pub(crate) mod walk;

/// A [`Policy`] resolved against this host once and reused by every spawn that uses it:
/// canonical paths, the mount plan, the Landlock rules and the ABI masks, as C strings ready for
/// the child. Cheap to clone (an `Arc`).
///
/// The paths are re-resolved by the child without following symlinks, so a path swapped for a
/// symlink after compiling fails the spawn instead of redirecting a bind; and a policy path
/// that leads to another object than when it was named (a directory renamed into its place)
/// fails it with [`PolicyError::PathReplaced`](crate::PolicyError::PathReplaced).
#[derive(Debug, Clone)]
pub struct CompiledPolicy(pub(crate) Arc<Compiled>);

#[derive(Debug)]
pub(crate) struct Compiled {
    pub policy: Policy,
    pub id: Identity,
    pub euid: u32,
    pub abi: Option<u32>,
    pub mount_plan: MountPlan,
    /// What the child runs of it: the mount operations and the Landlock ruleset.
    pub setup: Arc<PolicySetup>,
    /// Why Landlock is not applied although the layer was asked for (best effort).
    pub landlock_missing: Option<String>,
    /// Whether the program may trace its own processes: the policy allows it and a pid
    /// namespace or Landlock confines it to the sandbox.
    pub ptrace: bool,
}

impl CompiledPolicy {
    /// Resolves `policy` for the calling process (its effective uid decides the sandbox's
    /// identity; a spawn from another effective uid compiles the policy again). Relative paths
    /// resolve against the current working directory. Blocks the calling thread while it
    /// resolves the paths (lstat(2) and readlink(2) per component).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use tokio_sandbox::{CompiledPolicy, Policy, PolicyError, SpawnError};
    /// let mut policy = Policy::new();
    /// policy.read_only("/opt/data");
    /// match CompiledPolicy::new(&policy) {
    ///     Ok(compiled) => { /* Command::compiled_policy(&compiled) for each spawn */ }
    ///     Err(SpawnError::Policy(PolicyError::MissingPath { path, source })) => {
    ///         eprintln!("{}: {source}", path.display())
    ///     }
    ///     Err(e) => eprintln!("{e}"),
    /// }
    /// ```
    ///
    /// # Errors
    /// [`SpawnError::Policy`] with [`PolicyError::MissingPath`] (a path or a symlink on it does not
    /// resolve), [`PolicyError::NulByte`], [`PolicyError::RelativeDestination`],
    /// [`PolicyError::RootBind`], [`PolicyError::SymlinkLoop`], [`PolicyError::NotWritable`],
    /// [`PolicyError::PathReplaced`] (a policy path leads to another object than when named),
    /// [`PolicyError::ReadOnlyDeviceUnderWritable`], [`PolicyError::SeccompFilterTooLong`] or
    /// [`PolicyError::ZeroProcessLimit`];
    /// [`SpawnError::Unsupported`] when Landlock is missing and the filesystem is required (or the
    /// mount layer is off), when TCP port rules need Landlock ABI 4 and the network is required, or
    /// for [`Layers`](crate::Layers) that cannot work together (mount or pid namespace without the
    /// user namespace, Landlock in a user namespace without the mount layer, a bind to another
    /// place without a mount namespace).
    pub fn new(policy: &Policy) -> Result<CompiledPolicy, SpawnError> {
        if policy.limits.processes == Some(0) {
            return Err(PolicyError::ZeroProcessLimit.into());
        }
        let id = Identity::for_caller(policy);
        let layers = policy.layers;
        if !layers.user_namespace && (layers.mount || layers.pid) {
            return Err(SpawnError::Unsupported {
                mechanism: "mount and pid namespaces",
                reason: "they need the user namespace layer".into(),
            });
        }
        if layers.landlock && !layers.mount && layers.user_namespace {
            return Err(SpawnError::Unsupported {
                mechanism: "Landlock",
                reason: "its rules are added to the sandbox's own root, which needs the mount \
                         layer"
                    .into(),
            });
        }
        // Landlock missing: an error, unless the filesystem is best effort and a mount
        // namespace still holds it (C16).
        let mut landlock_missing = None;
        let abi = if layers.landlock {
            match crate::landlock::abi_version() {
                Ok(v) => Some(v),
                Err(why)
                    if policy.requirements.filesystem == crate::policy::Requirement::BestEffort
                        && layers.mount =>
                {
                    landlock_missing = Some(why.to_string());
                    None
                }
                Err(why) => {
                    return Err(SpawnError::Unsupported {
                        mechanism: "Landlock",
                        reason: why.to_string(),
                    })
                }
            }
        } else {
            None
        };
        let masks = Masks::for_abi(abi.unwrap_or(1));
        let (mount_plan, ops, rules) = if layers.mount {
            let mut plan = PlanBuilder::build(policy, &id)?;
            let (ops, rules) = child_ops(&mut plan, &masks)?;
            (plan, ops, rules)
        } else if !layers.user_namespace && layers.landlock {
            // Landlock alone: the policy's paths become rules on the host paths.
            let plan = PlanBuilder::build(policy, &id)?;
            let rules = host_rules(&plan, &masks)?;
            let mut visible = MountPlan::host();
            visible.visible = plan.visible.clone();
            visible.links = plan.links.clone();
            visible.host_links = plan.host_links.clone();
            visible.tmpdir = plan.tmpdir.clone();
            (visible, Vec::new(), rules)
        } else {
            let mut plan = MountPlan::host();
            plan.tmpdir = match &policy.tmpdir {
                Some(d) => Some(crate::plan::builder::sandbox_path(d)?),
                None => None,
            };
            let (ops, rules) = child_ops(&mut plan, &masks)?;
            (plan, ops, rules)
        };
        // TCP port allow-lists (Landlock ABI 4).
        let (mut handled_net, mut net_rules) = (0u64, Vec::new());
        let restricted = [
            (policy.tcp_bind.as_ref(), 1u64),
            (policy.tcp_connect.as_ref(), 2u64),
        ];
        if restricted.iter().any(|(r, _)| r.is_some()) {
            match abi {
                Some(v) if v >= 4 => {
                    for (ports, access) in restricted {
                        if let Some(ports) = ports {
                            handled_net |= access;
                            for port in ports {
                                net_rules.push(sys::LandlockNetPortAttr {
                                    allowed_access: access,
                                    port: *port as u64,
                                });
                            }
                        }
                    }
                }
                _ if policy.requirements.network == crate::policy::Requirement::BestEffort => {}
                _ => {
                    return Err(SpawnError::Unsupported {
                        mechanism: "Landlock TCP rules",
                        reason: format!(
                            "TCP port allow-lists need Landlock ABI 4 (this process uses {})",
                            abi.map_or("no Landlock".to_string(), |v| format!("ABI {v}"))
                        ),
                    })
                }
            }
        }
        let landlock = abi.map(|_| LandlockPlan {
            attr: sys::LandlockRulesetAttr {
                handled_access_fs: masks.handled,
                handled_access_net: handled_net,
                scoped: masks.scoped,
            },
            rules,
            net_rules,
            restrict_flags: masks.restrict_flags,
        });
        // Tracing stays inside the sandbox only where its pid namespace or Landlock's ptrace
        // restriction (a domain traces only its own or nested domains) bounds it.
        let ptrace = policy.ptrace && (layers.pid || landlock.is_some());
        Ok(CompiledPolicy(Arc::new(Compiled {
            policy: policy.clone(),
            id,
            euid: rustix::process::geteuid().as_raw(),
            abi,
            mount_plan,
            setup: Arc::new(PolicySetup {
                ops,
                seccomp: seccomp_programs(policy, ptrace)?,
                landlock,
            }),
            landlock_missing,
            ptrace,
        })))
    }

    /// The policy this was compiled from.
    pub fn policy(&self) -> &Policy {
        &self.0.policy
    }
}

/// The seccomp programs a sandbox of `policy` installs, in order: the default filter, the one
/// that goes with a TCP allow-list, the caller's.
fn seccomp_programs(policy: &Policy, tracing: bool) -> Result<Vec<Bpf>, PolicyError> {
    let too_long = |len| PolicyError::SeccompFilterTooLong { len };
    let mut progs = Vec::new();
    if policy.layers.seccomp {
        let insns = crate::seccomp::default_program(policy.allow_linux_aio, tracing);
        progs.push(Bpf::of_static(insns).map_err(too_long)?);
    }
    if policy.tcp_bind.is_some() || policy.tcp_connect.is_some() {
        progs.push(Bpf::of_static(crate::seccomp::tcp_rules_program()).map_err(too_long)?);
    }
    if policy.no_sockets {
        progs.push(Bpf::of_static(crate::seccomp::no_sockets_program()).map_err(too_long)?);
    }
    for p in &policy.extra_seccomp {
        progs.push(Bpf::of_shared(p.clone()).map_err(too_long)?);
    }
    Ok(progs)
}

impl Policy {
    /// Resolves the policy once for reuse by many spawns (see
    /// [`CompiledPolicy`] and
    /// [`Command::compiled_policy`](crate::Command::compiled_policy)).
    ///
    /// # Errors
    /// As [`CompiledPolicy::new`](crate::CompiledPolicy::new).
    pub fn compile(&self) -> Result<crate::CompiledPolicy, crate::SpawnError> {
        crate::CompiledPolicy::new(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_filter(len: usize) -> Policy {
        let insn = seccompiler::sock_filter {
            code: 0x06, // BPF_RET | BPF_K
            jt: 0,
            jf: 0,
            k: 0x7fff_0000, // SECCOMP_RET_ALLOW
        };
        let mut policy = Policy::new();
        policy.seccomp_filter(vec![insn; len]);
        policy
    }

    #[test]
    fn a_caller_filter_over_bpf_maxinsns_is_refused() {
        let progs = seccomp_programs(&with_filter(4096), true).unwrap();
        // The default filter, then the caller's, whole.
        assert_eq!(progs.len(), 2);
        assert_eq!(progs[1].fprog().len, 4096);
        match seccomp_programs(&with_filter(4097), true) {
            Err(PolicyError::SeccompFilterTooLong { len: 4097 }) => {}
            other => panic!("expected SeccompFilterTooLong, got {other:?}"),
        }
        // Not truncated to 16 bits either.
        match seccomp_programs(&with_filter(65536 + 5), true) {
            Err(PolicyError::SeccompFilterTooLong { len: 65541 }) => {}
            other => panic!("expected SeccompFilterTooLong, got {other:?}"),
        }
    }
}
