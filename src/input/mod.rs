//! The leaf checks of every input: what a problem is and where it was
//! found, YAML with positions, durations, names, confined paths and bounded
//! file reads.
//!
//! They depend on nothing else in the crate. The graph ([`crate::dag`])
//! is built on them alone; the assembler of a run's settings
//! ([`crate::config`]) sits above both, so the layers never loop.

pub mod duration;
pub mod input_file;
pub mod names;
pub mod paths;
pub mod problem;
pub mod yaml;
