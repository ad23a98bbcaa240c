//! A policy compiled for this host: the mount plan, the identity, and the paths as C strings.

use std::ffi::{CString, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use crate::error::PolicyError;

pub(crate) mod identity;
pub(crate) mod mount;
pub(crate) mod walk;

/// Converts a path into a `CString` for the child.
pub(crate) fn cstring(p: impl AsRef<OsStr>) -> Result<CString, PolicyError> {
    CString::new(p.as_ref().as_bytes()).map_err(|_| PolicyError::NulByte(PathBuf::from(p.as_ref())))
}
