//! 10x Genomics Matrix Market folders, as Cell Ranger writes them: `matrix.mtx`
//! (genes × cells, 1-based coordinates), `barcodes.tsv` (one cell per line) and
//! `features.tsv` (v3: id, name, type) or `genes.tsv` (v2: id, name); each may be
//! gzipped. Cells become samples and genes features (named by gene name, made
//! unique with the id where names repeat).
//!
//! The reader streams the matrix line by line and checks everything a truncated
//! or mismatched download gets wrong, naming the file and line: the size line
//! against the entries, coordinates beyond the size, and the barcode and gene
//! counts against the matrix. (sprs's Matrix Market reader was not used: it
//! panics on coordinates beyond the size and does not say where a file is wrong.)

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use super::{DataError, DataKind, Dataset, Labels};

/// Whether `dir` looks like a 10x folder (has a matrix.mtx, maybe gzipped).
pub fn is_tenx_folder(dir: &Path) -> bool {
    dir.is_dir() && find(dir, &["matrix.mtx"]).is_some()
}

/// The first of `names` (or its `.gz`) present in `dir`.
fn find(dir: &Path, names: &[&str]) -> Option<PathBuf> {
    names.iter().find_map(|n| {
        [dir.join(n), dir.join(format!("{n}.gz"))]
            .into_iter()
            .find(|p| p.is_file())
    })
}

/// A buffered reader of a plain or gzipped file.
fn open(path: &Path) -> Result<Box<dyn BufRead>, DataError> {
    let (file, _) = super::progress::open(path)?;
    let gz = path.extension().is_some_and(|e| e == "gz");
    Ok(if gz {
        Box::new(BufReader::new(flate2::read::MultiGzDecoder::new(file)))
    } else {
        Box::new(BufReader::new(file))
    })
}

fn bad(path: &Path, line: usize, what: String) -> DataError {
    DataError::Invalid(format!("{} line {line}: {what}", path.display()))
}

/// Lines of a (gzipped) text file; a damaged gzip stream is reported by name.
fn read_lines(path: &Path) -> Result<Vec<String>, DataError> {
    let mut text = String::new();
    open(path)?.read_to_string(&mut text).map_err(|e| {
        DataError::Invalid(format!(
            "cannot read {}: {e} (is the file complete? a download cut short leaves a truncated gzip stream)",
            path.display()
        ))
    })?;
    Ok(text
        .lines()
        .map(str::to_string)
        .filter(|l| !l.trim().is_empty())
        .collect())
}

/// Read a 10x folder: cells as samples, genes as features, counts as values.
pub fn read(dir: &Path) -> Result<Dataset, DataError> {
    let matrix = find(dir, &["matrix.mtx"]).ok_or_else(|| {
        DataError::Invalid(format!(
            "{} has no matrix.mtx or matrix.mtx.gz; a 10x folder holds matrix.mtx, barcodes.tsv and features.tsv (or genes.tsv)",
            dir.display()
        ))
    })?;
    let barcodes_path = find(dir, &["barcodes.tsv"]).ok_or_else(|| {
        DataError::Invalid(format!(
            "{} has a matrix but no barcodes.tsv (the cell names)",
            dir.display()
        ))
    })?;
    let features_path = find(dir, &["features.tsv", "genes.tsv"]).ok_or_else(|| {
        DataError::Invalid(format!(
            "{} has a matrix but no features.tsv or genes.tsv (the gene names)",
            dir.display()
        ))
    })?;
    let barcodes: Vec<String> = read_lines(&barcodes_path)?
        .into_iter()
        .map(|l| l.split('\t').next().unwrap_or("").trim().to_string())
        .collect();
    let features = read_lines(&features_path)?;

    let mut reader = open(&matrix)?;
    let mut line = String::new();
    let mut n = 0usize;
    // The header says the values are integers (counts).
    let mut integer = false;
    let read_err = |e: std::io::Error| {
        DataError::Invalid(format!(
            "cannot read {}: {e} (is the file complete? a download cut short leaves a truncated gzip stream)",
            matrix.display()
        ))
    };
    // Header and comments, then the size line.
    let (rows, cols, entries) = loop {
        line.clear();
        if reader.read_line(&mut line).map_err(read_err)? == 0 {
            return Err(DataError::Invalid(format!(
                "{} ends before its size line (rows columns entries)",
                matrix.display()
            )));
        }
        n += 1;
        let t = line.trim();
        if n == 1 {
            let lower = t.to_lowercase();
            if !lower.starts_with("%%matrixmarket matrix coordinate") {
                return Err(bad(
                    &matrix,
                    1,
                    format!(
                        "expected a Matrix Market header '%%MatrixMarket matrix coordinate …', found '{t}'"
                    ),
                ));
            }
            integer = lower.contains(" integer");
            if lower.contains("complex") || !lower.contains("general") {
                return Err(bad(
                    &matrix,
                    1,
                    "only general real/integer matrices are supported (as 10x writes them)".into(),
                ));
            }
            continue;
        }
        if t.starts_with('%') || t.is_empty() {
            continue;
        }
        let nums: Vec<usize> = t
            .split_whitespace()
            .map(|s| {
                s.parse().map_err(|_| {
                    bad(
                        &matrix,
                        n,
                        format!(
                            "the size line '{t}' must be three whole numbers: rows columns entries"
                        ),
                    )
                })
            })
            .collect::<Result<_, _>>()?;
        let [r, c, e] = nums[..] else {
            return Err(bad(
                &matrix,
                n,
                format!("the size line '{t}' must be three numbers: rows columns entries"),
            ));
        };
        break (r, c, e);
    };
    // 10x: rows are genes, columns are cells.
    if features.len() != rows {
        return Err(DataError::Invalid(format!(
            "{} lists {} genes but {} has {rows} rows",
            features_path.display(),
            features.len(),
            matrix.display()
        )));
    }
    if barcodes.len() != cols {
        return Err(DataError::Invalid(format!(
            "{} lists {} cells (barcodes) but {} has {cols} columns",
            barcodes_path.display(),
            barcodes.len(),
            matrix.display()
        )));
    }
    // Kept sparse, one row per cell: a 10x matrix is mostly zeros.
    let mut counts = super::sparse::RowBuilder::new(cols, rows, entries);
    let mut seen = 0usize;
    loop {
        line.clear();
        if reader.read_line(&mut line).map_err(read_err)? == 0 {
            break;
        }
        n += 1;
        let t = line.trim();
        if t.is_empty() || t.starts_with('%') {
            continue;
        }
        seen += 1;
        if seen > entries {
            return Err(bad(
                &matrix,
                n,
                format!("more entries than the {entries} the size line announces"),
            ));
        }
        let mut parts = t.split_whitespace();
        let mut index = |what: &str, limit: usize| -> Result<usize, DataError> {
            let v: usize = parts.next().and_then(|s| s.parse().ok()).ok_or_else(|| {
                bad(
                    &matrix,
                    n,
                    format!("'{t}' does not start with a {what} number"),
                )
            })?;
            if v == 0 || v > limit {
                return Err(bad(
                    &matrix,
                    n,
                    format!("{what} {v} is outside 1..{limit} given by the size line"),
                ));
            }
            Ok(v - 1)
        };
        let gene = index("row (gene)", rows)?;
        let cell = index("column (cell)", cols)?;
        let value: f32 = parts
            .next()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad(&matrix, n, format!("'{t}' has no numeric value")))?;
        // An integer matrix holds counts: whole numbers, none below zero.
        if integer && (value < 0.0 || value.fract() != 0.0 || !value.is_finite()) {
            return Err(bad(
                &matrix,
                n,
                format!(
                    "{value} is not a count, but the header says the matrix holds integers (counts are whole numbers from 0); if the values were normalised, the header should say 'real'"
                ),
            ));
        }
        counts.push(cell, gene, value);
    }
    if seen < entries {
        return Err(DataError::Invalid(format!(
            "{} announces {entries} entries in its size line but holds {seen}; the file is incomplete",
            matrix.display()
        )));
    }

    let names = gene_names(&features);
    let mut notes = vec![format!(
        "10x Matrix Market folder ({}): {cols} cells × {rows} genes, {entries} non-zero counts ({:.1}% of the matrix)",
        if features_path.to_string_lossy().contains("features") {
            "v3, features.tsv"
        } else {
            "v2, genes.tsv"
        },
        100.0 * entries as f64 / (rows * cols).max(1) as f64
    )];
    let types: std::collections::BTreeSet<&str> = features
        .iter()
        .filter_map(|l| l.split('\t').nth(2))
        .collect();
    if types.len() > 1 {
        notes.push(format!(
            "features of several types are all kept: {}",
            types.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    Ok(Dataset {
        kind: DataKind::Table,
        source: dir.to_path_buf(),
        ids: barcodes,
        shape: vec![rows],
        values: Vec::new(),
        feature_names: names,
        labels: Labels::None,
        max_value: f32::MAX,
        notes,
        text_columns: Vec::new(),
        sparse: Some(super::sparse::Sparse::Counts(counts.finish())),
        lengths: None,
        joined: Vec::new(),
    })
}

/// Gene names (second column, else the id), made unique with the id.
fn gene_names(features: &[String]) -> Vec<String> {
    let pairs: Vec<(String, String)> = features
        .iter()
        .map(|l| {
            let mut f = l.split('\t');
            let id = f.next().unwrap_or("").trim().to_string();
            let name = f
                .next()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .unwrap_or(&id)
                .to_string();
            (id, name)
        })
        .collect();
    unique_gene_names(pairs)
}

/// `(id, name)` pairs as feature names: the name, or "name (id)" where a name
/// repeats (gene symbols are not unique; ids are).
pub(crate) fn unique_gene_names(pairs: Vec<(String, String)>) -> Vec<String> {
    let mut count = std::collections::HashMap::new();
    for (_, name) in &pairs {
        *count.entry(name.clone()).or_insert(0) += 1;
    }
    pairs
        .into_iter()
        .map(|(id, name)| {
            if count[&name] > 1 {
                format!("{name} ({id})")
            } else {
                name
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn folder(name: &str, matrix: &str, barcodes: &str, features: &str, gz: bool) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("lamina-mtx-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let put = |file: &str, text: &str| {
            if gz {
                let f = std::fs::File::create(dir.join(format!("{file}.gz"))).unwrap();
                let mut w = flate2::write::GzEncoder::new(f, flate2::Compression::default());
                w.write_all(text.as_bytes()).unwrap();
                w.finish().unwrap();
            } else {
                std::fs::write(dir.join(file), text).unwrap();
            }
        };
        put("matrix.mtx", matrix);
        put("barcodes.tsv", barcodes);
        put(
            features,
            "G1\tActb\tGene Expression\nG2\tCd3e\tGene Expression\nG3\tActb\tGene Expression\n",
        );
        dir
    }

    const MATRIX: &str = "%%MatrixMarket matrix coordinate integer general\n%metadata_json: {}\n3 2 3\n1 1 5\n3 1 2\n2 2 7\n";

    #[test]
    fn reads_v3_gzipped_and_v2_plain_folders() {
        for (gz, features) in [(true, "features.tsv"), (false, "genes.tsv")] {
            let dir = folder(&format!("ok{gz}"), MATRIX, "AAAC-1\nTTTG-1\n", features, gz);
            assert!(is_tenx_folder(&dir));
            let ds = read(&dir).unwrap();
            assert_eq!(ds.ids, vec!["AAAC-1", "TTTG-1"]);
            assert_eq!(ds.shape, vec![3]);
            // Cells are rows: cell 1 has gene 1 = 5 and gene 3 = 2.
            assert_eq!(
                ds.dense_values().to_vec(),
                vec![5.0, 0.0, 2.0, 0.0, 7.0, 0.0]
            );
            assert_eq!(ds.feature_names, vec!["Actb (G1)", "Cd3e", "Actb (G3)"]);
        }
    }

    #[test]
    fn broken_folders_are_explained() {
        let cases = [
            (
                "short",
                MATRIX.replace("3 2 3", "3 2 4"),
                "AAAC-1\nTTTG-1\n",
                "announces 4 entries",
            ),
            (
                "long",
                MATRIX.replace("3 2 3", "3 2 2"),
                "AAAC-1\nTTTG-1\n",
                "more entries than the 2",
            ),
            (
                "range",
                MATRIX.replace("2 2 7", "2 9 7"),
                "AAAC-1\nTTTG-1\n",
                "line 6: column (cell) 9 is outside 1..2",
            ),
            (
                "barcodes",
                MATRIX.to_string(),
                "AAAC-1\n",
                "lists 1 cells (barcodes) but",
            ),
            (
                "negative",
                MATRIX.replace("2 2 7", "2 2 -7"),
                "AAAC-1\nTTTG-1\n",
                "line 6: -7 is not a count",
            ),
            (
                "fraction",
                MATRIX.replace("3 1 2", "3 1 2.5"),
                "AAAC-1\nTTTG-1\n",
                "line 5: 2.5 is not a count",
            ),
        ];
        for (name, m, b, want) in cases {
            let dir = folder(name, &m, b, "features.tsv", false);
            let err = read(&dir).unwrap_err().to_string();
            assert!(err.contains(want), "{name}: {err}");
        }
        // A gzip stream cut short.
        let dir = folder("trunc", MATRIX, "AAAC-1\nTTTG-1\n", "features.tsv", true);
        let gz = dir.join("matrix.mtx.gz");
        let bytes = std::fs::read(&gz).unwrap();
        std::fs::write(&gz, &bytes[..bytes.len() / 2]).unwrap();
        let err = read(&dir).unwrap_err().to_string();
        assert!(err.contains("matrix.mtx.gz"), "{err}");
    }
}
