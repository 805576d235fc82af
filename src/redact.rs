//! Redaction: secret values never leave the process except where they are meant to go.
//!
//! Every secret value the executor reads (files under `$SECRETS_DIR`, the
//! kubeconfig's tokens and keys) is a [`Secret`]: it prints as `<redacted>`
//! and is registered here, and every log line and report passes through
//! [`scrub`] before it is written. The type keeps honest code from leaking a
//! value; the scrubber catches the value if it ever reaches text by another
//! road (an error message from a dependency, a script concatenating it).

use std::fmt;
use std::sync::{Arc, OnceLock, RwLock};

/// What a secret value prints as.
pub const REDACTED: &str = "<redacted>";

/// Values shorter than this are not scrubbed from text: replacing every `a`
/// would make logs unreadable, and such values are not credentials.
const MIN_SCRUB_LEN: usize = 4;

fn registry() -> &'static RwLock<Vec<Arc<str>>> {
    static REGISTRY: OnceLock<RwLock<Vec<Arc<str>>>> = OnceLock::new();
    REGISTRY.get_or_init(|| RwLock::new(Vec::new()))
}

/// A secret value: usable by the code that needs it, invisible everywhere else.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Arc<str>);

impl Secret {
    /// Wraps a value and registers it for scrubbing.
    pub fn new(value: impl Into<Arc<str>>) -> Self {
        let value: Arc<str> = value.into();
        register(&value);
        Secret(value)
    }

    /// The value itself, for the few places it must go (the API client, a
    /// Kubernetes Secret). Never format it into text.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

/// Registers a value (and each of its lines, for multi-line keys) for scrubbing.
pub fn register(value: &str) {
    let mut pieces: Vec<&str> = vec![value.trim()];
    if value.contains('\n') {
        pieces.extend(value.lines().map(str::trim));
    }
    let Ok(mut known) = registry().write() else {
        return;
    };
    for piece in pieces {
        if piece.len() >= MIN_SCRUB_LEN && !known.iter().any(|k| &**k == piece) {
            known.push(Arc::from(piece));
        }
    }
    // Longest first, so a value containing another is replaced whole.
    known.sort_by_key(|k| std::cmp::Reverse(k.len()));
}

/// Replaces every registered secret value in `text` with `<redacted>`.
pub fn scrub(text: &str) -> std::borrow::Cow<'_, str> {
    let Ok(known) = registry().read() else {
        return std::borrow::Cow::Borrowed(text);
    };
    if !known.iter().any(|k| text.contains(&**k)) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = text.to_owned();
    for value in known.iter() {
        if out.contains(&**value) {
            out = out.replace(&**value, REDACTED);
        }
    }
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_prints_redacted() {
        let secret = Secret::new("hunter2-very-secret");
        assert_eq!(format!("{secret} {secret:?}"), "<redacted> <redacted>");
        assert_eq!(secret.expose(), "hunter2-very-secret");
    }

    #[test]
    fn scrub_removes_registered_values_and_their_lines() {
        let _ = Secret::new("tok-123456789");
        let _ = Secret::new("-----BEGIN KEY-----\nMIIEabcdefgh\n-----END KEY-----\n");
        assert_eq!(scrub("bearer tok-123456789 failed"), "bearer <redacted> failed");
        assert_eq!(scrub("line MIIEabcdefgh"), "line <redacted>");
        assert_eq!(scrub("nothing here"), "nothing here");
    }
}
