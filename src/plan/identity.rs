//! The identity a sandbox runs as.

use crate::policy::Policy;

/// The id a sandbox runs as inside when the host id it runs as is the kernel's overflow id
/// (`/proc/sys/kernel/overflowuid`, 65534): every owner the sandbox's user namespace does not
/// map shows as the overflow id, so the program must not have it, or files of host root (and of
/// every other unmapped user) would look like its own (`test -O`, git's ownership check).
pub(crate) const SANDBOX_ID: u32 = 1000;

/// The identity the sandbox runs as, decided in the parent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Identity {
    /// uid inside the user namespace.
    pub inside_uid: u32,
    pub inside_gid: u32,
    /// uid/gid on the host.
    pub host_uid: u32,
    pub host_gid: u32,
    /// The caller is root: the parent writes the maps and the child switches ids.
    pub privileged: bool,
}

/// The kernel's overflow uid and gid (proc(5): `/proc/sys/kernel/overflowuid`, `overflowgid`),
/// read once; 65534 where they cannot be read.
pub(crate) fn overflow_ids() -> (u32, u32) {
    static IDS: std::sync::OnceLock<(u32, u32)> = std::sync::OnceLock::new();
    *IDS.get_or_init(|| {
        let read = |name: &str| {
            std::fs::read_to_string(format!("/proc/sys/kernel/{name}"))
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or(65534)
        };
        (read("overflowuid"), read("overflowgid"))
    })
}

impl Identity {
    pub(crate) fn for_caller(policy: &Policy) -> Identity {
        let euid = rustix::process::geteuid().as_raw();
        let egid = rustix::process::getegid().as_raw();
        Identity::new(policy, euid, egid, overflow_ids())
    }

    /// The identity for a caller with `euid`/`egid`, where the kernel's overflow ids are
    /// `overflow`: the inside id is never an overflow id unless an unprivileged caller asks
    /// for it with [`Policy::uid`]/[`Policy::gid`].
    pub(crate) fn new(policy: &Policy, euid: u32, egid: u32, overflow: (u32, u32)) -> Identity {
        // Without a user namespace of its own the sandbox has the host's ids.
        let userns = policy.layers.user_namespace;
        let inside = |host: u32, overflow: u32| {
            if host == overflow && userns {
                SANDBOX_ID
            } else {
                host
            }
        };
        if euid == 0 {
            let host_uid = policy.uid.unwrap_or(65534);
            // The gid follows a chosen uid unless chosen too.
            let host_gid = policy.gid.unwrap_or(host_uid);
            Identity {
                inside_uid: inside(host_uid, overflow.0),
                inside_gid: inside(host_gid, overflow.1),
                host_uid,
                host_gid,
                privileged: true,
            }
        } else {
            let (uid, gid) = if userns {
                (policy.uid, policy.gid.or(policy.uid))
            } else {
                (None, None)
            };
            Identity {
                inside_uid: uid.unwrap_or(inside(euid, overflow.0)),
                inside_gid: gid.unwrap_or(inside(egid, overflow.1)),
                host_uid: euid,
                host_gid: egid,
                privileged: false,
            }
        }
    }

    /// The user name of the generated passwd entry.
    pub(crate) fn user_name(&self) -> &'static str {
        match self.inside_uid {
            0 => "root",
            65534 => "nobody",
            _ => "sandbox",
        }
    }

    /// The line of `/proc/PID/uid_map` (user_namespaces(7)): the inside uid maps to the host uid.
    pub(crate) fn uid_map(&self) -> String {
        format!("{} {} 1\n", self.inside_uid, self.host_uid)
    }

    /// The line of `/proc/PID/gid_map`.
    pub(crate) fn gid_map(&self) -> String {
        format!("{} {} 1\n", self.inside_gid, self.host_gid)
    }

    pub(crate) fn home(&self) -> &'static str {
        match self.inside_uid {
            0 => "/root",
            65534 => "/home/nobody",
            _ => "/home/sandbox",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_inside_id_is_never_the_overflow_id_unless_asked_for() {
        let ov = (65534, 65534);
        let ids = |id: Identity| (id.inside_uid, id.inside_gid, id.host_uid, id.host_gid);
        let p = Policy::new();
        // A root caller: host 65534, inside 1000.
        assert_eq!(ids(Identity::new(&p, 0, 0, ov)), (1000, 1000, 65534, 65534));
        // An unprivileged caller runs as itself, unless it is the overflow id.
        assert_eq!(
            ids(Identity::new(&p, 1002, 1002, ov)),
            (1002, 1002, 1002, 1002)
        );
        assert_eq!(
            ids(Identity::new(&p, 65534, 65534, ov)),
            (1000, 1000, 65534, 65534)
        );
        // Another overflow id (a changed sysctl) moves with it.
        assert_eq!(
            ids(Identity::new(&p, 0, 0, (4242, 4343))),
            (65534, 65534, 65534, 65534)
        );
        // A root caller's chosen host id shows unchanged inside, but for the overflow id.
        let mut p = Policy::new();
        p.uid(0);
        assert_eq!(ids(Identity::new(&p, 0, 0, ov)), (0, 0, 0, 0));
        p.uid(65534);
        assert_eq!(ids(Identity::new(&p, 0, 0, ov)), (1000, 1000, 65534, 65534));
        // An unprivileged caller's chosen inside id is taken as asked.
        assert_eq!(
            ids(Identity::new(&p, 1002, 1002, ov)),
            (65534, 65534, 1002, 1002)
        );
        // Without a user namespace, the host's ids.
        let mut p = Policy::new();
        p.layers(crate::Layers {
            user_namespace: false,
            mount: false,
            pid: false,
            ..crate::Layers::default()
        });
        assert_eq!(
            ids(Identity::new(&p, 0, 0, ov)),
            (65534, 65534, 65534, 65534)
        );
        assert_eq!(
            ids(Identity::new(&p, 65534, 65534, ov)),
            (65534, 65534, 65534, 65534)
        );
    }
}
