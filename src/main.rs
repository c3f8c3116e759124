//! `lamina`: the command-line entry point. Errors are printed as one message and
//! exit with code 1; an internal error is reported as such, never as a raw panic.

use std::process::ExitCode;

use clap::Parser;

/// Training allocates and frees large tensors every step; mimalloc keeps that
/// memory for reuse where the system allocator hands it back to the OS and
/// page-faults it in again (a fifth of the time of a CNN step on the CPU).
/// Built without its transparent huge pages (`no_thp`): the kernel zeroed a
/// whole 2 MB page at each first touch, three quarters of the time of reading
/// a FASTA file, and training was no faster with them (benches/RESULTS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    std::panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown".into());
        let place = info
            .location()
            .map(|l| format!(" ({}:{})", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!(
            "Lamina hit an internal error{place}: {msg}. Please report it with the experiment file."
        );
    }));
    // burn's GPU backend times candidate kernels for every new tensor shape
    // before using one. At cubecl's default effort this took over 50 s of a
    // 5-epoch job on an H200 (benches/RESULTS.md); "minimal" keeps the first
    // epoch shorter. The results are kept on disk (the gpu-persistence
    // feature): a later run of the same network skips the tuning. A value the
    // user sets is kept.
    if std::env::var_os("CUBECL_AUTOTUNE_LEVEL").is_none() {
        // SAFETY: no other thread exists yet.
        unsafe { std::env::set_var("CUBECL_AUTOTUNE_LEVEL", "minimal") };
    }
    let cli = lamina::cli::Cli::parse();
    match lamina::cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", one_message(&e));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes in one line, each cause once: most of our errors
/// already name their cause, which anyhow's chain would repeat.
fn one_message(e: &anyhow::Error) -> String {
    let mut msg = e.to_string();
    for cause in e.chain().skip(1) {
        let c = cause.to_string();
        if !msg.contains(&c) {
            msg.push_str(": ");
            msg.push_str(&c);
        }
    }
    msg
}
