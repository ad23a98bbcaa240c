//! Hostile input to the library: paths that change between compiling a policy and spawning
//! it, symlinks and `..` where a destination should be, names that are not UTF-8, very many
//! binds, oversized arguments and environments, NUL bytes, and malformed policy files.
//!
//! Each case either works exactly as asked or fails with the asserted typed error; none may
//! panic, hang (every spawn runs under a timeout), create anything on the host outside a
//! read-write path, or give the sandbox more than it was asked for.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::io::ErrorKind;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use crate::common;
use tokio_sandbox::{
    Command, Limits, Policy, PolicyError, PolicyFileError, SpawnError, Stage, DEFAULT_PATH,
};

/// Generous bound for one spawn and run; a hang fails the test instead of blocking it.
const BOUND: Duration = Duration::from_secs(60);

const ENOENT_MSG: &str = "No such file or directory";
const EROFS_MSG: &str = "Read-only file system";

/// Runs `cmd` to completion with captured output, failing the test on a spawn error or a hang.
async fn run(cmd: &mut Command) -> Output {
    tokio::time::timeout(BOUND, cmd.output())
        .await
        .expect("the run must not hang")
        .expect("spawn")
}

/// Spawns `cmd` and returns the spawn error, failing the test if it spawned or hung.
async fn spawn_err(cmd: &mut Command) -> SpawnError {
    match tokio::time::timeout(BOUND, cmd.spawn_async())
        .await
        .expect("the spawn must not hang")
    {
        Ok(mut child) => {
            let status = child.wait().await;
            panic!("expected a spawn error, the program ran: {status:?}")
        }
        Err(e) => e,
    }
}

/// Asserts the exact exit code, stdout and stderr.
#[track_caller]
fn assert_out(o: &Output, code: i32, out: &str, err: &str) {
    assert_eq!(
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stdout).as_ref(),
            String::from_utf8_lossy(&o.stderr).as_ref()
        ),
        (Some(code), out, err),
        "unexpected result: {o:?}"
    );
}

/// Asserts a `SpawnError::Setup` with this stage, path and errno, and that its message names
/// the step and the path.
#[track_caller]
fn assert_setup(e: SpawnError, stage: Stage, path: Option<&Path>, errno: i32) {
    let msg = e.to_string();
    match e {
        SpawnError::Setup {
            stage: s,
            path: p,
            source,
            ..
        } => {
            assert_eq!(
                (s, p.as_deref(), source.raw_os_error()),
                (stage, path, Some(errno)),
                "{msg}"
            );
            assert!(msg.contains(stage.name()), "{msg}");
            if let Some(p) = path {
                assert!(msg.contains(&p.display().to_string()), "{msg}");
            }
        }
        other => panic!("expected a {stage:?} setup error, got {other:?}"),
    }
}

/// Everything below `root` (not following symlinks): path -> file contents, link text or
/// `dir`. Compared before and after a spawn to show nothing changed on the host.
fn snapshot(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(p) = todo.pop() {
        let m = std::fs::symlink_metadata(&p).expect("lstat");
        let v = if m.file_type().is_symlink() {
            let mut v = b"link:".to_vec();
            v.extend_from_slice(std::fs::read_link(&p).unwrap().as_os_str().as_bytes());
            v
        } else if m.is_dir() {
            for e in std::fs::read_dir(&p).unwrap() {
                todo.push(e.unwrap().path());
            }
            b"dir".to_vec()
        } else {
            std::fs::read(&p).unwrap()
        };
        out.insert(p, v);
    }
    out
}

/// `p` as `&str` for shell scripts (temporary directories are plain ASCII).
fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// A file with `contents`, readable by everyone.
fn write(p: &Path, contents: &str) {
    std::fs::write(p, contents).unwrap();
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o644)).unwrap();
}

// ---------------------------------------------------------------------------------------------
// Paths that change between compiling and spawning.

/// A bind source removed after the command was built, after `compile()`, or between two spawns
/// of one command: a `MissingPath` when the spawn compiles the policy itself, else a `Bind`
/// setup error with ENOENT naming the source. The source is not recreated on the host.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bind_source_removed_before_spawn_is_a_typed_error() {
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    let d = common::rw_dir();
    let src = d.path().join("src");

    // Removed after the Command was built, before its first spawn (which compiles).
    std::fs::create_dir(&src).unwrap();
    let mut cmd = Command::new("/bin/true");
    cmd.read_only(&src);
    std::fs::remove_dir(&src).unwrap();
    let before = snapshot(d.path());
    match spawn_err(&mut cmd).await {
        SpawnError::Policy(PolicyError::MissingPath { path, source }) => {
            assert_eq!(
                (path.as_path(), source.raw_os_error()),
                (src.as_path(), Some(libc::ENOENT))
            );
        }
        other => panic!("expected MissingPath, got {other:?}"),
    }
    assert_eq!(snapshot(d.path()), before);

    // Removed after compile(): the child finds it gone.
    std::fs::create_dir(&src).unwrap();
    let mut policy = Policy::new();
    policy.bind(&src, "/data", false);
    let compiled = policy.compile().unwrap();
    std::fs::remove_dir(&src).unwrap();
    let before = snapshot(d.path());
    let e = spawn_err(Command::new("/bin/true").compiled_policy(&compiled)).await;
    assert!(
        e.to_string().contains("nothing is created on the host"),
        "{e}"
    );
    assert_eq!(std::io::Error::from(e).kind(), ErrorKind::NotFound);
    let e = spawn_err(Command::new("/bin/true").compiled_policy(&compiled)).await;
    assert_setup(e, Stage::Bind, Some(&src), libc::ENOENT);
    assert_eq!(snapshot(d.path()), before);

    // Removed between two spawns of the same command (which keeps its compiled policy).
    let file = d.path().join("file");
    write(&file, "here\n");
    let mut cmd = Command::new("/bin/cat");
    cmd.arg(&file).read_only(&file);
    assert_out(&run(&mut cmd).await, 0, "here\n", "");
    std::fs::remove_file(&file).unwrap();
    let before = snapshot(d.path());
    assert_setup(
        spawn_err(&mut cmd).await,
        Stage::Bind,
        Some(&file),
        libc::ENOENT,
    );
    assert_eq!(snapshot(d.path()), before);
}

/// Asserts [`PolicyError::PathReplaced`] naming `path`.
#[track_caller]
fn assert_replaced(e: SpawnError, path: &Path) {
    let msg = e.to_string();
    match e {
        SpawnError::Policy(PolicyError::PathReplaced { path: p }) => {
            assert_eq!(p, path, "{msg}");
            assert!(msg.contains(&path.display().to_string()), "{msg}");
        }
        other => panic!("expected PathReplaced for {path:?}, got {other:?}"),
    }
}

/// A compiled bind source replaced by a node of the other kind (directory by file, file by
/// directory) is refused at the bind as a replaced policy path; the replacement's contents
/// are never shown.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bind_source_changing_kind_after_compile_is_refused() {
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    let d = common::rw_dir();
    let p = d.path().join("node");

    std::fs::create_dir(&p).unwrap();
    let mut policy = Policy::new();
    policy.read_only(&p);
    let compiled = policy.compile().unwrap();
    std::fs::remove_dir(&p).unwrap();
    write(&p, "now a file\n");
    let e = spawn_err(Command::new("/bin/cat").arg(&p).compiled_policy(&compiled)).await;
    assert_replaced(e, &p);

    std::fs::remove_file(&p).unwrap();
    write(&p, "a file\n");
    let mut policy = Policy::new();
    policy.read_only(&p);
    let compiled = policy.compile().unwrap();
    std::fs::remove_file(&p).unwrap();
    std::fs::create_dir(&p).unwrap();
    write(&p.join("inner"), "now a directory\n");
    let e = spawn_err(
        Command::new("/bin/cat")
            .arg(p.join("inner"))
            .compiled_policy(&compiled),
    )
    .await;
    assert_replaced(e, &p);
}

/// A policy path replaced after it was given to the policy, by a symlink to `/etc` or by
/// another directory: between naming and spawning (the spawn compiles the policy), between
/// compiling and spawning (the sandbox's first process finds it), for a path of a policy file,
/// and in a sandbox on Landlock alone. Each spawn is refused with `PathReplaced` naming the
/// path; nothing of `/etc` or of the other directory is shown. Put back, the path works again.
/// The control shows that on the host the path leads to the replacement, which a bind made by
/// path at spawn would show.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_path_replaced_after_it_was_named_is_refused() {
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    use std::os::unix::fs::MetadataExt;
    let d = common::rw_dir();
    let data = d.path().join("data");
    let moved = d.path().join("data.moved");
    let decoy = d.path().join("decoy");
    std::fs::create_dir(&data).unwrap();
    write(&data.join("mine"), "the caller's\n");
    std::fs::create_dir(&decoy).unwrap();
    write(&decoy.join("mine"), "someone else's\n");
    let identity = |p: &Path| {
        let m = std::fs::metadata(p).unwrap();
        (m.dev(), m.ino())
    };
    let etc = identity(Path::new("/etc"));
    let ls = || {
        let mut c = Command::new("/bin/ls");
        c.arg(&data);
        c
    };
    // The swaps: `data` aside, then a symlink to /etc or the decoy directory in its place.
    let to_etc = || {
        std::fs::rename(&data, &moved).unwrap();
        std::os::unix::fs::symlink("/etc", &data).unwrap();
        assert_eq!(identity(&data), etc, "the control: the path leads to /etc");
    };
    let to_decoy = || {
        std::fs::rename(&data, &moved).unwrap();
        std::fs::rename(&decoy, &data).unwrap();
    };
    let restore = |was_link: bool| {
        if was_link {
            std::fs::remove_file(&data).unwrap();
        } else {
            std::fs::rename(&data, &decoy).unwrap();
        }
        std::fs::rename(&moved, &data).unwrap();
    };

    // Between naming and spawning.
    for (swap, link) in [(&to_etc as &dyn Fn(), true), (&to_decoy, false)] {
        let mut cmd = ls();
        cmd.read_only(&data);
        swap();
        assert_replaced(spawn_err(&mut cmd).await, &data);
        restore(link);
        assert_out(&run(&mut cmd).await, 0, "mine\n", "");
    }

    // Between compiling and spawning: a symlink fails the child's open without following
    // it (ELOOP); a directory moved into place is caught by its device and inode.
    let mut policy = Policy::new();
    policy.read_only(&data);
    let compiled = policy.compile().unwrap();
    to_decoy();
    assert_replaced(spawn_err(ls().compiled_policy(&compiled)).await, &data);
    restore(false);
    assert_out(&run(ls().compiled_policy(&compiled)).await, 0, "mine\n", "");

    // A policy file: its paths are pinned when it is read.
    let file_policy = Policy::from_toml(&format!("[[mount]]\nread_only = {:?}\n", s(&data)));
    let file_policy = file_policy.unwrap();
    to_etc();
    assert_replaced(spawn_err(ls().policy(file_policy.clone())).await, &data);
    restore(true);
    assert_out(&run(ls().policy(file_policy)).await, 0, "mine\n", "");

    // Landlock alone (no mount namespace): the rule on the host path is checked the same way.
    if tokio_sandbox::probe().landlock_abi.is_some() {
        let mut policy = Policy::new();
        policy
            .read_only(&data)
            .network(tokio_sandbox::Network::Host)
            .require(
                tokio_sandbox::Property::Processes,
                tokio_sandbox::Requirement::BestEffort,
            )
            .layers(tokio_sandbox::Layers {
                user_namespace: false,
                mount: false,
                pid: false,
                ..tokio_sandbox::Layers::default()
            });
        let compiled = policy.compile().unwrap();
        to_decoy();
        assert_replaced(spawn_err(ls().compiled_policy(&compiled)).await, &data);
        restore(false);
        assert_out(&run(ls().compiled_policy(&compiled)).await, 0, "mine\n", "");
    } else {
        eprintln!("no Landlock on this host: the Landlock-only case is not run");
    }
}

/// A directory in the middle of a compiled source path swapped for a symlink (to a tree with
/// the same names and a secret) fails the bind with ELOOP instead of following it; once the
/// real directory is back, the same compiled policy works again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compiled_source_with_a_component_swapped_for_a_symlink_fails() {
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    let d = common::rw_dir();
    let a = d.path().join("a");
    std::fs::create_dir_all(a.join("b")).unwrap();
    write(&a.join("b/f"), "real\n");
    let decoy = d.path().join("decoy");
    std::fs::create_dir_all(decoy.join("b")).unwrap();
    write(&decoy.join("b/f"), "secret\n");

    let mut policy = Policy::new();
    policy.bind(a.join("b"), "/data", false);
    let compiled = policy.compile().unwrap();
    let cat = || {
        let mut c = Command::new("/bin/cat");
        c.arg("/data/f").compiled_policy(&compiled);
        c
    };
    assert_out(&run(&mut cat()).await, 0, "real\n", "");

    let moved = d.path().join("a-moved");
    std::fs::rename(&a, &moved).unwrap();
    std::os::unix::fs::symlink(&decoy, &a).unwrap();
    assert_setup(
        spawn_err(&mut cat()).await,
        Stage::Bind,
        Some(&a.join("b")),
        libc::ELOOP,
    );

    std::fs::remove_file(&a).unwrap();
    std::fs::rename(&moved, &a).unwrap();
    assert_out(&run(&mut cat()).await, 0, "real\n", "");
}

/// A directory bind destination inside a read-write tree, swapped for a symlink to another
/// host directory after the policy was compiled: the bind is refused (EINVAL, naming the
/// source), and neither tree changes on the host.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compiled_destination_swapped_for_a_symlink_is_refused() {
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    let w = common::rw_dir();
    let other = common::rw_dir();
    let src = common::rw_dir();
    write(&src.path().join("f"), "src\n");
    write(&other.path().join("secret"), "secret\n");
    let mnt = w.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();

    let mut policy = Policy::new();
    policy.read_write(w.path()).bind(src.path(), &mnt, false);
    let compiled = policy.compile().unwrap();
    let mut cmd = Command::new("/bin/cat");
    cmd.arg(mnt.join("f")).compiled_policy(&compiled);
    assert_out(&run(&mut cmd).await, 0, "src\n", "");

    std::fs::remove_dir(&mnt).unwrap();
    std::os::unix::fs::symlink(other.path(), &mnt).unwrap();
    let (before_w, before_other) = (snapshot(w.path()), snapshot(other.path()));
    let mut cmd = Command::new("/bin/cat");
    cmd.arg(mnt.join("f")).compiled_policy(&compiled);
    assert_setup(
        spawn_err(&mut cmd).await,
        Stage::Bind,
        Some(src.path()),
        libc::EINVAL,
    );
    assert_eq!(snapshot(w.path()), before_w);
    assert_eq!(snapshot(other.path()), before_other);
}

// ---------------------------------------------------------------------------------------------
// Symlinks and `..` where a destination should be.

/// Bind and tmpfs destinations that are symlinks (absolute, dangling, to a file) inside a
/// read-write tree: a directory bind is refused (EINVAL), a tmpfs is refused (ENOENT), a file
/// bind covers the symlink itself and stays read-only; the symlinks' targets are never shown
/// and nothing is created on the host (the dangling target stays missing).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bind_destinations_that_are_symlinks_in_a_read_write_tree() {
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    let w = common::rw_dir();
    let other = common::rw_dir();
    let src = common::rw_dir();
    write(&src.path().join("f"), "src\n");
    // Writable by anyone: only the read-only mount can refuse the write.
    std::fs::set_permissions(src.path().join("f"), std::fs::Permissions::from_mode(0o666)).unwrap();
    std::fs::create_dir(other.path().join("target")).unwrap();
    write(&other.path().join("target/secret"), "secret\n");
    let (abs, dangling, absfile) = (
        w.path().join("abs"),
        w.path().join("dangling"),
        w.path().join("absfile"),
    );
    std::os::unix::fs::symlink(other.path().join("target"), &abs).unwrap();
    std::os::unix::fs::symlink(other.path().join("missing"), &dangling).unwrap();
    std::os::unix::fs::symlink(other.path().join("target/secret"), &absfile).unwrap();
    let before = (snapshot(w.path()), snapshot(other.path()));

    for dst in [&abs, &dangling] {
        let mut cmd = Command::new("/bin/true");
        cmd.read_write(w.path()).bind(src.path(), dst, false);
        assert_setup(
            spawn_err(&mut cmd).await,
            Stage::Bind,
            Some(src.path()),
            libc::EINVAL,
        );
        let mut cmd = Command::new("/bin/true");
        cmd.read_write(w.path()).tmpfs(dst);
        assert_setup(
            spawn_err(&mut cmd).await,
            Stage::Tmpfs,
            Some(dst),
            libc::ENOENT,
        );
    }

    let os = s(other.path());
    for dst in [&absfile, &dangling] {
        let ds = s(dst);
        let o = run(Command::new("/bin/sh")
            .args([
                "-c",
                &format!(
                    "cat {ds}; echo x >> {ds}; cat {os}/target/secret; ls {os}/missing; \
                     readlink {}",
                    s(&abs)
                ),
            ])
            .read_write(w.path())
            .bind(src.path().join("f"), dst, false))
        .await;
        assert_out(
            &o,
            0,
            &format!("src\n{}\n", s(&other.path().join("target"))),
            &format!(
                "/bin/sh: 1: cannot create {ds}: {EROFS_MSG}\n\
                 cat: {os}/target/secret: {ENOENT_MSG}\n\
                 ls: cannot access '{os}/missing': {ENOENT_MSG}\n"
            ),
        );
    }
    assert_eq!((snapshot(w.path()), snapshot(other.path())), before);
    assert_eq!(std::fs::read(src.path().join("f")).unwrap(), b"src\n");
}

/// `..` in a source is resolved as the kernel does, after the symlink before it (not
/// lexically), and `..` above `/` stays at `/`; `..` in a destination is lexical, so a
/// destination that normalizes to `/` is a `RootBind` and one that climbs above `/` lands at
/// the top of the sandbox, not on the host.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dot_dot_in_sources_and_destinations() {
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    let d = common::rw_dir();
    let p = d.path();
    std::fs::create_dir_all(p.join("real/inner")).unwrap();
    write(&p.join("real/f"), "after the symlink\n");
    write(&p.join("f"), "lexical\n");
    std::os::unix::fs::symlink(p.join("real/inner"), p.join("link")).unwrap();

    // <p>/link/../f is <p>/real/f for the kernel; <p>/f would be the lexical reading.
    let ps = s(p);
    let via_link = p.join("link/../f");
    let o = run(Command::new("/bin/sh")
        .args([
            "-c",
            &format!("cat {ps}/real/f; cat {ps}/f; readlink {ps}/link"),
        ])
        .read_only(&via_link))
    .await;
    assert_out(
        &o,
        0,
        &format!("after the symlink\n{ps}/real/inner\n"),
        &format!("cat: {ps}/f: {ENOENT_MSG}\n"),
    );

    // Above the root: /../../<p>/f is <p>/f.
    let above = PathBuf::from(format!("/../..{ps}/f"));
    let o = run(Command::new("/bin/cat").arg(p.join("f")).read_only(&above)).await;
    assert_out(&o, 0, "lexical\n", "");

    // Destinations.
    let top = Path::new("/tsb-hostile-dotdot");
    assert!(!top.exists());
    let o = run(Command::new("/bin/cat").arg("/tsb-hostile-dotdot/f").bind(
        p,
        "/x/y/../../../tsb-hostile-dotdot",
        false,
    ))
    .await;
    assert_out(&o, 0, "lexical\n", "");
    assert!(!top.exists(), "a destination was created on the host");
    for dst in ["/usr/..", "/a/b/../..", "/.."] {
        let mut cmd = Command::new("/bin/true");
        cmd.bind(p, dst, false);
        match spawn_err(&mut cmd).await {
            SpawnError::Policy(PolicyError::RootBind(src)) => assert_eq!(src, p, "{dst}"),
            other => panic!("{dst}: expected RootBind, got {other:?}"),
        }
        let mut cmd = Command::new("/bin/true");
        cmd.tmpfs(dst);
        match spawn_err(&mut cmd).await {
            SpawnError::Policy(PolicyError::RootBind(what)) => {
                assert_eq!(what, Path::new("tmpfs"), "{dst}")
            }
            other => panic!("{dst}: expected RootBind, got {other:?}"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Names that are not UTF-8.

/// A file whose name is not UTF-8 binds read-only and shows under its exact bytes (its
/// unbound sibling does not); a directory binds at a destination that is not UTF-8 either;
/// a missing such path is a `MissingPath` carrying the exact bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_utf8_names_bind_under_their_exact_bytes() {
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    let d = common::rw_dir();
    let name = OsStr::from_bytes(b"caf\xe9-\xff\xfe");
    let file = d.path().join(name);
    std::fs::write(&file, "bytes\n").unwrap();
    write(&d.path().join("sibling"), "no\n");

    let o = run(Command::new("/usr/bin/find")
        .arg(d.path())
        .arg("-print0")
        .read_only(&file))
    .await;
    let mut expected = d.path().as_os_str().as_bytes().to_vec();
    expected.push(0);
    expected.extend_from_slice(file.as_os_str().as_bytes());
    expected.push(0);
    assert_eq!(
        (
            o.status.code(),
            o.stdout,
            String::from_utf8_lossy(&o.stderr)
        ),
        (Some(0), expected, "".into())
    );
    let o = run(Command::new("/bin/cat").arg(&file).read_only(&file)).await;
    assert_out(&o, 0, "bytes\n", "");

    let dst = Path::new(OsStr::from_bytes(b"/tsb-\xfe-dst"));
    let o = run(Command::new("/bin/cat")
        .arg(dst.join(name))
        .bind(d.path(), dst, false))
    .await;
    assert_out(&o, 0, "bytes\n", "");
    assert!(!dst.exists(), "a destination was created on the host");

    let missing = d.path().join(OsStr::from_bytes(b"\xc3\x28-missing"));
    match spawn_err(Command::new("/bin/true").read_only(&missing)).await {
        SpawnError::Policy(PolicyError::MissingPath { path, source }) => {
            assert_eq!(path.as_os_str().as_bytes(), missing.as_os_str().as_bytes());
            assert_eq!(source.raw_os_error(), Some(libc::ENOENT));
        }
        other => panic!("expected MissingPath, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Size.

/// 10,000 read-only binds of the files of one directory compile and spawn in bounded time;
/// the sandbox lists exactly those files and reads them, and an unbound sibling stays absent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_read_only_binds() {
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    const N: usize = 10_000;
    let d = common::rw_dir();
    let name = |i: usize| format!("f{i:05}");
    for i in 0..N {
        std::fs::write(d.path().join(name(i)), format!("{i}\n")).unwrap();
    }
    write(&d.path().join("unbound"), "no\n");
    // Writable by anyone: only the read-only mount can refuse the write.
    std::fs::set_permissions(
        d.path().join(name(1)),
        std::fs::Permissions::from_mode(0o666),
    )
    .unwrap();
    let mut policy = Policy::new();
    for i in 0..N {
        policy.read_only(d.path().join(name(i)));
    }
    let t = Instant::now();
    let compiled = tokio::task::spawn_blocking(move || policy.compile())
        .await
        .unwrap()
        .unwrap();
    let compile_time = t.elapsed();
    let ds = s(d.path());
    let t = Instant::now();
    let o = run(Command::new("/bin/sh")
        .args([
            "-c",
            &format!(
                "cat {ds}/f00000 {ds}/f04321 {ds}/f09999; ls {ds} | wc -l; \
                 ls {ds} | grep -vc '^f[0-9]*$'; cat {ds}/unbound; echo x >> {ds}/f00001"
            ),
        ])
        .compiled_policy(&compiled))
    .await;
    let run_time = t.elapsed();
    eprintln!("{N} binds: compile {compile_time:?}, spawn and run {run_time:?}");
    assert_out(
        &o,
        2,
        "0\n4321\n9999\n10000\n0\n",
        &format!(
            "cat: {ds}/unbound: {ENOENT_MSG}\n/bin/sh: 1: cannot create {ds}/f00001: \
             {EROFS_MSG}\n"
        ),
    );
    // Stretched under emulation (TSB_TEST_SCALE below 1), where the same work takes several
    // times as long.
    assert!(
        compile_time + run_time < common::slack(Duration::from_secs(30)),
        "{compile_time:?} + {run_time:?}"
    );
}

/// The kernel's limit for arguments and environment together (a quarter of the stack rlimit,
/// at most 6 MiB, at least 128 KiB), as exec(2) computes it.
fn exec_strings_limit() -> usize {
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit(2) writes the struct it is given.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_STACK, &mut rl) }, 0);
    let quarter = if rl.rlim_cur == libc::RLIM_INFINITY {
        usize::MAX
    } else {
        (rl.rlim_cur / 4) as usize
    };
    quarter.clamp(128 << 10, 6 << 20)
}

/// One argument longer than the kernel's 128 KiB per-string limit is E2BIG at exec, naming
/// the program and the limits, with `io::ErrorKind::ArgumentListTooLong`; one byte less
/// reaches the program intact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_argument_over_128_kib_is_e2big() {
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    for len in [1 << 20, 128 << 10] {
        let mut cmd = Command::new("/bin/true");
        cmd.arg("x".repeat(len));
        let e = spawn_err(&mut cmd).await;
        let text = e.to_string();
        assert!(
            text.contains("execve (/bin/true)") && text.contains("128 KiB"),
            "{e}"
        );
        let io = std::io::Error::from(e);
        assert_eq!(io.kind(), ErrorKind::ArgumentListTooLong, "{io}");
        let e = *io.into_inner().unwrap().downcast::<SpawnError>().unwrap();
        assert_setup(e, Stage::Exec, Some(Path::new("/bin/true")), libc::E2BIG);
    }
    let arg = "y".repeat((128 << 10) - 1);
    let o = run(Command::new("/bin/sh").args(["-c", "echo ${#1}", "sh", &arg])).await;
    assert_out(&o, 0, &format!("{}\n", arg.len()), "");
}

/// Many arguments totalling just under the kernel's limit reach the program whole; the same
/// plus a little more is E2BIG at exec, naming the program.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arguments_up_to_the_total_limit_work() {
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    let limit = exec_strings_limit();
    const ARG: usize = 64 * 1024 - 1; // + NUL and an 8-byte pointer each
    const MARGIN: usize = 16 * 1024; // init's own arguments and the default environment
    let n = (limit - MARGIN) / (ARG + 1 + 8);
    let args: Vec<String> = (0..n)
        .map(|i| char::from(b'a' + (i % 26) as u8).to_string().repeat(ARG))
        .collect();
    let script = "t=0; for a; do t=$((t + ${#a})); done; echo $# $t";
    let t = Instant::now();
    let o = run(Command::new("/bin/sh")
        .args(["-c", script, "sh"])
        .args(&args))
    .await;
    eprintln!(
        "{n} arguments, {} bytes (limit {limit}): {:?}",
        n * (ARG + 9),
        t.elapsed()
    );
    assert_out(&o, 0, &format!("{n} {}\n", n * ARG), "");

    let extra = (limit + MARGIN - n * (ARG + 9)) / (ARG + 9) + 1;
    let mut cmd = Command::new("/bin/sh");
    cmd.args(["-c", script, "sh"])
        .args(&args)
        .args(std::iter::repeat_n(&args[0], extra));
    assert_setup(
        spawn_err(&mut cmd).await,
        Stage::Exec,
        Some(Path::new("/bin/sh")),
        libc::E2BIG,
    );
}

/// 100,000 environment variables: with the usual 8 MiB stack rlimit they fit in the kernel's
/// limit and the program sees every one (and the five defaults); with a smaller stack limit
/// the spawn is E2BIG at exec, naming the program.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_thousand_environment_variables() {
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    const N: usize = 100_000;
    let mut cmd = Command::new("/usr/bin/env");
    let mut bytes = 0;
    for i in 0..N {
        let (k, v) = (format!("V{i:05}"), "1");
        bytes += k.len() + 1 + v.len() + 1 + 8;
        cmd.env(k, v);
    }
    let limit = exec_strings_limit();
    let t = Instant::now();
    if bytes + 4096 < limit {
        let o = run(&mut cmd).await;
        eprintln!(
            "{N} variables ({bytes} bytes, limit {limit}): {:?}",
            t.elapsed()
        );
        let out = String::from_utf8(o.stdout).unwrap();
        let lines: Vec<&str> = out.lines().collect();
        let defaults = common::default_env().len();
        assert_eq!((o.status.code(), lines.len()), (Some(0), N + defaults));
        for want in ["V00000=1", "V54321=1", "V99999=1", "TMPDIR=/tmp"] {
            assert!(lines.contains(&want), "{want} missing");
        }
    } else {
        assert_setup(
            spawn_err(&mut cmd).await,
            Stage::Exec,
            Some(Path::new("/usr/bin/env")),
            libc::E2BIG,
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Strings the kernel cannot take.

/// Environment names with `=` or empty are `InvalidEnvName`; a NUL in a name, a value, an
/// argument or `argv[0]` is `NulInString` naming what it is; all map to `InvalidInput`. Odd
/// names given to `env_inherit` and `env_remove` are ignored: the environment is the default.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nul_and_equals_in_arguments_and_environment() {
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    type Case = (fn(&mut Command), PolicyError);
    let cases: [Case; 7] = [
        (
            |c| {
                c.env("A=B", "1");
            },
            PolicyError::InvalidEnvName("A=B".into()),
        ),
        (
            |c| {
                c.env("=", "1");
            },
            PolicyError::InvalidEnvName("=".into()),
        ),
        (
            |c| {
                c.env("", "1");
            },
            PolicyError::InvalidEnvName("".into()),
        ),
        (
            |c| {
                c.env("A\0B", "1");
            },
            PolicyError::NulInString {
                what: "environment variable",
                value: "A\0B=1".into(),
            },
        ),
        (
            |c| {
                c.env("A", "1\x002");
            },
            PolicyError::NulInString {
                what: "environment variable",
                value: "A=1\x002".into(),
            },
        ),
        (
            |c| {
                c.arg("ok").arg("a\0b");
            },
            PolicyError::NulInString {
                what: "argument",
                value: "a\0b".into(),
            },
        ),
        (
            |c| {
                c.arg0("a\0b");
            },
            PolicyError::NulInString {
                what: "program",
                value: "a\0b".into(),
            },
        ),
    ];
    for (apply, want) in cases {
        let mut cmd = Command::new("/bin/true");
        apply(&mut cmd);
        let e = spawn_err(&mut cmd).await;
        let msg = e.to_string();
        match (&e, &want) {
            (
                SpawnError::Policy(PolicyError::InvalidEnvName(got)),
                PolicyError::InvalidEnvName(w),
            ) => assert_eq!(got, w),
            (
                SpawnError::Policy(PolicyError::NulInString { what, value }),
                PolicyError::NulInString { what: w, value: v },
            ) => assert_eq!((what, value), (w, v)),
            _ => panic!("expected {want:?}, got {e:?}"),
        }
        assert_eq!(msg, want.to_string());
        assert_eq!(std::io::Error::from(e).kind(), ErrorKind::InvalidInput);
    }

    let o = run(Command::new("/usr/bin/env")
        .env_inherit("A=B")
        .env_inherit("")
        .env_inherit("=")
        .env_inherit("PA\0TH")
        .env_remove("A\0B")
        .env_remove(""))
    .await;
    assert_out(&o, 0, &common::default_env_text(), "");
}

/// Programs no file can be: a path with a NUL is `NulByte`; a bare name with a NUL, the empty
/// name, `.` and `..` are `ProgramNotFound` (searched in the sandbox's `PATH`); `/` and a
/// device are `NotExecutable` with EACCES. (Missing files, directories and files without the
/// execute bit are covered in `filesystem.rs`.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn programs_that_cannot_be_run() {
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    match spawn_err(&mut Command::new("/bin/tr\0ue")).await {
        SpawnError::Policy(PolicyError::NulByte(p)) => {
            assert_eq!(p.as_os_str().as_bytes(), b"/bin/tr\0ue")
        }
        other => panic!("expected NulByte, got {other:?}"),
    }
    for name in ["tr\0ue", "", ".", ".."] {
        match spawn_err(&mut Command::new(name)).await {
            e @ SpawnError::Policy(PolicyError::ProgramNotFound { .. }) => {
                assert_eq!(e.exit_code(), 127);
                let SpawnError::Policy(PolicyError::ProgramNotFound { program, searched }) = e
                else {
                    unreachable!()
                };
                assert_eq!((program.as_str(), searched.as_str()), (name, DEFAULT_PATH));
            }
            other => panic!("{name:?}: expected ProgramNotFound, got {other:?}"),
        }
    }
    for prog in ["/", "/dev/null"] {
        match spawn_err(&mut Command::new(prog)).await {
            SpawnError::NotExecutable { path, source } => {
                assert_eq!(
                    (path.as_path(), source.raw_os_error()),
                    (Path::new(prog), Some(libc::EACCES))
                )
            }
            other => panic!("{prog}: expected NotExecutable, got {other:?}"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Extreme policy values.

/// Values the kernel refuses or that leave nothing to run are typed errors: a 100-byte
/// hostname fails at `sethostname` (EINVAL, naming the step), a process limit of 0 is a policy
/// error. Values that mean "no limit" work: a file-size limit of `u64::MAX`
/// (`RLIM_INFINITY`) and the largest tmpfs size a policy file can hold.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extreme_policy_values() {
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    let mut policy = Policy::new();
    policy.hostname("h".repeat(100));
    assert_setup(
        spawn_err(Command::new("/bin/true").policy(policy)).await,
        Stage::Hostname,
        None,
        libc::EINVAL,
    );

    // Refused before anything starts, on every host: RLIMIT_NPROC would refuse the exec of
    // the init, a cgroup's pids.max its clone.
    let mut cmd = Command::new("/bin/true");
    cmd.limits(Limits {
        processes: Some(0),
        ..Limits::default()
    });
    match spawn_err(&mut cmd).await {
        SpawnError::Policy(PolicyError::ZeroProcessLimit) => {}
        other => panic!("expected PolicyError::ZeroProcessLimit, got {other:?}"),
    }

    let o = run(Command::new("/bin/sh")
        .args(["-c", "grep 'Max file size' /proc/self/limits | tr -s ' '"])
        .limits(Limits {
            file_size: Some(u64::MAX),
            ..Limits::default()
        }))
    .await;
    assert_out(&o, 0, "Max file size unlimited unlimited bytes \n", "");

    let policy = Policy::from_toml(&format!("tmpfs_size = {}", i64::MAX)).unwrap();
    let o = run(Command::new("/bin/sh")
        .args(["-c", "echo hi > /tmp/f && cat /tmp/f"])
        .policy(policy))
    .await;
    assert_out(&o, 0, "hi\n", "");
}

// ---------------------------------------------------------------------------------------------
// Hostile policy files.

/// Parses `text` on a thread with the default 2 MiB stack (that of tokio's workers too), so
/// unbounded recursion would show as a crash here.
fn parse_on_a_small_stack(text: String) -> Result<Policy, PolicyFileError> {
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || Policy::from_toml(&text))
        .unwrap()
        .join()
        .expect("from_toml must not panic")
}

/// The parse error's message, asserting it is a `Parse` error that names a line.
#[track_caller]
fn parse_error(text: &str) -> String {
    match parse_on_a_small_stack(text.to_string()) {
        Err(e @ PolicyFileError::Parse { .. }) => {
            let msg = e.to_string();
            assert!(msg.contains("line "), "{msg}");
            msg
        }
        other => panic!("{text:?}: expected a parse error, got {other:?}"),
    }
}

/// Junk (control characters, unbalanced brackets, stray quotes, a NUL, a byte-order mark in
/// the middle, a 1 MiB line) is a `Parse` error with a line number, never a panic.
#[test]
fn junk_policy_files_are_parse_errors() {
    let long = format!("hostname = \"{}", "x".repeat(1 << 20));
    for text in [
        "\u{1}\u{2}garbage ]]] ==",
        "[[",
        "[[mount]",
        "=",
        "network = ",
        "network = \"none",
        "network = 'host\"",
        "a\0b = 1",
        "network = \"none\"\n\u{feff}system = true",
        "[limits\nprocesses = 1",
        "[[mount]]\nread_only = \"/usr\"\n[[mount]]]",
        "\"\"\"",
        long.as_str(),
    ] {
        parse_error(text);
    }
}

/// Nesting 100,000 levels deep (arrays, inline tables, dotted keys, table headers) hits the
/// parser's recursion limit: a `Parse` error saying so, on a 2 MiB thread stack.
#[test]
fn deeply_nested_policy_files_hit_the_recursion_limit() {
    const DEPTH: usize = 100_000;
    let dotted = vec!["a"; DEPTH].join(".");
    for text in [
        format!("a = {}{}", "[".repeat(DEPTH), "]".repeat(DEPTH)),
        format!("a = {}1{}", "{b=".repeat(DEPTH), "}".repeat(DEPTH)),
        format!("{dotted} = 1"),
        format!("[{dotted}]"),
        format!(
            "[[mount]]\nread_only = {}\"/usr\"{}",
            "[".repeat(DEPTH),
            "]".repeat(DEPTH)
        ),
    ] {
        let msg = parse_error(&text);
        assert!(msg.contains("recursion limit exceeded"), "{msg}");
    }
}

/// Numbers out of range (beyond TOML's 64-bit integers, negative limits and sizes, a uid
/// above `u32::MAX`, a port above 65535, fractions and infinities) are `Parse` errors that
/// name the key (in the message or its quoted line) and the line.
#[test]
fn out_of_range_numbers_are_parse_errors_naming_the_key() {
    for (text, key, what) in [
        (
            "tmpfs_size = 99999999999999999999999",
            "tmpfs_size",
            "number too large",
        ),
        (
            "tmpfs_size = 18446744073709551615",
            "tmpfs_size",
            "number too large",
        ),
        (
            "[limits]\nprocesses = -1",
            "processes",
            "invalid value: integer `-1`, expected u64",
        ),
        (
            "[limits]\nmemory = -9223372036854775808",
            "memory",
            "expected u64",
        ),
        (
            "tmpfs_size = -5",
            "tmpfs_size",
            "invalid value: integer `-5`, expected u64",
        ),
        (
            "[limits]\nmemory = \"-5M\"",
            "memory",
            "\"-5M\" is not a count",
        ),
        (
            "[limits]\nfile_size = 1.5",
            "file_size",
            "floating point `1.5`",
        ),
        (
            "[limits]\ncpu_millis = 4294967296",
            "cpu_millis",
            "expected u32",
        ),
        (
            "uid = 4294967296",
            "uid",
            "invalid value: integer `4294967296`, expected u32",
        ),
        ("gid = -1", "gid", "expected u32"),
        (
            "allow_tcp_bind = [80, 65536]",
            "allow_tcp_bind",
            "invalid value: integer `65536`, expected u16",
        ),
        (
            "[limits]\ncpu_seconds = 1.5",
            "cpu_seconds",
            "invalid type: floating point `1.5`, expected u64",
        ),
        ("[limits]\nopen_files = inf", "open_files", "floating point"),
        ("[limits]\nopen_files = nan", "open_files", "floating point"),
    ] {
        let msg = parse_error(text);
        assert!(msg.contains(key) && msg.contains(what), "{text:?}: {msg}");
    }
    // The largest integer TOML has parses exactly.
    let max = i64::MAX as u64;
    let p =
        parse_on_a_small_stack(format!("[limits]\ncpu_seconds = {max}\nmemory = {max}")).unwrap();
    assert_eq!(
        (p.current_limits().cpu_seconds, p.current_limits().memory),
        (Some(max), Some(max))
    );
}

/// Unknown keys at every level, wrong shapes and duplicate keys are `Parse` errors naming the
/// key; malformed `[[mount]]` entries are `Mount` errors naming the entry.
#[test]
fn unknown_keys_and_wrong_shapes_are_named() {
    for (text, needle) in [
        ("netwrok = \"none\"", "unknown field `netwrok`"),
        ("[layers]\nsecomp = false", "unknown field `secomp`"),
        ("[require]\ngpu = \"required\"", "unknown field `gpu`"),
        ("[limits.extra]\nx = 1", "unknown field `extra`"),
        (
            "[[mount]]\nread_only = \"/usr\"\nrecursive = true",
            "unknown field `recursive`",
        ),
        ("[require]\nnetwork = \"maybe\"", "unknown variant `maybe`"),
        ("network = \"intranet\"", "unknown variant `intranet`"),
        (
            "[mount]\nread_only = \"/usr\"",
            "invalid type: map, expected a sequence",
        ),
        ("[[mount]]\nread_only = 5", "read_only = 5"),
        ("system = \"yes\"", "system = \"yes\""),
        ("hostname = 7", "hostname = 7"),
        (
            "network = \"none\"\nnetwork = \"host\"",
            "duplicate key `network`",
        ),
        ("[[limits]]\nprocesses = 1", "limits"),
    ] {
        let msg = parse_error(text);
        assert!(msg.contains(needle), "{text:?}: {msg}");
    }
    for (text, index) in [
        ("[[mount]]", 0),
        ("[[mount]]\ntmpfs = \"/a\"\n[[mount]]\nwritable = true", 1),
        ("[[mount]]\nread_only = \"/a\"\nread_write = \"/a\"", 0),
        ("[[mount]]\ntmpfs = \"/a\"\nto = \"/b\"", 0),
    ] {
        match parse_on_a_small_stack(text.to_string()) {
            Err(PolicyFileError::Mount { index: i, .. }) => assert_eq!(i, index, "{text:?}"),
            other => panic!("{text:?}: expected a Mount error, got {other:?}"),
        }
    }
}

/// A policy file may spell a NUL (`\u0000`) in a path: it parses, and the spawn refuses the
/// path with `NulByte` before anything runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nul_escape_in_a_policy_file_path_is_refused_at_spawn() {
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    for (text, bad) in [
        ("[[mount]]\nread_only = \"/usr\\u0000x\"", "/usr\0x"),
        ("[[mount]]\nbind = \"/usr\"\nto = \"/u\\u0000\"", "/u\0"),
        ("[[mount]]\ntmpfs = \"/t\\u0000\"", "/t\0"),
    ] {
        let policy = Policy::from_toml(text).unwrap();
        match spawn_err(Command::new("/bin/true").policy(policy)).await {
            SpawnError::Policy(PolicyError::NulByte(p)) => assert_eq!(p, Path::new(bad)),
            other => panic!("{text:?}: expected NulByte, got {other:?}"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Conflicting binds, values a file cannot hold, limits at their extremes, the path an error
// names, and plans resolved earlier.

/// Two binds of different sources at one destination: the later one replaces the earlier,
/// with its own mode. A read-only source after a read-write one refuses writes (EROFS) and is
/// not written on the host; a read-write source after a read-only one takes writes, and the
/// replaced source is untouched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_later_bind_at_the_same_destination_keeps_its_own_mode() {
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    let a = common::rw_dir();
    let b = common::rw_dir();
    write(&a.path().join("f"), "a\n");
    write(&b.path().join("f"), "b\n");
    let (before_a, before_b) = (snapshot(a.path()), snapshot(b.path()));

    let o = run(Command::new("/bin/sh")
        .args(["-c", "cat /x/f; touch /x/new"])
        .bind(a.path(), "/x", true)
        .bind(b.path(), "/x", false))
    .await;
    assert_out(
        &o,
        1,
        "b\n",
        &format!("touch: cannot touch '/x/new': {EROFS_MSG}\n"),
    );
    assert_eq!(snapshot(a.path()), before_a);
    assert_eq!(
        snapshot(b.path()),
        before_b,
        "a read-only source was written"
    );

    let o = run(Command::new("/bin/sh")
        .args(["-c", "cat /x/f; echo w > /x/new"])
        .bind(a.path(), "/x", false)
        .bind(b.path(), "/x", true))
    .await;
    assert_out(&o, 0, "b\n", "");
    assert_eq!(std::fs::read(b.path().join("new")).unwrap(), b"w\n");
    assert_eq!(snapshot(a.path()), before_a);
}

/// `Policy::to_toml` of what the builder accepts but a file cannot hold (a path that is not
/// UTF-8, a number above `i64::MAX`) is a `Serialize` error, not a panic.
#[test]
fn to_toml_of_unrepresentable_values_is_an_error() {
    let mut non_utf8 = Policy::new();
    non_utf8.read_only(Path::new(OsStr::from_bytes(b"/tmp/\xff")));
    let mut huge_tmpfs = Policy::new();
    huge_tmpfs.tmpfs_size(u64::MAX);
    let mut huge_limit = Policy::new();
    huge_limit.limits(Limits {
        memory: Some(1 << 63),
        ..Limits::default()
    });
    for (what, p) in [
        ("non-UTF-8 path", non_utf8),
        ("tmpfs_size u64::MAX", huge_tmpfs),
        ("memory 2^63", huge_limit),
    ] {
        match std::panic::catch_unwind(|| p.to_toml()) {
            Ok(Err(e @ PolicyFileError::Serialize(_))) => {
                assert!(e.to_string().starts_with("policy file: "), "{what}: {e}")
            }
            Ok(other) => panic!("{what}: expected a Serialize error, got {other:?}"),
            Err(_) => panic!("{what}: to_toml panicked"),
        }
    }
}

/// A CPU-time limit of `u64::MAX` (`RLIM_INFINITY`) means no limit: the program runs with
/// `unlimited`, and preparing the spawn does not overflow.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cpu_seconds_of_u64_max_is_unlimited() {
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    let o = run(Command::new("/bin/sh")
        .args(["-c", "grep 'Max cpu time' /proc/self/limits | tr -s ' '"])
        .limits(Limits {
            cpu_seconds: Some(u64::MAX),
            ..Limits::default()
        }))
    .await;
    assert_out(&o, 0, "Max cpu time unlimited unlimited seconds \n", "");
}

/// A tmpfs size of 0, which tmpfs(5) would read as "no limit", is refused before anything
/// runs (`ZeroTmpfsSize`, `InvalidInput`), from the builder and from a policy file alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tmpfs_size_zero_is_refused() {
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    let mut built = Policy::new();
    built.tmpfs_size(0);
    let from_file = Policy::from_toml("tmpfs_size = 0").unwrap();
    assert_eq!(from_file, built);
    for policy in [built, from_file] {
        let e = spawn_err(Command::new("/bin/true").policy(policy)).await;
        assert!(
            matches!(e, SpawnError::Policy(PolicyError::ZeroTmpfsSize)),
            "{e:?}"
        );
        assert!(
            e.to_string().contains("tmpfs size or inode count of 0"),
            "{e}"
        );
        assert_eq!(std::io::Error::from(e).kind(), ErrorKind::InvalidInput);
    }
}

/// A setup error names the path of the operation that failed, also when the mount plan holds
/// directories inside a bind (which are not created: they are the host's).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_error_names_the_failing_path_after_directories_inside_a_bind() {
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    let w = common::rw_dir();
    let s1 = common::rw_dir();
    std::fs::create_dir_all(w.path().join("x/y")).unwrap();
    let missing = w.path().join("zzz");
    let mut cmd = Command::new("/bin/true");
    cmd.read_write(w.path())
        .bind(s1.path(), w.path().join("x/y"), false)
        .tmpfs(&missing);
    assert_setup(
        spawn_err(&mut cmd).await,
        Stage::Tmpfs,
        Some(&missing),
        libc::ENOENT,
    );
    // And a bind through a missing directory inside a bind names its source.
    let mut cmd = Command::new("/bin/true");
    cmd.read_write(w.path())
        .bind(s1.path(), w.path().join("missing/sub"), false);
    assert_setup(
        spawn_err(&mut cmd).await,
        Stage::Bind,
        Some(s1.path()),
        libc::ENOENT,
    );
    assert!(!w.path().join("missing").exists());
}

/// A new command whose policy names a symlink resolves it at its own spawn: after the link is
/// pointed elsewhere, a fresh `Command` sees the new target, not the one an earlier spawn of
/// an equal policy resolved (which it no longer names). Ten rounds, so that a spawn of
/// another test in between cannot hide a stale plan.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_command_resolves_a_retargeted_symlink_again() {
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    let d = common::rw_dir();
    let (y1, y2, x) = (d.path().join("y1"), d.path().join("y2"), d.path().join("x"));
    for (y, who) in [(&y1, "job1\n"), (&y2, "job2\n")] {
        std::fs::create_dir(y).unwrap();
        write(&y.join("who"), who);
    }
    let script = format!("cat {}/who; cat {}/who", s(&x), s(&y1));
    for _ in 0..10 {
        let _ = std::fs::remove_file(&x);
        std::os::unix::fs::symlink(&y1, &x).unwrap();
        let o = run(Command::new("/bin/cat").arg(x.join("who")).read_only(&x)).await;
        assert_out(&o, 0, "job1\n", "");
        std::fs::remove_file(&x).unwrap();
        std::os::unix::fs::symlink(&y2, &x).unwrap();
        let o = run(Command::new("/bin/sh").args(["-c", &script]).read_only(&x)).await;
        assert_out(
            &o,
            1,
            "job2\n",
            &format!("cat: {}/who: {ENOENT_MSG}\n", s(&y1)),
        );
    }
}

/// A policy path with `..` after a symlink opens inside under that same path: the directory
/// the symlink leads to exists inside (empty but for the way on), as for a symlink in the
/// middle of a path without `..`; the lexical reading of the path stays absent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_path_with_dot_dot_after_a_symlink_opens_inside() {
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    let d = common::rw_dir();
    let p = d.path();
    std::fs::create_dir_all(p.join("real/inner")).unwrap();
    write(&p.join("real/inner/hidden"), "no\n");
    write(&p.join("real/f"), "after the symlink\n");
    write(&p.join("f"), "lexical\n");
    std::os::unix::fs::symlink(p.join("real/inner"), p.join("link")).unwrap();
    let via_link = p.join("link/../f");
    let ps = s(p);
    let o = run(Command::new("/bin/sh")
        .args([
            "-c",
            &format!("cat {ps}/link/../f; ls -A {ps}/real/inner; cat {ps}/f"),
        ])
        .read_only(&via_link))
    .await;
    assert_out(
        &o,
        1,
        "after the symlink\n",
        &format!("cat: {ps}/f: {ENOENT_MSG}\n"),
    );
}
