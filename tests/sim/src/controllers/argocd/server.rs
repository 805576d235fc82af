//! What `argocd-server` writes into `argocd-secret` when it starts: the key
//! that signs Argo CD's own JWTs (`server.secretkey`).
//!
//! Argo CD v3.5.1: `server.NewServer` calls `settingsMgr.InitializeSettings`
//! (server/server.go line 315); when `argocd-secret` has no
//! `server.secretkey`, that generates one with `util.MakeSignature(32)`
//! (util/settings/settings.go lines 2447-2455): 32 random bytes,
//! base64-encoded, and the bytes of that text are the HMAC key
//! (util/util.go `MakeSignature`). The real server also writes a TLS
//! certificate and the admin password there; the executor needs neither,
//! so only the key is simulated. The simulator writes it when the install
//! becomes ready, which is when a real `argocd-server` passes its
//! readiness probe (it serves only after `NewServer`).

use super::ArgoCd;
use crate::api::write::{self, WriteCtx};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value};

/// Argo CD's settings Secret.
pub const ARGOCD_SECRET: &str = "argocd-secret";
/// The key holding the JWT signing key.
pub const SERVER_SECRET_KEY: &str = "server.secretkey";

/// A new signing key as `MakeSignature(32)` makes it: the base64 text of 32
/// random bytes (here the bytes of two random v4 UUIDs).
fn make_signature() -> String {
    let mut bytes = Vec::with_capacity(32);
    bytes.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
    bytes.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
    STANDARD.encode(bytes)
}

/// Writes `server.secretkey` into `argocd-secret` in `ns` when it has none
/// (a Secret the install lacks is left alone, as the real server would
/// fail to start without it).
pub fn initialize_settings(argo: &ArgoCd, ns: &str) {
    let Some(rt) = argo.cluster.registry.preferred("", "secrets") else {
        return;
    };
    let user = format!("system:serviceaccount:{ns}:argocd-server");
    let ctx = WriteCtx::controller(&user, "argocd-server");
    let signature = make_signature();
    let result = write::modify(&argo.cluster, &rt, ns, ARGOCD_SECRET, None, &ctx, |secret| {
        let Some(fields) = secret.as_object_mut() else {
            return;
        };
        let data = fields.entry("data").or_insert_with(|| Value::Object(Map::new()));
        if !data.is_object() {
            *data = Value::Object(Map::new());
        }
        if let Some(data) = data.as_object_mut()
            && data
                .get(SERVER_SECRET_KEY)
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
        {
            data.insert(SERVER_SECRET_KEY.to_owned(), Value::from(STANDARD.encode(&signature)));
        }
    });
    if let Err(error) = result {
        tracing::warn!("argocd-server: initializing {ns}/{ARGOCD_SECRET}: {error}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_base64_of_32_bytes() {
        let signature = make_signature();
        assert_eq!(signature.len(), 44);
        assert_eq!(STANDARD.decode(&signature).unwrap().len(), 32);
        assert_ne!(signature, make_signature());
    }
}
