//! Grammar-shaped SQL: the bytes choose statements, names and types from the kinds of change
//! safeshift plans (the shapes of `tests/fixtures/ops/`), so most inputs get past the parser and
//! exercise lowering, planning and rendering; then the same checks as on arbitrary bytes, plus:
//! planning twice gives the same files.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let sql = safeshift_fuzz::grammar(data);
    safeshift_fuzz::exercise(&sql);
    safeshift_fuzz::deterministic(&sql);
});
