//! Real files from public packages (see tests/data/README.md) load with the
//! right sizes and names; what they hold is checked against their own headers.

use std::path::{Path, PathBuf};

use lamina::data::{DataKind, detect_format, inspect};
use lamina::spec::DataFormat;

fn data(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(rel)
}

#[test]
fn cell_ranger_3_folder_gzipped() {
    let dir = data("10x/v3");
    assert_eq!(detect_format(&dir).unwrap(), DataFormat::MatrixMarket);
    let ds = inspect(&dir).unwrap();
    assert_eq!(ds.kind, DataKind::Table);
    assert_eq!((ds.len(), ds.shape[0]), (1107, 507));
    // Every count of the file arrives: the size line says 23866 non-zeros.
    let nonzero = ds.values.iter().filter(|&&v| v != 0.0).count();
    assert_eq!(nonzero, 23866);
    assert!(ds.ids[0].ends_with("-1"), "{}", ds.ids[0]);
    assert!(ds.describe().contains("v3, features.tsv"));
}

#[test]
fn cell_ranger_2_folder_plain() {
    let ds = inspect(&data("10x/v2")).unwrap();
    assert_eq!((ds.len(), ds.shape[0]), (12, 343));
    assert_eq!(ds.values.iter().filter(|&&v| v != 0.0).count(), 12);
    assert!(ds.describe().contains("v2, genes.tsv"));
}

fn h5ad(name: &str, label: Option<&str>) -> Result<lamina::data::Dataset, String> {
    lamina::data::h5ad::read(&data(&format!("h5ad/{name}")), label, false)
        .map_err(|e| e.to_string())
}

#[test]
fn anndata_before_0_7_with_compound_tables() {
    let ds = h5ad("pbmc68k_reduced.h5ad", Some("bulk_labels")).unwrap();
    assert_eq!((ds.len(), ds.shape[0]), (700, 765));
    assert_eq!(&ds.feature_names[..3], ["HES4", "TNFRSF4", "SSU72"]);
    let names = ds.labels.class_names();
    assert_eq!(names.len(), 10);
    let counts = ds.labels.class_counts();
    let dendritic = names.iter().position(|n| n == "Dendritic").unwrap();
    assert_eq!(counts[dendritic], 240);
    assert!(ds.text_columns.contains(&"louvain".to_string()));
}

#[test]
fn anndata_current_layout_with_sparse_x() {
    let ds = h5ad("pbmc68k_reduced_modern_csr_gzip.h5ad", Some("phase")).unwrap();
    assert_eq!((ds.len(), ds.shape[0]), (700, 765));
    assert_eq!(ds.values.iter().filter(|&&v| v != 0.0).count(), 174_400);
    assert_eq!(ds.labels.class_names(), ["G1", "G2M", "S"]);
    assert!(ds.describe().contains("sparse CSR X"));
    // The same cells, in the same order, as the older file.
    let old = h5ad("pbmc68k_reduced.h5ad", None).unwrap();
    assert_eq!(old.ids, ds.ids);
}

#[test]
fn anndata_0_7_categories_and_broken_files() {
    let ds = h5ad("adata_v0.7.0.h5ad", Some("obs_cat")).unwrap();
    assert_eq!((ds.len(), ds.shape[0]), (30, 20));
    assert!(ds.labels.class_names().len() >= 2);

    let err = h5ad("adata_v0.11.4.h5ad", None).unwrap_err();
    assert!(
        err.contains("has no X matrix") && err.contains("obs"),
        "{err}"
    );
    let err = h5ad("pbmc68k_reduced.h5ad", Some("cell_colour")).unwrap_err();
    assert!(
        err.contains("no column 'cell_colour'") && err.contains("bulk_labels"),
        "{err}"
    );

    // A file cut short: a message naming it, no panic.
    let tmp = std::env::temp_dir().join(format!("lamina-trunc-{}.h5ad", std::process::id()));
    let bytes = std::fs::read(data("h5ad/pbmc68k_reduced_modern_csr_gzip.h5ad")).unwrap();
    std::fs::write(&tmp, &bytes[..bytes.len() / 3]).unwrap();
    let err = lamina::data::h5ad::read(&tmp, None, false)
        .unwrap_err()
        .to_string();
    assert!(err.contains("lamina-trunc"), "{err}");
}
