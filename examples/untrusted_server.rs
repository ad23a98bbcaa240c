//! A small TCP service that runs untrusted shell scripts: each connection sends a script and
//! closes its write side; the server runs it in a sandbox (no network, 5 s timeout, 256 MiB,
//! 64 processes), at most 8 at once, and answers with the output and the run's JSON status.
//! A client loop in the same program then sends 100 requests at once and checks every answer.
//!
//! `cargo run --example untrusted_server` (listens on 127.0.0.1 only, on a free port)

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_sandbox::{Command, Limits};

const MAX_SCRIPT: u64 = 64 * 1024;
/// Output kept per stream; the sandbox's limits bound its memory, not what it prints.
const MAX_OUTPUT: u64 = 1024 * 1024;

/// Reads at most `MAX_OUTPUT` bytes of a stream and discards the rest (so the script is not
/// blocked on a full pipe); returns the bytes kept and whether any were discarded.
async fn read_capped(mut r: impl AsyncRead + Unpin) -> std::io::Result<(Vec<u8>, bool)> {
    let mut kept = Vec::new();
    (&mut r).take(MAX_OUTPUT).read_to_end(&mut kept).await?;
    let discarded = tokio::io::copy(&mut r, &mut tokio::io::sink()).await?;
    Ok((kept, discarded > 0))
}

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
        .spawn();
    let reply = match run {
        Err(e) => format!("error: {e}\n"),
        Ok(mut child) => {
            let so = child.stdout.take().expect("piped");
            let se = child.stderr.take().expect("piped");
            // Read both pipes while waiting, so that a chatty script cannot block on a full
            // pipe (wait_with_output would do the same, but keeps everything and consumes the
            // child, whose status is wanted below).
            let (o, e, w) = tokio::join!(read_capped(so), read_capped(se), child.wait());
            let ((out, out_cut), (err, err_cut)) = (o?, e?);
            w?;
            let status = serde_json::to_string(&child.run_status()).expect("serializes");
            let cut = if out_cut || err_cut {
                "(output cut at 1 MiB per stream)\n"
            } else {
                ""
            };
            format!(
                "{}{}{cut}status: {status}\n",
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

    // A script that prints without end: its reply is cut at 1 MiB, and the timeout ends it.
    let flood = request(addr, "cat /dev/zero".to_string()).await?;
    println!(
        "--- a flood ---\n{} bytes, ended by {}",
        flood.len(),
        if flood.contains("\"ended_by\":\"timeout\"") {
            "the timeout"
        } else {
            "?"
        }
    );
    if !flood.contains("(output cut at 1 MiB per stream)") || flood.len() > 2 * MAX_OUTPUT as usize
    {
        eprintln!("the flood's reply was not cut");
        std::process::exit(1);
    }

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
