//! Where a command's program runs: a new sandbox of its own, a running sandbox, or one a pool
//! prepared.

use std::sync::Arc;

use crate::child_handle::Child;
use crate::error::{PolicyError, SpawnError};
use crate::plan::CompiledPolicy;
use crate::spawn::pool::PoolShared;
use crate::spawn::running::Serving;
use crate::spawn::shared::caller_nofile;
use crate::spawn::{naming_the_descriptor_limit, spawn, spawn_blocking, Request};

/// Where a command's program runs.
#[derive(Debug, Clone, Default)]
pub(crate) enum Target {
    /// In a new sandbox of its own.
    #[default]
    New,
    /// In a running sandbox, next to its other commands.
    Running(Arc<Serving>),
    /// In a sandbox a pool prepared (or a new one when none is ready).
    Pool(Arc<PoolShared>),
}

/// Spawns `req` where `target` says: in a new sandbox ([`spawn`]), in a running one, or in one
/// a pool prepared (a new one when none is ready, or when the command's policy is no longer the
/// pool's). `compiled` is the command's compiled policy, as for [`spawn`]. An error whose errno
/// is `EMFILE` or `ENFILE` is [`SpawnError::TooManyOpenFiles`] wherever the program runs.
pub(crate) async fn spawn_at(
    target: &Target,
    req: Request,
    compiled: &mut Option<CompiledPolicy>,
) -> Result<Child, SpawnError> {
    caller_nofile();
    spawn_at_counted(target, req, compiled)
        .await
        .map_err(naming_the_descriptor_limit)
}

/// [`spawn_at`], with an error of any step as it comes.
async fn spawn_at_counted(
    target: &Target,
    req: Request,
    compiled: &mut Option<CompiledPolicy>,
) -> Result<Child, SpawnError> {
    let unchanged =
        |of: &CompiledPolicy| compiled.as_ref().is_some_and(|c| Arc::ptr_eq(&c.0, &of.0));
    match target {
        Target::New => spawn(req, compiled).await,
        Target::Running(serving) => {
            if !unchanged(serving.compiled()) {
                return Err(PolicyError::RunningSandboxPolicy.into());
            }
            serving.run(req).await
        }
        Target::Pool(pool) if unchanged(pool.compiled()) => match pool.take() {
            Some(serving) => serving.run_last(req).await,
            // None ready: set one up here, keeping the pool's compiled policy for the next.
            None => spawn(req, &mut Some(pool.compiled().clone())).await,
        },
        Target::Pool(_) => spawn(req, compiled).await,
    }
}

/// [`spawn_at`] on the calling thread, as [`spawn_blocking`] is [`spawn`]: blocks until the
/// program was executed (or failed); in a running or pooled sandbox, for one message each way
/// and init's fork and exec. Errors as [`spawn_at`]'s.
pub(crate) fn spawn_blocking_at(
    target: &Target,
    req: Request,
    compiled: &mut Option<CompiledPolicy>,
) -> Result<Child, SpawnError> {
    caller_nofile();
    spawn_blocking_at_counted(target, req, compiled).map_err(naming_the_descriptor_limit)
}

/// [`spawn_blocking_at`], with an error of any step as it comes.
fn spawn_blocking_at_counted(
    target: &Target,
    req: Request,
    compiled: &mut Option<CompiledPolicy>,
) -> Result<Child, SpawnError> {
    let unchanged =
        |of: &CompiledPolicy| compiled.as_ref().is_some_and(|c| Arc::ptr_eq(&c.0, &of.0));
    match target {
        Target::New => spawn_blocking(req, compiled),
        Target::Running(serving) => {
            if !unchanged(serving.compiled()) {
                return Err(PolicyError::RunningSandboxPolicy.into());
            }
            serving.run_blocking(req)
        }
        Target::Pool(pool) if unchanged(pool.compiled()) => match pool.take() {
            Some(serving) => serving.run_last_blocking(req),
            None => spawn_blocking(req, &mut Some(pool.compiled().clone())),
        },
        Target::Pool(_) => spawn_blocking(req, compiled),
    }
}
