//! Landlock rights for bound paths, and the rules on host paths of a sandbox without a mount
//! namespace.

use std::path::Path;

use crate::child::plan::LandlockRule;
use crate::error::SpawnError;
use crate::landlock::Masks;
use crate::plan::mount::{FsOp, MountPlan, NodeKind};
use crate::plan::walk::cstring;

/// The Landlock rights of a path bound from host path `src`.
pub(crate) fn bind_access(masks: &Masks, kind: NodeKind, writable: bool, src: &Path) -> u64 {
    match (kind, writable) {
        (NodeKind::Dir, false) => masks.read_dir,
        (NodeKind::Dir, true) => masks.write_dir,
        // A read-only mount does not stop writes to a device: Landlock does.
        (NodeKind::File | NodeKind::Device, false) => masks.read_file,
        (NodeKind::File, true) => masks.write_file,
        // ioctl (tcgetattr, tcsetattr) only on terminals, never on data.
        (NodeKind::Device, true) if is_terminal(src) => masks.write_file | masks.ioctl_dev,
        (NodeKind::Device, true) => masks.write_file,
    }
}

/// Whether host path `path` is a terminal device: `/dev/tty` (5:0), a tty or serial line
/// (major 4), or a pty slave (majors 136 to 143), per the kernel's devices.txt.
pub(crate) fn is_terminal(path: &Path) -> bool {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let Ok(meta) = std::fs::metadata(path) else {
        return false;
    };
    let rdev = meta.rdev();
    let (major, minor) = (libc::major(rdev), libc::minor(rdev));
    meta.file_type().is_char_device()
        && ((major, minor) == (5, 0) || major == 4 || (136..=143).contains(&major))
}

/// Landlock rules on host paths for a sandbox without a mount namespace: every same-place bind
/// of the plan (policy paths, the system runtime, the device nodes), host `/proc` read-only,
/// and the host's user and host-name files read-only (nothing is generated).
pub(crate) fn host_rules(plan: &MountPlan, masks: &Masks) -> Result<Vec<LandlockRule>, SpawnError> {
    let mut rules = Vec::new();
    let mut add = |path: &Path, access: u64, pin: Option<crate::policy::Pin>| {
        rules.push(LandlockRule {
            path: cstring(path)?,
            access,
            pin,
        });
        Ok::<(), SpawnError>(())
    };
    for op in &plan.ops {
        match op {
            FsOp::Bind {
                src,
                dst,
                kind,
                writable,
                pin,
            } => {
                if src != dst {
                    return Err(SpawnError::Unsupported {
                        mechanism: "mount namespace",
                        reason: format!(
                            "binding {} at {} needs one; Landlock alone can only allow paths \
                             where they are",
                            src.display(),
                            dst.display()
                        ),
                    });
                }
                add(src, bind_access(masks, *kind, *writable, src), *pin)?;
            }
            FsOp::Proc { dst } => add(dst, masks.read_dir, None)?,
            _ => {}
        }
    }
    for f in ["/etc/passwd", "/etc/group", "/etc/hosts", "/etc/hostname"] {
        if Path::new(f).exists() {
            add(Path::new(f), masks.read_file, None)?;
        }
    }
    Ok(rules)
}
