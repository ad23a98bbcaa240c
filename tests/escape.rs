//! Escape attempts, each made twice by the same small attacker program: once on the host (the
//! control, which must succeed, or the denial would prove nothing) and once in a default
//! sandbox, where it must fail with the asserted errno.

mod common;

use std::os::linux::net::SocketAddrExt;
use std::process::Command as StdCommand;

use tokio_sandbox::Command;

/// The attacker: `python3 attacker.py NAME [ARG]` prints `ok` or `errno N`.
const ATTACKER: &str = r#"
import ctypes, ctypes.util, errno, os, socket, struct, sys, fcntl, termios, pty
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long

def sc(nr, *args):
    r = libc.syscall(ctypes.c_long(nr), *[ctypes.c_long(a) for a in args])
    return 'ok' if r >= 0 else 'errno %d' % ctypes.get_errno()

def oserr(f):
    try:
        f()
        return 'ok'
    except OSError as e:
        return 'errno %d' % e.errno

def in_child(f):
    # Run f in a fork so that nothing it changes outlives the attempt.
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            out = f()
        except Exception as e:
            out = 'exception %r' % e
        os.write(w, out.encode()); os._exit(0)
    os.close(w)
    out = os.read(r, 100).decode(); os.waitpid(pid, 0)
    return out

def sleeper():
    pid = os.fork()
    if pid == 0:
        import time; time.sleep(5); os._exit(0)
    return pid

def ptrace_child():
    pid = sleeper()
    out = sc(101, 16, pid, 0, 0)  # PTRACE_ATTACH
    os.kill(pid, 9); os.waitpid(pid, 0)
    return out

def process_vm_readv_child():
    pid = sleeper()
    buf = ctypes.create_string_buffer(8)
    local = (ctypes.c_void_p * 2)(ctypes.cast(buf, ctypes.c_void_p), 8)
    remote = (ctypes.c_void_p * 2)(ctypes.cast(buf, ctypes.c_void_p), 8)
    out = sc(310, pid, ctypes.addressof(local), 1, ctypes.addressof(remote), 1, 0)
    os.kill(pid, 9); os.waitpid(pid, 0)
    return out

def tiocsti(request):
    # On its own pty, made its controlling terminal (which TIOCSTI needs without privilege).
    def attempt():
        m, s = pty.openpty()
        name = os.ttyname(s)
        os.setsid()
        t = os.open(name, os.O_RDWR)
        c = ctypes.c_char(b'x')
        return sc(16, t, request, ctypes.addressof(c))
    return in_child(attempt)

def add_key():
    ty, desc, payload = (ctypes.create_string_buffer(b'user'), ctypes.create_string_buffer(b'tsb'),
                         ctypes.create_string_buffer(b'v'))
    return sc(248, ctypes.addressof(ty), ctypes.addressof(desc), ctypes.addressof(payload), 1,
              -2 & 0xffffffff)  # KEY_SPEC_PROCESS_KEYRING

def io_uring():
    params = ctypes.create_string_buffer(120)
    return sc(425, 1, ctypes.addressof(params))

def tmpfile_setgid(d):
    return oserr(lambda: os.close(os.open(d, os.O_TMPFILE | os.O_RDWR, 0o2644)))

def chmod_setuid(d):
    p = os.path.join(d, 'suid-%d' % os.getpid())
    open(p, 'w').close()
    try:
        return oserr(lambda: os.chmod(p, 0o4755))
    finally:
        os.unlink(p)

def tcp(port):
    return oserr(lambda: socket.create_connection(('127.0.0.1', int(port)), timeout=2).close())

def abstract(name):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    return oserr(lambda: s.connect('\0' + name))

def vsock():
    try:
        socket.socket(40, socket.SOCK_STREAM).close()
        return 'ok'
    except OSError as e:
        # A host without the vsock driver answers EAFNOSUPPORT: the family exists, no transport.
        return 'ok' if e.errno == errno.EAFNOSUPPORT else 'errno %d' % e.errno

attempts = {
    'keyctl': lambda a: sc(250, 0, -3 & 0xffffffff, 0),  # KEYCTL_GET_KEYRING_ID, session
    'add_key': lambda a: add_key(),
    'io_uring_setup': lambda a: io_uring(),
    'unshare_user': lambda a: in_child(lambda: sc(272, 0x10000000)),
    'clone3': lambda a: sc(435, 0, 0),
    'ptrace_own_child': lambda a: ptrace_child(),
    'process_vm_readv_own_child': lambda a: process_vm_readv_child(),
    'personality_read_implies_exec': lambda a: in_child(lambda: sc(135, 0x0400000)),
    'tiocsti_own_pty': lambda a: tiocsti(0x5412),
    'tiocsti_upper_bits': lambda a: tiocsti(0x1_0000_5412),
    'chmod_setuid': lambda a: chmod_setuid(a),
    'o_tmpfile_setgid': lambda a: tmpfile_setgid(a),
    'tcp_host_loopback': lambda a: tcp(a),
    'abstract_unix_host': lambda a: abstract(a),
    'vsock_socket': lambda a: vsock(),
}
print(attempts[sys.argv[1]](sys.argv[2] if len(sys.argv) > 2 else None))
"#;

/// `(attempt, errno inside the sandbox, what the errno means there)`.
const ATTEMPTS: &[(&str, i32, &str)] = &[
    (
        "keyctl",
        libc::EPERM,
        "seccomp: keyrings are not namespaced",
    ),
    ("add_key", libc::EPERM, "seccomp"),
    (
        "io_uring_setup",
        libc::ENOSYS,
        "seccomp: io_uring bypasses the filter",
    ),
    (
        "unshare_user",
        libc::EPERM,
        "seccomp: no nested user namespace",
    ),
    (
        "clone3",
        libc::ENOSYS,
        "seccomp: clone3 flags are unreadable",
    ),
    ("ptrace_own_child", libc::EPERM, "seccomp"),
    ("process_vm_readv_own_child", libc::EPERM, "seccomp"),
    ("personality_read_implies_exec", libc::EPERM, "seccomp"),
    (
        "tiocsti_own_pty",
        libc::EPERM,
        "seccomp: terminal input injection",
    ),
    ("tiocsti_upper_bits", libc::EPERM, "seccomp: 32-bit compare"),
    ("chmod_setuid", libc::EPERM, "seccomp: no set-ID files"),
    ("o_tmpfile_setgid", libc::EPERM, "seccomp: no set-ID files"),
    (
        "tcp_host_loopback",
        libc::ECONNREFUSED,
        "own network namespace",
    ),
    (
        "abstract_unix_host",
        libc::ECONNREFUSED,
        "own network namespace",
    ),
    (
        "vsock_socket",
        libc::EPERM,
        "seccomp: vsock is not namespaced",
    ),
];

/// Controls that need something this host may not allow even outside a sandbox.
fn control_may_be_refused(name: &str) -> bool {
    // clone3(NULL, 0) is EINVAL outside: the call exists, which is what the control shows.
    name == "clone3"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escape_attempts_are_denied_with_the_exact_errno() {
    if !common::python3_or_skip() {
        return;
    }
    let d = common::rw_dir();
    let script = d.path().join("attacker.py");
    std::fs::write(&script, ATTACKER).unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let abstract_name = format!("tsb-escape-{}", std::process::id());
    let _abstract = std::os::unix::net::UnixListener::bind_addr(
        &std::os::unix::net::SocketAddr::from_abstract_name(abstract_name.as_bytes()).unwrap(),
    )
    .unwrap();
    let work = common::rw_dir();
    let arg = |name: &str| -> String {
        match name {
            "tcp_host_loopback" => port.clone(),
            "abstract_unix_host" => abstract_name.clone(),
            "chmod_setuid" | "o_tmpfile_setgid" => work.path().display().to_string(),
            _ => String::new(),
        }
    };
    let mut failures = Vec::new();
    for (name, errno, why) in ATTEMPTS {
        let a = arg(name);
        let control = StdCommand::new("python3")
            .arg(&script)
            .arg(name)
            .arg(&a)
            .output()
            .unwrap();
        let control = String::from_utf8_lossy(&control.stdout).trim().to_string();
        let control_ok = control == "ok" || (control_may_be_refused(name) && control == "errno 22");
        if !control_ok {
            failures.push(format!(
                "{name}: the control on the host gave {control:?}, not ok"
            ));
            continue;
        }
        let inside = Command::new("python3")
            .arg(&script)
            .arg(name)
            .arg(&a)
            .read_only(d.path())
            .read_write(work.path())
            .output()
            .await
            .unwrap();
        let inside = String::from_utf8_lossy(&inside.stdout).trim().to_string();
        if inside != format!("errno {errno}") {
            failures.push(format!(
                "{name}: expected errno {errno} ({why}) in the sandbox, got {inside:?}"
            ));
        }
    }
    drop(listener);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// UDP to a listener the test opens on the host's loopback: the control arrives, the
/// sandbox's datagram does not (it goes to the sandbox's own loopback).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_to_a_host_listener_does_not_arrive() {
    if !common::python3_or_skip() {
        return;
    }
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(std::time::Duration::from_millis(500)))
        .unwrap();
    let port = sock.local_addr().unwrap().port();
    let send = format!(
        "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); \
         print(s.sendto(b'hello', ('127.0.0.1', {port})))"
    );
    let mut buf = [0u8; 16];
    let control = StdCommand::new("python3")
        .args(["-c", &send])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&control.stdout), "5\n");
    assert_eq!(
        sock.recv(&mut buf).unwrap(),
        5,
        "the control datagram arrives"
    );
    let inside = Command::new("python3")
        .args(["-c", &send])
        .output()
        .await
        .unwrap();
    // The send succeeds inside (on the sandbox's own loopback) ...
    assert_eq!(String::from_utf8_lossy(&inside.stdout), "5\n");
    // ... and nothing reaches the host.
    let err = sock.recv(&mut buf).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::WouldBlock, "{err}");
}
