//! The worker thread: runs one job on a rayon pool of its own, turns a panic
//! into an error event, and dispatches by task to the supervised, GAN or DQN loop.

use std::sync::mpsc::{self, Receiver, Sender};
use std::thread::JoinHandle;

use super::*;

/// A training run on its own thread.
pub struct Worker {
    commands: Sender<Command>,
    events: Receiver<Event>,
    handle: Option<JoinHandle<()>>,
}

impl Worker {
    pub fn spawn(job: Job) -> Worker {
        let (cmd_tx, cmd_rx) = mpsc::channel();
        let (ev_tx, ev_rx) = mpsc::channel();
        let handle = std::thread::Builder::new()
            .name("lamina-train".into())
            .spawn(move || {
                let tx = ev_tx.clone();
                let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    run_in_pool(job, ev_tx, cmd_rx)
                }));
                let event = match result {
                    Ok(Ok(outcome)) => Event::Finished(Box::new(outcome)),
                    Ok(Err(msg)) => Event::Failed(msg),
                    Err(panic) => Event::Failed(format!(
                        "internal error during training: {}",
                        panic_message(&panic)
                    )),
                };
                let _ = tx.send(event);
            })
            .expect("the OS can start a thread");
        Worker {
            commands: cmd_tx,
            events: ev_rx,
            handle: Some(handle),
        }
    }

    /// A run whose every event first passes `tap`, on a thread of its own
    /// (e.g. to record it); an event `tap` returns is passed on just before it.
    /// The events are tapped even when no one receives them any more.
    pub fn spawn_tapped(
        job: Job,
        mut tap: impl FnMut(&Event) -> Option<Event> + Send + 'static,
    ) -> Worker {
        let inner = Worker::spawn(job);
        let commands = inner.commands.clone();
        let (tx, events) = mpsc::channel();
        let handle = std::thread::Builder::new()
            .name("lamina-train-tap".into())
            .spawn(move || {
                while let Some(event) = inner.recv() {
                    let last = matches!(event, Event::Finished(_) | Event::Failed(_));
                    if let Some(extra) = tap(&event) {
                        let _ = tx.send(extra);
                    }
                    let _ = tx.send(event);
                    if last {
                        break;
                    }
                }
            })
            .expect("the OS can start a thread");
        Worker {
            commands,
            events,
            handle: Some(handle),
        }
    }

    pub fn send(&self, command: Command) {
        let _ = self.commands.send(command);
    }

    /// The next event without waiting.
    pub fn try_recv(&self) -> Option<Event> {
        self.events.try_recv().ok()
    }

    /// The next event, waiting for it; `None` once the worker has ended.
    pub fn recv(&self) -> Option<Event> {
        self.events.recv().ok()
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.commands.send(Command::Stop);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

pub(super) fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown".into()
    }
}

/// [`run`] on a thread of its own rayon pool, one thread per core (or `RAYON_NUM_THREADS`,
/// or the job's `threads`).
///
/// The CPU backend spreads its matrix products and our layers over rayon's threads. Called
/// from an ordinary thread, every such operation hands its work to the pool and waits, and
/// work the product does before splitting (packing an operand) runs on a third thread
/// competing with the pool's for the cores. Run from inside the pool, the training thread is
/// one of the workers: a dense autoencoder step went from 8.6 to 7.9 ms on two cores (means of
/// eight alternating runs).
pub fn run_in_pool(
    job: Job,
    events: Sender<Event>,
    commands: Receiver<Command>,
) -> Result<Outcome, String> {
    if job.yield_to_window {
        // Before the pool is built: its threads inherit this thread's priority.
        lower_priority();
    }
    match rayon::ThreadPoolBuilder::new()
        .thread_name(|i| format!("lamina-compute-{i}"))
        // 0: rayon's default.
        .num_threads(job.threads.unwrap_or(0))
        .build()
    {
        Ok(pool) => pool.install(move || run(job, &events, &commands)),
        // No threads to be had: the calling thread and the global pool still train.
        Err(_) => run(job, &events, &commands),
    }
}

/// Let a window draw first: on Linux the calling thread, and the threads it
/// starts afterwards, run at a lower priority (nice 10). Work that keeps every
/// core busy then takes only what the window leaves. Elsewhere, and where the
/// system refuses, nothing changes.
pub fn lower_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: plain system calls about this thread's own id; no memory is shared.
    unsafe {
        // On Linux each thread has its own nice value.
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, 10);
    }
}
