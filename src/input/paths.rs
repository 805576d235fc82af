//! Paths operators give us, confined to the directory they belong to.
//!
//! Hook scripts, health checks and policies are named relative to a root
//! (`$CONFIG_DIR`, ...). A name that is absolute or climbs out with `..` is
//! refused rather than normalised, so a mounted file can only ever refer to
//! files mounted beside it.

use std::path::{Component, Path, PathBuf};

/// Joins `relative` onto `root`, refusing anything that could leave `root`.
///
/// # Errors
/// A message saying why the path is refused.
pub fn confined(root: &Path, relative: &str) -> Result<PathBuf, String> {
    if relative.trim().is_empty() {
        return Err("the path is empty".to_owned());
    }
    let path = Path::new(relative);
    for component in path.components() {
        match component {
            Component::Normal(_) | Component::CurDir => {}
            Component::ParentDir => {
                return Err(format!(
                    "`{relative}` leaves its directory with `..`; paths must stay inside {}",
                    root.display()
                ));
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err(format!(
                    "`{relative}` is absolute; expected a path relative to {}",
                    root.display()
                ));
            }
        }
    }
    Ok(root.join(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stays_inside_the_root() {
        let root = Path::new("/config");
        assert_eq!(
            confined(root, "hooks/a.rhai").unwrap(),
            Path::new("/config/hooks/a.rhai")
        );
        assert!(confined(root, "../etc/passwd").unwrap_err().contains("leaves"));
        assert!(confined(root, "hooks/../../x").is_err());
        assert!(confined(root, "/etc/passwd").unwrap_err().contains("absolute"));
        assert!(confined(root, "").is_err());
    }
}
