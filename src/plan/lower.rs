//! Lowering the mount plan to the operations the child runs, with the Landlock rules that go
//! with them.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::child::plan::{ChildOp, LandlockRule, OLD_ROOT};
use crate::error::PolicyError;
use crate::landlock::Masks;
use crate::plan::landlock::bind_access;
use crate::plan::mount::{FsOp, MountPlan, NodeKind};
use crate::plan::walk::cstring;

pub(crate) fn old_root_path(p: &Path) -> Result<CString, PolicyError> {
    let mut v = OLD_ROOT.as_bytes().to_vec();
    v.extend_from_slice(p.as_os_str().as_bytes());
    CString::new(v).map_err(|_| PolicyError::NulByte(p.to_path_buf()))
}

/// The nearest writable mount (tmpfs, read-write bind) that `dst` lies beneath, if any.
pub(crate) fn writable_ancestor(plan: &MountPlan, dst: &Path) -> Option<PathBuf> {
    plan.ops.iter().find_map(|op| {
        let (path, writable) = match op {
            FsOp::Tmpfs { dst, .. } => (dst, dst != Path::new("/dev")),
            FsOp::Bind { dst, writable, .. } => (dst, *writable),
            _ => return None,
        };
        (writable && path.as_path() != dst && crate::plan::walk::is_under(dst, path))
            .then(|| path.clone())
    })
}

/// Converts the mount plan into child operations and the Landlock rules that go with them.
pub(crate) fn child_ops(
    plan: &mut MountPlan,
    masks: &Masks,
) -> Result<(Vec<ChildOp>, Vec<LandlockRule>), PolicyError> {
    let mut ops = Vec::with_capacity(plan.ops.len());
    let mut rules = vec![LandlockRule {
        path: c"/".to_owned(),
        access: masks.read_dir | masks.read_file,
        pin: None,
    }];
    let rule = |path: &Path, access: u64| -> Result<LandlockRule, PolicyError> {
        Ok(LandlockRule {
            path: cstring(path)?,
            access,
            pin: None,
        })
    };
    // A path strictly inside a bind is the host's: nothing may be created there. Those
    // directories leave the plan, so that each child op has the plan op of the same index
    // (a setup error names its path by that index).
    let bind_dsts: std::collections::HashSet<PathBuf> =
        plan.visible.iter().map(|(d, _)| d.clone()).collect();
    let on_host = |p: &Path| p.ancestors().skip(1).any(|a| bind_dsts.contains(a));
    plan.ops
        .retain(|op| !matches!(op, FsOp::Mkdir { path, .. } if on_host(path)));
    for op in &plan.ops {
        match op {
            FsOp::Mkdir { path, mode } => ops.push(ChildOp::Mkdir {
                path: cstring(path)?,
                mode: *mode,
            }),
            FsOp::Symlink { target, path } => ops.push(ChildOp::Symlink {
                target: cstring(target)?,
                path: cstring(path)?,
            }),
            FsOp::Bind {
                src,
                dst,
                kind,
                writable,
                pin,
            } => {
                let mut attr = libc::MOUNT_ATTR_NOSUID;
                // Device nodes (and a bound /dev) must stay usable: C08.
                if *kind != NodeKind::Device && !src.starts_with("/dev") {
                    attr |= libc::MOUNT_ATTR_NODEV;
                }
                // A device node's mount is read-only even when the device is writable: writes
                // to a device pass a read-only mount (Landlock decides those), while chmod and
                // utimes on the host's node do not.
                if !*writable || *kind == NodeKind::Device {
                    attr |= libc::MOUNT_ATTR_RDONLY;
                }
                // Landlock rights are inherited from parent directories: a read-only device
                // beneath a writable path would be writable.
                if *kind == NodeKind::Device && !*writable {
                    if let Some(parent) = writable_ancestor(plan, dst) {
                        return Err(PolicyError::ReadOnlyDeviceUnderWritable {
                            device: dst.clone(),
                            parent,
                        });
                    }
                }
                ops.push(ChildOp::Bind {
                    src: old_root_path(src)?,
                    dst: cstring(dst)?,
                    dir: *kind == NodeKind::Dir,
                    create: !on_host(dst),
                    attr_set: attr,
                    pin: *pin,
                });
                let access = bind_access(masks, *kind, *writable, src);
                rules.push(rule(dst, access)?);
            }
            FsOp::Tmpfs {
                dst,
                mode,
                size,
                inodes,
            } => {
                // Inodes are capped too: empty files cost kernel memory but no size.
                let data = format!("mode={mode:o},size={size},nr_inodes={inodes}");
                let mut flags = libc::MS_NOSUID | libc::MS_NODEV;
                if dst == Path::new("/dev") {
                    flags |= libc::MS_NOEXEC;
                    rules.push(rule(dst, masks.read_dir)?);
                } else {
                    rules.push(rule(dst, masks.write_dir)?);
                }
                ops.push(ChildOp::Tmpfs {
                    dst: cstring(dst)?,
                    create: !on_host(dst),
                    flags,
                    data: CString::new(data).expect("no NUL in tmpfs options"),
                });
            }
            FsOp::Proc { dst } => {
                ops.push(ChildOp::Proc { dst: cstring(dst)? });
                rules.push(rule(
                    dst,
                    masks.read_dir
                        | masks.read_file
                        | (masks.write_file & masks.file & !masks.ioctl_dev),
                )?);
            }
            FsOp::Devpts { dst, max } => {
                // `max=`: the ptys of every non-initial devpts come from one pool of the host.
                let data = format!("newinstance,ptmxmode=0666,mode=0620,max={max}");
                ops.push(ChildOp::Devpts {
                    dst: cstring(dst)?,
                    data: CString::new(data).expect("no NUL in devpts options"),
                });
                // Terminals: ioctl (tcsetattr, TIOCGPTN on ptmx) is what they are for.
                rules.push(rule(
                    dst,
                    masks.read_dir | masks.write_file | masks.ioctl_dev,
                )?);
            }
            FsOp::ReadOnly { path } => ops.push(ChildOp::ReadOnly {
                path: cstring(path)?,
            }),
            FsOp::Mask { path } => ops.push(ChildOp::Mask {
                src: old_root_path(Path::new("/dev/null"))?,
                path: cstring(path)?,
            }),
            FsOp::MaskDir { path } => ops.push(ChildOp::MaskDir {
                path: cstring(path)?,
            }),
            FsOp::MachineId { path } => ops.push(ChildOp::MachineId {
                path: cstring(path)?,
            }),
            FsOp::File { path, contents } => ops.push(ChildOp::File {
                path: cstring(path)?,
                contents: contents.clone(),
            }),
        }
    }
    debug_assert_eq!(ops.len(), plan.ops.len(), "one child op per plan op");
    Ok((ops, rules))
}
