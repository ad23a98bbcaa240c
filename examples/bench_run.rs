//! Runs a program N times, each in a clean sandbox, and prints wall time, CPU time and peak
//! memory (min / median / max) from each run's status.
//!
//! `cargo run --example bench_run -- [RUNS] [PROGRAM [ARGS...]]`
//! (default: 10 runs of `python3 -c 'sum(range(3_000_000))'`)

use tokio_sandbox::Command;

fn stats(mut v: Vec<u64>) -> (u64, u64, u64) {
    v.sort_unstable();
    (v[0], v[v.len() / 2], v[v.len() - 1])
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut argv: Vec<String> = std::env::args().skip(1).collect();
    // An optional leading number of runs, then the program.
    let runs = match argv.first().map(|a| a.parse::<usize>()) {
        Some(Ok(n)) => {
            argv.remove(0);
            n
        }
        _ => 10,
    };
    if runs == 0 {
        return Err("RUNS must be at least 1".into());
    }
    if argv.is_empty() {
        argv = ["python3", "-c", "sum(range(3_000_000))"]
            .map(String::from)
            .to_vec();
    }
    let (mut wall, mut cpu, mut peak) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        let mut child = Command::new(&argv[0])
            .args(&argv[1..])
            .stdout(tokio_sandbox::Stdio::null())
            .spawn()?;
        let status = child.wait().await?;
        if !status.success() {
            return Err(format!("{argv:?} failed: {status}").into());
        }
        let s = child.run_status().expect("waited");
        wall.push(s.wall_time_ms);
        cpu.push(s.user_time_ms + s.system_time_ms);
        peak.push(s.peak_memory_bytes.unwrap_or(0) >> 20);
    }
    println!("{runs} runs of {argv:?} in a clean sandbox each");
    println!("{:<16} {:>8} {:>8} {:>8}", "", "min", "median", "max");
    for (name, v) in [("wall ms", wall), ("cpu ms", cpu), ("peak MiB", peak)] {
        let (lo, mid, hi) = stats(v);
        println!("{name:<16} {lo:>8} {mid:>8} {hi:>8}");
    }
    Ok(())
}
