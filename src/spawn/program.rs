//! The program's environment, and finding the program in the sandbox's view.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::command::EnvOp;
use crate::error::PolicyError;
use crate::plan::identity::Identity;
use crate::plan::mount::MountPlan;
use crate::plan::walk::normalize;

/// The sandbox's default `PATH`.
pub const DEFAULT_PATH: &str = "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin";

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

/// The host file a sandbox path shows, following symlinks the way the sandbox sees them (a link
/// to a path the sandbox cannot see leads nowhere).
///
/// Every component is resolved in the sandbox's view (recreated symlinks, then the bind that
/// shows it), so a symlink planted in a read-write path cannot lead the parent to a host file
/// the sandbox cannot see. Only a regular file counts.
pub(crate) fn visible_file(plan: &MountPlan, inside: &Path) -> Option<PathBuf> {
    fn push_components(todo: &mut Vec<std::ffi::OsString>, p: &Path) {
        for c in p.components().rev() {
            match c {
                std::path::Component::Normal(n) => todo.push(n.to_os_string()),
                std::path::Component::ParentDir => todo.push("..".into()),
                _ => {}
            }
        }
    }
    let mut todo = Vec::new();
    push_components(&mut todo, inside);
    let mut current = PathBuf::from("/");
    let mut followed = 0;
    while let Some(c) = todo.pop() {
        if c == ".." {
            current.pop();
            continue;
        }
        let candidate = current.join(&c);
        let target = match plan.links.get(&candidate) {
            Some(t) => Some(PathBuf::from(t)),
            // Outside every bind: a directory of the sandbox's own (tmpfs root, /tmp, ...).
            None => match plan.bound_host_path(&candidate) {
                None => None,
                Some(host) => {
                    let meta = std::fs::symlink_metadata(&host).ok()?;
                    if meta.file_type().is_symlink() {
                        Some(std::fs::read_link(&host).ok()?)
                    } else {
                        None
                    }
                }
            },
        };
        match target {
            Some(t) => {
                followed += 1;
                if followed > 40 {
                    return None;
                }
                if t.is_absolute() {
                    current = PathBuf::from("/");
                }
                push_components(&mut todo, &t);
            }
            None => current = candidate,
        }
    }
    let host = plan.bound_host_path(&current)?;
    std::fs::symlink_metadata(&host)
        .ok()
        .filter(|m| m.is_file())
        .map(|_| host)
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
        if !Path::new(program).is_absolute() && visible_file(plan, &inside).is_none() {
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
        if let Some(host) = visible_file(plan, &inside) {
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
