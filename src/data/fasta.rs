//! FASTA/FASTQ sequences (DNA, RNA or protein), parsed with needletail, encoded
//! one-hot as `[letters × length]`, cut or zero-padded to a fixed length.
//! Lowercase (soft-masked) letters count as uppercase; ambiguous letters such as
//! `N` or `X` become all-zero columns.

use std::path::Path;

use super::sparse::{LetterRows, Sparse, UNKNOWN_LETTER};
use super::{DataError, DataKind, Dataset, Labels};
use crate::spec::{Alphabet, SequenceOptions};

const DNA: &str = "ACGT";
const RNA: &str = "ACGU";
const PROTEIN: &str = "ACDEFGHIKLMNPQRSTVWY";
/// Letters accepted as "unknown" (all-zero) in each alphabet: IUPAC ambiguity codes.
const DNA_AMBIGUOUS: &str = "NRYSWKMBDHV";
const PROTEIN_AMBIGUOUS: &str = "XBZJUO*";

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
const INVALID: u8 = 255;

pub fn read(
    path: &Path,
    opts: &SequenceOptions,
    label_key: Option<&str>,
) -> Result<Dataset, DataError> {
    let Parsed {
        ids,
        labels: label_places,
        label_text,
        mut letters,
        mut starts,
    } = parse(path, label_key)?;
    let mut notes = Vec::new();
    let mut u_as_t = false;
    let alphabet = match opts.alphabet {
        Alphabet::Auto => {
            let d = decide(path, &ids, &letters, &starts)?;
            notes = d.notes;
            u_as_t = d.u_as_t;
            d.alphabet
        }
        a => a,
    };
    let k = opts.kmer.max(1);
    // Checked here too: an experiment file is read without being validated.
    if k > 6 {
        return Err(DataError::Invalid(format!(
            "{}: the k-mer size is {k}; it must be 1 (single letters) to 6 (4^6 = 4096 kinds of DNA token)",
            path.display()
        )));
    }
    if k > 1 && alphabet == Alphabet::Protein && k > 2 {
        return Err(DataError::Invalid(format!(
            "{}: protein k-mers longer than 2 letters make too many tokens (20^{k}); use k = 1 or 2, or an Embedding with a window",
            path.display()
        )));
    }
    let seq_lens: Vec<usize> = starts.windows(2).map(|w| w[1] - w[0]).collect();
    if let Some(r) = seq_lens.iter().position(|&n| n == 0) {
        return Err(DataError::EmptyRecord {
            path: path.to_path_buf(),
            record: r + 1,
            id: ids[r].clone(),
        });
    }
    let longest = seq_lens.iter().copied().max().unwrap_or(0);
    let length = if opts.length == 0 {
        longest
    } else {
        opts.length
    };

    // Letter → channel, either case; ambiguous letters (N, X) have none.
    let alphabet_letters = alphabet.letters().as_bytes();
    let mut lut = [INVALID; 256];
    for (c, &l) in alphabet_letters.iter().enumerate() {
        lut[l as usize] = c as u8;
        lut[l.to_ascii_lowercase() as usize] = c as u8;
    }
    for &l in alphabet.ambiguous().as_bytes() {
        lut[l as usize] = UNKNOWN_LETTER;
        lut[l.to_ascii_lowercase() as usize] = UNKNOWN_LETTER;
    }
    if u_as_t {
        (lut[b'U' as usize], lut[b'u' as usize]) = (lut[b'T' as usize], lut[b'T' as usize]);
    }
    // The letters become their codes where they lie, a block at a time without a branch per
    // letter; a block with a letter outside the alphabet is looked at again in its copy.
    const BLOCK: usize = 64;
    for (i, block) in letters.chunks_mut(BLOCK).enumerate() {
        let mut copy = [0u8; BLOCK];
        copy[..block.len()].copy_from_slice(block);
        let mut invalid = false;
        for b in block.iter_mut() {
            let code = lut[*b as usize];
            invalid |= code == INVALID;
            *b = code;
        }
        if invalid {
            let j = copy
                .iter()
                .position(|&b| lut[b as usize] == INVALID)
                .expect("the block holds an invalid letter");
            let at = i * BLOCK + j;
            let r = starts.partition_point(|&s| s <= at) - 1;
            return Err(DataError::InvalidLetter {
                path: path.to_path_buf(),
                record: r + 1,
                id: ids[r].clone(),
                letter: super::ShownByte(copy[j]),
                position: at - starts[r] + 1,
                alphabet: alphabet.label().to_string(),
                allowed: format!(
                    "{}, and {} for unknown",
                    alphabet.letters(),
                    alphabet.ambiguous()
                ),
            });
        }
    }
    let unknown = letters.iter().filter(|&&c| c == UNKNOWN_LETTER).count();
    notes.extend(unknown_note(unknown, letters.len(), alphabet.ambiguous()));
    // Sequences longer than `length` are cut, moving the others up.
    let truncated = seq_lens.iter().filter(|&&n| n > length).count();
    let padded = seq_lens.iter().filter(|&&n| n < length).count();
    if truncated > 0 {
        let mut end = 0;
        for r in 0..seq_lens.len() {
            let (from, n) = (starts[r], seq_lens[r].min(length));
            letters.copy_within(from..from + n, end);
            starts[r] = end;
            end += n;
        }
        starts[seq_lens.len()] = end;
        letters.truncate(end);
        letters.shrink_to_fit();
    }

    let labels = match label_key {
        Some(key) => {
            let mut raw = Vec::with_capacity(label_places.len());
            for (r, place) in label_places.into_iter().enumerate() {
                match place {
                    Some((from, to)) => raw.push(&label_text[from..to]),
                    None => {
                        return Err(DataError::MissingHeaderLabel {
                            path: path.to_path_buf(),
                            record: r + 1,
                            id: ids[r].clone(),
                            key: key.to_string(),
                        });
                    }
                }
            }
            Labels::from_strings(&raw, false, path, &ids)?
        }
        None => Labels::None,
    };

    if truncated > 0 {
        notes.push(format!(
            "{truncated} sequences are longer than {length} and were cut to that length"
        ));
    }
    if padded > 0 {
        notes.push(format!(
            "{padded} sequences are shorter than {length}: batches are padded to their longest sequence (on a GPU, to a multiple of 32 positions) and the padding is masked"
        ));
    }
    let mut sorted = seq_lens.clone();
    sorted.sort_unstable();
    let at = |q: f64| {
        let last = sorted.len().saturating_sub(1);
        sorted
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
    let mut feature_names: Vec<String> = alphabet_letters
        .iter()
        .map(|&b| (b as char).to_string())
        .collect();
    let mut positions = length;
    if k > 1 {
        if length < k {
            return Err(DataError::Invalid(format!(
                "{}: sequences of {length} letters are shorter than the k-mer size {k}",
                path.display()
            )));
        }
        feature_names = kmer_names(&feature_names, k);
        positions = length - k + 1;
        lengths
            .iter_mut()
            .for_each(|n| *n = n.saturating_sub(k - 1).max(1));
        notes.push(format!(
            "tokens are {}-mers: {} kinds, one per position",
            k,
            feature_names.len()
        ));
    }
    let one_hot = LetterRows {
        codes: letters,
        starts,
        letters: alphabet_letters.len(),
        k,
        length: positions,
    };
    Ok(Dataset {
        kind: DataKind::Sequences,
        source: path.to_path_buf(),
        lengths: Some(lengths),
        ids,
        shape: vec![feature_names.len(), positions],
        values: Vec::new(),
        feature_names,
        labels,
        max_value: 1.0,
        notes,
        text_columns: Vec::new(),
        sparse: Some(Sparse::Letters(one_hot)),
        joined: Vec::new(),
    })
}

/// The first byte of a file, of its contents when it is gzipped.
fn first_byte(path: &Path) -> Option<u8> {
    use std::io::Read;
    let mut head = [0u8; 2];
    let mut f = std::fs::File::open(path).ok()?;
    f.read_exact(&mut head).ok()?;
    if head == [0x1f, 0x8b] {
        let f = std::fs::File::open(path).ok()?;
        let mut one = [0u8; 1];
        flate2::read::MultiGzDecoder::new(f)
            .read_exact(&mut one)
            .ok()?;
        return Some(one[0]);
    }
    Some(head[0])
}

/// Every k-mer of `letters`, in the order of [`LetterRows`]'s token numbers.
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

/// A file's records: ids, label values and the letters of all sequences back
/// to back (no buffer per record: a file of many short reads reads as fast as
/// one long sequence).
struct Parsed {
    ids: Vec<String>,
    /// Where each record's `label_key=` value lies in `label_text` (empty
    /// without a label key; `None` where a header lacks it).
    labels: Vec<Option<(usize, usize)>>,
    label_text: String,
    letters: Vec<u8>,
    /// Record `r`'s letters are `letters[starts[r]..starts[r + 1]]`.
    starts: Vec<usize>,
}

fn parse(path: &Path, label_key: Option<&str>) -> Result<Parsed, DataError> {
    let (file, size) = super::progress::open(path)?;
    if size == 0 {
        return Err(DataError::Empty {
            path: path.to_path_buf(),
        });
    }
    let fastx = |e: needletail::errors::ParseError| {
        use needletail::errors::ParseErrorKind;
        if e.kind == ParseErrorKind::UnknownFormat {
            let begins = first_byte(path).map_or("something else".to_string(), |b| {
                super::ShownByte(b).to_string()
            });
            return DataError::Fastx {
                path: path.to_path_buf(),
                message: format!(
                    "a FASTA file begins with '>' and a FASTQ file with '@', but this one begins with {begins}"
                ),
            };
        }
        let mut message = e.to_string();
        // Errors without a place say "line 0".
        if let Some(cut) = message.strip_suffix(" (line 0)") {
            message = cut.to_string();
        }
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
    let mut p = Parsed {
        ids: Vec::new(),
        labels: Vec::new(),
        label_text: String::new(),
        // An uncompressed file holds a little more than its letters.
        letters: Vec::with_capacity(usize::try_from(size).unwrap_or(0).min(1 << 30)),
        starts: vec![0],
    };
    let mut header_lines = Vec::new();
    while let Some(rec) = reader.next() {
        let rec = rec.map_err(|e| {
            // A last FASTA record of a header alone ends the file early.
            let fasta = e.format == Some(needletail::parser::Format::Fasta);
            if fasta && e.kind == needletail::errors::ParseErrorKind::UnexpectedEnd {
                DataError::Fastx {
                    path: path.to_path_buf(),
                    message: format!(
                        "record {} (the last) has a header line but no sequence: the file ends at line {}; add its sequence or remove its header",
                        p.ids.len() + 1,
                        e.position.line
                    ),
                }
            } else {
                fastx(e)
            }
        })?;
        let header = rec.id();
        let (id, description) = match header.iter().position(u8::is_ascii_whitespace) {
            Some(at) => (&header[..at], &header[at + 1..]),
            None => (header.trim_ascii(), &[][..]),
        };
        p.ids.push(String::from_utf8_lossy(id).into_owned());
        header_lines.push(rec.start_line_number());
        if let Some(key) = label_key {
            let value = header_value(description, key.as_bytes()).map(|v| {
                let from = p.label_text.len();
                p.label_text.push_str(&String::from_utf8_lossy(v));
                (from, p.label_text.len())
            });
            p.labels.push(value);
        }
        // FASTA sequences span lines: copy them line by line.
        let mut rest = rec.raw_seq();
        loop {
            let (line, next) = match memchr::memchr(b'\n', rest) {
                Some(at) => (&rest[..at], Some(&rest[at + 1..])),
                None => (rest, None),
            };
            // Whitespace (and other control bytes) are at most 0x20: one
            // comparison per byte, without a branch, finds them.
            if line.iter().fold(false, |any, &b| any | (b <= b' ')) {
                p.letters
                    .extend(line.iter().filter(|b| !b.is_ascii_whitespace()));
            } else {
                p.letters.extend_from_slice(line);
            }
            match next {
                Some(next) => rest = next,
                None => break,
            }
        }
        p.starts.push(p.letters.len());
    }
    if p.ids.is_empty() {
        return Err(DataError::Empty {
            path: path.to_path_buf(),
        });
    }
    let mut seen: rustc_hash::FxHashMap<&str, usize> = Default::default();
    seen.reserve(p.ids.len());
    for (r, id) in p.ids.iter().enumerate() {
        if let Some(first) = seen.insert(id, r) {
            return Err(DataError::DuplicateId {
                path: path.to_path_buf(),
                id: id.clone(),
                first: header_lines[first],
                second: header_lines[r],
            });
        }
    }
    Ok(p)
}

/// The alphabet of a file read with the alphabet on automatic, decided from
/// every record alike so that their order does not matter.
///
/// A record is nucleotide when all its letters are IUPAC nucleotide codes
/// (A, C, G, T, U and the ambiguity codes N, R, Y, S, W, K, M, B, D, H, V)
/// and at most a quarter of them are ambiguity codes other than N; else it is protein
/// (every protein of some length has letters such as E, F, I, L, P or Q).
/// Nucleotide records of 12 letters or more beside protein records are a
/// mix-up, refused; shorter ones are peptides. DNA holds T, RNA U; a file
/// with both is read as DNA with U read as T, which is said.
struct Decided {
    alphabet: Alphabet,
    /// Read U as T (DNA beside RNA records).
    u_as_t: bool,
    notes: Vec<String>,
}

fn decide(
    path: &Path,
    ids: &[String],
    letters: &[u8],
    starts: &[usize],
) -> Result<Decided, DataError> {
    // One bit per kind of letter, from a table: no branch per letter.
    const PLAIN: u8 = 1;
    const T: u8 = 2;
    const U: u8 = 4;
    const AMBIGUOUS: u8 = 8;
    const OTHER: u8 = 16;
    let mut kind = [OTHER; 256];
    let mut set = |letters: &str, k: u8| {
        for b in letters.bytes() {
            kind[b as usize] = k;
            kind[b.to_ascii_lowercase() as usize] = k;
        }
    };
    // N is the usual unknown base; the other codes are letters proteins use too.
    set("ACGN", PLAIN);
    set("T", T);
    set("U", U);
    set("RYSWKMBDHV", AMBIGUOUS);
    let mut file_kinds = 0u8;
    let mut first_nucleotide = None;
    let mut first_protein = None;
    for r in 0..ids.len() {
        let seq = &letters[starts[r]..starts[r + 1]];
        let mut seen = 0u8;
        let mut unsure = 0usize;
        for &b in seq {
            let k = kind[b as usize];
            seen |= k;
            unsure += usize::from(k == AMBIGUOUS);
        }
        let nucleotide = seen & OTHER == 0 && unsure * 4 <= seq.len();
        if nucleotide {
            file_kinds |= seen;
            if seq.len() >= 12 && first_nucleotide.is_none() {
                first_nucleotide = Some(r);
            }
        } else if first_protein.is_none() {
            first_protein = Some(r);
        }
    }
    if let Some(p) = first_protein {
        if let Some(n) = first_nucleotide {
            return Err(DataError::MixedAlphabets {
                path: path.to_path_buf(),
                nucleotide_record: n + 1,
                nucleotide_id: ids[n].clone(),
                protein_record: p + 1,
                protein_id: ids[p].clone(),
            });
        }
        return Ok(Decided {
            alphabet: Alphabet::Protein,
            u_as_t: false,
            notes: Vec::new(),
        });
    }
    let (t, u) = (file_kinds & T != 0, file_kinds & U != 0);
    let mut notes = Vec::new();
    if t && u {
        let with_u = (0..ids.len())
            .find(|&r| {
                letters[starts[r]..starts[r + 1]]
                    .iter()
                    .any(|&b| kind[b as usize] == U)
            })
            .expect("a record holds U");
        notes.push(format!(
            "the sequences hold both T (DNA) and U (RNA), e.g. record {} ('{}'): read as DNA, with U read as T",
            with_u + 1,
            ids[with_u]
        ));
    }
    Ok(Decided {
        alphabet: if u && !t {
            Alphabet::Rna
        } else {
            Alphabet::Dna
        },
        u_as_t: t && u,
        notes,
    })
}

/// Said when a file holds ambiguity codes (`N`, `R`, `X`, …): they are read
/// as unknown, an all-zero column, as `N` is.
fn unknown_note(count: usize, total: usize, codes: &str) -> Option<String> {
    (count > 0).then(|| {
        let share = 100.0 * count as f64 / total.max(1) as f64;
        let share = if share < 0.1 {
            "under 0.1%".to_string()
        } else {
            format!("{share:.1}%")
        };
        let codes: Vec<String> = codes.chars().map(String::from).collect();
        format!(
            "{count} letters ({share}) are ambiguity codes ({}): each is read as unknown, an all-zero column",
            codes.join(", ")
        )
    })
}

/// The value of `key=value` in a FASTA description.
fn header_value<'a>(description: &'a [u8], key: &[u8]) -> Option<&'a [u8]> {
    description.split(u8::is_ascii_whitespace).find_map(|tok| {
        let eq = tok.iter().position(|&b| b == b'=')?;
        (&tok[..eq] == key && eq + 1 < tok.len()).then(|| &tok[eq + 1..])
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
    fn line_ends_and_spaces_inside_sequences_are_skipped_and_ids_must_be_unique() {
        let p = write(
            "crlf.fa",
            ">s1 label=a\r\nAC GT\r\nAA\r\n>s2 label=b\r\nC\tG\r\n",
        );
        let ds = read(&p, &SequenceOptions::default(), Some("label")).unwrap();
        assert_eq!(ds.shape, [4, 6]);
        assert_eq!(ds.lengths, Some(vec![6, 2]));
        assert_eq!(ds.sequence_letters(0), "ACGTAA");
        assert_eq!(ds.labels.class_names(), ["a", "b"]);
        let p = write("dup.fa", ">a\nACGT\n>b\nAC\n>a x=1\nGG\n");
        let msg = read(&p, &SequenceOptions::default(), None)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("'a' appears twice (lines 1 and 5)"), "{msg}");
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
        // Cut records move the next ones up: each keeps its own first letters.
        let p = write("prots.fa", ">p1\nMKWVTFISLL\n>p2\nAC\n>p3\nWWWWWWW\n");
        let ds = read(&p, &opts, None).unwrap();
        let letters: Vec<String> = (0..3).map(|i| ds.sequence_letters(i)).collect();
        assert_eq!(letters, ["MKWVT", "AC", "WWWWW"]);
        assert_eq!(ds.lengths, Some(vec![5, 2, 5]));
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
    fn iupac_dna_is_dna_and_the_alphabet_does_not_depend_on_record_order() {
        let opts = SequenceOptions::default();
        // Ambiguity codes (R, Y, K, M, S, W) are letters proteins use too.
        let p = write("iupac.fa", ">a\nACGTRYACGTKMACGT\n>b\nACGTSWACGTACGTNN\n");
        let ds = read(&p, &opts, None).unwrap();
        assert_eq!(ds.feature_names.join(""), "ACGT", "{:?}", ds.notes);
        let note = ds.notes.join("\n");
        assert!(
            note.contains("8 letters") && note.contains("ambiguity codes") && note.contains("R, Y"),
            "{note}"
        );
        // R at position 5 of record a is unknown: no letter set there.
        let row = ds.sample(0);
        let at = |letter: usize, pos: usize| row[letter * ds.shape[1] + pos];
        assert_eq!((0..4).map(|l| at(l, 4)).sum::<f32>(), 0.0);
        assert_eq!(at(0, 0), 1.0);
        // DNA then protein, and protein then DNA: refused alike, naming both.
        let dna = ">gene1\nACGTACGTACGTAC\n";
        let protein = ">kinase\nMKLVWWPRSTEEQ\n";
        for (name, text) in [
            ("dna-first.fa", format!("{dna}{protein}")),
            ("protein-first.fa", format!("{protein}{dna}")),
        ] {
            let err = read(&write(name, &text), &opts, None)
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("('gene1')") && err.contains("('kinase')") && err.contains("mixes"),
                "{name}: {err}"
            );
        }
        // Short peptides in either order stay protein.
        for text in [">p1\nGATTACA\n>p2\nMKLVW\n", ">p2\nMKLVW\n>p1\nGATTACA\n"] {
            let ds = read(&write("pep.fa", text), &opts, None).unwrap();
            assert_eq!(ds.feature_names.len(), 20, "{text}");
        }
        // A mostly-ambiguous record is not taken for DNA.
        let ds = read(&write("kmsw.fa", ">p\nKMSWRYDHVBKMSWRYDHVB\n"), &opts, None).unwrap();
        assert_eq!(ds.feature_names.len(), 20);
        // T beside U: DNA, U read as T, and said.
        let ds = read(
            &write("tu.fa", ">d\nACGTACGTACGT\n>r\nACGUACGUACGU\n"),
            &opts,
            None,
        )
        .unwrap();
        assert_eq!(ds.feature_names.join(""), "ACGT");
        assert!(
            ds.notes
                .iter()
                .any(|n| n.contains("both T") && n.contains("('r')")),
            "{:?}",
            ds.notes
        );
        assert_eq!(ds.sample(1)[3 * ds.shape[1] + 3], 1.0, "U at 4 is a T");
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
        // Past the first blocks of letters, and the first of two bad letters.
        let long = "ACGT".repeat(40);
        let text = format!(
            ">a\n{long}\n>b\n{}\n{}Z{}X\n",
            &long[..70],
            &long[..90],
            &long[..5]
        );
        let msg = read(&write("bad2.fa", &text), &opts, None)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("record 2 ('b')"), "{msg}");
        assert!(
            msg.contains("'Z' at position 161 is not a DNA letter"),
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
