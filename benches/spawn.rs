//! Spawn latency: spawn→exit of `/bin/true` with `tokio::process` and with the sandbox.
//!
//! Run with `cargo bench --bench spawn`.

use criterion::{criterion_group, criterion_main, Criterion};

fn spawn_true(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut g = c.benchmark_group("spawn_exit_true");
    g.bench_function("tokio_process", |b| {
        b.to_async(&rt).iter(|| async {
            let s = tokio::process::Command::new("/bin/true")
                .status()
                .await
                .expect("spawn");
            assert!(s.success());
        })
    });
    g.bench_function("sandbox_default", |b| {
        b.to_async(&rt).iter(|| async {
            let s = tokio_sandbox::Command::new("/bin/true")
                .status()
                .await
                .expect("spawn");
            assert!(s.success());
        })
    });
    g.finish();
}

criterion_group!(benches, spawn_true);
criterion_main!(benches);
