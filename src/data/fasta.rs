//! FASTA/FASTQ sequences (DNA, RNA or protein), parsed with needletail, encoded
//! one-hot as `[letters × length]`, cut or zero-padded to a fixed length.
//! Lowercase (soft-masked) letters count as uppercase; ambiguous letters such as
//! `N` or `X` become all-zero columns.

use std::path::Path;

use super::sparse::SparseRows;
use super::{DataError, DataKind, Dataset, Labels};
use crate::spec::{Alphabet, SequenceOptions};

const DNA: &str = "ACGT";
const RNA: &str = "ACGU";
const PROTEIN: &str = "ACDEFGHIKLMNPQRSTVWY";
/// Letters accepted as "unknown" (all-zero) in each alphabet: IUPAC ambiguity codes.
const DNA_AMBIGUOUS: &str = "NRYSWKMBDHV";
const PROTEIN_AMBIGUOUS: &str = "XBZJUO*";

struct Record {
    id: String,
    description: String,
    seq: Vec<u8>,
}

impl Alphabet {
    fn letters(self) -> &'static str {
        match self {
            Alphabet::Dna | Alphabet::Auto => DNA,
            Alphabet::Rna => RNA,
            Alphabet::Protein => PROTEIN,
        }
    }

    fn ambiguous(self) -> &'static str {
        match self {
            Alphabet::Protein => PROTEIN_AMBIGUOUS,
            _ => DNA_AMBIGUOUS,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Alphabet::Dna | Alphabet::Auto => "DNA",
            Alphabet::Rna => "RNA",
            Alphabet::Protein => "protein",
        }
    }
}

/// Read sequences; labels come from `key=value` in the headers when `label_key` is set.
const AMBIGUOUS: u8 = 254;
const INVALID: u8 = 255;

pub fn read(
    path: &Path,
    opts: &SequenceOptions,
    label_key: Option<&str>,
) -> Result<Dataset, DataError> {
    let mut records = parse(path)?;
    let alphabet = match opts.alphabet {
        Alphabet::Auto => {
            let a = detect(&records);
            if a == Alphabet::Protein {
                check_not_mixed(path, &records)?;
            }
            a
        }
        a => a,
    };
    let letters = alphabet.letters().as_bytes();
    let ambiguous = alphabet.ambiguous().as_bytes();
    let k = opts.kmer.max(1);
    if k > 1 && alphabet == Alphabet::Protein && k > 2 {
        return Err(DataError::Invalid(format!(
            "{}: protein k-mers longer than 2 letters make too many tokens (20^{k}); use k = 1 or 2, or an Embedding with a window",
            path.display()
        )));
    }
    let longest = records.iter().map(|r| r.seq.len()).max().unwrap_or(0);
    let length = if opts.length == 0 {
        longest
    } else {
        opts.length
    };
    let channels = letters.len();

    // Letter → channel, either case; ambiguous letters (N, X) stay all-zero.
    let mut lut = [INVALID; 256];
    for (c, &l) in letters.iter().enumerate() {
        lut[l as usize] = c as u8;
        lut[l.to_ascii_lowercase() as usize] = c as u8;
    }
    for &l in ambiguous {
        lut[l as usize] = AMBIGUOUS;
        lut[l.to_ascii_lowercase() as usize] = AMBIGUOUS;
    }
    // Each record as letter codes (AMBIGUOUS for N/X), cut to `length`.
    // The letters are let go as they are coded: only the codes stay.
    let mut codes: Vec<Vec<u8>> = Vec::with_capacity(records.len());
    let mut seq_lens: Vec<usize> = Vec::with_capacity(records.len());
    let mut truncated = 0usize;
    let mut padded = 0usize;
    for (r, rec) in records.iter_mut().enumerate() {
        if rec.seq.is_empty() {
            return Err(DataError::EmptyRecord {
                path: path.to_path_buf(),
                record: r + 1,
                id: rec.id.clone(),
            });
        }
        if let Some(pos) = rec.seq.iter().position(|&b| lut[b as usize] == INVALID) {
            return Err(DataError::InvalidLetter {
                path: path.to_path_buf(),
                record: r + 1,
                id: rec.id.clone(),
                letter: rec.seq[pos] as char,
                position: pos + 1,
                alphabet: alphabet.label().to_string(),
                allowed: format!(
                    "{}, and {} for unknown",
                    alphabet.letters(),
                    alphabet.ambiguous()
                ),
            });
        }
        codes.push(
            rec.seq
                .iter()
                .take(length)
                .map(|&b| lut[b as usize])
                .collect(),
        );
        if rec.seq.len() > length {
            truncated += 1;
        } else if rec.seq.len() < length {
            padded += 1;
        }
        seq_lens.push(rec.seq.len());
        rec.seq = Vec::new();
    }

    let labels = match label_key {
        Some(key) => {
            let mut raw = Vec::with_capacity(records.len());
            for (r, rec) in records.iter().enumerate() {
                match header_value(&rec.description, key) {
                    Some(v) => raw.push(v.to_string()),
                    None => {
                        return Err(DataError::MissingHeaderLabel {
                            path: path.to_path_buf(),
                            record: r + 1,
                            id: rec.id.clone(),
                            key: key.to_string(),
                        });
                    }
                }
            }
            let ids: Vec<String> = records.iter().map(|r| r.id.clone()).collect();
            Labels::from_strings(&raw, false, path, &ids)?
        }
        None => Labels::None,
    };

    let mut notes = Vec::new();
    if truncated > 0 {
        notes.push(format!(
            "{truncated} sequences are longer than {length} and were cut to that length"
        ));
    }
    if padded > 0 {
        notes.push(format!(
            "{padded} sequences are shorter than {length}: batches are padded to their longest sequence and the padding is masked"
        ));
    }
    let mut lengths: Vec<usize> = seq_lens.clone();
    lengths.sort_unstable();
    let at = |q: f64| {
        let last = lengths.len().saturating_sub(1);
        lengths
            .get((last as f64 * q).round() as usize)
            .copied()
            .unwrap_or(0)
    };
    notes.push(format!(
        "sequence lengths: shortest {}, quartiles {} / {} / {}, longest {}",
        at(0.0),
        at(0.25),
        at(0.5),
        at(0.75),
        at(1.0)
    ));
    let mut lengths: Vec<usize> = seq_lens.iter().map(|&n| n.min(length)).collect();
    let mut feature_names: Vec<String> = letters.iter().map(|&b| (b as char).to_string()).collect();
    let (mut channels, mut length) = (channels, length);
    if k > 1 {
        if length < k {
            return Err(DataError::Invalid(format!(
                "{}: sequences of {length} letters are shorter than the k-mer size {k}",
                path.display()
            )));
        }
        feature_names = kmer_names(&feature_names, k);
        length = length - k + 1;
        lengths
            .iter_mut()
            .for_each(|n| *n = n.saturating_sub(k - 1).max(1));
        notes.push(format!(
            "tokens are {}-mers: {} kinds, one per position",
            k,
            feature_names.len()
        ));
    }
    let letters_n = channels;
    channels = feature_names.len();
    let one_hot = one_hot_rows(&codes, letters_n, k, channels, length);
    Ok(Dataset {
        kind: DataKind::Sequences,
        source: path.to_path_buf(),
        lengths: Some(lengths),
        ids: records.into_iter().map(|r| r.id).collect(),
        shape: vec![channels, length],
        values: Vec::new(),
        feature_names,
        labels,
        max_value: 1.0,
        notes,
        text_columns: Vec::new(),
        sparse: Some(one_hot),
    })
}

/// Letter codes as one-hot rows `[tokens × length]`, stored sparse (one
/// value per position): single letters (`k` = 1) or overlapping k-mers, token
/// = the k letters read as a number in base `letters`. A position with an
/// unknown letter (N, X), or past the end, has no token.
fn one_hot_rows(
    codes: &[Vec<u8>],
    letters: usize,
    k: usize,
    tokens: usize,
    length: usize,
) -> SparseRows {
    let mut m = SparseRows {
        indptr: Vec::with_capacity(codes.len() + 1),
        indices: Vec::with_capacity(codes.iter().map(Vec::len).sum()),
        data: Vec::new(),
        cols: tokens * length,
    };
    m.indptr.push(0);
    // In position order, not column order: nothing needs a row sorted.
    for c in codes {
        if k == 1 {
            for (p, &l) in c.iter().enumerate().take(length) {
                if l < AMBIGUOUS {
                    m.indices.push((l as usize * length + p) as u32);
                }
            }
        } else {
            for (p, window) in c.windows(k).enumerate().take(length) {
                let token = window.iter().try_fold(0usize, |acc, &l| {
                    (l < AMBIGUOUS).then(|| acc * letters + l as usize)
                });
                if let Some(t) = token {
                    m.indices.push((t * length + p) as u32);
                }
            }
        }
        m.indptr.push(m.indices.len());
    }
    m.data = vec![1.0; m.indices.len()];
    m
}

/// Every k-mer of `letters`, in the order of [`one_hot_rows`]'s token numbers.
fn kmer_names(letters: &[String], k: usize) -> Vec<String> {
    let mut names = vec![String::new()];
    for _ in 0..k {
        names = names
            .iter()
            .flat_map(|prefix| letters.iter().map(move |l| format!("{prefix}{l}")))
            .collect();
    }
    names
}

fn parse(path: &Path) -> Result<Vec<Record>, DataError> {
    let (file, size) = super::progress::open(path)?;
    if size == 0 {
        return Err(DataError::Empty {
            path: path.to_path_buf(),
        });
    }
    let fastx = |e: needletail::errors::ParseError| {
        let mut message = e.to_string();
        if message.contains("'+' separator") {
            message.push_str(
                "; FASTQ records must be four lines (name, sequence, +, quality), \
                 with the sequence and its quality each on one line",
            );
        }
        DataError::Fastx {
            path: path.to_path_buf(),
            message,
        }
    };
    let mut reader = needletail::parse_fastx_reader(file).map_err(|e| {
        if e.kind == needletail::errors::ParseErrorKind::EmptyFile {
            DataError::Empty {
                path: path.to_path_buf(),
            }
        } else {
            fastx(e)
        }
    })?;
    let mut records = Vec::new();
    let mut seen = std::collections::HashMap::new();
    while let Some(rec) = reader.next() {
        let rec = rec.map_err(fastx)?;
        let header = String::from_utf8_lossy(rec.id()).to_string();
        let (id, description) = match header.split_once(char::is_whitespace) {
            Some((id, rest)) => (id.to_string(), rest.trim().to_string()),
            None => (header.trim().to_string(), String::new()),
        };
        let line = rec.start_line_number();
        if let Some(first) = seen.insert(id.clone(), line) {
            return Err(DataError::DuplicateId {
                path: path.to_path_buf(),
                id,
                first,
                second: line,
            });
        }
        let seq: Vec<u8> = rec
            .seq()
            .iter()
            .copied()
            .filter(|b| !b.is_ascii_whitespace())
            .collect();
        records.push(Record {
            id,
            description,
            seq,
        });
    }
    if records.is_empty() {
        return Err(DataError::Empty {
            path: path.to_path_buf(),
        });
    }
    Ok(records)
}

/// DNA if every letter is A/C/G/T/N, RNA if A/C/G/U/N, else protein.
/// A nucleotide-looking record (only A, C, G, T, U, N; at least 12 letters,
/// which proteins practically never are) beside a protein record is a mix-up.
fn check_not_mixed(path: &Path, records: &[Record]) -> Result<(), DataError> {
    let is_nucleotide = |r: &Record| {
        r.seq.len() >= 12
            && r.seq.iter().all(|b| {
                matches!(
                    b.to_ascii_uppercase(),
                    b'A' | b'C' | b'G' | b'T' | b'U' | b'N'
                )
            })
    };
    let nucleotide = records.iter().position(is_nucleotide);
    let protein = records.iter().position(|r| {
        r.seq.iter().any(|b| {
            !matches!(
                b.to_ascii_uppercase(),
                b'A' | b'C' | b'G' | b'T' | b'U' | b'N'
            )
        })
    });
    if let (Some(n), Some(p)) = (nucleotide, protein) {
        return Err(DataError::MixedAlphabets {
            path: path.to_path_buf(),
            nucleotide_record: n + 1,
            nucleotide_id: records[n].id.clone(),
            protein_record: p + 1,
            protein_id: records[p].id.clone(),
        });
    }
    Ok(())
}

fn detect(records: &[Record]) -> Alphabet {
    // One bit per kind of letter seen, from a table: no branch per letter.
    const NUCLEOTIDE: u8 = 1;
    const T: u8 = 2;
    const U: u8 = 4;
    const OTHER: u8 = 8;
    let mut kind = [OTHER; 256];
    for b in *b"ACGNacgn" {
        kind[b as usize] = NUCLEOTIDE;
    }
    (kind[b'T' as usize], kind[b't' as usize]) = (T, T);
    (kind[b'U' as usize], kind[b'u' as usize]) = (U, U);
    let mut seen = 0u8;
    for r in records {
        seen |= r.seq.iter().fold(0u8, |acc, &b| acc | kind[b as usize]);
        if seen & OTHER != 0 {
            return Alphabet::Protein;
        }
    }
    match (seen & T != 0, seen & U != 0) {
        (_, false) => Alphabet::Dna,
        (false, true) => Alphabet::Rna,
        (true, true) => Alphabet::Protein,
    }
}

/// The value of `key=value` in a FASTA description.
fn header_value<'a>(description: &'a str, key: &str) -> Option<&'a str> {
    description.split_whitespace().find_map(|tok| {
        let (k, v) = tok.split_once('=')?;
        (k == key && !v.is_empty()).then_some(v)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(name: &str, text: &str) -> std::path::PathBuf {
        crate::data::test_file("fasta", name, text)
    }

    #[test]
    fn one_hot_with_padding_multiline_and_header_labels() {
        let p = write("ok.fa", ">s1 label=1\nACG\nT\n>s2 label=0 extra=x\nacn\n");
        let ds = read(&p, &SequenceOptions::default(), Some("label")).unwrap();
        assert_eq!(ds.shape, [4, 4]);
        assert_eq!(ds.ids, ["s1", "s2"]);
        // s1 = ACGT: A at 0, C at 1, G at 2, T at 3.
        let s1 = ds.sample(0);
        assert_eq!(&s1[0..4], &[1.0, 0.0, 0.0, 0.0]);
        assert_eq!(&s1[12..16], &[0.0, 0.0, 0.0, 1.0]);
        // s2 = acn + padding: lowercase counts, N and padding are zero columns.
        let s2 = ds.sample(1);
        assert_eq!(s2.iter().sum::<f32>(), 2.0);
        assert_eq!(ds.labels.class_names(), ["0", "1"]);
        assert!(ds.notes.iter().any(|n| n.contains("padded")));
    }

    #[test]
    fn proteins_are_detected_and_fixed_length_cuts() {
        let p = write("prot.fa", ">p1\nMKWVTFISLL\n");
        let opts = SequenceOptions {
            length: 5,
            ..Default::default()
        };
        let ds = read(&p, &opts, None).unwrap();
        assert_eq!(ds.shape, [20, 5]);
        assert_eq!(ds.dense_values().iter().sum::<f32>(), 5.0);
    }

    #[test]
    fn kmer_tokens_one_hot_each_window() {
        let p = write("kmers.fa", ">a label=0\nACGTN\n>b label=1\nTTT\n");
        let opts = SequenceOptions {
            kmer: 2,
            ..SequenceOptions::default()
        };
        let ds = read(&p, &opts, Some("label")).unwrap();
        assert_eq!(ds.shape, [16, 4], "16 kinds of 2-mers at 4 positions");
        assert_eq!(ds.feature_names[..3], ["AA", "AC", "AG"]);
        assert_eq!(ds.lengths, Some(vec![4, 2]));
        let token = |s: usize, p: usize| (0..16).find(|&t| ds.sample(s)[t * 4 + p] > 0.5);
        let name = |t: Option<usize>| t.map(|t| ds.feature_names[t].clone());
        assert_eq!(name(token(0, 0)).as_deref(), Some("AC"));
        assert_eq!(name(token(0, 2)).as_deref(), Some("GT"));
        assert_eq!(token(0, 3), None, "a k-mer with N is no token");
        assert_eq!(name(token(1, 1)).as_deref(), Some("TT"));
        assert_eq!(token(1, 2), None, "padding");
        assert_eq!(
            ds.sequence_letters(0),
            "ACGN",
            "first letter of each token; N where there is none"
        );
    }

    #[test]
    fn dna_and_protein_in_one_file_are_named() {
        let p = write(
            "mixed.fa",
            ">gene1\nACGTACGTACGTAC\n>kinase\nMKLVWWPRSTEEQ\n",
        );
        let err = read(&p, &SequenceOptions::default(), None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("record 1 ('gene1')")
                && err.contains("record 2 ('kinase')")
                && err.contains("mixes"),
            "{err}"
        );
        // Short peptides that happen to use only A, C, G and T are not mistaken for DNA.
        let p = write("peptides.fa", ">p1\nGATTACA\n>p2\nMKLVW\n");
        assert!(read(&p, &SequenceOptions::default(), None).is_ok());
    }

    #[test]
    fn an_invalid_letter_names_record_position_and_alphabet() {
        let p = write("bad.fa", ">a\nACGT\n>b\nACJT\n");
        let opts = SequenceOptions {
            alphabet: Alphabet::Dna,
            ..Default::default()
        };
        let msg = read(&p, &opts, None).unwrap_err().to_string();
        assert!(msg.contains("record 2 ('b')"), "{msg}");
        assert!(
            msg.contains("'J' at position 3 is not a DNA letter"),
            "{msg}"
        );
    }

    #[test]
    fn empty_files_records_and_missing_labels_are_explained() {
        let p = write("empty.fa", "");
        assert!(
            read(&p, &SequenceOptions::default(), None)
                .unwrap_err()
                .to_string()
                .contains("is empty")
        );
        let p = write("emptyrec.fa", ">a\nACGT\n>b\n>c\nAC\n");
        let msg = read(&p, &SequenceOptions::default(), None)
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("('b')") && msg.contains("empty sequence"),
            "{msg}"
        );
        let p = write("nolabel.fa", ">a label=1\nACGT\n>b\nAC\n");
        let msg = read(&p, &SequenceOptions::default(), Some("label"))
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("record 2 ('b')") && msg.contains("no 'label='"),
            "{msg}"
        );
        let p = write("notfasta.fa", "hello\n");
        let msg = read(&p, &SequenceOptions::default(), None)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("not a valid FASTA"), "{msg}");
    }
}
