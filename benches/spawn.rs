//! Spawn latency and throughput of sandboxed `/bin/true` against `tokio::process`.
//!
//! `cargo bench --bench spawn` runs every group:
//! - `spawn_exit_true`: spawn→exit with `tokio::process::Command` and with the default sandbox;
//! - `layers`: the sandbox with one layer added at a time, so each layer's cost shows;
//! - `parent_rss`: both, from a parent with 64 MiB, 1 GiB and 4 GiB resident;
//! - `throughput`: 256 spawns with `spawn_async`, 1, 8 and 64 in flight (spawns per second);
//! - `bwrap`: bubblewrap running `/bin/true` with an equivalent policy, when installed.

use std::time::{Duration, Instant};

mod common;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use futures::stream::{self, StreamExt};
use tokio_sandbox::{Command, Layers, Network};

async fn sandbox_true(layers: Layers, network: Network) {
    let mut cmd = Command::new("/bin/true");
    cmd.network(network).policy_mut().layers(layers);
    let s = cmd.status().await.expect("spawn");
    assert!(s.success());
}

async fn sandbox_default() {
    sandbox_true(Layers::default(), Network::None).await
}

/// The default sandbox started with `spawn_async`, which many spawns in flight on one task
/// need (`status` spawns on the calling thread, one at a time).
async fn sandbox_default_async() {
    let mut child = Command::new("/bin/true")
        .spawn_async()
        .await
        .expect("spawn");
    assert!(child.wait().await.expect("wait").success());
}

fn spawn_exit_true(c: &mut Criterion) {
    let rt = common::runtime();
    let mut g = c.benchmark_group("spawn_exit_true");
    g.bench_function("tokio_process", |b| {
        b.to_async(&rt).iter(common::tokio_true)
    });
    g.bench_function("sandbox_default", |b| b.to_async(&rt).iter(sandbox_default));
    g.finish();
}

fn layers(c: &mut Criterion) {
    let rt = common::runtime();
    let none = Layers {
        user_namespace: true,
        mount: false,
        pid: false,
        landlock: false,
        seccomp: false,
    };
    let steps: [(&str, Layers, Network); 6] = [
        ("1_user_ns", none, Network::Host),
        (
            "2_mount_ns_root",
            Layers {
                mount: true,
                ..none
            },
            Network::Host,
        ),
        (
            "3_pid_ns",
            Layers {
                mount: true,
                pid: true,
                ..none
            },
            Network::Host,
        ),
        (
            "4_net_ns",
            Layers {
                mount: true,
                pid: true,
                ..none
            },
            Network::None,
        ),
        (
            "5_landlock",
            Layers {
                seccomp: false,
                ..Layers::default()
            },
            Network::None,
        ),
        ("6_seccomp", Layers::default(), Network::None),
    ];
    let mut g = c.benchmark_group("layers");
    for (name, l, n) in steps {
        g.bench_function(name, |b| b.to_async(&rt).iter(|| sandbox_true(l, n)));
    }
    g.finish();
}

/// Grows the process's resident memory to `bytes` (allocated and touched).
fn grow_rss(hold: &mut Vec<Vec<u8>>, bytes: usize) {
    let have: usize = hold.iter().map(|v| v.len()).sum();
    if bytes > have {
        let mut v = vec![0u8; bytes - have];
        for i in (0..v.len()).step_by(4096) {
            v[i] = 1;
        }
        hold.push(v);
    }
}

fn parent_rss(c: &mut Criterion) {
    let rt = common::runtime();
    let mut hold = Vec::new();
    let mut g = c.benchmark_group("parent_rss");
    for (label, bytes) in [
        ("64MiB", 64usize << 20),
        ("1GiB", 1 << 30),
        ("4GiB", 4 << 30),
    ] {
        grow_rss(&mut hold, bytes);
        g.bench_function(BenchmarkId::new("tokio_process", label), |b| {
            b.to_async(&rt).iter(common::tokio_true)
        });
        g.bench_function(BenchmarkId::new("sandbox_default", label), |b| {
            b.to_async(&rt).iter(sandbox_default)
        });
    }
    g.finish();
    drop(hold);
}

fn throughput(c: &mut Criterion) {
    let rt = common::runtime();
    const N: usize = 256;
    let mut g = c.benchmark_group("throughput");
    g.throughput(Throughput::Elements(N as u64));
    g.sample_size(10);
    for in_flight in [1usize, 8, 64] {
        g.bench_function(BenchmarkId::new("sandbox_default", in_flight), |b| {
            b.to_async(&rt).iter_custom(|iters| async move {
                let start = Instant::now();
                for _ in 0..iters {
                    stream::iter(0..N)
                        .for_each_concurrent(in_flight, |_| sandbox_default_async())
                        .await;
                }
                start.elapsed()
            })
        });
    }
    g.finish();
}

fn bwrap(c: &mut Criterion) {
    let bwrap = match common::bwrap() {
        Ok(path) => path,
        Err(why) => {
            println!("bwrap: skipped: {why}");
            return;
        }
    };
    let rt = common::runtime();
    let mut g = c.benchmark_group("spawn_exit_true");
    g.bench_function("bwrap", |b| {
        b.to_async(&rt).iter(|| async {
            let s = tokio::process::Command::new(bwrap)
                .args(common::BWRAP_ARGS)
                .status()
                .await
                .expect("bwrap");
            assert!(s.success());
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(5));
    targets = spawn_exit_true, layers, parent_rss, throughput, bwrap
}
criterion_main!(benches);
