//! How late a 10 ms interval timer fires on a current-thread runtime while 1,000 sandboxes
//! running `sleep 1` start on it. Goal: at most 5 ms.
//!
//! Run with `cargo bench --bench timer_lateness`. Prints the median, p99 and maximum lateness.

use std::time::{Duration, Instant};

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let (stop_tx, mut stop_rx) = tokio::sync::oneshot::channel::<()>();
        let timer = tokio::spawn(async move {
            let period = Duration::from_millis(10);
            let mut late = Vec::new();
            let mut next = Instant::now() + period;
            loop {
                tokio::select! {
                    _ = tokio::time::sleep_until(next.into()) => {
                        late.push(Instant::now().saturating_duration_since(next));
                        next += period;
                    }
                    _ = &mut stop_rx => return late,
                }
            }
        });
        let start = Instant::now();
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..1000 {
            set.spawn(async {
                let mut child = tokio_sandbox::Command::new("sleep")
                    .arg("1")
                    .spawn_async()
                    .await
                    .expect("spawn");
                child.wait().await.expect("wait")
            });
        }
        let mut spawned = 0;
        while let Some(r) = set.join_next().await {
            assert!(r.expect("task").success());
            spawned += 1;
        }
        let total = start.elapsed();
        stop_tx.send(()).ok();
        let mut late = timer.await.expect("timer task");
        late.sort();
        let pct = |p: f64| late[((late.len() - 1) as f64 * p) as usize];
        println!(
            "timer_lateness: {spawned} sandboxes (sleep 1) in {:.2} s; 10 ms timer late by \
             median {:.2} ms, p99 {:.2} ms, max {:.2} ms over {} ticks",
            total.as_secs_f64(),
            pct(0.5).as_secs_f64() * 1e3,
            pct(0.99).as_secs_f64() * 1e3,
            late.last().unwrap().as_secs_f64() * 1e3,
            late.len()
        );
    });
}
