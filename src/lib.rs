//! Lamina: a deep-learning workbench for life-science researchers.
//!
//! The experiment file (`spec`) is the single source of truth; `data` reads
//! researchers' files; `model` turns the spec into a burn network; `train` runs it
//! on a worker thread; `export` saves and loads trained models, run folders and
//! sweeps; `explain` finds what a trained model learned (attributions,
//! mutagenesis, motifs); `provenance` records what a run was made from and on; `cli` is the
//! headless front end. See DESIGN.md in the shared folder for the whole picture.

pub mod analysis;
pub mod bench;
pub mod cli;
pub mod data;
pub mod explain;
pub mod export;
pub mod model;
pub mod project;
pub mod provenance;
pub mod rl;
pub mod spec;
pub mod train;
pub mod ui;
