//! What the build of a spawn takes from the host: `fs.file-max`, the caller's terminal for
//! `/dev/console`, a new machine id, the caller's supplementary groups, and the sandbox's cgroup.

use super::*;

/// The host's `fs.file-max` (proc(5)), or the largest value where it cannot be read.
pub(super) fn file_max() -> u64 {
    std::fs::read_to_string("/proc/sys/fs/file-max")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(u64::MAX)
}

/// The caller's terminal, when a stdio fd of the program is one, to bind at the sandbox's
/// `/dev/console`: its devpts (or `/dev/tty*`) node is not in the sandbox's own `/dev/pts`, so
/// without it ttyname(3) fails (`ENODEV`) and `tty` says "not a tty". Only where the sandbox
/// has a `/dev` of its own and the fd's path still leads to the same device.
pub(super) fn console(fds: &ProgramFds, c: &crate::plan::Compiled) -> Option<Console> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let own_dev = c.mount_plan.ops.iter().any(|op| {
        matches!(op, crate::plan::mount::FsOp::Tmpfs { dst, .. } if dst == std::path::Path::new("/dev"))
    });
    let console_free = !c
        .mount_plan
        .ops
        .iter()
        .any(|op| op.path() == std::path::Path::new("/dev/console"));
    if !c.policy.layers.mount || !own_dev || !console_free {
        return None;
    }
    let fd = fds.stdio_terminal()?;
    let path = std::fs::read_link(format!("/proc/self/fd/{fd}")).ok()?;
    let meta = std::fs::metadata(&path).ok()?;
    // SAFETY: fstat fills the local stat buffer for an open fd.
    let rdev = unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        (libc::fstat(fd, &mut st) == 0).then_some(st.st_rdev)
    }?;
    if !path.starts_with("/dev/") || !meta.file_type().is_char_device() || meta.rdev() != rdev {
        return None;
    }
    let masks = crate::landlock::Masks::for_abi(c.abi.unwrap_or(1));
    Some(Console {
        src: crate::plan::lower::old_root_path(&path).ok()?,
        access: masks.write_file | masks.ioctl_dev,
    })
}

/// A new machine id: 128 random bits as 32 lowercase hexadecimal digits and a newline
/// (machine-id(5)), from getrandom(2).
pub(super) fn machine_id() -> Result<[u8; 33], SpawnError> {
    let mut random = [0u8; 16];
    let mut filled = 0;
    while filled < random.len() {
        filled +=
            rustix::rand::getrandom(&mut random[filled..], rustix::rand::GetRandomFlags::empty())
                .map_err(|e| os_err("getrandom")(e.into()))?;
    }
    let mut id = [b'\n'; 33];
    for (i, b) in random.iter().enumerate() {
        id[2 * i] = b"0123456789abcdef"[(b >> 4) as usize];
        id[2 * i + 1] = b"0123456789abcdef"[(b & 0xf) as usize];
    }
    Ok(id)
}

/// This process's supplementary groups other than its effective gid (getgroups(2)).
pub(crate) fn supplementary_groups() -> Result<Vec<u32>, SpawnError> {
    let egid = rustix::process::getegid().as_raw();
    Ok(rustix::process::getgroups()
        .map_err(|e| os_err("getgroups")(e.into()))?
        .into_iter()
        .map(|g| g.as_raw())
        .filter(|g| *g != egid)
        .collect())
}

/// Refuses an unprivileged caller's supplementary groups, which the sandbox cannot drop.
pub(super) fn check_groups() -> Result<(), SpawnError> {
    let groups = supplementary_groups()?;
    if groups.is_empty() {
        Ok(())
    } else {
        Err(PolicyError::RetainedGroups { groups }.into())
    }
}

/// The sandbox's own cgroup with the cgroup v2 limits, where a hierarchy is delegated to this
/// process (and clone3 can place the child in it).
pub(super) fn sandbox_cgroup(limits: &Limits) -> Result<Option<SandboxCgroup>, SpawnError> {
    let cgroup = match crate::cgroup::delegated() {
        Ok(parent)
            if (limits.memory.is_some()
                || limits.processes.is_some()
                || limits.cpu_millis.is_some())
                && clone::clone3_exists() =>
        {
            SandboxCgroup::create(parent, limits).ok()
        }
        _ => None,
    };
    if limits.cpu_millis.is_some() && cgroup.is_none() {
        return Err(SpawnError::Unsupported {
            mechanism: "a cgroup v2 cpu controller",
            reason: match crate::cgroup::delegated() {
                Err(why) => why.to_string(),
                Ok(_) => "the sandbox's cgroup could not be created".to_string(),
            },
        });
    }
    Ok(cgroup)
}
