//! What a run was made from and on, kept in its `summary.json` so that a
//! result can be traced and repeated: the seed, the SHA-256 of every input
//! file (a folder of images as one digest over its files), the Lamina
//! version and git commit, burn's version (both from the build, see
//! `build.rs`), the operating system, the CPU, and the device and GPU
//! driver the run used. The run folder's writer (`export::run`) gathers it
//! when a run starts, on its own thread; nothing here trains or draws.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::spec::{Experiment, LabelSource};
use crate::train::StartInfo;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reproducibility {
    pub seed: u64,
    pub inputs: Vec<InputFile>,
    pub lamina_version: String,
    /// When built from a git checkout; `+changes` when its tracked files had changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_commit: Option<String>,
    pub burn_version: String,
    /// e.g. "linux x86_64, Ubuntu 24.04.1 LTS".
    pub os: String,
    /// e.g. "AMD EPYC 7B13, 2 threads".
    pub cpu: String,
    pub device: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu_driver: Option<String>,
}

/// One input of the experiment and its digest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputFile {
    /// What it is: "data", "labels", "joined table 1".
    pub role: String,
    /// As the experiment names it.
    pub path: PathBuf,
    /// Files under it (1 for a file).
    pub files: usize,
    pub bytes: u64,
    /// Of the file; of a folder, the digest of "relative path NUL file digest
    /// LF" over its files in sorted order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Why it could not be read, when it could not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The record of a run of `exp` (data paths relative to `base`) that started as `start` says.
pub fn record(exp: &Experiment, base: &Path, start: &StartInfo) -> Reproducibility {
    Reproducibility {
        seed: exp.training.seed,
        inputs: inputs(exp, base),
        lamina_version: env!("CARGO_PKG_VERSION").to_string(),
        git_commit: option_env!("LAMINA_GIT_COMMIT").map(String::from),
        burn_version: env!("LAMINA_BURN_VERSION").to_string(),
        os: os(),
        cpu: cpu(),
        device: start.device.clone(),
        gpu_driver: start.driver.clone(),
    }
}

/// The experiment's input files, each hashed.
pub fn inputs(exp: &Experiment, base: &Path) -> Vec<InputFile> {
    let mut named: Vec<(String, PathBuf)> = Vec::new();
    if !exp.data.path.as_os_str().is_empty() {
        named.push(("data".into(), exp.data.path.clone()));
    }
    if let LabelSource::Metadata { path, .. } = &exp.data.labels {
        named.push(("labels".into(), path.clone()));
    }
    for (i, j) in exp.data.joined.iter().enumerate() {
        named.push((format!("joined table {}", i + 1), j.path.clone()));
    }
    named
        .into_iter()
        .map(|(role, path)| {
            let whole = crate::spec::resolve(base, &path);
            match digest(&whole) {
                Ok((files, bytes, sha)) => InputFile {
                    role,
                    path,
                    files,
                    bytes,
                    sha256: Some(sha),
                    error: None,
                },
                Err(e) => InputFile {
                    role,
                    path,
                    files: 0,
                    bytes: 0,
                    sha256: None,
                    error: Some(format!("{}: {e}", whole.display())),
                },
            }
        })
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn file_digest(path: &Path) -> std::io::Result<(u64, String)> {
    let mut f = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        total += n as u64;
        hasher.update(&buf[..n]);
    }
    Ok((total, hex(&hasher.finalize())))
}

/// `(files, bytes, sha256)` of a file or a folder.
fn digest(path: &Path) -> std::io::Result<(usize, u64, String)> {
    if !path.is_dir() {
        let (bytes, sha) = file_digest(path)?;
        return Ok((1, bytes, sha));
    }
    let mut files = Vec::new();
    let mut stack = vec![path.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let p = entry?.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                files.push(p);
            }
        }
    }
    let mut rel: Vec<(String, PathBuf)> = files
        .into_iter()
        .map(|p| {
            let r = p
                .strip_prefix(path)
                .unwrap_or(&p)
                .to_string_lossy()
                .replace('\\', "/");
            (r, p)
        })
        .collect();
    rel.sort();
    let mut hasher = Sha256::new();
    let mut bytes = 0;
    for (r, p) in &rel {
        let (n, sha) = file_digest(p)?;
        bytes += n;
        hasher.update(r.as_bytes());
        hasher.update([0]);
        hasher.update(sha.as_bytes());
        hasher.update(b"\n");
    }
    Ok((rel.len(), bytes, hex(&hasher.finalize())))
}

fn os() -> String {
    let release = std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                .map(|v| v.trim_matches('"').to_string())
        });
    let base = format!("{} {}", std::env::consts::OS, std::env::consts::ARCH);
    match release {
        Some(r) => format!("{base}, {r}"),
        None => base,
    }
}

fn cpu() -> String {
    let model = std::fs::read_to_string("/proc/cpuinfo").ok().and_then(|t| {
        t.lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
    });
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    format!(
        "{}, {threads} threads",
        model.unwrap_or_else(|| "unknown model".into())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_and_folders_are_hashed_and_a_missing_one_says_so() {
        let dir = std::env::temp_dir().join(format!("lamina-prov-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("imgs/a")).unwrap();
        std::fs::write(dir.join("x.csv"), b"abc").unwrap();
        std::fs::write(dir.join("imgs/a/1.png"), b"one").unwrap();
        std::fs::write(dir.join("imgs/2.png"), b"two").unwrap();
        // SHA-256("abc"), the standard test vector.
        let (files, bytes, sha) = digest(&dir.join("x.csv")).unwrap();
        assert_eq!((files, bytes), (1, 3));
        assert_eq!(
            sha,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let (files, bytes, folder) = digest(&dir.join("imgs")).unwrap();
        assert_eq!((files, bytes), (2, 6));
        std::fs::write(dir.join("imgs/2.png"), b"TWO").unwrap();
        assert_ne!(
            digest(&dir.join("imgs")).unwrap().2,
            folder,
            "a changed file changes the digest"
        );
        let mut exp = Experiment::default();
        exp.data.path = "missing.csv".into();
        let found = inputs(&exp, &dir);
        assert_eq!(found.len(), 1);
        assert!(found[0].sha256.is_none());
        assert!(found[0].error.as_ref().unwrap().contains("missing.csv"));
        let _ = std::fs::remove_dir_all(dir);
    }
}
