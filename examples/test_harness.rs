//! Runs a directory of test scripts in parallel sandboxes, each with a private writable
//! scratch directory and a timeout, and prints a pass/fail table with durations.
//!
//! `cargo run --example test_harness -- [DIR]` (default: five sample scripts it writes to a
//! temporary directory, two meant to pass and three to fail: one exits 1, one hangs past its
//! timeout, one reads a host file it cannot see). Exits 1 when any test fails.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio_sandbox::{Command, EndReason};

fn sample_scripts() -> std::io::Result<tempfile::TempDir> {
    let d = tempfile::tempdir()?;
    for (name, body) in [
        (
            "passes.sh",
            "echo ok > /scratch/out && test \"$(cat /scratch/out)\" = ok",
        ),
        ("fails.sh", "echo 'expected 2, got 3' >&2; exit 1"),
        // Counted with shell built-ins: the sandbox's init and this shell, nothing of the host.
        ("sees_only_itself.sh", "set -- /proc/[0-9]*; test $# -eq 2"),
        ("hangs.sh", "sleep 60"),
        ("reads_home.sh", "cat /root/.bashrc"),
    ] {
        std::fs::write(d.path().join(name), format!("#!/bin/sh\n{body}\n"))?;
    }
    // The sandbox runs as the caller, or as uid 65534 for root: let it read the scripts.
    std::fs::set_permissions(
        d.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )?;
    Ok(d)
}

async fn run(script: PathBuf, dir: &Path) -> (String, String, Duration) {
    let name = script.file_name().unwrap().to_string_lossy().into_owned();
    let start = std::time::Instant::now();
    let result = Command::new("/bin/sh")
        .arg(&script)
        .read_only(dir)
        .tmpfs("/scratch")
        .current_dir("/scratch")
        .timeout(Duration::from_secs(2))
        .stdout(tokio_sandbox::Stdio::null())
        .stderr(tokio_sandbox::Stdio::null())
        .spawn();
    let verdict = match result {
        Err(e) => format!("ERROR {e}"),
        Ok(mut child) => match child.wait().await {
            Ok(s) if s.success() => "pass".to_string(),
            Ok(_) => match child.run_status().map(|r| r.ended_by) {
                Some(EndReason::Timeout) => "FAIL (timeout)".to_string(),
                _ => "FAIL".to_string(),
            },
            Err(e) => format!("ERROR {e}"),
        },
    };
    (name, verdict, start.elapsed())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let samples;
    let dir = match std::env::args().nth(1) {
        Some(d) => std::fs::canonicalize(d)?,
        None => {
            samples = sample_scripts()?;
            samples.path().to_path_buf()
        }
    };
    let mut scripts: Vec<PathBuf> = std::fs::read_dir(&dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "sh"))
        .collect();
    scripts.sort();
    let results = futures::future::join_all(scripts.into_iter().map(|s| run(s, &dir))).await;
    println!("{:<20} {:<16} {:>8}", "test", "result", "ms");
    let mut failed = 0;
    for (name, verdict, took) in &results {
        println!("{name:<20} {verdict:<16} {:>8}", took.as_millis());
        failed += usize::from(verdict != "pass");
    }
    println!("{} passed, {failed} failed", results.len() - failed);
    if failed > 0 {
        std::process::exit(1);
    }
    Ok(())
}
