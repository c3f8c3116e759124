//! CSV/TSV tables: the first byte picks the file's extension (so the
//! delimiter guess and the gzip path are both reached), the rest is the file.
#![no_main]

#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let name = ["t.csv", "t.tsv", "t.txt", "t.tab", "t.csv.gz"][pick as usize % 5];
    let dir = common::scratch();
    let path = common::put(&dir, name, body);
    common::read_both_ways(&path);
});
