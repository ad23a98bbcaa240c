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
use crate::plan::walk::{absolute, cstring, normalize};

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
/// the same place (bound there, or created there as the parent of a bound path, so that
/// relative paths to bound children work), else `/`.
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
                || plan
                    .visible
                    .iter()
                    .any(|(dst, src)| dst == src && dst.starts_with(c))
        })
        .unwrap_or_else(|| PathBuf::from("/")))
}

/// The init's argv (`init REPORT_FD STATUS_FD LIFELINE_FD PROGRAM ARGV0 [ARGS...]`, the three
/// fds as placeholders to fill in) and the program's envp, as C strings.
pub(crate) fn exec_strings(
    program: &Path,
    arg0: &OsStr,
    args: &[OsString],
    env: &BTreeMap<OsString, OsString>,
) -> Result<(Vec<CString>, Vec<CString>), PolicyError> {
    let cstr = |what: &'static str, s: &OsStr| {
        CString::new(s.as_bytes()).map_err(|_| PolicyError::NulInString {
            what,
            value: s.to_string_lossy().into_owned(),
        })
    };
    let mut argv = Vec::with_capacity(args.len() + 6);
    argv.push(c"tokio-sandbox-init".to_owned());
    argv.push(c"0".to_owned()); // report fd
    argv.push(c"0".to_owned()); // status fd
    argv.push(c"0".to_owned()); // lifeline fd
    argv.push(cstring(program)?);
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
    Ok((argv, envp))
}

/// The environment the program gets: sandbox defaults, then the command's operations in order.
pub(crate) fn environment(ops: &[EnvOp], id: &Identity) -> BTreeMap<OsString, OsString> {
    let mut env: BTreeMap<OsString, OsString> = BTreeMap::new();
    env.insert("PATH".into(), DEFAULT_PATH.into());
    env.insert("HOME".into(), id.home().into());
    env.insert("TMPDIR".into(), "/tmp".into());
    env.insert("USER".into(), id.user_name().into());
    env.insert("LOGNAME".into(), id.user_name().into());
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
) -> Result<PathBuf, PolicyError> {
    let bytes = program.as_bytes();
    if bytes.contains(&b'/') {
        let inside = normalize(&cwd.join(program));
        // A relative path that leads to nothing visible: say where it was looked for.
        if !Path::new(program).is_absolute() && plan.visible_file(&inside).is_none() {
            return Err(PolicyError::ProgramNotFound {
                program: program.to_string_lossy().into_owned(),
                searched: format!(
                    "{} (the working directory inside is {})",
                    inside.display(),
                    cwd.display()
                ),
            });
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
    })
}
