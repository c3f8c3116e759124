//! 10x Genomics feature-barcode matrices in HDF5 (`filtered_feature_bc_matrix.h5`),
//! read with the pure-Rust `hdf5-pure`. Cell Ranger 3 and later keep the matrix
//! in the group `matrix` (genes named in `matrix/features/name`, `id`);
//! Cell Ranger 2 in one group per genome (e.g. `GRCh38`, genes in `genes` and
//! `gene_names`). Either way the matrix is compressed by column, one column per
//! cell: `indptr` over the cells, `indices` the gene of each count.

use std::path::Path;

use hdf5_pure::Group;

use super::{DataError, DataKind, Dataset, Labels};

fn err(path: &Path, what: impl std::fmt::Display) -> DataError {
    DataError::Invalid(format!("{}: {what}", path.display()))
}

/// Read a 10x `.h5` matrix: cells become samples, genes features.
pub fn read(path: &Path) -> Result<Dataset, DataError> {
    let file = super::h5ad::open_hdf5(path, "a 10x .h5 matrix")?;
    let groups = file.root().groups().map_err(|e| err(path, e))?;
    let mut others = Vec::new();
    let (name, v3) = if groups.iter().any(|g| g == "matrix") {
        ("matrix".to_string(), true)
    } else {
        // Cell Ranger 2: one group per genome, holding the matrix arrays.
        let genomes: Vec<&String> = groups
            .iter()
            .filter(|g| {
                file.group(g).and_then(|g| g.datasets()).is_ok_and(|d| {
                    ["indptr", "barcodes", "genes"]
                        .iter()
                        .all(|want| d.iter().any(|n| n == want))
                })
            })
            .collect();
        others = genomes.iter().skip(1).map(|g| g.to_string()).collect();
        match genomes.first() {
            Some(g) => (g.to_string(), false),
            None => {
                return Err(err(
                    path,
                    format!(
                        "is HDF5 but not a 10x matrix: it has no 'matrix' group (Cell Ranger 3) \
                         and no genome group with indptr (Cell Ranger 2); it holds: {}",
                        if groups.is_empty() {
                            "no groups".to_string()
                        } else {
                            groups.join(", ")
                        }
                    ),
                ));
            }
        }
    };
    let g = file.group(&name).map_err(|e| err(path, e))?;
    let part = |what: &str| format!("{name}/{what}");
    // Each dataset's claimed size is checked against the file's before it is read.
    let open = |g: &Group, what: &str, shown: &str| -> Result<hdf5_pure::Dataset, DataError> {
        let d = g
            .dataset(what)
            .map_err(|e| err(path, format!("{shown}: {e}")))?;
        super::h5ad::fits_in_file(path, shown, &d)?;
        Ok(d)
    };
    let ints = |g: &Group, what: &str| -> Result<Vec<i64>, DataError> {
        open(g, what, &part(what))?
            .read_i64()
            .map_err(|e| err(path, format!("{}: {e}", part(what))))
    };
    let texts = |g: &Group, what: &str, shown: &str| -> Result<Vec<String>, DataError> {
        open(g, what, shown)?
            .read_string()
            .map_err(|e| err(path, format!("{shown}: {e}")))
    };
    let shape = ints(&g, "shape")?;
    let [n_genes, n_cells] = shape[..] else {
        return Err(err(
            path,
            format!(
                "{} is {shape:?}; it should be [genes, cells]",
                part("shape")
            ),
        ));
    };
    let (n_genes, n_cells) = (n_genes.max(0) as usize, n_cells.max(0) as usize);
    let data = open(&g, "data", &part("data"))?
        .read_f32()
        .map_err(|e| err(path, format!("{}: {e}", part("data"))))?;
    let indices = ints(&g, "indices")?;
    let indptr = ints(&g, "indptr")?;
    let barcodes = texts(&g, "barcodes", &part("barcodes"))?;
    let (ids, names) = if v3 {
        let f = g
            .group("features")
            .map_err(|e| err(path, format!("{}: {e}", part("features"))))?;
        (
            texts(&f, "id", &part("features/id"))?,
            texts(&f, "name", &part("features/name"))?,
        )
    } else {
        (
            texts(&g, "genes", &part("genes"))?,
            texts(&g, "gene_names", &part("gene_names"))?,
        )
    };
    if barcodes.len() != n_cells {
        return Err(err(
            path,
            format!(
                "{} holds {} cell barcodes but the matrix has {n_cells} cells",
                part("barcodes"),
                barcodes.len()
            ),
        ));
    }
    if ids.len() != n_genes || names.len() != n_genes {
        return Err(err(
            path,
            format!(
                "the matrix has {n_genes} genes but {} gene ids and {} gene names",
                ids.len(),
                names.len()
            ),
        ));
    }
    // Column-compressed over cells = row-compressed cells × genes.
    let nonzero = data.iter().filter(|&&v| v != 0.0).count();
    let matrix = super::h5ad::compressed_to_rows(data, &indices, &indptr, n_cells, n_genes, true)
        .map_err(|m| err(path, format!("{name}: {m}")))?;
    let mut notes = vec![format!(
        "10x HDF5 matrix ({}, group '{name}'): {n_cells} cells × {n_genes} genes, {nonzero} non-zero counts ({:.1}%)",
        if v3 {
            "Cell Ranger 3+"
        } else {
            "Cell Ranger 2"
        },
        100.0 * nonzero as f64 / (n_cells * n_genes).max(1) as f64
    )];
    if !others.is_empty() {
        notes.push(format!(
            "the file also holds the genome(s) {}; only '{name}' was read",
            others.join(", ")
        ));
    }
    Ok(Dataset {
        kind: DataKind::Table,
        source: path.to_path_buf(),
        ids: barcodes,
        shape: vec![n_genes],
        values: Vec::new(),
        feature_names: super::mtx::unique_gene_names(ids.into_iter().zip(names).collect()),
        labels: Labels::None,
        max_value: f32::MAX,
        notes,
        text_columns: Vec::new(),
        sparse: Some(super::sparse::Sparse::Counts(matrix)),
        lengths: None,
        joined: Vec::new(),
    })
}
