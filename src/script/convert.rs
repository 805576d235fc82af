//! Between JSON (how the Rust core sees Kubernetes objects) and Rhai values.
//!
//! Hand-written rather than through serde so that a secret read by a script
//! ([`SecretValue`]) can travel inside an object map to the one primitive
//! that must write it (e.g. a Kubernetes Secret) while printing as
//! `<redacted>` everywhere else.

use rhai::{Array, Dynamic, ImmutableString, Map};
use serde_json::{Number, Value};

use crate::redact::Secret;

/// A secret as scripts see it: passable to primitives, printed as `<redacted>`.
#[derive(Debug, Clone)]
pub struct SecretValue(pub Secret);

/// A value of a Secret's `data` read from the cluster, as scripts see it:
/// opaque like [`SecretValue`], still base64-encoded, so it can be written
/// back to a Secret's `data` unchanged (and nowhere else).
#[derive(Debug, Clone)]
pub struct EncodedSecretValue(pub Secret);

/// Whether a JSON object is a Secret: by `kind`, or — list items carry no
/// `kind` — by a Secret's shape (`metadata`, a string `type`, a `data` map).
fn is_secret_object(map: &serde_json::Map<String, Value>) -> bool {
    map.get("kind").and_then(Value::as_str) == Some("Secret")
        || (map.get("metadata").is_some_and(Value::is_object)
            && map.get("type").is_some_and(Value::is_string)
            && map.get("data").is_some_and(Value::is_object))
}

/// A JSON object → a Rhai map (anything else → an empty map): for
/// primitives whose result is always an object.
pub fn to_map(value: &Value) -> Map {
    to_dynamic(value).try_cast::<Map>().unwrap_or_default()
}

/// JSON → Rhai.
pub fn to_dynamic(value: &Value) -> Dynamic {
    match value {
        Value::Null => Dynamic::UNIT,
        Value::Bool(b) => Dynamic::from_bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Dynamic::from_int(i),
            None => Dynamic::from_float(n.as_f64().unwrap_or_default()),
        },
        Value::String(s) => Dynamic::from(ImmutableString::from(s.as_str())),
        Value::Array(items) => Dynamic::from_array(items.iter().map(to_dynamic).collect::<Array>()),
        Value::Object(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                out.insert(k.as_str().into(), to_dynamic(v));
            }
            // A Secret read from the cluster: its values stay opaque to the
            // script, like a secret of `$SECRETS_DIR`.
            if is_secret_object(map)
                && let Some(Value::Object(data)) = map.get("data")
            {
                let opaque: Map = data
                    .iter()
                    .map(|(k, v)| {
                        let value = v.as_str().unwrap_or_default();
                        (k.as_str().into(), Dynamic::from(EncodedSecretValue(Secret::new(value))))
                    })
                    .collect();
                out.insert("data".into(), Dynamic::from_map(opaque));
            }
            Dynamic::from_map(out)
        }
    }
}

/// Rhai → JSON for values a primitive reads or hands back (objects to
/// assess, patches, report entries, ...): a secret anywhere is refused, so
/// no primitive can turn one into text a script gets back (issue 18).
///
/// # Errors
/// A message naming the unsupported value's type, or where a secret was.
pub fn to_json(value: &Dynamic) -> Result<Value, String> {
    convert(value, &mut Vec::new(), &|_| None)
}

/// Rhai → JSON for an object a primitive writes to the cluster: a secret
/// is exposed only as a value of a `Secret`'s `stringData` (as is) or
/// `data` (base64-encoded, as `data` holds), and refused anywhere else.
///
/// # Errors
/// As [`to_json`].
pub fn to_object_json(value: &Dynamic) -> Result<Value, String> {
    let is_secret = value
        .read_lock::<Map>()
        .and_then(|map| map.get("kind").map(text))
        .is_some_and(|kind| kind == "Secret");
    convert(value, &mut Vec::new(), &|path: &[String]| match (is_secret, path) {
        (true, [field, _]) if field == "stringData" => Some(false),
        (true, [field, _]) if field == "data" => Some(true),
        _ => None,
    })
}

/// Where in a value `path` is, for a refusal.
fn shown(path: &[String]) -> String {
    if path.is_empty() {
        "the value itself".to_owned()
    } else {
        path.join(".")
    }
}

/// `secret_at(path)`: `None` where a secret may not be, `Some(base64)` where it may.
fn convert(
    value: &Dynamic,
    path: &mut Vec<String>,
    secret_at: &dyn Fn(&[String]) -> Option<bool>,
) -> Result<Value, String> {
    if value.is_unit() {
        return Ok(Value::Null);
    }
    if let Some(b) = value.clone().try_cast::<bool>() {
        return Ok(Value::Bool(b));
    }
    if let Ok(i) = value.as_int() {
        return Ok(Value::Number(i.into()));
    }
    if let Ok(f) = value.as_float() {
        return Number::from_f64(f)
            .map(Value::Number)
            .ok_or_else(|| format!("{f} is not a JSON number"));
    }
    if value.is_string() {
        return Ok(Value::String(value.clone().into_string().unwrap_or_default()));
    }
    if let Ok(c) = value.as_char() {
        return Ok(Value::String(c.to_string()));
    }
    if value.is_array() {
        let items = value.read_lock::<Array>().ok_or("unreadable array")?;
        let mut out = Vec::with_capacity(items.len());
        for (index, item) in items.iter().enumerate() {
            path.push(index.to_string());
            out.push(convert(item, path, secret_at)?);
            path.pop();
        }
        return Ok(Value::Array(out));
    }
    if value.is_map() {
        let map = value.read_lock::<Map>().ok_or("unreadable map")?;
        let mut out = serde_json::Map::new();
        for (k, v) in map.iter() {
            path.push(k.to_string());
            out.insert(k.to_string(), convert(v, path, secret_at)?);
            path.pop();
        }
        return Ok(Value::Object(out));
    }
    if let Some(plan) = value.clone().try_cast::<super::plan_view::PlanView>() {
        return Ok(plan.to_json());
    }
    if let Some(secret) = value.clone().try_cast::<EncodedSecretValue>() {
        return match secret_at(path) {
            Some(true) => Ok(Value::String(secret.0.expose().to_owned())),
            _ => Err(format!(
                "a Secret's data read from the cluster cannot go here (`{}`): only back into a Secret's `data`",
                shown(path)
            )),
        };
    }
    if let Some(secret) = value.clone().try_cast::<SecretValue>() {
        return match secret_at(path) {
            Some(false) => Ok(Value::String(secret.0.expose().to_owned())),
            Some(true) => {
                use base64::Engine as _;
                Ok(Value::String(
                    base64::engine::general_purpose::STANDARD.encode(secret.0.expose()),
                ))
            }
            None => Err(format!(
                "a secret cannot go here (`{}`): only a value of a Secret's `stringData` or `data` given to k8s::apply or k8s::create may hold one",
                shown(path)
            )),
        };
    }
    Err(format!(
        "a value of type `{}` cannot be part of a Kubernetes object",
        value.type_name()
    ))
}

/// Rhai value as text for messages (strings unquoted).
pub fn text(value: &Dynamic) -> String {
    if value.is_string() {
        value.clone().into_string().unwrap_or_default()
    } else {
        value.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trips_objects() {
        let object = json!({"a": [1, 2.5, "x", true, null, {"b": {}}]});
        assert_eq!(to_json(&to_dynamic(&object)).unwrap(), object);
    }

    #[test]
    fn secrets_are_exposed_only_into_a_secrets_data() {
        let secret = || Dynamic::from(SecretValue(Secret::new("pa55-w0rd-xyz")));
        let object = |kind: &str, field: &str| {
            let mut data = Map::new();
            data.insert("password".into(), secret());
            let mut map = Map::new();
            map.insert("kind".into(), Dynamic::from(kind.to_owned()));
            map.insert(field.into(), Dynamic::from_map(data));
            Dynamic::from_map(map)
        };
        assert_eq!(
            to_object_json(&object("Secret", "stringData")).unwrap()["stringData"],
            json!({"password": "pa55-w0rd-xyz"})
        );
        assert_eq!(
            to_object_json(&object("Secret", "data")).unwrap()["data"],
            json!({"password": "cGE1NS13MHJkLXh5eg=="})
        );
        // Anywhere else, in any other object, or through any primitive that
        // hands a value back: refused, naming where.
        let refused = to_object_json(&object("ConfigMap", "data")).unwrap_err();
        assert!(refused.contains("`data.password`"), "{refused}");
        assert!(to_json(&object("Secret", "stringData")).is_err());
        assert!(to_json(&secret()).unwrap_err().contains("the value itself"));
    }
}
