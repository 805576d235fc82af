//! Inputs → a validated [`Request`], or every problem with them.
//!
//! This is the "hi-args" layer: [`crate::cli`] holds what the operator typed
//! (the [`Values`] of the variables in the table [`inputs`]); this module
//! checks all of it (environment variables, flags, mounted files, the
//! kubeconfig, the graph) before anything touches the cluster, and collects
//! every problem instead of stopping at the first.
//!
//! It sits above [`crate::dag`] and, like it, on the leaf checks of
//! [`crate::input`] (problems, YAML positions, durations, names). Inside,
//! bottom up: the table of variables and its reader ([`variable`],
//! [`inputs`]); the files (`environment.yaml`, the kubeconfig, secrets,
//! criteria); the assemblers of the [`OutputSettings`] ([`output`]) and of
//! the [`Request`] ([`request`]).

pub mod alerting;
pub mod criteria;
pub mod environment;
pub mod inputs;
pub mod kubeconfig;
pub mod output;
pub mod request;
pub mod secrets;
pub mod settings;
pub mod variable;

pub use crate::dag::Action;
pub use crate::input::problem::{Problem, Problems, Source};
pub use environment::EnvironmentConfig;
pub use inputs::{
    DEFAULT_BUNDLE_DIR, DEFAULT_CONCURRENCY, DEFAULT_CONFIG_DIR, DEFAULT_SECRETS_DIR, MAX_API_RATE, MAX_CONCURRENCY,
};
pub use kubeconfig::ClusterAccess;
pub use output::output_settings;
pub use request::{config_dir, load, load_plan};
pub use secrets::Secrets;
pub use settings::{MetricsSettings, Orchestration, OutputSettings, PvPolicy, Request, Tier, default_executor_image};
pub use variable::Values;
