//! The network's front door: arbitrary bytes as a protobuf SubmitRequest,
//! converted and verified exactly as the Submit handler does. Refusals are
//! fine, panics are not; anything accepted must survive the leaf encoding.
#![no_main]

use accord::core::entry::Entry;
use libfuzzer_sys::fuzz_target;
use prost::Message;

fuzz_target!(|data: &[u8]| {
    let Ok(req) = accord::proto::SubmitRequest::decode(data) else {
        return;
    };
    let Ok(signed) = accord::service::convert::signed_from_proto(req) else {
        return;
    };
    let _ = signed.verify(1_800_000_000);
    let entry = Entry {
        index: 1,
        integrated_at_ms: 1_800_000_000_000,
        prev_leaf_hash: [0; 32],
        signed,
    };
    let leaf = entry.to_leaf();
    let back = Entry::from_leaf(&leaf).expect("what the API accepts must decode from its leaf");
    assert_eq!(back.to_leaf(), leaf);
});
