//! AnnData .h5ad and 10x .h5 (both HDF5): the first byte picks which, the
//! rest is the file (fuzz/run.sh seeds it from tests/data).
#![no_main]

#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let name = if pick % 4 == 3 { "m.h5" } else { "a.h5ad" };
    let dir = common::scratch();
    let path = common::put(&dir, name, body);
    common::read_both_ways(&path);
});
