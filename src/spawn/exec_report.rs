//! Reading the child's exec report pipe to EOF: blocking in poll(2), or awaited on the reactor.

use super::*;

/// How much of a report is kept: a failure record is far shorter.
pub(super) const REPORT_LIMIT: usize = 4096;

/// Reads the report pipe (non-blocking) to EOF, blocking in poll(2) while it is empty: nothing
/// (the child exec'd) or one failure record, kept up to [`REPORT_LIMIT`].
pub(crate) fn read_report_blocking(fd: BorrowedFd<'_>) -> Result<Vec<u8>, SpawnError> {
    use rustix::event::{poll, PollFd, PollFlags};
    let mut report = Vec::new();
    let mut buf = [0u8; 64];
    loop {
        match rustix::io::read(fd, &mut buf) {
            Ok(0) => return Ok(report),
            Ok(n) if report.len() < REPORT_LIMIT => report.extend_from_slice(&buf[..n]),
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
            Err(rustix::io::Errno::AGAIN) => {
                match poll(&mut [PollFd::new(&fd, PollFlags::IN)], None) {
                    Ok(_) | Err(rustix::io::Errno::INTR) => {}
                    Err(e) => return Err(os_err("waiting for exec (poll)")(e.into())),
                }
            }
            Err(e) => return Err(os_err("reading the exec report")(e.into())),
        }
    }
}

/// Everything written on the non-blocking pipe `fd` until EOF, up to 4 KiB kept, awaited on
/// the reactor.
pub(crate) async fn read_to_eof(fd: std::os::fd::BorrowedFd<'_>) -> Result<Vec<u8>, SpawnError> {
    let mut report: Vec<u8> = Vec::new();
    // SAFETY: the fd is borrowed for this whole function, longer than the registration.
    let r = unsafe { AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE) }
        .map_err(|e| os_err("registering the report pipe")(e.into()))?;
    let mut buf = [0u8; 64];
    loop {
        let mut guard = r.readable().await.map_err(os_err("waiting for exec"))?;
        match rustix::io::read(r.get_ref(), &mut buf) {
            Ok(0) => break,
            Ok(n) if report.len() < 4096 => report.extend_from_slice(&buf[..n]),
            Ok(_) => {}
            Err(rustix::io::Errno::AGAIN) => guard.clear_ready(),
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(os_err("reading the exec report")(e.into())),
        }
    }
    Ok(report)
}
