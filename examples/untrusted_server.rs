//! A small TCP service that runs untrusted shell scripts: each connection sends a script and
//! closes its write side; the server runs it in a sandbox (no network, 5 s timeout, 256 MiB,
//! 64 processes), at most 8 at once, and answers with the output and the run's JSON status.
//! A client loop in the same program then sends 100 requests at once and checks every answer.
//!
//! `cargo run --example untrusted_server` (listens on 127.0.0.1 only, on a free port)

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_sandbox::{Command, Limits};

const MAX_SCRIPT: u64 = 64 * 1024;

async fn serve(mut conn: TcpStream, slots: Arc<Semaphore>) -> std::io::Result<()> {
    let mut script = String::new();
    (&mut conn)
        .take(MAX_SCRIPT)
        .read_to_string(&mut script)
        .await?;
    let _slot = slots.acquire().await.expect("semaphore open");
    let run = Command::new("/bin/sh")
        .args(["-c", &script])
        .timeout(Duration::from_secs(5))
        .limits(Limits {
            memory: Some(256 << 20),
            processes: Some(64),
            ..Limits::default()
        })
        .stdout(tokio_sandbox::Stdio::piped())
        .stderr(tokio_sandbox::Stdio::piped())
        .spawn()
        .await;
    let reply = match run {
        Err(e) => format!("error: {e}\n"),
        Ok(mut child) => {
            let mut so = child.stdout.take().expect("piped");
            let mut se = child.stderr.take().expect("piped");
            let (mut out, mut err) = (Vec::new(), Vec::new());
            // Read both pipes while waiting, so that a chatty script cannot block on a full
            // pipe (wait_with_output would do the same, but consumes the child, whose status
            // is wanted below).
            let (o, e, w) = tokio::join!(
                so.read_to_end(&mut out),
                se.read_to_end(&mut err),
                child.wait()
            );
            o?;
            e?;
            w?;
            let status = serde_json::to_string(&child.run_status()).expect("serializes");
            format!(
                "{}{}status: {status}\n",
                String::from_utf8_lossy(&out),
                String::from_utf8_lossy(&err)
            )
        }
    };
    conn.write_all(reply.as_bytes()).await?;
    conn.shutdown().await
}

async fn request(addr: std::net::SocketAddr, script: String) -> std::io::Result<String> {
    let mut conn = TcpStream::connect(addr).await?;
    conn.write_all(script.as_bytes()).await?;
    conn.shutdown().await?;
    let mut reply = String::new();
    conn.read_to_string(&mut reply).await?;
    Ok(reply)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let slots = Arc::new(Semaphore::new(8));
    tokio::spawn(async move {
        loop {
            let Ok((conn, _)) = listener.accept().await else {
                return;
            };
            let slots = slots.clone();
            tokio::spawn(async move {
                if let Err(e) = serve(conn, slots).await {
                    eprintln!("connection: {e}");
                }
            });
        }
    });
    println!("serving on {addr}");

    // One request shown in full: a script that tries to leave the sandbox.
    let reply = request(
        addr,
        "id -un; cat /etc/shadow 2>&1; ls /home; echo done".to_string(),
    )
    .await?;
    println!("--- one reply ---\n{reply}");

    // 100 concurrent requests, each computing something checkable.
    let start = Instant::now();
    let replies = futures::future::join_all(
        (0..100).map(|i| request(addr, format!("echo $(( {i} * {i} ))"))),
    )
    .await;
    let mut ok = 0;
    for (i, r) in replies.into_iter().enumerate() {
        let r = r?;
        if r.starts_with(&format!("{}\n", i * i)) && r.contains("\"ended_by\":\"exited\"") {
            ok += 1;
        } else {
            eprintln!("request {i}: unexpected reply {r:?}");
        }
    }
    println!(
        "{ok}/100 concurrent requests served correctly in {} ms",
        start.elapsed().as_millis()
    );
    if ok != 100 {
        std::process::exit(1);
    }
    Ok(())
}
