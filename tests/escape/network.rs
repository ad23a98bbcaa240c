//! Network escapes, all aimed at listeners this test opens on the host's loopback (or a unix
//! socket in a temporary directory): TCP over IPv4 and IPv6, UDP, abstract and path unix
//! sockets, raw packet and vsock sockets, and an unlisted port under a TCP allow-list.

use std::os::linux::net::SocketAddrExt;
use std::time::Duration;

use libc::{EACCES, ECONNREFUSED, ENOENT, EPERM};

use crate::common::rw_dir;
use crate::{errno, s, Attempt, Control};

/// TCP to a listener on the host's 127.0.0.1: the sandbox's loopback is its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn net_tcp_host_loopback_v4() {
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    Attempt::new("tcp")
        .arg(l.local_addr().unwrap())
        .check(&errno(ECONNREFUSED), Control::Ok, |_| {})
        .await;
}

/// TCP to a listener on the host's ::1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn net_tcp_host_loopback_v6() {
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    let Ok(l) = std::net::TcpListener::bind("[::1]:0") else {
        crate::common::skip("this host has no ::1");
        return;
    };
    Attempt::new("tcp")
        .arg(l.local_addr().unwrap())
        .check(&errno(ECONNREFUSED), Control::Ok, |_| {})
        .await;
}

/// UDP to a listener on the host's 127.0.0.1: the send succeeds (on the sandbox's own
/// loopback) and nothing arrives; the control's datagram arrives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn net_udp_host_loopback() {
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let a = Attempt::new("udp").arg(sock.local_addr().unwrap());
    let mut buf = [0u8; 32];
    assert_eq!(a.on_host(false), "ok");
    assert_eq!(sock.recv(&mut buf).unwrap(), 10, "the control arrives");
    assert_eq!(a.in_sandbox(|_| {}).await, "ok");
    let err = sock.recv(&mut buf).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::WouldBlock, "{err}");
}

/// An abstract unix socket of the host (abstract names belong to the network namespace).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn net_abstract_unix_socket() {
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    let name = format!("tsb-escape-{}", std::process::id());
    let _l = std::os::unix::net::UnixListener::bind_addr(
        &std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap(),
    )
    .unwrap();
    Attempt::new("unix_abstract")
        .arg(&name)
        .check(&errno(ECONNREFUSED), Control::Ok, |_| {})
        .await;
}

/// A unix socket on a host path not given to the sandbox: not there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn net_path_unix_socket_not_bound() {
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    let d = rw_dir();
    let path = d.path().join("sock");
    let _l = std::os::unix::net::UnixListener::bind(&path).unwrap();
    Attempt::new("unix_path")
        .arg(s(&path))
        .check(&errno(ENOENT), Control::Ok, |_| {})
        .await;
}

/// A raw packet socket (sniffing, forging frames): refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn net_packet_socket() {
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    Attempt::new("packet_socket")
        .check(&errno(EPERM), Control::Root("ok".into()), |_| {})
        .await;
}

/// A vsock socket (vsock is not namespaced: it reaches the hypervisor): refused. This host has
/// no vsock transport, so the control answers EAFNOSUPPORT, which still shows the family exists.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn net_vsock_socket() {
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    let a = Attempt::new("vsock_socket");
    let host = a.on_host(false);
    assert!(
        host == "ok" || host == errno(libc::EAFNOSUPPORT),
        "control: {host}"
    );
    assert_eq!(a.in_sandbox(|_| {}).await, errno(EPERM));
}

/// With the host network and a TCP connect allow-list, an unlisted port is refused by Landlock
/// (EACCES) and the listed one connects.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn net_tcp_allow_list_unlisted_port() {
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    if !crate::common::host::landlock_tcp_or_skip() {
        return;
    }
    let listed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let unlisted = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let listed_port = listed.local_addr().unwrap().port();
    let policy = |c: &mut tokio_sandbox::Command| {
        c.network(tokio_sandbox::Network::Host);
        c.policy_mut().allow_tcp_connect(listed_port);
    };
    Attempt::new("tcp")
        .arg(unlisted.local_addr().unwrap())
        .check(&errno(EACCES), Control::Ok, policy)
        .await;
    assert_eq!(
        Attempt::new("tcp")
            .arg(listed.local_addr().unwrap())
            .in_sandbox(policy)
            .await,
        "ok"
    );
}

/// Under a TCP allow-list with the host network, an MPTCP socket (which Landlock's TCP rules
/// do not cover, and which falls back to plain TCP with any TCP peer) is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn net_mptcp_under_tcp_allow_list() {
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    if !crate::common::host::landlock_tcp_or_skip() {
        return;
    }
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let a = Attempt::new("mptcp").arg(l.local_addr().unwrap());
    let host = a.on_host(false);
    if host.starts_with("socket errno") {
        crate::common::skip(&format!(
            "MPTCP is off on this host ({host}), nothing to bypass"
        ));
        return;
    }
    a.check(&format!("socket {}", errno(EPERM)), Control::Ok, |c| {
        c.network(tokio_sandbox::Network::Host);
        c.policy_mut().allow_tcp_connect(9);
    })
    .await;
}

/// Under a TCP allow-list with the host network, a TCP Fast Open connect (`sendto` with
/// `MSG_FASTOPEN`, which never passes Landlock's connect check) to an unlisted port is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn net_tcp_fast_open_under_tcp_allow_list() {
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    if !crate::common::host::landlock_tcp_or_skip() {
        return;
    }
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let fastopen = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_fastopen").unwrap_or_default();
    if fastopen.trim().parse::<u32>().unwrap_or(0) & 1 == 0 {
        crate::common::skip("TCP Fast Open (client) is off on this host, nothing to bypass");
        return;
    }
    Attempt::new("tcp_fast_open")
        .arg(l.local_addr().unwrap())
        .check(&errno(EPERM), Control::Ok, |c| {
            c.network(tokio_sandbox::Network::Host);
            c.policy_mut().allow_tcp_connect(9);
        })
        .await;
}

/// A socket for the kernel's device events (which reach network namespaces owned by the initial
/// user namespace, as a root caller's prepared ones are): refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn net_uevent_socket() {
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    Attempt::new("uevent_socket")
        .check(&errno(EPERM), Control::Ok, |_| {})
        .await;
}

/// C20: Landlock's TCP rules are not a network switch. With the host network and a TCP
/// allow-list, UDP still reaches a host listener and the enforcement report says that only TCP
/// ports are restricted; with no network the same datagram goes nowhere and the report names
/// the network namespace.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c20_tcp_rules_are_not_a_network_switch() {
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    if !crate::common::host::landlock_tcp_or_skip() {
        return;
    }
    use tokio_sandbox::{Network, Property};
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let addr = sock.local_addr().unwrap();
    let mut buf = [0u8; 32];
    for network in [Network::Host, Network::None] {
        let exe = crate::attacker();
        let mut cmd = tokio_sandbox::Command::new(&exe);
        cmd.env(crate::attacker::ATTACK, "udp")
            .env(crate::attacker::ARG, addr.to_string())
            .read_only(exe.parent().unwrap())
            .network(network)
            .stdout(tokio_sandbox::Stdio::piped());
        cmd.policy_mut().allow_tcp_connect(9);
        let child = cmd.spawn().unwrap();
        let report = child
            .enforcement()
            .properties
            .iter()
            .find(|p| p.property == Property::Network)
            .unwrap()
            .clone();
        let out = child.wait_with_output().await.unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "ok\n");
        let arrived = sock.recv(&mut buf);
        if network == Network::Host {
            assert_eq!(arrived.unwrap(), 10, "UDP flows past TCP rules");
            assert!(
                report.layers[0].starts_with("Landlock TCP port rules"),
                "{report:?}"
            );
            assert_eq!(
                report.not_enforced.as_deref(),
                Some("host network: only TCP bind/connect ports are restricted, not UDP")
            );
        } else {
            let err = arrived.unwrap_err();
            assert_eq!(err.kind(), std::io::ErrorKind::WouldBlock, "{err}");
            assert_eq!(report.layers, ["network namespace"]);
            assert_eq!(report.not_enforced, None);
        }
    }
}

/// An IPv6 flow label outlives the socket that created it (it lingers in its network
/// namespace), so a network namespace some sandbox used must never be given to another: a
/// label one sandbox plants is not there for any later sandbox, spawned alone or from a pool.
/// Only a root caller's sandboxes join namespaces prepared ahead of time; the control shows,
/// in a network namespace it creates, that the label is still there after its socket was
/// closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn net_flow_label_does_not_reach_later_sandboxes() {
    if !crate::common::host::sandbox_or_skip() {
        return;
    }
    if !crate::common::is_root() {
        crate::common::skip(
            "only a root caller's sandboxes join network namespaces prepared ahead of time",
        );
        return;
    }
    let label = format!("{:05x}", 0x10000 + std::process::id() % 0xf0000);
    let control = Attempt::new("flow_label_twice").arg(&label).on_host(false);
    assert_eq!(
        control,
        format!("first ok, second {}", errno(libc::EEXIST)),
        "the control: a flow label outlives its socket in one network namespace"
    );
    let attempt = Attempt::new("flow_label").arg(&label);
    assert_eq!(
        attempt.in_sandbox(|_| {}).await,
        "ok",
        "the planting sandbox"
    );
    for i in 0..12 {
        // Time for the sandbox's end and for a namespace to be prepared again.
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(
            attempt.in_sandbox(|_| {}).await,
            "ok",
            "later sandbox {i}: a fresh network namespace, without the planted label"
        );
    }
    let pool = tokio_sandbox::Pool::new(&crate::attacker_policy(), 2).unwrap();
    assert_eq!(
        attempt.in_pool(&pool).await,
        "ok",
        "the planting pooled sandbox"
    );
    for i in 0..12 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(
            attempt.in_pool(&pool).await,
            "ok",
            "later pooled sandbox {i}: a fresh network namespace, without the planted label"
        );
    }
}
