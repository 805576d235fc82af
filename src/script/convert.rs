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
            Dynamic::from_map(out)
        }
    }
}

/// Rhai → JSON. Secrets are exposed (the caller is a primitive writing them
/// where they belong); functions and other opaque values are errors.
///
/// # Errors
/// A message naming the unsupported value's type.
pub fn to_json(value: &Dynamic) -> Result<Value, String> {
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
        return items
            .iter()
            .map(to_json)
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array);
    }
    if value.is_map() {
        let map = value.read_lock::<Map>().ok_or("unreadable map")?;
        let mut out = serde_json::Map::new();
        for (k, v) in map.iter() {
            out.insert(k.to_string(), to_json(v)?);
        }
        return Ok(Value::Object(out));
    }
    if let Some(plan) = value.clone().try_cast::<super::plan_view::PlanView>() {
        return Ok(plan.to_json());
    }
    if let Some(secret) = value.clone().try_cast::<SecretValue>() {
        return Ok(Value::String(secret.0.expose().to_owned()));
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
    fn secrets_are_exposed_only_into_json() {
        let mut map = Map::new();
        map.insert(
            "password".into(),
            Dynamic::from(SecretValue(Secret::new("pa55-w0rd-xyz"))),
        );
        let value = Dynamic::from_map(map);
        assert_eq!(to_json(&value).unwrap(), json!({"password": "pa55-w0rd-xyz"}));
    }
}
