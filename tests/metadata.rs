//! Labels from a metadata table: joined by sample id, missing labels counted and,
//! when the user chooses, left out; duplicate ids named with their lines.

use std::path::{Path, PathBuf};

use lamina::data::{Labels, load};
use lamina::spec::{DataSpec, LabelSource};

fn folder(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lamina-meta-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn spec(meta: &str, column: &str, numeric: bool, drop: bool) -> DataSpec {
    let mut spec = DataSpec {
        path: "counts.csv".into(),
        labels: LabelSource::Metadata {
            path: meta.into(),
            id_column: "cell".into(),
            column: column.into(),
        },
        drop_unlabelled: drop,
        ..DataSpec::default()
    };
    spec.table.regression_target = numeric;
    spec
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

#[test]
fn missing_labels_are_counted_or_left_out() {
    let dir = folder("missing");
    write(
        &dir,
        "counts.csv",
        "id,g1,g2\nc1,1,2\nc2,3,4\nc3,5,6\nc4,7,8\nc5,9,10\n",
    );
    // c2: empty label; c4: NA; c5: no row at all. The table's own order differs.
    write(
        &dir,
        "meta.tsv",
        "batch\tcell\ttype\tage\nb1\tc3\tB\t30\nb1\tc1\tT\t41.5\nb2\tc2\t\tNA\nb2\tc4\tNA\t12\n",
    );

    let msg = load(&spec("meta.tsv", "type", false, false), &dir)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("3 of 5 samples")
            && msg.contains("meta.tsv")
            && msg.contains("'c2', 'c4', 'c5'")
            && msg.contains("leave out"),
        "{msg}"
    );

    let ds = load(&spec("meta.tsv", "type", false, true), &dir).unwrap();
    assert_eq!(ds.ids, ["c1", "c3"]);
    assert_eq!(ds.values, [1.0, 2.0, 5.0, 6.0]);
    assert_eq!(
        ds.labels,
        Labels::Classes {
            index: vec![1, 0],
            names: vec!["B".into(), "T".into()]
        }
    );
    assert!(
        ds.notes
            .iter()
            .any(|n| n.contains("3 of 5 samples have no label")),
        "{:?}",
        ds.notes
    );

    // A numeric column is a regression target; NA there is missing too.
    let ds = load(&spec("meta.tsv", "age", true, true), &dir).unwrap();
    assert_eq!(ds.ids, ["c1", "c3", "c4"]);
    assert_eq!(ds.labels, Labels::Values(vec![41.5, 30.0, 12.0]));

    // Every sample unlabelled: nothing would be left to train on.
    write(&dir, "none.csv", "cell,type\nx1,A\n");
    let msg = load(&spec("none.csv", "type", false, true), &dir)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("5 of 5 samples"), "{msg}");
}

#[test]
fn duplicate_ids_are_named_with_both_lines() {
    let dir = folder("dup");
    write(&dir, "counts.csv", "id,g1\nc1,1\nc2,3\n");
    write(&dir, "meta.csv", "cell,type\nc1,T\nc2,B\nc2,T\n");
    let msg = load(&spec("meta.csv", "type", false, false), &dir)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("meta.csv") && msg.contains("'c2'") && msg.contains("lines 3 and 4"),
        "{msg}"
    );
    // In the data table itself, too.
    write(&dir, "counts.csv", "id,g1\nc1,1\nc1,3\n");
    let msg = load(&spec("meta.csv", "type", false, false), &dir)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("counts.csv") && msg.contains("'c1'") && msg.contains("lines 2 and 3"),
        "{msg}"
    );
}
