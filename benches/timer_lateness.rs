//! How late a 10 ms interval timer fires on a current-thread runtime while 1,000 sandboxes
//! running `sleep 1` start on it. Goal: at most 5 ms.
//!
//! Run with `cargo bench --bench timer_lateness`. Prints the median, p99 and maximum lateness.

mod common;

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let run = common::lateness_while_1000_start();
    println!(
        "timer_lateness: {} sandboxes (sleep 1) in {:.2} s; 10 ms timer late by \
         median {:.2} ms, p99 {:.2} ms, max {:.2} ms over {} ticks",
        run.spawned,
        run.total.as_secs_f64(),
        run.percentile(0.5).as_secs_f64() * 1e3,
        run.percentile(0.99).as_secs_f64() * 1e3,
        run.percentile(1.0).as_secs_f64() * 1e3,
        run.late.len()
    );
}
