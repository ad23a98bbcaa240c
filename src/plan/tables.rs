//! The host paths a mount plan starts from: the system runtime, its /etc entries, the /proc
//! entries made read-only or covered, the device nodes, and the host's entries that follow
//! from them.

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// The system runtime paths bound read-only by default.
pub(super) const SYSTEM_PATHS: &[&str] = &[
    "/usr",
    "/bin",
    "/sbin",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/alternatives",
    "/etc/localtime",
    "/etc/nsswitch.conf",
];

/// Static, non-secret configuration from `/etc` that programs of the system runtime read when
/// they start (many reach it through symlinks in `/usr`, such as the JDK's `conf/security` or
/// OpenSSL's `/usr/lib/ssl/openssl.cnf`), bound read-only with the system runtime where the
/// host has it. Never a file with credentials or host identity: not `/etc/ssl/private` or
/// `/etc/pki/*/private` (only the certificates and the OpenSSL configuration beside them),
/// `/etc/shadow`, `/etc/ssh`, `/etc/environment`, `/etc/profile*`, `/etc/gitconfig`,
/// `/etc/pip.conf`, `/etc/npmrc`, `/etc/maven/settings.xml`, the host's `/etc/machine-id`
/// and host name, or `/etc/ld.so.preload`.
pub(crate) const SYSTEM_ETC: &[&str] = &[
    // Time zone, locale aliases, and the name service tables of netbase.
    "/etc/timezone",
    "/etc/locale.alias",
    "/etc/services",
    "/etc/protocols",
    "/etc/rpc",
    "/etc/ethertypes",
    "/etc/host.conf",
    "/etc/gai.conf",
    // Public CA certificates and the OpenSSL configuration (Debian, then Fedora's layout).
    "/etc/ssl/certs",
    "/etc/ssl/openssl.cnf",
    "/etc/ca-certificates",
    "/etc/ca-certificates.conf",
    "/etc/pki/tls/certs",
    "/etc/pki/tls/cert.pem",
    "/etc/pki/tls/openssl.cnf",
    "/etc/pki/ca-trust/extracted",
    "/etc/pki/java",
    "/etc/crypto-policies",
    // File types, manual pages, terminals, editors, debuggers, fonts.
    "/etc/mime.types",
    "/etc/magic",
    "/etc/magic.mime",
    "/etc/manpath.config",
    "/etc/groff",
    "/etc/terminfo",
    "/etc/inputrc",
    "/etc/vim",
    "/etc/gdb",
    "/etc/fonts",
    "/etc/X11/rgb.txt",
    // Maven's launcher and logging configuration (not settings.xml: it holds credentials).
    "/etc/maven/m2.conf",
    "/etc/maven/logging",
    "/etc/maven/toolchains.xml",
    // The distribution (also visible from /usr).
    "/etc/os-release",
    "/etc/lsb-release",
    "/etc/debian_version",
    "/etc/redhat-release",
    "/etc/alpine-release",
];

/// Entries of `/etc` bound with the system runtime when their name starts with one of these:
/// each installed JDK's configuration (`/etc/java-17-openjdk`, read through
/// `conf/security/java.security` and ~25 more links) and Python's (`sitecustomize.py`).
pub(crate) const SYSTEM_ETC_PREFIXES: &[&str] = &["java", "python3"];

/// Files covered with an empty one inside the entries of [`SYSTEM_ETC_PREFIXES`]: the JMX
/// remote password file a JDK administrator may add.
pub(super) const SYSTEM_ETC_MASKED: &[&str] = &["management/jmxremote.password"];

/// Extra system paths with the host network: the resolver's configuration and the host's names.
pub(super) const HOST_NETWORK_PATHS: &[&str] = &["/etc/resolv.conf", "/etc/hosts"];

/// Paths of a fresh /proc that are made read-only: they configure the whole host.
pub(super) const PROC_READ_ONLY: &[&str] = &[
    "/proc/sys",
    "/proc/sysrq-trigger",
    "/proc/irq",
    "/proc/bus",
    "/proc/fs",
];

/// Files of a fresh /proc covered with /dev/null in every sandbox: the host's kernel command
/// line, whose boot parameters can carry addresses and credentials.
pub(super) const PROC_MASKED_ALWAYS: &[&str] = &["/proc/cmdline"];

/// Files of a fresh /proc covered with /dev/null for a sandbox running as host uid 0 (as
/// container runtimes do; any other uid is refused them by their mode).
pub(super) const PROC_MASKED: &[&str] = &[
    "/proc/kcore",
    "/proc/keys",
    "/proc/key-users",
    "/proc/timer_list",
    "/proc/sched_debug",
    "/proc/kpageflags",
    "/proc/kpagecount",
    "/proc/kpagecgroup",
    "/proc/slabinfo",
    "/proc/vmallocinfo",
    "/proc/pagetypeinfo",
    "/proc/latency_stats",
];

/// Device nodes bound from the host into the sandbox's `/dev`.
pub(super) const DEV_NODES: &[&str] = &["null", "zero", "full", "random", "urandom", "tty"];

/// The entries of the top level of `/proc` that are not a process's (`meminfo`, `tty`, ...),
/// apart from those [`PROC_READ_ONLY`] and the covered files already name, and the symlinks
/// (`self`, `mounts`, `net`, ...), which lead into a process's directory: sorted, as this
/// kernel's procfs shows them.
pub(super) fn proc_top_level_entries() -> std::io::Result<Vec<PathBuf>> {
    let known = |p: &Path| {
        PROC_READ_ONLY
            .iter()
            .chain(PROC_MASKED)
            .chain(PROC_MASKED_ALWAYS)
            .any(|k| Path::new(k) == p)
    };
    let mut entries = Vec::new();
    for e in std::fs::read_dir("/proc")? {
        let e = e?;
        let pid = e.file_name().as_bytes().iter().all(u8::is_ascii_digit);
        if !pid && !e.file_type()?.is_symlink() && !known(&e.path()) {
            entries.push(e.path());
        }
    }
    entries.sort();
    Ok(entries)
}

/// The `/etc` paths of the system runtime on this host: [`SYSTEM_ETC`] and the entries of
/// `/etc` named by [`SYSTEM_ETC_PREFIXES`], in a stable order.
pub(crate) fn system_etc() -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = SYSTEM_ETC.iter().map(PathBuf::from).collect();
    let mut prefixed: Vec<PathBuf> = std::fs::read_dir("/etc")
        .map(|rd| {
            rd.flatten()
                .filter(|e| {
                    let name = e.file_name();
                    let name = name.to_string_lossy();
                    SYSTEM_ETC_PREFIXES.iter().any(|p| name.starts_with(p))
                })
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default();
    prefixed.sort();
    paths.extend(prefixed);
    paths
}
