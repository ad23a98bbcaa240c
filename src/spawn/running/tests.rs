use super::*;
use crate::control::{refusal, REQUEST_MAGIC};
use crate::wire::{Call, Stage};

/// Sends `msg` with `fds` on the control socket as it is, and reads init's answer on the
/// channel `ours` (a failure record's errno), or `None` when init closed it unanswered.
async fn answer(serving: &Serving, msg: &[u8], nfds: usize) -> Option<i32> {
    let (ours, theirs) = seqpacket_pair().unwrap();
    let null = std::fs::File::open("/dev/null").unwrap();
    let mut fds = vec![theirs.as_fd()];
    fds.extend(std::iter::repeat_n(null.as_fd(), nfds - 1));
    send_request(serving.control.as_fd(), msg, &fds).expect("send");
    // Only init holds the channel's other end now: its EOF is init's close.
    drop(fds);
    drop((theirs, null));
    let pending = Pending(Some(ours));
    let answer = pending.reply().await;
    drop(pending.take());
    match answer {
        Ok((reply, _)) => {
            assert_eq!(reply.kind, REPLY_FAILED, "{reply:?}");
            let record: Vec<u8> = reply.words.iter().flat_map(|w| w.to_ne_bytes()).collect();
            let f = Failure::decode(&record).unwrap();
            assert_eq!((f.stage, f.call), (Stage::Exec, Call::ReceiveRequest));
            Some(f.errno)
        }
        Err(SpawnError::SandboxEnded) => None,
        Err(e) => panic!("{e}"),
    }
}

/// A well-formed request for `/bin/true`, with its channel as the only descriptor.
fn good(kind: u32) -> Vec<u8> {
    encode(
        kind,
        1,
        &[],
        &c"/bin/true".to_owned(),
        &c"/".to_owned(),
        &[c"true".to_owned()],
        &[],
    )
    .unwrap()
}

/// init refuses whatever is not a request, answers with the reason where it can tell where
/// to, closes the descriptors, and serves the next request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_refuses_malformed_requests_and_serves_on() {
    let serving = start(crate::Policy::new().compile().unwrap())
        .await
        .unwrap();
    let patch = |msg: &mut Vec<u8>, word: usize, v: u32| {
        msg[word * 4..word * 4 + 4].copy_from_slice(&v.to_ne_bytes())
    };
    let mut cases: Vec<(Vec<u8>, usize, Option<i32>)> = Vec::new();
    // Not even a header: nowhere to answer.
    cases.push((b"short".to_vec(), 1, None));
    let mut m = good(KIND_RUN);
    patch(&mut m, 0, 0x1234_5678);
    cases.push((m, 1, None));
    // The header's counts do not match the message.
    let mut m = good(KIND_RUN);
    patch(&mut m, 2, 2);
    cases.push((m, 1, Some(refusal::MALFORMED)));
    let mut m = good(KIND_RUN);
    patch(&mut m, 3, 0);
    cases.push((m, 1, Some(refusal::MALFORMED)));
    let mut m = good(KIND_RUN);
    patch(&mut m, 5, 3);
    cases.push((m, 1, Some(refusal::MALFORMED)));
    // The strings lack their NUL, or there are fewer than the header says.
    let mut m = good(KIND_RUN);
    *m.last_mut().unwrap() = b'x';
    cases.push((m, 1, Some(refusal::MALFORMED)));
    let mut m = good(KIND_RUN);
    patch(&mut m, 4, 3);
    cases.push((m, 1, Some(refusal::MALFORMED)));
    // An unknown kind, the channel given a target, a target out of range.
    let mut m = good(KIND_RUN);
    patch(&mut m, 1, 7);
    cases.push((m, 1, None));
    let mut m = good(KIND_RUN);
    patch(&mut m, 8, 0);
    cases.push((m, 1, Some(refusal::MALFORMED)));
    let mut m = encode(
        KIND_RUN,
        1,
        &[3],
        &c"/bin/true".to_owned(),
        &c"/".to_owned(),
        &[c"true".to_owned()],
        &[],
    )
    .unwrap();
    patch(&mut m, 9, MAX_TARGET + 1);
    cases.push((m, 2, Some(refusal::MALFORMED)));
    // More descriptors than a request takes: the kernel cuts the list (MSG_CTRUNC).
    cases.push((good(KIND_RUN), MAX_FDS + 5, Some(refusal::TOO_MANY_FDS)));
    for (msg, nfds, want) in cases {
        assert!(word_of(&msg, 0) == Some(REQUEST_MAGIC) || want.is_none());
        assert_eq!(answer(&serving, &msg, nfds).await, want, "{msg:?}");
    }
    // Longer than init takes (the control socket's send buffer lets it through, where
    // net.core.wmem_max allows).
    if rustix::net::sockopt::socket_send_buffer_size(&serving.control).unwrap() > MAX_REQUEST + 64 {
        let mut m = good(KIND_RUN);
        m.resize(MAX_REQUEST + 16, 0);
        assert_eq!(answer(&serving, &m, 1).await, Some(refusal::TOO_LONG));
    }
    // init still serves.
    let req = Request {
        fallback: None,
        requested_network: crate::Network::None,
        policy: serving.compiled().policy().clone(),
        program: "/bin/true".into(),
        arg0: None,
        args: Vec::new(),
        env_ops: Vec::new(),
        cwd: None,
        stdio: [
            crate::Stdio::null(),
            crate::Stdio::null(),
            crate::Stdio::null(),
        ],
        extra_fds: Vec::new(),
        kill_on_drop: false,
        timeout: None,
    };
    let mut child = serving.run(req).await.unwrap();
    assert!(child.wait().await.unwrap().success());
}

fn word_of(msg: &[u8], i: usize) -> Option<u32> {
    crate::control::word(msg, i)
}
