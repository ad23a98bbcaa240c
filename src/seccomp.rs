//! The default seccomp filter (seccomp(2), `Documentation/userspace-api/seccomp_filter.rst`).
//!
//! One hand-written BPF program, built once per process in the parent:
//!
//! - any architecture but the native one kills the process (an `int 0x80` i386 call on x86_64
//!   carries `AUDIT_ARCH_I386`); x32 numbers (bit 30) and numbers above the newest system call
//!   this filter knows return `ENOSYS`, so a C library probing a newer call falls back as it
//!   would on an older kernel;
//! - then a binary search for the call number over the calls it does not simply allow, each
//!   leading to a short block of its own: `clone3` and the `io_uring_*` calls return `ENOSYS`
//!   (glibc then uses `clone`, whose flags the filter can check; io_uring would perform I/O the
//!   filter never sees), and so does `io_setup` unless the policy allows Linux AIO (see
//!   [`LINUX_AIO_SETUP`]); the calls of [`DENIED`] return `EPERM`, always or when an argument
//!   says so (set-ID and device modes, `CLONE_NEWUSER` in `clone`/`unshare` flags,
//!   `TIOCSTI`/`TIOCLINUX` requests and the terminal requests whose effect outlasts the run,
//!   vsock and device-event sockets, `F_SETLEASE`, unsafe
//!   `personality` flags, and the scheduling, priority and limit calls that would reach the
//!   sandbox's init, pid 1), and so do the tracing calls (`ptrace`, `process_vm_readv`/`writev`,
//!   `pidfd_getfd`) unless the policy lets the program trace its own processes (then a
//!   debugger's `personality(ADDR_NO_RANDOMIZE)` is allowed too); every other call is allowed.
//!   There is one program for each combination of Linux AIO and tracing.
//!
//! A policy with a TCP allow-list gets a second, short program: Landlock's TCP rules do not
//! check MPTCP sockets or TCP Fast Open connects, which it refuses.
//!
//! Every denial is listed in [`DENIED`] with the reason. Installing a filter costs the kernel a
//! walk of the program for each system call number (to find those it allows whatever their
//! arguments, which then skip the filter), so the search keeps every walk short: about 15
//! instructions to any answer, where one long chain of comparisons took up to 150. With one
//! program of 296 instructions instead of two (145 and 57, the second built with seccompiler),
//! an install took about 65 µs here instead of 155 µs when this was measured (the program has
//! 306 since the terminal requests were added).

use std::collections::BTreeMap;
use std::sync::OnceLock;

use seccompiler::{
    sock_filter, BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition,
    SeccompFilter, SeccompRule, TargetArch,
};

#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH_NATIVE: u32 = 0xC000_003E; // AUDIT_ARCH_X86_64
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH_NATIVE: u32 = 0xC000_00B7; // AUDIT_ARCH_AARCH64

#[cfg(target_arch = "x86_64")]
const TARGET: TargetArch = TargetArch::x86_64;
#[cfg(target_arch = "aarch64")]
const TARGET: TargetArch = TargetArch::aarch64;

/// The newest system call number the filter knows (`file_setattr`, Linux 6.17, the same number
/// on x86_64 and aarch64). Anything above returns `ENOSYS`.
pub const NEWEST_KNOWN_SYSCALL: u32 = 469;

const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// `__O_TMPFILE` (`O_TMPFILE` is this plus `O_DIRECTORY`).
const O_TMPFILE_BIT: u32 = 0o20000000;

const SECCOMP_RET_KILL_PROCESS: u32 = 0x8000_0000;
const SECCOMP_RET_ERRNO: u32 = 0x0005_0000;
const SECCOMP_RET_ALLOW: u32 = 0x7fff_0000;

const BPF_LD_W_ABS: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
const BPF_JEQ_K: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const BPF_JGE_K: u16 = 0x35; // BPF_JMP | BPF_JGE | BPF_K
const BPF_JGT_K: u16 = 0x25; // BPF_JMP | BPF_JGT | BPF_K
const BPF_RET_K: u16 = 0x06; // BPF_RET | BPF_K
const BPF_JSET_K: u16 = 0x45; // BPF_JMP | BPF_JSET | BPF_K
const BPF_ALU_AND_K: u16 = 0x54; // BPF_ALU | BPF_AND | BPF_K
const BPF_JA: u16 = 0x05; // BPF_JMP | BPF_JA

const OFFSET_NR: u32 = 0; // struct seccomp_data.nr
const OFFSET_ARCH: u32 = 4; // struct seccomp_data.arch

fn ins(code: u16, k: u32, jt: u8, jf: u8) -> sock_filter {
    sock_filter { code, jt, jf, k }
}

/// A jump over `n` instructions: BPF's jump offsets are 8 bits.
fn jump(n: usize) -> u8 {
    u8::try_from(n).expect("a conditional BPF jump spans at most 255 instructions")
}

/// System calls answered with `ENOSYS` by the gate.
pub const ENOSYS_CALLS: &[(&str, i64)] = &[
    // Its mode sits in a struct the filter cannot read; C libraries fall back to openat.
    ("openat2", libc::SYS_openat2),
    ("io_uring_setup", libc::SYS_io_uring_setup),
    ("io_uring_enter", libc::SYS_io_uring_enter),
    ("io_uring_register", libc::SYS_io_uring_register),
    ("clone3", libc::SYS_clone3),
];

/// Linux native AIO's context setup, answered with `ENOSYS` by the gate unless the policy allows
/// it ([`Policy::allow_linux_aio`](crate::Policy::allow_linux_aio)): each context takes its
/// events from `fs.aio-max-nr`, a budget of the whole host that no limit charges to anyone, so
/// a few calls would leave every other process of the host without AIO (`EAGAIN`). `ENOSYS` is
/// what a kernel built without AIO answers, which libaio's users take as no native AIO.
pub const LINUX_AIO_SETUP: (&str, i64) = ("io_setup", libc::SYS_io_setup);

mod denied;
mod gate;

pub use denied::{Match, DENIED, TERMINAL_STATE_REQUESTS};
#[cfg(test)]
use denied::{
    IOPRIO_WHO_PGRP, IOPRIO_WHO_PROCESS, IOPRIO_WHO_USER, PRIO_PGRP, PRIO_PROCESS, PRIO_USER,
};
use gate::filter;
#[cfg(test)]
use gate::{arg_hi, arg_lo};

/// A program that answers the rules of `map` with `EPERM` and allows everything else.
fn eperm_program(map: BTreeMap<i64, Vec<SeccompRule>>) -> BpfProgram {
    let filter = SeccompFilter::new(
        map,
        SeccompAction::Allow,
        SeccompAction::Errno(libc::EPERM as u32),
        TARGET,
    )
    .expect("the seccomp rules are well-formed");
    BpfProgram::try_from(filter).expect("the seccomp rules compile")
}

/// A comparison of the low 32 bits of argument `idx` (the kernel truncates the ints and
/// flags checked here to 32 bits).
fn cond(idx: u8, op: SeccompCmpOp, v: u64) -> SeccompCondition {
    SeccompCondition::new(idx, SeccompCmpArgLen::Dword, op, v).expect("valid condition")
}

/// `MSG_FASTOPEN`: `sendto`/`sendmsg` with it connect without `connect(2)`.
const MSG_FASTOPEN: u64 = 0x2000_0000;

/// The filter that goes with Landlock's TCP port rules (installed whenever a policy has an
/// allow-list): Landlock checks `bind(2)` and `connect(2)` of `IPPROTO_TCP` sockets only, so
/// an MPTCP socket (`IPPROTO_MPTCP`, which falls back to plain TCP with any peer) and a TCP Fast
/// Open connect (`MSG_FASTOPEN` in `sendto`, `sendmsg`, `sendmmsg`) would pass unchecked. Both
/// return `EPERM`. Compiled on first use.
pub(crate) fn tcp_rules_program() -> &'static [sock_filter] {
    static PROGRAM: OnceLock<BpfProgram> = OnceLock::new();
    PROGRAM.get_or_init(|| {
        let rule = |c| vec![SeccompRule::new(vec![c]).expect("valid rule")];
        let fastopen = |idx| {
            rule(cond(
                idx,
                SeccompCmpOp::MaskedEq(MSG_FASTOPEN),
                MSG_FASTOPEN,
            ))
        };
        let map: BTreeMap<i64, Vec<SeccompRule>> = [
            (
                libc::SYS_socket,
                rule(cond(2, SeccompCmpOp::Eq, libc::IPPROTO_MPTCP as u64)),
            ),
            (libc::SYS_sendto, fastopen(3)),
            (libc::SYS_sendmsg, fastopen(2)),
            (libc::SYS_sendmmsg, fastopen(3)),
        ]
        .into_iter()
        .collect();
        eperm_program(map)
    })
}

/// The filter that holds "no network" without a network namespace (the Landlock-only sandbox
/// of a host without usable user namespaces): `socket(2)` returns `EACCES` for every address
/// family, so no socket reaches the host's network, and no unix socket the host's services
/// (Landlock does not check `connect(2)` to a pathname socket, and the host's abstract ones
/// share the network namespace); `socketpair(2)` works for `AF_UNIX`, so the program's own
/// processes still talk over socket pairs. io_uring, which could make sockets without
/// `socket(2)`, is `ENOSYS` by the gate. Compiled on first use.
pub(crate) fn no_sockets_program() -> &'static [sock_filter] {
    static PROGRAM: OnceLock<BpfProgram> = OnceLock::new();
    PROGRAM.get_or_init(|| {
        let rule = |c: Vec<SeccompCondition>| vec![SeccompRule::new(c).expect("valid rule")];
        let map: BTreeMap<i64, Vec<SeccompRule>> = [
            (libc::SYS_socket, vec![]),
            (
                libc::SYS_socketpair,
                rule(vec![cond(0, SeccompCmpOp::Ne, libc::AF_UNIX as u64)]),
            ),
        ]
        .into_iter()
        .collect();
        let filter = SeccompFilter::new(
            map,
            SeccompAction::Allow,
            SeccompAction::Errno(libc::EACCES as u32),
            TARGET,
        )
        .expect("the seccomp rules are well-formed");
        BpfProgram::try_from(filter).expect("the seccomp rules compile")
    })
}

/// The default filter, compiled on first use and kept for the process's lifetime: `linux_aio`
/// picks the one that leaves `io_setup` alone, `tracing` the one that allows tracing inside the
/// sandbox (`ptrace`, `process_vm_readv`/`writev`, `pidfd_getfd`,
/// `personality(ADDR_NO_RANDOMIZE)`).
pub(crate) fn default_program(linux_aio: bool, tracing: bool) -> &'static [sock_filter] {
    static FILTERS: [OnceLock<BpfProgram>; 4] = [const { OnceLock::new() }; 4];
    FILTERS[usize::from(linux_aio) * 2 + usize::from(tracing)]
        .get_or_init(|| filter(linux_aio, tracing))
        .as_slice()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The filter as it was installed before, as two programs: a hand-written gate and
    /// seccompiler's argument checks. The one filter must answer as the two together.
    mod reference {
        use super::super::*;

        /// Whether the gate (rather than the seccompiler program) checks this denial.
        fn in_gate(m: Match) -> bool {
            matches!(
                m,
                Match::Always
                    | Match::Tracing
                    | Match::SetIdMode(_)
                    | Match::SetIdOrDeviceMode(_)
                    | Match::SetIdModeOnCreate(..)
                    | Match::VsockSocket
                    | Match::Pid1(_)
                    | Match::PriorityReachingPid1(_)
                    | Match::SetLimitOfPid1
                    | Match::Lease
                    | Match::TerminalInjection
                    | Match::TerminalState
            )
        }

        /// Whether `m` denies every call of its system call, given whether tracing is allowed.
        fn always(m: Match, tracing: bool) -> bool {
            matches!(m, Match::Always) || (matches!(m, Match::Tracing) && !tracing)
        }

        /// The gate; `linux_aio` leaves `io_setup` alone, `tracing` the tracing calls.
        pub(super) fn gate(linux_aio: bool, tracing: bool) -> BpfProgram {
            const EPERM: u32 = u32::MAX;
            const ENOSYS: u32 = u32::MAX - 1;
            let setid = libc::S_ISUID | libc::S_ISGID;
            // Instructions whose jump-if-true target is EPERM or ENOSYS get it patched at the end.
            let mut p: Vec<(sock_filter, u32)> = Vec::new();
            let push =
                |p: &mut Vec<(sock_filter, u32)>, i: sock_filter, target: u32| p.push((i, target));
            push(&mut p, ins(BPF_LD_W_ABS, OFFSET_ARCH, 0, 0), 0);
            push(&mut p, ins(BPF_JEQ_K, AUDIT_ARCH_NATIVE, 1, 0), 0);
            push(&mut p, ins(BPF_RET_K, SECCOMP_RET_KILL_PROCESS, 0, 0), 0);
            push(&mut p, ins(BPF_LD_W_ABS, OFFSET_NR, 0, 0), 0);
            push(&mut p, ins(BPF_JGE_K, X32_SYSCALL_BIT, 0, 0), ENOSYS);
            push(&mut p, ins(BPF_JGT_K, NEWEST_KNOWN_SYSCALL, 0, 0), ENOSYS);
            let aio = Some(LINUX_AIO_SETUP).filter(|_| !linux_aio);
            for (_, nr) in ENOSYS_CALLS.iter().chain(aio.iter()) {
                push(&mut p, ins(BPF_JEQ_K, *nr as u32, 0, 0), ENOSYS);
            }
            for (_, nr, m, _) in DENIED {
                if always(*m, tracing) {
                    push(&mut p, ins(BPF_JEQ_K, *nr as u32, 0, 0), EPERM);
                }
            }
            for (_, nr, m, _) in DENIED {
                // Each block: if nr matches, load the argument(s), maybe jump to EPERM, reload nr.
                let block: Vec<(sock_filter, u32)> = match *m {
                    Match::SetIdMode(idx) => vec![
                        (ins(BPF_LD_W_ABS, arg_lo(idx), 0, 0), 0),
                        (ins(BPF_JSET_K, setid, 0, 0), EPERM),
                    ],
                    Match::SetIdOrDeviceMode(idx) => vec![
                        (ins(BPF_LD_W_ABS, arg_lo(idx), 0, 0), 0),
                        (ins(BPF_JSET_K, setid, 0, 0), EPERM),
                        (ins(BPF_ALU_AND_K, libc::S_IFMT, 0, 0), 0),
                        (ins(BPF_JEQ_K, libc::S_IFCHR, 0, 0), EPERM),
                        (ins(BPF_JEQ_K, libc::S_IFBLK, 0, 0), EPERM),
                    ],
                    Match::SetIdModeOnCreate(flags, mode) => vec![
                        (ins(BPF_LD_W_ABS, arg_lo(flags), 0, 0), 0),
                        // O_CREAT or O_TMPFILE: the kernel applies the mode with either.
                        (
                            ins(BPF_JSET_K, libc::O_CREAT as u32 | O_TMPFILE_BIT, 0, 2),
                            0,
                        ),
                        (ins(BPF_LD_W_ABS, arg_lo(mode), 0, 0), 0),
                        (ins(BPF_JSET_K, setid, 0, 0), EPERM),
                    ],
                    Match::VsockSocket => vec![
                        (ins(BPF_LD_W_ABS, arg_lo(0), 0, 0), 0),
                        (ins(BPF_JEQ_K, libc::AF_VSOCK as u32, 0, 0), EPERM),
                    ],
                    // A pid_t: the kernel reads the low 32 bits.
                    Match::Pid1(idx) => vec![
                        (ins(BPF_LD_W_ABS, arg_lo(idx), 0, 0), 0),
                        (ins(BPF_JEQ_K, 1, 0, 0), EPERM),
                    ],
                    Match::PriorityReachingPid1([process, pgrp, user]) => vec![
                        (ins(BPF_LD_W_ABS, arg_lo(0), 0, 0), 0),
                        (ins(BPF_JEQ_K, pgrp, 0, 0), EPERM),
                        (ins(BPF_JEQ_K, user, 0, 0), EPERM),
                        // Another `which`: past the pid check.
                        (ins(BPF_JEQ_K, process, 0, 2), 0),
                        (ins(BPF_LD_W_ABS, arg_lo(1), 0, 0), 0),
                        (ins(BPF_JEQ_K, 1, 0, 0), EPERM),
                    ],
                    Match::Lease => vec![
                        (ins(BPF_LD_W_ABS, arg_lo(1), 0, 0), 0),
                        (ins(BPF_JEQ_K, libc::F_SETLEASE as u32, 0, 0), EPERM),
                    ],
                    // The request: the kernel truncates it to 32 bits.
                    Match::TerminalInjection | Match::TerminalState => {
                        let requests: Vec<u64> = if matches!(m, Match::TerminalInjection) {
                            vec![libc::TIOCSTI, libc::TIOCLINUX]
                        } else {
                            TERMINAL_STATE_REQUESTS.iter().map(|(_, r)| *r).collect()
                        };
                        let mut block = vec![(ins(BPF_LD_W_ABS, arg_lo(1), 0, 0), 0)];
                        for r in requests {
                            block.push((ins(BPF_JEQ_K, r as u32, 0, 0), EPERM));
                        }
                        block
                    }
                    Match::SetLimitOfPid1 => vec![
                        (ins(BPF_LD_W_ABS, arg_lo(0), 0, 0), 0),
                        // Another pid: past the pointer check.
                        (ins(BPF_JEQ_K, 1, 0, 4), 0),
                        // A new limit: a non-null pointer (either half non-zero).
                        (ins(BPF_LD_W_ABS, arg_lo(2), 0, 0), 0),
                        (ins(BPF_JSET_K, u32::MAX, 0, 0), EPERM),
                        (ins(BPF_LD_W_ABS, arg_hi(2), 0, 0), 0),
                        (ins(BPF_JSET_K, u32::MAX, 0, 0), EPERM),
                    ],
                    _ => continue,
                };
                let skip = jump(block.len() + 1);
                push(&mut p, ins(BPF_JEQ_K, *nr as u32, 0, skip), 0);
                p.extend(block);
                push(&mut p, ins(BPF_LD_W_ABS, OFFSET_NR, 0, 0), 0);
            }
            let allow = p.len();
            let (ret_eperm, ret_enosys) = (allow + 1, allow + 2);
            let mut out: Vec<sock_filter> = p
                .into_iter()
                .enumerate()
                .map(|(i, (mut insn, target))| {
                    let t = match target {
                        EPERM => ret_eperm,
                        ENOSYS => ret_enosys,
                        _ => return insn,
                    };
                    // The return instructions follow every other one.
                    insn.jt = jump(t - (i + 1));
                    insn
                })
                .collect();
            out.push(ins(BPF_RET_K, SECCOMP_RET_ALLOW, 0, 0));
            out.push(ins(BPF_RET_K, SECCOMP_RET_ERRNO | libc::EPERM as u32, 0, 0));
            out.push(ins(
                BPF_RET_K,
                SECCOMP_RET_ERRNO | libc::ENOSYS as u32,
                0,
                0,
            ));
            out
        }

        fn rules_for(m: Match, tracing: bool) -> Vec<SeccompRule> {
            match m {
                Match::Always | Match::Tracing => vec![],
                Match::NewUserFlag(idx) => vec![SeccompRule::new(vec![cond(
                    idx,
                    SeccompCmpOp::MaskedEq(libc::CLONE_NEWUSER as u64),
                    libc::CLONE_NEWUSER as u64,
                )])
                .expect("valid rule")],
                Match::SetIdMode(_)
                | Match::SetIdOrDeviceMode(_)
                | Match::SetIdModeOnCreate(..)
                | Match::VsockSocket
                | Match::Pid1(_)
                | Match::PriorityReachingPid1(_)
                | Match::SetLimitOfPid1
                | Match::Lease
                | Match::TerminalInjection
                | Match::TerminalState => {
                    unreachable!("checked by the gate")
                }
                Match::UeventSocket => vec![SeccompRule::new(vec![
                    cond(0, SeccompCmpOp::Eq, libc::AF_NETLINK as u64),
                    cond(2, SeccompCmpOp::Eq, libc::NETLINK_KOBJECT_UEVENT as u64),
                ])
                .expect("valid rule")],
                Match::UnsafePersonality => {
                    // With tracing allowed, also what a debugger asks for the program it starts:
                    // ADDR_NO_RANDOMIZE (0x0040000), which affects that program alone.
                    let debugger: &[u64] = if tracing { &[0x40000, 0x40008] } else { &[] };
                    vec![SeccompRule::new(
                        [0u64, 0x0008, 0x20000, 0x20008, 0xffff_ffff]
                            .iter()
                            .chain(debugger)
                            .map(|v| cond(0, SeccompCmpOp::Ne, *v))
                            .collect(),
                    )
                    .expect("valid rule")]
                }
            }
        }

        pub(super) fn denials(tracing: bool) -> BpfProgram {
            let mut map: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
            for (_, nr, m, _) in DENIED {
                if !in_gate(*m) {
                    map.entry(*nr).or_default().extend(rules_for(*m, tracing));
                }
            }
            eperm_program(map)
        }
    }
    use reference::{denials, gate};

    /// Follows the filter for syscall `nr` (native arch) and returns its action.
    fn run_gate(nr: u32) -> u32 {
        run_gate_args(nr, [0; 6])
    }

    fn run_gate_args(nr: u32, args: [u32; 6]) -> u32 {
        run_gate_args64(nr, args.map(u64::from))
    }

    fn run_gate_args64(nr: u32, args: [u64; 6]) -> u32 {
        run_program(&filter(false, false), nr, args)
    }

    fn run_gate_with(nr: u32, args: [u32; 6], tracing: bool) -> u32 {
        run_program(&filter(false, tracing), nr, args.map(u64::from))
    }

    fn run_program(g: &[sock_filter], nr: u32, args: [u64; 6]) -> u32 {
        let mut pc = 0;
        let mut acc = 0u32;
        loop {
            let insn = &g[pc];
            match insn.code {
                BPF_LD_W_ABS => {
                    acc = match insn.k {
                        OFFSET_ARCH => AUDIT_ARCH_NATIVE,
                        OFFSET_NR => nr,
                        k => {
                            let arg = args[((k - 16) / 8) as usize];
                            if (k - 16) % 8 == 4 {
                                (arg >> 32) as u32
                            } else {
                                arg as u32
                            }
                        }
                    }
                }
                BPF_RET_K => return insn.k,
                BPF_ALU_AND_K => acc &= insn.k,
                BPF_JA => pc += insn.k as usize,
                _ => {
                    let taken = match insn.code {
                        BPF_JEQ_K => acc == insn.k,
                        BPF_JGE_K => acc >= insn.k,
                        BPF_JGT_K => acc > insn.k,
                        BPF_JSET_K => acc & insn.k != 0,
                        other => panic!("unexpected opcode {other:#x}"),
                    };
                    pc += if taken {
                        insn.jt as usize
                    } else {
                        insn.jf as usize
                    };
                }
            }
            pc += 1;
        }
    }

    /// The more restrictive of two actions, as the kernel picks among filters (for ERRNO, the
    /// two never disagree on the errno).
    fn stricter(a: u32, b: u32) -> u32 {
        let action = |x: u32| (x & 0xffff_0000) as i32;
        if action(a) < action(b) {
            a
        } else {
            b
        }
    }

    #[test]
    fn one_filter_answers_as_the_gate_and_the_argument_checks_together() {
        let values: [u64; 20] = [
            0,
            1,
            2,
            5,
            0o4755,
            0o2755,
            0o755,
            (libc::S_IFCHR | 0o644) as u64,
            libc::O_CREAT as u64,
            libc::CLONE_NEWUSER as u64 | 0x11,
            libc::TIOCSTI,
            libc::AF_VSOCK as u64,
            libc::AF_NETLINK as u64,
            libc::F_SETLEASE as u64,
            1 << 32 | 1,
            0xffff_ffff,
            0x40000,
            0x40008,
            TERMINAL_STATE_REQUESTS[0].1,
            TERMINAL_STATE_REQUESTS[3].1,
        ];
        for (linux_aio, tracing) in [(false, false), (true, false), (false, true), (true, true)] {
            let one = filter(linux_aio, tracing);
            let (g, d) = (gate(linux_aio, tracing), denials(tracing));
            let mut nrs: Vec<u32> = (0..=NEWEST_KNOWN_SYSCALL + 2).collect();
            nrs.extend([X32_SYSCALL_BIT | 1, u32::MAX]);
            for nr in nrs {
                for (i, a) in values.iter().enumerate() {
                    for b in values.iter().skip(i % 3) {
                        for c in [values[0], values[4], values[12], *a] {
                            let args = [*a, *b, c, *b, 0, 0];
                            let want =
                                stricter(run_program(&g, nr, args), run_program(&d, nr, args));
                            assert_eq!(run_program(&one, nr, args), want, "{nr} {args:?}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn no_sockets() {
        let p = no_sockets_program();
        let refused = SECCOMP_RET_ERRNO | libc::EACCES as u32;
        for (nr, family, expected) in [
            (libc::SYS_socket, libc::AF_UNIX, refused),
            (libc::SYS_socket, libc::AF_INET, refused),
            (libc::SYS_socket, libc::AF_INET6, refused),
            (libc::SYS_socket, libc::AF_NETLINK, refused),
            (libc::SYS_socket, libc::AF_PACKET, refused),
            (libc::SYS_socketpair, libc::AF_UNIX, SECCOMP_RET_ALLOW),
            (libc::SYS_socketpair, libc::AF_INET, refused),
            (libc::SYS_connect, libc::AF_INET, SECCOMP_RET_ALLOW),
        ] {
            let args = [family as u64, libc::SOCK_STREAM as u64, 0, 0, 0, 0];
            assert_eq!(run_program(p, nr as u32, args), expected, "{nr} {family}");
        }
        // The high half of the family is ignored, as the kernel's int is 32 bits.
        let args = [(1 << 32) | libc::AF_UNIX as u64, 1, 0, 0, 0, 0];
        assert_eq!(
            run_program(p, libc::SYS_socketpair as u32, args),
            SECCOMP_RET_ALLOW
        );
    }

    #[test]
    fn gate_actions() {
        let enosys = SECCOMP_RET_ERRNO | libc::ENOSYS as u32;
        let eperm = SECCOMP_RET_ERRNO | libc::EPERM as u32;
        assert_eq!(run_gate(libc::SYS_read as u32), SECCOMP_RET_ALLOW);
        assert_eq!(run_gate(libc::SYS_clone as u32), SECCOMP_RET_ALLOW);
        assert_eq!(run_gate(libc::SYS_clone3 as u32), enosys);
        assert_eq!(run_gate(libc::SYS_io_uring_setup as u32), enosys);
        assert_eq!(run_gate(libc::SYS_bpf as u32), eperm);
        assert_eq!(run_gate(libc::SYS_mount as u32), eperm);
        assert_eq!(run_gate(NEWEST_KNOWN_SYSCALL + 1), enosys);
        assert_eq!(run_gate(X32_SYSCALL_BIT | libc::SYS_bpf as u32), enosys);
        let openat = libc::SYS_openat as u32;
        let creat = libc::O_CREAT as u32;
        assert_eq!(run_gate_args(openat, [0, 0, creat, 0o4755, 0, 0]), eperm);
        assert_eq!(
            run_gate_args(openat, [0, 0, creat, 0o755, 0, 0]),
            SECCOMP_RET_ALLOW
        );
        assert_eq!(
            run_gate_args(openat, [0, 0, 0, 0o4755, 0, 0]),
            SECCOMP_RET_ALLOW
        );
        let chmod = libc::SYS_fchmodat as u32;
        assert_eq!(run_gate_args(chmod, [0, 0, 0o2755, 0, 0, 0]), eperm);
        assert_eq!(
            run_gate_args(chmod, [0, 0, 0o1777, 0, 0, 0]),
            SECCOMP_RET_ALLOW
        );
        let mknodat = libc::SYS_mknodat as u32;
        for (mode, action) in [
            (libc::S_IFCHR | 0o644, eperm),
            (libc::S_IFBLK | 0o600, eperm),
            (libc::S_IFREG | 0o4755, eperm),
            (libc::S_IFIFO | 0o644, SECCOMP_RET_ALLOW),
            (libc::S_IFREG | 0o644, SECCOMP_RET_ALLOW),
            (libc::S_IFSOCK | 0o644, SECCOMP_RET_ALLOW),
        ] {
            assert_eq!(
                run_gate_args(mknodat, [0, 0, mode, 0, 0, 0]),
                action,
                "{mode:o}"
            );
        }
        let socket = libc::SYS_socket as u32;
        assert_eq!(
            run_gate_args(socket, [libc::AF_VSOCK as u32, 1, 0, 0, 0, 0]),
            eperm
        );
        assert_eq!(
            run_gate_args(socket, [libc::AF_INET as u32, 1, 0, 0, 0, 0]),
            SECCOMP_RET_ALLOW
        );
        assert_eq!(run_gate(libc::SYS_openat2 as u32), enosys);
        assert_eq!(run_gate(libc::SYS_io_setup as u32), enosys);
        let with_aio = filter(true, false);
        let io_setup = libc::SYS_io_setup as u32;
        assert_eq!(run_program(&with_aio, io_setup, [0; 6]), SECCOMP_RET_ALLOW);
        assert_eq!(
            run_program(&with_aio, libc::SYS_io_uring_setup as u32, [0; 6]),
            enosys
        );
        let fcntl = libc::SYS_fcntl as u32;
        for (cmd, action) in [
            (libc::F_SETLEASE, eperm),
            (libc::F_GETLEASE, SECCOMP_RET_ALLOW),
            (libc::F_SETLK, SECCOMP_RET_ALLOW),
            (libc::F_SETFL, SECCOMP_RET_ALLOW),
        ] {
            let got = run_gate_args(fcntl, [3, cmd as u32, libc::F_RDLCK as u32, 0, 0, 0]);
            assert_eq!(got, action, "fcntl cmd {cmd}");
        }
    }

    #[test]
    fn gate_refuses_terminal_requests() {
        let eperm = SECCOMP_RET_ERRNO | libc::EPERM as u32;
        let ioctl = libc::SYS_ioctl as u32;
        let refused = [libc::TIOCSTI, libc::TIOCLINUX]
            .into_iter()
            .chain(TERMINAL_STATE_REQUESTS.iter().map(|(_, r)| *r));
        for req in refused {
            assert_eq!(
                run_gate_args64(ioctl, [0, req, 0, 0, 0, 0]),
                eperm,
                "{req:#x}"
            );
            // The kernel truncates the request to 32 bits.
            assert_eq!(
                run_gate_args64(ioctl, [0, 1 << 32 | req, 0, 0, 0, 0]),
                eperm
            );
        }
        for req in [
            libc::TCGETS,
            libc::TCSETS,
            libc::TIOCGWINSZ,
            libc::TIOCSWINSZ,
        ] {
            let got = run_gate_args64(ioctl, [0, req, 0, 0, 0, 0]);
            assert_eq!(got, SECCOMP_RET_ALLOW, "{req:#x}");
        }
        let quotactl_fd = libc::SYS_quotactl_fd as u32;
        assert_eq!(run_gate(quotactl_fd), eperm);
    }

    #[test]
    fn gate_keeps_init_out_of_reach() {
        let eperm = SECCOMP_RET_ERRNO | libc::EPERM as u32;
        let allow = SECCOMP_RET_ALLOW;
        for nr in [
            libc::SYS_sched_setscheduler,
            libc::SYS_sched_setparam,
            libc::SYS_sched_setattr,
            libc::SYS_sched_setaffinity,
        ] {
            let nr = nr as u32;
            assert_eq!(run_gate_args(nr, [1, 5, 0, 0, 0, 0]), eperm, "{nr}");
            // The upper half of a pid_t is not the kernel's.
            assert_eq!(run_gate_args64(nr, [1 << 32 | 1, 5, 0, 0, 0, 0]), eperm);
            assert_eq!(run_gate_args(nr, [0, 5, 0, 0, 0, 0]), allow, "{nr}");
            assert_eq!(run_gate_args(nr, [2, 5, 0, 0, 0, 0]), allow, "{nr}");
        }
        let setpriority = libc::SYS_setpriority as u32;
        let (process, pgrp, user) = (PRIO_PROCESS, PRIO_PGRP, PRIO_USER);
        for (which, who, action) in [
            (process, 1, eperm),
            (process, 0, allow),
            (process, 7, allow),
            (pgrp, 0, eperm),
            (pgrp, 7, eperm),
            (user, 0, eperm),
            (user, 1000, eperm),
        ] {
            let got = run_gate_args(setpriority, [which, who, 19, 0, 0, 0]);
            assert_eq!(got, action, "setpriority({which}, {who})");
        }
        let ioprio_set = libc::SYS_ioprio_set as u32;
        for (which, who, action) in [
            (IOPRIO_WHO_PROCESS, 1, eperm),
            (IOPRIO_WHO_PROCESS, 0, allow),
            (IOPRIO_WHO_PROCESS, 7, allow),
            (IOPRIO_WHO_PGRP, 0, eperm),
            (IOPRIO_WHO_USER, 0, eperm),
        ] {
            let got = run_gate_args(ioprio_set, [which, who, 3 << 13, 0, 0, 0]);
            assert_eq!(got, action, "ioprio_set({which}, {who})");
        }
        let prlimit = libc::SYS_prlimit64 as u32;
        for (pid, new, action) in [
            (1, 0x7fff_0000_1000, eperm),
            (1, 0x7fff_0000_0000, eperm),
            (1, 0x1000, eperm),
            (1, 0, allow),
            (0, 0x7fff_0000_1000, allow),
            (7, 0x7fff_0000_1000, allow),
        ] {
            let got = run_gate_args64(prlimit, [pid, 4, new, 0x7fff_0000_2000, 0, 0]);
            assert_eq!(got, action, "prlimit64({pid}, _, {new:#x})");
        }
        // Tracing: denied without it, left to the kernel (pid namespace, Landlock) with it.
        for nr in [
            libc::SYS_ptrace,
            libc::SYS_process_vm_readv,
            libc::SYS_process_vm_writev,
            libc::SYS_pidfd_getfd,
        ] {
            assert_eq!(run_gate_with(nr as u32, [0; 6], false), eperm);
            assert_eq!(run_gate_with(nr as u32, [0; 6], true), SECCOMP_RET_ALLOW);
        }
        assert_eq!(run_gate_with(libc::SYS_bpf as u32, [0; 6], true), eperm);
    }

    #[test]
    fn programs_stay_short() {
        assert_eq!(default_program(false, false).len(), 306);
        assert_eq!(default_program(true, false).len(), 302);
        assert_eq!(default_program(false, true).len(), 298);
    }
}
