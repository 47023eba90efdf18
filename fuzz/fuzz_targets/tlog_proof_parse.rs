//! Receipts (c2sp.org/tlog-proof) are files people pass around: parsing must
//! refuse anything malformed, never panic, and what parses must format back
//! to the same text.
#![no_main]

use accord::core::receipt::TlogProof;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(proof) = TlogProof::parse(text) {
        assert_eq!(
            proof.format(),
            text,
            "a parsed receipt must format back to its text"
        );
    }
});
