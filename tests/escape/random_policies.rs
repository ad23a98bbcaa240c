//! Random policies over a small host tree, checked against a model of what the sandbox must
//! see.
//!
//! The tree (under a fresh `common::rw_dir()`, `R`):
//!
//! ```text
//! R/ d0/ f0  s0/ f1      d1/ f2      f3
//! ```
//!
//! A policy is a short list of rules: tree nodes bound read-only or read-write at their own
//! place or at another destination (`/a-tsb0`, `/a-tsb0/s0`, `/a-tsb1/deep` for directories,
//! `/a-tsbf`, `/a-tsb0/f0` for files), tmpfs mounts, and hostile variants of each: sources
//! written with `.`, `..` or as a path relative to the working directory, missing sources
//! (also behind `..` and below a file), NUL bytes, relative destinations (which resolve
//! against the working directory) and destinations that normalize to `/`.
//!
//! The model follows the documented rules: rules are checked in order and the first invalid
//! one decides the error (`NulByte`, `MissingPath` with the kernel's errno, then `RootBind`); a destination inside another bind must exist in that bind's source
//! (else a `Bind` setup error with ENOENT naming the source); a policy is a set (read-write
//! wins for the same source and destination, and another source at the same destination
//! replaces the earlier one with its own mode); the innermost bind decides a path's mode; the
//! directories leading to a mount point, and those a source's `..` passes through, are empty,
//! read-only in the sandbox's root and writable under its private `/tmp`. When the model expects success, a shell in the sandbox
//! reports every candidate path (each tree path, each destination and what could appear below
//! it): absent, or a file or directory with its contents and whether writing is refused with
//! EROFS. The report must equal the model exactly, and the host tree must be unchanged
//! afterwards (nothing appears at the destinations on the host either).

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

use crate::common;
use tokio_sandbox::{Command, Policy, PolicyError, SpawnError, Stage};

/// Tree nodes relative to `R` (`""` is `R` itself) and whether each is a directory.
const NODES: &[(&str, bool)] = &[
    ("", true),
    ("d0", true),
    ("d0/f0", false),
    ("d0/s0", true),
    ("d0/s0/f1", false),
    ("d1", true),
    ("d1/f2", false),
    ("f3", false),
];

/// Destinations for directories and for files. They sort before `/bin` (and before the tree
/// under `/tmp`), so the ops that can fail run first.
const DIR_DSTS: &[&str] = &["/a-tsb0", "/a-tsb0/s0", "/a-tsb1/deep"];
const FILE_DSTS: &[&str] = &["/a-tsbf", "/a-tsb0/f0"];
const TMPFS_DSTS: &[&str] = &["/a-tsbt0", "/a-tsbt1/deep"];
/// Top-level names the policies use; none may exist on the host.
const TOP_NAMES: &[&str] = &["/a-tsb0", "/a-tsb1", "/a-tsbf", "/a-tsbt0", "/a-tsbt1"];

/// Missing sources relative to `R`, with the errno the kernel gives for each.
const MISSING: &[(&str, i32)] = &[
    ("missing", libc::ENOENT),
    ("d0/missing", libc::ENOENT),
    ("f3/below", libc::ENOTDIR),
    ("nope/../d0", libc::ENOENT),
    ("d0/s0/../../nope", libc::ENOENT),
];

/// How a source is written.
#[derive(Debug, Clone, Copy)]
enum Form {
    /// `R/<node>`
    Plain,
    /// `R/./<node>` (with `.` inside the path too for nested nodes)
    Dotted,
    /// `R/d1/../<node>`
    ViaSibling,
    /// `../../..(x40)/<R without the leading />/<node>`, relative to the working directory
    Relative,
}

#[derive(Debug, Clone)]
enum Src {
    Node(usize, Form),
    /// An entry of `MISSING`.
    Missing(usize),
    /// A relative path that does not exist below the working directory.
    RelativeMissing,
    /// `R/<node>` with a NUL byte inside.
    Nul(usize),
}

/// How a destination is written (for a valid destination index).
#[derive(Debug, Clone, Copy)]
enum DstForm {
    Plain,
    /// `/x/../<dst>`
    Climb,
    /// `/./<dst>` with `//` inside
    Slashes,
}

#[derive(Debug, Clone)]
enum Dst {
    /// An index into the destinations of the source's kind.
    Valid(usize, DstForm),
    Relative,
    Nul,
    /// A destination that normalizes to `/`.
    Root,
}

#[derive(Debug, Clone)]
enum RuleSpec {
    SamePlace { src: Src, writable: bool },
    Elsewhere { src: Src, dst: Dst, writable: bool },
    Tmpfs { dst: Dst },
}

fn form() -> impl Strategy<Value = Form> {
    prop_oneof![
        4 => Just(Form::Plain),
        1 => Just(Form::Dotted),
        1 => Just(Form::ViaSibling),
        1 => Just(Form::Relative),
    ]
}

fn src() -> impl Strategy<Value = Src> {
    prop_oneof![
        40 => (0..NODES.len(), form()).prop_map(|(n, f)| Src::Node(n, f)),
        1 => (0..MISSING.len()).prop_map(Src::Missing),
        1 => Just(Src::RelativeMissing),
        1 => (0..NODES.len()).prop_map(Src::Nul),
    ]
}

fn dst() -> impl Strategy<Value = Dst> {
    let form = prop_oneof![
        4 => Just(DstForm::Plain),
        1 => Just(DstForm::Climb),
        1 => Just(DstForm::Slashes),
    ];
    prop_oneof![
        40 => (0..6usize, form).prop_map(|(i, f)| Dst::Valid(i, f)),
        1 => Just(Dst::Relative),
        1 => Just(Dst::Nul),
        1 => Just(Dst::Root),
    ]
}

fn rule() -> impl Strategy<Value = RuleSpec> {
    prop_oneof![
        6 => (src(), any::<bool>()).prop_map(|(src, writable)| RuleSpec::SamePlace { src, writable }),
        4 => (src(), dst(), any::<bool>())
            .prop_map(|(src, dst, writable)| RuleSpec::Elsewhere { src, dst, writable }),
        1 => dst().prop_map(|dst| RuleSpec::Tmpfs { dst }),
    ]
}

/// The concrete rule given to the policy.
#[derive(Debug, Clone)]
enum Rule {
    Bind {
        src: PathBuf,
        dst: Option<PathBuf>,
        writable: bool,
    },
    Tmpfs(PathBuf),
}

/// Turns the specs into concrete rules over the tree at `root`.
fn concrete(root: &Path, specs: &[RuleSpec]) -> Vec<Rule> {
    let node_path = |n: usize| root.join(NODES[n].0);
    let src_path = |s: &Src| -> PathBuf {
        match s {
            Src::Node(n, Form::Plain) => node_path(*n),
            Src::Node(n, Form::Dotted) => {
                let rel = NODES[*n].0.replacen('/', "/./", 1);
                root.join(".").join(rel)
            }
            Src::Node(n, Form::ViaSibling) => root.join("d1/..").join(NODES[*n].0),
            Src::Node(n, Form::Relative) => {
                let mut p = PathBuf::new();
                for _ in 0..40 {
                    p.push("..");
                }
                p.join(root.strip_prefix("/").unwrap()).join(NODES[*n].0)
            }
            Src::Missing(i) => root.join(MISSING[*i].0),
            Src::RelativeMissing => PathBuf::from("tsb-relative-missing/x"),
            Src::Nul(n) => {
                let mut b = node_path(*n).into_os_string().into_vec();
                b.extend_from_slice(b"\0x");
                PathBuf::from(std::ffi::OsString::from_vec(b))
            }
        }
    };
    let dst_path = |d: &Dst, choices: &[&str]| -> PathBuf {
        match d {
            Dst::Valid(i, f) => {
                let base = choices[i % choices.len()];
                PathBuf::from(match f {
                    DstForm::Plain => base.to_string(),
                    DstForm::Climb => format!("/x/..{base}"),
                    DstForm::Slashes => format!("/.{}", base.replacen('/', "//", 2)),
                })
            }
            Dst::Relative => PathBuf::from("a-tsb-relative"),
            Dst::Nul => PathBuf::from(OsStr::from_bytes(b"/a-tsb\0")),
            Dst::Root => PathBuf::from(format!("{}/..", choices[0])),
        }
    };
    let mut out = Vec::new();
    for spec in specs {
        match spec {
            RuleSpec::SamePlace { src, writable } => out.push(Rule::Bind {
                src: src_path(src),
                dst: None,
                writable: *writable,
            }),
            RuleSpec::Elsewhere { src, dst, writable } => {
                let is_dir = match src {
                    Src::Node(n, _) | Src::Nul(n) => NODES[*n].1,
                    _ => true,
                };
                let choices = if is_dir { DIR_DSTS } else { FILE_DSTS };
                out.push(Rule::Bind {
                    src: src_path(src),
                    dst: Some(dst_path(dst, choices)),
                    writable: *writable,
                });
            }
            RuleSpec::Tmpfs { dst } => out.push(Rule::Tmpfs(dst_path(dst, TMPFS_DSTS))),
        }
    }
    out
}

/// What a spawn must give.
#[derive(Debug, PartialEq, Eq)]
enum Expected {
    NulByte(PathBuf),
    RelativeDestination(PathBuf),
    MissingPath(PathBuf, i32),
    RootBind(PathBuf),
    BindSetup(PathBuf, i32),
    Runs(BTreeMap<PathBuf, State>),
}

/// What the sandbox shows at a path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Absent,
    /// A path below a file: `ENOTDIR`, as on the host.
    NotDir,
    /// Contents, and whether writing works (`rw`) or is refused with EROFS (`ro`).
    File(String, &'static str),
    /// Sorted entries, and the same mode.
    Dir(Vec<String>, &'static str),
    /// Anything else the probe reported (a symlink, another errno).
    Other(String),
}

/// Kernel path resolution of an absolute host path: `..` after the component before it,
/// symlinks followed. Returns the result and the directories `..` left (the walk passes
/// through them), or the errno lstat(2) gives.
fn resolve(abs: &Path) -> Result<(PathBuf, Vec<PathBuf>), i32> {
    let mut todo: Vec<std::ffi::OsString> = abs
        .components()
        .rev()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_os_string()),
            Component::ParentDir => Some("..".into()),
            _ => None,
        })
        .collect();
    let mut cur = PathBuf::from("/");
    let mut passed = Vec::new();
    let mut links = 0;
    while let Some(c) = todo.pop() {
        if c == ".." {
            if cur != Path::new("/") {
                passed.push(cur.clone());
            }
            cur.pop();
            continue;
        }
        let cand = cur.join(&c);
        let m = std::fs::symlink_metadata(&cand).map_err(|e| e.raw_os_error().unwrap())?;
        if m.file_type().is_symlink() {
            links += 1;
            assert!(links < 40, "symlink loop in {abs:?}");
            let t = std::fs::read_link(&cand).unwrap();
            if t.is_absolute() {
                cur = PathBuf::from("/");
            }
            for tc in t.components().rev() {
                match tc {
                    Component::Normal(n) => todo.push(n.to_os_string()),
                    Component::ParentDir => todo.push("..".into()),
                    _ => {}
                }
            }
        } else {
            cur = cand;
        }
    }
    Ok((cur, passed))
}

/// A sandbox destination with `.` and `..` resolved lexically.
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in p.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

fn has_nul(p: &Path) -> bool {
    p.as_os_str().as_bytes().contains(&0)
}

/// The model: the outcome the crate's documented rules give for `rules` over the host as it
/// is, with `candidates` the sandbox paths to report.
fn model(rules: &[Rule], candidates: &BTreeSet<PathBuf>) -> Expected {
    let cwd = std::env::current_dir().unwrap();
    // dst -> (canonical src, is_dir, writable)
    let mut binds: BTreeMap<PathBuf, (PathBuf, bool, bool)> = BTreeMap::new();
    let mut tmpfs: BTreeSet<PathBuf> = BTreeSet::new();
    // Directories a same-place source's walk passes through with `..`: they exist inside, so
    // that the program can open the source as written.
    let mut passed: BTreeSet<PathBuf> = BTreeSet::new();
    for r in rules {
        match r {
            Rule::Bind { src, dst, writable } => {
                if has_nul(src) {
                    return Expected::NulByte(src.clone());
                }
                if let Some(d) = dst {
                    if has_nul(d) {
                        return Expected::NulByte(d.clone());
                    }
                }
                // A relative destination resolves against the working directory.
                let dst = dst.as_ref().map(|d| cwd.join(d));
                let abs: PathBuf = cwd
                    .join(src)
                    .components()
                    .filter(|c| !matches!(c, Component::CurDir))
                    .collect();
                let (canon, through) = match resolve(&abs) {
                    Ok(r) => r,
                    Err(errno) => return Expected::MissingPath(abs, errno),
                };
                if dst.is_none() {
                    passed.extend(through);
                }
                let is_dir = std::fs::metadata(&canon).unwrap().is_dir();
                let key = dst.as_deref().map_or(canon.clone(), normalize);
                // The same bind twice is read-write if either asks; another source at the
                // same destination replaces the earlier one, with its own mode.
                match binds.get_mut(&key) {
                    Some(e) if e.0 == canon => e.2 |= *writable,
                    _ => {
                        binds.insert(key, (canon, is_dir, *writable));
                    }
                }
            }
            Rule::Tmpfs(d) => {
                if has_nul(d) {
                    return Expected::NulByte(d.clone());
                }
                tmpfs.insert(normalize(&cwd.join(d)));
            }
        }
    }
    if let Some((src, _, _)) = binds.get(Path::new("/")) {
        return Expected::RootBind(src.clone());
    }
    if tmpfs.contains(Path::new("/")) {
        return Expected::RootBind(PathBuf::from("tmpfs"));
    }
    // The innermost bind strictly above `p`, if any.
    let enclosing = |p: &Path| {
        binds
            .iter()
            .filter(|(d, _)| p != d.as_path() && p.starts_with(d))
            .max_by_key(|(d, _)| d.components().count())
    };
    // Mount points inside another bind must exist there, of the same kind (parents first).
    for (dst, (src, is_dir, _)) in &binds {
        if let Some((edst, (esrc, _, _))) = enclosing(dst) {
            let host = esrc.join(dst.strip_prefix(edst).unwrap());
            match std::fs::symlink_metadata(&host) {
                Ok(m) if m.is_dir() == *is_dir => {}
                Ok(_) => return Expected::BindSetup(src.clone(), libc::EINVAL),
                Err(e) => return Expected::BindSetup(src.clone(), e.raw_os_error().unwrap()),
            }
        }
    }
    let mode = |w: bool| if w { "rw" } else { "ro" };
    let mut view = BTreeMap::new();
    for p in candidates {
        let bind = binds
            .iter()
            .filter(|(d, _)| p.starts_with(d))
            .max_by_key(|(d, _)| d.components().count());
        let tmp = tmpfs.iter().find(|t| p.starts_with(t));
        let state = if let Some(t) = tmp {
            if p == t {
                State::Dir(Vec::new(), "rw")
            } else {
                State::Absent
            }
        } else if let Some((d, (src, _, w))) = bind {
            let rest = p.strip_prefix(d).unwrap();
            // (Joining an empty path would add a trailing slash, ENOTDIR on a file.)
            let host = if rest.as_os_str().is_empty() {
                src.clone()
            } else {
                src.join(rest)
            };
            match std::fs::symlink_metadata(&host) {
                Ok(m) if m.is_dir() => {
                    let mut names: Vec<String> = std::fs::read_dir(&host)
                        .unwrap()
                        .map(|e| e.unwrap().file_name().into_string().unwrap())
                        .collect();
                    names.sort();
                    State::Dir(names, mode(*w))
                }
                Ok(_) => State::File(std::fs::read_to_string(&host).unwrap(), mode(*w)),
                // Below a bound file (a relative destination takes files and directories).
                Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) => State::NotDir,
                Err(_) => State::Absent,
            }
        } else {
            // A directory leading to a mount point or passed through by `..`: empty but for
            // the way to those.
            let below: BTreeSet<String> = binds
                .keys()
                .chain(tmpfs.iter())
                .chain(passed.iter())
                .filter(|d| d.as_path() != p && d.starts_with(p))
                .map(|d| {
                    let rest = d.strip_prefix(p).unwrap();
                    let first = rest.components().next().unwrap();
                    first.as_os_str().to_str().unwrap().to_string()
                })
                .collect();
            if below.is_empty() && !passed.contains(p) {
                State::Absent
            } else {
                // The sandbox's root is read-only; its private /tmp is writable.
                let m = if p.starts_with("/tmp") { "rw" } else { "ro" };
                State::Dir(below.into_iter().collect(), m)
            }
        };
        view.insert(p.clone(), state);
    }
    Expected::Runs(view)
}

/// Reports each path given as an argument, one line each:
/// `PATH absent` | `PATH notdir` | `PATH file MODE CONTENTS` | `PATH dir MODE ENTRY...` | `PATH other WHAT`.
const PROBE: &str = r#"
mode() {
    case "$1" in
        *"Read-only file system"*) echo ro ;;
        *) echo "error:$1" ;;
    esac
}
for p; do
    if [ -L "$p" ]; then
        echo "$p other symlink"
    elif [ -d "$p" ]; then
        if e=$(touch "$p/.tsb-probe" 2>&1); then rm -f "$p/.tsb-probe"; m=rw; else m=$(mode "$e"); fi
        echo "$p dir $m" $(ls -A "$p")
    elif [ -f "$p" ]; then
        if e=$( (: >> "$p") 2>&1); then m=rw; else m=$(mode "$e"); fi
        echo "$p file $m $(cat "$p")"
    elif e=$(ls -d "$p" 2>&1); then
        echo "$p other exists"
    else
        case "$e" in
            *"No such file or directory"*) echo "$p absent" ;;
            *"Not a directory"*) echo "$p notdir" ;;
            *) echo "$p other $e" ;;
        esac
    fi
done
"#;

fn parse_report(out: &str) -> BTreeMap<PathBuf, State> {
    out.lines()
        .map(|line| {
            let mut it = line.splitn(4, ' ');
            let path = PathBuf::from(it.next().unwrap());
            let kind = it.next().unwrap_or("");
            let mode = it.next().unwrap_or("");
            let rest = it.next().unwrap_or("");
            let m = match mode {
                "rw" => "rw",
                "ro" => "ro",
                _ => "",
            };
            let state = match (kind, m) {
                ("absent", _) => State::Absent,
                ("notdir", _) => State::NotDir,
                ("file", "rw" | "ro") => State::File(rest.to_string(), m),
                ("dir", "rw" | "ro") => {
                    State::Dir(rest.split_whitespace().map(str::to_string).collect(), m)
                }
                _ => State::Other(line.to_string()),
            };
            (path, state)
        })
        .collect()
}

/// Creates the tree under `root`, owned by the sandbox's host id so that read-write binds are
/// allowed and only the mount mode decides writes.
fn make_tree(root: &Path) {
    let (uid, gid) = common::sandbox_host_ids();
    for (rel, is_dir) in NODES.iter().skip(1) {
        let p = root.join(rel);
        if *is_dir {
            std::fs::create_dir(&p).unwrap();
        } else {
            std::fs::write(&p, format!("c:{rel}")).unwrap();
        }
        if common::is_root() {
            std::os::unix::fs::chown(&p, Some(uid), Some(gid)).unwrap();
        }
    }
}

/// Every path below `root` with its contents (`dir` for directories).
fn snapshot(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(p) = todo.pop() {
        let m = std::fs::symlink_metadata(&p).unwrap();
        if m.is_dir() {
            for e in std::fs::read_dir(&p).unwrap() {
                todo.push(e.unwrap().path());
            }
            out.insert(p, b"dir".to_vec());
        } else {
            out.insert(p.clone(), std::fs::read(&p).unwrap());
        }
    }
    out
}

/// The sandbox paths reported for every policy.
fn candidates(root: &Path) -> BTreeSet<PathBuf> {
    let mut c = BTreeSet::new();
    for (rel, _) in NODES {
        c.insert(root.join(rel));
    }
    let below = [
        "f0", "s0", "s0/f1", "f1", "f2", "d0", "d1", "f3", "d0/f0", "d1/f2",
    ];
    let relative = std::env::current_dir().unwrap().join("a-tsb-relative");
    for d in DIR_DSTS.iter().map(PathBuf::from).chain([relative]) {
        for b in below {
            c.insert(d.join(b));
        }
        c.insert(d);
    }
    for d in FILE_DSTS.iter().chain(TMPFS_DSTS).chain(TOP_NAMES) {
        c.insert(PathBuf::from(d));
    }
    c.insert(PathBuf::from("/a-tsbt1/deep/x"));
    c
}

/// Runs one policy over the tree at `root` and checks it against the model.
async fn check_on(root: &Path, rules: &[Rule]) -> Result<&'static str, TestCaseError> {
    let cands = candidates(root);
    let expected = model(rules, &cands);
    let kind = match &expected {
        Expected::NulByte(_) => "NulByte",
        Expected::RelativeDestination(_) => "RelativeDestination",
        Expected::MissingPath(..) => "MissingPath",
        Expected::RootBind(_) => "RootBind",
        Expected::BindSetup(..) => "Bind setup error",
        Expected::Runs(_) => "ran",
    };
    let before = snapshot(root);
    let mut policy = Policy::new();
    for r in rules {
        match r {
            Rule::Bind {
                src,
                dst: None,
                writable: false,
            } => policy.read_only(src),
            Rule::Bind {
                src,
                dst: None,
                writable: true,
            } => policy.read_write(src),
            Rule::Bind {
                src,
                dst: Some(d),
                writable,
            } => policy.bind(src, d, *writable),
            Rule::Tmpfs(d) => policy.tmpfs(d),
        };
    }
    let mut cmd = Command::new("/bin/sh");
    cmd.args(["-c", PROBE, "sh"]).args(&cands).policy(policy);
    let result = tokio::time::timeout(Duration::from_secs(30), cmd.output())
        .await
        .map_err(|_| TestCaseError::fail("the spawn or the probe hung"))?;
    let got = match result {
        Ok(o) => {
            let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
            prop_assert_eq!(
                (o.status.code(), stderr.as_str()),
                (Some(0), ""),
                "probe failed: {:?}",
                o
            );
            Expected::Runs(parse_report(&String::from_utf8_lossy(&o.stdout)))
        }
        Err(e) => {
            let e = *e
                .into_inner()
                .expect("a spawn error")
                .downcast::<SpawnError>()
                .expect("a SpawnError");
            match e {
                SpawnError::Policy(PolicyError::NulByte(p)) => Expected::NulByte(p),
                SpawnError::Policy(PolicyError::RelativeDestination(p)) => {
                    Expected::RelativeDestination(p)
                }
                SpawnError::Policy(PolicyError::MissingPath { path, source }) => {
                    Expected::MissingPath(path, source.raw_os_error().unwrap_or(0))
                }
                SpawnError::Policy(PolicyError::RootBind(p)) => Expected::RootBind(p),
                SpawnError::Setup {
                    stage: Stage::Bind,
                    path: Some(p),
                    source,
                    ..
                } => Expected::BindSetup(p, source.raw_os_error().unwrap_or(0)),
                other => return Err(TestCaseError::fail(format!("unexpected error {other:?}"))),
            }
        }
    };
    prop_assert_eq!(&got, &expected);
    prop_assert_eq!(snapshot(root), before, "the host tree changed");
    for top in TOP_NAMES {
        prop_assert!(!Path::new(top).exists(), "{} was created on the host", top);
    }
    Ok(kind)
}

/// Random policies (48 cases, or `PROPTEST_CASES`) over a small tree: the spawn fails with exactly the typed error
/// the first invalid rule explains, or the sandbox sees exactly the modelled view (every
/// bound path with its contents and mode, read-only ones refusing writes with EROFS, nothing
/// else), and the host is unchanged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_policies_give_exactly_the_modelled_view() {
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    for top in TOP_NAMES {
        assert!(!Path::new(top).exists(), "{top} exists on the host");
    }
    let started = Instant::now();
    let handle = tokio::runtime::Handle::current();
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(48);
    let config = Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let strategy = proptest::collection::vec(rule(), 1..7);
    let outcomes = std::sync::Mutex::new(BTreeMap::<&str, usize>::new());
    let outcome = runner.run(&strategy, |specs| {
        let kind = tokio::task::block_in_place(|| {
            handle.block_on(async {
                let tree = common::rw_dir();
                make_tree(tree.path());
                let rules = concrete(tree.path(), &specs);
                check_on(tree.path(), &rules).await
            })
        })?;
        *outcomes.lock().unwrap().entry(kind).or_default() += 1;
        Ok(())
    });
    eprintln!(
        "random policies in {:?}: {:?}",
        started.elapsed(),
        outcomes.lock().unwrap()
    );
    if let Err(e) = outcome {
        panic!("{e}");
    }
}
