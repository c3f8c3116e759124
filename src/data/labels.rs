//! Labels from a separate metadata table (CSV/TSV), joined to the data by sample id.

use std::collections::HashMap;
use std::path::Path;

use super::{DataError, Dataset, Labels};

/// Look up each sample of `data` in the metadata table at `path` and take `column`
/// as its label. `id_column` empty means the table's first column.
pub fn join(
    data: &Dataset,
    path: &Path,
    id_column: &str,
    column: &str,
    numeric: bool,
) -> Result<Labels, DataError> {
    let bytes = super::table::read_all(path)?;
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(DataError::Empty {
            path: path.to_path_buf(),
        });
    }

    let mut reader = csv::ReaderBuilder::new()
        .delimiter(super::table::delimiter_for(path, &bytes))
        .flexible(true)
        .from_reader(bytes.as_slice());
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| DataError::Invalid(format!("{}: {e}", path.display())))?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    let find = |name: &str| super::table::find_column(path, &header, name);
    let id_col = if id_column.is_empty() {
        0
    } else {
        find(id_column)?
    };
    let label_col = find(column)?;

    let mut map: HashMap<String, (String, u64)> = HashMap::new();
    for rec in reader.records() {
        let rec = rec.map_err(|e| DataError::Invalid(format!("{}: {e}", path.display())))?;
        let line = rec.position().map(|p| p.line()).unwrap_or(0);
        let (Some(id), Some(label)) = (rec.get(id_col), rec.get(label_col)) else {
            return Err(DataError::Ragged {
                path: path.to_path_buf(),
                line,
                found: rec.len(),
                expected: header.len(),
            });
        };
        let id = id.trim().to_string();
        if let Some((_, first)) = map.get(&id) {
            return Err(DataError::DuplicateId {
                path: path.to_path_buf(),
                id,
                first: *first,
                second: line,
            });
        }
        map.insert(id, (label.trim().to_string(), line));
    }

    // A sample without a row gets an empty label: `load` counts those and
    // leaves them out or stops, as the data settings say.
    let raw: Vec<String> = data
        .ids
        .iter()
        .map(|id| {
            map.get(id)
                .map(|(label, _)| label.clone())
                .unwrap_or_default()
        })
        .collect();
    Labels::from_strings(&raw, numeric, path, &data.ids)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::table;
    use crate::spec::TableOptions;

    #[test]
    fn joins_by_id_in_any_order_and_reports_missing_ids() {
        let dir = std::env::temp_dir().join(format!("lamina-labels-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let data = dir.join("x.csv");
        std::fs::write(&data, "id,a\nc1,1\nc2,2\nc3,3\n").unwrap();
        let ds = table::read(&data, &TableOptions::default(), None, false).unwrap();

        let meta = dir.join("meta.tsv");
        std::fs::write(
            &meta,
            "cell\tbatch\ttype\nc3\t1\tB\nc1\t1\tT\nc2\t2\tT\nextra\t1\tB\n",
        )
        .unwrap();
        let labels = join(&ds, &meta, "", "type", false).unwrap();
        assert_eq!(
            labels,
            Labels::Classes {
                index: vec![1, 1, 0],
                names: vec!["B".into(), "T".into()]
            }
        );

        // c2 has no row, c3 an NA label: both are counted as missing.
        let partial = dir.join("partial.csv");
        std::fs::write(&partial, "cell,type\nc1,T\nzz,B\nc3,NA\n").unwrap();
        let labels = join(&ds, &partial, "", "type", false).unwrap();
        assert_eq!(labels.missing(), [1, 2]);
        assert_eq!(labels.class_names(), ["T"]);

        let dup = dir.join("dup.csv");
        std::fs::write(&dup, "cell,type\nc1,T\nc2,B\nc1,B\n").unwrap();
        let msg = join(&ds, &dup, "", "type", false).unwrap_err().to_string();
        assert!(
            msg.contains("dup.csv") && msg.contains("'c1'") && msg.contains("lines 2 and 4"),
            "{msg}"
        );

        let msg = join(&ds, &meta, "", "celltype", false)
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("no column 'celltype'") && msg.contains("cell, batch, type"),
            "{msg}"
        );
    }
}
