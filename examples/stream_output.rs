//! Reads a sandboxed program's stdout line by line while it runs, and answers the name it
//! asks for on stdin.
//!
//! `cargo run --example stream_output`

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio_sandbox::{Command, Stdio};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut child = Command::new("sh")
        .args([
            "-c",
            "for i in 1 2 3; do echo \"tick $i\"; sleep 0.3; done; echo 'name?'; read name; \
             echo \"hello, $name\"",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let mut stdin = child.stdin.take().expect("piped");
    let mut lines = BufReader::new(child.stdout.take().expect("piped")).lines();
    let start = std::time::Instant::now();
    while let Some(line) = lines.next_line().await? {
        println!("[{:>4} ms] {line}", start.elapsed().as_millis());
        if line == "name?" {
            stdin.write_all(b"sandbox\n").await?;
            drop(stdin);
            break;
        }
    }
    while let Some(line) = lines.next_line().await? {
        println!("[{:>4} ms] {line}", start.elapsed().as_millis());
    }
    println!("exit: {}", child.wait().await?);
    Ok(())
}
