//! Arbitrary bytes through parse, lint (every output format) and plan, for both engines.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    // safeshift reads files as UTF-8 and rejects the rest before parsing (tests/input_safety.rs).
    if let Ok(sql) = std::str::from_utf8(data) {
        safeshift_fuzz::exercise(sql);
    }
});
