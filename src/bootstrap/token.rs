//! The Argo CD API token of the bootstrap's read-only account
//! ([`super::account`]), made and checked exactly as Argo CD v3.5.1 does.
//!
//! What Argo CD does when an API token is created (`argocd account
//! generate-token`, server/account/account.go `CreateToken`, lines 218-263):
//! a random UUID v4 is the token's id; `sessionmanager.Create` signs the
//! claims `iss: "argocd"` (`SessionManagerClaimsIssuer`), `sub:
//! "<account>:apiKey"`, `iat` and `nbf` now, `jti` the id, and `exp` only
//! for a token that expires (util/session/sessionmanager.go lines 175-190),
//! with HS256 and the bytes of `server.secretkey` from `argocd-secret` as
//! the key (`signClaims`, lines 206-214); the id is appended to the
//! account's tokens, the JSON list `[{"id", "iat", "exp"?}]` under
//! `accounts.<account>.tokens` in `argocd-secret` (util/settings/accounts.go:
//! `Token`, `saveAccount`).
//!
//! What Argo CD accepts (`sessionmanager.Parse`, lines 232-320, reached from
//! `VerifyToken` for `iss: "argocd"`): an HMAC signature by the current
//! `server.secretkey`; the golang-jwt checks (`exp` and `nbf` when present);
//! a subject `<account>:<capability>` whose account exists, is enabled and
//! has the capability; a `jti` that is listed in the account's tokens; an
//! `iat` not before the account's `passwordMtime`. [`assess`] applies the
//! same rules, so a token this module keeps is one Argo CD accepts.
//!
//! The executor issues tokens that never expire (`CreateToken` with
//! `expiresIn` 0); rotation and revocation are in docs/bootstrap.md. The
//! token is a credential: it is registered with the redactor where it is
//! read or made, and no error here contains it.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::hmac;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::account::{ACCOUNT, CAPABILITIES};

/// The Secret (in Argo CD's namespace) holding the token.
pub const TOKEN_SECRET: &str = "executor-argocd-token";
/// The key of the token in [`TOKEN_SECRET`].
pub const TOKEN_KEY: &str = "token";
/// Annotation on [`TOKEN_SECRET`]: the Argo CD account the token is for.
pub const ACCOUNT_ANNOTATION: &str = "executor.io/argocd-account";
/// Argo CD's settings Secret.
pub const ARGOCD_SECRET: &str = "argocd-secret";
/// The key in [`ARGOCD_SECRET`] whose bytes sign Argo CD's tokens.
pub const SERVER_SECRET_KEY: &str = "server.secretkey";
/// The issuer of every token Argo CD signs itself (`SessionManagerClaimsIssuer`).
pub const ISSUER: &str = "argocd";

/// The key in [`ARGOCD_SECRET`] listing the account's tokens.
pub fn tokens_key() -> String {
    format!("accounts.{ACCOUNT}.tokens")
}

/// The key in [`ARGOCD_SECRET`] of the account's password change time.
fn password_mtime_key() -> String {
    format!("accounts.{ACCOUNT}.passwordMtime")
}

/// The token's subject: `<account>:apiKey`.
pub fn subject() -> String {
    format!("{ACCOUNT}:{CAPABILITIES}")
}

/// Why a token is not one Argo CD would accept. Never carries the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not three base64url parts with JSON header and claims.
    #[error("the token is not a JWT")]
    Malformed,
    /// Not signed with HS256.
    #[error("the token is not signed with HS256")]
    Algorithm,
    /// The signature does not verify with the current `server.secretkey`.
    #[error("the token's signature does not verify with the current server.secretkey")]
    Signature,
    /// A claim differs from what Argo CD requires.
    #[error("the token's `{0}` claim is not what Argo CD accepts for this account")]
    Claim(&'static str),
    /// `exp` has passed or `nbf` has not come yet.
    #[error("the token is not valid at this time (exp/nbf)")]
    Time,
    /// The id is not in the account's tokens in `argocd-secret`.
    #[error("the token's id is not listed in argocd-secret's {key}")]
    NotListed {
        /// The key in `argocd-secret`.
        key: String,
    },
    /// Issued before the account's password last changed.
    #[error("the token was issued before the account's passwordMtime")]
    PasswordChanged,
}

/// A token's claims (jwt.RegisteredClaims, in its JSON field order).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Issuer: [`ISSUER`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// Subject: [`subject`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// Expiry (seconds since the epoch), never set by the executor.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    /// Not before.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    /// Issued at.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    /// The token's id, listed in `argocd-secret`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
}

/// One entry of `accounts.<account>.tokens` (util/settings/accounts.go `Token`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    /// The token's `jti`.
    pub id: String,
    /// When it was issued.
    pub iat: i64,
    /// When it expires; absent (0) for a token that never does.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub exp: i64,
}

// serde's `skip_serializing_if` passes a reference.
fn is_zero(value: &i64) -> bool {
    *value == 0
}

/// Signs `claims` as golang-jwt's `SignedString` does for HS256: header
/// `{"alg":"HS256","typ":"JWT"}`, base64url without padding, `.`-joined.
fn sign(claims: &Claims, key: &[u8]) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap_or_default());
    let input = format!("{header}.{body}");
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
}

/// A never-expiring API token for the account, with id `id`, issued at
/// `now` (seconds since the epoch) and signed with `key`, the bytes of
/// `server.secretkey`: what `CreateToken` makes with `expiresIn` 0.
pub fn issue(key: &[u8], id: &str, now: i64) -> String {
    sign(
        &Claims {
            iss: Some(ISSUER.to_owned()),
            sub: Some(subject()),
            exp: None,
            nbf: Some(now),
            iat: Some(now),
            jti: Some(id.to_owned()),
        },
        key,
    )
}

/// Checks the signature with `key` and returns the claims; the checks of
/// the claims are [`check_claims`].
///
/// # Errors
/// A malformed token, another algorithm, or a signature that does not verify.
pub fn verify_signature(token: &str, key: &[u8]) -> Result<Claims, TokenError> {
    let mut parts = token.split('.');
    let (Some(header), Some(body), Some(signature), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed);
    };
    let decode = |part: &str| URL_SAFE_NO_PAD.decode(part).map_err(|_| TokenError::Malformed);
    let header: Value = serde_json::from_slice(&decode(header)?).map_err(|_| TokenError::Malformed)?;
    if header["alg"] != "HS256" {
        return Err(TokenError::Algorithm);
    }
    let signed = token.len() - signature.len() - 1;
    hmac::verify(
        &hmac::Key::new(hmac::HMAC_SHA256, key),
        token.as_bytes().get(..signed).unwrap_or_default(),
        &decode(signature)?,
    )
    .map_err(|_| TokenError::Signature)?;
    serde_json::from_slice(&decode(body)?).map_err(|_| TokenError::Malformed)
}

/// The claim checks of `sessionmanager.Parse` for this account's API token
/// at `now`, given the account's listed tokens and password change time.
///
/// # Errors
/// The first check that fails.
pub fn check_claims(
    claims: &Claims,
    listed: &[TokenRecord],
    password_mtime: Option<i64>,
    now: i64,
) -> Result<String, TokenError> {
    if claims.iss.as_deref() != Some(ISSUER) {
        return Err(TokenError::Claim("iss"));
    }
    if claims.sub.as_deref() != Some(subject().as_str()) {
        return Err(TokenError::Claim("sub"));
    }
    let iat = claims.iat.ok_or(TokenError::Claim("iat"))?;
    if claims.exp.is_some_and(|exp| exp <= now) || claims.nbf.is_some_and(|nbf| nbf > now) {
        return Err(TokenError::Time);
    }
    let id = claims
        .jti
        .clone()
        .filter(|id| !id.is_empty())
        .ok_or(TokenError::Claim("jti"))?;
    if !listed.iter().any(|record| record.id == id) {
        return Err(TokenError::NotListed { key: tokens_key() });
    }
    if password_mtime.is_some_and(|mtime| iat < mtime) {
        return Err(TokenError::PasswordChanged);
    }
    Ok(id)
}

/// One `data` value of a Secret, decoded.
fn secret_data(secret: &Value, key: &str) -> Option<Vec<u8>> {
    let encoded = secret.pointer("/data")?.get(key)?.as_str()?;
    STANDARD.decode(encoded).ok()
}

/// The bytes of `server.secretkey` (registered with the redactor), when
/// `argocd-secret` has one.
pub fn server_key(argocd_secret: &Value) -> Option<Vec<u8>> {
    let key = secret_data(argocd_secret, SERVER_SECRET_KEY).filter(|key| !key.is_empty())?;
    if let Ok(text) = std::str::from_utf8(&key) {
        crate::redact::register(text);
    }
    Some(key)
}

/// The account's tokens listed in `argocd-secret` (none when the key is
/// absent or empty, as `parseAccounts` reads it).
///
/// # Errors
/// A list that is not the JSON Argo CD writes: the executor will not
/// rewrite what it cannot read.
pub fn listed(argocd_secret: &Value) -> Result<Vec<TokenRecord>, String> {
    let key = tokens_key();
    match secret_data(argocd_secret, &key) {
        None => Ok(Vec::new()),
        Some(bytes) if bytes.is_empty() => Ok(Vec::new()),
        Some(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
            format!(
                "{ARGOCD_SECRET}: `{key}` is not Argo CD's JSON list of tokens ({e}); fix or remove that key, then deploy again"
            )
        }),
    }
}

/// The account's `passwordMtime` in `argocd-secret`, when set and readable.
fn password_mtime(argocd_secret: &Value) -> Option<i64> {
    let text = String::from_utf8(secret_data(argocd_secret, &password_mtime_key())?).ok()?;
    text.trim().parse::<jiff::Timestamp>().ok().map(|t| t.as_second())
}

/// The token stored in the executor's Secret (registered with the redactor).
pub fn stored(token_secret: &Value) -> Option<String> {
    let token = String::from_utf8(secret_data(token_secret, TOKEN_KEY)?).ok()?;
    crate::redact::register(&token);
    Some(token)
}

/// The `jti` of a stored token, read without checking anything: the id of
/// a token the executor issued earlier, to take out of the list when it is
/// replaced.
pub fn unverified_id(token: &str) -> Option<String> {
    let body = token.split('.').nth(1)?;
    let claims: Claims = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(body).ok()?).ok()?;
    claims.jti.filter(|id| !id.is_empty())
}

/// Whether the token in the executor's Secret (`None`: no Secret) is one
/// Argo CD accepts now, given the live `argocd-secret` with its
/// `server.secretkey`: its id if so.
///
/// # Errors
/// Why not; a list of tokens that cannot be read is a [`listed`] error.
pub fn assess(argocd_secret: &Value, token_secret: Option<&Value>, now: i64) -> Result<Result<String, String>, String> {
    let records = listed(argocd_secret)?;
    let Some(key) = server_key(argocd_secret) else {
        return Ok(Err(format!("{ARGOCD_SECRET} has no {SERVER_SECRET_KEY} yet")));
    };
    let Some(token) = token_secret.and_then(stored) else {
        return Ok(Err(format!("no token in Secret {TOKEN_SECRET}")));
    };
    let checked = verify_signature(&token, &key)
        .and_then(|claims| check_claims(&claims, &records, password_mtime(argocd_secret), now));
    Ok(checked.map_err(|e| e.to_string()))
}

/// The account's tokens after replacing `previous` (the id of the token the
/// executor's Secret held, if any) with `record`; every other entry is kept.
pub fn replaced(mut records: Vec<TokenRecord>, previous: Option<&str>, record: TokenRecord) -> Vec<TokenRecord> {
    if let Some(previous) = previous {
        records.retain(|r| r.id != previous);
    }
    records.push(record);
    records
}

/// The merge patch recording `records` in `argocd-secret`, conditional on
/// its `resource_version` (a concurrent change by Argo CD makes it fail
/// with a conflict rather than lose a token).
pub fn record_patch(records: &[TokenRecord], resource_version: &str) -> Value {
    let list = serde_json::to_vec(records).unwrap_or_default();
    json!({
        "metadata": {"resourceVersion": resource_version},
        "data": {tokens_key(): STANDARD.encode(list)},
    })
}

/// The executor's Secret holding `token`, in `namespace`.
pub fn token_secret(namespace: &str, token: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": TOKEN_SECRET,
            "namespace": namespace,
            "annotations": {ACCOUNT_ANNOTATION: ACCOUNT},
        },
        "type": "Opaque",
        "data": {TOKEN_KEY: STANDARD.encode(token)},
    })
}

/// A random UUID v4, the token id Argo CD's `CreateToken` makes
/// (`uuid.NewRandom`).
///
/// # Errors
/// The system's random source failed.
pub fn new_id() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)?;
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex = hex::encode(bytes);
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    ))
}

#[cfg(test)]
#[path = "token_tests.rs"]
mod tests;
