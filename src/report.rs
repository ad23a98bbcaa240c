//! Turning the child's failure report into a typed error naming the step and the path.

use std::ffi::OsStr;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::child::plan::ChildPlan;
use crate::error::{PolicyError, SpawnError, Stage};
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
    interpreter_in(&data)
}

/// The interpreter named by a file that starts with `data`: its `#!` line, or the `PT_INTERP`
/// program header of a 64-bit little-endian ELF file (elf(5)).
fn interpreter_in(data: &[u8]) -> Option<PathBuf> {
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
        Ok(failure) => {
            // The whole record, with the argument the error does not carry.
            #[cfg(feature = "tracing")]
            tracing::debug!(
                stage = ?failure.stage,
                call = ?failure.call,
                index = failure.index,
                arg = failure.arg,
                errno = failure.errno,
                "setup failure report"
            );
            setup_error(&failure, plan, mount_plan, program)
        }
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

/// The error of a failed execve(2) of `program`: not found (also: its interpreter, or a host
/// file no bind shows), not executable, or the errno.
fn exec_error(failure: &Failure, mount_plan: &MountPlan, program: &Path) -> SpawnError {
    let Failure {
        stage, call, errno, ..
    } = *failure;
    let source = io::Error::from_raw_os_error(errno);
    let host = mount_plan.visible_file(program);
    match errno {
        libc::ENOENT => match host.as_deref().and_then(interpreter_of) {
            Some(interpreter) => SpawnError::InterpreterNotFound {
                path: program.to_path_buf(),
                missing: mount_plan.first_missing(&interpreter),
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
    }
}

/// The error of a command that the init of a running sandbox (or of a prepared one) could not
/// start: the exec, the working directory `cwd`, the descriptors, or a request init refused.
pub(crate) fn command_error(
    failure: &Failure,
    program: &Path,
    cwd: &Path,
    compiled: &crate::plan::CompiledPolicy,
) -> SpawnError {
    if failure.call == Call::ExecProgram {
        return exec_error(failure, &compiled.0.mount_plan, program);
    }
    let path = match failure.stage {
        Stage::Chdir => Some(cwd.to_path_buf()),
        Stage::Exec if failure.errno == libc::E2BIG => Some(program.to_path_buf()),
        _ => None,
    };
    SpawnError::Setup {
        stage: failure.stage,
        call: failure.call.name(),
        path,
        source: io::Error::from_raw_os_error(failure.errno),
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
        return exec_error(failure, mount_plan, program);
    }
    let c_path = |c: &std::ffi::CStr| PathBuf::from(OsStr::from_bytes(c.to_bytes()));
    // A policy path that leads to another object than when it was named.
    if call == Call::SourceIdentity && errno == libc::ESTALE {
        let path = match stage {
            Stage::Landlock => plan
                .setup
                .landlock
                .as_ref()
                .and_then(|ll| ll.rules.get(index))
                .map(|r| c_path(&r.path)),
            _ => match mount_plan.ops.get(index) {
                Some(FsOp::Bind { src, .. }) => Some(src.clone()),
                _ => None,
            },
        };
        if let Some(path) = path {
            return PolicyError::PathReplaced { path }.into();
        }
    }
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
        (Stage::Landlock, Call::Openat | Call::LandlockAddPathRule) => {
            plan.setup
                .landlock
                .as_ref()
                .and_then(|ll| match ll.rules.get(index) {
                    Some(r) => Some(c_path(&r.path)),
                    // The one after the plan's rules is this sandbox's /dev/console.
                    None => plan
                        .console
                        .as_ref()
                        .map(|_| c_path(crate::child::plan::CONSOLE)),
                })
        }
        (Stage::Terminal, Call::IoctlNotty) => Some(PathBuf::from("/dev/tty")),
        (Stage::Terminal, _) => plan.console.as_ref().map(|c| c_path(&c.src)),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::child::plan::{CStrArray, LandlockPlan, LandlockRule, PolicySetup};
    use crate::plan::mount::NodeKind;

    /// A 64-bit little-endian ELF header with one program header of type `ty` whose contents
    /// (at offset 120) are `contents`.
    fn elf(ty: u32, contents: &[u8]) -> Vec<u8> {
        let mut d = vec![0u8; 120];
        d[..4].copy_from_slice(b"\x7fELF");
        d[4] = 2; // ELFCLASS64
        d[5] = 1; // little-endian
        d[32..40].copy_from_slice(&64u64.to_le_bytes()); // e_phoff
        d[54..56].copy_from_slice(&56u16.to_le_bytes()); // e_phentsize
        d[56..58].copy_from_slice(&1u16.to_le_bytes()); // e_phnum
        d[64..68].copy_from_slice(&ty.to_le_bytes()); // p_type
        d[72..80].copy_from_slice(&120u64.to_le_bytes()); // p_offset
        d[96..104].copy_from_slice(&(contents.len() as u64).to_le_bytes()); // p_filesz
        d.extend_from_slice(contents);
        d
    }

    #[test]
    fn interpreters_of_scripts_and_elf_files() {
        assert_eq!(
            interpreter_in(b"#!/usr/bin/env python3\nprint(1)\n"),
            Some(PathBuf::from("/usr/bin/env"))
        );
        assert_eq!(
            interpreter_in(b"#!  /bin/sh -e\n"),
            Some(PathBuf::from("/bin/sh"))
        );
        assert_eq!(interpreter_in(b"#!\n"), None);
        let ld = b"/lib64/ld-linux-x86-64.so.2\0";
        assert_eq!(
            interpreter_in(&elf(3, ld)),
            Some(PathBuf::from("/lib64/ld-linux-x86-64.so.2"))
        );
        // A static binary (no PT_INTERP), a header pointing past the end, a 32-bit file, and
        // no ELF at all name none.
        assert_eq!(interpreter_in(&elf(1, ld)), None);
        let mut cut = elf(3, ld);
        cut.truncate(125);
        assert_eq!(interpreter_in(&cut), None);
        let mut elf32 = elf(3, ld);
        elf32[4] = 1;
        assert_eq!(interpreter_in(&elf32), None);
        assert_eq!(interpreter_in(b"plain text"), None);
        assert_eq!(interpreter_in(b""), None);
    }

    fn child_plan() -> ChildPlan {
        ChildPlan {
            report_fd: -1,
            sync_fd: -1,
            self_maps: None,
            switch_ids: None,
            staging: c"/tmp".to_owned(),
            root_data: c"".to_owned(),
            setup: std::sync::Arc::new(PolicySetup {
                ops: Vec::new(),
                seccomp: Vec::new(),
                landlock: Some(LandlockPlan {
                    attr: Default::default(),
                    rules: vec![
                        LandlockRule {
                            path: c"/".to_owned(),
                            access: 0,
                            pin: None,
                        },
                        LandlockRule {
                            path: c"/data".to_owned(),
                            access: 0,
                            pin: None,
                        },
                    ],
                    net_rules: Vec::new(),
                    restrict_flags: 0,
                }),
            }),
            hostname: Vec::new(),
            loopback: false,
            cwd: c"/work".to_owned(),
            new_session: false,
            drop_ctty: false,
            console: None,
            machine_id: [b'0'; 33],
            fds: Vec::new(),
            fd_scratch: std::cell::UnsafeCell::new(Vec::new()),
            fd_floor: 3,
            cloexec_ranges: Vec::new(),
            close_ranges: Vec::new(),
            mount_ns: true,
            in_user_namespace: true,
            rlimits: Vec::new(),
            init_fd: -1,
            status_fd: -1,
            lifeline_fd: -1,
            argv: CStrArray::new(Vec::new()),
            envp: CStrArray::new(Vec::new()),
        }
    }

    fn mount_plan() -> MountPlan {
        MountPlan {
            ops: vec![
                FsOp::Mkdir {
                    path: PathBuf::from("/srv"),
                    mode: 0o755,
                },
                FsOp::Bind {
                    src: PathBuf::from("/host/src"),
                    dst: PathBuf::from("/srv/in"),
                    kind: NodeKind::Dir,
                    writable: false,
                    pin: None,
                },
                FsOp::ReadOnly {
                    path: PathBuf::from("/proc/sys"),
                },
            ],
            visible: Vec::new(),
            links: Default::default(),
            host_links: Vec::new(),
            tmpfs: Vec::new(),
            tmpdir: None,
        }
    }

    /// The error a record of these words decodes to.
    fn decoded(stage: Stage, call: Call, index: u32, errno: i32) -> SpawnError {
        let record = Failure {
            index,
            ..Failure::new(stage, call, errno)
        }
        .to_bytes();
        let program = Path::new("/nonexistent/tokio-sandbox-test/prog");
        report_error(&record, &child_plan(), &mount_plan(), program)
    }

    /// `(stage, call, path, errno)` of a setup error.
    type Parts = (Stage, &'static str, Option<PathBuf>, Option<i32>);

    /// The parts of a setup error, and its message.
    fn setup(e: SpawnError) -> (Parts, String) {
        let msg = e.to_string();
        match e {
            SpawnError::Setup {
                stage,
                call,
                path,
                source,
                ..
            } => ((stage, call, path, source.raw_os_error()), msg),
            other => panic!("expected a setup error, got {other:?}"),
        }
    }

    #[test]
    fn records_become_errors_naming_the_step_the_call_and_the_path() {
        let (got, msg) = setup(decoded(Stage::Bind, Call::OpenTree, 1, libc::ENOENT));
        let src = Some(PathBuf::from("/host/src"));
        assert_eq!(got, (Stage::Bind, "open_tree", src, Some(libc::ENOENT)));
        assert!(
            msg.starts_with("sandbox setup failed at bind mount (/host/src): open_tree: "),
            "{msg}"
        );
        let (got, _) = setup(decoded(
            Stage::ReadOnlyPath,
            Call::MountSetattr,
            2,
            libc::EPERM,
        ));
        let p = Some(PathBuf::from("/proc/sys"));
        assert_eq!(
            got,
            (Stage::ReadOnlyPath, "mount_setattr", p, Some(libc::EPERM))
        );
        // The four calls of pivot_root are told apart.
        let (a, _) = setup(decoded(Stage::PivotRoot, Call::Chdir, 0, libc::EACCES));
        let (b, _) = setup(decoded(
            Stage::PivotRoot,
            Call::ChdirNewRoot,
            0,
            libc::EACCES,
        ));
        assert_eq!((a.1, b.1), ("chdir", "chdir(\"/\")"));
        let (got, _) = setup(decoded(Stage::IdMap, Call::Write, 1, libc::EPERM));
        assert_eq!(got.2, Some(PathBuf::from("/proc/self/gid_map")));
        let (got, _) = setup(decoded(Stage::IdMap, Call::ReadSync, 0, libc::EPIPE));
        assert_eq!(got.2, None);
        let (got, _) = setup(decoded(
            Stage::Landlock,
            Call::LandlockAddPathRule,
            1,
            libc::EBADF,
        ));
        assert_eq!(got.2, Some(PathBuf::from("/data")));
        let (got, _) = setup(decoded(Stage::Chdir, Call::Chdir, 0, libc::ENOENT));
        assert_eq!(got.2, Some(PathBuf::from("/work")));
        // The init's exec: its memfd, or the program when its arguments are too long.
        let (got, _) = setup(decoded(Stage::Exec, Call::ExecInit, 0, libc::EAGAIN));
        assert_eq!(got.2, Some(PathBuf::from("memfd:tokio-sandbox-init")));
        let (got, _) = setup(decoded(Stage::Exec, Call::ExecInit, 0, libc::E2BIG));
        assert_eq!(
            got.2,
            Some(PathBuf::from("/nonexistent/tokio-sandbox-test/prog"))
        );
    }

    #[test]
    fn a_replaced_policy_path_is_named() {
        for (stage, index, path) in [(Stage::Bind, 1, "/host/src"), (Stage::Landlock, 1, "/data")] {
            match decoded(stage, Call::SourceIdentity, index, libc::ESTALE) {
                SpawnError::Policy(PolicyError::PathReplaced { path: p }) => {
                    assert_eq!(p, PathBuf::from(path))
                }
                other => panic!("{stage:?}: {other:?}"),
            }
        }
        // fstat itself failing is a setup error like any other.
        let (got, _) = setup(decoded(Stage::Bind, Call::SourceIdentity, 1, libc::EIO));
        assert_eq!(got.1, "fstat of a policy path");
    }

    #[test]
    fn the_programs_exec_becomes_the_error_execve_means() {
        match decoded(Stage::Exec, Call::ExecProgram, 0, libc::ENOENT) {
            SpawnError::NotFound { path } => {
                assert_eq!(path, Path::new("/nonexistent/tokio-sandbox-test/prog"))
            }
            other => panic!("expected NotFound, got {other:?}"),
        }
        assert!(matches!(
            decoded(Stage::Exec, Call::ExecProgram, 0, libc::EACCES),
            SpawnError::NotExecutable { .. }
        ));
        let (got, _) = setup(decoded(Stage::Exec, Call::ExecProgram, 0, libc::ENOMEM));
        assert_eq!((got.0, got.1), (Stage::Exec, "execve"));
    }

    #[test]
    fn an_unreadable_record_is_its_own_error() {
        let plan = child_plan();
        let reason = |bytes: &[u8]| match report_error(bytes, &plan, &mount_plan(), Path::new("/p"))
        {
            SpawnError::MalformedReport { reason } => reason,
            other => panic!("expected MalformedReport, got {other:?}"),
        };
        let good = Failure::new(Stage::Exec, Call::ExecProgram, libc::ENOENT).to_bytes();
        assert_eq!(reason(&good[..12]), "12 bytes where a record has 24");
        let mut b = good;
        b[..4].copy_from_slice(b"TSR1");
        assert!(reason(&b).starts_with("unknown format"));
        let mut b = good;
        b[4..8].copy_from_slice(&1000u32.to_ne_bytes());
        assert_eq!(reason(&b), "unknown stage 1000");
        let mut b = good;
        b[8..12].copy_from_slice(&1000u32.to_ne_bytes());
        assert_eq!(reason(&b), "unknown call 1000");
    }
}
