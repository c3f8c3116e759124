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
    if let Some(what) = not_text(head) {
        return Err(DataError::Invalid(format!(
            "{} is not a text table: {what}. Lamina reads tables saved as CSV or TSV text (in a spreadsheet: Save as, CSV)",
            path.display()
        )));
    }
    let delimiter = delimiter_for(path, head);
    // European spreadsheets write `;` between columns and a comma in numbers.
    let comma = delimiter == b';';
    let parse_number = |cell: &[u8]| number(cell, comma);
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
    let mut missing = Missing::default();
    let mut first_row = true;
    for rec in records {
        let rec = rec.map_err(|e| csv_error(path, e))?;
        let line = rec.position().map(|p| p.line()).unwrap_or(0);
        if rec.len() == 1 && rec.get(0).is_some_and(|f| f.trim_ascii().is_empty()) {
            continue; // blank line
        }
        if rec.len() != columns.len() {
            // A quote left open swallows the lines after it into one value.
            if let Some(f) = rec.iter().position(|f| f.contains(&b'\n')) {
                return Err(DataError::Invalid(format!(
                    "line {line} of {}: a quote (\") in column {} is not closed, so the lines after it were read as one value; close the quote or remove it",
                    path.display(),
                    f + 1
                )));
            }
            return Err(DataError::Ragged {
                path: path.to_path_buf(),
                line,
                found: rec.len(),
                expected: columns.len(),
            });
        }
        if first_row && allow_text {
            // Columns holding text in the first row are label candidates, not features.
            // A missing value (empty, NA) says nothing of the column's kind.
            text_cols = feature_cols
                .iter()
                .copied()
                .filter(|&c| parse_number(&rec[c]).is_none() && !is_missing(&rec[c]))
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
                // Counted, all of them, and refused or said below.
                None if is_missing(cell) => {
                    missing.add(line, c);
                    values.push(f32::NAN);
                }
                None => {
                    let text = String::from_utf8_lossy(cell).trim().to_string();
                    let hint = if ids.is_empty() {
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
    if let Some((line, c)) = missing.first {
        let mut names: Vec<&str> = missing
            .columns
            .iter()
            .map(|&c| columns[c].as_str())
            .collect();
        let more = names.len().saturating_sub(5);
        names.truncate(5);
        let mut where_ = names.join(", ");
        if more > 0 {
            where_.push_str(&format!(" and {more} more"));
        }
        let what = format!(
            "{} of {} values are missing (an empty cell, NA or NaN), in column{} {where_}; the first is on line {line}, column '{}'",
            missing.count,
            ids.len() * feature_cols.len(),
            if missing.columns.len() == 1 { "" } else { "s" },
            columns[c]
        );
        if !allow_text {
            return Err(DataError::Invalid(format!(
                "{}: {what}. Lamina does not guess missing measurements: fill them in (e.g. 0 for counts not seen), or remove those rows or columns",
                path.display()
            )));
        }
        notes.push(format!(
            "{what}: training refuses the table until they are filled in"
        ));
    }
    if comma {
        notes.push(
            "the columns are separated by ';', and a decimal comma (1,5) is read as a decimal point"
                .to_string(),
        );
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

/// Where a table's missing values are: how many, the first one's line and
/// column, and the columns that have any.
#[derive(Default)]
struct Missing {
    count: usize,
    first: Option<(u64, usize)>,
    columns: std::collections::BTreeSet<usize>,
}

impl Missing {
    fn add(&mut self, line: u64, column: usize) {
        self.count += 1;
        self.first.get_or_insert((line, column));
        self.columns.insert(column);
    }
}

/// An empty cell or a usual missing-value marker (NA, NaN, null…).
fn is_missing(cell: &[u8]) -> bool {
    std::str::from_utf8(cell).is_ok_and(super::is_missing_label)
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
            .map_err(|e| gz_error(path, e))?;
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

/// What the first bytes of a file that should be a text table are instead,
/// when they are not text.
fn not_text(head: &[u8]) -> Option<String> {
    let known: [(&[u8], &str); 5] = [
        (
            b"\x1f\x8b",
            "it is gzip-compressed; name it with .gz at the end (e.g. table.csv.gz)",
        ),
        (
            b"PK\x03\x04",
            "it is a zip archive (an Excel .xlsx workbook is one)",
        ),
        (
            b"\xd0\xcf\x11\xe0",
            "it is an old Excel (.xls) or Office file",
        ),
        (b"\x89HDF", "it is an HDF5 file (name it .h5ad or .h5)"),
        (b"%PDF", "it is a PDF document"),
    ];
    if let Some((_, what)) = known.iter().find(|(magic, _)| head.starts_with(magic)) {
        return Some(what.to_string());
    }
    let sample = &head[..head.len().min(4096)];
    let control = sample
        .iter()
        .filter(|&&b| b < b' ' && !matches!(b, b'\n' | b'\r' | b'\t'))
        .count();
    // UTF-8 cut at the end of the sample is still text.
    let utf8 = match std::str::from_utf8(sample) {
        Ok(_) => true,
        Err(e) => e.error_len().is_none(),
    };
    (control > 0 || !utf8).then(|| {
        "its first bytes are binary, not text (is it an image, a compressed or a spreadsheet file?)"
            .to_string()
    })
}

/// Tab for `.tsv`/`.tab`, comma for `.csv` (`;` when the header has no
/// comma but a `;`), else whichever of tab, comma and `;` the first line uses most.
pub(crate) fn delimiter_for(path: &Path, bytes: &[u8]) -> u8 {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    let name = name.strip_suffix(".gz").unwrap_or(&name);
    if name.ends_with(".tsv") || name.ends_with(".tab") {
        return b'\t';
    }
    let first_line = bytes.split(|&b| b == b'\n').next().unwrap_or(&[]);
    let count = |c: u8| first_line.iter().filter(|&&b| b == c).count();
    let (tabs, commas, semicolons) = (count(b'\t'), count(b','), count(b';'));
    if name.ends_with(".csv") {
        return if commas == 0 && semicolons > 0 {
            b';'
        } else {
            b','
        };
    }
    if semicolons > tabs.max(commas) {
        b';'
    } else if tabs > commas {
        b'\t'
    } else {
        b','
    }
}

/// A cell's number; with `comma`, a decimal comma (`1,5`) is a decimal point.
fn number(cell: &[u8], comma: bool) -> Option<f32> {
    let s = std::str::from_utf8(cell).ok()?.trim();
    if s.is_empty() {
        return None;
    }
    let v: f32 = match s.parse() {
        Ok(v) => v,
        Err(_) if comma && s.matches(',').count() == 1 => s.replace(',', ".").parse().ok()?,
        Err(_) => return None,
    };
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
        assert!(msg.contains("1 of 1 values are missing"), "{msg}");
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
    fn empty_cells_and_nan_are_missing_alike_counted_and_refused() {
        // An empty cell in the first row, NA and NaN further down: all three
        // are missing values, counted together, in the strict and the preview read.
        let text = "id,a,b,c\nx,,2,3\ny,1,NA,3\nz,1,2,NaN\nw,1,2,3\n";
        let p = write("missing.csv", text);
        let msg = read(&p, &TableOptions::default(), None, false)
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("3 of 12 values are missing")
                && msg.contains("columns a, b, c")
                && msg.contains("first is on line 2, column 'a'")
                && msg.contains("missing.csv"),
            "{msg}"
        );
        let ds = read_lenient(&p).unwrap();
        assert_eq!(ds.feature_names, ["a", "b", "c"], "a is not taken for text");
        assert!(ds.text_columns.is_empty());
        assert!(
            ds.notes
                .iter()
                .any(|n| n.contains("3 of 12 values are missing")),
            "{:?}",
            ds.notes
        );
        // Text that is not a missing-value marker is still a text column.
        let p = write("text.csv", "id,a,kind\nx,,T\ny,1,B\n");
        let ds = read_lenient(&p).unwrap();
        assert_eq!((ds.feature_names.len(), ds.text_columns.len()), (1, 1));
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
