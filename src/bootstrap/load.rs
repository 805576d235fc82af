//! Reading `BUNDLE_DIR`: every locked file present, unmodified, and parsed.
//!
//! A file is trusted only after its sha256 matches the lock: the checksum is
//! computed over the bytes on disk before anything parses them, and any
//! difference is an input problem (exit 3) naming the file, both checksums
//! and how to restore it. The multi-document YAML is then parsed with the
//! project's one YAML library, empty documents skipped, and every document
//! checked to be an object the bundle can place and label.

use std::path::{Path, PathBuf};

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::lock::{Lock, LockedFile};
use super::object;
use crate::config::{Problem, Source};
use crate::input::input_file::{self, InputFileError};
use crate::input::yaml;

/// An upstream file of the bundle, verified and parsed.
#[derive(Debug, Clone)]
pub struct UpstreamFile {
    /// Its lock entry.
    pub locked: LockedFile,
    /// Where it was read from.
    pub path: PathBuf,
    /// Its objects, in file order.
    pub objects: Vec<Value>,
}

/// Lowercase hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Checks that `bytes`, read from `path`, are the locked file.
///
/// # Errors
/// A problem naming the file, the expected and the actual checksum, and what to do.
pub fn verify(path: &Path, bytes: &[u8], locked: &LockedFile) -> Result<(), Problem> {
    let actual = sha256_hex(bytes);
    if actual == locked.sha256 {
        return Ok(());
    }
    Err(Problem::new(
        Source::file(path),
        format!(
            "checksum mismatch: expected sha256 {expected}, found {actual}; this is not the \
             {component} {version} file this executor was built for. Restore it with \
             `bundle/fetch <dir>` (it downloads and verifies {name}) or point BUNDLE_DIR at \
             an unmodified copy",
            expected = locked.sha256,
            component = locked.component.as_str(),
            version = locked.version,
            name = locked.name,
        ),
    )
    .field("sha256"))
}

/// Parses a multi-document manifest read from `path` into objects, skipping empty documents.
///
/// # Errors
/// A YAML error at its position, or a document that is not a Kubernetes object.
pub fn parse_manifests(path: &Path, text: &str) -> Result<Vec<Value>, Problem> {
    let documents: Vec<Value> = serde_saphyr::from_multiple(text).map_err(|error| {
        let source = match error.location() {
            Some(at) => yaml::source_at(path, &at),
            None => Source::file(path),
        };
        Problem::new(source, format!("not valid YAML: {error}"))
    })?;
    let mut objects = Vec::with_capacity(documents.len());
    for (index, document) in documents.into_iter().enumerate() {
        if document.is_null() {
            continue;
        }
        object::check(&document)
            .map_err(|message| Problem::new(Source::file(path), format!("document {}: {message}", index + 1)))?;
        objects.push(document);
    }
    Ok(objects)
}

/// Reads, verifies and parses every file of `lock` from `bundle_dir`.
///
/// # Errors
/// Every problem found: a missing directory or file, a checksum mismatch, a
/// file that does not parse.
pub fn read_all(bundle_dir: &Path, lock: &Lock) -> Result<Vec<UpstreamFile>, Vec<Problem>> {
    if !bundle_dir.is_dir() {
        return Err(vec![
            Problem::new(
                Source::file(bundle_dir),
                format!(
                    "the bootstrap bundle directory does not exist; set BUNDLE_DIR to a \
                     directory holding {} (fill one with `bundle/fetch <dir>`)",
                    names(lock)
                ),
            )
            .field("BUNDLE_DIR"),
        ]);
    }
    let mut files = Vec::new();
    let mut problems = Vec::new();
    for locked in &lock.files {
        match read_one(bundle_dir, locked) {
            Ok(file) => files.push(file),
            Err(problem) => problems.push(problem),
        }
    }
    if problems.is_empty() { Ok(files) } else { Err(problems) }
}

fn read_one(bundle_dir: &Path, locked: &LockedFile) -> Result<UpstreamFile, Problem> {
    let path = bundle_dir.join(&locked.name);
    let bytes = input_file::read(&path, input_file::MAX_BUNDLE_FILE, None).map_err(|error| {
        let message = if matches!(error, InputFileError::NotFound) {
            format!(
                "file not found; the bootstrap bundle needs {} {} here (sha256 {}). \
                 Fill BUNDLE_DIR with `bundle/fetch <dir>`",
                locked.component.as_str(),
                locked.version,
                locked.sha256
            )
        } else {
            format!("the bundle file {error}")
        };
        Problem::new(Source::file(&path), message)
    })?;
    verify(&path, &bytes, locked)?;
    let text = String::from_utf8(bytes).map_err(|_| Problem::new(Source::file(&path), "the file is not UTF-8 text"))?;
    let objects = parse_manifests(&path, &text)?;
    Ok(UpstreamFile {
        locked: locked.clone(),
        path,
        objects,
    })
}

fn names(lock: &Lock) -> String {
    lock.files
        .iter()
        .map(|f| f.name.as_str())
        .collect::<Vec<_>>()
        .join(" and ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_known_text() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn parse_skips_empty_documents_and_checks_objects() {
        let text = "---\n# only a comment\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\n---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: b\n";
        let objects = parse_manifests(Path::new("m.yaml"), text).unwrap();
        assert_eq!(objects.len(), 2);
        assert_eq!(object::name(&objects[1]), "b");

        let problem = parse_manifests(Path::new("m.yaml"), "apiVersion: v1\nkind: X\n").unwrap_err();
        assert!(problem.message.contains("metadata"), "{problem}");

        let problem = parse_manifests(Path::new("m.yaml"), "a: [1,\n").unwrap_err();
        assert!(matches!(problem.source, Source::File { .. }), "{problem}");
    }

    #[test]
    fn missing_directory_is_one_problem() {
        let lock = Lock::bundled().unwrap();
        let problems = read_all(Path::new("/nonexistent/bundle"), &lock).unwrap_err();
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].field.as_deref(), Some("BUNDLE_DIR"));
        assert!(problems[0].message.contains("bundle/fetch"));
    }

    #[test]
    fn missing_file_names_what_is_needed() {
        let dir = tempfile::tempdir().unwrap();
        let lock = Lock::bundled().unwrap();
        let problems = read_all(dir.path(), &lock).unwrap_err();
        assert_eq!(problems.len(), lock.files.len());
        assert!(problems[0].message.contains("file not found"));
        assert!(problems[0].message.contains(&lock.files[0].sha256));
    }
}
