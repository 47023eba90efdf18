//! Leaf bytes (SPEC.md §5) from anywhere — a peer's log, a damaged disk —
//! must parse strictly or be refused, never panic; and whatever parses must
//! re-encode to exactly the input (one encoding per entry).
#![no_main]

use accord::core::entry::Entry;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|leaf: &[u8]| {
    if let Ok(entry) = Entry::from_leaf(leaf) {
        assert_eq!(
            entry.to_leaf(),
            leaf,
            "a parsed leaf must re-encode to its bytes"
        );
        // Field validation and signature checks on arbitrary content: no panic.
        let _ = entry.signed.verify(entry.integrated_at_ms / 1000);
        let _ = entry.signed.describe();
    }
});
