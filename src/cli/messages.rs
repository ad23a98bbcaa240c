//! What the CLI tells its user: the library's errors in the words of the CLI's options, and
//! why a run ended when the CLI's limits ended it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio_sandbox::{EndReason, Limits, PolicyError, RunStatus, SpawnError, Vocabulary};

/// A path option as given on the command line: the option, the path as typed, and the path
/// made absolute against the working directory (as the library reports it).
pub struct PathOption {
    pub option: &'static str,
    pub given: PathBuf,
    pub absolute: PathBuf,
}

/// The library's names in its messages and the CLI options that do the same, longest first
/// where one name starts another (`Policy::read_only("PATH")` becomes `--ro PATH` first).
const OPTIONS: [(&str, &str); 4] = [
    ("Policy::allow_retained_groups(true)", "--keep-groups"),
    ("Policy::uid(0)", "--uid 0"),
    ("Policy::read_only", "--ro"),
    ("Limits::processes", "--pids"),
];

/// A spawn error as the CLI tells it: with the option that named a path, and options where
/// the library names its API.
pub fn spawn_error(e: &SpawnError, paths: &[PathOption], policy_file: Option<&Path>) -> String {
    let from_option = |p: &Path| paths.iter().find(|o| o.absolute == p);
    match e {
        SpawnError::Policy(PolicyError::RetainedGroups { groups }) => format!(
            "run with --keep-groups to let your supplementary groups ({}) stay in force inside \
             the sandbox, where they grant access to files of those groups: an unprivileged user \
             cannot drop them (setgroups(2) is denied in its user namespace); starting without \
             them (setpriv --clear-groups) needs root",
            groups
                .iter()
                .map(|g| g.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        SpawnError::Policy(PolicyError::MissingPath { path, source }) => match from_option(path) {
            Some(o) => format!(
                "{} {}: {} cannot be resolved: {source}",
                o.option,
                o.given.display(),
                path.display()
            ),
            None => with_policy_file(e.to_string(), policy_file),
        },
        SpawnError::Policy(PolicyError::NotWritable {
            path,
            uid,
            gid,
            chosen_id,
        }) => {
            let bound_rw = paths.iter().any(|o| {
                o.option.ends_with("rw")
                    && std::fs::canonicalize(&o.absolute).is_ok_and(|c| c == *path)
            });
            let named = if bound_rw {
                "--rw path"
            } else {
                "read-write path"
            };
            format!(
                "{named} {} is not writable by the sandbox's host uid {uid}/gid {gid}; {}",
                path.display(),
                tokio_sandbox::not_writable_advice(path, *uid, *gid, *chosen_id, Vocabulary::Cli)
            )
        }
        _ => in_cli_words(&e.to_string()),
    }
}

/// A message of the library with the CLI's options where it names the library's API.
pub fn in_cli_words(msg: &str) -> String {
    // `Policy::read_only("/opt")` is `--ro /opt`.
    const CALL: &str = "Policy::read_only(\"";
    let mut msg = msg.to_string();
    while let Some(start) = msg.find(CALL) {
        let rest = &msg[start + CALL.len()..];
        let Some(end) = rest.find("\")") else {
            break;
        };
        msg = format!("{}--ro {}{}", &msg[..start], &rest[..end], &rest[end + 2..]);
    }
    for (api, option) in OPTIONS {
        msg = msg.replace(api, option);
    }
    msg
}

/// A message about a path of the policy file, prefixed with the file.
fn with_policy_file(msg: String, file: Option<&Path>) -> String {
    match file {
        Some(f) => format!("policy file {:?}: {msg}", f),
        None => msg,
    }
}

/// Why the CLI's limits ended the run, with the option to raise; `None` when the program
/// ended by itself or of a signal the sandbox did not cause.
pub fn end_reason(run: &RunStatus, timeout: Option<Duration>, limits: &Limits) -> Option<String> {
    let signal = match run.signal {
        Some(libc::SIGKILL) => " (SIGKILL)",
        Some(libc::SIGXCPU) => " (SIGXCPU)",
        Some(libc::SIGXFSZ) => " (SIGXFSZ)",
        _ => "",
    };
    match run.ended_by {
        EndReason::Timeout => Some(match timeout {
            Some(t) => format!("killed after the {} --timeout", duration(t)),
            None => "killed at the timeout".to_string(),
        }),
        EndReason::CpuLimit => Some(format!(
            "ended by the --cpu-time limit of {}{signal}: the program used that much CPU time",
            limits
                .cpu_seconds
                .map_or_else(|| "?".to_string(), |s| duration(Duration::from_secs(s)))
        )),
        EndReason::FileSizeLimit => Some(format!(
            "ended by the --fsize limit of {} bytes{signal}: the program wrote a larger file",
            limits
                .file_size
                .map_or_else(|| "?".to_string(), |b| b.to_string())
        )),
        EndReason::MemoryLimit => Some(format!(
            "the kernel's OOM killer ended a process at the --memory limit of {} MiB (cgroup \
             memory.max)",
            limits
                .memory
                .map_or_else(|| "?".to_string(), |b| (b >> 20).to_string())
        )),
        _ => None,
    }
}

/// What to try when a program failed under a memory limit that is `RLIMIT_AS` (address space
/// per process): `None` when it succeeded or a limit or kill ended it.
pub fn address_space_hint(run: &RunStatus, limits: &Limits, option: &str) -> Option<String> {
    let failed =
        run.exit_code != Some(0) && matches!(run.ended_by, EndReason::Exited | EndReason::Signaled);
    let bytes = limits.memory?;
    failed.then(|| {
        format!(
            "the program failed under {option} of {} MiB, address space per process \
             (RLIMIT_AS): if it failed at start or allocating, raise it (the JVM, Node and Go \
             reserve more than they use) or give the JVM a heap below it (-Xmx)",
            bytes >> 20
        )
    })
}

/// A duration as a person reads it: `1 s`, `1.5 s`, `250 ms`, `5 min`, `2 h`.
pub fn duration(d: Duration) -> String {
    let (secs, nanos) = (d.as_secs(), d.subsec_nanos());
    if nanos == 0 {
        return match secs {
            s if s >= 3600 && s % 3600 == 0 => format!("{} h", s / 3600),
            s if s >= 60 && s % 60 == 0 => format!("{} min", s / 60),
            s => format!("{s} s"),
        };
    }
    if secs == 0 && nanos % 1_000_000 == 0 {
        return format!("{} ms", nanos / 1_000_000);
    }
    let fraction = format!("{nanos:09}");
    format!("{secs}.{} s", fraction.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_names_become_options() {
        assert_eq!(
            in_cli_words(
                "bind it (Policy::read_only(\"/opt/x\")); Policy::read_only; \
                 Policy::allow_retained_groups(true) and Policy::uid(0)"
            ),
            "bind it (--ro /opt/x); --ro; --keep-groups and --uid 0"
        );
    }

    #[test]
    fn durations_read_as_given() {
        assert_eq!(duration(Duration::from_secs(1)), "1 s");
        assert_eq!(duration(Duration::from_secs(90)), "90 s");
        assert_eq!(duration(Duration::from_secs(300)), "5 min");
        assert_eq!(duration(Duration::from_secs(7200)), "2 h");
        assert_eq!(duration(Duration::from_millis(250)), "250 ms");
        assert_eq!(duration(Duration::from_millis(1500)), "1.5 s");
    }
}
