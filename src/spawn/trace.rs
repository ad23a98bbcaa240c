//! The tracing span of one spawn and the event that ends it (the `tracing` feature).

use super::*;

/// The span of one spawn, with a warning when user namespaces are not used.
pub(super) fn span(req: &Request) -> tracing::Span {
    let l = req.policy.layers;
    let span = tracing::debug_span!(
        "tokio_sandbox::spawn",
        program = %req.program.to_string_lossy(),
        network = ?req.policy.network,
        layers = %format!(
            "userns={} mount={} pid={} landlock={} seccomp={}",
            l.user_namespace, l.mount, l.pid, l.landlock, l.seccomp
        ),
    );
    if let Some(why) = &req.fallback {
        span.in_scope(
            || tracing::warn!(reason = %why, "user namespaces unusable: Landlock-only sandbox"),
        );
    }
    span
}

/// The event that ends a spawn's span: the pid and the time of each phase, or the error.
pub(super) fn trace_result(
    span: &tracing::Span,
    result: &Result<Child, SpawnError>,
    prepared_and_cloned: std::time::Duration,
    t1: std::time::Instant,
) {
    span.in_scope(|| match result {
        Ok(child) => tracing::debug!(
            pid = child.id(),
            prepare_and_clone_us = prepared_and_cloned.as_micros() as u64,
            setup_and_exec_us = t1.elapsed().as_micros() as u64,
            "sandbox started"
        ),
        Err(e) => tracing::debug!(error = %e, "spawn failed"),
    });
}
