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
    let nonzero = ds.nonzero();
    assert!(ds.sparse.is_some(), "a 10x folder stays sparse");
    assert_eq!(nonzero, 23866);
    assert!(ds.ids[0].ends_with("-1"), "{}", ds.ids[0]);
    assert!(ds.describe().contains("v3, features.tsv"));
}

#[test]
fn cell_ranger_2_folder_plain() {
    let ds = inspect(&data("10x/v2")).unwrap();
    assert_eq!((ds.len(), ds.shape[0]), (12, 343));
    assert_eq!(ds.nonzero(), 12);
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
    assert_eq!(ds.nonzero(), 174_400);
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

#[test]
fn cell_ranger_hdf5_matrices_hold_what_their_folders_hold() {
    let h5 = data("10x_h5/3.0.0_filtered_feature_bc_matrix.h5");
    assert_eq!(detect_format(&h5).unwrap(), DataFormat::TenxH5);
    let ds = inspect(&h5).unwrap();
    let mtx = inspect(&data("10x/v3")).unwrap();
    assert_eq!((ds.len(), ds.shape[0]), (1107, 507));
    assert_eq!(ds.nonzero(), 23866);
    assert_eq!(ds.dense_values().iter().sum::<f32>(), 41549.0);
    assert_eq!(&ds.ids[..2], ["AAACCCAAGGAGAGTA-1", "AAACGCTTCAGCCCAG-1"]);
    assert_eq!(&ds.feature_names[..2], ["CH507-9B2.2", "CH507-9B2.1"]);
    // The same cells, genes and counts as the Matrix Market folder of the same run.
    assert_eq!(ds.ids, mtx.ids);
    assert_eq!(ds.feature_names, mtx.feature_names);
    assert_eq!(ds.sparse, mtx.sparse);

    let ds = inspect(&data("10x_h5/1.2.0_filtered_gene_bc_matrices_h5.h5")).unwrap();
    assert_eq!((ds.len(), ds.shape[0]), (12, 343));
    assert_eq!(&ds.feature_names[..3], ["DSCAM", "MIR99AHG", "APP"]);
    assert!(ds.describe().contains("Cell Ranger 2, group 'hg19_chr21'"));
    assert_eq!(ds.sparse, inspect(&data("10x/v2")).unwrap().sparse);

    let ds = inspect(&data("10x_h5/1.2.0_multiple_genomes.h5")).unwrap();
    assert_eq!(ds.len(), 12);
    assert!(
        ds.describe().contains("also holds the genome"),
        "{}",
        ds.describe()
    );
}

#[test]
fn a_damaged_or_foreign_hdf5_file_is_explained() {
    let dir = std::env::temp_dir().join(format!("lamina-h5-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bytes = std::fs::read(data("10x_h5/3.0.0_filtered_feature_bc_matrix.h5")).unwrap();
    let cut = dir.join("cut.h5");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let msg = inspect(&cut).unwrap_err().to_string();
    assert!(msg.contains("cut.h5"), "{msg}");
    // An AnnData file named .h5 is HDF5 but not a 10x matrix.
    let other = dir.join("other.h5");
    std::fs::copy(data("h5ad/adata_v0.7.0.h5ad"), &other).unwrap();
    let msg = inspect(&other).unwrap_err().to_string();
    assert!(
        msg.contains("other.h5") && msg.contains("not a 10x matrix"),
        "{msg}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// Put real image files into a class folder of a fresh dataset folder.
fn image_folder(name: &str, files: &[&str]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lamina-tif-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("c")).unwrap();
    for f in files {
        std::fs::copy(data(&format!("tiff/{f}")), dir.join("c").join(f)).unwrap();
    }
    dir
}

fn image_opts(w: u32, h: u32) -> lamina::spec::ImageOptions {
    lamina::spec::ImageOptions {
        width: w,
        height: h,
        ..Default::default()
    }
}

#[test]
fn real_16_bit_and_rgb_tiffs_in_every_byte_order_and_compression() {
    use lamina::data::image::read;
    let dir = image_folder(
        "16",
        &[
            "16bit.cropped.tif",
            "16bit.MM.cropped.tif",
            "16bit.deflate.tif",
        ],
    );
    let ds = read(&dir, &image_opts(64, 64)).unwrap();
    assert_eq!(ds.max_value, 65535.0);
    for i in 0..3 {
        let s = ds.sample(i);
        assert_eq!(s[0], 480.0, "{}", ds.ids[i]);
        assert_eq!(s.iter().sum::<f32>(), 1_573_327.0, "{}", ds.ids[i]);
        let (lo, hi) = s
            .iter()
            .fold((f32::MAX, 0f32), |(a, b), &v| (a.min(v), b.max(v)));
        assert_eq!((lo, hi), (291.0, 694.0));
    }

    let dir = image_folder("rgb", &["hopper.tif", "hopper_lzw.tif"]);
    let ds = read(&dir, &image_opts(128, 128)).unwrap();
    assert_eq!(ds.shape, [3, 128, 128]);
    for i in 0..2 {
        let s = ds.sample(i);
        assert_eq!((s[0], s[128 * 128], s[2 * 128 * 128]), (20.0, 21.0, 67.0));
        assert_eq!(s.iter().sum::<f32>(), 4_344_601.0);
    }

    let dir = image_folder("rgb16", &["tiff_16bit_RGB.tiff"]);
    let ds = read(&dir, &image_opts(100, 40)).unwrap();
    assert_eq!(
        (ds.shape.clone(), ds.max_value),
        (vec![3, 40, 100], 65535.0)
    );
    let red_max = ds.sample(0)[..4000].iter().fold(0f32, |a, &v| a.max(v));
    assert_eq!(red_max, 39661.0);
}

#[test]
fn a_real_multi_page_tiff_and_a_real_unsupported_one() {
    use lamina::data::image::read;
    let dir = image_folder("pages", &["multipage.tif"]);
    let mut o = image_opts(10, 15);
    let first = read(&dir, &o).unwrap();
    assert_eq!(first.sample(0).iter().sum::<f32>(), 19125.0);
    o.tiff_page = 2;
    let second = read(&dir, &o).unwrap();
    assert_eq!(second.sample(0)[0], 77.0);
    assert_eq!(second.sample(0).iter().sum::<f32>(), 19019.0);
    o.tiff_pages_as_channels = true;
    let both = read(&dir, &o).unwrap();
    assert_eq!(both.shape, [2, 15, 10]);
    assert_eq!(both.sample(0)[150], 77.0);

    // Pillow's packed 12-bit file and scikit-image's float64 RGB stack: sample
    // formats we do not read, named with what to do.
    let dir = image_folder("twelve", &["12bit.cropped.tif"]);
    let msg = read(&dir, &image_opts(10, 10)).unwrap_err().to_string();
    assert!(
        msg.contains("12bit.cropped.tif") && msg.contains("Gray(12)") && msg.contains("16-bit"),
        "{msg}"
    );
    let dir = image_folder("float", &["multipage_rgb.tif"]);
    let msg = read(&dir, &image_opts(10, 10)).unwrap_err().to_string();
    assert!(
        msg.contains("multipage_rgb.tif") && msg.contains("64-bit floating-point"),
        "{msg}"
    );
}

#[test]
fn real_fastq_and_soft_masked_fasta() {
    let ds = inspect(&data("fastq/example.fastq")).unwrap();
    assert_eq!(ds.len(), 3);
    assert_eq!(ds.ids[0], "EAS54_6_R1_2_1_413_324");
    assert_eq!(ds.lengths.as_ref().unwrap()[0], 25);
    let gz = inspect(&data("fastq/example.fastq.gz")).unwrap();
    assert_eq!((gz.ids.clone(), gz.sparse.clone()), (ds.ids, ds.sparse));

    // Biopython's tricky file wraps one record over two lines: not a four-line
    // FASTQ record, and the message says where and why.
    let msg = inspect(&data("fastq/tricky.fastq"))
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("tricky.fastq")
            && msg.contains("071113_EAS56_0053:1:3:990:501")
            && msg.contains("line 15")
            && msg.contains("four lines"),
        "{msg}"
    );

    let ds = inspect(&data("fasta/blat_dna.fa")).unwrap();
    assert_eq!(ds.ids, ["chr3:42530800-42532700", ds.ids[1].as_str()]);
    assert_eq!(ds.lengths, Some(vec![1900, 6300]));
    // Soft-masked (lowercase) bases are bases: every position has one letter.
    let len = ds.shape[1];
    let s = ds.sample(0);
    let hot = (0..1900)
        .filter(|&p| (0..4).any(|c| s[c * len + p] == 1.0))
        .count();
    assert_eq!(hot, 1900);

    let ds = inspect(&data("fasta/E3MFGYR02_random_10_reads.fasta")).unwrap();
    assert_eq!(
        ds.lengths,
        Some(vec![260, 265, 292, 295, 277, 256, 271, 150, 221, 130])
    );
}

#[test]
fn loading_reports_progress_up_to_the_whole_file() {
    use lamina::data::progress::{LoadProgress, with};
    use std::sync::Arc;
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for path in [
        root.join("sample-data/omics/counts.csv"),
        data("10x/v3"),
        data("fastq/example.fastq.gz"),
        root.join("sample-data/images/cells"),
    ] {
        let p = Arc::new(LoadProgress::default());
        let ds = with(p.clone(), || inspect(&path)).unwrap();
        assert!(!ds.is_empty());
        assert_eq!(
            p.fraction(),
            Some(1.0),
            "{}: {}",
            path.display(),
            p.describe()
        );
    }
}

/// An experiment file is read without being validated, so the readers check
/// what could otherwise exhaust memory: an image size past 4096 pixels (65536
/// × 65536 overflowed a 32-bit product) gets a message, not a crash.
#[test]
fn an_image_size_too_large_for_memory_is_refused_with_a_message() {
    use lamina::data::image::read;
    let dir = image_folder("huge", &["hopper.tif"]);
    for (w, h) in [(65536, 65536), (4097, 16)] {
        let e = read(&dir, &image_opts(w, h)).unwrap_err().to_string();
        assert!(
            e.contains(&format!("{w} × {h}")) && e.contains("4096"),
            "{e}"
        );
    }
    assert!(read(&dir, &image_opts(16, 16)).is_ok());
}
