//! The policy as a TOML file: everything the builder can express except caller seccomp
//! filters. `tokio-sandbox --policy FILE` reads one; [`Policy::from_toml`] and
//! [`Policy::to_toml`] convert.
//!
//! The format is in the docs of [`Policy::from_toml`].

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::policy::{Layers, Limits, Network, Policy, Requirements, Rule, TmpfsLimits};
use crate::size::{count, opt_count};

/// Why a policy file could not be read or written. Errors of a file read with
/// [`Policy::from_file`] name it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyFileError {
    /// Not valid TOML, or a key or value that does not belong; the message names the key and
    /// the line.
    #[error("policy file{}: {source}", in_file(path))]
    Parse {
        /// The file, when read with [`Policy::from_file`].
        path: Option<PathBuf>,
        /// The parser's error.
        #[source]
        source: toml::de::Error,
    },
    /// A `[[mount]]` entry that is not exactly one of `read_only`, `read_write`, `bind` (with
    /// `to`), `tmpfs` (with `size` and `inodes` optionally).
    #[error("policy file{}: mount entry {index}: {reason}", in_file(path))]
    Mount {
        /// The file, when read with [`Policy::from_file`].
        path: Option<PathBuf>,
        /// 0-based position among the `[[mount]]` entries.
        index: usize,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The policy holds something a file cannot express (caller seccomp filters).
    #[error("policy file: {0} cannot be written to a policy file")]
    NotExpressible(&'static str),
    /// A value TOML cannot hold: a path that is not UTF-8, or a number above `i64::MAX`.
    #[error("policy file: {0}")]
    Serialize(#[from] toml::ser::Error),
    /// Reading or writing the file.
    #[error("policy file {path:?}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

/// ` "FILE"` for an error message, when the file is known.
fn in_file(path: &Option<PathBuf>) -> String {
    path.as_ref().map(|p| format!(" {p:?}")).unwrap_or_default()
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct MountEntry {
    #[serde(skip_serializing_if = "Option::is_none")]
    read_only: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    read_write: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    bind: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    to: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    writable: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tmpfs: Option<PathBuf>,
    #[serde(default, with = "opt_count", skip_serializing_if = "Option::is_none")]
    size: Option<u64>,
    #[serde(default, with = "opt_count", skip_serializing_if = "Option::is_none")]
    inodes: Option<u64>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    #[serde(default = "yes")]
    system: bool,
    #[serde(default)]
    network: Network,
    #[serde(skip_serializing_if = "Option::is_none")]
    uid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    gid: Option<u32>,
    #[serde(default = "default_tmpfs_size", with = "count")]
    tmpfs_size: u64,
    #[serde(default, with = "opt_count", skip_serializing_if = "Option::is_none")]
    tmpfs_inodes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tmpdir: Option<PathBuf>,
    #[serde(default = "yes")]
    ptrace: bool,
    #[serde(default)]
    allow_retained_groups: bool,
    #[serde(default)]
    allow_linux_aio: bool,
    #[serde(default = "default_max_ptys")]
    max_ptys: u32,
    #[serde(default = "yes")]
    new_session: bool,
    #[serde(default = "default_hostname")]
    hostname: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    allow_tcp_bind: Option<Vec<u16>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    allow_tcp_connect: Option<Vec<u16>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    mount: Vec<MountEntry>,
    /// Limits of the sandbox's own tmpfs mounts (`/tmp`, `/dev/shm`, `~`) by path.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    tmpfs: BTreeMap<PathBuf, TmpfsLimits>,
    #[serde(default)]
    limits: Limits,
    #[serde(default)]
    layers: Layers,
    #[serde(default)]
    require: Requirements,
}

fn yes() -> bool {
    true
}

fn default_tmpfs_size() -> u64 {
    crate::policy::DEFAULT_TMPFS_SIZE
}

fn default_max_ptys() -> u32 {
    crate::policy::DEFAULT_MAX_PTYS
}

fn default_hostname() -> String {
    "sandbox".into()
}

impl Policy {
    /// Reads a policy from TOML. Every key is optional; the defaults are [`Policy::new`]'s.
    ///
    /// ```toml
    /// system = true                 # the read-only system runtime (default true)
    /// network = "none"              # or "host"
    /// uid = 1000                    # see Policy::uid
    /// allow_tcp_connect = [443]     # with network = "host"
    /// allow_linux_aio = true        # see Policy::allow_linux_aio (default false)
    /// max_ptys = 16                 # most open pseudo-terminals (default 64)
    /// tmpfs_size = "512M"           # each tmpfs; sizes take K, M, G or T (or a number of bytes)
    /// tmpdir = "out/.tmp"           # TMPDIR, inside a read-write path
    /// ptrace = false                # no tracing inside (default: allowed, confined)
    ///
    /// [[mount]]
    /// read_only = "/opt/data"       # relative paths resolve against the working directory
    /// [[mount]]
    /// read_write = "out"
    /// [[mount]]
    /// bind = "/srv/cache"
    /// to = "/cache"                 # a sandbox path (relative: against the working directory)
    /// writable = true
    /// [[mount]]
    /// tmpfs = "/scratch"
    /// size = "1G"                   # optional, as inodes
    ///
    /// [tmpfs."/dev/shm"]            # the sandbox's own tmpfs mounts: /tmp, /dev/shm, ~ (home)
    /// size = "1G"
    /// inodes = "1M"
    ///
    /// [limits]
    /// cpu_seconds = 10
    /// memory = "512M"
    /// processes = 64
    ///
    /// [require]
    /// network = "best_effort"       # or "required" (the default)
    /// ```
    ///
    /// `[limits]` takes the fields of [`Limits`] (sizes as numbers of bytes or with a unit),
    /// `[layers]` those of [`Layers`], and `[require]` one of `"required"` or `"best_effort"`
    /// per property (`filesystem`, `network`, `processes`, `syscalls`). Caller seccomp filters
    /// cannot be written in a file.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_sandbox::{Limits, Network, Policy};
    /// let policy = Policy::from_toml(
    ///     r#"
    ///     network = "host"
    ///     [[mount]]
    ///     read_only = "/opt/data"
    ///     [limits]
    ///     memory = "256M"
    ///     "#,
    /// )?;
    /// let mut expected = Policy::new();
    /// expected
    ///     .network(Network::Host)
    ///     .read_only("/opt/data")
    ///     .limits(Limits { memory: Some(256 << 20), ..Limits::default() });
    /// assert_eq!(policy, expected);
    /// assert!(Policy::from_toml("netwrok = \"host\"").is_err()); // unknown key
    /// # Ok::<(), tokio_sandbox::PolicyFileError>(())
    /// ```
    ///
    /// # Errors
    /// [`PolicyFileError::Parse`] naming the offending key and line; [`PolicyFileError::Mount`]
    /// for a malformed `[[mount]]` entry.
    pub fn from_toml(text: &str) -> Result<Policy, PolicyFileError> {
        Policy::parse(text, None)
    }

    fn parse(text: &str, path: Option<&std::path::Path>) -> Result<Policy, PolicyFileError> {
        let path = path.map(std::path::Path::to_path_buf);
        let f: PolicyFile = toml::from_str(text).map_err(|source| PolicyFileError::Parse {
            path: path.clone(),
            source,
        })?;
        let mut p = Policy::new();
        p.system(f.system)
            .network(f.network)
            .tmpfs_size(f.tmpfs_size)
            .allow_retained_groups(f.allow_retained_groups)
            .allow_linux_aio(f.allow_linux_aio)
            .max_ptys(f.max_ptys)
            .new_session(f.new_session)
            .hostname(f.hostname)
            .ptrace(f.ptrace)
            .limits(f.limits)
            .layers(f.layers);
        if let Some(u) = f.uid {
            p.uid(u);
        }
        if let Some(g) = f.gid {
            p.gid(g);
        }
        if let Some(n) = f.tmpfs_inodes {
            p.tmpfs_inodes(n);
        }
        if let Some(d) = f.tmpdir {
            p.tmpdir(d);
        }
        p.tcp_bind = f.allow_tcp_bind;
        p.tcp_connect = f.allow_tcp_connect;
        p.requirements = f.require;
        for (dst, limits) in f.tmpfs {
            p.tmpfs_limits(dst, limits);
        }
        for (index, m) in f.mount.into_iter().enumerate() {
            let err = |reason| PolicyFileError::Mount {
                path: path.clone(),
                index,
                reason,
            };
            let sized = m.size.is_some() || m.inodes.is_some();
            match m {
                MountEntry {
                    read_only: Some(path),
                    read_write: None,
                    bind: None,
                    to: None,
                    writable: None,
                    tmpfs: None,
                    ..
                } if !sized => {
                    p.read_only(path);
                }
                MountEntry {
                    read_only: None,
                    read_write: Some(path),
                    bind: None,
                    to: None,
                    writable: None,
                    tmpfs: None,
                    ..
                } if !sized => {
                    p.read_write(path);
                }
                MountEntry {
                    read_only: None,
                    read_write: None,
                    bind: Some(src),
                    to: Some(dst),
                    writable,
                    tmpfs: None,
                    ..
                } if !sized => {
                    p.bind(src, dst, writable.unwrap_or(false));
                }
                MountEntry {
                    read_only: None,
                    read_write: None,
                    bind: None,
                    to: None,
                    writable: None,
                    tmpfs: Some(dst),
                    size,
                    inodes,
                } => {
                    if sized {
                        p.tmpfs_limits(&dst, TmpfsLimits { size, inodes });
                    }
                    p.tmpfs(dst);
                }
                MountEntry {
                    bind: Some(_),
                    to: None,
                    ..
                } => return Err(err("`bind` needs `to` (the path inside the sandbox)")),
                MountEntry { tmpfs: None, .. } if sized => {
                    return Err(err("`size` and `inodes` go with `tmpfs` only"))
                }
                _ => {
                    return Err(err(
                        "expected exactly one of read_only, read_write, bind (with to and \
                         optionally writable), tmpfs (with size and inodes optionally)",
                    ))
                }
            }
        }
        Ok(p)
    }

    /// Reads a policy file (see [`Policy::from_toml`]); its errors name the file.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use tokio_sandbox::Policy;
    /// let policy = Policy::from_file("sandbox.toml")?;
    /// # Ok::<(), tokio_sandbox::PolicyFileError>(())
    /// ```
    ///
    /// # Errors
    /// [`PolicyFileError::Io`] when it cannot be read; otherwise as [`Policy::from_toml`], with
    /// the file's path.
    pub fn from_file(path: impl AsRef<std::path::Path>) -> Result<Policy, PolicyFileError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| PolicyFileError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Policy::parse(&text, Some(path))
    }

    /// Writes the policy as TOML; reading it back gives an equal policy.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_sandbox::Policy;
    /// let mut policy = Policy::new();
    /// policy.read_write("/srv/out").hostname("build");
    /// let text = policy.to_toml()?;
    /// assert_eq!(Policy::from_toml(&text)?, policy);
    /// # Ok::<(), tokio_sandbox::PolicyFileError>(())
    /// ```
    ///
    /// # Errors
    /// [`PolicyFileError::NotExpressible`] when the policy has caller seccomp filters;
    /// [`PolicyFileError::Serialize`] for a path that is not UTF-8 or a number above
    /// `i64::MAX` (TOML has neither).
    pub fn to_toml(&self) -> Result<String, PolicyFileError> {
        if !self.extra_seccomp.is_empty() {
            return Err(PolicyFileError::NotExpressible("seccomp filters"));
        }
        let mount = self
            .rules
            .iter()
            .map(|r| match r {
                Rule::Bind {
                    src,
                    dst: None,
                    writable: false,
                    ..
                } => MountEntry {
                    read_only: Some(src.clone()),
                    ..MountEntry::default()
                },
                Rule::Bind {
                    src,
                    dst: None,
                    writable: true,
                    ..
                } => MountEntry {
                    read_write: Some(src.clone()),
                    ..MountEntry::default()
                },
                Rule::Bind {
                    src,
                    dst: Some(dst),
                    writable,
                    ..
                } => MountEntry {
                    bind: Some(src.clone()),
                    to: Some(dst.clone()),
                    writable: Some(*writable),
                    ..MountEntry::default()
                },
                Rule::Tmpfs { dst } => MountEntry {
                    tmpfs: Some(dst.clone()),
                    ..MountEntry::default()
                },
            })
            .collect();
        let f = PolicyFile {
            system: self.system,
            network: self.network,
            uid: self.uid,
            gid: self.gid,
            tmpfs_size: self.tmpfs_size,
            tmpfs_inodes: self.tmpfs_inodes,
            tmpdir: self.tmpdir.clone(),
            ptrace: self.ptrace,
            allow_retained_groups: self.allow_retained_groups,
            allow_linux_aio: self.allow_linux_aio,
            max_ptys: self.max_ptys,
            new_session: self.new_session,
            hostname: self.hostname.clone(),
            allow_tcp_bind: self.tcp_bind.clone(),
            allow_tcp_connect: self.tcp_connect.clone(),
            mount,
            tmpfs: self.tmpfs_limits.clone(),
            limits: self.limits,
            layers: self.layers,
            require: self.requirements,
        };
        Ok(toml::to_string(&f)?)
    }
}
