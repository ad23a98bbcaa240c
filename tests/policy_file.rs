//! The policy file: builder → TOML → builder gives the same policy (and the same plan), errors
//! name the offending key, and the CLI runs a real program from a file.

mod common;

use tokio_sandbox::{
    Command, Layers, Limits, Network, Policy, PolicyFileError, Property, Requirement, TmpfsLimits,
};

fn everything() -> Policy {
    let mut p = Policy::new();
    p.system(true)
        .read_only("/etc/hostname")
        .read_write("/tmp")
        .bind("/usr/share", "/share", false)
        .tmpfs("/scratch")
        .network(Network::Host)
        .uid(1000)
        .gid(1001)
        .tmpfs_size(64 << 20)
        .tmpfs_inodes(5000)
        .tmpfs_limits(
            "/dev/shm",
            TmpfsLimits {
                size: Some(1 << 30),
                inodes: None,
            },
        )
        .tmpfs_limits(
            "/scratch",
            TmpfsLimits {
                size: None,
                inodes: Some(7),
            },
        )
        .tmpdir("/tmp/t")
        .ptrace(false)
        .allow_retained_groups(true)
        .max_ptys(8)
        .new_session(false)
        .hostname("box")
        .allow_tcp_bind(8080)
        .allow_tcp_connect(443)
        .allow_tcp_connect(80)
        .limits(Limits {
            cpu_seconds: Some(3),
            memory: Some(1 << 30),
            processes: Some(99),
            ..Limits::default()
        })
        .layers(Layers {
            seccomp: false,
            ..Layers::default()
        })
        .require(Property::Network, Requirement::BestEffort);
    p
}

#[test]
fn policy_file_round_trips() {
    let p = everything();
    let text = p.to_toml().unwrap();
    let back = Policy::from_toml(&text).unwrap();
    assert_eq!(back, p, "{text}");
    assert_eq!(back.to_toml().unwrap(), text);
    // The default policy too, and from an empty file.
    assert_eq!(
        Policy::from_toml(&Policy::new().to_toml().unwrap()).unwrap(),
        Policy::new()
    );
    assert_eq!(Policy::from_toml("").unwrap(), Policy::new());
}

#[test]
fn policy_file_errors_point_at_the_key() {
    let e = Policy::from_toml("network = \"intranet\"\n").unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, PolicyFileError::Parse { path: None, .. }));
    assert!(msg.contains("line 1") && msg.contains("intranet"), "{msg}");
    let e = Policy::from_toml("[limits]\nmemroy = 5\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("memroy") && e.contains("line 2"), "{e}");
    match Policy::from_toml("[[mount]]\nbind = \"/usr\"\n").unwrap_err() {
        PolicyFileError::Mount {
            index,
            reason,
            path: None,
        } => {
            assert_eq!(index, 0);
            assert!(reason.contains("`to`"));
        }
        other => panic!("{other:?}"),
    }
    match Policy::from_toml("[[mount]]\nread_only = \"/a\"\ntmpfs = \"/b\"\n").unwrap_err() {
        PolicyFileError::Mount { index: 0, .. } => {}
        other => panic!("{other:?}"),
    }
}

/// Errors of a policy file read from disk name the file.
#[test]
fn policy_file_errors_name_the_file() {
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("sandbox.toml");
    std::fs::write(&f, "network = \"intranet\"\n").unwrap();
    let e = Policy::from_file(&f).unwrap_err();
    assert!(
        matches!(&e, PolicyFileError::Parse { path: Some(p), .. } if *p == f),
        "{e:?}"
    );
    let msg = e.to_string();
    assert!(
        msg.starts_with(&format!("policy file {f:?}: ")) && msg.contains("line 1"),
        "{msg}"
    );
    std::fs::write(&f, "[[mount]]\nbind = \"/usr\"\n").unwrap();
    let msg = Policy::from_file(&f).unwrap_err().to_string();
    assert!(
        msg.starts_with(&format!(
            "policy file {f:?}: mount entry 0: `bind` needs `to`"
        )),
        "{msg}"
    );
}

/// Sizes take the units the CLI takes (K, M, G, T, powers of 1024), or a number of bytes.
#[test]
fn policy_file_sizes_take_units() {
    let p = Policy::from_toml(
        "tmpfs_size = \"64M\"\ntmpfs_inodes = \"1M\"\n\
         [tmpfs.\"/dev/shm\"]\nsize = \"1G\"\n\
         [[mount]]\ntmpfs = \"/scratch\"\nsize = \"2g\"\ninodes = 100\n\
         [limits]\nmemory = \"256M\"\naddress_space = \"1T\"\nfile_size = \"10k\"\n",
    )
    .unwrap();
    let mut want = Policy::new();
    want.tmpfs_size(64 << 20)
        .tmpfs_inodes(1 << 20)
        .tmpfs_limits(
            "/dev/shm",
            TmpfsLimits {
                size: Some(1 << 30),
                inodes: None,
            },
        )
        .tmpfs_limits(
            "/scratch",
            TmpfsLimits {
                size: Some(2 << 30),
                inodes: Some(100),
            },
        )
        .tmpfs("/scratch")
        .limits(Limits {
            memory: Some(256 << 20),
            address_space: Some(1 << 40),
            file_size: Some(10 << 10),
            ..Limits::default()
        });
    assert_eq!(p, want);
    for bad in ["memory = \"12Q\"", "memory = \"lots\"", "memory = true"] {
        let e = Policy::from_toml(&format!("[limits]\n{bad}\n")).unwrap_err();
        assert!(e.to_string().contains("line 2"), "{bad}: {e}");
    }
    let e = Policy::from_toml("[[mount]]\nread_only = \"/a\"\nsize = 5\n").unwrap_err();
    assert!(
        e.to_string()
            .contains("`size` and `inodes` go with `tmpfs` only"),
        "{e}"
    );
}

#[test]
fn seccomp_filters_are_not_expressible() {
    let mut p = Policy::new();
    p.seccomp_filter(Vec::new());
    assert!(matches!(
        p.to_toml(),
        Err(PolicyFileError::NotExpressible("seccomp filters"))
    ));
}

/// A policy read from a file runs a real program with what the file says.
#[tokio::test]
async fn a_policy_file_runs_a_program() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let d = common::rw_dir();
    std::fs::write(d.path().join("data.txt"), "from the host\n").unwrap();
    let text = format!(
        "[[mount]]\nread_only = \"{}\"\n[[mount]]\ntmpfs = \"/scratch\"\n[limits]\nprocesses = 16\n",
        d.path().display()
    );
    let policy = Policy::from_toml(&text).unwrap();
    let out = Command::new("sh")
        .args([
            "-c",
            &format!(
                "cat {}/data.txt; touch /scratch/ok && echo scratch; \
                 grep 'Max processes' /proc/self/limits | tr -s ' '",
                d.path().display()
            ),
        ])
        .policy(policy)
        .stdout(tokio_sandbox::Stdio::piped())
        .spawn()
        .unwrap();
    assert_eq!(out.enforcement().process_limit, Some(16));
    let out = out.wait_with_output().await.unwrap();
    // The limit is RLIMIT_NPROC, or with cgroup limits the cgroup's pids.max (the rlimit
    // inside then stays the caller's).
    let nproc = if common::host::cgroup_limits() {
        let own = std::fs::read_to_string("/proc/self/limits").unwrap();
        let own = own
            .lines()
            .find(|l| l.starts_with("Max processes"))
            .unwrap();
        own.split_whitespace().collect::<Vec<_>>()[2..4].join(" ")
    } else {
        "16 16".to_string()
    };
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("from the host\nscratch\nMax processes {nproc} processes \n")
    );
}
