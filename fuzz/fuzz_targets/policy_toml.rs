//! Policy files: `Policy::from_toml` on any UTF-8 input returns a policy or a typed error and
//! never panics; a policy it returns writes back with `to_toml` and reads back equal, and the
//! written text is a fixed point; compiling it against this host (paths resolved, nothing
//! spawned) returns a compiled policy or a typed error and never panics.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tokio_sandbox::Policy;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let policy = match Policy::from_toml(text) {
        Ok(p) => p,
        Err(e) => {
            // The message is built (it quotes the input) without panicking.
            let _ = e.to_string();
            return;
        }
    };
    let written = policy
        .to_toml()
        .expect("a policy read from a file can be written back");
    let back = Policy::from_toml(&written).expect("the written policy reads back");
    assert_eq!(back, policy, "round trip changed the policy:\n{written}");
    assert_eq!(
        back.to_toml().expect("writes again"),
        written,
        "the written text is not a fixed point"
    );
    if let Err(e) = policy.compile() {
        let _ = e.to_string();
    }
});
