//! Protobuf request bodies (`application/vnd.kubernetes.protobuf`) of the
//! built-in kinds, decoded into the JSON objects the JSON path stores.
//!
//! A body is the magic `k8s\0` followed by a `runtime.Unknown` whose
//! `typeMeta` names apiVersion and kind and whose `raw` is the object's
//! message. The messages are upstream's own definitions (the
//! `generated.proto` files of k8s.io/api, apimachinery and
//! apiextensions-apiserver v1.33, compiled by the `k8s-rs-pb` crate); the
//! decoded message is turned into Kubernetes JSON by [`json::clean`].
//!
//! **Answers are JSON.** client-go's typed clients (`kubectl create
//! namespace|configmap|secret|deployment|...`, `describe`, `rollout
//! history`, `auth can-i`) send protobuf with
//! `Accept: application/vnd.kubernetes.protobuf,application/json`
//! (client-go v0.32 `rest/request.go` `UseProtobufAsDefault`, used by
//! `gentype/type.go` for clients marked `PrefersProtobuf`), and decode any
//! answer by its `Content-Type` (`rest/request.go` `transformResponse` and
//! `newStreamWatcher`), so a JSON answer is one client-go accepts. kube-sim
//! therefore answers JSON whenever JSON is acceptable, and `406 NotAcceptable`
//! when a client accepts protobuf only. (Encoding answers would need the
//! message descriptors, and the crate's reflection tables deadlock on first
//! use: every generated file lists itself as its dependency.)
//!
//! Custom resources have no protobuf form, on a real server too: a protobuf
//! body for one is `415 UnsupportedMediaType`.

pub mod json;

use k8s_rs_pb::api;
use k8s_rs_pb::apiextensions_apiserver::pkg::apis::apiextensions;
use k8s_rs_pb::apimachinery::pkg::{apis::meta, runtime::Unknown};
use protobuf::Message;
use serde_json::{Value, json};

/// The protobuf media type.
pub const MEDIA_TYPE: &str = "application/vnd.kubernetes.protobuf";

const MAGIC: &[u8] = b"k8s\0";

/// Whether `content_type` is the protobuf media type.
pub fn is_protobuf(content_type: &str) -> bool {
    content_type.split(';').next().is_some_and(|t| t.trim() == MEDIA_TYPE)
}

/// Whether an `Accept` header allows a JSON answer: it names JSON or a
/// wildcard, or names nothing.
pub fn accepts_json(accept: &str) -> bool {
    let types: Vec<&str> = accept
        .split(',')
        .map(|t| t.split(';').next().unwrap_or("").trim())
        .filter(|t| !t.is_empty())
        .collect();
    types.is_empty()
        || types
            .iter()
            .any(|t| matches!(*t, "application/json" | "application/*" | "*/*" | "application/yaml"))
}

/// Why a protobuf body could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// No `k8s\0` envelope or a malformed message.
    #[error("the body is not a Kubernetes protobuf message: {0}")]
    Malformed(String),
    /// A kind without a protobuf message (custom resources).
    #[error("no protobuf serialization for {0}")]
    UnknownKind(String),
}

/// Parses `raw` as message `T` and serializes it to raw (uncleaned) JSON.
fn raw_json<T: Message + serde::Serialize>(raw: &[u8]) -> Result<Value, DecodeError> {
    let message = T::parse_from_bytes(raw).map_err(|e| DecodeError::Malformed(e.to_string()))?;
    // The crate's serializers unwrap (a Time out of range, a Quantity without
    // its string); a hostile body must be a 400, not a dead connection.
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| serde_json::to_value(&message)))
        .map_err(|_| DecodeError::Malformed("a field holds a value out of range".into()))?
        .map_err(|e| DecodeError::Malformed(e.to_string()))
}

/// The message type of each served built-in kind, by apiVersion and kind.
macro_rules! kinds {
    ($api_version:expr, $kind:expr, $raw:expr, { $($av:literal => [$($k:ident: $ty:ty),* $(,)?]),* $(,)? }) => {
        match ($api_version, $kind) {
            $($(($av, stringify!($k)) => Some(raw_json::<$ty>($raw)),)*)*
            _ => None,
        }
    };
}

fn decode_kind(api_version: &str, kind: &str, raw: &[u8]) -> Option<Result<Value, DecodeError>> {
    use api::{admissionregistration as admission, scheduling, storage};
    use api::{apps, authorization, autoscaling, batch, coordination, core, networking, policy, rbac};
    kinds!(api_version, kind, raw, {
        "v1" => [
            Namespace: core::v1::Namespace, ConfigMap: core::v1::ConfigMap, Secret: core::v1::Secret,
            Service: core::v1::Service, ServiceAccount: core::v1::ServiceAccount, Pod: core::v1::Pod,
            Event: core::v1::Event, Endpoints: core::v1::Endpoints,
            PersistentVolumeClaim: core::v1::PersistentVolumeClaim,
            PersistentVolume: core::v1::PersistentVolume, Node: core::v1::Node,
            ResourceQuota: core::v1::ResourceQuota, LimitRange: core::v1::LimitRange,
            DeleteOptions: meta::v1::DeleteOptions,
        ],
        "meta.k8s.io/v1" => [DeleteOptions: meta::v1::DeleteOptions],
        "apps/v1" => [
            Deployment: apps::v1::Deployment, StatefulSet: apps::v1::StatefulSet,
            DaemonSet: apps::v1::DaemonSet, ReplicaSet: apps::v1::ReplicaSet,
            ControllerRevision: apps::v1::ControllerRevision,
        ],
        "batch/v1" => [Job: batch::v1::Job, CronJob: batch::v1::CronJob],
        "rbac.authorization.k8s.io/v1" => [
            Role: rbac::v1::Role, ClusterRole: rbac::v1::ClusterRole,
            RoleBinding: rbac::v1::RoleBinding, ClusterRoleBinding: rbac::v1::ClusterRoleBinding,
        ],
        "networking.k8s.io/v1" => [
            NetworkPolicy: networking::v1::NetworkPolicy, Ingress: networking::v1::Ingress,
            IngressClass: networking::v1::IngressClass,
        ],
        "scheduling.k8s.io/v1" => [PriorityClass: scheduling::v1::PriorityClass],
        "storage.k8s.io/v1" => [StorageClass: storage::v1::StorageClass],
        "policy/v1" => [PodDisruptionBudget: policy::v1::PodDisruptionBudget],
        "coordination.k8s.io/v1" => [Lease: coordination::v1::Lease],
        "autoscaling/v1" => [Scale: autoscaling::v1::Scale],
        "autoscaling/v2" => [HorizontalPodAutoscaler: autoscaling::v2::HorizontalPodAutoscaler],
        "authorization.k8s.io/v1" => [
            SelfSubjectAccessReview: authorization::v1::SelfSubjectAccessReview,
            SelfSubjectRulesReview: authorization::v1::SelfSubjectRulesReview,
        ],
        "admissionregistration.k8s.io/v1" => [
            ValidatingWebhookConfiguration: admission::v1::ValidatingWebhookConfiguration,
            MutatingWebhookConfiguration: admission::v1::MutatingWebhookConfiguration,
        ],
        "apiextensions.k8s.io/v1" => [CustomResourceDefinition: apiextensions::v1::CustomResourceDefinition],
    })
}

/// Decodes a protobuf body into its JSON object (with `apiVersion` and
/// `kind` from the envelope).
///
/// # Errors
/// [`DecodeError`].
pub fn decode(body: &[u8]) -> Result<Value, DecodeError> {
    let envelope = body
        .strip_prefix(MAGIC)
        .ok_or_else(|| DecodeError::Malformed("missing the k8s\\0 prefix".into()))?;
    let unknown = Unknown::parse_from_bytes(envelope).map_err(|e| DecodeError::Malformed(e.to_string()))?;
    let api_version = unknown.typeMeta.apiVersion.clone().unwrap_or_default();
    let kind = unknown.typeMeta.kind.clone().unwrap_or_default();
    let raw = unknown.raw.as_deref().unwrap_or_default();
    let decoded = decode_kind(&api_version, &kind, raw)
        .ok_or_else(|| DecodeError::UnknownKind(format!("{api_version}, Kind={kind}")))??;
    let mut object = json::clean(decoded, &kind).unwrap_or_else(|| json!({}));
    if let Some(map) = object.as_object_mut() {
        map.insert("apiVersion".into(), json!(api_version));
        map.insert("kind".into(), json!(kind));
    }
    Ok(object)
}

/// Wraps a message in the `k8s\0` envelope, as client-go sends it (for tests).
pub fn envelope(api_version: &str, kind: &str, raw: Vec<u8>) -> Vec<u8> {
    let mut unknown = Unknown::new();
    let mut type_meta = k8s_rs_pb::apimachinery::pkg::runtime::TypeMeta::new();
    type_meta.apiVersion = Some(api_version.to_string());
    type_meta.kind = Some(kind.to_string());
    unknown.typeMeta = protobuf::MessageField::some(type_meta);
    unknown.raw = Some(raw);
    let mut out = MAGIC.to_vec();
    out.extend(unknown.write_to_bytes().unwrap_or_default());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_rs_pb::api::core::v1::ConfigMap;

    #[test]
    fn a_config_map_decodes_as_its_json_form() {
        let mut cm = ConfigMap::new();
        let mut meta = meta::v1::ObjectMeta::new();
        meta.name = Some("a".into());
        meta.namespace = Some(String::new());
        meta.generateName = Some(String::new());
        meta.labels.insert("x".into(), "y".into());
        meta.creationTimestamp = protobuf::MessageField::some(meta::v1::Time::new());
        cm.metadata = protobuf::MessageField::some(meta);
        cm.data.insert("a".into(), "b".into());
        cm.binaryData.insert("bin".into(), vec![0, 1]);
        let body = envelope("v1", "ConfigMap", cm.write_to_bytes().unwrap());
        assert_eq!(
            decode(&body).unwrap(),
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "labels": {"x": "y"}},
                   "data": {"a": "b"}, "binaryData": {"bin": "AAE="}})
        );
    }

    #[test]
    fn unknown_kinds_and_garbage_are_refused() {
        let body = envelope("argoproj.io/v1alpha1", "Application", vec![]);
        assert!(matches!(decode(&body), Err(DecodeError::UnknownKind(_))));
        assert!(matches!(decode(b"{}"), Err(DecodeError::Malformed(_))));
        let mut bad = MAGIC.to_vec();
        bad.extend([0xff, 0xff, 0xff]);
        assert!(matches!(decode(&bad), Err(DecodeError::Malformed(_))));
        assert!(accepts_json("application/vnd.kubernetes.protobuf,application/json"));
        assert!(!accepts_json("application/vnd.kubernetes.protobuf"));
        assert!(accepts_json(""));
    }
}
