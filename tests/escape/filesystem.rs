//! Filesystem escapes: unlisted and read-only paths, `..` and symlinks out of a read-write
//! directory, hard links, file handles, `/proc/*/root`, the mount family, device nodes, set-ID
//! files, and filling the writable filesystems.

use libc::{EACCES, EBUSY, ENOENT, ENOSPC, EPERM, EROFS, EXDEV};

use crate::common::{self, rw_dir};
use crate::{errno, s, secret_dir, Attempt, Control};

/// A file in a directory the sandbox is not given is not there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fs_read_unlisted_path() {
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    let secret = secret_dir();
    Attempt::new("read")
        .arg(s(&secret.path().join("secret")))
        .check(&errno(ENOENT), Control::Ok, |_| {})
        .await;
}

/// A file in a read-only bind cannot be opened for writing (the bind is read-only, though the
/// file's mode lets everybody write it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fs_write_read_only_bind() {
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let d = secret_dir();
    let file = d.path().join("secret");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o666)).unwrap();
    Attempt::new("write")
        .arg(s(&d.path().join("secret")))
        .check(&errno(EROFS), Control::Ok, |c| {
            c.read_only(d.path());
        })
        .await;
}

/// No file can be created in a read-only bind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fs_create_in_read_only_bind() {
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    let d = rw_dir();
    Attempt::new("create")
        .arg(s(&d.path().join("new")))
        .control_args(s(&d.path().join("control")), "")
        .check(&errno(EROFS), Control::Ok, |c| {
            c.read_only(d.path());
        })
        .await;
    assert!(!d.path().join("new").exists());
}

/// The system runtime and the sandbox's root are read-only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fs_create_in_usr_and_root() {
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    for path in ["/usr/tsb-escape", "/tsb-escape", "/etc/tsb-escape"] {
        Attempt::new("create")
            .arg(path)
            .check(
                &errno(EROFS),
                Control::None("it would write the host's /usr, / or /etc"),
                |_| {},
            )
            .await;
    }
    assert!(!std::path::Path::new("/usr/tsb-escape").exists());
}

/// `..` out of a read-write bind stays in the sandbox's tree, where the host's sibling
/// directory does not exist.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fs_dotdot_out_of_read_write_bind() {
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    let (w, secret) = (rw_dir(), secret_dir());
    let name = secret.path().file_name().unwrap().to_str().unwrap();
    Attempt::new("read")
        .arg(format!("{}/../{name}/secret", s(w.path())))
        .check(&errno(ENOENT), Control::Ok, |c| {
            c.read_write(w.path());
        })
        .await;
}

/// A symlink made inside a read-write bind to a host directory resolves inside the sandbox,
/// where that directory does not exist.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fs_symlink_out_of_read_write_bind() {
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    let (w, secret) = (rw_dir(), secret_dir());
    Attempt::new("symlink_out")
        .arg(s(&w.path().join("link")))
        .arg2(s(secret.path()))
        .control_args(s(&w.path().join("control-link")), s(secret.path()))
        .check(&errno(ENOENT), Control::Ok, |c| {
            c.read_write(w.path());
        })
        .await;
}

/// A hard link from a read-only bind into a read-write one crosses mounts: EXDEV (else writes
/// through the link would change the read-only file).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fs_hardlink_read_only_file_into_read_write_bind() {
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    let (r, w) = (secret_dir(), rw_dir());
    let file = s(&r.path().join("secret"));
    Attempt::new("hardlink")
        .arg(&file)
        .arg2(s(&w.path().join("link")))
        .control_args(&file, s(&w.path().join("control-link")))
        .check(&errno(EXDEV), Control::Ok, |c| {
            c.read_only(r.path()).read_write(w.path());
        })
        .await;
    assert!(!w.path().join("link").exists());
}

/// A hard link to a file outside the sandbox: its source does not exist inside.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fs_hardlink_unlisted_file() {
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    let (secret, w) = (secret_dir(), rw_dir());
    let file = s(&secret.path().join("secret"));
    Attempt::new("hardlink")
        .arg(&file)
        .arg2(s(&w.path().join("link")))
        .control_args(&file, s(&w.path().join("control-link")))
        .check(&errno(ENOENT), Control::Ok, |c| {
            c.read_write(w.path());
        })
        .await;
}

/// `open_by_handle_at` (which bypasses path lookup) is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fs_open_by_handle_at() {
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    let d = secret_dir();
    Attempt::new("open_by_handle_at")
        .arg(s(&d.path().join("secret")))
        .check(&errno(EPERM), Control::Root("ok".into()), |c| {
            c.read_only(d.path());
        })
        .await;
}

/// `/proc/self/root` is the sandbox's root.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fs_proc_self_root() {
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    let secret = secret_dir();
    Attempt::new("read")
        .arg(format!("/proc/self/root{}/secret", s(secret.path())))
        .check(&errno(ENOENT), Control::Ok, |_| {})
        .await;
}

/// `/proc/1/root` and `/proc/1/cwd` belong to the sandbox's init, which no program may inspect
/// although it runs as the same user. The control follows the same links of a host process of
/// its own user (the test process).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fs_proc_1_root_and_cwd() {
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    let secret = secret_dir();
    let (pid, file) = (std::process::id(), format!("{}/secret", s(secret.path())));
    Attempt::new("read")
        .arg(format!("/proc/1/root{file}"))
        .control_args(format!("/proc/{pid}/root{file}"), "")
        .check(&errno(EACCES), Control::Ok, |_| {})
        .await;
    let cwd = std::env::current_dir().unwrap();
    Attempt::new("readlink")
        .arg("/proc/1/cwd")
        .control_args(format!("/proc/{pid}/cwd"), "")
        .check(
            &errno(EACCES),
            Control::Host(format!("target {}", cwd.display())),
            |_| {},
        )
        .await;
}

/// `chroot`: refused (no capability, and the seccomp filter).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fs_chroot() {
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    let w = rw_dir();
    Attempt::new("chroot")
        .arg(s(w.path()))
        .check(&errno(EPERM), Control::Userns, |c| {
            c.read_write(w.path());
        })
        .await;
}

/// `pivot_root`: refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fs_pivot_root() {
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    let w = rw_dir();
    std::fs::create_dir(w.path().join("old")).unwrap();
    let control = rw_dir();
    Attempt::new("pivot_root")
        .arg(s(w.path()))
        .control_args(s(control.path()), "")
        .check(&errno(EPERM), Control::Userns, |c| {
            c.read_write(w.path());
        })
        .await;
}

/// `mount` of a tmpfs: refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fs_mount() {
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    let w = rw_dir();
    Attempt::new("mount_tmpfs")
        .arg(s(w.path()))
        .check(&errno(EPERM), Control::Userns, |c| {
            c.read_write(w.path());
        })
        .await;
}

/// `umount` of the sandbox's own `/tmp` (which would uncover what lies below): refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fs_umount() {
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    let control = rw_dir();
    Attempt::new("umount")
        .arg("/tmp")
        .control_args(s(control.path()), "")
        .check(&errno(EPERM), Control::Userns, |_| {})
        .await;
}

/// `open_tree` (a detached copy of a mount): refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fs_open_tree() {
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    Attempt::new("open_tree")
        .arg("/")
        .check(&errno(EPERM), Control::Userns, |_| {})
        .await;
}

/// `move_mount`: refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fs_move_mount() {
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    let w = rw_dir();
    for d in ["from", "to"] {
        std::fs::create_dir(w.path().join(d)).unwrap();
    }
    Attempt::new("move_mount")
        .arg(s(&w.path().join("from")))
        .arg2(s(&w.path().join("to")))
        .check(&errno(EPERM), Control::Userns, |c| {
            c.read_write(w.path());
        })
        .await;
}

/// `fsopen` (the new mount API): refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fs_fsopen() {
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    Attempt::new("fsopen")
        .check(&errno(EPERM), Control::Userns, |_| {})
        .await;
}

/// `mknod` of a character device (1:3, `/dev/null`) in a read-write bind: refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fs_mknod_device() {
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    let w = rw_dir();
    Attempt::new("mknod_char")
        .arg(s(&w.path().join("null")))
        .control_args(s(&w.path().join("control-null")), "")
        .check(&errno(EPERM), Control::Root("ok".into()), |c| {
            c.read_write(w.path());
        })
        .await;
    assert!(!w.path().join("null").exists());
}

/// An overlayfs whiteout (character device 0:0, which the kernel lets any user create) in a
/// read-write bind: refused, so that it cannot hide files should the directory become an
/// overlay layer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fs_mknod_whiteout() {
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    let w = rw_dir();
    Attempt::new("mknod_whiteout")
        .arg(s(&w.path().join("wh")))
        .control_args(s(&w.path().join("control-wh")), "")
        .check(&errno(EPERM), Control::Ok, |c| {
            c.read_write(w.path());
        })
        .await;
    assert!(!w.path().join("wh").exists());
}

/// A set-user-ID bit on a file in a read-write bind is refused, and the file on the host has no
/// set-ID bit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fs_setuid_file_in_read_write_bind() {
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let w = rw_dir();
    let file = w.path().join("suid");
    Attempt::new("chmod_setuid")
        .arg(s(&file))
        .control_args(s(&w.path().join("control-suid")), "")
        .check(&errno(EPERM), Control::Ok, |c| {
            c.read_write(w.path());
        })
        .await;
    let mode = std::fs::metadata(&file).unwrap().permissions().mode();
    assert_eq!(mode & 0o7000, 0, "mode {mode:o} on the host");
}

/// A set-group-ID file made with `O_TMPFILE`: refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fs_o_tmpfile_setgid() {
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    let w = rw_dir();
    Attempt::new("o_tmpfile_setgid")
        .arg(s(w.path()))
        .check(&errno(EPERM), Control::Ok, |c| {
            c.read_write(w.path());
        })
        .await;
}

/// Filling `/tmp`, `/dev/shm` and `$HOME` stops at their size limit with ENOSPC.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fs_fill_tmpfs() {
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    let home = common::default_user().1;
    for path in ["/tmp/fill", "/dev/shm/fill", &format!("{home}/fill")] {
        Attempt::new("fill")
            .arg(path)
            .check(
                &errno(ENOSPC),
                Control::None("it would fill the host's filesystem"),
                |c| {
                    c.policy_mut().tmpfs_size(8 << 20);
                },
            )
            .await;
    }
}

/// A sandbox a root caller runs as host uid 0 (`Command::uid(0)`, `--uid 0`) owns, as the
/// host's root, what /proc shares with the whole host: the mode and owner of each entry of its
/// top level that is not a process's (`/proc/meminfo`, `/proc/tty`, ...) are the kernel's one
/// entry for every procfs, and the cover of `/proc/cmdline` and the root-only files is the
/// host's `/dev/null`. Each is read-only there: chmod to the mode it already has (a change of
/// nothing, so the host is left as it was whatever happens) gives EROFS, and so does utimes of
/// the cover. The control makes the same calls as root on the host, where each succeeds. A
/// sandbox of any other uid gets EPERM from their modes (also checked as uid 65534).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fs_proc_host_wide_entries_read_only_for_host_uid_0() {
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    let all = Attempt::new("proc_chmod_all");
    assert_eq!(
        all.in_sandbox(|_| {}).await,
        "chmod ok: none; other: none",
        "a sandbox of the default uid"
    );
    if !common::is_root() {
        common::skip("a sandbox runs as host uid 0 only for a root caller");
        return;
    }
    let uid0 = |c: &mut tokio_sandbox::Command| {
        c.uid(0);
    };
    let host = all.on_host(false);
    assert!(
        host.starts_with("chmod ok: ") && host.contains(" execdomains ") && host.contains(" tty "),
        "the control as root on the host: {host}"
    );
    assert_eq!(
        all.in_sandbox(uid0).await,
        "chmod ok: none; other: none",
        "as host uid 0"
    );
    for entry in ["/proc/execdomains", "/proc/tty/drivers", "/proc/tty"] {
        Attempt::new("chmod_same")
            .arg(entry)
            .check(&errno(EROFS), Control::Root("ok".into()), uid0)
            .await;
    }
    // The cover: the control makes the calls on the host's /dev/null, which it is.
    for name in ["chmod_same", "utime_same"] {
        Attempt::new(name)
            .arg("/proc/cmdline")
            .control_args("/dev/null", "")
            .check(&errno(EROFS), Control::Root("ok".into()), uid0)
            .await;
    }
    for name in ["chmod_same", "utime_same"] {
        let got = Attempt::new(name).arg("/proc/keys").in_sandbox(uid0).await;
        assert_eq!(got, errno(EROFS), "{name} /proc/keys");
    }
}

/// The host's kernel command line is not shown: `/proc/cmdline` reads empty, also when the
/// policy binds a `/dev` of its own (the cover is the host's `/dev/null`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fs_proc_cmdline_is_empty() {
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    let a = Attempt::new("size").arg("/proc/cmdline");
    let host = a.on_host(false);
    assert!(
        host.starts_with("bytes ") && host != "bytes 0",
        "control: {host}"
    );
    assert_eq!(a.in_sandbox(|_| {}).await, "bytes 0");
    let fake_dev = rw_dir();
    let out = a
        .in_sandbox(|c| {
            c.bind(fake_dev.path(), "/dev", false);
        })
        .await;
    assert_eq!(out, "bytes 0");
}

/// A read-only path two levels inside a read-write bind (`proj` read-write, `proj/.git/hooks`
/// read-only): renaming `proj/.git` would move the read-only mount away with it and let the
/// program build a new `proj/.git/hooks` on the host. Every directory between the two is a
/// mount point, which rename(2) refuses with EBUSY; on the host the rename succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fs_rename_around_a_read_only_island() {
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    let (w, control) = (rw_dir(), rw_dir());
    for root in [w.path(), control.path()] {
        std::fs::create_dir_all(root.join(".git/hooks")).unwrap();
        std::fs::write(root.join(".git/hooks/pre-commit"), "original\n").unwrap();
    }
    let hooks = w.path().join(".git/hooks");
    Attempt::new("rename")
        .arg(s(&w.path().join(".git")))
        .arg2(s(&w.path().join(".git-moved")))
        .control_args(
            s(&control.path().join(".git")),
            s(&control.path().join(".git-moved")),
        )
        .check(&errno(EBUSY), Control::Ok, |c| {
            c.read_write(w.path()).read_only(&hooks);
        })
        .await;
    assert_eq!(
        std::fs::read_to_string(hooks.join("pre-commit")).unwrap(),
        "original\n"
    );
}

/// Removes what a test put on the host when it ends, also when it fails.
struct RemoveOnDrop(Vec<std::path::PathBuf>);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = std::fs::remove_dir_all(p).or_else(|_| std::fs::remove_file(p));
        }
    }
}

/// A private file among the CA certificates (a key someone left in `/etc/ssl/certs` with mode
/// 0600) and a private directory there (0700, a file inside) are not shown, not even to a
/// sandbox run as host uid 0, which owns them: the file is covered (it reads empty) and the
/// directory is covered with an empty one. The control reads both as root on the host. Needs a
/// root caller, to put them in `/etc` (removed when the test ends, also when it fails).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fs_private_entries_inside_exposed_etc_directories() {
    use std::os::unix::fs::PermissionsExt;
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    let certs = std::path::Path::new("/etc/ssl/certs");
    if !common::is_root() || !certs.is_dir() {
        common::skip("needs a root caller (to put a private file in /etc) and /etc/ssl/certs");
        return;
    }
    let tag = format!("tsb-escape-{}", std::process::id());
    let key = certs.join(format!("{tag}.key"));
    let dir = certs.join(format!("{tag}.d"));
    let _cleanup = RemoveOnDrop(vec![key.clone(), dir.clone()]);
    std::fs::write(&key, "-----BEGIN PRIVATE KEY-----\n").unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("inside"), "x").unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    let uid0 = |c: &mut tokio_sandbox::Command| {
        c.uid(0);
    };
    Attempt::new("size")
        .arg(s(&key))
        .check("bytes 0", Control::Root("bytes 28".into()), uid0)
        .await;
    Attempt::new("list")
        .arg(s(&dir))
        .check("entries", Control::Root("entries inside".into()), uid0)
        .await;
    // The default uid: the file reads empty too, and the directory's mode is the cover's.
    let got = Attempt::new("size").arg(s(&key)).in_sandbox(|_| {}).await;
    assert_eq!(got, "bytes 0");
    // The public certificates are still there.
    let listed = Attempt::new("list").arg(s(certs)).in_sandbox(uid0).await;
    assert!(listed.contains(&format!("{tag}.key")), "{listed}");
    assert!(listed.split(' ').count() > 3, "{listed}");
}

/// C45: with the host network the CA certificates and OpenSSL's configuration are there, but not
/// the private keys beside them, not even for a sandbox run as host uid 0 (as a root caller may
/// ask): `/etc/ssl/private` (Fedora: `/etc/pki/tls/private`) is not in the sandbox. The
/// control, as root, reads a key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fs_private_keys_with_the_host_network() {
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    let dirs: Vec<&str> = ["/etc/ssl/private", "/etc/pki/tls/private"]
        .into_iter()
        .filter(|d| std::path::Path::new(d).exists())
        .collect();
    if dirs.is_empty() {
        common::skip("the host has no directory of private keys");
        return;
    }
    let host_network = |c: &mut tokio_sandbox::Command| {
        c.network(tokio_sandbox::Network::Host);
        if common::is_root() {
            c.uid(0);
        }
    };
    for dir in dirs {
        // A key the control reads as root (root only may list the directory).
        let key = std::fs::read_dir(dir).ok().and_then(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .find(|p| p.is_file())
                .map(|p| s(&p))
        });
        match key {
            Some(key) => {
                let size = std::fs::metadata(&key).unwrap().len();
                Attempt::new("size")
                    .arg(&key)
                    .check(
                        &errno(ENOENT),
                        Control::Root(format!("bytes {size}")),
                        host_network,
                    )
                    .await
            }
            None => {
                Attempt::new("list")
                    .arg(dir)
                    .check(
                        &errno(ENOENT),
                        Control::None("no key the test user can name"),
                        host_network,
                    )
                    .await
            }
        }
    }
    // The public part is there.
    if std::path::Path::new("/etc/ssl/certs").is_dir() {
        let got = Attempt::new("list")
            .arg("/etc/ssl")
            .in_sandbox(host_network)
            .await;
        let mut want: Vec<&str> = ["certs", "openssl.cnf"]
            .into_iter()
            .filter(|n| std::path::Path::new("/etc/ssl").join(n).exists())
            .collect();
        want.sort();
        assert_eq!(got, format!("entries {}", want.join(" ")));
    }
}
