//! What the program starts with: its working directory and environment, where it is in the
//! sandbox's view, and its argv and envp as C strings.

use std::collections::BTreeMap;
use std::ffi::{CString, OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::error::{os_err, PolicyError, SpawnError};
use crate::plan::identity::Identity;
use crate::plan::mount::MountPlan;
use crate::plan::walk::{absolute, cstring, normalize, without_cur_dirs};

/// The sandbox's default `PATH`.
pub const DEFAULT_PATH: &str = "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin";

/// One change to the program's environment, in the order the command made them.
#[derive(Debug, Clone)]
pub(crate) enum EnvOp {
    Set(OsString, OsString),
    Remove(OsString),
    Clear,
    Inherit(OsString),
}

/// The working directory inside: `cwd` as asked, else the caller's when the sandbox has it at
/// the same place (bound there, or created there as the parent of a bound path or of a tmpfs,
/// so that relative paths to them work), else `/`.
pub(crate) fn working_directory(
    cwd: Option<&Path>,
    plan: &MountPlan,
) -> Result<PathBuf, SpawnError> {
    if let Some(d) = cwd {
        return Ok(normalize(&absolute(d).map_err(os_err("current_dir"))?));
    }
    let caller = std::env::current_dir().ok();
    Ok(caller
        .filter(|c| {
            plan.host_path(c).as_deref() == Some(c.as_path())
                || plan.visible.iter().any(|(dst, _)| dst.starts_with(c))
                || plan.tmpfs.iter().any(|t| t.path.starts_with(c))
        })
        .unwrap_or_else(|| PathBuf::from("/")))
}

/// The init's argv (`init REPORT_FD STATUS_FD LIFELINE_FD NTMPFS [TMPFS...] PROGRAM ARGV0
/// [ARGS...]`, the three fds as placeholders to fill in, then the tmpfs mounts init checks for
/// space when the program ends) and the program's envp, as C strings.
pub(crate) fn exec_strings(
    program: &Path,
    arg0: &OsStr,
    args: &[OsString],
    env: &BTreeMap<OsString, OsString>,
    tmpfs: &[&Path],
) -> Result<(Vec<CString>, Vec<CString>), PolicyError> {
    let (program, program_argv, envp) = program_strings(program, arg0, args, env)?;
    let mut argv = Vec::with_capacity(program_argv.len() + tmpfs.len() + 6);
    argv.push(c"tokio-sandbox-init".to_owned());
    argv.push(c"0".to_owned()); // report fd
    argv.push(c"0".to_owned()); // status fd
    argv.push(c"0".to_owned()); // lifeline fd
    argv.push(cstring(tmpfs.len().to_string())?);
    for t in tmpfs {
        argv.push(cstring(t)?);
    }
    argv.push(program);
    argv.extend(program_argv);
    Ok((argv, envp))
}

/// The program's path, argv (`ARGV0 [ARGS...]`) and envp, as C strings.
pub(crate) fn program_strings(
    program: &Path,
    arg0: &OsStr,
    args: &[OsString],
    env: &BTreeMap<OsString, OsString>,
) -> Result<(CString, Vec<CString>, Vec<CString>), PolicyError> {
    let cstr = |what: &'static str, s: &OsStr| {
        CString::new(s.as_bytes()).map_err(|_| PolicyError::NulInString {
            what,
            value: s.to_string_lossy().into_owned(),
        })
    };
    let program = cstring(program)?;
    let mut argv = Vec::with_capacity(args.len() + 1);
    argv.push(cstr("program", arg0)?);
    for a in args {
        argv.push(cstr("argument", a)?);
    }
    let mut envp = Vec::with_capacity(env.len());
    for (k, v) in env {
        if k.as_bytes().contains(&b'=') || k.is_empty() {
            return Err(PolicyError::InvalidEnvName(
                k.to_string_lossy().into_owned(),
            ));
        }
        let mut kv = k.clone();
        kv.push("=");
        kv.push(v);
        envp.push(cstr("environment variable", &kv)?);
    }
    Ok((program, argv, envp))
}

/// What the sandbox's default environment depends on besides the identity.
#[derive(Debug, Clone, Default)]
pub(crate) struct EnvDefaults {
    /// `TMPDIR` (default `/tmp`).
    pub tmpdir: Option<PathBuf>,
    /// Whether a stdio fd of the program is a terminal: the caller's `TERM` and `COLORTERM`
    /// then describe it.
    pub terminal: bool,
    /// Whether the system runtime has the `C.UTF-8` locale.
    pub utf8_locale: bool,
}

/// Whether `/usr/lib/locale` has the `C.UTF-8` locale (Debian and Fedora name it `C.utf8`).
pub(crate) fn has_utf8_locale() -> bool {
    ["/usr/lib/locale/C.utf8", "/usr/lib/locale/C.UTF-8"]
        .iter()
        .any(|p| Path::new(p).is_dir())
}

/// The environment the program gets: sandbox defaults, then the command's operations in order.
///
/// The defaults: `PATH`, `HOME`, `TMPDIR`, `USER`, `LOGNAME` and `SHELL` (`/bin/sh`, the
/// login shell of the sandbox's user), `LANG=C.UTF-8` where the runtime has that locale, and,
/// when a stdio fd is a terminal, the caller's `TERM` and `COLORTERM` (terminal programs need
/// them to draw; they name a terminal type, nothing of the caller).
pub(crate) fn environment(
    ops: &[EnvOp],
    id: &Identity,
    defaults: &EnvDefaults,
) -> BTreeMap<OsString, OsString> {
    let mut env: BTreeMap<OsString, OsString> = BTreeMap::new();
    env.insert("PATH".into(), DEFAULT_PATH.into());
    env.insert("HOME".into(), id.home().into());
    let tmpdir = defaults.tmpdir.as_deref().unwrap_or(Path::new("/tmp"));
    env.insert("TMPDIR".into(), tmpdir.into());
    env.insert("USER".into(), id.user_name().into());
    env.insert("LOGNAME".into(), id.user_name().into());
    env.insert("SHELL".into(), "/bin/sh".into());
    if defaults.utf8_locale {
        env.insert("LANG".into(), "C.UTF-8".into());
    }
    if defaults.terminal {
        for k in ["TERM", "COLORTERM"] {
            if let Some(v) = std::env::var_os(k) {
                env.insert(k.into(), v);
            }
        }
    }
    for op in ops {
        match op {
            EnvOp::Set(k, v) => {
                env.insert(k.clone(), v.clone());
            }
            EnvOp::Remove(k) => {
                env.remove(k);
            }
            EnvOp::Clear => env.clear(),
            EnvOp::Inherit(k) => {
                if let Some(v) = std::env::var_os(k) {
                    env.insert(k.clone(), v);
                }
            }
        }
    }
    env
}

pub(crate) fn is_executable_file(p: &Path) -> bool {
    std::fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Finds the program inside the sandbox: a name without `/` is searched in the sandbox's `PATH`
/// against what the sandbox will see; a path is taken relative to the sandbox's cwd.
pub(crate) fn resolve_program(
    program: &OsStr,
    path_var: Option<&OsStr>,
    cwd: &Path,
    plan: &MountPlan,
) -> Result<PathBuf, SpawnError> {
    let bytes = program.as_bytes();
    if bytes.contains(&b'/') {
        // `..` stays: the kernel resolves it after the symlinks before it, as the walk does.
        let inside = without_cur_dirs(&cwd.join(program));
        // A relative path that leads to nothing visible: say where it was looked for, and to
        // bind it where the caller has it.
        if !Path::new(program).is_absolute() && plan.visible_file(&inside).is_none() {
            let on_host = std::env::current_dir().map(|d| normalize(&d.join(program)));
            if let Some(host) = on_host.ok().filter(|h| h.is_file()) {
                return Err(SpawnError::NotBound { path: host });
            }
            return Err(SpawnError::from(PolicyError::ProgramNotFound {
                program: program.to_string_lossy().into_owned(),
                searched: format!(
                    "{} (the working directory inside is {})",
                    inside.display(),
                    cwd.display()
                ),
            }));
        }
        // execve reports a missing or non-executable path itself, with the exact errno.
        return Ok(inside);
    }
    let path_var = path_var.unwrap_or(OsStr::new(DEFAULT_PATH));
    for dir in std::env::split_paths(path_var) {
        if !dir.is_absolute() {
            continue;
        }
        let inside = dir.join(program);
        if let Some(host) = plan.visible_file(&inside) {
            if is_executable_file(&host) {
                return Ok(inside);
            }
        }
    }
    Err(PolicyError::ProgramNotFound {
        program: program.to_string_lossy().into_owned(),
        searched: path_var.to_string_lossy().into_owned(),
    }
    .into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(inside_uid: u32) -> Identity {
        Identity {
            inside_uid,
            inside_gid: inside_uid,
            host_uid: 1000,
            host_gid: 1000,
            privileged: false,
        }
    }

    #[test]
    fn environment_starts_from_the_sandbox_defaults_then_applies_the_ops_in_order() {
        let plain = EnvDefaults::default();
        let env = environment(&[], &id(1000), &plain);
        let get = |env: &BTreeMap<OsString, OsString>, k: &str| {
            env.get(OsStr::new(k))
                .map(|v| v.to_string_lossy().into_owned())
        };
        assert_eq!(env.len(), 6);
        assert_eq!(get(&env, "PATH").as_deref(), Some(DEFAULT_PATH));
        assert_eq!(get(&env, "HOME").as_deref(), Some("/home/sandbox"));
        assert_eq!(get(&env, "USER").as_deref(), Some("sandbox"));
        assert_eq!(get(&env, "LOGNAME").as_deref(), Some("sandbox"));
        assert_eq!(get(&env, "TMPDIR").as_deref(), Some("/tmp"));
        assert_eq!(get(&env, "SHELL").as_deref(), Some("/bin/sh"));
        assert_eq!(
            get(&environment(&[], &id(0), &plain), "HOME").as_deref(),
            Some("/root")
        );
        // The locale where the runtime has it, a chosen TMPDIR.
        let more = EnvDefaults {
            tmpdir: Some(PathBuf::from("/work/tmp")),
            terminal: false,
            utf8_locale: true,
        };
        let env = environment(&[], &id(1000), &more);
        assert_eq!(get(&env, "LANG").as_deref(), Some("C.UTF-8"));
        assert_eq!(get(&env, "TMPDIR").as_deref(), Some("/work/tmp"));

        let ops = [
            EnvOp::Set("A".into(), "1".into()),
            EnvOp::Remove("TMPDIR".into()),
            EnvOp::Set("A".into(), "2".into()),
            EnvOp::Inherit("PATH".into()),
            EnvOp::Inherit("TOKIO_SANDBOX_TEST_UNSET_VARIABLE".into()),
        ];
        let env = environment(&ops, &id(1000), &plain);
        assert_eq!(get(&env, "A").as_deref(), Some("2"));
        assert_eq!(get(&env, "TMPDIR"), None);
        assert_eq!(
            env.get(OsStr::new("PATH")),
            std::env::var_os("PATH").as_ref()
        );
        assert_eq!(get(&env, "TOKIO_SANDBOX_TEST_UNSET_VARIABLE"), None);

        // Clear drops the defaults too; what follows it still applies.
        let env = environment(
            &[EnvOp::Clear, EnvOp::Set("B".into(), "x".into())],
            &id(1000),
            &plain,
        );
        assert_eq!(env.len(), 1);
        assert_eq!(get(&env, "B").as_deref(), Some("x"));
    }

    #[test]
    fn exec_strings_refuse_nul_bytes_and_bad_names() {
        let env: BTreeMap<OsString, OsString> = [("K".into(), "v".into())].into_iter().collect();
        let tmpfs = [Path::new("/tmp"), Path::new("/dev/shm")];
        let (argv, envp) = exec_strings(
            Path::new("/bin/p"),
            OsStr::new("p"),
            &["a".into()],
            &env,
            &tmpfs,
        )
        .unwrap();
        let argv: Vec<&[u8]> = argv.iter().map(|c| c.as_bytes()).collect();
        assert_eq!(
            argv,
            [
                &b"tokio-sandbox-init"[..],
                b"0",
                b"0",
                b"0",
                b"2",
                b"/tmp",
                b"/dev/shm",
                b"/bin/p",
                b"p",
                b"a"
            ]
        );
        assert_eq!(envp[0].as_bytes(), b"K=v");
        assert!(matches!(
            exec_strings(
                Path::new("/bin/p"),
                OsStr::new("p"),
                &["a\0b".into()],
                &env,
                &[]
            ),
            Err(PolicyError::NulInString {
                what: "argument",
                ..
            })
        ));
        let bad: BTreeMap<OsString, OsString> = [("A=B".into(), "v".into())].into_iter().collect();
        assert!(matches!(
            exec_strings(Path::new("/bin/p"), OsStr::new("p"), &[], &bad, &[]),
            Err(PolicyError::InvalidEnvName(n)) if n == "A=B"
        ));
    }

    #[test]
    fn programs_are_found_in_the_sandbox_view() {
        let d = tempfile::tempdir().unwrap();
        let host = d.path();
        std::fs::create_dir(host.join("bin")).unwrap();
        std::fs::write(host.join("bin/tool"), "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(
            host.join("bin/tool"),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        std::fs::write(host.join("bin/data"), "").unwrap();
        std::os::unix::fs::symlink("bin", host.join("link")).unwrap();
        // `host` at /opt, and a recreated /work -> opt/link.
        let plan = MountPlan::showing("/opt", host, &[("/work", "opt/link")]);
        let find = |program: &str, path: &str, cwd: &str| {
            resolve_program(
                OsStr::new(program),
                Some(OsStr::new(path)),
                Path::new(cwd),
                &plan,
            )
        };
        // In PATH, through the recreated link; a non-executable file is skipped.
        assert_eq!(
            find("tool", "/usr/bin:/work", "/").unwrap(),
            PathBuf::from("/work/tool")
        );
        assert!(matches!(
            find("data", "/work", "/"),
            Err(SpawnError::Policy(PolicyError::ProgramNotFound { .. }))
        ));
        // Relative to the working directory, with `..` after the link (/work is /opt/link,
        // i.e. /opt/bin: its parent is /opt), as the kernel resolves it.
        assert_eq!(
            find("../bin/tool", "", "/work").unwrap(),
            PathBuf::from("/work/../bin/tool")
        );
        assert_eq!(
            plan.visible_file(Path::new("/work/../bin/tool")),
            Some(host.join("bin/tool"))
        );
        match find("./nothing", "", "/work") {
            Err(SpawnError::Policy(PolicyError::ProgramNotFound { searched, .. })) => {
                assert_eq!(
                    searched,
                    "/work/nothing (the working directory inside is /work)"
                )
            }
            other => panic!("expected ProgramNotFound, got {other:?}"),
        }
        // An absolute path is left to execve, which names what is wrong.
        assert_eq!(
            find("/nowhere/x", "", "/").unwrap(),
            PathBuf::from("/nowhere/x")
        );
    }
}
