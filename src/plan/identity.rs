//! The identity a sandbox runs as.

use crate::policy::Policy;

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

impl Identity {
    pub(crate) fn for_caller(policy: &Policy) -> Identity {
        let euid = rustix::process::geteuid().as_raw();
        let egid = rustix::process::getegid().as_raw();
        if euid == 0 {
            let host_uid = policy.uid.unwrap_or(65534);
            // The gid follows a chosen uid unless chosen too.
            let host_gid = policy.gid.unwrap_or(host_uid);
            Identity {
                inside_uid: host_uid,
                inside_gid: host_gid,
                host_uid,
                host_gid,
                privileged: true,
            }
        } else {
            Identity {
                inside_uid: policy.uid.unwrap_or(euid),
                inside_gid: policy.gid.or(policy.uid).unwrap_or(egid),
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
