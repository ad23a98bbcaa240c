//! Programs people run, and what they expect of the sandbox (cases C45–C54): the system JDK's
//! configuration in `/etc`, debuggers and sanitizers, who owns a file, the signals a program
//! starts with, renames across mounts, tmpfs limits, the figures of a killed run, many sandboxes
//! under an ordinary descriptor limit, and the environment terminal programs need.
//!
//! Every test spawns real sandboxed processes; it runs as root and as uid 65534 in `.ci/run`.
//! What a test needs of the host (a JDK, gcc with AddressSanitizer, strace, gdb) it checks
//! first: missing on CI is a failure, elsewhere a printed skip.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use common::{has, is_root, missing, rw_dir, sandbox_host_ids, sh, skip, stderr, stdout};
use tokio_sandbox::{Command, EndReason, Layers, PolicyError, SpawnError, Stdio, TmpfsLimits};

/// Asserts exit code 0, the exact stdout and an empty stderr.
#[track_caller]
fn assert_ok(o: &Output, out: &str) {
    assert_eq!(
        (o.status.code(), stdout(o).as_str(), stderr(o).as_str()),
        (Some(0), out, ""),
        "unexpected result: {o:?}"
    );
}

/// The path as a `&str` for scripts (temporary directories are plain ASCII).
fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// Writes `contents` at `p`, readable by every uid.
fn write(p: &Path, contents: &str) {
    std::fs::write(p, contents).unwrap();
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o644)).unwrap();
}

/// Whether the host has `tool`; reports it when not (a failure on CI).
fn tool(tool: &str) -> bool {
    let found = ["/usr/bin", "/bin", "/usr/local/bin"]
        .iter()
        .any(|d| has(&format!("{d}/{tool}")));
    if !found {
        missing(tool);
    }
    found
}

// ---------------------------------------------------------------------------------------------
// C45: the system JDK and the other links from /usr into /etc

const HELLO_JAVA: &str = r#"import java.security.MessageDigest;
public class Hello {
    public static void main(String[] a) throws Exception {
        byte[] d = MessageDigest.getInstance("SHA-256").digest("hello".getBytes("UTF-8"));
        StringBuilder s = new StringBuilder();
        for (byte b : d) s.append(String.format("%02x", b));
        System.out.println("hello " + s);
    }
}
"#;

/// C45: the host's JDK compiles and runs a class that uses `MessageDigest`, which reads
/// `conf/security/java.security`, a link into `/etc/java-*` on Debian.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c45_system_jdk_compiles_and_runs_sha256() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    if !tool("javac") {
        return;
    }
    let d = rw_dir();
    write(&d.path().join("Hello.java"), HELLO_JAVA);
    let o = sh("javac Hello.java && java Hello", |c| {
        c.read_write(d.path()).current_dir(d.path());
    })
    .await;
    assert_ok(
        &o,
        "hello 2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824\n",
    );
}

/// `/etc` paths that are never shown, although links in `/usr` may lead there: private keys,
/// the site's environment and shell profiles (proxy credentials), credentials of tools.
const NEVER_SHOWN: &[&str] = &[
    "/etc/ssl/private",
    "/etc/pki/tls/private",
    "/etc/pki/CA/private",
    "/etc/environment",
    "/etc/shadow",
    "/etc/gshadow",
    "/etc/ssh",
    "/etc/sudoers",
    "/etc/profile",
    "/etc/bash.bashrc",
    "/etc/gitconfig",
    "/etc/maven/settings.xml",
];

/// Every symlink below `dir` whose text leads into `/etc` (absolute or relative), with the
/// path it names, when that exists on the host.
fn links_into_etc(dir: &Path, out: &mut Vec<(PathBuf, PathBuf)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        let Ok(ft) = e.file_type() else { continue };
        if ft.is_dir() {
            links_into_etc(&p, out);
        } else if ft.is_symlink() {
            let Ok(text) = std::fs::read_link(&p) else {
                continue;
            };
            let target = normalize(&dir.join(text));
            if target.starts_with("/etc") && std::fs::metadata(&target).is_ok() {
                out.push((p, target));
            }
        }
    }
}

/// `.` and `..` removed lexically.
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in p.components() {
        match c {
            std::path::Component::Normal(n) => out.push(n),
            std::path::Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

/// C45: every link of the system runtime (`/usr`) into `/etc` resolves in the default sandbox
/// (the JDK's configuration, OpenSSL's, the CA certificates, Python's, locale aliases, ...),
/// except those into the paths that are never shown.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c45_usr_links_into_etc_resolve() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let mut links = Vec::new();
    links_into_etc(Path::new("/usr"), &mut links);
    eprintln!("{} links from /usr into /etc on this host", links.len());
    let never = |t: &Path| NEVER_SHOWN.iter().any(|n| t.starts_with(n));
    let expected: String = links
        .iter()
        .filter(|(_, t)| never(t))
        .map(|(l, _)| format!("{}\n", l.display()))
        .collect();
    let mut cmd = Command::new("/bin/sh");
    cmd.args(["-c", "for l; do [ -e \"$l\" ] || echo \"$l\"; done", "sh"])
        .args(links.iter().map(|(l, _)| l));
    let o = cmd.output().await.unwrap();
    assert_ok(&o, &expected);
}

// ---------------------------------------------------------------------------------------------
// C46: debuggers and sanitizers

/// Yama's `ptrace_scope` of the host, 0 where Yama is absent.
fn yama_scope() -> u32 {
    std::fs::read_to_string("/proc/sys/kernel/yama/ptrace_scope")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

/// Whether tracing works on this host at all (Yama 2 and 3 forbid it to unprivileged
/// processes, in a sandbox as outside); reports the skip when not.
fn tracing_on_host() -> bool {
    let scope = yama_scope();
    if scope >= 2 {
        skip(&format!(
            "Yama's ptrace_scope is {scope} here: only privileged tracers, on the host too"
        ));
        return false;
    }
    true
}

/// C46: a correct program built with AddressSanitizer prints and exits 0 (its leak checker
/// traces its own threads); with tracing switched off the checker fails as it did before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c46_asan_build_runs() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    if !tool("gcc") || !tracing_on_host() {
        return;
    }
    let d = rw_dir();
    let src = d.path().join("hello.c");
    write(
        &src,
        "#include <stdio.h>\n#include <stdlib.h>\n\
         int main(void) { char *p = malloc(8); free(p); puts(\"hello\"); return 0; }\n",
    );
    let exe = d.path().join("hello");
    let built = std::process::Command::new("gcc")
        .args(["-fsanitize=address", "-g", "-o"])
        .arg(&exe)
        .arg(&src)
        .output()
        .unwrap();
    if !built.status.success() {
        let e = String::from_utf8_lossy(&built.stderr);
        assert!(
            std::env::var_os("CI").is_none(),
            "gcc -fsanitize=address fails on CI: {e}"
        );
        skip(&format!("no AddressSanitizer for gcc here: {e}"));
        return;
    }
    let o = Command::new(&exe)
        .read_only(d.path())
        .output()
        .await
        .unwrap();
    assert_ok(&o, "hello\n");
    let mut cmd = Command::new(&exe);
    cmd.read_only(d.path()).policy_mut().ptrace(false);
    let o = cmd.output().await.unwrap();
    assert_ne!(o.status.code(), Some(0));
    assert!(
        stderr(&o).contains("LeakSanitizer has encountered a fatal error"),
        "{o:?}"
    );
}

/// C46: strace and gdb trace a program they start inside the sandbox.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c46_strace_and_gdb_of_a_child() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    if !tracing_on_host() || !tool("strace") || !tool("gdb") {
        return;
    }
    let o = sh("strace -f -qq -e trace=execve /bin/true", |_| {}).await;
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    assert!(
        stderr(&o).starts_with("execve(\"/bin/true\", [\"/bin/true\"]"),
        "{o:?}"
    );
    let o = sh(
        "gdb -nx -batch -ex run --args /bin/sh -c 'exit 3' 2>&1 | grep -o 'exited with code 03'",
        |_| {},
    )
    .await;
    assert_ok(&o, "exited with code 03\n");
}

/// C46: tracing never reaches the sandbox's init (pid 1, not dumpable), so no program can stop
/// it or take its pipes to the library; its memory stays closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c46_ptrace_never_reaches_init() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    if !tool("strace") {
        return;
    }
    let o = sh("strace -p 1 2>&1; cat /proc/1/mem 2>&1; true", |_| {}).await;
    assert_ok(
        &o,
        "strace: attach: ptrace(PTRACE_SEIZE, 1): Operation not permitted\n\
         cat: /proc/1/mem: Permission denied\n",
    );
}

/// C46: a program that makes the sandbox's init its tracer (`PTRACE_TRACEME`) and then stops
/// on a signal, and execs, runs on as if untraced: init detaches it and the run ends with the
/// program's own exit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c46_traceme_does_not_end_the_run() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    if !common::python3_or_skip() {
        return;
    }
    let script = "import ctypes, os, signal\n\
                  libc = ctypes.CDLL(None, use_errno=True)\n\
                  print('traceme', libc.ptrace(0, 0, 0, 0), flush=True)\n\
                  signal.signal(signal.SIGUSR1, lambda *a: print('handled', flush=True))\n\
                  os.kill(os.getpid(), signal.SIGUSR1)\n\
                  os.execv('/bin/echo', ['echo', 'exec ok'])\n";
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = String::new();
    use tokio::io::AsyncReadExt;
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .await
        .unwrap();
    let status = child.wait().await.unwrap();
    assert_eq!(out, "traceme 0\nhandled\nexec ok\n");
    assert_eq!(status.code(), Some(0));
    assert_eq!(child.run_status().unwrap().ended_by, EndReason::Exited);
}

/// C46: `Policy::ptrace(false)` denies tracing (EPERM), and the enforcement report says which
/// applies; without a pid namespace and Landlock it is denied whatever the policy says.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c46_ptrace_switch_off_denies() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    if !tool("strace") {
        return;
    }
    let mut cmd = Command::new("/bin/sh");
    cmd.args(["-c", "strace -qq true 2>&1 | grep -o 'PTRACE_TRACEME: .*'"])
        .policy_mut()
        .ptrace(false);
    let child = cmd.stdout(Stdio::piped()).spawn().unwrap();
    assert!(!child.enforcement().ptrace);
    let out = child.wait_with_output().await.unwrap();
    assert_ok(&out, "PTRACE_TRACEME: Operation not permitted\n");
    let child = Command::new("/bin/true").spawn().unwrap();
    assert!(child.enforcement().ptrace);
    // Neither a pid namespace nor Landlock: nothing would bound tracing to the sandbox.
    let mut cmd = Command::new("/bin/true");
    cmd.policy_mut().layers(Layers {
        pid: false,
        landlock: false,
        ..Layers::default()
    });
    let child = cmd.spawn().unwrap();
    assert!(!child.enforcement().ptrace);
}

// ---------------------------------------------------------------------------------------------
// C48: the overflow uid is not the sandbox's uid

/// C48: a file whose owner the sandbox does not map (host root's `/usr`) shows as the
/// kernel's overflow uid, which is not the program's own: `test -O` says foreign, as on the
/// host for the sandbox's host uid.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c48_unmapped_owner_is_not_the_sandbox_uid() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let (overflow, _) = common::overflow_ids();
    let (inside, _) = common::inside_ids();
    assert_ne!(inside, overflow);
    let o = sh(
        "[ -O /usr ] && echo mine || echo foreign; stat -c %u /usr; id -u",
        |_| {},
    )
    .await;
    assert_ok(&o, &format!("foreign\n{overflow}\n{inside}\n"));
    // A root caller's sandbox writes as host uid 65534 and sees that as its own uid (1000).
    let d = rw_dir();
    let o = sh(
        &format!("touch {0}/f; stat -c %u {0}/f", s(d.path())),
        |c| {
            c.read_write(d.path());
        },
    )
    .await;
    assert_ok(&o, &format!("{inside}\n"));
    assert_eq!(
        std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(d.path().join("f")).unwrap()),
        sandbox_host_ids().0
    );
}

/// C48: git refuses a repository of another owner, in the sandbox as on the host for the
/// sandbox's host uid (root makes the repository: an unprivileged run cannot).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c48_git_refuses_foreign_repository() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    if !tool("git") {
        return;
    }
    if !is_root() {
        skip("making a repository of another user needs root");
        return;
    }
    let d = tempfile::Builder::new()
        .prefix("tsb-c48-")
        .tempdir_in("/tmp")
        .unwrap();
    std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let init = std::process::Command::new("git")
        .args(["init", "-q"])
        .arg(d.path())
        .status()
        .unwrap();
    assert!(init.success());
    let (uid, gid) = sandbox_host_ids();
    // The control: the sandbox's host uid, on the host.
    let host = std::process::Command::new("git")
        .arg("-C")
        .arg(d.path())
        .arg("status")
        .uid(uid)
        .gid(gid)
        .env("HOME", "/")
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&host.stderr).contains("detected dubious ownership"),
        "control: {host:?}"
    );
    let o = sh(&format!("git -C {} status", s(d.path())), |c| {
        c.read_only(d.path());
    })
    .await;
    assert!(stderr(&o).contains("detected dubious ownership"), "{o:?}");
    // Its own repository: fine.
    let own = rw_dir();
    let o = sh(
        &format!(
            "git init -q {0} && git -C {0} status --short && echo clean",
            s(own.path())
        ),
        |c| {
            c.read_write(own.path());
        },
    )
    .await;
    assert_ok(&o, "clean\n");
}

// ---------------------------------------------------------------------------------------------
// C49: signals the caller ignores or blocks

/// C49: a caller that ignores SIGINT and SIGHUP and blocks SIGTERM and SIGUSR1 (as `nohup` and
/// shells leave a process) starts a program with no signal ignored or blocked.
#[test]
fn c49_program_starts_with_no_ignored_or_blocked_signal() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    common::run_helper("helper_c49_signals", Duration::from_secs(60), |cmd| {
        // SAFETY: sigaction and sigprocmask are async-signal-safe; the sets are locals.
        unsafe {
            cmd.pre_exec(|| {
                libc::signal(libc::SIGINT, libc::SIG_IGN);
                libc::signal(libc::SIGHUP, libc::SIG_IGN);
                let mut set: libc::sigset_t = std::mem::zeroed();
                libc::sigemptyset(&mut set);
                libc::sigaddset(&mut set, libc::SIGTERM);
                libc::sigaddset(&mut set, libc::SIGUSR1);
                libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
                Ok(())
            });
        }
    });
}

#[tokio::test]
async fn helper_c49_signals() {
    if !common::is_helper("helper_c49_signals") {
        return;
    }
    // The helper itself has them (the control): SIGHUP and SIGINT ignored (bits 0 and 1),
    // SIGUSR1 and SIGTERM blocked (bits 9 and 14).
    let own = std::fs::read_to_string("/proc/self/status").unwrap();
    let mask = |key: &str| {
        let line = own.lines().find(|l| l.starts_with(key)).unwrap();
        u64::from_str_radix(line.split_whitespace().nth(1).unwrap(), 16).unwrap()
    };
    assert_eq!(mask("SigIgn:") & 0b11, 0b11, "{own}");
    assert_eq!(mask("SigBlk:") & 0x4200, 0x4200, "{own}");
    let o = sh("grep -E '^Sig(Ign|Blk)' /proc/self/status", |_| {}).await;
    assert_ok(&o, "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n");
}

// ---------------------------------------------------------------------------------------------
// C50: renames across mounts

const MKSTEMP_RENAME: &str = "import os, sys, tempfile\n\
    fd, p = tempfile.mkstemp()\n\
    os.write(fd, b'x'); os.close(fd)\n\
    try:\n    os.rename(p, sys.argv[1]); print('renamed', os.path.dirname(p))\n\
    except OSError as e:\n    print('errno', e.errno)\n";

/// C50: a file made in `/tmp` (a tmpfs of its own) cannot be renamed into a read-write bind:
/// EXDEV, as between any two mounts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c50_rename_from_tmp_into_rw_bind_is_exdev() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    if !common::python3_or_skip() {
        return;
    }
    let d = rw_dir();
    let o = Command::new("python3")
        .args(["-c", MKSTEMP_RENAME])
        .arg(d.path().join("x"))
        .read_write(d.path())
        .output()
        .await
        .unwrap();
    assert_ok(&o, &format!("errno {}\n", libc::EXDEV));
}

/// C50: with `TMPDIR` in the read-write bind (`Policy::tmpdir`), the same writer renames;
/// a `TMPDIR` outside every read-write path, or missing, is refused before the spawn.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c50_tmpdir_in_rw_bind_renames() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    if !common::python3_or_skip() {
        return;
    }
    let d = rw_dir();
    let tmp = d.path().join(".tmp");
    std::fs::create_dir(&tmp).unwrap();
    if is_root() {
        let (uid, gid) = sandbox_host_ids();
        std::os::unix::fs::chown(&tmp, Some(uid), Some(gid)).unwrap();
    }
    let mut cmd = Command::new("python3");
    cmd.args(["-c", MKSTEMP_RENAME])
        .arg(d.path().join("x"))
        .read_write(d.path())
        .policy_mut()
        .tmpdir(&tmp);
    assert_ok(
        &cmd.output().await.unwrap(),
        &format!("renamed {}\n", tmp.display()),
    );
    assert_eq!(std::fs::read(d.path().join("x")).unwrap(), b"x");

    let refused = |dir: PathBuf, ro: bool| {
        let mut cmd = Command::new("/bin/true");
        if ro {
            cmd.read_only(d.path());
        } else {
            cmd.read_write(d.path());
        }
        cmd.policy_mut().tmpdir(dir);
        cmd
    };
    for (mut cmd, why) in [
        (
            refused(PathBuf::from("/var/tmp"), false),
            "no bind of the policy shows it",
        ),
        (
            refused(tmp.clone(), true),
            "the bind that shows it is read-only",
        ),
        (
            refused(d.path().join("missing"), false),
            "it is not a directory on the host (create it first)",
        ),
    ] {
        match cmd.spawn_async().await {
            Err(SpawnError::Policy(PolicyError::TmpdirNotInReadWritePath { reason, .. })) => {
                assert_eq!(reason, why)
            }
            other => panic!("expected TmpdirNotInReadWritePath ({why}), got {other:?}"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// C51: tmpfs size and inodes

/// C51: size and inode count per mount: `/tmp`, `/dev/shm` and the home each their own, a
/// policy tmpfs its own, the rest the defaults (256 MiB, one inode per KiB).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c51_tmpfs_size_and_inodes_per_mount() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let o = sh(
        "for m in /tmp /dev/shm ~ /scratch /run/x; do stat -f -c '%b %S %c' $m; done",
        |c| {
            c.tmpfs("/scratch").tmpfs("/run/x");
            c.policy_mut()
                .tmpfs_limits(
                    "/tmp",
                    TmpfsLimits {
                        size: Some(64 << 20),
                        inodes: Some(5000),
                    },
                )
                .tmpfs_limits(
                    "/dev/shm",
                    TmpfsLimits {
                        size: Some(128 << 20),
                        inodes: None,
                    },
                )
                .tmpfs_limits(
                    "~",
                    TmpfsLimits {
                        size: None,
                        inodes: Some(777),
                    },
                )
                .tmpfs_limits(
                    "/scratch",
                    TmpfsLimits {
                        size: Some(8 << 20),
                        inodes: None,
                    },
                );
        },
    )
    .await;
    // Blocks of 4 KiB, then the inode count (tmpfs(5)).
    let line = |size: u64, inodes: u64| format!("{} 4096 {inodes}\n", size / 4096);
    let expected = [
        line(64 << 20, 5000),
        line(128 << 20, (128 << 20) / 1024),
        line(256 << 20, 777),
        line(8 << 20, (8 << 20) / 1024),
        line(256 << 20, (256 << 20) / 1024),
    ]
    .concat();
    assert_ok(&o, &expected);
    // A limit for a path with no tmpfs of the sandbox's own.
    let mut cmd = Command::new("/bin/true");
    cmd.policy_mut()
        .tmpfs_limits("/var/tmp", TmpfsLimits::default());
    match cmd.spawn_async().await {
        Err(SpawnError::Policy(PolicyError::NoSuchTmpfs(p))) => {
            assert_eq!(p, Path::new("/var/tmp"))
        }
        other => panic!("expected NoSuchTmpfs, got {other:?}"),
    }
}

/// C51: by default a tmpfs full of small files runs out of space before inodes (each file
/// takes a page), and 100,000 empty files (a `node_modules` tree) fit in `/tmp`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c51_small_files_fill_blocks_before_inodes() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    if !common::python3_or_skip() {
        return;
    }
    let small = "import os\n\
        n = 0\n\
        try:\n    while True:\n        \
        with open('/tmp/s%d' % n, 'w') as f: f.write('x')\n        n += 1\n\
        except OSError as e:\n    st = os.statvfs('/tmp')\n    \
        print(e.errno, n, st.f_bavail == 0, st.f_favail > 0)\n";
    let mut cmd = Command::new("python3");
    cmd.args(["-c", small]);
    // 16 MiB: 4,096 one-page files fill it, with 16,384 inodes for them.
    cmd.policy_mut().tmpfs_limits(
        "/tmp",
        TmpfsLimits {
            size: Some(16 << 20),
            inodes: None,
        },
    );
    let o = cmd.output().await.unwrap();
    assert_ok(&o, &format!("{} 4096 True True\n", libc::ENOSPC));
    let empty = "import os\n\
        for i in range(100000): open('/tmp/%d' % i, 'w').close()\n\
        print(len(os.listdir('/tmp')))\n";
    let o = Command::new("python3")
        .args(["-c", empty])
        .output()
        .await
        .unwrap();
    assert_ok(&o, "100000\n");
}

/// C51: a program that dies of `SIGBUS` filling shared memory in a full `/dev/shm` gets a run
/// status naming that tmpfs; with a larger `/dev/shm` it runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c51_full_shm_is_named() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    if !common::python3_or_skip() {
        return;
    }
    // Shared memory as a file of /dev/shm, mapped and filled (a segment of
    // multiprocessing.shared_memory is one, but its resource tracker removes it as soon as the
    // program is gone).
    let script = "import mmap, os\n\
        f = open('/dev/shm/seg', 'w+b'); f.truncate(48 << 20)\n\
        m = mmap.mmap(f.fileno(), 48 << 20)\n\
        m[:] = b'x' * (48 << 20)\n\
        print('filled'); os.unlink('/dev/shm/seg')\n";
    let shm = |mib: u64| {
        let mut cmd = Command::new("python3");
        cmd.args(["-c", script]).policy_mut().tmpfs_limits(
            "/dev/shm",
            TmpfsLimits {
                size: Some(mib << 20),
                inodes: None,
            },
        );
        cmd
    };
    let mut child = shm(32).stdout(Stdio::null()).spawn().unwrap();
    let status = child.wait().await.unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(libc::SIGBUS));
    let run = child.run_status().unwrap();
    assert_eq!(run.full_tmpfs.len(), 1, "{run:?}");
    let full = &run.full_tmpfs[0];
    assert_eq!(
        (
            full.path.as_path(),
            full.size_bytes,
            full.no_space,
            full.no_inodes
        ),
        (Path::new("/dev/shm"), 32 << 20, true, false)
    );
    assert_eq!(full.to_string(), "/dev/shm (a 32 MiB tmpfs) was full");
    let o = shm(64).output().await.unwrap();
    assert_ok(&o, "filled\n");
}

// ---------------------------------------------------------------------------------------------
// C53: figures for a run that was killed

const ALLOC_AND_SPIN: &str =
    "b = bytearray(200 << 20)\nfor i in range(0, len(b), 4096): b[i] = 1\nwhile True: pass\n";

/// C53: a program ended by the timeout has its CPU time and peak memory counted (its init
/// kills and reaps it before reporting), in microseconds too. (The timeout is stretched under
/// emulation, where touching 200 MiB alone can take longer than 2.5 s.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c53_timeout_counts_cpu_and_memory() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    if !common::python3_or_skip() {
        return;
    }
    let mut child = Command::new("python3")
        .args(["-c", ALLOC_AND_SPIN])
        .timeout(common::slack(Duration::from_millis(2500)))
        .spawn()
        .unwrap();
    child.wait().await.unwrap();
    let run = child.run_status().unwrap();
    assert_eq!(run.ended_by, EndReason::Timeout);
    assert!(run.user_time_ms >= 500, "{run:?}");
    assert_eq!(run.user_time_ms, run.user_time_us / 1000);
    let peak = run.peak_memory_bytes.expect("a peak");
    assert!(peak >= 200 << 20, "{run:?}");
}

/// C53: the same for a kill: `Child::kill` counts what the killed processes used.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c53_kill_counts_cpu() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let mut child = Command::new("/bin/sh")
        .args(["-c", "while :; do :; done"])
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    child.kill().await.unwrap();
    let run = child.run_status().unwrap();
    assert_eq!(
        (run.ended_by, run.signal),
        (EndReason::Killed, Some(libc::SIGKILL))
    );
    assert!(run.user_time_ms + run.system_time_ms >= 300, "{run:?}");
}

/// C53: the peak memory of a run never holds the spawning process's own (which the sandbox's
/// first process shares until its init is exec'd).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c53_peak_excludes_the_caller() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    // 300 MiB resident in this process while it spawns.
    let mut ballast = vec![1u8; 300 << 20];
    for i in (0..ballast.len()).step_by(4096) {
        ballast[i] = (i % 251) as u8;
    }
    let mut child = Command::new("/bin/true").spawn().unwrap();
    child.wait().await.unwrap();
    let run = child.run_status().unwrap();
    let peak = run.peak_memory_bytes.expect("a peak");
    assert!(peak < 50 << 20, "peak {peak} with 300 MiB in the caller");
    assert!(ballast.iter().step_by(1 << 20).count() > 0);
}

/// C53: times have microseconds: even `/bin/true` has a wall time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c53_times_have_microseconds() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let mut child = Command::new("/bin/true").spawn().unwrap();
    child.wait().await.unwrap();
    let run = child.run_status().unwrap();
    assert!(run.wall_time_us > 0, "{run:?}");
    assert_eq!(run.wall_time_ms, run.wall_time_us / 1000);
    assert_eq!(run.system_time_ms, run.system_time_us / 1000);
}

// ---------------------------------------------------------------------------------------------
// C54: many sandboxes under an ordinary descriptor limit

/// The hard `RLIMIT_NOFILE` of this process.
fn nofile_hard() -> u64 {
    rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .maximum
        .unwrap_or(u64::MAX)
}

/// Runs the helper `name` with `RLIMIT_NOFILE` soft `soft`, hard `hard`.
fn with_nofile(name: &str, soft: u64, hard: u64) {
    common::run_helper(name, Duration::from_secs(300), |cmd| {
        // SAFETY: setrlimit is async-signal-safe; the limit is a local.
        unsafe {
            cmd.pre_exec(move || {
                let l = libc::rlimit {
                    rlim_cur: soft,
                    rlim_max: hard,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &l) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    });
}

/// C54: a caller with the customary soft limit of 1024 descriptors runs 1,000 sandboxes at
/// once when its hard limit allows (the first spawn raises the soft limit), and the programs
/// get the soft limit of 1024 back.
#[test]
fn c54_thousand_sandboxes_under_soft_1024() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let hard = nofile_hard();
    if hard < 4096 {
        skip(&format!(
            "the hard RLIMIT_NOFILE is {hard}: 1,000 sandboxes need about 2,000 descriptors"
        ));
        return;
    }
    with_nofile("helper_c54_thousand", 1024, hard.min(1 << 20));
}

#[test]
fn helper_c54_thousand() {
    if !common::is_helper("helper_c54_thousand") {
        return;
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        // The programs get this process's soft limit back (or the default open-files limit,
        // derived from fs.file-max, where that is lower).
        let hard = nofile_hard();
        let file_max: u64 = std::fs::read_to_string("/proc/sys/fs/file-max")
            .map_or(u64::MAX, |s| s.trim().parse().unwrap());
        let (soft, _) = tokio_sandbox::Limits::default()
            .default_open_files(file_max, (1024, hard))
            .unwrap();
        let first = Command::new("/bin/sh")
            .args(["-c", "ulimit -Sn"])
            .output()
            .await
            .unwrap();
        assert_ok(&first, &format!("{soft}\n"));
        // The first spawn raised this process's soft limit to the hard one.
        let own = rustix::process::getrlimit(rustix::process::Resource::Nofile);
        assert_eq!(own.current, own.maximum);
        let mut children = Vec::new();
        for _ in 0..1000 {
            children.push(tokio::spawn(async move {
                let mut c = Command::new("sleep")
                    .arg("2")
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn_async()
                    .await
                    .map_err(|e| e.to_string())?;
                c.wait().await.map_err(|e| e.to_string())
            }));
        }
        let mut ok = 0;
        for c in children {
            match c.await.unwrap() {
                Ok(s) if s.success() => ok += 1,
                other => panic!("a sandbox failed: {other:?}"),
            }
        }
        assert_eq!(ok, 1000);
    });
}

/// C54: past the limit, a spawn fails with an error naming `RLIMIT_NOFILE`, never a setup
/// step that happened to need a descriptor.
#[test]
fn c54_past_the_limit_error_names_rlimit_nofile() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    with_nofile("helper_c54_past", 64, 64);
}

#[test]
fn helper_c54_past() {
    if !common::is_helper("helper_c54_past") {
        return;
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut children = Vec::new();
        for _ in 0..100 {
            children.push(tokio::spawn(async {
                Command::new("sleep")
                    .arg("1")
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn_async()
                    .await
            }));
        }
        let (mut ok, mut refused) = (Vec::new(), 0);
        for c in children {
            match c.await.unwrap() {
                Ok(child) => ok.push(child),
                Err(e @ SpawnError::TooManyOpenFiles { .. }) => {
                    let msg = e.to_string();
                    assert!(
                        msg.contains(
                            "RLIMIT_NOFILE of the spawning process reached (soft and \
                                      hard limit 64)"
                        ),
                        "{msg}"
                    );
                    assert_eq!(e.raw_os_error(), Some(libc::EMFILE));
                    refused += 1;
                }
                Err(other) => panic!("expected TooManyOpenFiles, got {other:?}"),
            }
        }
        assert!(
            refused > 0 && !ok.is_empty(),
            "{} ran, {refused} refused",
            ok.len()
        );
        for mut c in ok {
            assert!(c.wait().await.unwrap().success());
        }
    });
}

// ---------------------------------------------------------------------------------------------
// The environment terminal programs expect, the machine id

/// A terminal on stdio brings the caller's `TERM` and `COLORTERM` (terminal programs need them
/// to draw); with pipes they stay out. `LANG` is `C.UTF-8` and `SHELL` `/bin/sh` either way.
#[test]
fn terminal_environment_when_a_stdio_fd_is_a_terminal() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    common::run_helper("helper_terminal_env", Duration::from_secs(60), |cmd| {
        cmd.env("TERM", "xterm-256color")
            .env("COLORTERM", "truecolor");
    });
}

#[tokio::test]
async fn helper_terminal_env() {
    if !common::is_helper("helper_terminal_env") {
        return;
    }
    let (master, slave) = common::openpty().unwrap();
    let mut child = Command::new("/bin/sh")
        .args(["-c", "echo \"$TERM $COLORTERM $SHELL\" >&2"])
        .stdin(Stdio::from(slave))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = String::new();
    use tokio::io::AsyncReadExt;
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .await
        .unwrap();
    child.wait().await.unwrap();
    drop(master);
    assert_eq!(err, "xterm-256color truecolor /bin/sh\n");
    let o = sh("echo \"[$TERM] [$COLORTERM]\"", |_| {}).await;
    assert_ok(&o, "[] []\n");
}

/// Each sandbox has a machine id of its own (D-Bus and systemd's libraries need one), never the
/// host's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn machine_id_is_generated_per_sandbox() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let id = || async {
        let o = sh("cat /etc/machine-id", |_| {}).await;
        assert_eq!(o.status.code(), Some(0), "{o:?}");
        stdout(&o)
    };
    let (a, b) = (id().await, id().await);
    for m in [&a, &b] {
        assert_eq!(m.len(), 33, "{m:?}");
        assert!(m
            .trim_end()
            .bytes()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
    }
    assert_ne!(a, b);
    if let Ok(host) = std::fs::read_to_string("/etc/machine-id") {
        assert_ne!(a, host);
    }
    if tool("dbus-uuidgen") {
        let o = sh(
            "[ \"$(dbus-uuidgen --get)\" = \"$(cat /etc/machine-id)\" ] && echo same",
            |_| {},
        )
        .await;
        assert_ok(&o, "same\n");
    }
}

/// A program that is not bound, named by a relative path the caller has: the error says to
/// bind it, as for an absolute path.
#[test]
fn relative_program_not_bound_is_named_with_the_advice() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let d = rw_dir();
    let prog = d.path().join("m");
    std::fs::copy("/bin/true", &prog).unwrap();
    let dir = d.path().to_path_buf();
    common::run_helper("helper_relative_program", Duration::from_secs(60), |cmd| {
        cmd.current_dir(&dir);
    });
}

#[tokio::test]
async fn helper_relative_program() {
    if !common::is_helper("helper_relative_program") {
        return;
    }
    let cwd = std::env::current_dir().unwrap();
    match Command::new("./m").spawn_async().await {
        Err(e @ SpawnError::NotBound { .. }) => {
            assert!(e.to_string().contains("bind it or its directory"), "{e}");
            let SpawnError::NotBound { path } = e else {
                unreachable!()
            };
            assert_eq!(path, cwd.join("m"));
        }
        other => panic!("expected NotBound, got {other:?}"),
    }
    // Bound, it runs.
    let status = Command::new("./m").read_only(&cwd).status().await.unwrap();
    assert!(status.success());
}
