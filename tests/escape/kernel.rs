//! Kernel surface: keyrings, BPF, perf events, userfaultfd, io_uring, the calls that change the
//! whole host (kexec, modules, accounting, swap, reboot, the kernel log), fanotify,
//! `personality`, terminal injection, and the x32 and i386 system call entries.
//!
//! Host-wide calls fail on the host too for want of a capability, so their controls run as root,
//! with arguments that are refused *after* the capability check (a missing file, a wrong magic
//! number): the host answers ENOENT or EINVAL, the sandbox EPERM.

use libc::{EACCES, EBADF, EINVAL, EIO, ENOENT, ENOEXEC, ENOKEY, ENOSYS, ENOTTY, EPERM};

use crate::common::{host::sysctl, is_root};
use crate::{errno, Attempt, Control};

/// Whether the kernel's lockdown LSM is in force (it refuses kexec and unsigned modules even
/// to root).
fn locked_down() -> bool {
    std::fs::read_to_string("/sys/kernel/security/lockdown").is_ok_and(|l| !l.contains("[none]"))
}

/// What the host answers for kexec_load with an unknown flag: ENOSYS without kexec (no
/// `/sys/kernel/kexec_loaded`), else EINVAL once root's capability check has passed.
fn kexec_control() -> Control {
    if !std::path::Path::new("/sys/kernel/kexec_loaded").exists() {
        Control::Host(errno(ENOSYS))
    } else if sysctl("kernel/kexec_load_disabled").as_deref() == Some("1") || locked_down() {
        Control::None("kexec_load is refused to root too here (kexec_load_disabled or lockdown)")
    } else {
        Control::Root(errno(EINVAL))
    }
}

/// What the host answers for a module load with no image: ENOSYS without module support (no
/// `/proc/modules`), else `when_root` once root's capability check has passed.
fn module_control(when_root: i32) -> Control {
    if !std::path::Path::new("/proc/modules").exists() {
        Control::Host(errno(ENOSYS))
    } else if sysctl("kernel/modules_disabled").as_deref() == Some("1") || locked_down() {
        Control::None("module loading is refused to root too here (modules_disabled or lockdown)")
    } else {
        Control::Root(errno(when_root))
    }
}

async fn denied(name: &'static str, expected: i32, control: Control) {
    Attempt::new(name)
        .check(&errno(expected), control, |_| {})
        .await;
}

/// Keyrings are not namespaced: keyctl, add_key and request_key are refused. The controls do
/// not need a session keyring (C52: a test run started after the login session ended has a
/// revoked one).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kern_keyrings() {
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    denied("keyctl", EPERM, Control::Ok).await;
    denied("add_key", EPERM, Control::Ok).await;
    denied("request_key", EPERM, Control::Host(errno(ENOKEY))).await;
}

/// bpf (BPF_MAP_CREATE): refused. Unprivileged BPF is off on this host, hence a root control.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kern_bpf() {
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    denied("bpf_map_create", EPERM, Control::Root("ok".into())).await;
}

/// perf_event_open of a software counter on itself (allowed to any process at
/// perf_event_paranoid 2; Debian's level 3 refuses unprivileged callers with EACCES): refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kern_perf_event_open() {
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    let control = match sysctl("kernel/perf_event_paranoid") {
        None => Control::Host(errno(ENOSYS)),
        Some(level) if level.parse::<i32>().unwrap_or(2) > 2 && !is_root() => {
            Control::Host(errno(EACCES))
        }
        Some(_) => Control::Ok,
    };
    denied("perf_event_open", EPERM, control).await;
}

/// userfaultfd in user mode (allowed to any process): refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kern_userfaultfd() {
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    denied("userfaultfd", EPERM, Control::Ok).await;
}

/// io_uring (whose operations bypass the seccomp filter): ENOSYS, so programs fall back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kern_io_uring_setup() {
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    denied("io_uring_setup", ENOSYS, Control::Ok).await;
}

/// kexec_load and module loading: refused. The host's answer depends on its kernel: ENOSYS
/// without kexec or modules, else (as root) EINVAL for kexec's unknown flag, ENOEXEC for an
/// empty module image, EBADF for a module fd of -1; the sandbox answers EPERM from its filter
/// before the kernel looks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kern_kexec_and_modules() {
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    denied("kexec_load", EPERM, kexec_control()).await;
    denied("init_module", EPERM, module_control(ENOEXEC)).await;
    denied("finit_module", EPERM, module_control(EBADF)).await;
}

/// acct, swapon, reboot: refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kern_host_wide_switches() {
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    denied("acct", EPERM, Control::Root(errno(ENOENT))).await;
    denied("swapon", EPERM, Control::Root(errno(ENOENT))).await;
    denied("reboot", EPERM, Control::Root(errno(EINVAL))).await;
}

/// The kernel log and fanotify: refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kern_syslog_and_fanotify() {
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    denied("syslog", EPERM, Control::Root("ok".into())).await;
    denied("fanotify_init", EPERM, Control::Root("ok".into())).await;
}

/// personality(READ_IMPLIES_EXEC): refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kern_personality() {
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    denied("personality_read_implies_exec", EPERM, Control::Ok).await;
}

/// TIOCSTI (typing into a terminal) on a pty of its own, also with the upper 32 bits of the
/// request set (the kernel ignores them; the filter must too), and TIOCLINUX: refused. Where
/// the host allows TIOCSTI (`dev.tty.legacy_tiocsti` 1, or a kernel before it existed) the
/// control succeeds; with it 0 the kernel answers EIO to callers without CAP_SYS_ADMIN.
/// TIOCLINUX on a pty is ENOTTY on the host.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kern_terminal_injection() {
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    let control = || {
        if sysctl("dev/tty/legacy_tiocsti").as_deref() == Some("0") && !is_root() {
            Control::Host(errno(EIO))
        } else {
            Control::Ok
        }
    };
    denied("tiocsti", EPERM, control()).await;
    denied("tiocsti_upper_bits", EPERM, control()).await;
    denied("tioclinux", EPERM, Control::Host(errno(ENOTTY))).await;
}

/// Terminal requests whose effect outlasts the run, on a pty of its own: the line discipline
/// (`TIOCSETD`, set to the N_TTY it has; another one could load a kernel module), exclusive
/// mode (`TIOCEXCL`, after which the terminal's owner cannot open it again, and `TIOCNXCL`),
/// stopped output (`TCXONC` with `TCOOFF`) and serial settings (`TIOCSSERIAL`): refused. The
/// host allows each (a pty has no serial settings: ENOTTY there).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kern_terminal_state() {
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    denied("tiocsetd", EPERM, Control::Ok).await;
    denied("tiocexcl", EPERM, Control::Ok).await;
    denied("tiocnxcl", EPERM, Control::Ok).await;
    denied("tcxonc", EPERM, Control::Ok).await;
    denied("tiocsserial", EPERM, Control::Host(errno(ENOTTY))).await;
}

/// Quotas configure a host filesystem: `quotactl_fd` is refused as `quotactl` is. The control
/// asks the host for the quota format of `/usr`'s filesystem (an unprivileged query; its answer
/// depends on whether quotas are on there).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kern_quotactl_fd() {
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    let a = Attempt::new("quotactl_fd").arg("/usr");
    let host = a.on_host(false);
    assert_ne!(host, errno(EPERM), "the control on the host");
    a.check(&errno(EPERM), Control::Host(host), |_| {}).await;
}

/// x32 system call numbers: ENOSYS (this kernel has no x32 either, so the control proves
/// nothing here; the filter refuses them on kernels that have it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kern_x32_numbers() {
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    denied(
        "x32_getpid",
        ENOSYS,
        Control::None("x32 is ENOSYS on this kernel too"),
    )
    .await;
}

/// The i386 entry (`int 0x80`, which the host allows): the process is killed with SIGSYS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kern_i386_entry() {
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    Attempt::new("int80_getpid")
        .check(&format!("signal {}", libc::SIGSYS), Control::Ok, |_| {})
        .await;
}
