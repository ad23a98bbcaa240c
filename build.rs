//! Builds the sandbox's pid 1 (`src/init/main.rs`): a static, `no_std` x86_64 program of about
//! 2 KB, compiled with the same `rustc` and embedded in the library, which executes it from a
//! sealed memfd.

use std::env;
use std::path::PathBuf;
use std::process::Command;

fn main() {
    let src = "src/init/main.rs";
    println!("cargo:rerun-if-changed={src}");
    // The failure report's format, shared with the library.
    println!("cargo:rerun-if-changed=src/wire.rs");
    // The serve mode, and the control channel's format shared with the library.
    println!("cargo:rerun-if-changed=src/init/serve.rs");
    println!("cargo:rerun-if-changed=src/init/serve");
    println!("cargo:rerun-if-changed=src/control.rs");
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR")).join("init");
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let status = Command::new(rustc)
        .args([
            "--edition=2021",
            "--crate-type=bin",
            "--crate-name=tokio_sandbox_init",
            "-Cpanic=abort",
            "-Copt-level=s",
            "-Crelocation-model=static",
            "-Cdebuginfo=0",
            "-Cstrip=symbols",
            "-Clink-arg=-nostartfiles",
            "-Clink-arg=-nostdlib",
            "-Clink-arg=-static",
            "-Clink-arg=-no-pie",
            "-o",
        ])
        .arg(&out)
        .arg(src)
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .status()
        .expect("running rustc for the init program");
    assert!(status.success(), "building the init program failed");
}
