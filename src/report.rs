//! Turning the child's failure report into a typed error naming the step and the path.

use std::ffi::OsStr;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::child::plan::ChildPlan;
use crate::error::{SpawnError, Stage};
use crate::plan::mount::{FsOp, MountPlan};
use crate::wire::{Call, DecodeError, Failure};

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

/// The error a report read from the child's report pipe names: `bytes` is everything read
/// before EOF (not empty: EOF alone means the program was exec'd).
pub(crate) fn report_error(
    bytes: &[u8],
    plan: &ChildPlan,
    mount_plan: &MountPlan,
    program: &Path,
) -> SpawnError {
    match Failure::decode(bytes) {
        Ok(failure) => setup_error(&failure, plan, mount_plan, program),
        Err(e) => SpawnError::MalformedReport {
            reason: match e {
                DecodeError::Length(n) => {
                    format!("{n} bytes where a record has {}", crate::wire::LEN)
                }
                DecodeError::Magic(m) => format!("unknown format {m:#010x}"),
                DecodeError::Stage(s) => format!("unknown stage {s}"),
                DecodeError::Call(c) => format!("unknown call {c}"),
            },
        },
    }
}

/// Turns a child's failure into a typed error naming the step, the call and the path.
pub(crate) fn setup_error(
    failure: &Failure,
    plan: &ChildPlan,
    mount_plan: &MountPlan,
    program: &Path,
) -> SpawnError {
    let Failure {
        stage,
        call,
        index,
        errno,
        ..
    } = *failure;
    let index = index as usize;
    let source = io::Error::from_raw_os_error(errno);
    if call == Call::ExecProgram {
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
                call: call.name(),
                path: Some(program.to_path_buf()),
                source,
            },
        };
    }
    let c_path = |c: &std::ffi::CStr| PathBuf::from(OsStr::from_bytes(c.to_bytes()));
    let path = match (stage, call) {
        (
            Stage::Mkdir
            | Stage::Symlink
            | Stage::Bind
            | Stage::Tmpfs
            | Stage::Proc
            | Stage::Devpts
            | Stage::File
            | Stage::ReadOnlyPath
            | Stage::MaskedPath,
            _,
        ) => mount_plan.ops.get(index).map(|op| match op {
            FsOp::Bind { src, .. } => src.clone(),
            other => other.path().to_path_buf(),
        }),
        (Stage::IdMap, Call::ReadSync) => None,
        (Stage::IdMap, _) => Some(PathBuf::from(match index {
            0 => "/proc/self/setgroups",
            1 => "/proc/self/gid_map",
            _ => "/proc/self/uid_map",
        })),
        (Stage::Landlock, Call::Openat | Call::LandlockAddPathRule) => plan
            .setup
            .landlock
            .as_ref()
            .and_then(|ll| ll.rules.get(index))
            .map(|r| c_path(&r.path)),
        (Stage::Chdir, _) => Some(c_path(&plan.cwd)),
        // Too long an argument list is the program's, although the init's execve reports it.
        (Stage::Exec, _) if errno == libc::E2BIG => Some(program.to_path_buf()),
        (Stage::Exec, Call::ExecInit | Call::ForkProgram) => {
            Some(PathBuf::from("memfd:tokio-sandbox-init"))
        }
        (Stage::RootTmpfs | Stage::PivotRoot, _) => Some(c_path(&plan.staging)),
        _ => None,
    };
    SpawnError::Setup {
        stage,
        call: call.name(),
        path,
        source,
    }
}
