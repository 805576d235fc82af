//! `bundle::api_token`: the Argo CD API token of the bootstrap's read-only
//! account, issued once Argo CD runs and kept while Argo CD accepts it.
//!
//! The account and its role are part of the bundle (`argocd-cm`,
//! `argocd-rbac-cm`: [`crate::bootstrap::account`]); the token cannot be,
//! because it is signed with `server.secretkey`, which `argocd-server`
//! writes into `argocd-secret` when it first starts (Argo CD v3.5.1
//! server/server.go line 315 calls `InitializeSettings`, which generates
//! the key when absent: util/settings/settings.go lines 2447-2455). So,
//! after the bundle's workloads are ready:
//!
//! 1. From what the run has already seen (the bulk read of the bundle's
//!    inventory lists `argocd-secret` and the token's Secret, both
//!    members), a token Argo CD would accept is kept with no request: a
//!    no-op re-deploy stays read-free here.
//! 2. Otherwise both Secrets are read again (what the run saw may predate
//!    `argocd-server`'s start), and a valid token is still kept.
//! 3. Otherwise the executor waits (bounded) for `server.secretkey` — it
//!    never writes the key itself: that is Argo CD's, and a key written by
//!    the executor could race the server's own initialisation — then does
//!    what `argocd account generate-token` does: records a new id in
//!    `accounts.<account>.tokens` (a merge patch conditional on
//!    `argocd-secret`'s resourceVersion, retried on conflict, dropping only
//!    the id of the token it replaces) and then writes the token to its
//!    Secret. Recording first means a token in the Secret is always one
//!    Argo CD accepts.
//!
//! In a dry run nothing is written: the result says what would be.

use std::time::Duration;

use rhai::{Dynamic, EvalAltResult, Map};
use serde_json::Value;

use crate::bootstrap::token::{self, ARGOCD_SECRET, TOKEN_SECRET, TokenRecord};
use crate::bootstrap::{Bundle, account, inventory, object};
use crate::k8s::apply;
use crate::k8s::index::Known;
use crate::k8s::wait::wait_for;
use crate::k8s::{Kind, ObjectKey};
use crate::script::host::{Host, script_error};

type Result<T> = std::result::Result<T, Box<EvalAltResult>>;

/// Conditional writes of the token list tried before giving up.
const RECORD_ATTEMPTS: usize = 3;

/// What [`ensure`] did (`None`: skipped), for the script; the token's
/// Secret counts as one more object of the bootstrap's.
fn outcome(host: &Host, action: Option<apply::ApplyAction>, namespace: &str, id: Option<&str>, why: &str) -> Dynamic {
    if let Some(action) = action {
        host.with_report(|parts| parts.bootstrap.objects.add(action));
    }
    let mut map = Map::new();
    map.insert(
        "action".into(),
        Dynamic::from(action.map_or("Skipped", apply::ApplyAction::name).to_owned()),
    );
    map.insert(
        "changed".into(),
        Dynamic::from_bool(action.is_some_and(apply::ApplyAction::changed)),
    );
    map.insert("secret".into(), Dynamic::from(format!("{namespace}/{TOKEN_SECRET}")));
    map.insert("account".into(), Dynamic::from(account::ACCOUNT.to_owned()));
    map.insert("id".into(), id.map_or(Dynamic::UNIT, |id| Dynamic::from(id.to_owned())));
    map.insert("why".into(), Dynamic::from(why.to_owned()));
    Dynamic::from_map(map)
}

fn secret_key(namespace: &str, name: &str) -> ObjectKey {
    ObjectKey::new(Kind::new("v1", "Secret"), namespace, name)
}

/// The token's Secret as the bundle labels its members (`token` empty for a lookup).
fn labelled_secret(bundle: &Bundle, namespace: &str, token: &str) -> Value {
    let mut secret = token::token_secret(namespace, token);
    let tier = object::label(&bundle.parent, inventory::ENVIRONMENT_LABEL).unwrap_or_default();
    inventory::label_members(std::iter::once(&mut secret), &bundle.applyset_id, tier);
    secret
}

/// Reads an object afresh, recording it in the run's index.
fn read(host: &Host, key: &ObjectKey) -> Result<Option<Value>> {
    let live = host.block(&format!("reading {key}"), host.cluster.get(key))?;
    host.index.record(key, live.as_ref());
    Ok(live)
}

/// Ensures the token (see the module's documentation); `timeout` bounds
/// the wait for `server.secretkey`. Returns `#{action, changed, secret,
/// account, id, why}` with `action` `Unchanged`, `Created`, `Updated`,
/// `WouldCreate`, `WouldUpdate` or `Skipped` (the bundle declares no
/// account: a test bundle).
///
/// # Errors
/// A list of tokens Argo CD's form does not fit, no `server.secretkey`
/// within `timeout`, or the API's error.
pub fn ensure(host: &Host, bundle: &Bundle, timeout: Duration) -> Result<Dynamic> {
    let namespace = object::namespace(&bundle.parent)
        .unwrap_or(&host.settings.argocd_namespace)
        .to_owned();
    if !account::declared(bundle.objects()) {
        return Ok(outcome(
            host,
            None,
            &namespace,
            None,
            "the bundle declares no Argo CD account",
        ));
    }
    let settings_key = secret_key(&namespace, ARGOCD_SECRET);
    let token_key = secret_key(&namespace, TOKEN_SECRET);
    let now = jiff::Timestamp::now().as_second();

    // 1. What the run has seen.
    let seen_settings = match host.index.lookup(&settings_key, &Value::Null) {
        Known::Present(live) => Some(live),
        _ => None,
    };
    let seen_token = match host.index.lookup(&token_key, &labelled_secret(bundle, &namespace, "")) {
        Known::Present(live) => Some(Some(live)),
        Known::NeedsWrite => Some(None),
        Known::Unknown => None,
    };
    if let (Some(settings), Some(Some(stored))) = (&seen_settings, &seen_token)
        && let Ok(Ok(id)) = token::assess(settings, Some(stored), now)
    {
        return Ok(outcome(
            host,
            Some(apply::ApplyAction::Unchanged),
            &namespace,
            Some(&id),
            "Argo CD accepts the stored token",
        ));
    }

    // 2. Fresh reads.
    let mut settings = read(host, &settings_key)?;
    let stored = read(host, &token_key)?;
    let why = match &settings {
        Some(live) => match token::assess(live, stored.as_ref(), now).map_err(script_error)? {
            Ok(id) => {
                return Ok(outcome(
                    host,
                    Some(apply::ApplyAction::Unchanged),
                    &namespace,
                    Some(&id),
                    "Argo CD accepts the stored token",
                ));
            }
            Err(why) => why,
        },
        None => format!("there is no {ARGOCD_SECRET} yet"),
    };
    let (would, done) = if stored.is_some() {
        (apply::ApplyAction::WouldUpdate, apply::ApplyAction::Updated)
    } else {
        (apply::ApplyAction::WouldCreate, apply::ApplyAction::Created)
    };
    if host.settings.dry_run {
        return Ok(outcome(host, Some(would), &namespace, None, &why));
    }

    // 3. Wait for the key, record a new id, store the token.
    if settings.as_ref().and_then(token::server_key).is_none() {
        settings = wait_for_key(host, &settings_key, timeout)?;
    }
    let previous = stored
        .as_ref()
        .and_then(token::stored)
        .and_then(|t| token::unverified_id(&t));
    let id = token::new_id().map_err(|e| script_error(format!("no random token id: {e}")))?;
    let key = record(host, &settings_key, settings, previous.as_deref(), &id, now)?;
    let issued = token::issue(&key, &id, now);
    crate::redact::register(&issued);
    let secret = labelled_secret(bundle, &namespace, &issued);
    host.block(
        &format!("writing {token_key}"),
        apply::ensure(host.cluster.as_ref(), &host.index, &secret, false),
    )?;
    tracing::info!(
        phase = "bootstrap",
        "Argo CD API token {id} of the read-only account `{}` stored in Secret {namespace}/{TOKEN_SECRET} ({why})",
        account::ACCOUNT
    );
    Ok(outcome(host, Some(done), &namespace, Some(&id), &why))
}

/// Waits until `argocd-secret` has `server.secretkey`.
fn wait_for_key(host: &Host, key: &ObjectKey, timeout: Duration) -> Result<Option<Value>> {
    tracing::info!(
        phase = "bootstrap",
        "waiting for argocd-server to write {} into {key}",
        token::SERVER_SECRET_KEY
    );
    let bounds = host.current_bounds().within(timeout);
    let what = format!(
        "{} in {key} (argocd-server writes it when it starts; check its pod and logs)",
        token::SERVER_SECRET_KEY
    );
    host.block_on(wait_for(
        host.cluster.as_ref(),
        key,
        |live| Ok(live.and_then(token::server_key).is_some()),
        &bounds,
        &what,
    ))
    .map_err(|failure| script_error(failure.error.to_string()))
}

/// Records token `id` in `argocd-secret` (replacing `previous`), retrying a
/// conflicting write on a fresh read; returns the signing key it was
/// recorded under.
fn record(
    host: &Host,
    key: &ObjectKey,
    mut settings: Option<Value>,
    previous: Option<&str>,
    id: &str,
    now: i64,
) -> Result<Vec<u8>> {
    for attempt in 1..=RECORD_ATTEMPTS {
        let Some(live) = settings.take() else {
            return Err(script_error(format!(
                "{key} disappeared while the API token was issued"
            )));
        };
        let signing = token::server_key(&live)
            .ok_or_else(|| script_error(format!("{key} lost its {}", token::SERVER_SECRET_KEY)))?;
        let records = token::listed(&live).map_err(script_error)?;
        let entry = TokenRecord {
            id: id.to_owned(),
            iat: now,
            exp: 0,
        };
        let version = live["metadata"]["resourceVersion"].as_str().unwrap_or_default();
        let patch = token::record_patch(&token::replaced(records, previous, entry), version);
        match host.block_k8s(&format!("patching {key}"), host.cluster.merge_patch(key, &patch)) {
            Ok(written) => {
                host.index.record(key, Some(&written));
                return Ok(signing);
            }
            Err(error) if error.code() == Some(409) && attempt < RECORD_ATTEMPTS => {
                tracing::debug!(phase = "bootstrap", "{key} changed meanwhile; reading it again");
                settings = read(host, key)?;
            }
            Err(error) => return Err(script_error(error.to_string())),
        }
    }
    Err(script_error(format!(
        "{key} kept changing while the API token was issued"
    )))
}
