//! Landlock (landlock(7), `Documentation/userspace-api/landlock.rst`): the ABI probe and the
//! access masks for each kind of path, built per ABI with the `landlock` crate's access sets.

use std::sync::OnceLock;

use landlock::{Access, AccessFs, ABI};

use crate::child::sys;

/// Why Landlock cannot be used on this kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LandlockUnavailable {
    /// `landlock_create_ruleset` returned ENOSYS: the kernel was built without Landlock.
    NotBuilt,
    /// EOPNOTSUPP: Landlock is built but disabled at boot (`lsm=` without `landlock`).
    Disabled,
    /// Any other errno.
    Other(i32),
}

impl std::fmt::Display for LandlockUnavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LandlockUnavailable::NotBuilt => f.write_str("not built into the kernel (ENOSYS)"),
            LandlockUnavailable::Disabled => f.write_str(
                "disabled at boot (EOPNOTSUPP; add landlock to the lsm= boot parameter)",
            ),
            LandlockUnavailable::Other(e) => write!(
                f,
                "landlock_create_ruleset failed: {}",
                std::io::Error::from_raw_os_error(*e)
            ),
        }
    }
}

/// Environment variable that caps the Landlock ABI the library uses (a test setting, like the
/// landlock crate's): with `TOKIO_SANDBOX_LANDLOCK_ABI_MAX=3` a kernel with ABI 7 is used as
/// ABI 3, and the kernel then enforces exactly the ABI 3 rights. Read once per process.
pub const ABI_MAX_ENV: &str = "TOKIO_SANDBOX_LANDLOCK_ABI_MAX";

/// The Landlock ABI version the library uses: the running kernel's
/// (`landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION)`), capped by
/// [`ABI_MAX_ENV`] when set; probed once per process.
///
/// # Examples
///
/// ```
/// match tokio_sandbox::landlock::abi_version() {
///     Ok(abi) => println!("Landlock ABI {abi}"),
///     Err(why) => println!("no Landlock: {why}"),
/// }
/// ```
///
/// # Errors
/// [`LandlockUnavailable::NotBuilt`] (`ENOSYS`), [`LandlockUnavailable::Disabled`]
/// (`EOPNOTSUPP`), or [`LandlockUnavailable::Other`] with any other errno of
/// `landlock_create_ruleset`.
pub fn abi_version() -> Result<u32, LandlockUnavailable> {
    static ABI_VERSION: OnceLock<Result<u32, LandlockUnavailable>> = OnceLock::new();
    let cap = || {
        std::env::var(ABI_MAX_ENV)
            .ok()
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(u32::MAX)
    };
    *ABI_VERSION.get_or_init(|| match sys::landlock_abi_version() {
        Ok(v) => Ok((v as u32).min(cap()).max(1)),
        Err(libc::ENOSYS) => Err(LandlockUnavailable::NotBuilt),
        Err(libc::EOPNOTSUPP) => Err(LandlockUnavailable::Disabled),
        Err(e) => Err(LandlockUnavailable::Other(e)),
    })
}

/// The access rights used for each kind of path, for one ABI.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Masks {
    /// Every filesystem right this ABI knows: all are handled (denied unless granted).
    pub handled: u64,
    /// Rights that make sense on a non-directory.
    pub file: u64,
    pub read_dir: u64,
    pub read_file: u64,
    pub write_dir: u64,
    pub write_file: u64,
    pub ioctl_dev: u64,
    /// Scopes (ABI 6): abstract unix sockets and signals stay inside the sandbox.
    pub scoped: u64,
    /// `LANDLOCK_RESTRICT_SELF_LOG_SAME_EXEC_OFF` where the ABI has it (7).
    pub restrict_flags: u32,
}

impl Masks {
    pub(crate) fn for_abi(version: u32) -> Masks {
        let abi = ABI::from(version as i32);
        let all = AccessFs::from_all(abi).bits();
        let file = AccessFs::from_file(abi).bits();
        let ioctl_dev = if version >= 5 {
            AccessFs::IoctlDev as u64
        } else {
            0
        };
        let read = AccessFs::from_read(abi).bits();
        // Writes, minus ioctl on devices (granted only on terminals).
        let write = AccessFs::from_write(abi).bits() & !ioctl_dev;
        Masks {
            handled: all,
            file,
            read_dir: read,
            read_file: read & file,
            write_dir: read | write,
            write_file: (read | write) & file,
            ioctl_dev,
            scoped: if version >= 6 { 0x1 | 0x2 } else { 0 },
            restrict_flags: if version >= 7 { 0x1 } else { 0 },
        }
    }
}
