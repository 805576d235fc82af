//! `$CONFIG_DIR/health-criteria.yaml` (optional): which components are
//! critical to validate.
//!
//! ```yaml
//! default: critical        # critical (the default) or nonCritical
//! critical: [vault]        # applications or stacks
//! nonCritical: [observability, tempo]
//! ```
//!
//! A critical component that is Degraded, Missing or Unknown makes validate
//! fail (exit 1); a non-critical one, or anything Progressing, only
//! degrades it (exit 2). An application named directly wins over its stack.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::dag::ValidGraph;
use crate::input::input_file::{self, InputFileError};
use crate::input::problem::{Problem, Problems, Source, closest, did_you_mean};
use crate::input::yaml;

/// The file name under `$CONFIG_DIR`.
pub const FILE: &str = "health-criteria.yaml";

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct File {
    default: Option<Spanned<String>>,
    #[serde(default)]
    critical: Vec<Spanned<String>>,
    #[serde(default)]
    non_critical: Vec<Spanned<String>>,
}

/// Criticality of every application of the graph.
///
/// # Errors
/// Unreadable file, YAML errors, an unknown default, names that are neither
/// an application nor a stack, or a name listed as both.
pub fn load(config_dir: &Path, graph: &ValidGraph) -> Result<BTreeMap<String, bool>, Vec<Problem>> {
    let path = config_dir.join(FILE);
    let all = |value: bool| graph.graph.apps().map(|(_, a)| (a.name.name.clone(), value)).collect();
    let text = match input_file::read_text(&path, input_file::MAX_CONFIG_FILE, None) {
        Ok(text) => text,
        Err(InputFileError::NotFound) => return Ok(all(true)),
        Err(error) => {
            return Err(vec![Problem::new(Source::file(&path), format!("the file {error}"))]);
        }
    };
    let file: File = yaml::parse(&path, &text).map_err(|p| vec![p])?;
    let mut problems = Problems::default();
    let default = match file.default.as_ref().map(|d| d.value.as_str()) {
        None | Some("critical") => true,
        Some("nonCritical") => false,
        Some(other) => {
            let at = file
                .default
                .as_ref()
                .map_or_else(|| Source::file(&path), |d| yaml::source_at(&path, &d.referenced));
            problems.push(Problem::new(at, format!("`{other}`: expected critical or nonCritical")).field("default"));
            true
        }
    };
    let mut result: BTreeMap<String, bool> = all(default);
    let names: Vec<&str> = graph
        .graph
        .stacks
        .iter()
        .map(|s| s.name.name.as_str())
        .chain(graph.graph.apps().map(|(_, a)| a.name.name.as_str()))
        .collect();
    // Stacks first, then applications, so an application named directly wins.
    for pass_stacks in [true, false] {
        for (list, value, field) in [
            (&file.critical, true, "critical"),
            (&file.non_critical, false, "nonCritical"),
        ] {
            for entry in list {
                let name = entry.value.as_str();
                let at = yaml::source_at(&path, &entry.referenced);
                match (graph.graph.stack(name), graph.graph.app(name)) {
                    (Some(stack), _) if pass_stacks => {
                        for app in &stack.apps {
                            result.insert(app.name.name.clone(), value);
                        }
                    }
                    (_, Some(_)) if !pass_stacks => {
                        result.insert(name.to_owned(), value);
                    }
                    (None, None) if pass_stacks => problems.push(
                        Problem::new(
                            at,
                            format!(
                                "`{name}` names no application or stack of the graph{}",
                                did_you_mean(closest(name, names.iter().copied()))
                            ),
                        )
                        .field(field),
                    ),
                    _ => {}
                }
            }
        }
    }
    for entry in &file.critical {
        if file.non_critical.iter().any(|n| n.value == entry.value) {
            problems.push(
                Problem::new(
                    yaml::source_at(&path, &entry.referenced),
                    format!("`{}` is listed as both critical and nonCritical", entry.value),
                )
                .field("critical"),
            );
        }
    }
    if problems.is_empty() {
        Ok(result)
    } else {
        Err(problems.into_vec())
    }
}
