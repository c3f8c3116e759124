//! CSV/TSV matrices: a header row, one row per sample, a sample-id column and
//! numeric features (omics counts, measurements). Optionally one column holds the
//! label. The delimiter follows the extension (`.tsv`/`.tab`/`.txt` → tab) or,
//! failing that, whichever of tab and comma the header uses more.

use std::collections::HashMap;
use std::io::{BufRead, Read};
use std::path::Path;

use super::{DataError, DataKind, Dataset, Labels};
use crate::spec::TableOptions;

/// Read a numeric table. `label_column` is taken out of the features and used as
/// the labels; with `allow_text`, other columns holding text in the first row are
/// set aside as label candidates instead of being an error.
pub fn read(
    path: &Path,
    opts: &TableOptions,
    label_column: Option<&str>,
    numeric_label: bool,
) -> Result<Dataset, DataError> {
    read_with(path, opts, label_column, numeric_label, false)
}

/// Like [`read`], but columns of text are set aside rather than refused (for previews).
pub fn read_lenient(path: &Path) -> Result<Dataset, DataError> {
    read_with(path, &TableOptions::default(), None, false, true)
}

fn read_with(
    path: &Path,
    opts: &TableOptions,
    label_column: Option<&str>,
    numeric_label: bool,
    allow_text: bool,
) -> Result<Dataset, DataError> {
    // Streamed: the file is never held in memory whole, only the numbers.
    let (file, file_len) = super::progress::open(path)?;
    let gz = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gz"));
    let source: Box<dyn Read> = if gz {
        Box::new(flate2::read::MultiGzDecoder::new(file))
    } else {
        Box::new(file)
    };
    let mut buffered = std::io::BufReader::with_capacity(1 << 20, source);
    let head = buffered.fill_buf().map_err(|e| gz_error(path, e))?;
    if head.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(DataError::Empty {
            path: path.to_path_buf(),
        });
    }
    let delimiter = delimiter_for(path, head);
    let header_len = head.iter().position(|&b| b == b'\n').unwrap_or(head.len()) as u64;
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        .from_reader(buffered);

    let mut records = reader.byte_records();
    let header = match records.next() {
        Some(r) => r.map_err(|e| csv_error(path, e))?,
        None => {
            return Err(DataError::Empty {
                path: path.to_path_buf(),
            });
        }
    };
    let columns: Vec<String> = header
        .iter()
        .map(|c| String::from_utf8_lossy(c).trim().to_string())
        .collect();
    // Two columns of one name would be told apart by nothing but their place.
    let mut named: HashMap<&str, usize> = HashMap::new();
    for (i, c) in columns.iter().enumerate().filter(|(_, c)| !c.is_empty()) {
        if let Some(first) = named.insert(c.as_str(), i) {
            return Err(DataError::Invalid(format!(
                "{}: columns {} and {} of the header are both called '{c}'; give each column a name of its own",
                path.display(),
                first + 1,
                i + 1
            )));
        }
    }
    // A first line of numbers is more likely data than names: it is read as
    // the header all the same (numeric gene ids are names too), and said.
    let mut notes = Vec::new();
    let named_by_numbers = columns.len() > 1
        && columns[1..]
            .iter()
            .all(|c| parse_number(c.as_bytes()).is_some());
    if named_by_numbers {
        notes.push(format!(
            "the first line is read as the header, but all its column names are numbers ({}…): if the file has no header row, its first sample was taken for the names; add a header line",
            columns[1..].iter().take(3).cloned().collect::<Vec<_>>().join(", ")
        ));
    }
    let find = |name: &str| find_column(path, &columns, name);
    let id_col = if opts.id_column.is_empty() {
        0
    } else {
        find(&opts.id_column)?
    };
    let label_col = label_column.map(find).transpose()?;

    let mut feature_cols: Vec<usize> = (0..columns.len())
        .filter(|&c| c != id_col && Some(c) != label_col)
        .collect();
    let mut text_cols: Vec<usize> = Vec::new();

    let mut ids = Vec::new();
    let mut seen: HashMap<String, u64> = HashMap::new();
    let mut values = Vec::new();
    let mut raw_labels = Vec::new();
    let mut first_row = true;
    for rec in records {
        let rec = rec.map_err(|e| csv_error(path, e))?;
        let line = rec.position().map(|p| p.line()).unwrap_or(0);
        if rec.len() == 1 && rec.get(0).is_some_and(|f| f.trim_ascii().is_empty()) {
            continue; // blank line
        }
        if rec.len() != columns.len() {
            return Err(DataError::Ragged {
                path: path.to_path_buf(),
                line,
                found: rec.len(),
                expected: columns.len(),
            });
        }
        if first_row && allow_text {
            // Columns holding text in the first row are label candidates, not features.
            text_cols = feature_cols
                .iter()
                .copied()
                .filter(|&c| parse_number(&rec[c]).is_none())
                .collect();
            feature_cols.retain(|c| !text_cols.contains(c));
        }
        if first_row && !gz {
            // Room for the whole matrix at once, estimated from the first row's
            // length, instead of growing by doubling (twice the memory at the end).
            let row_len = rec.as_slice().len() as u64 + rec.len() as u64;
            let rows = file_len.saturating_sub(header_len) / row_len.max(1);
            values.reserve((rows as usize + rows as usize / 20 + 16) * feature_cols.len());
        }
        first_row = false;
        let id = String::from_utf8_lossy(&rec[id_col]).trim().to_string();
        if let Some(first) = seen.insert(id.clone(), line) {
            return Err(DataError::DuplicateId {
                path: path.to_path_buf(),
                id,
                first,
                second: line,
            });
        }
        for &c in &feature_cols {
            let cell = &rec[c];
            match parse_number(cell) {
                Some(v) => values.push(v),
                None => {
                    let text = String::from_utf8_lossy(cell).trim().to_string();
                    let hint = if super::is_missing_label(&text) {
                        "; fill in or remove missing values".to_string()
                    } else if ids.is_empty() {
                        "; if this column holds labels, choose it as the label column".to_string()
                    } else {
                        String::new()
                    };
                    return Err(DataError::NotNumber {
                        path: path.to_path_buf(),
                        line,
                        column: columns[c].clone(),
                        value: text,
                        hint,
                    });
                }
            }
        }
        if let Some(lc) = label_col {
            raw_labels.push(String::from_utf8_lossy(&rec[lc]).trim().to_string());
        }
        ids.push(id);
    }
    if ids.is_empty() {
        return Err(DataError::NoRows {
            path: path.to_path_buf(),
        });
    }
    if feature_cols.is_empty() && !allow_text {
        return Err(DataError::Invalid(format!(
            "{} has no numeric feature columns besides the id{} column",
            path.display(),
            if label_col.is_some() {
                " and label"
            } else {
                ""
            }
        )));
    }
    let labels = if label_col.is_some() {
        Labels::from_strings(&raw_labels, numeric_label, path, &ids)?
    } else {
        Labels::None
    };
    Ok(Dataset {
        kind: DataKind::Table,
        source: path.to_path_buf(),
        ids,
        shape: vec![feature_cols.len()],
        values,
        feature_names: feature_cols.iter().map(|&c| columns[c].clone()).collect(),
        labels,
        max_value: f32::MAX,
        notes,
        text_columns: text_cols.iter().map(|&c| columns[c].clone()).collect(),
        sparse: None,
        lengths: None,
        joined: Vec::new(),
    })
}

fn gz_error(path: &Path, e: std::io::Error) -> DataError {
    DataError::Invalid(format!(
        "{} is not a readable gzip file (truncated or damaged?): {e}",
        path.display()
    ))
}

/// Read a whole file, gunzipping `.gz`.
pub(crate) fn read_all(path: &Path) -> Result<Vec<u8>, DataError> {
    let raw = std::fs::read(path).map_err(DataError::io(path))?;
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gz"))
    {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(raw.as_slice())
            .read_to_end(&mut out)
            .map_err(|e| {
                DataError::Invalid(format!(
                    "{} is not a readable gzip file (truncated or damaged?): {e}",
                    path.display()
                ))
            })?;
        return Ok(out);
    }
    Ok(raw)
}

/// The index of a named column, or a message listing the columns there are.
pub(crate) fn find_column(path: &Path, columns: &[String], name: &str) -> Result<usize, DataError> {
    columns
        .iter()
        .position(|c| c == name)
        .ok_or_else(|| DataError::MissingColumn {
            path: path.to_path_buf(),
            column: name.to_string(),
            available: columns.join(", "),
        })
}

/// Tab for `.tsv`/`.tab`, comma for `.csv`, else whichever the first line uses more.
pub(crate) fn delimiter_for(path: &Path, bytes: &[u8]) -> u8 {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    let name = name.strip_suffix(".gz").unwrap_or(&name);
    if name.ends_with(".tsv") || name.ends_with(".tab") {
        return b'\t';
    }
    if name.ends_with(".csv") {
        return b',';
    }
    let first_line = bytes.split(|&b| b == b'\n').next().unwrap_or(&[]);
    let tabs = first_line.iter().filter(|&&b| b == b'\t').count();
    let commas = first_line.iter().filter(|&&b| b == b',').count();
    if tabs > commas { b'\t' } else { b',' }
}

fn parse_number(cell: &[u8]) -> Option<f32> {
    let s = std::str::from_utf8(cell).ok()?.trim();
    if s.is_empty() {
        return None;
    }
    let v: f32 = s.parse().ok()?;
    v.is_finite().then_some(v)
}

fn csv_error(path: &Path, e: csv::Error) -> DataError {
    if let csv::ErrorKind::Io(io) = e.kind() {
        return DataError::Invalid(format!(
            "{} could not be read to the end (a truncated or damaged gzip file?): {io}",
            path.display()
        ));
    }
    let line = e.position().map(|p| p.line()).unwrap_or(0);
    DataError::Invalid(format!("line {line} of {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(name: &str, text: &str) -> std::path::PathBuf {
        crate::data::test_file("table", name, text)
    }

    #[test]
    fn reads_ids_features_and_a_label_column() {
        let p = write(
            "ok.csv",
            "cell,g1,g2,type\nc1,1,2,T\nc2,3,4.5,B\nc3,0,0,T\n",
        );
        let ds = read(&p, &TableOptions::default(), Some("type"), false).unwrap();
        assert_eq!(ds.ids, ["c1", "c2", "c3"]);
        assert_eq!(ds.shape, [2]);
        assert_eq!(ds.values, [1.0, 2.0, 3.0, 4.5, 0.0, 0.0]);
        assert_eq!(ds.feature_names, ["g1", "g2"]);
        assert_eq!(
            ds.labels,
            Labels::Classes {
                index: vec![1, 0, 1],
                names: vec!["B".into(), "T".into()]
            }
        );
    }

    #[test]
    fn tsv_is_detected_from_the_extension_and_the_header() {
        let p = write("ok.tsv", "id\ta\tb\nx\t1\t2\n");
        assert_eq!(
            read(&p, &TableOptions::default(), None, false)
                .unwrap()
                .values,
            [1.0, 2.0]
        );
        let p = write("ok2.txt", "id\ta\tb\nx\t1\t2\n");
        assert_eq!(
            read(&p, &TableOptions::default(), None, false)
                .unwrap()
                .values,
            [1.0, 2.0]
        );
    }

    #[test]
    fn a_ragged_row_names_its_line_and_the_counts() {
        let p = write("ragged.csv", "id,a,b,c\nx,1,2,3\ny,1,2\n");
        let msg = read(&p, &TableOptions::default(), None, false)
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("line 3 of") && msg.contains("ragged.csv"),
            "{msg}"
        );
        assert!(
            msg.contains("has 3 values; the header has 4 columns"),
            "{msg}"
        );
    }

    #[test]
    fn a_text_cell_names_line_column_and_value() {
        let p = write("text.csv", "id,a,b\nx,1,2\ny,1,oops\n");
        let msg = read(&p, &TableOptions::default(), None, false)
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("line 3") && msg.contains("column 'b'") && msg.contains("'oops'"),
            "{msg}"
        );
        let p = write("na.csv", "id,a\nx,NA\n");
        let msg = read(&p, &TableOptions::default(), None, false)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("missing values"), "{msg}");
    }

    #[test]
    fn empty_files_duplicates_and_missing_columns_are_explained() {
        let p = write("empty.csv", "");
        let msg = read(&p, &TableOptions::default(), None, false)
            .unwrap_err()
            .to_string();
        assert!(msg.ends_with("empty.csv is empty"), "{msg}");
        let p = write("header.csv", "id,a\n");
        let msg = read(&p, &TableOptions::default(), None, false)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("no data rows"), "{msg}");
        let p = write("dupcols.csv", "id,a,b,a\nx,1,2,3\n");
        let msg = read(&p, &TableOptions::default(), None, false)
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("columns 2 and 4 of the header are both called 'a'"),
            "{msg}"
        );
        let p = write("noheader.csv", "c1,0.5,1,2\nc2,3,4,5\n");
        let ds = read(&p, &TableOptions::default(), None, false).unwrap();
        assert_eq!(ds.len(), 1);
        assert!(
            ds.notes
                .iter()
                .any(|n| n.contains("all its column names are numbers (0.5, 1, 2…)")),
            "{:?}",
            ds.notes
        );
        let p = write("dup.csv", "id,a\nx,1\nx,2\n");
        let msg = read(&p, &TableOptions::default(), None, false)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("'x' appears twice (lines 2 and 3)"), "{msg}");
        let p = write("cols.csv", "id,a\nx,1\n");
        let msg = read(&p, &TableOptions::default(), Some("type"), false)
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("no column 'type'") && msg.contains("id, a"),
            "{msg}"
        );
    }

    #[test]
    fn lenient_reading_sets_text_columns_aside() {
        let p = write("lenient.csv", "id,a,kind,b\nx,1,T,2\ny,3,B,4\n");
        let ds = read_lenient(&p).unwrap();
        assert_eq!(ds.feature_names, ["a", "b"]);
        assert_eq!(ds.text_columns, ["kind"]);
    }

    #[test]
    fn gzipped_tables_stream_and_truncated_ones_are_named() {
        use std::io::Write;
        let text: String = std::iter::once("id,a,b\n".to_string())
            .chain((0..2000).map(|i| format!("s{i},{i},{}\n", i * 2)))
            .collect();
        let path = write("t.csv.gz", "");
        let mut w = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        w.write_all(text.as_bytes()).unwrap();
        let gz = w.finish().unwrap();
        std::fs::write(&path, &gz).unwrap();
        let ds = read_lenient(&path).unwrap();
        assert_eq!((ds.len(), ds.shape[0]), (2000, 2));
        assert_eq!(*ds.sample(1999), [1999.0, 3998.0]);
        std::fs::write(&path, &gz[..gz.len() / 2]).unwrap();
        let err = read_lenient(&path).unwrap_err().to_string();
        assert!(err.contains("t.csv.gz") && err.contains("gzip"), "{err}");
    }
}
