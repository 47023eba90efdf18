//! Signed notes and checkpoints (C2SP) come from servers an auditor does not
//! trust: parsing and verification must refuse bad input, never panic, and
//! a checkpoint that parses must print back to the same text.
#![no_main]

use accord::core::checkpoint::Checkpoint;
use accord::core::note::{self, Verifier};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

/// A fixed test verifier (TEST FIXTURE seed): the fuzzer cannot forge its
/// signatures, but exercises every structural check before them.
fn verifier() -> &'static Verifier {
    static V: OnceLock<Verifier> = OnceLock::new();
    V.get_or_init(|| {
        accord::core::note::Signer::from_seed("fuzz.example/log", &[7; 32])
            .unwrap()
            .verifier()
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = note::open(text, verifier());
    let _ = Checkpoint::open(text, verifier());
    let _ = Verifier::parse(text);
    let _ = accord::core::note::Signer::parse(text);
    if let Ok(cp) = Checkpoint::parse(text) {
        assert_eq!(
            cp.text(),
            text,
            "a parsed checkpoint must print back to its text"
        );
    }
});
