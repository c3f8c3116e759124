//! Tables of the same samples joined by sample id (`DataSpec::joined`), e.g.
//! the protein counts of a CITE-seq experiment beside its RNA: each joined
//! table's features follow the main table's in every sample, and the dataset
//! records each part's name and width so the network takes it as an input of
//! its own. Rows are matched by id whatever their order; samples in only one
//! table are left out with a note, and tables with no id in common, or with a
//! column name in common, are refused naming both files.

use std::collections::HashMap;

use super::{DataError, DataKind, Dataset};

/// Append `table`'s features to each sample of `main` with the same id, as the
/// joined input `name`.
pub fn join(mut main: Dataset, table: Dataset, name: &str) -> Result<Dataset, DataError> {
    if main.kind != DataKind::Table || main.shape.len() != 1 {
        return Err(DataError::Invalid(format!(
            "the table '{name}' ({}) can be joined only to a table of numbers, but {} holds {}",
            table.source.display(),
            main.source.display(),
            main.kind.label()
        )));
    }
    if let Some(column) = table
        .feature_names
        .iter()
        .find(|c| main.feature_names.contains(c))
    {
        return Err(DataError::Invalid(format!(
            "the column '{column}' is in both {} and {}; rename it in one of them so each feature has its own name",
            main.source.display(),
            table.source.display()
        )));
    }
    let index: HashMap<&str, usize> = table
        .ids
        .iter()
        .enumerate()
        .map(|(i, id)| (id.as_str(), i))
        .collect();
    let keep: Vec<usize> = (0..main.len())
        .filter(|&i| index.contains_key(main.ids[i].as_str()))
        .collect();
    let examples = |ids: &[String]| {
        ids.iter()
            .take(3)
            .map(|id| format!("'{id}'"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if keep.is_empty() {
        return Err(DataError::Invalid(format!(
            "no sample id of {} ({}…) is in {} ({}…); the tables must name the same samples in their id columns",
            main.source.display(),
            examples(&main.ids),
            table.source.display(),
            examples(&table.ids)
        )));
    }
    if keep.len() < main.len() {
        let missing: Vec<String> = (0..main.len())
            .filter(|i| keep.binary_search(i).is_err())
            .map(|i| main.ids[i].clone())
            .collect();
        main.notes.push(format!(
            "{} of {} samples of {} have no row in {} and were left out (for example {})",
            missing.len(),
            main.len(),
            main.source.display(),
            table.source.display(),
            examples(&missing)
        ));
    }
    main.densify();
    main.retain(&keep);
    let in_main: std::collections::HashSet<&str> = main.ids.iter().map(String::as_str).collect();
    let extra: Vec<String> = table
        .ids
        .iter()
        .filter(|id| !in_main.contains(id.as_str()))
        .cloned()
        .collect();
    if !extra.is_empty() {
        main.notes.push(format!(
            "{} of {} rows of {} are samples that {} does not have and were left out (for example {})",
            extra.len(),
            table.len(),
            table.source.display(),
            main.source.display(),
            examples(&extra)
        ));
    }
    let (f, w) = (main.sample_len(), table.sample_len());
    let mut values = Vec::with_capacity(main.len() * (f + w));
    for (i, id) in main.ids.iter().enumerate() {
        values.extend_from_slice(&main.values[i * f..(i + 1) * f]);
        values.extend_from_slice(&table.sample(index[id.as_str()]));
    }
    main.values = values;
    main.shape = vec![f + w];
    main.feature_names.extend(table.feature_names);
    main.max_value = main.max_value.max(table.max_value);
    main.notes.push(format!(
        "{} ({w} features) is joined by sample id as the input '{name}'",
        table.source.display()
    ));
    main.joined.push((name.to_string(), w));
    Ok(main)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Labels;

    fn table(source: &str, ids: &[&str], names: &[&str], values: Vec<f32>) -> Dataset {
        Dataset {
            kind: DataKind::Table,
            source: source.into(),
            ids: ids.iter().map(|s| s.to_string()).collect(),
            shape: vec![names.len()],
            values,
            feature_names: names.iter().map(|s| s.to_string()).collect(),
            labels: Labels::Classes {
                index: (0..ids.len()).collect(),
                names: ids.iter().map(|s| s.to_string()).collect(),
            },
            max_value: 0.0,
            notes: Vec::new(),
            text_columns: Vec::new(),
            lengths: None,
            sparse: None,
            joined: Vec::new(),
        }
    }

    #[test]
    fn rows_are_matched_by_id_and_unmatched_samples_are_noted() {
        let rna = table(
            "rna.csv",
            &["a", "b", "c"],
            &["g1", "g2"],
            vec![1., 2., 3., 4., 5., 6.],
        );
        let adt = table("adt.csv", &["d", "c", "a"], &["p1"], vec![9., 30., 10.]);
        let ds = join(rna, adt, "protein").unwrap();
        assert_eq!(ds.ids, ["a", "c"]);
        assert_eq!(ds.values, [1., 2., 10., 5., 6., 30.]);
        assert_eq!(ds.shape, [3]);
        assert_eq!(ds.feature_names, ["g1", "g2", "p1"]);
        assert_eq!(ds.joined, [("protein".to_string(), 1)]);
        // The labels follow the samples kept.
        assert_eq!(ds.labels.class_names()[..], ["a", "b", "c"]);
        let Labels::Classes { index, .. } = &ds.labels else {
            panic!()
        };
        assert_eq!(index, &[0, 2]);
        let notes = ds.notes.join("\n");
        assert!(
            notes.contains("1 of 3 samples of rna.csv have no row in adt.csv"),
            "{notes}"
        );
        assert!(notes.contains("'b'"), "{notes}");
        assert!(notes.contains("1 of 3 rows of adt.csv"), "{notes}");
    }

    #[test]
    fn tables_without_common_ids_or_with_a_common_column_are_refused() {
        let rna = || table("rna.csv", &["a", "b"], &["g1"], vec![1., 2.]);
        let e = join(
            rna(),
            table("adt.csv", &["x", "y"], &["p1"], vec![1., 2.]),
            "protein",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("no sample id of rna.csv ('a', 'b'…) is in adt.csv ('x', 'y'…)"),
            "{e}"
        );
        let e = join(
            rna(),
            table("adt.csv", &["a", "b"], &["g1"], vec![1., 2.]),
            "protein",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("'g1' is in both rna.csv and adt.csv"), "{e}");
    }
}
