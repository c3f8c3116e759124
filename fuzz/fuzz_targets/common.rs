//! What every target shares: a scratch folder of its own (in memory where
//! the system has /dev/shm), and reading a path both ways Lamina reads data:
//! strictly, as training does, and as the preview (`lamina inspect`, the data
//! panel) does. Either may refuse the input; neither may panic or hang.

use std::path::{Path, PathBuf};

use lamina::data::{inspect, load};
use lamina::spec::DataSpec;

/// This process's scratch folder, emptied of what the last input left.
pub fn scratch() -> PathBuf {
    let base = if Path::new("/dev/shm").is_dir() {
        PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    let dir = base.join(format!("lamina-fuzz-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("the scratch folder can be made");
    dir
}

/// Write `bytes` to `dir/name`, making the folders on the way.
pub fn put(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).expect("the scratch folder is writable");
    }
    std::fs::write(&p, bytes).expect("the scratch folder is writable");
    p
}

/// Read `path` strictly and as the preview does; the results are dropped.
/// A refusal must say something.
pub fn read_both_ways(path: &Path) {
    let spec = DataSpec {
        path: path.to_path_buf(),
        ..DataSpec::default()
    };
    if let Err(e) = load(&spec, Path::new("")) {
        assert!(!e.to_string().trim().is_empty(), "an empty message");
    }
    if let Err(e) = inspect(path) {
        assert!(!e.to_string().trim().is_empty(), "an empty message");
    }
}
