//! Tests of the Argo CD API token: its form is what Argo CD v3.5.1 issues,
//! and an independent JWT implementation (the `jsonwebtoken` crate) accepts
//! it under the validation `sessionmanager.Parse` applies.

use super::*;
use serde_json::json;

/// A `server.secretkey` as Argo CD makes one (util/util.go `MakeSignature`:
/// 32 random bytes, base64-encoded; the bytes of that text are the key).
const KEY: &[u8] = b"q1Vw2b6mGJm0x0pW2y8k0kq7oYk5Q9d6kq0YV2aQmF0=";
const NOW: i64 = 1_796_000_000;
const ID: &str = "8f5f2bde-7f3c-4f4e-9a43-0b3f0d8d2a11";

fn part(token: &str, index: usize) -> Value {
    let bytes = URL_SAFE_NO_PAD.decode(token.split('.').nth(index).unwrap()).unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

fn argocd_secret(records: &[TokenRecord]) -> Value {
    json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": ARGOCD_SECRET, "resourceVersion": "7"},
    "data": {
        SERVER_SECRET_KEY: STANDARD.encode(KEY),
        tokens_key(): STANDARD.encode(serde_json::to_vec(records).unwrap()),
    }})
}

fn record(id: &str) -> TokenRecord {
    TokenRecord {
        id: id.to_owned(),
        iat: NOW,
        exp: 0,
    }
}

/// Header and claims are what Argo CD v3.5.1 issues for
/// `argocd account generate-token --account executor`:
/// server/account/account.go lines 243 (subject `<name>:apiKey`, expiresIn
/// 0) and util/session/sessionmanager.go lines 177-189 (`iat`, `iss`
/// "argocd", `nbf`, `sub`, `jti`; `exp` only when expiring) and 207
/// (HS256). golang-jwt v5 writes the header `{"alg":"HS256","typ":"JWT"}`.
#[test]
fn the_token_has_the_header_and_claims_argo_cd_issues() {
    let token = issue(KEY, ID, NOW);
    assert_eq!(token.split('.').count(), 3);
    assert_eq!(part(&token, 0), json!({"alg": "HS256", "typ": "JWT"}));
    assert_eq!(
        part(&token, 1),
        json!({"iss": "argocd", "sub": "executor:apiKey", "nbf": NOW, "iat": NOW, "jti": ID})
    );
    // Field order of jwt.RegisteredClaims (iss, sub, aud, exp, nbf, iat, jti).
    let body = String::from_utf8(URL_SAFE_NO_PAD.decode(token.split('.').nth(1).unwrap()).unwrap()).unwrap();
    assert_eq!(
        body,
        format!(r#"{{"iss":"argocd","sub":"executor:apiKey","nbf":{NOW},"iat":{NOW},"jti":"{ID}"}}"#)
    );
}

#[test]
fn the_signature_verifies_with_the_server_key_and_not_with_another() {
    let token = issue(KEY, ID, NOW);
    let claims = verify_signature(&token, KEY).unwrap();
    assert_eq!(claims.jti.as_deref(), Some(ID));
    assert_eq!(
        verify_signature(&token, b"another-server-secretkey-entirely"),
        Err(TokenError::Signature)
    );
    // A claim changed after signing breaks the signature.
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    parts[1] = URL_SAFE_NO_PAD.encode(br#"{"iss":"argocd","sub":"admin:apiKey","iat":1,"jti":"x"}"#);
    assert_eq!(verify_signature(&parts.join("."), KEY), Err(TokenError::Signature));
    assert_eq!(verify_signature("not-a-jwt", KEY), Err(TokenError::Malformed));
}

/// The `jsonwebtoken` crate, which we did not write, accepts the token with
/// the validation of Argo CD's `sessionmanager.Parse` (util/session/
/// sessionmanager.go lines 242-248: an HMAC signature by server.secretkey;
/// golang-jwt v5's default checks of `exp` and `nbf` when present; `iss`
/// "argocd" is how `VerifyToken` routes to `Parse`, line 568; the subject
/// names the account and capability, line 217), and rejects it with
/// another key or under another subject.
#[test]
fn an_independent_jwt_implementation_accepts_the_token() {
    use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode};
    let now = jiff::Timestamp::now().as_second();
    let token = issue(KEY, ID, now);
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_issuer(&[ISSUER]);
    validation.sub = Some("executor:apiKey".to_owned());
    validation.validate_nbf = true;
    // Argo CD's API tokens made with expiresIn 0 carry no exp.
    validation.set_required_spec_claims(&["iss", "sub", "nbf"]);
    let decoded = decode::<Value>(&token, &DecodingKey::from_secret(KEY), &validation).unwrap();
    assert_eq!(decoded.header.alg, Algorithm::HS256);
    assert_eq!(decoded.header.typ.as_deref(), Some("JWT"));
    assert_eq!(decoded.claims["jti"], ID);
    assert_eq!(decoded.claims["iat"], now);

    let wrong_key = decode::<Value>(&token, &DecodingKey::from_secret(b"another key"), &validation);
    assert!(wrong_key.is_err());
    validation.sub = Some("admin:apiKey".to_owned());
    assert!(decode::<Value>(&token, &DecodingKey::from_secret(KEY), &validation).is_err());
}

/// A token the independent implementation signed is one our check reads:
/// both sides agree on the encoding.
#[test]
fn a_token_signed_by_the_independent_implementation_verifies() {
    use jsonwebtoken::{EncodingKey, Header, encode};
    let claims = json!({"iss": "argocd", "sub": "executor:apiKey", "nbf": NOW, "iat": NOW, "jti": ID});
    let token = encode(&Header::default(), &claims, &EncodingKey::from_secret(KEY)).unwrap();
    let read = verify_signature(&token, KEY).unwrap();
    assert_eq!(check_claims(&read, &[record(ID)], None, NOW + 1), Ok(ID.to_owned()));
}

/// `sessionmanager.Parse` lines 287-300: the id must be listed in the
/// account's tokens, and the token not older than the password change.
#[test]
fn claims_are_checked_as_argo_cd_parse_does() {
    let claims = verify_signature(&issue(KEY, ID, NOW), KEY).unwrap();
    assert_eq!(check_claims(&claims, &[record(ID)], None, NOW), Ok(ID.to_owned()));
    assert!(matches!(
        check_claims(&claims, &[record("other")], None, NOW),
        Err(TokenError::NotListed { .. })
    ));
    assert_eq!(
        check_claims(&claims, &[record(ID)], Some(NOW + 1), NOW + 2),
        Err(TokenError::PasswordChanged)
    );
    let mut expired = claims.clone();
    expired.exp = Some(NOW - 1);
    assert_eq!(check_claims(&expired, &[record(ID)], None, NOW), Err(TokenError::Time));
    let mut other = claims.clone();
    other.sub = Some("admin:apiKey".to_owned());
    assert_eq!(
        check_claims(&other, &[record(ID)], None, NOW),
        Err(TokenError::Claim("sub"))
    );
    let mut foreign = claims;
    foreign.iss = Some("https://dex.example.com".to_owned());
    assert_eq!(
        check_claims(&foreign, &[record(ID)], None, NOW),
        Err(TokenError::Claim("iss"))
    );
}

#[test]
fn assess_keeps_a_valid_token_and_says_why_another_is_not() {
    let token = issue(KEY, ID, NOW);
    let secret = token_secret("gitops", &token);
    assert_eq!(secret["metadata"]["namespace"], "gitops");
    let listed_secret = argocd_secret(&[record("someone-elses"), record(ID)]);
    assert_eq!(assess(&listed_secret, Some(&secret), NOW), Ok(Ok(ID.to_owned())));

    let revoked = argocd_secret(&[record("someone-elses")]);
    let why = assess(&revoked, Some(&secret), NOW).unwrap().unwrap_err();
    assert!(why.contains("accounts.executor.tokens"), "{why}");
    assert!(!why.contains(&token), "the reason never shows the token");

    let mut rotated = listed_secret.clone();
    rotated["data"][SERVER_SECRET_KEY] = Value::from(STANDARD.encode("a-new-server-key"));
    let why = assess(&rotated, Some(&secret), NOW).unwrap().unwrap_err();
    assert!(why.contains("signature"), "{why}");

    assert!(assess(&listed_secret, None, NOW).unwrap().is_err());
    let mut keyless = listed_secret;
    keyless["data"].as_object_mut().unwrap().remove(SERVER_SECRET_KEY);
    let why = assess(&keyless, Some(&secret), NOW).unwrap().unwrap_err();
    assert!(why.contains("server.secretkey"), "{why}");
}

#[test]
fn an_unreadable_token_list_is_not_rewritten() {
    let mut secret = argocd_secret(&[]);
    secret["data"][tokens_key()] = Value::from(STANDARD.encode("not json"));
    let error = assess(&secret, None, NOW).unwrap_err();
    assert!(error.contains("accounts.executor.tokens"), "{error}");
}

/// The list keeps Argo CD's JSON form (`[{"id","iat"}]`, `exp` omitted when
/// 0: util/settings/accounts.go `Token`), other tokens of the account, and
/// drops only the token being replaced.
#[test]
fn replacing_a_token_keeps_the_others_and_argo_cd_s_form() {
    let records = replaced(vec![record("old"), record("theirs")], Some("old"), record(ID));
    let patch = record_patch(&records, "42");
    assert_eq!(patch["metadata"]["resourceVersion"], "42");
    let written = STANDARD
        .decode(patch["data"]["accounts.executor.tokens"].as_str().unwrap())
        .unwrap();
    assert_eq!(
        String::from_utf8(written).unwrap(),
        format!(r#"[{{"id":"theirs","iat":{NOW}}},{{"id":"{ID}","iat":{NOW}}}]"#)
    );
    let parsed: Vec<TokenRecord> = serde_json::from_str(r#"[{"id":"a","iat":1,"exp":2}]"#).unwrap();
    assert_eq!(parsed[0].exp, 2);
}

#[test]
fn ids_are_random_uuid_v4() {
    let (a, b) = (new_id().unwrap(), new_id().unwrap());
    assert_ne!(a, b);
    assert_eq!(a.len(), 36);
    assert_eq!(a.as_bytes()[14], b'4');
    assert!(matches!(a.as_bytes()[19], b'8' | b'9' | b'a' | b'b'));
    assert_eq!(unverified_id(&issue(KEY, &a, NOW)), Some(a));
}
