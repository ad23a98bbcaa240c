//! With the `tracing` feature: a span per spawn with the policy summary and the time spent
//! preparing and cloning, then in the child's setup and exec.
#![cfg(feature = "tracing")]

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_spawn_is_traced_with_its_phases() {
    if !common::host::sandbox_or_skip() {
        return;
    }
    let buf = Buffer::default();
    let writer = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async {
                let status = tokio_sandbox::Command::new("true").status().await.unwrap();
                assert!(status.success());
            })
    });
    let log = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    assert!(
        log.contains("tokio_sandbox::spawn{program=true network=None"),
        "{log}"
    );
    assert!(log.contains("sandbox started"), "{log}");
    assert!(log.contains("prepare_and_clone_us="), "{log}");
    assert!(log.contains("setup_and_exec_us="), "{log}");
}
