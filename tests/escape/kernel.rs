//! Kernel surface: keyrings, BPF, perf events, userfaultfd, io_uring, the calls that change the
//! whole host (kexec, modules, accounting, swap, reboot, the kernel log), fanotify,
//! `personality`, terminal injection, and the x32 and i386 system call entries.
//!
//! Host-wide calls fail on the host too for want of a capability, so their controls run as root,
//! with arguments that are refused *after* the capability check (a missing file, a wrong magic
//! number): the host answers ENOENT or EINVAL, the sandbox EPERM.

use libc::{EINVAL, ENOENT, ENOKEY, ENOSYS, ENOTTY, EPERM};

use crate::{errno, Attempt, Control};

async fn denied(name: &'static str, expected: i32, control: Control) {
    Attempt::new(name)
        .check(&errno(expected), control, |_| {})
        .await;
}

/// Keyrings are not namespaced: keyctl, add_key and request_key are refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kern_keyrings() {
    denied("keyctl", EPERM, Control::Ok).await;
    denied("add_key", EPERM, Control::Ok).await;
    denied("request_key", EPERM, Control::Host(errno(ENOKEY))).await;
}

/// bpf (BPF_MAP_CREATE): refused. Unprivileged BPF is off on this host, hence a root control.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kern_bpf() {
    denied("bpf_map_create", EPERM, Control::Root("ok".into())).await;
}

/// perf_event_open of a software counter on itself (allowed to any process at
/// perf_event_paranoid 2): refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kern_perf_event_open() {
    denied("perf_event_open", EPERM, Control::Ok).await;
}

/// userfaultfd in user mode (allowed to any process): refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kern_userfaultfd() {
    denied("userfaultfd", EPERM, Control::Ok).await;
}

/// io_uring (whose operations bypass the seccomp filter): ENOSYS, so programs fall back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kern_io_uring_setup() {
    denied("io_uring_setup", ENOSYS, Control::Ok).await;
}

/// kexec_load and module loading: refused. This kernel has no kexec (ENOSYS on the host) and no
/// modules; the sandbox answers EPERM from its filter before the kernel looks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kern_kexec_and_modules() {
    denied("kexec_load", EPERM, Control::Host(errno(ENOSYS))).await;
    denied("init_module", EPERM, Control::Host(errno(ENOSYS))).await;
    denied("finit_module", EPERM, Control::Host(errno(ENOSYS))).await;
}

/// acct, swapon, reboot: refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kern_host_wide_switches() {
    denied("acct", EPERM, Control::Root(errno(ENOENT))).await;
    denied("swapon", EPERM, Control::Root(errno(ENOENT))).await;
    denied("reboot", EPERM, Control::Root(errno(EINVAL))).await;
}

/// The kernel log and fanotify: refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kern_syslog_and_fanotify() {
    denied("syslog", EPERM, Control::Root("ok".into())).await;
    denied("fanotify_init", EPERM, Control::Root("ok".into())).await;
}

/// personality(READ_IMPLIES_EXEC): refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kern_personality() {
    denied("personality_read_implies_exec", EPERM, Control::Ok).await;
}

/// TIOCSTI (typing into a terminal) on a pty of its own, also with the upper 32 bits of the
/// request set (the kernel ignores them; the filter must too), and TIOCLINUX: refused. This
/// host allows TIOCSTI (`dev.tty.legacy_tiocsti=1`), so the control succeeds; TIOCLINUX on a pty
/// is ENOTTY on the host.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kern_terminal_injection() {
    denied("tiocsti", EPERM, Control::Ok).await;
    denied("tiocsti_upper_bits", EPERM, Control::Ok).await;
    denied("tioclinux", EPERM, Control::Host(errno(ENOTTY))).await;
}

/// x32 system call numbers: ENOSYS (this kernel has no x32 either, so the control proves
/// nothing here; the filter refuses them on kernels that have it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kern_x32_numbers() {
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
    Attempt::new("int80_getpid")
        .check(&format!("signal {}", libc::SIGSYS), Control::Ok, |_| {})
        .await;
}
