//! Naming rules for values that end up in Kubernetes objects.
//!
//! Environment and node names become object names and label values, so they
//! are held to Kubernetes' own rules here, before any request is made, with a
//! message saying what is expected.

/// An RFC 1123 label: what Kubernetes requires of namespace and most object names.
///
/// # Errors
/// A message saying what is expected.
pub fn dns_label(value: &str) -> Result<(), String> {
    let ok = !value.is_empty()
        && value.len() <= 63
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !value.starts_with('-')
        && !value.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{value}` is not a valid name; expected at most 63 lowercase letters, digits or '-', starting and ending with a letter or digit"
        ))
    }
}

/// A name usable as a label value and an object name (the environment name).
///
/// # Errors
/// A message saying what is expected.
pub fn label_value(value: &str) -> Result<(), String> {
    dns_label(value)
}

/// An RFC 1123 subdomain, e.g. a base domain for ingress.
///
/// # Errors
/// A message saying what is expected.
pub fn dns_subdomain(value: &str) -> Result<(), String> {
    let ok = !value.is_empty() && value.len() <= 253 && value.split('.').all(|label| dns_label(label).is_ok());
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{value}` is not a valid domain; expected lowercase DNS labels separated by dots, e.g. platform.example.com"
        ))
    }
}

/// A Git repository URL as Argo CD accepts it.
///
/// # Errors
/// A message saying what is expected.
pub fn git_url(value: &str) -> Result<(), String> {
    let schemes = ["https://", "http://", "ssh://", "git://", "file://"];
    let has_scheme = schemes.iter().any(|s| value.starts_with(s) && value.len() > s.len());
    let scp_like = value
        .split_once('@')
        .and_then(|(_, rest)| rest.split_once(':'))
        .is_some_and(|(host, path)| !host.is_empty() && !path.is_empty());
    if (has_scheme || scp_like) && !value.chars().any(char::is_whitespace) {
        Ok(())
    } else {
        Err(format!(
            "`{value}` is not a Git repository URL; expected https://host/path.git, ssh://host/path.git or git@host:path.git"
        ))
    }
}

/// Any non-blank text.
///
/// # Errors
/// A message saying a value is expected.
pub fn non_empty(value: &str) -> Result<(), String> {
    if value.trim().is_empty() {
        Err("must not be empty".to_owned())
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels() {
        assert!(dns_label("cert-manager").is_ok());
        assert!(dns_label("a").is_ok());
        assert!(dns_label("").is_err());
        assert!(dns_label("Cert").is_err());
        assert!(dns_label("-a").is_err());
        assert!(dns_label(&"a".repeat(64)).is_err());
    }

    #[test]
    fn domains_and_urls() {
        assert!(dns_subdomain("platform.example.com").is_ok());
        assert!(dns_subdomain("platform..com").is_err());
        assert!(git_url("https://git.example.com/platform.git").is_ok());
        assert!(git_url("git@github.com:org/platform.git").is_ok());
        assert!(git_url("platform").is_err());
        assert!(git_url("https://").is_err());
    }
}
