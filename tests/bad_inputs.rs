//! The bad-input corpus: every broken, tricky or surprising input found so
//! far (most by trying Lamina as a hostile tester would), each with what
//! Lamina must do with it. A file is either refused, with a message that names
//! it and says what is wrong, or read, with a note saying what is surprising
//! about it; nothing is misread silently and nothing panics. Each case is
//! read twice: strictly, as training reads it, and as the preview
//! (`lamina inspect`, the data panel) reads it.
//!
//! Add a case here for every new bug found in a reader. The AnnData files are
//! written by `tests/data/bad/make_h5ad.py` with anndata itself.

use std::path::{Path, PathBuf};
use std::process::Command;

use lamina::data::{Dataset, inspect, load};
use lamina::spec::DataSpec;

/// What a case holds: text, bytes, a committed file, or a folder of files.
enum Input {
    Text(&'static str),
    Bytes(Vec<u8>),
    Fixture(&'static str),
    Folder(Vec<(&'static str, Vec<u8>)>),
}

/// What must happen when it is read.
enum Expect {
    /// Training refuses it; the preview either refuses it or notes why training will.
    Refused(&'static [&'static str]),
    /// Read, with a note saying each of these.
    Noted(&'static [&'static str]),
}

struct Case {
    name: &'static str,
    input: Input,
    expect: Expect,
}

fn scratch() -> PathBuf {
    let d = std::env::temp_dir().join(format!("lamina-bad-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn place(case: &Case) -> PathBuf {
    let root = scratch();
    match &case.input {
        Input::Fixture(rel) => PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/bad")
            .join(rel),
        Input::Text(t) => {
            let p = root.join(case.name);
            std::fs::write(&p, t).unwrap();
            p
        }
        Input::Bytes(b) => {
            let p = root.join(case.name);
            std::fs::write(&p, b).unwrap();
            p
        }
        Input::Folder(files) => {
            let dir = root.join(case.name);
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            for (rel, bytes) in files {
                let p = dir.join(rel);
                std::fs::create_dir_all(p.parent().unwrap()).unwrap();
                std::fs::write(p, bytes).unwrap();
            }
            dir
        }
    }
}

/// Read as training reads it: every setting on automatic, nothing lenient.
fn strict(path: &Path) -> Result<Dataset, String> {
    let spec = DataSpec {
        path: path.to_path_buf(),
        ..DataSpec::default()
    };
    load(&spec, Path::new("")).map_err(|e| e.to_string())
}

fn says_all(text: &str, parts: &[&str]) -> bool {
    parts.iter().all(|p| text.contains(p))
}

/// A PNG whose header claims `w × h` pixels of RGB, with a valid checksum.
fn png_claiming(w: u32, h: u32) -> Vec<u8> {
    let chunk = |kind: &[u8], data: &[u8]| {
        let mut crc = flate2::Crc::new();
        crc.update(kind);
        crc.update(data);
        let mut c = (data.len() as u32).to_be_bytes().to_vec();
        c.extend_from_slice(kind);
        c.extend_from_slice(data);
        c.extend_from_slice(&crc.sum().to_be_bytes());
        c
    };
    let mut ihdr = w.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend(chunk(b"IHDR", &ihdr));
    png.extend(chunk(
        b"IDAT",
        &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01],
    ));
    png.extend(chunk(b"IEND", &[]));
    png
}

fn corpus() -> Vec<Case> {
    use Expect::*;
    use Input::*;
    let mut junk: Vec<u8> = (0..2048u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    junk[0] = 0xd5;
    vec![
        // Tables.
        Case {
            name: "random-bytes.csv",
            input: Bytes(junk.clone()),
            expect: Refused(&["random-bytes.csv", "not a text table", "binary"]),
        },
        Case {
            name: "workbook.csv",
            input: Bytes(b"PK\x03\x04\x14\x00\x06\x00rest of an xlsx".to_vec()),
            expect: Refused(&["workbook.csv", "zip archive", "xlsx"]),
        },
        Case {
            name: "unterminated-quote.csv",
            input: Text("id,a,b\nx,1,2\ny,\"3,4\nz,5,6\nw,7,8\n"),
            expect: Refused(&["line 3 of", "unterminated-quote.csv", "quote", "not closed"]),
        },
        Case {
            name: "semicolons.csv",
            input: Text("id;a;b\nx;1,5;2\ny;3;4,25\n"),
            expect: Noted(&["separated by ';'", "decimal comma"]),
        },
        Case {
            name: "missing-cells.csv",
            input: Text("id,a,b\nx,,2\ny,1,NaN\nz,1,2\n"),
            expect: Refused(&[
                "missing-cells.csv",
                "2 of 6 values are missing",
                "line 2, column 'a'",
            ]),
        },
        Case {
            name: "duplicate-columns.csv",
            input: Text("id,a,b,a\nx,1,2,3\n"),
            expect: Refused(&["columns 2 and 4", "both called 'a'"]),
        },
        Case {
            name: "no-header.csv",
            input: Text("c1,0.5,1,2\nc2,3,4,5\nc3,6,7,8\n"),
            expect: Noted(&["all its column names are numbers"]),
        },
        // Sequences.
        Case {
            name: "binary.fasta",
            input: Bytes(junk),
            expect: Refused(&["binary.fasta", "begins with byte 0xD5", "'>'"]),
        },
        Case {
            name: "bad-byte.fasta",
            input: Bytes(b">a\nACGT\n>b\nAC\xd5GT\n".to_vec()),
            expect: Refused(&["record 2 ('b')", "byte 0xD5", "position 3"]),
        },
        Case {
            name: "empty-last-record.fasta",
            input: Text(">a\nACGTACGT\n>b\nACGTAC\n>c\n"),
            expect: Refused(&["record 3 (the last)", "no sequence", "line 5"]),
        },
        Case {
            name: "iupac.fasta",
            input: Text(">a\nACGTRYACGTKMACGT\n>b\nACGTSWACGTACGTAC\n"),
            expect: Noted(&["6 letters", "ambiguity codes", "unknown"]),
        },
        Case {
            name: "dna-then-protein.fasta",
            input: Text(">gene1\nACGTACGTACGTAC\n>kinase\nMKLVWWPRSTEEQ\n"),
            expect: Refused(&["mixes", "('gene1')", "('kinase')"]),
        },
        Case {
            name: "protein-then-dna.fasta",
            input: Text(">kinase\nMKLVWWPRSTEEQ\n>gene1\nACGTACGTACGTAC\n"),
            expect: Refused(&["mixes", "('gene1')", "('kinase')"]),
        },
        Case {
            name: "dna-and-rna.fasta",
            input: Text(">d\nACGTACGTACGT\n>r\nACGUACGUACGU\n"),
            expect: Noted(&["both T (DNA) and U (RNA)", "U read as T"]),
        },
        // AnnData.
        Case {
            name: "zero cells",
            input: Fixture("h5ad_zero_cells.h5ad"),
            expect: Refused(&[
                "h5ad_zero_cells.h5ad",
                "0 cells × 5 genes",
                "nothing to train on",
            ]),
        },
        Case {
            // Found by fuzzing (fuzz/run.sh, target h5ad): a header that claims
            // 17 GB of values asked for them before reading a byte.
            name: "a header claiming more values than the file holds",
            input: Fixture("h5ad_huge_claim.h5ad"),
            expect: Refused(&["h5ad_huge_claim.h5ad", "X/data claims", "damaged"]),
        },
        Case {
            name: "NaN in a dense X",
            input: Fixture("h5ad_nan_dense.h5ad"),
            expect: Refused(&[
                "1 value that is NaN or infinite",
                "cell 'cell2'",
                "gene 'gene3'",
            ]),
        },
        Case {
            name: "NaN and infinity in a sparse X",
            input: Fixture("h5ad_nan_sparse.h5ad"),
            expect: Refused(&[
                "2 values that are NaN or infinite",
                "cell 'cell1'",
                "gene 'gene4'",
            ]),
        },
        Case {
            name: "text in X",
            input: Fixture("h5ad_string_x.h5ad"),
            expect: Refused(&["h5ad_string_x.h5ad", "X holds text, not numbers"]),
        },
        // Folders.
        Case {
            name: "empty-folder",
            input: Folder(Vec::new()),
            expect: Refused(&[
                "empty-folder is an empty folder",
                "one subfolder of images per class",
            ]),
        },
        Case {
            name: "folder-of-tables",
            input: Folder(vec![("counts.csv", b"id,a\nx,1\n".to_vec())]),
            expect: Refused(&[
                "folder of data files (counts.csv)",
                "choose the file itself",
            ]),
        },
        Case {
            name: "huge-png",
            input: Folder(vec![
                ("round/huge.png", png_claiming(60000, 60000)),
                ("flat/huge2.png", png_claiming(60000, 60000)),
            ]),
            expect: Refused(&["huge-png/", "60000 × 60000 pixels", "3600 megapixels"]),
        },
    ]
}

#[test]
fn every_case_of_the_corpus_is_refused_with_its_place_or_read_with_a_note() {
    let mut failures = Vec::new();
    for case in corpus() {
        let path = place(&case);
        // A panic is a failure of its own, not the end of the corpus.
        let read = |f: fn(&Path) -> Result<Dataset, String>| {
            std::panic::catch_unwind(|| f(&path)).unwrap_or_else(|_| Err("PANIC".into()))
        };
        let strict = read(strict);
        let preview = read(|p| inspect(p).map_err(|e| e.to_string()));
        let ok = match &case.expect {
            Expect::Refused(parts) => {
                let refused = matches!(&strict, Err(e) if says_all(e, parts));
                let previewed = match &preview {
                    Err(e) => says_all(e, parts),
                    Ok(ds) => parts[1..].iter().all(|p| ds.notes.join("\n").contains(p)),
                };
                refused && previewed
            }
            Expect::Noted(parts) => [&strict, &preview]
                .iter()
                .all(|r| matches!(r, Ok(ds) if says_all(&ds.notes.join("\n"), parts))),
        };
        if !ok {
            let show = |r: &Result<Dataset, String>| match r {
                Ok(ds) => format!("read, notes {:?}", ds.notes),
                Err(e) => format!("refused: {e}"),
            };
            failures.push(format!(
                "{}:\n  strict:  {}\n  preview: {}",
                case.name,
                show(&strict),
                show(&preview)
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// What is read must be read right, not only noted.
#[test]
fn surprising_files_are_read_to_the_right_numbers() {
    let dir = scratch();
    let p = dir.join("decimal-commas.csv");
    std::fs::write(&p, "id;a;b\nx;1,5;2\ny;3;4,25\n").unwrap();
    let ds = strict(&p).unwrap();
    assert_eq!(ds.feature_names, ["a", "b"]);
    assert_eq!(ds.dense_values().to_vec(), [1.5, 2.0, 3.0, 4.25]);
    let p = dir.join("iupac-read.fasta");
    std::fs::write(&p, ">a\nARGT\n").unwrap();
    let ds = strict(&p).unwrap();
    assert_eq!(ds.feature_names.join(""), "ACGT");
    let row = ds.sample(0);
    let column = |pos: usize| (0..4).map(|l| row[l * 4 + pos]).collect::<Vec<f32>>();
    assert_eq!(column(0), [1.0, 0.0, 0.0, 0.0]);
    assert_eq!(column(1), [0.0, 0.0, 0.0, 0.0], "R is unknown");
}

fn lamina(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_lamina"))
        .args(args)
        .output()
        .expect("the lamina binary runs")
}

fn text(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Experiment files that are not experiments, or whose settings are wrong:
/// each named, with the place and the fix.
#[test]
fn broken_experiment_files_are_named_with_what_is_wrong() {
    let dir = scratch().join("experiments");
    std::fs::create_dir_all(&dir).unwrap();
    let write = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let list = write("list.json", "[1, 2, 3]");
    let e = lamina::spec::Experiment::load(&list)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("list.json") && e.contains("holds a list") && e.contains("JSON object"),
        "{e}"
    );
    // Made by `lamina new`, then broken by hand.
    let exp = dir.join("exp.json");
    let fasta = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-data/dna/promoters.fasta");
    let o = lamina(&[
        "new",
        &exp.to_string_lossy(),
        "--template",
        "dna_cnn",
        "--data",
        &fasta.to_string_lossy(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let good: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&exp).unwrap()).unwrap();
    let edited = |name: &str, edit: &dyn Fn(&mut serde_json::Value)| {
        let mut v = good.clone();
        edit(&mut v);
        write(name, &serde_json::to_string_pretty(&v).unwrap())
    };
    let train = |p: &Path| {
        let out = dir.join(format!("run-{}", p.file_stem().unwrap().to_string_lossy()));
        lamina(&[
            "train",
            &p.to_string_lossy(),
            "--out",
            &out.to_string_lossy(),
        ])
    };
    let zero = edited("zero-epochs.json", &|v| v["training"]["epochs"] = 0.into());
    let o = train(&zero);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("zero-epochs.json") && text(&o).contains("epochs must be at least 1"),
        "{}",
        text(&o)
    );
    let empty = edited("no-layers.json", &|v| {
        for stack in v["architecture"]["stacks"].as_array_mut().unwrap() {
            stack["layers"] = serde_json::json!([]);
        }
    });
    let o = train(&empty);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("no-layers.json") && text(&o).contains("has no layers"),
        "{}",
        text(&o)
    );
    for o in [train(&zero), train(&empty)] {
        assert!(!text(&o).contains("panicked"), "{}", text(&o));
    }
}

/// A saved model whose model.json was edited: named, not a dump of burn's error.
#[test]
fn a_model_whose_description_was_edited_is_refused_in_plain_words() {
    let dir = scratch().join("edited-model");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let exp = dir.join("exp.json");
    let fasta = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-data/dna/promoters.fasta");
    let fasta = fasta.to_string_lossy().into_owned();
    let o = lamina(&[
        "new",
        &exp.to_string_lossy(),
        "--template",
        "dna_cnn",
        "--data",
        &fasta,
        "--set",
        "training.epochs=1",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let run = dir.join("run");
    let o = lamina(&[
        "train",
        &exp.to_string_lossy(),
        "--out",
        &run.to_string_lossy(),
        "--device",
        "cpu",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    // Clean output on success: nothing from the system's graphics libraries.
    assert!(!text(&o).contains("XDG_RUNTIME_DIR"), "{}", text(&o));
    let meta_path = run.join("model/model.json");
    let mut meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&meta_path).unwrap()).unwrap();
    // Four letters become five: the first convolution's weights no longer fit.
    let shape = meta["input_shape"].as_array_mut().unwrap();
    shape[0] = 5.into();
    std::fs::write(&meta_path, serde_json::to_string(&meta).unwrap()).unwrap();
    let out = dir.join("p.csv");
    let o = lamina(&[
        "predict",
        &run.join("model").to_string_lossy(),
        &fasta,
        "--out",
        &out.to_string_lossy(),
    ]);
    assert!(!o.status.success());
    let t = text(&o);
    assert!(
        t.contains("does not fit the network")
            && t.contains("is stored as")
            && t.contains("edited")
            && !t.contains("ShapeMismatch")
            && !t.contains("panicked"),
        "{t}"
    );
    assert!(!out.exists());
}
