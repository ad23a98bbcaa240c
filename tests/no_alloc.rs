//! The sandbox's first process runs between `clone3(CLONE_VM)` and `execve` in the caller's
//! memory and must never allocate (the allocator's locks may be held by another thread of the
//! caller). This binary's global allocator traps any allocation made by a process other than the
//! test process itself: it writes a message and exits with status 99, without allocating.
//!
//! A global allocator is per binary, hence this separate test file.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicI32, Ordering};

use tokio_sandbox::{Command, SpawnError};

/// The test process's pid, recorded by its first allocation (before `main` runs any test).
static TEST_PID: AtomicI32 = AtomicI32::new(0);

const TRAP_EXIT: i32 = 99;

struct TrapForeignAllocations;

impl TrapForeignAllocations {
    #[inline(always)]
    fn check(&self) {
        // SAFETY: getpid(2) has no arguments and cannot fail.
        let pid = unsafe { libc::syscall(libc::SYS_getpid) } as i32;
        let recorded = TEST_PID.load(Ordering::Relaxed);
        if recorded == 0 {
            let _ = TEST_PID.compare_exchange(0, pid, Ordering::Relaxed, Ordering::Relaxed);
            return;
        }
        if recorded != pid {
            const MSG: &[u8] = b"no_alloc: allocation in a process other than the test process\n";
            // SAFETY: raw write(2) of a static buffer and exit_group(2); nothing allocates.
            unsafe {
                libc::syscall(libc::SYS_write, 2, MSG.as_ptr(), MSG.len());
                libc::syscall(libc::SYS_exit_group, TRAP_EXIT);
            }
        }
    }
}

// SAFETY: every call is forwarded unchanged to the system allocator after the check.
unsafe impl GlobalAlloc for TrapForeignAllocations {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        self.check();
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        self.check();
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        self.check();
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        self.check();
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: TrapForeignAllocations = TrapForeignAllocations;

/// Positive control: an allocation in a forked child fires the trap (exit 99).
#[test]
fn trap_fires_in_a_forked_child() {
    // Make sure the pid is recorded (any allocation in this process does it).
    drop(std::hint::black_box(Box::new(1u64)));
    assert_eq!(TEST_PID.load(Ordering::Relaxed), std::process::id() as i32);
    // SAFETY: the child only allocates (which exits through the trap) or calls _exit(2).
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork: {}", std::io::Error::last_os_error());
    if pid == 0 {
        // Keep the trap's message out of the test output.
        // SAFETY: open(2) of a static C string and dup2(2); neither allocates.
        unsafe {
            let null = libc::open(c"/dev/null".as_ptr(), libc::O_WRONLY);
            libc::dup2(null, 2);
        }
        let b = std::hint::black_box(Box::new([7u8; 64]));
        std::hint::black_box(&b);
        // Not reached when the trap works.
        // SAFETY: _exit(2) without running anything else.
        unsafe { libc::_exit(0) };
    }
    let mut status = 0;
    // SAFETY: waitpid(2) of our own child.
    let r = unsafe { libc::waitpid(pid, &mut status, 0) };
    assert_eq!(r, pid);
    assert!(libc::WIFEXITED(status), "status {status:#x}");
    assert_eq!(libc::WEXITSTATUS(status), TRAP_EXIT);
}

extern "C" fn clone_vm_child(_: *mut libc::c_void) -> libc::c_int {
    // SAFETY: open(2) of a static C string and dup2(2) on this child's own fd table copy.
    unsafe {
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_WRONLY);
        libc::dup2(null, 2);
    }
    let b = std::hint::black_box(Box::new([7u8; 64]));
    std::hint::black_box(&b);
    // Not reached when the trap works; `b` is leaked on purpose (shared memory).
    std::mem::forget(b);
    0
}

/// Positive control closer to the sandbox: a `CLONE_VM` child (same memory, so the same
/// recorded pid) that allocates fires the trap.
#[test]
fn trap_fires_in_a_clone_vm_child() {
    drop(std::hint::black_box(Box::new(1u64)));
    let mut stack = vec![0u8; 256 * 1024];
    // SAFETY: the child runs on `stack`, which outlives it (we wait for it below); it only
    // opens /dev/null, dup2s and allocates (exiting through the trap).
    let pid = unsafe {
        let top = stack.as_mut_ptr().add(stack.len());
        let top = (top as usize & !15) as *mut libc::c_void;
        libc::clone(
            clone_vm_child,
            top,
            libc::CLONE_VM | libc::SIGCHLD,
            std::ptr::null_mut(),
        )
    };
    assert!(pid > 0, "clone: {}", std::io::Error::last_os_error());
    let mut status = 0;
    // SAFETY: waitpid(2) of our own child.
    let r = unsafe { libc::waitpid(pid, &mut status, 0) };
    assert_eq!(r, pid);
    drop(stack);
    assert!(libc::WIFEXITED(status), "status {status:#x}");
    assert_eq!(libc::WEXITSTATUS(status), TRAP_EXIT);
}

/// If the sandbox's first process allocated before exec, it would exit 99 without a report,
/// which the parent takes for a successful exec: the program's status would be 99.
#[tokio::test]
async fn spawning_never_allocates_in_the_child() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    for _ in 0..50 {
        let status = Command::new("/bin/true").status().await.expect("spawn");
        assert_eq!(status.code(), Some(0), "{status:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_spawns_never_allocate_in_the_child() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let futs = (0..20).map(|_| async {
        let out = Command::new("/bin/sh")
            .args(["-c", "echo ok"])
            .output()
            .await
            .expect("spawn");
        assert_eq!(out.status.code(), Some(0), "{:?}", out.status);
        assert_eq!(out.stdout, b"ok\n");
    });
    futures::future::join_all(futs).await;
}

/// The failure path (exec fails, the child writes its report and exits) does not allocate
/// either: the error is the typed one, not an exit status 99.
#[tokio::test]
async fn failed_exec_report_never_allocates_in_the_child() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    for _ in 0..10 {
        let err = Command::new("/nonexistent/program")
            .spawn_async()
            .await
            .expect_err("the program does not exist");
        assert!(
            matches!(&err, SpawnError::NotFound { path } if path == std::path::Path::new("/nonexistent/program")),
            "{err:?}"
        );
    }
}
