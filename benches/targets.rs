//! The spawn targets, from one run: spawn→exit of `/bin/true` with `tokio::process`, with a
//! new default sandbox (the cold path), with a command in a running [`Sandbox`], with a
//! sandbox of a [`Pool`] and with bubblewrap; pooled spawns per second with 8 in flight; and
//! how late a 10 ms timer fires on a current-thread runtime while 1,000 sandboxes start on it.
//!
//! `cargo bench --bench targets` runs the criterion groups `targets_spawn_exit_true`,
//! `targets_pooled_throughput` and `targets_timer_lateness`, then prints the table of the
//! README (medians; ratios to `tokio::process`, and of bubblewrap to the sandbox) with the
//! targets and whether each is met. Bubblewrap is left out, with the reason printed, when
//! `bwrap` is not installed (`apt-get install bubblewrap`) or cannot make its namespaces here.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

mod common;

use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput};
use futures::stream::{self, StreamExt};
use tokio_sandbox::{Command, Policy, Pool, Sandbox};

async fn cold_true() {
    let s = Command::new("/bin/true").status().await.expect("spawn");
    assert!(s.success());
}

async fn pooled_true(pool: &Pool) {
    let s = pool.command("/bin/true").status().await.expect("spawn");
    assert!(s.success());
}

/// Waits until `pool` holds `ready` sandboxes (at most 30 s).
async fn filled(pool: &Pool, ready: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while pool.ready() < ready && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

fn spawn_exit_true(c: &mut Criterion) {
    let rt = common::runtime();
    let policy = Policy::new().compile().expect("policy");
    let mut g = c.benchmark_group("targets_spawn_exit_true");
    g.measurement_time(Duration::from_secs(8));
    g.bench_function("tokio_process", |b| {
        b.to_async(&rt).iter(common::tokio_true)
    });
    g.bench_function("cold_default", |b| b.to_async(&rt).iter(cold_true));
    let sandbox = rt.block_on(Sandbox::start(&policy)).expect("sandbox");
    g.bench_function("running_sandbox", |b| {
        b.to_async(&rt).iter(|| async {
            let s = sandbox.command("/bin/true").status().await.expect("spawn");
            assert!(s.success());
        })
    });
    drop(sandbox);
    // A spawn that finds a sandbox ready: the pool is refilled between spawns, outside the
    // measured time (a pool sustains at most the rate at which its thread sets sandboxes up).
    let pool = Pool::new(&policy, 4).expect("pool");
    g.bench_function("pooled", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let pool = &pool;
            async move {
                let mut spent = Duration::ZERO;
                for _ in 0..iters {
                    filled(pool, 4).await;
                    let start = Instant::now();
                    pooled_true(pool).await;
                    spent += start.elapsed();
                }
                spent
            }
        })
    });
    drop(pool);
    match common::bwrap() {
        Ok(path) => {
            g.bench_function("bwrap", |b| {
                b.to_async(&rt).iter(|| async {
                    let s = tokio::process::Command::new(path)
                        .args(common::BWRAP_ARGS)
                        .status()
                        .await
                        .expect("bwrap");
                    assert!(s.success());
                })
            });
        }
        Err(why) => println!("targets_spawn_exit_true/bwrap: skipped: {why}"),
    }
    g.finish();
}

/// Spawns per iteration of the throughput group.
const N: usize = 256;

fn pooled_throughput(c: &mut Criterion) {
    let rt = common::runtime();
    let mut g = c.benchmark_group("targets_pooled_throughput");
    g.throughput(Throughput::Elements(N as u64));
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(10));
    // A burst of N spawns from a pool holding N sandboxes ready (filled again between bursts,
    // outside the measured time); its thread starts refilling during the burst, once fewer
    // than a quarter are left (before that, 3 ms after the last take).
    let pool = Pool::new(&Policy::new().compile().expect("policy"), N).expect("pool");
    g.bench_function(BenchmarkId::new("pooled", 8), |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let pool = &pool;
            async move {
                let mut spent = Duration::ZERO;
                for _ in 0..iters {
                    filled(pool, N).await;
                    let start = Instant::now();
                    stream::iter(0..N)
                        .for_each_concurrent(8, |_| async move {
                            // spawn_async: eight spawns in flight on one task.
                            let mut child = pool
                                .command("/bin/true")
                                .spawn_async()
                                .await
                                .expect("spawn");
                            assert!(child.wait().await.expect("wait").success());
                        })
                        .await;
                    spent += start.elapsed();
                }
                spent
            }
        })
    });
    drop(pool);
    g.finish();
}

/// The p99 lateness of each run of the timer group.
static LATENESS: Mutex<Vec<Duration>> = Mutex::new(Vec::new());

fn timer_lateness(c: &mut Criterion) {
    let mut g = c.benchmark_group("targets_timer_lateness");
    g.sample_size(10);
    g.sampling_mode(SamplingMode::Flat);
    g.warm_up_time(Duration::from_millis(1));
    g.measurement_time(Duration::from_secs(1));
    // The measured value of an iteration is the timer's p99 lateness, not a duration of work.
    g.bench_function("p99_while_1000_start", |b| {
        b.iter_custom(|iters| {
            let mut sum = Duration::ZERO;
            for _ in 0..iters {
                let p99 = common::lateness_while_1000_start().percentile(0.99);
                LATENESS.lock().unwrap().push(p99);
                sum += p99;
            }
            sum
        })
    });
    g.finish();
}

/// criterion's median estimate of `group/function` in this run, in seconds.
fn median(group: &str, function: &str) -> Option<f64> {
    let dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target"));
    let path = dir
        .join("criterion")
        .join(group)
        .join(function)
        .join("new/estimates.json");
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
    Some(v["median"]["point_estimate"].as_f64()? / 1e9)
}

/// Prints the README's table from this run.
fn summary() {
    let g = "targets_spawn_exit_true";
    let [tokio, cold, running, pooled, bwrap] = [
        "tokio_process",
        "cold_default",
        "running_sandbox",
        "pooled",
        "bwrap",
    ]
    .map(|f| median(g, f));
    let ms = |v: Option<f64>| v.map_or("–".to_string(), |s| format!("{:.3} ms", s * 1e3));
    let ratio = |a: Option<f64>, b: Option<f64>| Some(a? / b?);
    let row = |what: &str, figure: String, value: Option<f64>, target: &str, met: Option<bool>| {
        let value = value.map_or("–".to_string(), |v| format!("{v:.2}"));
        let met = match met {
            Some(true) => "met",
            Some(false) => "not met",
            None => "not measured",
        };
        println!("| {what} | {figure} | {value} | {target} | {met} |");
    };
    let (load1, _) = std::fs::read_to_string("/proc/loadavg")
        .map(|l| (l.split(' ').next().unwrap_or("?").to_string(), ()))
        .unwrap_or(("?".into(), ()));
    println!();
    println!(
        "load average (1 min) at the end: {load1}, {} CPUs",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!("| measure | median | value | target | |");
    println!("|---|---|---|---|---|");
    println!(
        "| `tokio::process` spawn→exit `/bin/true` | {} | | | |",
        ms(tokio)
    );
    let r = ratio(pooled, tokio);
    row(
        "pooled spawn→exit / `tokio::process`",
        ms(pooled),
        r,
        "≤ 1.25×",
        r.map(|r| r <= 1.25),
    );
    let r = ratio(running, tokio);
    row(
        "command in a running sandbox / `tokio::process`",
        ms(running),
        r,
        "≤ 1.25×",
        r.map(|r| r <= 1.25),
    );
    let r = ratio(cold, tokio);
    row(
        "cold default sandbox / `tokio::process`",
        ms(cold),
        r,
        "≤ 2.0×",
        r.map(|r| r <= 2.0),
    );
    let r = ratio(bwrap, cold);
    row(
        "bubblewrap / cold sandbox",
        ms(bwrap),
        r,
        "≥ 2.3×",
        r.map(|r| r >= 2.3),
    );
    let r = ratio(bwrap, pooled);
    row(
        "bubblewrap / pooled",
        ms(bwrap),
        r,
        "≥ 3.5×",
        r.map(|r| r >= 3.5),
    );
    let per_s = median("targets_pooled_throughput", "pooled/8").map(|s| N as f64 / s);
    row(
        "pooled spawns per second, 8 in flight",
        format!("{N} spawns"),
        per_s,
        "≥ 1,000",
        per_s.map(|r| r >= 1000.0),
    );
    let mut late = LATENESS.lock().unwrap().clone();
    late.sort();
    let p99 = late.get(late.len() / 2).map(|d| d.as_secs_f64() * 1e3);
    row(
        "10 ms timer lateness p99 (ms), current-thread runtime, 1,000 sandboxes starting",
        format!("median of {} runs", late.len()),
        p99,
        "≤ 5 ms",
        p99.map(|p| p <= 5.0),
    );
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    spawn_exit_true(&mut c);
    pooled_throughput(&mut c);
    timer_lateness(&mut c);
    c.final_summary();
    // `cargo bench --no-run` builds only; `--list` and a filter run part: the table needs all.
    if std::env::args().skip(1).all(|a| a == "--bench") {
        summary();
    }
}
