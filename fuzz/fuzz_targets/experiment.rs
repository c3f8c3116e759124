//! Experiment files: parsed (with the format upgrades and the unknown-key
//! check) and, when they parse, checked as `lamina train` checks them before
//! it reads any data.
#![no_main]

use std::path::Path;

use lamina::spec::Experiment;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Experiment::from_json(text, Path::new("fuzz.json")) {
        Ok(exp) => {
            if let Err(e) = exp.validate() {
                assert!(!e.to_string().trim().is_empty(), "an empty message");
            }
        }
        Err(e) => assert!(!e.to_string().trim().is_empty(), "an empty message"),
    }
});
