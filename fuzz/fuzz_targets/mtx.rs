//! 10x Matrix Market folders: the input is the three files, matrix.mtx,
//! barcodes.tsv and features.tsv, separated by zero bytes (fuzz/run.sh seeds
//! it from tests/data/10x in that form).
#![no_main]

#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(3, |&b| b == 0);
    let matrix = parts.next().unwrap_or_default();
    let barcodes = parts.next().unwrap_or_default();
    let features = parts.next().unwrap_or_default();
    let dir = common::scratch();
    let folder = dir.join("tenx");
    common::put(&folder, "matrix.mtx", matrix);
    common::put(&folder, "barcodes.tsv", barcodes);
    common::put(&folder, "features.tsv", features);
    common::read_both_ways(&folder);
    // The matrix file chosen itself reads the same folder.
    common::read_both_ways(&folder.join("matrix.mtx"));
});
