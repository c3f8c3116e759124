//! FASTQ, gzip-compressed FASTA/FASTQ, multi-line records, soft-masked
//! (lowercase) bases and Ns; a truncated gzip gives a message naming the file.

use std::io::Write;
use std::path::{Path, PathBuf};

use lamina::data::{Labels, detect_format, fasta, inspect};
use lamina::spec::{DataFormat, SequenceOptions};

fn folder(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lamina-seq-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn gzip(path: &Path, text: &str) {
    let mut enc = flate2::write::GzEncoder::new(
        std::fs::File::create(path).unwrap(),
        flate2::Compression::default(),
    );
    enc.write_all(text.as_bytes()).unwrap();
    enc.finish().unwrap();
}

const FASTQ: &str =
    "@r1 label=promoter\nACGTNacgt\n+\nIIIIIIIII\n@r2 label=other\nTTTTgggg\n+r2\n########\n";

/// The one-hot letter of position `p` of sample `i` (None: no letter is hot).
fn letter(ds: &lamina::data::Dataset, i: usize, p: usize) -> Option<usize> {
    let len = ds.shape[1];
    let x = ds.sample(i);
    let hot: Vec<usize> = (0..ds.shape[0])
        .filter(|&c| x[c * len + p] == 1.0)
        .collect();
    (hot.len() == 1).then(|| hot[0])
}

#[test]
fn fastq_plain_and_gzipped_read_alike() {
    let dir = folder("fastq");
    std::fs::write(dir.join("reads.fastq"), FASTQ).unwrap();
    gzip(&dir.join("reads.fq.gz"), FASTQ);
    assert_eq!(
        detect_format(&dir.join("reads.fq.gz")).unwrap(),
        DataFormat::Fasta
    );
    let plain = fasta::read(
        &dir.join("reads.fastq"),
        &SequenceOptions::default(),
        Some("label"),
    )
    .unwrap();
    let gz = fasta::read(
        &dir.join("reads.fq.gz"),
        &SequenceOptions::default(),
        Some("label"),
    )
    .unwrap();
    assert_eq!(plain.ids, ["r1", "r2"]);
    assert_eq!(plain.sparse, gz.sparse);
    assert!(
        plain.sparse.is_some(),
        "one-hot sequences are stored sparse"
    );
    assert_eq!(plain.labels, gz.labels);
    assert_eq!(plain.lengths, Some(vec![9, 8]));
    assert_eq!(plain.feature_names, ["A", "C", "G", "T"]);
    // Quality lines are not read as sequence; lowercase bases are the same
    // bases (soft-masking is ignored); N has no single letter.
    assert_eq!(letter(&plain, 0, 0), Some(0));
    assert_eq!(letter(&plain, 0, 4), None);
    assert_eq!(letter(&plain, 0, 5), Some(0));
    assert_eq!(letter(&plain, 0, 8), Some(3));
    assert_eq!(letter(&plain, 1, 4), Some(2));
    assert!(matches!(plain.labels, Labels::Classes { .. }));
}

#[test]
fn multi_line_gzipped_fasta() {
    let dir = folder("fasta");
    let text = ">chr1_a label=1\nACGTACGTAC\nGTacgtNNNN\nAC\n>chr1_b label=0\nttttt\nGGGGG\n";
    gzip(&dir.join("regions.fa.gz"), text);
    let ds = inspect(&dir.join("regions.fa.gz")).unwrap();
    assert_eq!(ds.ids, ["chr1_a", "chr1_b"]);
    assert_eq!(ds.lengths, Some(vec![22, 10]));
    assert_eq!(letter(&ds, 0, 12), Some(0)); // 'a' on the second line
    assert_eq!(letter(&ds, 1, 0), Some(3));
    assert_eq!(letter(&ds, 1, 9), Some(2));
}

#[test]
fn a_truncated_gzip_is_named_not_a_panic() {
    let dir = folder("truncated");
    let mut text = String::new();
    for i in 0..2000 {
        text.push_str(&format!(
            ">s{i} label={}\nACGTTGCAACGTTGCAACGTTGCA\n",
            i % 2
        ));
    }
    let full = dir.join("full.fa.gz");
    gzip(&full, &text);
    let bytes = std::fs::read(&full).unwrap();
    let cut = dir.join("cut.fa.gz");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let msg = fasta::read(&cut, &SequenceOptions::default(), Some("label"))
        .unwrap_err()
        .to_string();
    assert!(msg.contains("cut.fa.gz"), "{msg}");
    // A FASTQ record with a quality line of the wrong length is named too.
    std::fs::write(dir.join("bad.fastq"), "@r1\nACGT\n+\nII\n").unwrap();
    let msg = fasta::read(&dir.join("bad.fastq"), &SequenceOptions::default(), None)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("bad.fastq"), "{msg}");
}

#[test]
fn the_letters_of_a_short_sequence_read_back() {
    let dir = folder("letters");
    std::fs::write(dir.join("s.fa"), ">long\nACGTACGTAC\n>short\nGGTNa\n").unwrap();
    let ds = fasta::read(&dir.join("s.fa"), &SequenceOptions::default(), None).unwrap();
    assert_eq!(ds.sequence_letters(0), "ACGTACGTAC");
    assert_eq!(ds.sequence_letters(1), "GGTNA");
}

/// A k-mer size past 6 in a hand-edited experiment is refused by the reader
/// with a message (4^30 token names would exhaust memory).
#[test]
fn a_kmer_size_past_six_is_refused_by_the_reader() {
    let path = std::env::temp_dir().join(format!("lamina-kmer-{}.fasta", std::process::id()));
    std::fs::write(
        &path,
        ">a\nACGTACGTACGTACGTACGTACGTACGTACGTACGT\n>b\nTTTTACGTACGTACGTACGTACGTACGTACGTACGT\n",
    )
    .unwrap();
    let opts = SequenceOptions {
        kmer: 30,
        ..SequenceOptions::default()
    };
    let e = fasta::read(&path, &opts, None).unwrap_err().to_string();
    assert!(
        e.contains("k-mer size is 30") && e.contains("1 (single letters) to 6"),
        "{e}"
    );
    let opts = SequenceOptions {
        kmer: 3,
        ..SequenceOptions::default()
    };
    assert!(fasta::read(&path, &opts, None).is_ok());
    let _ = std::fs::remove_file(path);
}
