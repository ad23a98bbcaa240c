//! The sandbox's filesystem view: what is visible, read-only or writable, where binds land,
//! symlinks, the working directory, the minimal `/dev` and `/proc`, and exec failures.
//!
//! Every test spawns real sandboxed processes. The suite runs as root and as uid 65534; tests
//! that only make sense in one mode say why and return early.

mod common;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Output;

use common::{is_root, rw_dir, sandbox_host_ids, sh, stderr, stdout};
use tokio_sandbox::{Command, PolicyError, SpawnError, Stage, DEFAULT_PATH};

// ---------------------------------------------------------------------------------------------
// Helpers local to this file.

/// Runs `cmd` to completion with captured output.
async fn run(cmd: &mut Command) -> Output {
    cmd.output().await.expect("spawn")
}

/// Asserts exit code 0, the exact stdout and an empty stderr.
#[track_caller]
fn assert_ok(o: &Output, out: &str) {
    assert_eq!(
        (o.status.code(), stdout(o).as_str(), stderr(o).as_str()),
        (Some(0), out, ""),
        "unexpected result: {o:?}"
    );
}

/// Asserts the exact exit code, stdout and stderr.
#[track_caller]
fn assert_out(o: &Output, code: i32, out: &str, err: &str) {
    assert_eq!(
        (o.status.code(), stdout(o).as_str(), stderr(o).as_str()),
        (Some(code), out, err),
        "unexpected result: {o:?}"
    );
}

/// Spawns `cmd` and returns the spawn error, failing the test if it spawned.
async fn spawn_err(cmd: &mut Command) -> SpawnError {
    match cmd.spawn_async().await {
        Ok(mut child) => {
            let status = child.wait().await;
            panic!("expected a spawn error, the program ran: {status:?}")
        }
        Err(e) => e,
    }
}

/// Gives `p` to the sandbox's host id when running as root (a no-op otherwise: files are then
/// already the caller's, which is the sandbox's host id).
fn give_to_sandbox(p: &Path) {
    if is_root() {
        let (uid, gid) = sandbox_host_ids();
        std::os::unix::fs::lchown(p, Some(uid), Some(gid)).expect("chown");
    }
}

/// Writes a file with the given mode.
fn write_file(p: &Path, contents: &str, mode: u32) {
    std::fs::write(p, contents).expect("write");
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// `abs` as a path relative to the caller's working directory (`../..` up to `/`, then down).
fn relative_to_cwd(abs: &Path) -> PathBuf {
    let cwd = std::env::current_dir().expect("cwd");
    let mut rel = PathBuf::new();
    for _ in cwd.components().skip(1) {
        rel.push("..");
    }
    rel.push(abs.strip_prefix("/").expect("absolute"));
    rel
}

/// The path as a `&str` for shell scripts (tempdirs are plain ASCII).
fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

const ENOENT_MSG: &str = "No such file or directory";
const EROFS_MSG: &str = "Read-only file system";

// ---------------------------------------------------------------------------------------------
// Visibility.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unlisted_host_paths_are_enoent() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let hidden = rw_dir();
    std::fs::write(hidden.path().join("secret"), "s").unwrap();
    let h = s(hidden.path());
    let exe = std::env::current_exe().unwrap();
    let exe = s(&exe);
    // Every entry of the host's /home is absent; the only one inside is the sandbox's home.
    let mut host_homes: Vec<String> = std::fs::read_dir("/home")
        .map(|rd| {
            rd.map(|e| format!("/home/{}", e.unwrap().file_name().to_string_lossy()))
                .filter(|p| p != common::default_user().1)
                .collect()
        })
        .unwrap_or_default();
    host_homes.sort();
    let mut script = format!(
        "cat /root; cat /etc/shadow; ls {h}; cat {h}/secret; ls {exe}; ls /run /var /srv /mnt"
    );
    let mut expected_err = format!(
        "cat: /root: {ENOENT_MSG}\n\
         cat: /etc/shadow: {ENOENT_MSG}\n\
         ls: cannot access '{h}': {ENOENT_MSG}\n\
         cat: {h}/secret: {ENOENT_MSG}\n\
         ls: cannot access '{exe}': {ENOENT_MSG}\n\
         ls: cannot access '/run': {ENOENT_MSG}\n\
         ls: cannot access '/var': {ENOENT_MSG}\n\
         ls: cannot access '/srv': {ENOENT_MSG}\n\
         ls: cannot access '/mnt': {ENOENT_MSG}\n"
    );
    for home in &host_homes {
        script.push_str(&format!("; ls -d {home}"));
        expected_err.push_str(&format!("ls: cannot access '{home}': {ENOENT_MSG}\n"));
    }
    script.push_str("; ls /home");
    let o = sh(&script, |_| {}).await;
    let home_entry = common::default_user()
        .1
        .trim_start_matches("/home/")
        .to_string()
        + "\n";
    assert_out(&o, 0, &home_entry, &expected_err);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_root_and_etc_listing_is_exact() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let mut cmd = Command::new("/usr/bin/ls");
    cmd.args(["-A", "/", "/etc"]);
    let o = run(&mut cmd).await;
    let mut root: Vec<&str> = vec![
        "bin", "dev", "etc", "home", "lib", "lib64", "proc", "sbin", "tmp", "usr",
    ];
    for extra in ["lib32", "libx32"] {
        if Path::new("/").join(extra).exists() {
            root.push(extra);
        }
    }
    root.sort_unstable();
    // Generated files, then the host's static configuration where it has it (C45).
    let mut etc: Vec<String> = ["group", "hostname", "hosts", "machine-id", "passwd"]
        .map(String::from)
        .to_vec();
    for p in SYSTEM_ETC.iter().map(PathBuf::from).chain(etc_prefixed()) {
        let readable = std::fs::metadata(&p).is_ok_and(|m| m.mode() & 0o004 != 0);
        let first = p.strip_prefix("/etc").unwrap().components().next().unwrap();
        let first = first.as_os_str().to_string_lossy().into_owned();
        if readable && !etc.contains(&first) {
            etc.push(first);
        }
    }
    etc.sort_unstable();
    let expected = format!("/:\n{}\n\n/etc:\n{}\n", root.join("\n"), etc.join("\n"));
    assert_ok(&o, &expected);
}

/// The `/etc` paths a default sandbox shows where the host has them (world-readable): the
/// loader's, the time zone, the name service tables, public CA certificates and OpenSSL's
/// configuration, file types, manual pages, terminals, editors, debuggers, fonts, Maven's
/// launcher, the distribution (C45).
const SYSTEM_ETC: &[&str] = &[
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/alternatives",
    "/etc/localtime",
    "/etc/nsswitch.conf",
    "/etc/timezone",
    "/etc/locale.alias",
    "/etc/services",
    "/etc/protocols",
    "/etc/rpc",
    "/etc/ethertypes",
    "/etc/host.conf",
    "/etc/gai.conf",
    "/etc/ssl/certs",
    "/etc/ssl/openssl.cnf",
    "/etc/ca-certificates",
    "/etc/ca-certificates.conf",
    "/etc/pki/tls/certs",
    "/etc/pki/tls/cert.pem",
    "/etc/pki/tls/openssl.cnf",
    "/etc/pki/ca-trust/extracted",
    "/etc/pki/java",
    "/etc/crypto-policies",
    "/etc/mime.types",
    "/etc/magic",
    "/etc/magic.mime",
    "/etc/manpath.config",
    "/etc/groff",
    "/etc/terminfo",
    "/etc/inputrc",
    "/etc/vim",
    "/etc/gdb",
    "/etc/fonts",
    "/etc/X11/rgb.txt",
    "/etc/maven/m2.conf",
    "/etc/maven/logging",
    "/etc/maven/toolchains.xml",
    "/etc/os-release",
    "/etc/lsb-release",
    "/etc/debian_version",
    "/etc/redhat-release",
    "/etc/alpine-release",
];

/// Each installed JDK's and Python's configuration in `/etc` (`java-17-openjdk`, `python3.11`).
fn etc_prefixed() -> Vec<PathBuf> {
    std::fs::read_dir("/etc")
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.starts_with("java") || name.starts_with("python3")
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_etc_files_and_user_binds_win() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let o = sh("cat /etc/hostname /etc/hosts", |_| {}).await;
    assert_ok(
        &o,
        "sandbox\n127.0.0.1\tlocalhost sandbox\n::1\tlocalhost ip6-localhost ip6-loopback sandbox\n",
    );

    // A bound host file replaces the generated one.
    let d = rw_dir();
    let f = d.path().join("hostname");
    write_file(&f, "from-the-host\n", 0o644);
    let o = sh("cat /etc/hostname", |c| {
        c.bind(&f, "/etc/hostname", false);
    })
    .await;
    assert_ok(&o, "from-the-host\n");
}

// ---------------------------------------------------------------------------------------------
// Read-only and read-write binds.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_bind_refuses_writes_with_erofs() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let d = rw_dir();
    let p = d.path();
    write_file(&p.join("f"), "content\n", 0o666);
    give_to_sandbox(&p.join("f"));
    let ps = s(p);
    let o = sh(
        &format!(
            "cat {ps}/f; touch {ps}/new; mkdir {ps}/sub; echo x >> {ps}/f; rm {ps}/f; \
             touch /usr/new; mkdir /new; cat {ps}/f"
        ),
        |c| {
            c.read_only(p);
        },
    )
    .await;
    assert_out(
        &o,
        0,
        "content\ncontent\n",
        &format!(
            "touch: cannot touch '{ps}/new': {EROFS_MSG}\n\
             mkdir: cannot create directory {}: {EROFS_MSG}\n\
             /bin/sh: 1: cannot create {ps}/f: {EROFS_MSG}\n\
             rm: cannot remove '{ps}/f': {EROFS_MSG}\n\
             touch: cannot touch '/usr/new': {EROFS_MSG}\n\
             mkdir: cannot create directory {}: {EROFS_MSG}\n",
            common::quoted(&format!("{ps}/sub")),
            common::quoted("/new"),
        ),
    );
    // Nothing changed on the host.
    let names: Vec<_> = std::fs::read_dir(p)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["f"]);
    assert_eq!(std::fs::read_to_string(p.join("f")).unwrap(), "content\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn system_usr_is_read_only_nosuid_nodev() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let o = sh(
        "awk '$5 == \"/usr\" || $5 == \"/\" { print $5, $6 }' /proc/self/mountinfo \
         | tr , ' ' | while read -r mp opts; do for o in $opts; do case $o in \
         ro|rw|nosuid|nodev) printf '%s ' \"$mp:$o\";; esac; done; done",
        |_| {},
    )
    .await;
    // The root tmpfs is read-only too (its nosuid/nodev come from the tmpfs mount flags).
    assert_ok(&o, "/:ro /:nosuid /:nodev /usr:ro /usr:nosuid /usr:nodev ");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_single_file_bind() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let d = rw_dir();
    let f = d.path().join("file.txt");
    write_file(&f, "one\n", 0o666);
    give_to_sandbox(&f);
    let fs_ = s(&f);
    let o = sh(
        &format!("cat {fs_}; echo two >> {fs_}; ls {}", s(d.path())),
        |c| {
            c.read_only(&f);
        },
    )
    .await;
    assert_out(
        &o,
        0,
        "one\nfile.txt\n",
        &format!("/bin/sh: 1: cannot create {fs_}: {EROFS_MSG}\n"),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_write_bind_persists_owned_by_sandbox_id() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let d = rw_dir();
    let p = d.path();
    let ps = s(p);
    let o = sh(
        &format!("echo hello > {ps}/made; mkdir {ps}/dir; echo inner > {ps}/dir/f; cat {ps}/made"),
        |c| {
            c.read_write(p);
        },
    )
    .await;
    assert_ok(&o, "hello\n");
    assert_eq!(std::fs::read_to_string(p.join("made")).unwrap(), "hello\n");
    assert_eq!(std::fs::read_to_string(p.join("dir/f")).unwrap(), "inner\n");
    let (uid, gid) = sandbox_host_ids();
    for f in ["made", "dir", "dir/f"] {
        let m = std::fs::metadata(p.join(f)).unwrap();
        assert_eq!((m.uid(), m.gid()), (uid, gid), "owner of {f}");
        if is_root() {
            assert_ne!(m.uid(), 0, "{f} must not be owned by host root");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_write_single_file_bind_persists() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let d = rw_dir();
    let f = d.path().join("log");
    write_file(&f, "a\n", 0o644);
    give_to_sandbox(&f);
    let o = sh(&format!("echo b >> {0}; cat {0}", s(&f)), |c| {
        c.read_write(&f);
    })
    .await;
    assert_ok(&o, "a\nb\n");
    assert_eq!(std::fs::read_to_string(&f).unwrap(), "a\nb\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_write_wins_over_read_only_for_the_same_path() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    for rw_first in [false, true] {
        let d = rw_dir();
        let p = d.path();
        let o = sh(&format!("echo x > {}/f", s(p)), |c| {
            if rw_first {
                c.read_write(p).read_only(p);
            } else {
                c.read_only(p).read_write(p);
            }
        })
        .await;
        assert_ok(&o, "");
        assert_eq!(std::fs::read_to_string(p.join("f")).unwrap(), "x\n");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_write_path_not_writable_by_sandbox_id_is_refused() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let mut cmd = Command::new("/bin/true");
    cmd.read_write("/usr");
    let e = spawn_err(&mut cmd).await;
    let (uid, gid) = sandbox_host_ids();
    match e {
        e @ SpawnError::Policy(PolicyError::NotWritable { .. }) => {
            let msg = e.to_string();
            let SpawnError::Policy(PolicyError::NotWritable {
                path,
                uid: u,
                gid: g,
                chosen_id,
            }) = e
            else {
                unreachable!()
            };
            assert_eq!((path.as_path(), u, g), (Path::new("/usr"), uid, gid));
            // Only a root caller can run the sandbox as another host id: the advice says so.
            assert_eq!(chosen_id, is_root());
            // /usr is root's, not the caller's unless root: never "make it writable for
            // everyone"; root may run the sandbox as the owner's id, others must ask the owner.
            assert!(!msg.contains("o+w"), "{msg}");
            let advice = if is_root() {
                "it belongs to uid 0 (a system file): leave it read-only, or run the sandbox as \
                 its owner's host id (Policy::uid(0)) if the program is to write it"
            } else {
                "the sandbox writes as your own uid and gid on the host, and the path is not \
                 yours: its owner must grant you write access, or bind it read-only; \
                 Policy::uid(N) only changes the id inside"
            };
            assert!(msg.ends_with(advice), "{msg}");
        }
        other => panic!("expected NotWritable, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bind_at_another_destination() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let d = rw_dir();
    let p = d.path();
    write_file(&p.join("f"), "data\n", 0o644);

    // Read-only at /data; the source path itself is not visible.
    let o = sh(&format!("cat /data/f; touch /data/x; ls {}", s(p)), |c| {
        c.bind(p, "/data", false);
    })
    .await;
    assert_out(
        &o,
        2,
        "data\n",
        &format!(
            "touch: cannot touch '/data/x': {EROFS_MSG}\n\
             ls: cannot access '{}': {ENOENT_MSG}\n",
            s(p)
        ),
    );

    // Read-write at a nested destination: writes reach the host.
    let o = sh("echo w > /srv/deep/data/new; cat /srv/deep/data/new", |c| {
        c.bind(p, "/srv/deep/data", true);
    })
    .await;
    assert_ok(&o, "w\n");
    assert_eq!(std::fs::read_to_string(p.join("new")).unwrap(), "w\n");
    let m = std::fs::metadata(p.join("new")).unwrap();
    assert_eq!((m.uid(), m.gid()), sandbox_host_ids());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relative_destinations_resolve_against_the_working_directory() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    // As the CLI resolves --bind-ro and --tmpfs, and as host paths resolve: against the
    // caller's working directory, which the program starts in (it holds the bound paths).
    let d = rw_dir();
    write_file(&d.path().join("f"), "data\n", 0o644);
    let cwd = std::env::current_dir().unwrap();
    let o = sh("cat data/f; touch scratch/x && echo tmpfs; pwd", |c| {
        c.bind(d.path(), "data", false).tmpfs("./sub/../scratch");
    })
    .await;
    assert_ok(&o, &format!("data\ntmpfs\n{}\n", cwd.display()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tmpfs_is_empty_writable_and_private() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let o = sh(
        "ls -A /scratch; echo hi > /scratch/f; cat /scratch/f; stat -f -c %T /scratch; \
         stat -c %a /scratch",
        |c| {
            c.tmpfs("/scratch");
        },
    )
    .await;
    assert_ok(&o, "hi\ntmpfs\n755\n");
    assert!(
        !Path::new("/scratch").exists(),
        "nothing appears on the host"
    );
}

/// A tmpfs hides what is bound at or below its destination, a file there included, whichever
/// rule comes first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tmpfs_hides_binds_at_and_below_it() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let d = rw_dir();
    write_file(&d.path().join("f"), "file\n", 0o644);
    std::fs::create_dir(d.path().join("sub")).expect("mkdir");
    if is_root() {
        let (uid, gid) = sandbox_host_ids();
        std::os::unix::fs::chown(d.path().join("sub"), Some(uid), Some(gid)).expect("chown");
    }
    for tmpfs_first in [true, false] {
        let o = sh(
            "ls -A /scratch; echo hi > /scratch/g; cat /scratch/g; stat -f -c %T /scratch",
            |c| {
                if tmpfs_first {
                    c.tmpfs("/scratch");
                }
                c.bind(d.path().join("f"), "/scratch", false).bind(
                    d.path().join("sub"),
                    "/scratch/sub",
                    true,
                );
                if !tmpfs_first {
                    c.tmpfs("/scratch");
                }
            },
        )
        .await;
        assert_ok(&o, "hi\ntmpfs\n");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tmpfs_size_limit_gives_enospc() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let o = sh(
        "head -c 2000000 /dev/zero > /scratch/big; echo rc=$?; head -c 2000000 /dev/zero > /tmp/big; \
         echo rc=$?",
        |c| {
            c.tmpfs("/scratch");
            c.policy_mut().tmpfs_size(1024 * 1024);
        },
    )
    .await;
    assert_out(
        &o,
        0,
        "rc=1\nrc=1\n",
        "head: error writing 'standard output': No space left on device\n\
         head: error writing 'standard output': No space left on device\n",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_tmp_and_dev_shm_are_writable_and_empty() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let o = sh(
        "ls -A /tmp /dev/shm; echo a > /tmp/a; echo b > /dev/shm/b; cat /tmp/a /dev/shm/b; \
         stat -c %a /tmp /dev/shm",
        |_| {},
    )
    .await;
    assert_ok(&o, "/dev/shm:\n\n/tmp:\na\nb\n1777\n1777\n");
}

// ---------------------------------------------------------------------------------------------
// Relative paths and the working directory.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relative_policy_paths_resolve_against_caller_cwd() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let d = rw_dir();
    let p = d.path();
    write_file(&p.join("f"), "rel\n", 0o644);
    let rel = relative_to_cwd(p);
    assert!(rel.is_relative());
    let o = sh(&format!("cat {}/f; touch {}/x", s(p), s(p)), |c| {
        c.read_only(&rel);
    })
    .await;
    assert_out(
        &o,
        1,
        "rel\n",
        &format!("touch: cannot touch '{}/x': {EROFS_MSG}\n", s(p)),
    );

    // Relative read-write and relative bind source.
    let o = sh("echo w > /w/g; cat /w/g", |c| {
        c.bind(&rel, "/w", true);
    })
    .await;
    assert_ok(&o, "w\n");
    assert_eq!(std::fs::read_to_string(p.join("g")).unwrap(), "w\n");

    // A missing relative path is reported made absolute against the caller's cwd.
    let missing = rel.join("missing");
    let mut cmd = Command::new("/bin/true");
    cmd.read_only(&missing);
    match spawn_err(&mut cmd).await {
        SpawnError::Policy(PolicyError::MissingPath { path, source }) => {
            assert_eq!(path, std::env::current_dir().unwrap().join(&missing));
            assert_eq!(source.raw_os_error(), Some(libc::ENOENT));
        }
        other => panic!("expected MissingPath, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn current_dir_sets_the_working_directory() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let mut cmd = Command::new("/usr/bin/pwd");
    cmd.current_dir("/usr/share");
    assert_ok(&run(&mut cmd).await, "/usr/share\n");

    // Inside a relocated bind and inside a tmpfs.
    let d = rw_dir();
    let mut cmd = Command::new("/usr/bin/pwd");
    cmd.bind(d.path(), "/data", false).current_dir("/data");
    assert_ok(&run(&mut cmd).await, "/data\n");
    let mut cmd = Command::new("/usr/bin/pwd");
    cmd.current_dir("/tmp");
    assert_ok(&run(&mut cmd).await, "/tmp\n");

    // A relative current_dir resolves against the caller's cwd.
    let rel = relative_to_cwd(d.path());
    let mut cmd = Command::new("/usr/bin/pwd");
    cmd.read_only(d.path()).current_dir(&rel);
    assert_ok(&run(&mut cmd).await, &format!("{}\n", s(d.path())));

    // A relative program path resolves against the sandbox's working directory.
    write_file(
        &d.path().join("hello.sh"),
        "#!/bin/sh\necho hello from $PWD\n",
        0o755,
    );
    let mut cmd = Command::new("./hello.sh");
    cmd.bind(d.path(), "/data", false).current_dir("/data");
    assert_ok(&run(&mut cmd).await, "hello from /data\n");
}

/// `Child::working_directory` is where the program started: the directory given, else the
/// caller's own where the sandbox shows it, else `/`; the program's `pwd` agrees.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child_working_directory_is_where_the_program_started() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let caller = std::env::current_dir().expect("current_dir");
    let given = rw_dir();
    for (dir, want) in [
        (Some(given.path()), given.path().to_path_buf()),
        (Some(Path::new("/tmp")), PathBuf::from("/tmp")),
        (None, PathBuf::new()),
    ] {
        let mut cmd = Command::new("/usr/bin/pwd");
        cmd.stdout(tokio_sandbox::Stdio::piped());
        if let Some(dir) = dir {
            cmd.read_only(given.path()).current_dir(dir);
        }
        let child = cmd.spawn().expect("spawn");
        let at = child.working_directory().to_path_buf();
        if dir.is_some() {
            assert_eq!(at, want);
        } else {
            assert!(at == caller || at == Path::new("/"), "{at:?}");
        }
        let out = child.wait_with_output().await.expect("wait");
        assert_ok(&out, &format!("{}\n", s(&at)));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn current_dir_missing_is_a_chdir_setup_error() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    // A directory the host has, not bound: the advice is to bind it.
    let d = rw_dir();
    let mut cmd = Command::new("/bin/true");
    cmd.current_dir(d.path());
    let e = spawn_err(&mut cmd).await;
    assert!(
        e.to_string().ends_with(
            "(the working directory must be visible in the sandbox: bind it, with \
             Policy::read_only)"
        ),
        "the message says what to do: {e}"
    );
    // One the host lacks too: binding would not help, and the message says so.
    let mut cmd = Command::new("/bin/true");
    cmd.current_dir("/does/not/exist");
    let e = spawn_err(&mut cmd).await;
    assert!(
        e.to_string().ends_with(
            "(it does not exist on the host either: create it, or choose another working \
             directory)"
        ),
        "the message says what to do: {e}"
    );
    match e {
        SpawnError::Setup {
            stage,
            path,
            source,
            ..
        } => {
            assert_eq!(stage, Stage::Chdir);
            assert_eq!(path.as_deref(), Some(Path::new("/does/not/exist")));
            assert_eq!(source.raw_os_error(), Some(libc::ENOENT));
        }
        other => panic!("expected a Chdir setup error, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Merged /usr (C01, C02).

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c01_merged_usr_loader() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let o = run(Command::new("/usr/bin/echo").arg("ok")).await;
    assert_ok(&o, "ok\n");
    let o = run(Command::new("/bin/sh").args(["-c", "echo ok"])).await;
    assert_ok(&o, "ok\n");
    // The merged-/usr links are recreated as symlinks, not bound as directories.
    let o = run(Command::new("/bin/sh").args([
        "-c",
        "for l in /bin /sbin /lib /lib64; do [ -L $l ] && echo \"$l -> $(readlink $l)\"; done",
    ]))
    .await;
    let mut expected = String::new();
    for l in ["/bin", "/sbin", "/lib", "/lib64"] {
        if let Ok(t) = std::fs::read_link(l) {
            expected.push_str(&format!("{l} -> {}\n", t.display()));
        }
    }
    assert_ok(&o, &expected);
}

/// The ELF interpreter of `/usr/bin/echo` on the host.
const LOADER: &str = "/lib64/ld-linux-x86-64.so.2";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c02_policy_is_a_set_bin_and_usr_in_either_order() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    if !std::fs::symlink_metadata("/bin")
        .unwrap()
        .file_type()
        .is_symlink()
    {
        common::skip("the host does not have a merged /usr");
        return;
    }
    // On top of the default runtime, either order works.
    for order in [["/bin", "/usr"], ["/usr", "/bin"]] {
        let mut cmd = Command::new("/bin/echo");
        cmd.arg("ok").read_only(order[0]).read_only(order[1]);
        assert_ok(&run(&mut cmd).await, "ok\n");
    }
    // From an empty root, /bin and /usr alone: the root's links into /usr that lead to the
    // loader are recreated too (C44).
    for order in [["/bin", "/usr"], ["/usr", "/bin"]] {
        let mut cmd = Command::new("/bin/echo");
        cmd.arg("ok");
        cmd.policy_mut().system(false);
        cmd.read_only(order[0]).read_only(order[1]);
        assert_ok(&run(&mut cmd).await, "ok\n");
    }
    // With the loader's links (/lib64 -> usr/lib64, whose loader links into /lib), every order
    // of the set works.
    let sets: [[&str; 4]; 3] = [
        ["/bin", "/usr", "/lib64", "/lib"],
        ["/usr", "/bin", "/lib", "/lib64"],
        ["/lib64", "/lib", "/bin", "/usr"],
    ];
    for set in sets {
        let mut cmd = Command::new("/bin/echo");
        cmd.arg("ok");
        cmd.policy_mut().system(false);
        for p in set {
            cmd.read_only(p);
        }
        assert_ok(&run(&mut cmd).await, "ok\n");
    }
}

/// Whether the host's root has the merged-/usr links the loader is reached through: `/bin`,
/// `/lib` and `/lib64` symlinks into `/usr`, and a loader in `/usr/lib64` that links into
/// `/lib`.
fn merged_usr_loader_chain() -> bool {
    let into_usr = |l: &str| std::fs::read_link(l).is_ok_and(|t| t.starts_with("usr"));
    ["/bin", "/lib", "/lib64"].into_iter().all(into_usr)
        && std::fs::read_link("/usr/lib64/ld-linux-x86-64.so.2")
            .is_ok_and(|t| t.starts_with("/lib/"))
}

/// C44: with `/usr` bound alone (no system runtime), the root's symlinks into it are recreated,
/// so the loader `/lib64/ld-linux-x86-64.so.2` (and the `/lib` its link leads through) is there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c44_usr_alone_runs_merged_usr_programs() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    if !merged_usr_loader_chain() {
        common::skip("the host's root has no merged-/usr links to the loader");
        return;
    }
    let usr_alone = |program: &str| {
        let mut cmd = Command::new(program);
        cmd.policy_mut().system(false);
        cmd.read_only("/usr");
        cmd
    };
    assert_ok(&run(&mut usr_alone("/usr/bin/true")).await, "");
    assert_ok(
        &run(usr_alone("/bin/sh").args(["-c", "echo ok"])).await,
        "ok\n",
    );
    // Exactly the root's links whose target /usr shows, each with its host text; under
    // Landlock as well (the default layers).
    let mut expected = String::new();
    let mut names: Vec<_> = std::fs::read_dir("/")
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    for l in names {
        let Ok(text) = std::fs::read_link(&l) else {
            continue;
        };
        if std::fs::canonicalize(&l).is_ok_and(|t| t.starts_with("/usr")) {
            expected.push_str(&format!("{} -> {}\n", l.display(), text.display()));
        }
    }
    let script = "for l in /*; do [ -L $l ] && echo \"$l -> $(readlink $l)\"; done; true";
    assert_ok(
        &run(usr_alone("/bin/sh").args(["-c", script])).await,
        &expected,
    );
}

/// C44: where the loader's chain leaves what is bound, the error names the first path of the
/// chain the sandbox lacks (`/lib`, a link into the unbound `/usr/lib`), not only the loader.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c44_interpreter_error_names_missing_link() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    if !merged_usr_loader_chain() {
        common::skip("the host's root has no merged-/usr links to the loader");
        return;
    }
    // /lib64 -> usr/lib64 is recreated (its target is bound); its loader links to
    // /lib/x86_64-linux-gnu/..., and /lib -> usr/lib leads where nothing is bound.
    let mut cmd = Command::new("/usr/bin/true");
    cmd.policy_mut().system(false);
    cmd.read_only("/usr/bin").read_only("/usr/lib64");
    let e = spawn_err(&mut cmd).await;
    let msg = e.to_string();
    match e {
        SpawnError::InterpreterNotFound {
            path,
            interpreter,
            missing,
        } => {
            assert_eq!(
                (path.as_path(), interpreter.as_path(), missing.as_deref()),
                (
                    Path::new("/usr/bin/true"),
                    Path::new(LOADER),
                    Some(Path::new("/lib"))
                )
            );
        }
        other => panic!("expected InterpreterNotFound, got {other:?}"),
    }
    assert!(
        msg.ends_with(
            "its interpreter \"/lib64/ld-linux-x86-64.so.2\" is not visible in the sandbox: \
             \"/lib\" is missing there (on the host a symlink to \"usr/lib\": bind what it leads \
             to, and it is recreated)"
        ),
        "{msg}"
    );
    // Binding what /lib leads to brings it back.
    cmd.read_only("/usr/lib");
    assert_ok(&run(&mut cmd).await, "");
}

// ---------------------------------------------------------------------------------------------
// Locked mount flags (C05).

/// A tmpfs mounted `nosuid,nodev` on a fresh directory for one test, unmounted on drop.
struct TestTmpfs {
    dir: tempfile::TempDir,
}

impl TestTmpfs {
    fn mount() -> TestTmpfs {
        let dir = tempfile::Builder::new()
            .prefix("tsb-c05-")
            .tempdir_in("/tmp")
            .expect("tempdir");
        rustix::mount::mount(
            "tsb-c05",
            dir.path(),
            "tmpfs",
            rustix::mount::MountFlags::NOSUID | rustix::mount::MountFlags::NODEV,
            c"mode=0755,size=1m",
        )
        .expect("mount tmpfs");
        TestTmpfs { dir }
    }
}

impl Drop for TestTmpfs {
    fn drop(&mut self) {
        let _ = rustix::mount::unmount(self.dir.path(), rustix::mount::UnmountFlags::DETACH);
    }
}

/// For an unprivileged run: a writable directory on an existing `nosuid,nodev` tmpfs.
fn existing_nosuid_nodev_tmpfs() -> Option<PathBuf> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    for line in info.lines() {
        let (left, right) = line.split_once(" - ")?;
        let fields: Vec<&str> = left.split(' ').collect();
        let fstype = right.split(' ').next()?;
        let opts: Vec<&str> = fields.get(5)?.split(',').collect();
        let mp = PathBuf::from(fields.get(4)?);
        if fstype == "tmpfs"
            && opts.contains(&"rw")
            && opts.contains(&"nosuid")
            && opts.contains(&"nodev")
            && rustix::fs::access(&mp, rustix::fs::Access::WRITE_OK).is_ok()
        {
            return Some(mp);
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c05_ro_bind_keeps_locked_nosuid_nodev() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let _mount;
    let base = if is_root() {
        let m = TestTmpfs::mount();
        let p = m.dir.path().to_path_buf();
        _mount = m;
        p
    } else if let Some(p) = existing_nosuid_nodev_tmpfs() {
        p
    } else {
        common::skip("unprivileged and the host has no writable nosuid,nodev tmpfs");
        return;
    };
    let dir = tempfile::Builder::new()
        .prefix("tsb-c05-dir-")
        .tempdir_in(&base)
        .expect("dir on the tmpfs");
    give_to_sandbox(dir.path());
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let ds = s(dir.path());
    let o = sh(
        &format!(
            "touch {ds}/x; awk '$5 == \"{ds}\" {{ print $6 }}' /proc/self/mountinfo | tr , '\\n' \
             | grep -x -e ro -e nosuid -e nodev"
        ),
        |c| {
            c.read_only(dir.path());
        },
    )
    .await;
    assert_out(
        &o,
        0,
        "ro\nnosuid\nnodev\n",
        &format!("touch: cannot touch '{ds}/x': {EROFS_MSG}\n"),
    );
    assert!(!dir.path().join("x").exists());

    // Read-write keeps the locked flags too.
    let o = sh(
        &format!(
            "touch {ds}/y && awk '$5 == \"{ds}\" {{ print $6 }}' /proc/self/mountinfo | tr , '\\n' \
             | grep -x -e rw -e nosuid -e nodev"
        ),
        |c| {
            c.read_write(dir.path());
        },
    )
    .await;
    assert_ok(&o, "rw\nnosuid\nnodev\n");
    assert!(dir.path().join("y").exists());
}

// ---------------------------------------------------------------------------------------------
// /dev (C08), home (C09), /proc (C10).

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c08_minimal_dev() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let o = run(Command::new("/bin/bash").args(["-c", "cat <(echo hi)"])).await;
    assert_ok(&o, "hi\n");

    let o = sh(
        "head -c4 /dev/urandom | wc -c; head -c4 /dev/random | wc -c; echo x >/dev/null && echo \
         null-ok; head -c3 /dev/zero | od -An -tx1; cat /dev/null; echo x > /dev/full",
        |_| {},
    )
    .await;
    assert_out(
        &o,
        1,
        "4\n4\nnull-ok\n 00 00 00\n",
        "/bin/sh: 1: echo: echo: I/O error\n",
    );

    let o = run(Command::new("/usr/bin/ls").args(["-A", "/dev"])).await;
    assert_ok(
        &o,
        "fd\nfull\nnull\nptmx\npts\nrandom\nshm\nstderr\nstdin\nstdout\ntty\nurandom\nzero\n",
    );

    let o = run(Command::new("/usr/bin/readlink").args([
        "/dev/fd",
        "/dev/stdin",
        "/dev/stdout",
        "/dev/stderr",
        "/dev/ptmx",
    ]))
    .await;
    assert_ok(
        &o,
        "/proc/self/fd\n/proc/self/fd/0\n/proc/self/fd/1\n/proc/self/fd/2\npts/ptmx\n",
    );

    // Device nodes are not on a nodev mount; /dev/shm is a writable tmpfs.
    let o = sh(
        "awk '$5 == \"/dev/null\" || $5 == \"/dev/shm\" { print $5, $6 }' /proc/self/mountinfo \
         | grep -c nodev; stat -f -c %T /dev/shm",
        |_| {},
    )
    .await;
    assert_ok(&o, "1\ntmpfs\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c08_python_multiprocessing_lock() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    if !common::python3_or_skip() {
        return;
    }
    let o = run(Command::new("python3")
        .args(["-c", "import multiprocessing as m; m.Lock(); print(\"ok\")"]))
    .await;
    assert_ok(&o, "ok\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c08_pty_from_ptmx() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    if !common::python3_or_skip() {
        return;
    }
    let o = run(Command::new("python3")
        .args(["-c", "import os; m, s = os.openpty(); print(os.ttyname(s))"]))
    .await;
    assert_ok(&o, "/dev/pts/0\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c09_user_name_and_private_home() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let o = sh(
        "whoami; echo \"$HOME\"; touch \"$HOME/f\" && ls -A \"$HOME\"; stat -c %a \"$HOME\"",
        |_| {},
    )
    .await;
    assert_ok(
        &o,
        &format!(
            "{}\n{}\nf\n700\n",
            common::default_user().0,
            common::default_user().1
        ),
    );

    // Another inside uid gets its own passwd entry.
    let o = sh("whoami; id -u; echo \"$HOME\" \"$USER\"", |c| {
        c.uid(1000).gid(1000);
    })
    .await;
    assert_ok(&o, "sandbox\n1000\n/home/sandbox sandbox\n");

    if common::has("/usr/bin/python3") {
        let o = run(Command::new("python3").args([
            "-c",
            "import os; print(os.path.expanduser('~')); print(os.environ.get('HOME'))",
        ]))
        .await;
        let home = common::default_user().1;
        assert_ok(&o, &format!("{home}\n{home}\n"));
        let caller_home = std::env::var_os("HOME");
        assert_ne!(caller_home.as_deref(), Some(OsStr::new(home)));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c09_user_env_matches_passwd() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let o = sh("echo \"$USER $LOGNAME\"; id -un", |_| {}).await;
    let out = stdout(&o);
    let mut lines = out.lines();
    let env = lines.next().unwrap_or_default().to_string();
    let name = lines.next().unwrap_or_default().to_string();
    assert_eq!(env, format!("{name} {name}"), "{o:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c09_no_caller_environment() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let o = run(&mut Command::new("/usr/bin/env")).await;
    assert_ok(&o, &common::default_env_text());
    assert_eq!(
        DEFAULT_PATH,
        "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c10_fresh_proc() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let o = run(Command::new("/usr/bin/readlink").arg("/proc/self/exe")).await;
    assert_ok(&o, "/usr/bin/readlink\n");
    // Only the sandbox's own processes: the program, and the sandbox's init as pid 1 if the
    // library runs one in front of it. Pids count up from 1 in the fresh pid namespace.
    let o = sh(
        "echo $$; ls /proc > /tmp/l; grep -x '[0-9]*' /tmp/l | tr '\\n' ' '",
        |_| {},
    )
    .await;
    let out = stdout(&o);
    let (shell_pid, _) = out.split_once('\n').expect("two lines");
    let shell_pid: u32 = shell_pid.parse().expect("a pid");
    assert!(
        shell_pid == 1 || shell_pid == 2,
        "the program is pid 1 or runs under an init at pid 1: {o:?}"
    );
    // The init (if any), the shell and ls, nothing else.
    let expected: String = (1..=shell_pid + 1).map(|p| format!("{p} ")).collect();
    assert_ok(&o, &format!("{shell_pid}\n{expected}"));
}

// ---------------------------------------------------------------------------------------------
// Exec failures (C29) and program lookup.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c29_exec_failures_are_spawn_errors() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let d = rw_dir();
    let p = d.path();
    write_file(
        &p.join("bad-interp"),
        "#!/nonexistent/interp\necho no\n",
        0o755,
    );
    write_file(&p.join("no-x"), "#!/bin/sh\necho no\n", 0o644);
    write_file(&p.join("good"), "#!/bin/sh\necho script ok\n", 0o755);

    let with_dir = |prog: PathBuf| {
        let mut c = Command::new(prog);
        c.read_only(p);
        c
    };

    // Positive control.
    assert_ok(&run(&mut with_dir(p.join("good"))).await, "script ok\n");

    match spawn_err(&mut with_dir(p.join("bad-interp"))).await {
        e @ SpawnError::InterpreterNotFound { .. } => {
            assert_eq!(e.raw_os_error(), Some(libc::ENOENT));
            assert_eq!(e.exit_code(), 127);
            let SpawnError::InterpreterNotFound {
                path,
                interpreter,
                missing,
            } = e
            else {
                unreachable!()
            };
            assert_eq!(path, p.join("bad-interp"));
            assert_eq!(interpreter, Path::new("/nonexistent/interp"));
            assert_eq!(missing.as_deref(), Some(Path::new("/nonexistent")));
        }
        other => panic!("expected InterpreterNotFound, got {other:?}"),
    }

    match spawn_err(&mut with_dir(p.join("no-x"))).await {
        e @ SpawnError::NotExecutable { .. } => {
            assert_eq!(e.raw_os_error(), Some(libc::EACCES));
            assert_eq!(e.exit_code(), 126);
            let SpawnError::NotExecutable { path, .. } = e else {
                unreachable!()
            };
            assert_eq!(path, p.join("no-x"));
        }
        other => panic!("expected NotExecutable, got {other:?}"),
    }

    match spawn_err(&mut with_dir(p.join("missing"))).await {
        e @ SpawnError::NotFound { .. } => {
            assert_eq!(e.raw_os_error(), Some(libc::ENOENT));
            assert_eq!(e.exit_code(), 127);
            let SpawnError::NotFound { path } = e else {
                unreachable!()
            };
            assert_eq!(path, p.join("missing"));
        }
        other => panic!("expected NotFound, got {other:?}"),
    }

    // A file that exists on the host but is not visible in the sandbox: not bound, which the
    // error says (exit 127, ENOENT, as not found).
    match spawn_err(&mut Command::new(p.join("good"))).await {
        e @ SpawnError::NotBound { .. } => {
            assert_eq!((e.raw_os_error(), e.exit_code()), (Some(libc::ENOENT), 127));
            assert!(e.to_string().contains("exists on the host"), "{e}");
            let SpawnError::NotBound { path } = e else {
                unreachable!()
            };
            assert_eq!(path, p.join("good"));
        }
        other => panic!("expected NotBound, got {other:?}"),
    }

    match spawn_err(&mut Command::new("tsb-no-such-program")).await {
        e @ SpawnError::Policy(PolicyError::ProgramNotFound { .. }) => {
            assert_eq!(e.raw_os_error(), Some(libc::ENOENT));
            assert_eq!(e.exit_code(), 127);
            let io: std::io::Error = e.into();
            assert_eq!(io.kind(), std::io::ErrorKind::NotFound);
            let inner = io.into_inner().unwrap().downcast::<SpawnError>().unwrap();
            let SpawnError::Policy(PolicyError::ProgramNotFound { program, searched }) = *inner
            else {
                unreachable!()
            };
            assert_eq!(
                (program.as_str(), searched.as_str()),
                ("tsb-no-such-program", DEFAULT_PATH)
            );
        }
        other => panic!("expected ProgramNotFound, got {other:?}"),
    }

    // A directory is not executable.
    match spawn_err(&mut with_dir(p.to_path_buf())).await {
        e @ SpawnError::NotExecutable { .. } => assert_eq!(e.raw_os_error(), Some(libc::EACCES)),
        other => panic!("expected NotExecutable, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bare_names_are_looked_up_in_the_sandbox_path() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    assert_ok(
        &run(Command::new("sh").args(["-c", "echo via-path"])).await,
        "via-path\n",
    );
    // argv[0] is the name as given, the program is the one found in the sandbox's PATH.
    assert_ok(
        &run(Command::new("sh").args(["-c", "echo $0; readlink /proc/$$/exe"])).await,
        &format!(
            "sh\n{}\n",
            std::fs::canonicalize("/usr/bin/sh").unwrap().display()
        ),
    );

    let d = rw_dir();
    let p = d.path();
    write_file(
        &p.join("tsb-only-here"),
        "#!/bin/sh\necho found me\n",
        0o755,
    );
    let path_var = format!("{}:/usr/bin:/bin", s(p));

    // The directory is in the sandbox's PATH but not visible: not found.
    let mut cmd = Command::new("tsb-only-here");
    cmd.env("PATH", &path_var);
    match spawn_err(&mut cmd).await {
        SpawnError::Policy(PolicyError::ProgramNotFound { program, searched }) => {
            assert_eq!(
                (program.as_str(), searched.as_str()),
                ("tsb-only-here", path_var.as_str())
            );
        }
        other => panic!("expected ProgramNotFound, got {other:?}"),
    }

    // Visible and in PATH: found.
    let mut cmd = Command::new("tsb-only-here");
    cmd.env("PATH", &path_var).read_only(p);
    assert_ok(&run(&mut cmd).await, "found me\n");

    // Visible at another place: looked up at the sandbox path.
    let mut cmd = Command::new("tsb-only-here");
    cmd.env("PATH", "/opt/tools:/usr/bin")
        .bind(p, "/opt/tools", false);
    assert_ok(&run(&mut cmd).await, "found me\n");

    // Visible but not in the sandbox's PATH: not found (the default PATH never has it).
    let mut cmd = Command::new("tsb-only-here");
    cmd.read_only(p);
    match spawn_err(&mut cmd).await {
        SpawnError::Policy(PolicyError::ProgramNotFound { searched, .. }) => {
            assert_eq!(searched, DEFAULT_PATH)
        }
        other => panic!("expected ProgramNotFound, got {other:?}"),
    }

    // A non-executable file in PATH is skipped.
    write_file(&p.join("tsb-not-x"), "#!/bin/sh\necho no\n", 0o644);
    let mut cmd = Command::new("tsb-not-x");
    cmd.env("PATH", &path_var).read_only(p);
    assert!(matches!(
        spawn_err(&mut cmd).await,
        SpawnError::Policy(PolicyError::ProgramNotFound { .. })
    ));
}

// ---------------------------------------------------------------------------------------------
// Policy errors.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nul_byte_in_policy_path() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let bad = Path::new(OsStr::from_bytes(b"/tmp/a\0b"));
    type Apply = fn(&mut Command, &Path);
    let cases: [(&str, Apply); 5] = [
        ("read_only", |c, p| {
            c.read_only(p);
        }),
        ("read_write", |c, p| {
            c.read_write(p);
        }),
        ("bind src", |c, p| {
            c.bind(p, "/x", false);
        }),
        ("bind dst", |c, p| {
            c.bind("/usr", p, false);
        }),
        ("tmpfs", |c, p| {
            c.tmpfs(p);
        }),
    ];
    for (what, f) in cases {
        let mut cmd = Command::new("/bin/true");
        f(&mut cmd, bad);
        match spawn_err(&mut cmd).await {
            SpawnError::Policy(PolicyError::NulByte(p)) => assert_eq!(p, bad, "{what}"),
            other => panic!("{what}: expected NulByte, got {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_policy_path() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let d = rw_dir();
    let missing = d.path().join("missing");
    for writable in [false, true] {
        let mut cmd = Command::new("/bin/true");
        if writable {
            cmd.read_write(&missing);
        } else {
            cmd.read_only(&missing);
        }
        let e = spawn_err(&mut cmd).await;
        assert_eq!(e.raw_os_error(), Some(libc::ENOENT));
        match e {
            SpawnError::Policy(PolicyError::MissingPath { path, source }) => {
                assert_eq!(path, missing);
                assert_eq!(source.raw_os_error(), Some(libc::ENOENT));
            }
            other => panic!("expected MissingPath, got {other:?}"),
        }
    }
    let mut cmd = Command::new("/bin/true");
    cmd.bind(&missing, "/data", false);
    let e = spawn_err(&mut cmd).await;
    assert!(
        matches!(&e, SpawnError::Policy(PolicyError::MissingPath { path, .. }) if *path == missing),
        "{e:?}"
    );
    let io: std::io::Error = e.into();
    assert_eq!(io.kind(), std::io::ErrorKind::NotFound);

    // A path through a regular file.
    let f = d.path().join("file");
    write_file(&f, "", 0o644);
    let mut cmd = Command::new("/bin/true");
    cmd.read_only(f.join("below"));
    match spawn_err(&mut cmd).await {
        SpawnError::Policy(PolicyError::MissingPath { path, source }) => {
            assert_eq!(path, f.join("below"));
            assert_eq!(source.raw_os_error(), Some(libc::ENOTDIR));
        }
        other => panic!("expected MissingPath, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dangling_and_looping_symlinks_in_policy_paths() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let d = rw_dir();
    let p = d.path();
    std::os::unix::fs::symlink("nowhere", p.join("dangling")).unwrap();
    std::os::unix::fs::symlink("loop", p.join("loop")).unwrap();

    let mut cmd = Command::new("/bin/true");
    cmd.read_only(p.join("dangling"));
    match spawn_err(&mut cmd).await {
        SpawnError::Policy(PolicyError::MissingPath { path, source }) => {
            assert_eq!(path, p.join("dangling"));
            assert_eq!(source.raw_os_error(), Some(libc::ENOENT));
        }
        other => panic!("expected MissingPath, got {other:?}"),
    }

    let mut cmd = Command::new("/bin/true");
    cmd.read_only(p.join("loop"));
    match spawn_err(&mut cmd).await {
        SpawnError::Policy(PolicyError::SymlinkLoop(path)) => assert_eq!(path, p.join("loop")),
        other => panic!("expected SymlinkLoop, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Symlinks in policy paths.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn symlinked_policy_dir_is_recreated() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let d = rw_dir();
    let p = d.path();
    std::fs::create_dir(p.join("b")).unwrap();
    write_file(&p.join("b/f"), "in b\n", 0o644);
    std::fs::create_dir(p.join("other")).unwrap();
    std::os::unix::fs::symlink("b", p.join("a")).unwrap();
    let ps = s(p);
    let o = sh(
        &format!(
            "[ -L {ps}/a ] && echo a-is-link; readlink {ps}/a; cat {ps}/a/f; cat {ps}/b/f; ls {ps}"
        ),
        |c| {
            c.read_only(p.join("a"));
        },
    )
    .await;
    assert_ok(&o, "a-is-link\nb\nin b\nin b\na\nb\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn symlink_chains_and_absolute_targets() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let d = rw_dir();
    let p = d.path();
    let ps = s(p);
    std::fs::create_dir_all(p.join("real/sub")).unwrap();
    write_file(&p.join("real/sub/f"), "deep\n", 0o644);
    // abs -> <p>/real (absolute), mid -> abs/sub (relative, through another link).
    std::os::unix::fs::symlink(p.join("real"), p.join("abs")).unwrap();
    std::os::unix::fs::symlink("abs/sub", p.join("mid")).unwrap();
    // A link to a file.
    std::os::unix::fs::symlink("real/sub/f", p.join("filelink")).unwrap();

    let o = sh(
        &format!(
            "readlink {ps}/mid {ps}/abs; cat {ps}/mid/f; ls {ps}/real {ps}/real/sub; \
             readlink {ps}/filelink; cat {ps}/filelink"
        ),
        |c| {
            c.read_only(p.join("mid")).read_only(p.join("filelink"));
        },
    )
    .await;
    assert_ok(
        &o,
        &format!(
            "abs/sub\n{ps}/real\ndeep\n{ps}/real:\nsub\n\n{ps}/real/sub:\nf\nreal/sub/f\ndeep\n"
        ),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn symlink_in_the_middle_of_a_policy_path() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let d = rw_dir();
    let p = d.path();
    let ps = s(p);
    std::fs::create_dir_all(p.join("b/inner")).unwrap();
    write_file(&p.join("b/inner/f"), "x\n", 0o644);
    write_file(&p.join("b/hidden"), "h\n", 0o644);
    std::os::unix::fs::symlink("b", p.join("a")).unwrap();
    let o = sh(
        &format!("cat {ps}/a/inner/f; ls {ps}/b; cat {ps}/b/hidden"),
        |c| {
            c.read_only(p.join("a/inner"));
        },
    )
    .await;
    assert_out(
        &o,
        1,
        "x\ninner\n",
        &format!("cat: {ps}/b/hidden: {ENOENT_MSG}\n"),
    );

    // Bound elsewhere through a symlink: the target's content at the destination.
    let o = sh("cat /data/inner/f; [ -L /data ] || echo dir", |c| {
        c.bind(p.join("a"), "/data", false);
    })
    .await;
    assert_ok(&o, "x\ndir\n");
}

// ---------------------------------------------------------------------------------------------
// Landlock as a second layer.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn landlock_denies_what_mounts_allow() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    // /dev is a read-write tmpfs owned by the sandbox user, but Landlock grants it read only.
    let o = sh(
        "[ -O /dev ] && echo owner; awk '$5 == \"/dev\" { print $6 }' /proc/self/mountinfo \
         | cut -d, -f1; touch /dev/newfile; mkdir /dev/newdir; ls /dev | grep -c new",
        |_| {},
    )
    .await;
    assert_out(
        &o,
        1,
        "owner\nrw\n0\n",
        &format!(
            "touch: cannot touch '/dev/newfile': Permission denied\n\
             mkdir: cannot create directory {}: Permission denied\n",
            common::quoted("/dev/newdir")
        ),
    );
    // Sysctls are not writable for the sandbox's uid (their mode; as host uid 0 the mount is
    // read-only, tested in tests/process.rs).
    let o = sh("echo evil > /proc/sys/kernel/hostname; hostname", |_| {}).await;
    assert_out(
        &o,
        0,
        "sandbox\n",
        "/bin/sh: 1: cannot create /proc/sys/kernel/hostname: Permission denied\n",
    );
}

// ---------------------------------------------------------------------------------------------
// Landlock rules that must not break normal file work (C17, C18, C39).

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c17_rename_across_dirs_in_read_write_tree() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let d = rw_dir();
    let p = d.path();
    let ps = s(p);
    let o = sh(
        &format!(
            "mkdir {ps}/a {ps}/b && echo f > {ps}/a/f && mv {ps}/a/f {ps}/b/f && ln {ps}/b/f \
             {ps}/a/hard && mv {ps}/a {ps}/b/a && ls -R {ps}"
        ),
        |c| {
            c.read_write(p);
        },
    )
    .await;
    assert_ok(
        &o,
        &format!("{ps}:\nb\n\n{ps}/b:\na\nf\n\n{ps}/b/a:\nhard\n"),
    );
    assert_eq!(std::fs::read_to_string(p.join("b/a/hard")).unwrap(), "f\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c18_landlock_rules_on_files_devices_and_fifos() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let d = rw_dir();
    let fifo = d.path().join("fifo");
    let c_fifo = std::ffi::CString::new(fifo.as_os_str().as_bytes()).unwrap();
    // SAFETY: mkfifo on a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c_fifo.as_ptr(), 0o600) }, 0);
    give_to_sandbox(&fifo);
    let f = d.path().join("file");
    write_file(&f, "file\n", 0o644);
    let script = format!(
        "cat {}; echo x > /dev/null && echo null-ok; (echo through > {fifo}) & cat {fifo}; wait",
        s(&f),
        fifo = s(&fifo)
    );
    let fut = sh(&script, |c| {
        c.read_only(&f).read_write("/dev/null").read_write(&fifo);
    });
    let o = tokio::time::timeout(std::time::Duration::from_secs(20), fut)
        .await
        .expect("setup must not block on the fifo");
    assert_ok(&o, "file\nnull-ok\nthrough\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c39_truncate_in_read_write_dir() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let d = rw_dir();
    let p = d.path();
    let ps = s(p);
    let o = sh(
        &format!("echo a > {ps}/f; echo b > {ps}/f; cat {ps}/f; truncate -s 1 {ps}/f; cat {ps}/f"),
        |c| {
            c.read_write(p);
        },
    )
    .await;
    assert_ok(&o, "b\nb");
    assert_eq!(std::fs::read_to_string(p.join("f")).unwrap(), "b");

    // Read-only: no truncation.
    let o = sh(&format!("truncate -s 0 {ps}/f; cat {ps}/f"), |c| {
        c.read_only(p);
    })
    .await;
    assert_out(
        &o,
        0,
        "b",
        &format!("truncate: cannot open '{ps}/f' for writing: {EROFS_MSG}\n"),
    );
}

// ---------------------------------------------------------------------------------------------
// Submounts.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_bind_is_recursive_over_submounts() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    if !is_root() {
        common::skip("needs root to mount a tmpfs inside the bound directory");
        return;
    }
    let d = rw_dir();
    let sub = d.path().join("sub");
    std::fs::create_dir(&sub).unwrap();
    rustix::mount::mount(
        "tsb-sub",
        &sub,
        "tmpfs",
        rustix::mount::MountFlags::empty(),
        c"mode=0777,size=1m",
    )
    .expect("mount");
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = rustix::mount::unmount(&self.0, rustix::mount::UnmountFlags::DETACH);
        }
    }
    let _guard = Unmount(sub.clone());
    std::fs::write(sub.join("f"), "on the submount\n").unwrap();
    let ss = s(&sub);
    let o = sh(
        &format!(
            "cat {ss}/f; touch {ss}/x; awk '$5 == \"{ss}\" {{ print $6 }}' /proc/self/mountinfo \
             | cut -d, -f1"
        ),
        |c| {
            c.read_only(d.path());
        },
    )
    .await;
    assert_out(
        &o,
        0,
        "on the submount\nro\n",
        &format!("touch: cannot touch '{ss}/x': {EROFS_MSG}\n"),
    );
    assert!(!sub.join("x").exists());
}

// ---------------------------------------------------------------------------------------------
// Nested binds, binds the sandbox cannot make, and binds on `/`.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_write_inside_read_only() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let d = rw_dir();
    let a = d.path().join("a");
    let b = a.join("b");
    std::fs::create_dir_all(&b).unwrap();
    give_to_sandbox(&a);
    give_to_sandbox(&b);
    let (as_, bs) = (s(&a), s(&b));
    let o = sh(&format!("touch {as_}/x; touch {bs}/x && echo b-ok"), |c| {
        c.read_only(&a).read_write(&b);
    })
    .await;
    assert_out(
        &o,
        0,
        "b-ok\n",
        &format!("touch: cannot touch '{as_}/x': {EROFS_MSG}\n"),
    );
    // And the reverse: a read-only island in a read-write tree.
    let o = sh(&format!("touch {as_}/y && echo a-ok; touch {bs}/y"), |c| {
        c.read_write(&a).read_only(&b);
    })
    .await;
    assert_out(
        &o,
        1,
        "a-ok\n",
        &format!("touch: cannot touch '{bs}/y': {EROFS_MSG}\n"),
    );
    assert!(b.join("x").exists() && a.join("y").exists());
    assert!(!a.join("x").exists() && !b.join("y").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_level_nesting_keeps_each_mode() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let d = rw_dir();
    let a = d.path().join("a");
    let b = a.join("b");
    let c3 = b.join("c");
    std::fs::create_dir_all(&c3).unwrap();
    for p in [&a, &b, &c3] {
        give_to_sandbox(p);
    }
    let (as_, bs, cs) = (s(&a), s(&b), s(&c3));
    // ro a, rw a/b, ro a/b/c: c must stay read-only.
    let o = sh(
        &format!("touch {bs}/x && echo b-ok; touch {cs}/x && echo c-WRITABLE"),
        |c| {
            c.read_only(&a).read_write(&b).read_only(&c3);
        },
    )
    .await;
    let fresh = !c3.join("x").exists();
    assert_out(
        &o,
        1,
        "b-ok\n",
        &format!("touch: cannot touch '{cs}/x': {EROFS_MSG}\n"),
    );
    assert!(fresh, "a read-only path was written on the host");
    // rw a, ro a/b, rw a/b/c: c must stay writable.
    let o = sh(
        &format!("touch {as_}/y && echo a-ok; touch {cs}/y && echo c-ok"),
        |c| {
            c.read_write(&a).read_only(&b).read_write(&c3);
        },
    )
    .await;
    assert_ok(&o, "a-ok\nc-ok\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_path_the_sandbox_cannot_reach() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let d = rw_dir();
    let sub = d.path().join("sub");
    std::fs::create_dir(&sub).unwrap();
    // The directory above the policy path cannot be searched by the sandbox's host id. As
    // root it must belong to an id outside the sandbox's user namespace: the setup code holds
    // capabilities there, which override the mode bits of files of mapped ids.
    if is_root() {
        std::os::unix::fs::chown(d.path(), Some(0), Some(0)).unwrap();
        std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    } else {
        std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o000)).unwrap();
    }
    let mut cmd = Command::new("/bin/true");
    cmd.read_only(&sub);
    let e = spawn_err(&mut cmd).await;
    std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    if is_root() {
        // Root resolves the policy; the sandbox's own id then cannot open the source.
        assert!(e.to_string().contains("cannot reach the source"), "{e}");
        match e {
            SpawnError::Setup {
                stage,
                path,
                source,
                ..
            } => {
                assert_eq!(stage, Stage::Bind);
                assert_eq!(path.as_deref(), Some(sub.as_path()));
                assert_eq!(source.raw_os_error(), Some(libc::EACCES));
            }
            other => panic!("expected a Bind setup error, got {other:?}"),
        }
    } else {
        // The unprivileged caller cannot even resolve it.
        match e {
            SpawnError::Policy(PolicyError::MissingPath { path, source }) => {
                assert_eq!(path, sub);
                assert_eq!(source.raw_os_error(), Some(libc::EACCES));
            }
            other => panic!("expected MissingPath, got {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bind_destination_inside_a_read_only_bind_must_exist() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    // Nothing is created inside another bind (that would be the host's directory): a missing
    // mount point there is ENOENT.
    let d = rw_dir();
    let mut cmd = Command::new("/bin/true");
    cmd.bind(d.path(), "/usr/tsb-new-mount-point", false);
    match spawn_err(&mut cmd).await {
        SpawnError::Setup {
            stage,
            path,
            source,
            ..
        } => {
            assert_eq!(stage, Stage::Bind);
            assert_eq!(path.as_deref(), Some(d.path()));
            assert_eq!(source.raw_os_error(), Some(libc::ENOENT));
        }
        other => panic!("expected a Bind setup error, got {other:?}"),
    }
    // An existing directory inside a read-only bind can be a mount point.
    write_file(&d.path().join("f"), "over share\n", 0o644);
    let o = sh("cat /usr/local/f", |c| {
        c.bind(d.path(), "/usr/local", false);
    })
    .await;
    assert_ok(&o, "over share\n");
}

/// A bind onto the sandbox's root would hide its own /proc, /dev and /tmp: refused clearly
/// instead of leaving an empty root.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bind_onto_the_root_is_refused() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let mut cmd = Command::new("/usr/bin/true");
    cmd.read_only("/");
    match spawn_err(&mut cmd).await {
        SpawnError::Policy(PolicyError::RootBind(p)) => assert_eq!(p, Path::new("/")),
        other => panic!("expected RootBind, got {other:?}"),
    }
    let d = rw_dir();
    let mut cmd = Command::new("/usr/bin/true");
    cmd.bind(d.path(), "/", false);
    match spawn_err(&mut cmd).await {
        SpawnError::Policy(PolicyError::RootBind(p)) => assert_eq!(p, d.path()),
        other => panic!("expected RootBind, got {other:?}"),
    }
}

/// A read-only mount does not stop writes to a device node; Landlock does. (Landlock rules
/// belong to the inode, so a device that the minimal /dev also shows writable, like /dev/null,
/// stays writable at any other path: this binds the whole /dev read-only instead.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_device_refuses_writes() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let o = sh(
        "head -c1 /dev/zero | wc -c; echo x > /dev/full && echo WROTE",
        |c| {
            c.read_only("/dev");
        },
    )
    .await;
    assert_out(
        &o,
        2,
        "1\n",
        "/bin/sh: 1: cannot create /dev/full: Permission denied\n",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c29_program_symlinked_outside_the_sandbox_is_not_found() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let visible = rw_dir();
    let hidden = rw_dir();
    write_file(&hidden.path().join("script"), "#!/bin/sh\necho hi\n", 0o755);
    let prog = visible.path().join("prog");
    std::os::unix::fs::symlink(hidden.path().join("script"), &prog).unwrap();
    let mut cmd = Command::new(&prog);
    cmd.read_only(visible.path());
    // The symlink is visible, its target is not: the file exists on the host only.
    match spawn_err(&mut cmd).await {
        SpawnError::NotBound { path } => assert_eq!(path, prog),
        other => panic!("expected NotBound (/bin/sh is visible), got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// System files.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn system_symlinks_are_recreated() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let Ok(target) = std::fs::read_link("/etc/localtime") else {
        common::skip("/etc/localtime is not a symlink on this host");
        return;
    };
    let host = std::fs::read("/etc/localtime").unwrap();
    let o = sh(
        "[ -L /etc/localtime ] && readlink /etc/localtime; cat /etc/localtime | wc -c",
        |_| {},
    )
    .await;
    assert_ok(&o, &format!("{}\n{}\n", target.display(), host.len()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn network_host_binds_resolver_files() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let files: Vec<&str> = ["/etc/resolv.conf", "/etc/hosts"]
        .into_iter()
        .filter(|f| std::fs::read(f).is_ok())
        .collect();
    if files.is_empty() {
        common::skip("the host has neither /etc/resolv.conf nor /etc/hosts");
        return;
    }
    let mut expected = String::new();
    for f in &files {
        expected.push_str(&std::fs::read_to_string(f).unwrap());
    }
    let mut cmd = Command::new("/usr/bin/cat");
    cmd.args(&files).network(tokio_sandbox::Network::Host);
    assert_ok(&run(&mut cmd).await, &expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chosen_uid_owns_created_files() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    for id in [0u32, 1000] {
        let d = tempfile::Builder::new()
            .prefix("tsb-uid-")
            .tempdir_in("/tmp")
            .unwrap();
        if is_root() {
            std::os::unix::fs::chown(d.path(), Some(id), Some(id)).unwrap();
        }
        std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let ds = s(d.path());
        let o = sh(
            &format!("id -u; id -g; touch {ds}/f; stat -c '%u %g' {ds}/f; echo \"$HOME\""),
            |c| {
                c.uid(id).gid(id).read_write(d.path());
            },
        )
        .await;
        let home = match id {
            0 => "/root",
            65534 => "/home/nobody",
            _ => "/home/sandbox",
        };
        assert_ok(&o, &format!("{id}\n{id}\n{id} {id}\n{home}\n"));
        // On the host: that id for a root caller, the caller's own id otherwise.
        let m = std::fs::metadata(d.path().join("f")).unwrap();
        let host = if is_root() {
            (id, id)
        } else {
            (
                rustix::process::geteuid().as_raw(),
                rustix::process::getegid().as_raw(),
            )
        };
        assert_eq!((m.uid(), m.gid()), host, "host owner for uid {id}");
    }
}

/// A policy path swapped for a symlink after the policy was compiled does not redirect the
/// bind (the child re-resolves without following symlinks): the spawn fails with ELOOP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_path_swapped_for_a_symlink_fails_instead_of_redirecting() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let d = rw_dir();
    let target = d.path().join("data");
    std::fs::create_dir(&target).unwrap();
    let mut policy = tokio_sandbox::Policy::new();
    policy.read_only(&target);
    let compiled = policy.compile().unwrap();
    std::fs::remove_dir(&target).unwrap();
    std::os::unix::fs::symlink("/etc", &target).unwrap();
    let mut cmd = Command::new("/bin/ls");
    cmd.arg(&target).compiled_policy(&compiled);
    match spawn_err(&mut cmd).await {
        SpawnError::Setup {
            stage: Stage::Bind,
            path,
            source,
            ..
        } => {
            assert_eq!(path.as_deref(), Some(target.as_path()));
            assert_eq!(source.raw_os_error(), Some(libc::ELOOP));
        }
        other => panic!("expected a Bind setup error with ELOOP, got {other:?}"),
    }
}

/// `Child` can be shared and sent across tasks.
#[test]
fn child_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<tokio_sandbox::Child>();
    check::<tokio_sandbox::CompiledPolicy>();
}

/// A program path that leads, through a symlink planted in a read-write path, to a host FIFO
/// the sandbox cannot see is reported as not found at once: the parent never opens host files
/// outside the sandbox's view (nor blocks on a FIFO).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn planted_symlink_to_a_host_fifo_does_not_hang_the_spawn() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let d = rw_dir();
    // `/var` is not visible inside, so `d` leads nowhere there; on the host it leads back here.
    let host_route = format!("/var/..{}", d.path().display());
    std::os::unix::fs::symlink(&host_route, d.path().join("d")).unwrap();
    let fifo = std::ffi::CString::new(d.path().join("fifo").as_os_str().as_bytes()).unwrap();
    // SAFETY: mkfifo(3) with a valid path.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o666) }, 0);
    let prog = d.path().join("d/fifo");
    let mut cmd = Command::new(&prog);
    cmd.read_write(d.path());
    let err = tokio::time::timeout(std::time::Duration::from_secs(5), cmd.spawn_async())
        .await
        .expect("the spawn must not hang")
        .unwrap_err();
    match err {
        SpawnError::NotFound { path } => assert_eq!(path, prog),
        other => panic!("expected NotFound, got {other:?}"),
    }
}

/// A device bound read-only cannot be opened for writing (a read-only mount does not stop
/// writes to a device; the Landlock rule for a read-only device grants reading only).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_device_bind_refuses_writes() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    if !is_root() {
        common::skip("creating a device node (mknod) needs root");
        return;
    }
    // A node of its own (the sandbox's /dev/zero is writable, and Landlock rules go by inode),
    // on a filesystem that honours device nodes: /tmp is often a nodev tmpfs (systemd mounts it
    // so), then /var/tmp.
    let nodev = |p: &str| {
        rustix::fs::statvfs(p)
            .map(|s| s.f_flag.contains(rustix::fs::StatVfsMountFlags::NODEV))
            .unwrap_or(true)
    };
    let Some(base) = ["/tmp", "/var/tmp"].into_iter().find(|p| !nodev(p)) else {
        common::skip("both /tmp and /var/tmp are mounted nodev: no place for a device node");
        return;
    };
    let d = tempfile::Builder::new()
        .prefix("tsb-test-")
        .tempdir_in(base)
        .unwrap();
    std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let node = d.path().join("zero");
    let c = std::ffi::CString::new(node.as_os_str().as_bytes()).unwrap();
    // SAFETY: mknod(2) of a character device with a valid path.
    assert_eq!(
        unsafe { libc::mknod(c.as_ptr(), libc::S_IFCHR | 0o666, libc::makedev(1, 5)) },
        0
    );
    std::fs::set_permissions(&node, std::fs::Permissions::from_mode(0o666)).unwrap();
    let o = sh(
        "head -c 3 /zero-ro | wc -c; echo x > /zero-ro && echo WROTE",
        |c| {
            c.bind(&node, "/zero-ro", false);
        },
    )
    .await;
    assert_out(
        &o,
        2,
        "3\n",
        "/bin/sh: 1: cannot create /zero-ro: Permission denied\n",
    );
}

/// A device bound read-only beneath a writable mount would be writable (Landlock rights are
/// inherited from parent directories): refused with a clear error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_device_under_a_writable_mount_is_refused() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let mut cmd = Command::new("/bin/true");
    cmd.bind("/dev/zero", "/tmp/zero", false);
    match spawn_err(&mut cmd).await {
        SpawnError::Policy(PolicyError::ReadOnlyDeviceUnderWritable { device, parent }) => {
            assert_eq!(device, Path::new("/tmp/zero"));
            assert_eq!(parent, Path::new("/tmp"));
        }
        other => panic!("expected ReadOnlyDeviceUnderWritable, got {other:?}"),
    }
}

/// A chosen uid brings its gid along unless a gid is chosen too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gid_follows_a_chosen_uid() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let o = sh("id -u; id -g", |c| {
        c.uid(1000);
    })
    .await;
    assert_ok(&o, "1000\n1000\n");
    let o = sh("id -u; id -g", |c| {
        c.uid(1000).gid(1001);
    })
    .await;
    assert_ok(&o, "1000\n1001\n");
}

/// A program bound as a single file is found by a relative path and through `PATH`, and its
/// exec errors are the right ones (not "not found").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn programs_bound_as_single_files_are_found() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let d = rw_dir();
    let prog = d.path().join("mytrue");
    std::fs::copy("/bin/true", &prog).unwrap();
    std::fs::set_permissions(&prog, std::fs::Permissions::from_mode(0o755)).unwrap();
    // Through PATH, at another place.
    let mut cmd = Command::new("tsb-mytrue");
    cmd.bind(&prog, "/opt/bin/tsb-mytrue", false)
        .env("PATH", "/opt/bin:/usr/bin");
    let o = run(&mut cmd).await;
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // A non-executable single-file bind is EACCES, not "not found".
    let ne = d.path().join("ne.sh");
    write_file(&ne, "#!/bin/sh\necho hi\n", 0o644);
    let mut cmd = Command::new(&ne);
    cmd.read_only(&ne);
    match spawn_err(&mut cmd).await {
        SpawnError::NotExecutable { source, .. } => {
            assert_eq!(source.raw_os_error(), Some(libc::EACCES))
        }
        other => panic!("expected NotExecutable, got {other:?}"),
    }
}
