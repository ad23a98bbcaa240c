//! The object a host path of the policy led to when it was given, checked again at each spawn.

use std::path::Path;

/// The object a host path led to when it was given to the policy: its device, inode, file
/// type and, where the filesystem records it, birth time (statx(2), symlinks followed). The
/// birth time tells a new object from a deleted one whose inode number it reuses. A spawn
/// whose path leads to another object is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pin {
    pub dev_major: u32,
    pub dev_minor: u32,
    pub ino: u64,
    /// The `S_IFMT` bits of the mode.
    pub file_type: u16,
    /// `(seconds, nanoseconds)`, when the filesystem reports it.
    pub btime: Option<(i64, u32)>,
}

impl Pin {
    /// The object `path` leads to now (a relative path resolves against the working
    /// directory), or `None` when it does not resolve.
    pub(crate) fn of(path: &Path) -> Option<Pin> {
        use rustix::fs::{statx, AtFlags, StatxFlags, CWD};
        let want = StatxFlags::TYPE | StatxFlags::INO | StatxFlags::BTIME;
        let st = statx(CWD, path, AtFlags::empty(), want).ok()?;
        let btime = st.stx_mask & libc::STATX_BTIME != 0;
        Some(Pin {
            dev_major: st.stx_dev_major,
            dev_minor: st.stx_dev_minor,
            ino: st.stx_ino,
            file_type: st.stx_mode & libc::S_IFMT as u16,
            btime: btime.then_some((st.stx_btime.tv_sec, st.stx_btime.tv_nsec)),
        })
    }

    /// Whether `other` is the same object: the same device, inode and type, and the same
    /// birth time where both have one.
    pub(crate) fn same_object(&self, other: &Pin) -> bool {
        let btimes_agree = match (self.btime, other.btime) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        };
        self.dev_major == other.dev_major
            && self.dev_minor == other.dev_minor
            && self.ino == other.ino
            && self.file_type == other.file_type
            && btimes_agree
    }
}
