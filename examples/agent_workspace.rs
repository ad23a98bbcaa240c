//! A coding agent's workspace: one running sandbox in which several commands run one after
//! another, each seeing what the ones before left in the sandbox's filesystem.
//!
//! `cargo run --example agent_workspace`. The first command writes a Python module to a git
//! repository in the sandbox's home and commits it; the later ones import the module and read
//! the log. Nothing of it is written on the host: the home is the sandbox's own tmpfs, gone
//! with the sandbox. Needs `python3` and `git` under `/usr`.

use std::process::Output;

use tokio_sandbox::{Policy, Sandbox, Stdio};

/// Runs `sh -c script` in the sandbox, prints what it wrote, and fails on a non-zero exit.
async fn step(
    sandbox: &Sandbox,
    what: &str,
    script: &str,
) -> Result<Output, Box<dyn std::error::Error>> {
    let out = sandbox
        .command("/bin/sh")
        .args(["-c", script])
        .stdin(Stdio::null())
        .output()
        .await?;
    println!("== {what} ({})", out.status);
    print!("{}", String::from_utf8_lossy(&out.stdout));
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    if !out.status.success() {
        return Err(format!("{what} failed: {}", out.status).into());
    }
    Ok(out)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let policy = Policy::new().compile()?;
    let sandbox = Sandbox::start(&policy).await?;
    println!("sandbox init is host pid {}", sandbox.id());

    step(
        &sandbox,
        "write a module and commit it",
        r#"set -e
mkdir -p "$HOME/work" && cd "$HOME/work"
git init -q -b main .
cat > greet.py <<'PY'
def greet(name):
    return f"hello, {name}"
PY
git add greet.py
git -c user.name=agent -c user.email=agent@sandbox commit -q -m "Add greet()"
echo "committed $(git rev-parse --short HEAD)""#,
    )
    .await?;

    step(
        &sandbox,
        "import the module",
        r#"cd "$HOME/work" && python3 -c 'import greet; print(greet.greet("sandbox"))'"#,
    )
    .await?;

    let log = step(
        &sandbox,
        "read the log",
        r#"cd "$HOME/work" && git log --format='%an: %s'"#,
    )
    .await?;
    assert_eq!(String::from_utf8_lossy(&log.stdout), "agent: Add greet()\n");

    sandbox.shutdown().await?;
    Ok(())
}
