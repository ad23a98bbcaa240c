//! AppArmor's restriction of unprivileged user namespaces (Ubuntu 23.10 and later).
//!
//! With `kernel.apparmor_restrict_unprivileged_userns = 1`, `clone(CLONE_NEWUSER)` still
//! succeeds for an unprivileged program that no AppArmor profile allows `userns`, but the new
//! namespace grants it no capability: writing its id maps or its first mount fails with
//! `EPERM`. A profile with the `userns` rule for the program's path lifts that
//! ([`profile`]).

use std::path::Path;

/// The sysctl that turns the restriction on.
pub const USERNS_SYSCTL: &str = "/proc/sys/kernel/apparmor_restrict_unprivileged_userns";

/// Whether AppArmor restricts this process's user namespaces: the sysctl is 1 and the caller
/// is not root (read once).
pub(crate) fn restricts_userns() -> bool {
    static RESTRICTS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *RESTRICTS.get_or_init(|| {
        !rustix::process::geteuid().is_root()
            && std::fs::read_to_string(USERNS_SYSCTL).is_ok_and(|v| v.trim() == "1")
    })
}

/// The AppArmor profile that lets the program at `program` (an absolute path) create user
/// namespaces where the restriction is on: unconfined otherwise, with the `userns` rule
/// (AppArmor 4, `abi <abi/4.0>`). Install it as `/etc/apparmor.d/NAME` and load it with
/// `apparmor_parser -r /etc/apparmor.d/NAME` (the CLI prints it with `--apparmor-profile`).
///
/// # Examples
///
/// ```
/// let p = tokio_sandbox::apparmor_profile(std::path::Path::new("/usr/local/bin/my-server"));
/// assert!(p.contains("profile my-server /usr/local/bin/my-server flags=(unconfined) {"));
/// assert!(p.contains("  userns,\n"));
/// ```
pub fn profile(program: &Path) -> String {
    let name: String = program
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let path = program.to_string_lossy();
    // Paths with blanks, quotes or AppArmor's glob characters are quoted, with those
    // characters escaped.
    let plain = path
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/-_.+".contains(c));
    let path = if plain {
        path.into_owned()
    } else {
        let mut q = String::from("\"");
        for c in path.chars() {
            if "\"\\*?[]{}^".contains(c) {
                q.push('\\');
            }
            q.push(c);
        }
        q.push('"');
        q
    };
    format!(
        "# AppArmor profile {name}: lets the program below create user namespaces,\n\
         # which tokio-sandbox needs where kernel.apparmor_restrict_unprivileged_userns = 1\n\
         # (Ubuntu 23.10 and later), and confines nothing else. Save it as\n\
         # /etc/apparmor.d/{name}, then load it: sudo apparmor_parser -r /etc/apparmor.d/{name}\n\
         abi <abi/4.0>,\n\
         include <tunables/global>\n\
         \n\
         profile {name} {path} flags=(unconfined) {{\n\
         \x20 userns,\n\
         \n\
         \x20 include if exists <local/{name}>\n\
         }}\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_quotes_what_needs_it() {
        let p = profile(Path::new("/opt/my tools/run[1]"));
        assert!(
            p.contains(
                "profile run_1_ \"/opt/my tools/run\\[1\\]\" flags=(unconfined) {\n  userns,\n"
            ),
            "{p}"
        );
    }
}
