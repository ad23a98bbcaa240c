//! Parts of the `tokio-sandbox` CLI.

pub mod messages;
pub mod status;
