//! How far the reading of a data set (or any background job of the window)
//! has got, and whether it was cancelled. The thread that works sets a shared
//! [`LoadProgress`]; readers report the bytes (or images) they have read
//! through it without taking a parameter, and stop with an error at their
//! next read once it is cancelled.

use std::cell::RefCell;
use std::io::Read;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Shared between the loading thread and whoever shows progress.
#[derive(Debug, Default)]
pub struct LoadProgress {
    done: AtomicU64,
    total: AtomicU64,
    /// What is being read, e.g. "counts.csv" or "images".
    what: Mutex<(String, Unit)>,
    cancelled: AtomicBool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Unit {
    #[default]
    Bytes,
    Images,
}

impl LoadProgress {
    /// Ask the work to stop: readers fail at their next read.
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Relaxed);
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed)
    }

    /// The share done (0..1), or `None` while the size is unknown.
    pub fn fraction(&self) -> Option<f32> {
        let total = self.total.load(Ordering::Relaxed);
        (total > 0)
            .then(|| (self.done.load(Ordering::Relaxed) as f64 / total as f64).min(1.0) as f32)
    }

    /// "Reading counts.csv: 45 of 200 MB" and the like.
    pub fn describe(&self) -> String {
        let (what, unit) = self.what.lock().map(|w| w.clone()).unwrap_or_default();
        let (done, total) = (
            self.done.load(Ordering::Relaxed),
            self.total.load(Ordering::Relaxed),
        );
        if what.is_empty() {
            return "Reading…".into();
        }
        match (unit, total) {
            (_, 0) => format!("Reading {what}…"),
            (Unit::Bytes, _) => format!(
                "Reading {what}: {:.0} of {:.0} MB",
                done as f64 / 1e6,
                total as f64 / 1e6
            ),
            (Unit::Images, _) => format!("Reading {what}: {done} of {total}"),
        }
    }
}

thread_local! {
    static CURRENT: RefCell<Option<Arc<LoadProgress>>> = const { RefCell::new(None) };
}

/// Run `f` with `progress` receiving the reports of the readers it calls.
pub fn with<T>(progress: Arc<LoadProgress>, f: impl FnOnce() -> T) -> T {
    CURRENT.with(|c| *c.borrow_mut() = Some(progress));
    let out = f();
    CURRENT.with(|c| *c.borrow_mut() = None);
    out
}

/// The progress of this thread's load, if one is watched.
pub fn current() -> Option<Arc<LoadProgress>> {
    CURRENT.with(|c| c.borrow().clone())
}

/// Whether this thread's watched work was cancelled (false when unwatched).
pub fn cancelled() -> bool {
    current().is_some_and(|p| p.is_cancelled())
}

/// The error a reader stops with once its work is cancelled.
pub const CANCELLED: &str = "cancelled";

/// A new stage: `what` is read, `total` units of `unit` (0 = unknown).
pub fn start(what: &str, unit: Unit, total: u64) {
    if let Some(p) = current() {
        if let Ok(mut w) = p.what.lock() {
            *w = (what.to_string(), unit);
        }
        p.done.store(0, Ordering::Relaxed);
        p.total.store(total, Ordering::Relaxed);
    }
}

/// `n` more units done, on `progress` (from any thread).
pub fn advance(progress: &Option<Arc<LoadProgress>>, n: u64) {
    if let Some(p) = progress {
        p.done.fetch_add(n, Ordering::Relaxed);
    }
}

/// A reader that reports the bytes read from `inner` (the file, before any
/// decompression, so that the total is the file's size).
pub struct Counting<R> {
    inner: R,
    progress: Option<Arc<LoadProgress>>,
}

impl<R: Read> Counting<R> {
    /// Count the reads of `file` (named `what`, `size` bytes) as a new stage.
    pub fn file(inner: R, what: &std::path::Path, size: u64) -> Counting<R> {
        let name = what
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        start(&name, Unit::Bytes, size);
        Counting {
            inner,
            progress: current(),
        }
    }
}

/// Open the file at `path` with its reads counted as a new stage; also its size.
pub fn open(path: &std::path::Path) -> Result<(Counting<std::fs::File>, u64), super::DataError> {
    let file = std::fs::File::open(path).map_err(super::DataError::io(path))?;
    let meta = file.metadata().map_err(super::DataError::io(path))?;
    if meta.is_dir() {
        return Err(super::DataError::folder_not_file(path));
    }
    let size = meta.len();
    Ok((Counting::file(file, path, size), size))
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.progress.as_ref().is_some_and(|p| p.is_cancelled()) {
            return Err(std::io::Error::other(CANCELLED));
        }
        let n = self.inner.read(buf)?;
        advance(&self.progress, n as u64);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_counted_against_the_file_size() {
        let p = Arc::new(LoadProgress::default());
        let text = vec![b'x'; 3_000_000];
        let fraction = with(p.clone(), || {
            let mut r = Counting::file(text.as_slice(), std::path::Path::new("a.csv"), 6_000_000);
            let mut buf = vec![0; 3_000_000];
            r.read_exact(&mut buf).unwrap();
            p.fraction()
        });
        assert_eq!(fraction, Some(0.5));
        assert_eq!(p.describe(), "Reading a.csv: 3 of 6 MB");
        // Outside `with`, nothing is reported and nothing fails.
        start("b", Unit::Images, 10);
        assert!(current().is_none());
    }

    #[test]
    fn a_cancelled_read_stops_with_an_error() {
        let p = Arc::new(LoadProgress::default());
        let text = vec![b'x'; 1000];
        let result = with(p.clone(), || {
            let mut r = Counting::file(text.as_slice(), std::path::Path::new("a.csv"), 1000);
            let mut buf = [0; 10];
            r.read_exact(&mut buf).expect("reads before the cancel");
            p.cancel();
            assert!(cancelled());
            r.read_exact(&mut buf)
        });
        assert_eq!(result.unwrap_err().to_string(), CANCELLED);
    }
}
