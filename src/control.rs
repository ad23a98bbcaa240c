//! The control channel of a running sandbox: how the library asks the sandbox's init (in its
//! serve mode, see `src/init/serve.rs`) to start a command, and how init answers.
//!
//! Shared by the library and the init program (`src/init/main.rs` includes this file with
//! `#[path]`), so it holds only `core` items: no allocation, no panic, no formatting.
//!
//! # Requests
//!
//! The library holds one end of an `AF_UNIX` `SOCK_SEQPACKET` socket pair, init the other
//! (close-on-exec, so no command inherits it; init is not dumpable, so `/proc/1/fd` does not
//! show it; nothing in the filesystem names it). Each request is one message with its
//! descriptors attached (`SCM_RIGHTS`, received close-on-exec):
//!
//! | bytes | contents |
//! |---|---|
//! | 0..32 | eight native-endian `u32` words: [`REQUEST_MAGIC`], the kind ([`KIND_RUN`] or [`KIND_LAST`]), the number of attached descriptors, `argc`, the number of environment entries, the length of the string area, two words 0 |
//! | 32.. | one `u32` per attached descriptor: the fd number the program gets it at ([`NO_TARGET`] for the channel descriptors that lead the list) |
//! | then | the string area: the program's path, the working directory, `argc` arguments, the environment entries, each NUL-terminated |
//!
//! A request is at most [`MAX_REQUEST`] bytes, with at most [`MAX_FDS`] descriptors and
//! [`MAX_STRINGS`] arguments and environment entries. Init checks every field; a request that
//! is not exactly this shape is refused (a [`Failure`] with [`Call::ReceiveRequest`]: `EMSGSIZE`
//! too long, `EMFILE` too many descriptors, `EBADMSG` malformed) and its descriptors closed.
//!
//! - [`KIND_RUN`]: a command of a running sandbox. The first descriptor is the command's
//!   channel: an `AF_UNIX` `SOCK_SEQPACKET` socket on which init sends [`Reply`] messages:
//!   [`REPLY_STARTED`] (with the command's pidfd attached) or [`REPLY_FAILED`], later
//!   [`REPLY_EXITED`]; then init closes it. The command gets its own process group.
//! - [`KIND_LAST`]: the one command of a prepared sandbox. The first descriptor is its channel,
//!   answered as a [`KIND_RUN`] command's, but the command stays in init's process group; init
//!   then takes no more requests, forwards the signals a process sends it to the command, and
//!   ends the sandbox once the command's [`REPLY_EXITED`] is sent.
//!
//! [`Failure`]: crate::wire::Failure
//! [`Call::ReceiveRequest`]: crate::wire::Call::ReceiveRequest

#![deny(
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

/// The first word of a request: `tsq` (tokio-sandbox request) and the format version `1`.
pub const REQUEST_MAGIC: u32 = u32::from_le_bytes(*b"tsq1");

/// The first word of a reply: `tsp` and the format version `1`.
pub const REPLY_MAGIC: u32 = u32::from_le_bytes(*b"tsp1");

/// The length of a request's header in bytes.
pub const HEADER_LEN: usize = 32;

/// The largest request init takes, in bytes.
pub const MAX_REQUEST: usize = 256 * 1024;

/// The most descriptors a request carries (the channel descriptors included).
pub const MAX_FDS: usize = 64;

/// The most arguments and environment entries of a request, together.
pub const MAX_STRINGS: usize = 16 * 1024;

/// The most commands that run at once in one sandbox.
pub const MAX_COMMANDS: usize = 1024;

/// A command of a running sandbox: descriptor 0 is its channel.
pub const KIND_RUN: u32 = 1;

/// The one command of a prepared sandbox: descriptor 0 is its channel, as for [`KIND_RUN`].
pub const KIND_LAST: u32 = 2;

/// The target of a descriptor that is not the program's.
pub const NO_TARGET: u32 = u32::MAX;

/// The highest fd number a program gets a descriptor at.
pub const MAX_TARGET: u32 = 1 << 20;

/// A reply: the command was executed; its pid in the sandbox is the first word, its pidfd is
/// attached.
pub const REPLY_STARTED: u32 = 1;
/// A reply: the command could not be started; the six words are a failure record
/// (`src/wire.rs`).
pub const REPLY_FAILED: u32 = 2;
/// A reply: the command ended: its wait status is the first word; the values are its user and
/// system CPU time in microseconds and its peak resident memory in KiB (wait4(2)'s rusage, which
/// counts the descendants it waited for).
pub const REPLY_EXITED: u32 = 3;

/// The length of a [`Reply`] in bytes: eight `u32` words (the magic, the kind, six words), then
/// four `u64` values, native-endian.
pub const REPLY_LEN: usize = 64;

/// Why a request was refused, as an errno of [`Call::ReceiveRequest`](crate::wire::Call).
pub mod refusal {
    /// More than [`MAX_REQUEST`](super::MAX_REQUEST) bytes.
    pub const TOO_LONG: i32 = 90; // EMSGSIZE
    /// More than [`MAX_FDS`](super::MAX_FDS) descriptors.
    pub const TOO_MANY_FDS: i32 = 24; // EMFILE
    /// Not the shape of a request.
    pub const MALFORMED: i32 = 74; // EBADMSG
}

/// The header of a request, checked against the message it heads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub kind: u32,
    pub nfds: u32,
    pub argc: u32,
    pub envc: u32,
    pub strings_len: u32,
}

/// The `i`-th native-endian word of `bytes`, if there is one.
pub fn word(bytes: &[u8], i: usize) -> Option<u32> {
    let start = i.checked_mul(4)?;
    let b = bytes.get(start..start.checked_add(4)?)?;
    let mut w = [0u8; 4];
    for (d, s) in w.iter_mut().zip(b) {
        *d = *s;
    }
    Some(u32::from_ne_bytes(w))
}

impl Header {
    /// The header's words.
    pub fn to_words(self) -> [u32; 8] {
        [
            REQUEST_MAGIC,
            self.kind,
            self.nfds,
            self.argc,
            self.envc,
            self.strings_len,
            0,
            0,
        ]
    }

    /// The offset of the string area in a request with this header.
    pub fn strings_offset(&self) -> usize {
        HEADER_LEN.saturating_add((self.nfds as usize).saturating_mul(4))
    }

    /// Reads and checks the header of `msg` (a whole message, `nfds` descriptors received with
    /// it): the magic, a known kind with its channel descriptors, the counts within bounds, and
    /// the lengths adding up to the message's. Returns the errno of the refusal otherwise.
    pub fn decode(msg: &[u8], nfds: usize) -> Result<Header, i32> {
        if msg.len() > MAX_REQUEST {
            return Err(refusal::TOO_LONG);
        }
        if nfds > MAX_FDS {
            return Err(refusal::TOO_MANY_FDS);
        }
        let w = |i| word(msg, i).ok_or(refusal::MALFORMED);
        let h = Header {
            kind: w(1)?,
            nfds: w(2)?,
            argc: w(3)?,
            envc: w(4)?,
            strings_len: w(5)?,
        };
        let channels = match h.kind {
            KIND_RUN | KIND_LAST => 1,
            _ => return Err(refusal::MALFORMED),
        };
        let strings = (h.argc as usize).saturating_add(h.envc as usize);
        if w(0)? != REQUEST_MAGIC
            || h.nfds as usize != nfds
            || nfds < channels
            || h.argc == 0
            || strings > MAX_STRINGS
            || h.strings_offset().saturating_add(h.strings_len as usize) != msg.len()
        {
            return Err(refusal::MALFORMED);
        }
        Ok(h)
    }
}

/// One message init sends on a command's channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reply {
    /// [`REPLY_STARTED`], [`REPLY_FAILED`] or [`REPLY_EXITED`].
    pub kind: u32,
    /// Kind-specific words (see the kinds).
    pub words: [u32; 6],
    /// Kind-specific values (see the kinds).
    pub values: [u64; 4],
}

impl Reply {
    /// The reply's bytes.
    pub fn to_bytes(self) -> [u8; REPLY_LEN] {
        let mut words = [0u32; 8];
        words[0] = REPLY_MAGIC;
        words[1] = self.kind;
        for (d, s) in words.iter_mut().skip(2).zip(self.words) {
            *d = s;
        }
        let mut out = [0u8; REPLY_LEN];
        let bytes = words
            .into_iter()
            .flat_map(u32::to_ne_bytes)
            .chain(self.values.into_iter().flat_map(u64::to_ne_bytes));
        for (d, b) in out.iter_mut().zip(bytes) {
            *d = b;
        }
        out
    }

    /// Reads a reply: exactly [`REPLY_LEN`] bytes with [`REPLY_MAGIC`].
    pub fn decode(bytes: &[u8]) -> Option<Reply> {
        if bytes.len() != REPLY_LEN || word(bytes, 0)? != REPLY_MAGIC {
            return None;
        }
        let mut words = [0u32; 6];
        for (i, w) in words.iter_mut().enumerate() {
            *w = word(bytes, i.checked_add(2)?)?;
        }
        let mut values = [0u64; 4];
        for (k, v) in values.iter_mut().enumerate() {
            let lo = word(bytes, k.checked_mul(2)?.checked_add(8)?)?;
            let hi = word(bytes, k.checked_mul(2)?.checked_add(9)?)?;
            *v = u64::from(lo) | (u64::from(hi) << 32);
        }
        Some(Reply {
            kind: word(bytes, 1)?,
            words,
            values,
        })
    }
}
