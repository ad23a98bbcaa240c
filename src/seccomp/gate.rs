//! The default filter's program, assembled by hand: the architecture and call-number gate,
//! then a binary search for the call number over the calls the filter does not simply allow,
//! each leading to a short block of its own.

use super::*;

/// Offset of the low 32 bits of argument `i` in `struct seccomp_data` (little-endian).
pub(super) fn arg_lo(i: u8) -> u32 {
    16 + 8 * i as u32
}

/// Offset of the high 32 bits of argument `i` in `struct seccomp_data` (little-endian).
pub(super) fn arg_hi(i: u8) -> u32 {
    arg_lo(i) + 4
}

/// One system call the filter does not simply allow, and what it answers.
enum Special {
    /// `ENOSYS`.
    Enosys,
    /// Checks of its arguments (or none: `EPERM` always), in [`DENIED`]'s order.
    Denied(Vec<Match>),
}

/// The filter's answer to `nr` when nothing else decides: the calls of [`ENOSYS_CALLS`] (and
/// [`LINUX_AIO_SETUP`] unless `linux_aio`) and [`DENIED`] (the tracing calls unless
/// `tracing`), by number.
fn specials(linux_aio: bool, tracing: bool) -> BTreeMap<u32, Special> {
    let mut map = BTreeMap::new();
    let aio = Some(LINUX_AIO_SETUP).filter(|_| !linux_aio);
    for (_, nr) in ENOSYS_CALLS.iter().chain(aio.iter()) {
        map.insert(*nr as u32, Special::Enosys);
    }
    for (_, nr, m, _) in DENIED {
        if matches!(m, Match::Tracing) && tracing {
            // Left to the kernel: the pid namespace or Landlock confines it.
            continue;
        }
        let m = if matches!(m, Match::Tracing) {
            Match::Always
        } else {
            *m
        };
        match map
            .entry(*nr as u32)
            .or_insert_with(|| Special::Denied(Vec::new()))
        {
            Special::Denied(checks) => checks.push(m),
            Special::Enosys => unreachable!("a call is either ENOSYS or denied"),
        }
    }
    map
}

/// Where an instruction of a block jumps when its condition holds.
#[derive(Clone, Copy)]
enum To {
    /// The next instruction (no jump).
    Next,
    /// Over this many instructions.
    Skip(u8),
    /// The block's `RET ALLOW`.
    Allow,
    /// The block's `RET ERRNO(EPERM)`.
    Deny,
}

/// The instructions that check one denial of a call's arguments: each jumps to the block's
/// `Deny` when the denial applies (or `Allow` when it cannot), else falls through.
fn check(m: Match, tracing: bool, out: &mut Vec<(sock_filter, To, To)>) {
    let setid = libc::S_ISUID | libc::S_ISGID;
    let ld = |k| (ins(BPF_LD_W_ABS, k, 0, 0), To::Next, To::Next);
    let jeq = |k, t, f| (ins(BPF_JEQ_K, k, 0, 0), t, f);
    let jset = |k, t, f| (ins(BPF_JSET_K, k, 0, 0), t, f);
    let n = To::Next;
    match m {
        Match::Always | Match::Tracing => out.push((ins(BPF_JA, 0, 0, 0), To::Deny, To::Deny)),
        Match::NewUserFlag(idx) => out.extend([
            ld(arg_lo(idx)),
            jset(libc::CLONE_NEWUSER as u32, To::Deny, n),
        ]),
        Match::TerminalInjection => out.extend([
            ld(arg_lo(1)),
            jeq(libc::TIOCSTI as u32, To::Deny, n),
            jeq(libc::TIOCLINUX as u32, To::Deny, n),
        ]),
        // The request: the kernel truncates it to 32 bits.
        Match::TerminalState => {
            out.push(ld(arg_lo(1)));
            for (_, r) in TERMINAL_STATE_REQUESTS {
                out.push(jeq(*r as u32, To::Deny, n));
            }
        }
        Match::UnsafePersonality => {
            out.push(ld(arg_lo(0)));
            // With tracing allowed, also what a debugger asks for the program it starts:
            // ADDR_NO_RANDOMIZE (0x0040000), which affects that program alone.
            let debugger: &[u32] = if tracing { &[0x40000, 0x40008] } else { &[] };
            for v in [0u32, 0x0008, 0x20000, 0x20008, 0xffff_ffff]
                .iter()
                .chain(debugger)
            {
                out.push(jeq(*v, To::Allow, n));
            }
            out.push((ins(BPF_JA, 0, 0, 0), To::Deny, To::Deny));
        }
        Match::SetIdMode(idx) => out.extend([ld(arg_lo(idx)), jset(setid, To::Deny, n)]),
        Match::SetIdModeOnCreate(flags, mode) => out.extend([
            ld(arg_lo(flags)),
            // O_CREAT or O_TMPFILE: the kernel applies the mode with either.
            jset(libc::O_CREAT as u32 | O_TMPFILE_BIT, n, To::Skip(2)),
            ld(arg_lo(mode)),
            jset(setid, To::Deny, n),
        ]),
        Match::VsockSocket => out.extend([ld(arg_lo(0)), jeq(libc::AF_VSOCK as u32, To::Deny, n)]),
        Match::SetIdOrDeviceMode(idx) => out.extend([
            ld(arg_lo(idx)),
            jset(setid, To::Deny, n),
            (ins(BPF_ALU_AND_K, libc::S_IFMT, 0, 0), n, n),
            jeq(libc::S_IFCHR, To::Deny, n),
            jeq(libc::S_IFBLK, To::Deny, n),
        ]),
        Match::UeventSocket => out.extend([
            ld(arg_lo(0)),
            jeq(libc::AF_NETLINK as u32, n, To::Skip(2)),
            ld(arg_lo(2)),
            jeq(libc::NETLINK_KOBJECT_UEVENT as u32, To::Deny, n),
        ]),
        // A pid_t: the kernel reads the low 32 bits.
        Match::Pid1(idx) => out.extend([ld(arg_lo(idx)), jeq(1, To::Deny, n)]),
        Match::PriorityReachingPid1([process, pgrp, user]) => out.extend([
            ld(arg_lo(0)),
            jeq(pgrp, To::Deny, n),
            jeq(user, To::Deny, n),
            // Another `which`: past the pid check.
            jeq(process, n, To::Skip(2)),
            ld(arg_lo(1)),
            jeq(1, To::Deny, n),
        ]),
        Match::SetLimitOfPid1 => out.extend([
            ld(arg_lo(0)),
            // Another pid: past the pointer check.
            jeq(1, n, To::Skip(4)),
            // A new limit: a non-null pointer (either half non-zero).
            ld(arg_lo(2)),
            jset(u32::MAX, To::Deny, n),
            ld(arg_hi(2)),
            jset(u32::MAX, To::Deny, n),
        ]),
        Match::Lease => out.extend([ld(arg_lo(1)), jeq(libc::F_SETLEASE as u32, To::Deny, n)]),
    }
}

/// The block of one special call, entered once the call number matched: its checks, then its
/// own `RET ALLOW` and `RET ERRNO(EPERM)` (or a single `RET ERRNO(ENOSYS)`), so that every jump
/// inside it is short.
fn block(special: &Special, tracing: bool) -> Vec<sock_filter> {
    let checks = match special {
        Special::Enosys => {
            return vec![ins(
                BPF_RET_K,
                SECCOMP_RET_ERRNO | libc::ENOSYS as u32,
                0,
                0,
            )]
        }
        Special::Denied(checks) if checks.iter().any(|m| matches!(m, Match::Always)) => {
            return vec![ins(BPF_RET_K, SECCOMP_RET_ERRNO | libc::EPERM as u32, 0, 0)]
        }
        Special::Denied(checks) => checks,
    };
    let mut code = Vec::new();
    for m in checks {
        check(*m, tracing, &mut code);
    }
    let allow = code.len();
    let deny = allow + 1;
    let target = |i: usize, to: To| -> u8 {
        match to {
            To::Next => 0,
            To::Skip(n) => n,
            To::Allow => jump(allow - (i + 1)),
            To::Deny => jump(deny - (i + 1)),
        }
    };
    let mut out: Vec<sock_filter> = code
        .iter()
        .enumerate()
        .map(|(i, (insn, t, f))| {
            let mut insn = insn.clone();
            if insn.code == BPF_JA {
                // An unconditional jump: its offset is k.
                insn.k = u32::from(target(i, *t));
            } else if insn.code != BPF_LD_W_ABS && insn.code != BPF_ALU_AND_K {
                insn.jt = target(i, *t);
                insn.jf = target(i, *f);
            }
            insn
        })
        .collect();
    out.push(ins(BPF_RET_K, SECCOMP_RET_ALLOW, 0, 0));
    out.push(ins(BPF_RET_K, SECCOMP_RET_ERRNO | libc::EPERM as u32, 0, 0));
    out
}

/// A binary search for the call number (in the accumulator) over `specials`, each found number
/// leading to its block; any other number is allowed. Every path ends in a return, so the
/// code of a subtree is self-contained.
fn search(specials: &[(u32, Vec<sock_filter>)]) -> Vec<sock_filter> {
    if specials.len() <= 2 {
        let mut out = Vec::new();
        for (nr, code) in specials {
            // Not this one: over its block.
            out.push(ins(BPF_JEQ_K, *nr, 0, jump(code.len())));
            out.extend_from_slice(code);
        }
        out.push(ins(BPF_RET_K, SECCOMP_RET_ALLOW, 0, 0));
        return out;
    }
    let (low, high) = specials.split_at(specials.len() / 2);
    let (low, high) = (search(low), search(high));
    let mut out = Vec::with_capacity(low.len() + high.len() + 2);
    match u8::try_from(low.len()) {
        // At or above the first number of the upper half: over the lower half.
        Ok(n) => out.push(ins(BPF_JGE_K, high_first(specials), n, 0)),
        Err(_) => {
            out.push(ins(BPF_JGE_K, high_first(specials), 0, 1));
            out.push(ins(BPF_JA, low.len() as u32, 0, 0));
        }
    }
    out.extend(low);
    out.extend(high);
    out
}

/// The first call number of the upper half that [`search`] splits `specials` into.
fn high_first(specials: &[(u32, Vec<sock_filter>)]) -> u32 {
    specials[specials.len() / 2].0
}

/// The default filter; `linux_aio` leaves `io_setup` alone.
pub(super) fn filter(linux_aio: bool, tracing: bool) -> BpfProgram {
    let mut p = vec![
        ins(BPF_LD_W_ABS, OFFSET_ARCH, 0, 0),
        ins(BPF_JEQ_K, AUDIT_ARCH_NATIVE, 1, 0),
        ins(BPF_RET_K, SECCOMP_RET_KILL_PROCESS, 0, 0),
        ins(BPF_LD_W_ABS, OFFSET_NR, 0, 0),
        // x32 numbers and numbers above the newest known call: ENOSYS, two instructions on.
        ins(BPF_JGE_K, X32_SYSCALL_BIT, 1, 0),
        ins(BPF_JGT_K, NEWEST_KNOWN_SYSCALL, 0, 1),
        ins(BPF_RET_K, SECCOMP_RET_ERRNO | libc::ENOSYS as u32, 0, 0),
    ];
    let specials: Vec<(u32, Vec<sock_filter>)> = specials(linux_aio, tracing)
        .iter()
        .map(|(nr, s)| (*nr, block(s, tracing)))
        .collect();
    p.extend(search(&specials));
    p
}
