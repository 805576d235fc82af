//! Reading an input file safely: only a regular file, never more than a
//! documented number of bytes, and — inside a mounted directory such as
//! `$SECRETS_DIR` — only when its real location stays inside that directory.
//!
//! Every file the executor reads from the operator (environment.yaml,
//! dag.yaml, criticality.yaml, kubeconfig, service-account token, secrets,
//! script overrides, the bootstrap bundle) goes through [`read`] or
//! [`read_text`]. A FIFO would block the run forever, `/dev/zero` would fill
//! memory, a symlink out of `$SECRETS_DIR` would read a file nobody meant to
//! hand over: each is refused with exit 3, naming the file, before anything
//! is done to the cluster. Symlinks are resolved first, so Kubernetes'
//! `..data` symlinked volume layout (`key -> ..data/key -> ..2026_…/key`)
//! reads as the regular file it ends in. The limits are listed in
//! docs/operations.md ("Guarantees and how they are enforced").

use std::io::Read;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

/// Size limit of `environment.yaml` and `criticality.yaml`.
pub const MAX_CONFIG_FILE: u64 = 1 << 20;
/// Size limit of `dag.yaml` (a 2,000-application graph is about 200 KiB).
pub const MAX_GRAPH_FILE: u64 = 8 << 20;
/// Size limit of a kubeconfig and of a service-account token.
pub const MAX_KUBECONFIG: u64 = 1 << 20;
/// Size limit of one file of `$SECRETS_DIR`.
pub const MAX_SECRET: u64 = 1 << 20;
/// Size limit of one script override or script test (the largest bundled
/// script is under 5 KiB; Rhai's parser is quadratic in a script's `let`
/// statements, parameters and variable uses, so 1 MiB of them took a
/// minute to compile: docs/fuzzing.md).
pub const MAX_SCRIPT: u64 = 32 << 10;
/// Size limit of one upstream manifest of the bootstrap bundle (Argo CD's
/// install.yaml is about 1.5 MiB).
pub const MAX_BUNDLE_FILE: u64 = 64 << 20;

/// Why an input file was not read.
#[derive(Debug, thiserror::Error)]
pub enum InputFileError {
    /// Nothing at that path (callers decide whether that is allowed).
    #[error("does not exist")]
    NotFound,
    /// A directory, FIFO, device or socket.
    #[error("is a {0}, not a regular file")]
    NotRegular(&'static str),
    /// Larger than the limit for its kind.
    #[error("is larger than the {} limit for this file", human(*.max))]
    TooLarge {
        /// The limit, in bytes.
        max: u64,
    },
    /// A symlink whose target lies outside the mounted directory.
    #[error("is a symbolic link to {}, outside {}: only files inside the directory are read", .target.display(), .root.display())]
    Escapes {
        /// Where the link really points.
        target: PathBuf,
        /// The directory it must stay in.
        root: PathBuf,
    },
    /// Not UTF-8 text (only from [`read_text`]).
    #[error("is not UTF-8 text")]
    NotUtf8,
    /// Any other I/O error (permissions, ...).
    #[error("cannot be read: {}", .0.kind())]
    Io(std::io::Error),
}

impl InputFileError {
    fn from_io(error: std::io::Error) -> Self {
        if error.kind() == std::io::ErrorKind::NotFound {
            InputFileError::NotFound
        } else {
            InputFileError::Io(error)
        }
    }
}

/// Reads at most `max` bytes of the regular file at `path`; with `inside`,
/// only if the file's real location (symlinks resolved) is inside that
/// directory.
///
/// # Errors
/// See [`InputFileError`].
pub fn read(path: &Path, max: u64, inside: Option<&Path>) -> Result<Vec<u8>, InputFileError> {
    if let Some(root) = inside {
        let target = std::fs::canonicalize(path).map_err(InputFileError::from_io)?;
        let root = std::fs::canonicalize(root).map_err(InputFileError::from_io)?;
        if !target.starts_with(&root) {
            return Err(InputFileError::Escapes { target, root });
        }
    }
    // `metadata` follows symlinks and opens nothing, so a FIFO is refused
    // before an `open` could block on it.
    let metadata = std::fs::metadata(path).map_err(InputFileError::from_io)?;
    let kind = metadata.file_type();
    if !kind.is_file() {
        let what = if kind.is_dir() {
            "directory"
        } else if kind.is_fifo() {
            "FIFO (named pipe)"
        } else if kind.is_char_device() || kind.is_block_device() {
            "device"
        } else if kind.is_socket() {
            "socket"
        } else {
            "special file"
        };
        return Err(InputFileError::NotRegular(what));
    }
    if metadata.len() > max {
        return Err(InputFileError::TooLarge { max });
    }
    let file = std::fs::File::open(path).map_err(InputFileError::from_io)?;
    // The file may grow between `metadata` and the read: never take more
    // than the limit.
    let mut bytes = Vec::with_capacity(usize::try_from(metadata.len()).unwrap_or(0));
    file.take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(InputFileError::from_io)?;
    if bytes.len() as u64 > max {
        return Err(InputFileError::TooLarge { max });
    }
    Ok(bytes)
}

/// [`read`], as UTF-8 text.
///
/// # Errors
/// See [`InputFileError`].
pub fn read_text(path: &Path, max: u64, inside: Option<&Path>) -> Result<String, InputFileError> {
    String::from_utf8(read(path, max, inside)?).map_err(|_| InputFileError::NotUtf8)
}

fn human(bytes: u64) -> String {
    if bytes >= 1 << 20 {
        format!("{} MiB", bytes >> 20)
    } else {
        format!("{} KiB", bytes >> 10)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_regular_file_within_the_limit_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, "hello").unwrap();
        assert_eq!(read_text(&path, 5, Some(dir.path())).unwrap(), "hello");
        assert!(matches!(read(&path, 4, None), Err(InputFileError::TooLarge { max: 4 })));
    }

    #[test]
    fn devices_fifos_and_directories_are_refused_without_opening_them() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("pipe");
        assert!(
            std::process::Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .unwrap()
                .success()
        );
        // Opening the FIFO would block this test forever: it must not happen.
        let error = read(&fifo, 10, None).unwrap_err();
        assert_eq!(error.to_string(), "is a FIFO (named pipe), not a regular file");
        assert!(matches!(
            read(Path::new("/dev/zero"), 10, None),
            Err(InputFileError::NotRegular("device"))
        ));
        assert!(matches!(
            read(dir.path(), 10, None),
            Err(InputFileError::NotRegular("directory"))
        ));
        let link = dir.path().join("zero");
        std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
        assert!(matches!(
            read(&link, 10, None),
            Err(InputFileError::NotRegular("device"))
        ));
    }

    #[test]
    fn a_symlink_may_not_leave_the_mounted_directory_but_kubernetes_layout_reads() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("shadow"), "root:x").unwrap();
        let mount = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path().join("shadow"), mount.path().join("stolen")).unwrap();
        let error = read(&mount.path().join("stolen"), 100, Some(mount.path())).unwrap_err();
        assert!(matches!(error, InputFileError::Escapes { .. }), "{error}");
        // key -> ..data/key, ..data -> ..2026_12_07/ : what a Secret volume mounts.
        std::fs::create_dir(mount.path().join("..2026_12_07")).unwrap();
        std::fs::write(mount.path().join("..2026_12_07/git-password"), "pw").unwrap();
        std::os::unix::fs::symlink("..2026_12_07", mount.path().join("..data")).unwrap();
        std::os::unix::fs::symlink("..data/git-password", mount.path().join("git-password")).unwrap();
        assert_eq!(
            read_text(&mount.path().join("git-password"), 100, Some(mount.path())).unwrap(),
            "pw"
        );
    }

    #[test]
    fn limits_are_named_in_human_units() {
        assert_eq!(
            InputFileError::TooLarge { max: MAX_SECRET }.to_string(),
            "is larger than the 1 MiB limit for this file"
        );
        assert!(matches!(
            read(Path::new("/nonexistent/x"), 1, None),
            Err(InputFileError::NotFound)
        ));
    }
}
