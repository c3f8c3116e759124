//! Facts about the build for the reproducibility record of every run
//! (`src/provenance.rs`): the git commit when built from a checkout (with
//! `+changes` when tracked files differ from it), and the version of burn
//! the build resolved, read from Cargo.lock rather than written by hand.

use std::path::Path;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=Cargo.lock");
    // Only paths that exist: a missing one would rerun this on every build.
    let mut watched = vec![".git/HEAD".to_string(), ".git/index".to_string()];
    // A commit moves the branch HEAD names, not HEAD itself.
    if let Some(branch) = std::fs::read_to_string(".git/HEAD")
        .ok()
        .and_then(|h| h.trim().strip_prefix("ref: ").map(String::from))
    {
        watched.push(format!(".git/{branch}"));
    }
    for git in &watched {
        if Path::new(git).exists() {
            println!("cargo:rerun-if-changed={git}");
        }
    }
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let commit = git(&["rev-parse", "HEAD"]).filter(|c| !c.is_empty());
    if let Some(commit) = commit {
        let changed =
            git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
        let suffix = if changed { "+changes" } else { "" };
        println!("cargo:rustc-env=LAMINA_GIT_COMMIT={commit}{suffix}");
    }
    let lock = std::fs::read_to_string("Cargo.lock").unwrap_or_default();
    let mut lines = lock.lines();
    let mut burn = "unknown".to_string();
    while let Some(line) = lines.next() {
        if line.trim() == "name = \"burn\"" {
            if let Some(v) = lines
                .next()
                .and_then(|l| l.trim().strip_prefix("version = "))
            {
                burn = v.trim_matches('"').to_string();
            }
            break;
        }
    }
    println!("cargo:rustc-env=LAMINA_BURN_VERSION={burn}");
}
