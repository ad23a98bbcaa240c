//! A bind of the mount plan: its source's kind, the pin that a policy path must still lead to,
//! and whether the sandbox's host id could write it.

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use crate::error::PolicyError;
use crate::plan::mount::NodeKind;
use crate::policy::Pin;

/// A bind of the plan, by its sandbox path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Bind {
    pub(super) src: PathBuf,
    pub(super) kind: NodeKind,
    pub(super) writable: bool,
    /// For a policy path: the object it must still lead to when the bind is made.
    pub(super) pin: Option<Pin>,
}

/// Whether a bind's source is a policy path, and what it led to when the policy was given it.
#[derive(Debug, Clone, Copy)]
pub(super) enum Named {
    /// The system runtime: not pinned.
    No,
    /// A policy path, with its pin (`None`: it did not resolve when named, so it is pinned
    /// now).
    Yes(Option<Pin>),
}

/// The pin of a bind whose source `named` resolved to `resolved`: for a policy path, what it
/// led to when named, which must be what it leads to now.
pub(super) fn checked_pin(
    named: &Path,
    resolved: &Path,
    how: Named,
) -> Result<Option<Pin>, PolicyError> {
    let Named::Yes(pin) = how else {
        return Ok(None);
    };
    let now = Pin::of(resolved).ok_or_else(|| PolicyError::MissingPath {
        path: named.to_path_buf(),
        source: std::io::Error::from_raw_os_error(libc::ENOENT),
    })?;
    match pin {
        Some(pin) if !pin.same_object(&now) => Err(PolicyError::PathReplaced {
            path: named.to_path_buf(),
        }),
        _ => Ok(Some(now)),
    }
}

pub(super) fn node_kind(path: &Path) -> Result<NodeKind, PolicyError> {
    let meta = std::fs::metadata(path).map_err(|e| PolicyError::MissingPath {
        path: path.to_path_buf(),
        source: e,
    })?;
    let ft = meta.file_type();
    Ok(if ft.is_dir() {
        NodeKind::Dir
    } else if ft.is_char_device() || ft.is_block_device() {
        NodeKind::Device
    } else {
        NodeKind::File
    })
}

/// Checks that the sandbox's host id could write `path` (mode bits, as the kernel does for an
/// unprivileged process without capabilities).
pub(super) fn writable_by(meta: &std::fs::Metadata, uid: u32, gid: u32) -> bool {
    let mode = meta.mode();
    if meta.uid() == uid {
        mode & 0o200 != 0
    } else if meta.gid() == gid {
        mode & 0o020 != 0
    } else {
        mode & 0o002 != 0
    }
}
