//! FASTA and FASTQ, plain and gzipped: the first byte picks the extension,
//! the rest is the file.
#![no_main]

#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let name = ["s.fa", "s.fasta", "s.fastq", "s.fq", "s.fa.gz", "s.fq.gz"][pick as usize % 6];
    let dir = common::scratch();
    let path = common::put(&dir, name, body);
    common::read_both_ways(&path);
});
