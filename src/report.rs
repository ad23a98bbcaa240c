//! Turning the child's failure report into a typed error naming the step and the path.

use std::ffi::OsStr;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::child::plan::ChildPlan;
use crate::error::{SpawnError, Stage};
use crate::plan::mount::{FsOp, MountPlan};

/// The interpreter a program names (`#!` line or ELF `PT_INTERP`), read from the host file.
pub(crate) fn interpreter_of(host: &Path) -> Option<PathBuf> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    // Non-blocking and bounded: the file may have been swapped for a FIFO or a huge file.
    let mut data = Vec::new();
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW)
        .open(host)
        .ok()
        .filter(|f| f.metadata().map(|m| m.is_file()).unwrap_or(false))?
        .take(64 * 1024)
        .read_to_end(&mut data)
        .ok()?;
    if let Some(rest) = data.strip_prefix(b"#!") {
        let line = rest.split(|b| *b == b'\n').next()?;
        let line = std::str::from_utf8(line).ok()?.trim();
        let interp = line.split_whitespace().next()?;
        return Some(PathBuf::from(interp));
    }
    // ELF64 little-endian: find PT_INTERP (type 3) in the program headers.
    if data.len() < 64 || &data[..4] != b"\x7fELF" || data[4] != 2 {
        return None;
    }
    let u64_at = |o: usize| -> Option<u64> {
        Some(u64::from_le_bytes(data.get(o..o + 8)?.try_into().ok()?))
    };
    let u16_at = |o: usize| -> Option<u16> {
        Some(u16::from_le_bytes(data.get(o..o + 2)?.try_into().ok()?))
    };
    let phoff = u64_at(32)? as usize;
    let phentsize = u16_at(54)? as usize;
    let phnum = u16_at(56)? as usize;
    for i in 0..phnum {
        let ph = phoff + i * phentsize;
        let ty = u32::from_le_bytes(data.get(ph..ph + 4)?.try_into().ok()?);
        if ty == 3 {
            let off = u64_at(ph + 8)? as usize;
            let size = u64_at(ph + 32)? as usize;
            let s = data.get(off..off + size)?;
            let s = s.split(|b| *b == 0).next()?;
            return Some(PathBuf::from(OsStr::from_bytes(s)));
        }
    }
    None
}

/// Turns a child report into a typed error naming the step and the path.
pub(crate) fn setup_error(
    stage: Stage,
    index: usize,
    errno: i32,
    plan: &ChildPlan,
    mount_plan: &MountPlan,
    program: &Path,
) -> SpawnError {
    let source = io::Error::from_raw_os_error(errno);
    if stage == Stage::Exec && index == 0 {
        let host = mount_plan.visible_file(program);
        return match errno {
            libc::ENOENT => match host.as_deref().and_then(interpreter_of) {
                Some(interpreter) => SpawnError::InterpreterNotFound {
                    path: program.to_path_buf(),
                    interpreter,
                },
                None if host.is_none()
                    && program.is_absolute()
                    && std::fs::metadata(program).is_ok_and(|m| m.is_file()) =>
                {
                    SpawnError::NotBound {
                        path: program.to_path_buf(),
                    }
                }
                None => SpawnError::NotFound {
                    path: program.to_path_buf(),
                },
            },
            libc::EACCES | libc::ENOEXEC | libc::EISDIR => SpawnError::NotExecutable {
                path: program.to_path_buf(),
                source,
            },
            _ => SpawnError::Setup {
                stage,
                path: Some(program.to_path_buf()),
                source,
            },
        };
    }
    let path = match stage {
        Stage::Mkdir
        | Stage::Symlink
        | Stage::Bind
        | Stage::Tmpfs
        | Stage::Proc
        | Stage::Devpts
        | Stage::File => mount_plan.ops.get(index).map(|op| match op {
            FsOp::Bind { src, .. } => src.clone(),
            other => other.path().to_path_buf(),
        }),
        Stage::IdMap => Some(PathBuf::from(match index {
            0 => "/proc/self/setgroups",
            1 => "/proc/self/gid_map",
            _ => "/proc/self/uid_map",
        })),
        Stage::Landlock => index
            .checked_sub(1)
            .and_then(|i| plan.setup.landlock.as_ref()?.rules.get(i))
            .map(|r| PathBuf::from(OsStr::from_bytes(r.path.as_bytes()))),
        Stage::Chdir => Some(PathBuf::from(OsStr::from_bytes(plan.cwd.as_bytes()))),
        // Too long an argument list is the program's, although the init's execve reports it.
        Stage::Exec if errno == libc::E2BIG => Some(program.to_path_buf()),
        Stage::Exec => Some(PathBuf::from("memfd:tokio-sandbox-init")),
        Stage::RootTmpfs | Stage::PivotRoot => {
            Some(PathBuf::from(OsStr::from_bytes(plan.staging.as_bytes())))
        }
        _ => None,
    };
    SpawnError::Setup {
        stage,
        path,
        source,
    }
}
