//! Fuzz `harness_core::series::parse_mbox`: it must never panic, and every `Ok` must be a usable
//! series (see the asserts). Run with `scripts/fuzz`.
#![no_main]

use harness_core::series::{concat, parse_mbox};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(series) = parse_mbox(data, "fuzz.mbox") else {
        return;
    };
    assert!(!series.patches.is_empty(), "Ok series without patches");
    for p in &series.patches {
        assert!(!p.raw.is_empty(), "patch with empty raw: {p:?}");
        assert!(!p.origin.is_empty(), "patch with empty origin: {p:?}");
    }
    let n = series.patches.len();
    let joined = concat(vec![series.clone()]);
    assert_eq!(joined.patches.len(), n, "concat changed the patch count");
});
