//! The frame-time log: with `LAMINA_FRAME_LOG=FILE` the window appends one
//! tab-separated line per frame, `unix-seconds  frame-ms  app-ms  activity`:
//! frame-ms is what the UI thread spent on the whole frame (eframe's own
//! measure, layout, tessellation and painting included, which it reports one
//! frame late; our own time where it reports none), app-ms the part spent in
//! Lamina's code (every pass of the frame: egui may run the UI twice), and
//! the activity names the background jobs running then (`idle` when none).
//! `benches/frame_times.py` reads it back. Lines are buffered and written every second or so (a write
//! per frame would itself cost frame time); what is buffered is written when
//! the window closes.

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub struct FrameLog {
    path: PathBuf,
    buffer: String,
    last_flush: Instant,
    /// The frame being drawn: egui can run the UI more than once for one
    /// frame (a discarded pass), and its whole time is known a frame later.
    pending: Option<Pending>,
}

struct Pending {
    frame: u64,
    at: f64,
    own: Duration,
    activity: Vec<String>,
}

impl FrameLog {
    /// The log `LAMINA_FRAME_LOG` names, if it is set.
    pub fn from_env() -> Option<FrameLog> {
        let path = std::env::var_os("LAMINA_FRAME_LOG").filter(|p| !p.is_empty())?;
        Some(FrameLog::new(PathBuf::from(path)))
    }

    pub fn new(path: PathBuf) -> FrameLog {
        FrameLog {
            path,
            buffer: String::new(),
            last_flush: Instant::now(),
            pending: None,
        }
    }

    /// A pass of frame `frame` whose own code took `took` while `activity`
    /// ran; `previous_full` is the whole previous frame's time when the
    /// window reports it (then that is what is logged for it, else the time
    /// of its passes together).
    pub fn record(
        &mut self,
        frame: u64,
        took: Duration,
        activity: &[&str],
        previous_full: Option<Duration>,
    ) {
        if let Some(p) = &mut self.pending
            && p.frame == frame
        {
            p.own += took;
            for a in activity {
                if !p.activity.iter().any(|b| b == a) {
                    p.activity.push(a.to_string());
                }
            }
            return;
        }
        if let Some(p) = self.pending.take() {
            self.line(&p, previous_full);
        }
        let at = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64();
        self.pending = Some(Pending {
            frame,
            at,
            own: took,
            activity: activity.iter().map(|a| a.to_string()).collect(),
        });
        if self.last_flush.elapsed() > Duration::from_secs(1) {
            self.flush();
        }
    }

    fn line(&mut self, p: &Pending, full: Option<Duration>) {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let activity = if p.activity.is_empty() {
            "idle".to_string()
        } else {
            p.activity.join("+")
        };
        let frame = full.unwrap_or(p.own).max(p.own);
        self.buffer.push_str(&format!(
            "{:.3}\t{:.3}\t{:.3}\t{activity}\n",
            p.at,
            ms(frame),
            ms(p.own)
        ));
    }

    /// Append what is buffered; a log that cannot be written is given up
    /// quietly (it is a measurement aid, not the user's data).
    pub fn flush(&mut self) {
        self.last_flush = Instant::now();
        if self.buffer.is_empty() {
            return;
        }
        let written = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .and_then(|mut f| f.write_all(self.buffer.as_bytes()));
        if written.is_ok() {
            self.buffer.clear();
        }
    }
}

impl Drop for FrameLog {
    fn drop(&mut self) {
        if let Some(p) = self.pending.take() {
            self.line(&p, None);
        }
        self.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_appended_with_their_activity() {
        let path = std::env::temp_dir().join(format!("lamina-frame-log-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        {
            let mut log = FrameLog::new(path.clone());
            log.record(1, Duration::from_micros(2500), &[], None);
            log.record(2, Duration::from_millis(12), &["loading", "training"], None);
            // Frame 3 runs its UI twice; the window's measure of it arrives
            // with frame 4 and replaces the sum of its passes.
            log.record(3, Duration::from_millis(1), &["exporting"], None);
            log.record(3, Duration::from_millis(2), &["exporting", "saving"], None);
            log.record(
                4,
                Duration::from_millis(1),
                &[],
                Some(Duration::from_millis(30)),
            );
        }
        let text = std::fs::read_to_string(&path).expect("the log is written on drop");
        let lines: Vec<Vec<&str>> = text.lines().map(|l| l.split('\t').collect()).collect();
        assert_eq!(lines.len(), 4);
        assert_eq!(lines[0][1..], ["2.500", "2.500", "idle"]);
        assert_eq!(lines[1][1..], ["12.000", "12.000", "loading+training"]);
        assert_eq!(lines[2][1..], ["30.000", "3.000", "exporting+saving"]);
        assert_eq!(lines[3][1..], ["1.000", "1.000", "idle"]);
        let _ = std::fs::remove_file(&path);
    }
}
