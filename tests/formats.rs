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
