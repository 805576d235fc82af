//! Validation of a custom resource against its structural schema, with the
//! errors kube-apiserver gives.
//!
//! Messages are kube-openapi's (`k8s.io/kube-openapi/pkg/validation/errors`:
//! `%s in body must be of type %s: %q`, `should be greater than or equal
//! to`, `should match '%s'`, ...), wrapped into `field.Error`s the way
//! k8s.io/apiextensions-apiserver `pkg/apiserver/validation/validation.go`
//! does: required → `Required value`, enum → `Unsupported value`, type →
//! `FieldValueTypeInvalid`, maxLength → `Too long`, maxItems → `Too many`,
//! everything else `Invalid value`; list-type duplicates are
//! `Duplicate value` (`pkg/apiserver/schema/listtype`). The 422 message and
//! `details` are k8s.io/apimachinery `errors.NewInvalid`'s.

use crate::api::ApiError;
use serde_json::{Value, json};

/// The kind of a field error (k8s.io/apimachinery `field.ErrorType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorType {
    /// `FieldValueRequired`.
    Required,
    /// `FieldValueInvalid`.
    Invalid,
    /// `FieldValueTypeInvalid`.
    TypeInvalid,
    /// `FieldValueNotSupported`.
    NotSupported,
    /// `FieldValueDuplicate`.
    Duplicate,
    /// `FieldValueTooLong`.
    TooLong,
    /// `FieldValueTooMany`.
    TooMany,
}

impl ErrorType {
    fn reason(self) -> &'static str {
        match self {
            Self::Required => "FieldValueRequired",
            Self::Invalid => "FieldValueInvalid",
            Self::TypeInvalid => "FieldValueTypeInvalid",
            Self::NotSupported => "FieldValueNotSupported",
            Self::Duplicate => "FieldValueDuplicate",
            Self::TooLong => "FieldValueTooLong",
            Self::TooMany => "FieldValueTooMany",
        }
    }

    fn text(self) -> &'static str {
        match self {
            Self::Required => "Required value",
            Self::Invalid | Self::TypeInvalid => "Invalid value",
            Self::NotSupported => "Unsupported value",
            Self::Duplicate => "Duplicate value",
            Self::TooLong => "Too long",
            Self::TooMany => "Too many",
        }
    }
}

/// One field error.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    /// What kind of error.
    pub kind: ErrorType,
    /// The field path (`spec.source.path`, `spec.sources[1].repoURL`).
    pub field: String,
    /// The offending value (`None` where the message shows none).
    pub value: Option<Value>,
    /// The detail after the value.
    pub detail: String,
}

impl FieldError {
    /// The message without the field (`Invalid value: "integer": ...`), as
    /// `details.causes[].message` carries it.
    pub fn body(&self) -> String {
        let mut text = self.kind.text().to_string();
        if let Some(v) = &self.value
            && !matches!(self.kind, ErrorType::Required | ErrorType::TooLong)
        {
            text.push_str(": ");
            text.push_str(&go_value(v));
        }
        if !self.detail.is_empty() {
            text.push_str(": ");
            text.push_str(&self.detail);
        }
        text
    }
}

/// A value as Go's `%#v`/`%q` prints it in field errors.
fn go_value(value: &Value) -> String {
    match value {
        Value::String(s) => format!("{s:?}"),
        Value::Null => "null".into(),
        Value::Object(map) => {
            let entries: Vec<String> = map.iter().map(|(k, v)| format!("{k:?}:{}", go_value(v))).collect();
            format!("map[string]interface {{}}{{{}}}", entries.join(", "))
        }
        other => other.to_string(),
    }
}

/// `422 Invalid` for a custom resource (`<Kind>.<group> "<name>" is
/// invalid: ...`), with one cause per error.
pub fn invalid(kind: &str, group: &str, name: &str, errors: &[FieldError]) -> ApiError {
    let texts: Vec<String> = errors.iter().map(|e| format!("{}: {}", e.field, e.body())).collect();
    let aggregate = if texts.len() == 1 {
        texts[0].clone()
    } else {
        format!("[{}]", texts.join(", "))
    };
    let mut e = ApiError::new(
        422,
        "Invalid",
        format!("{kind}.{group} \"{name}\" is invalid: {aggregate}"),
    );
    let causes: Vec<Value> = errors
        .iter()
        .map(|e| json!({"reason": e.kind.reason(), "message": e.body(), "field": e.field}))
        .collect();
    e.details = Some(Box::new(
        json!({"name": name, "group": group, "kind": kind, "causes": causes}),
    ));
    e
}

/// Validates a whole custom resource (after pruning and defaulting).
pub fn validate(schema: &Value, object: &Value) -> Vec<FieldError> {
    let mut errors = Vec::new();
    at(schema, object, "", &mut errors);
    errors
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn name(path: &str) -> &str {
    if path.is_empty() { "." } else { path }
}

fn invalid_at(errors: &mut Vec<FieldError>, path: &str, value: &Value, detail: String) {
    errors.push(FieldError {
        kind: ErrorType::Invalid,
        field: name(path).to_string(),
        value: Some(value.clone()),
        detail,
    });
}

fn type_matches(schema: &Value, value: &Value) -> bool {
    let actual = json_type(value);
    if value.is_null() {
        return schema["nullable"].as_bool() == Some(true);
    }
    if schema["x-kubernetes-int-or-string"].as_bool() == Some(true) {
        return matches!(actual, "integer" | "string");
    }
    match schema["type"].as_str() {
        None | Some("") => true,
        Some("number") => matches!(actual, "integer" | "number"),
        Some(t) => t == actual,
    }
}

fn at(schema: &Value, value: &Value, path: &str, errors: &mut Vec<FieldError>) {
    if !type_matches(schema, value) {
        let expected = schema["type"].as_str().unwrap_or("string");
        let actual = json_type(value);
        errors.push(FieldError {
            kind: ErrorType::TypeInvalid,
            field: name(path).to_string(),
            value: Some(json!(actual)),
            detail: format!("{} in body must be of type {expected}: \"{actual}\"", name(path)),
        });
        return;
    }
    if value.is_null() {
        return;
    }
    if let Some(allowed) = schema["enum"].as_array()
        && !allowed.contains(value)
    {
        let values: Vec<String> = allowed
            .iter()
            .map(|v| {
                v.as_str()
                    .map(|s| format!("{s:?}"))
                    .unwrap_or_else(|| format!("{:?}", v.to_string()))
            })
            .collect();
        errors.push(FieldError {
            kind: ErrorType::NotSupported,
            field: name(path).to_string(),
            value: Some(value.clone()),
            detail: format!("supported values: {}", values.join(", ")),
        });
    }
    match value {
        Value::Number(_) => number(schema, value, path, errors),
        Value::String(s) => string(schema, s, value, path, errors),
        Value::Array(items) => array(schema, items, value, path, errors),
        Value::Object(map) => object(schema, map, value, path, errors),
        _ => {}
    }
    combinators(schema, value, path, errors);
}

fn number(schema: &Value, value: &Value, path: &str, errors: &mut Vec<FieldError>) {
    let Some(n) = value.as_f64() else { return };
    let p = name(path);
    let exclusive_min = schema["exclusiveMinimum"].as_bool() == Some(true);
    let exclusive_max = schema["exclusiveMaximum"].as_bool() == Some(true);
    if let Some(min) = schema["minimum"].as_f64() {
        if exclusive_min && n <= min {
            invalid_at(
                errors,
                path,
                value,
                format!("{p} in body should be greater than {}", schema["minimum"]),
            );
        } else if n < min {
            let m = &schema["minimum"];
            invalid_at(
                errors,
                path,
                value,
                format!("{p} in body should be greater than or equal to {m}"),
            );
        }
    }
    if let Some(max) = schema["maximum"].as_f64() {
        if exclusive_max && n >= max {
            invalid_at(
                errors,
                path,
                value,
                format!("{p} in body should be less than {}", schema["maximum"]),
            );
        } else if n > max {
            let m = &schema["maximum"];
            invalid_at(
                errors,
                path,
                value,
                format!("{p} in body should be less than or equal to {m}"),
            );
        }
    }
    if let Some(m) = schema["multipleOf"].as_f64()
        && m > 0.0
        && (n / m).fract().abs() > f64::EPSILON
    {
        let mult = &schema["multipleOf"];
        invalid_at(
            errors,
            path,
            value,
            format!("{p} in body should be a multiple of {mult}"),
        );
    }
    if let Some(format) = schema["format"].as_str() {
        let out = match format {
            "int32" => value.as_i64().is_some_and(|i| i32::try_from(i).is_err()),
            _ => false,
        };
        if out {
            invalid_at(
                errors,
                path,
                value,
                format!("{p} in body must be of type {format}: {value}"),
            );
        }
    }
}

fn string(schema: &Value, s: &str, value: &Value, path: &str, errors: &mut Vec<FieldError>) {
    let p = name(path);
    if schema["x-kubernetes-int-or-string"].as_bool() == Some(true) {
        return;
    }
    let chars = s.chars().count() as u64;
    if let Some(max) = schema["maxLength"].as_u64()
        && chars > max
    {
        errors.push(FieldError {
            kind: ErrorType::TooLong,
            field: p.to_string(),
            value: Some(value.clone()),
            detail: format!("may not be longer than {max}"),
        });
    }
    if let Some(min) = schema["minLength"].as_u64()
        && chars < min
    {
        invalid_at(
            errors,
            path,
            value,
            format!("{p} in body should be at least {min} chars long"),
        );
    }
    if let Some(pattern) = schema["pattern"].as_str()
        && let Ok(re) = regex::Regex::new(pattern)
        && !re.is_match(s)
    {
        invalid_at(errors, path, value, format!("{p} in body should match '{pattern}'"));
    }
    if let Some(format) = schema["format"].as_str()
        && !format_ok(format, s)
    {
        invalid_at(
            errors,
            path,
            value,
            format!("{p} in body must be of type {format}: {s:?}"),
        );
    }
}

/// The formats kube-openapi's default registry checks and CRDs commonly
/// use; others (`password`, unknown names) accept anything, as there.
fn format_ok(format: &str, s: &str) -> bool {
    use base64::Engine;
    match format {
        "date-time" => s.parse::<jiff::Timestamp>().is_ok(),
        "date" => s.parse::<jiff::civil::Date>().is_ok() && s.len() == 10,
        "byte" => base64::engine::general_purpose::STANDARD.decode(s).is_ok(),
        "uuid" => uuid::Uuid::parse_str(s).is_ok() && s.len() == 36,
        "ipv4" => s.parse::<std::net::Ipv4Addr>().is_ok(),
        "ipv6" => s.parse::<std::net::Ipv6Addr>().is_ok(),
        "duration" => crate::time::parse_go_duration(s).is_some(),
        _ => true,
    }
}

fn array(schema: &Value, items: &[Value], value: &Value, path: &str, errors: &mut Vec<FieldError>) {
    let p = name(path);
    if let Some(max) = schema["maxItems"].as_u64()
        && items.len() as u64 > max
    {
        let s = if max == 1 { "" } else { "s" };
        errors.push(FieldError {
            kind: ErrorType::TooMany,
            field: p.to_string(),
            value: Some(json!(items.len())),
            detail: format!("must have at most {max} item{s}"),
        });
    }
    if let Some(min) = schema["minItems"].as_u64()
        && (items.len() as u64) < min
    {
        invalid_at(
            errors,
            path,
            value,
            format!("{p} in body should have at least {min} items"),
        );
    }
    if schema["uniqueItems"].as_bool() == Some(true) && has_duplicates(items) {
        invalid_at(errors, path, value, format!("{p} in body shouldn't contain duplicates"));
    }
    list_type(schema, items, path, errors);
    if let Some(item_schema) = schema.get("items").filter(|i| i.is_object()) {
        for (i, item) in items.iter().enumerate() {
            at(item_schema, item, &format!("{path}[{i}]"), errors);
        }
    }
}

fn has_duplicates(items: &[Value]) -> bool {
    items.iter().enumerate().any(|(i, a)| items[..i].contains(a))
}

/// `x-kubernetes-list-type: set` (unique values) and `map` (unique keys).
fn list_type(schema: &Value, items: &[Value], path: &str, errors: &mut Vec<FieldError>) {
    match schema["x-kubernetes-list-type"].as_str() {
        Some("set") => {
            for (i, item) in items.iter().enumerate() {
                if items[..i].contains(item) {
                    errors.push(FieldError {
                        kind: ErrorType::Duplicate,
                        field: format!("{path}[{i}]"),
                        value: Some(item.clone()),
                        detail: String::new(),
                    });
                }
            }
        }
        Some("map") => {
            let keys: Vec<&str> = schema["x-kubernetes-list-map-keys"]
                .as_array()
                .map(|k| k.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let key_of = |item: &Value| -> Value {
                let mut key = serde_json::Map::new();
                for k in &keys {
                    if let Some(v) = item.get(*k) {
                        key.insert((*k).to_string(), v.clone());
                    }
                }
                Value::Object(key)
            };
            let all: Vec<Value> = items.iter().map(key_of).collect();
            for (i, key) in all.iter().enumerate() {
                if all[..i].contains(key) {
                    errors.push(FieldError {
                        kind: ErrorType::Duplicate,
                        field: format!("{path}[{i}]"),
                        value: Some(key.clone()),
                        detail: String::new(),
                    });
                }
            }
        }
        _ => {}
    }
}

fn object(
    schema: &Value,
    map: &serde_json::Map<String, Value>,
    value: &Value,
    path: &str,
    errors: &mut Vec<FieldError>,
) {
    let p = name(path);
    if let Some(required) = schema["required"].as_array() {
        for r in required.iter().filter_map(Value::as_str) {
            if !map.contains_key(r) {
                errors.push(FieldError {
                    kind: ErrorType::Required,
                    field: child(path, r),
                    value: None,
                    detail: String::new(),
                });
            }
        }
    }
    if schema["x-kubernetes-embedded-resource"].as_bool() == Some(true) {
        for r in ["apiVersion", "kind"] {
            if map.get(r).and_then(Value::as_str).is_none_or(str::is_empty) {
                errors.push(FieldError {
                    kind: ErrorType::Required,
                    field: child(path, r),
                    value: None,
                    detail: "must not be empty".into(),
                });
            }
        }
    }
    if let Some(max) = schema["maxProperties"].as_u64()
        && map.len() as u64 > max
    {
        errors.push(FieldError {
            kind: ErrorType::TooMany,
            field: p.to_string(),
            value: Some(json!(map.len())),
            detail: format!("must have at most {max} items"),
        });
    }
    if let Some(min) = schema["minProperties"].as_u64()
        && (map.len() as u64) < min
    {
        invalid_at(
            errors,
            path,
            value,
            format!("{p} in body should have at least {min} properties"),
        );
    }
    let props = schema["properties"].as_object();
    let additional = schema.get("additionalProperties").filter(|a| a.is_object());
    for (k, v) in map {
        if path.is_empty() && k == "metadata" {
            continue;
        }
        if let Some(sub) = props.and_then(|p| p.get(k)).or(additional) {
            at(sub, v, &child(path, k), errors);
        }
    }
}

fn child(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}.{name}")
    }
}

fn passes(schema: &Value, value: &Value) -> bool {
    let mut errors = Vec::new();
    at(schema, value, "", &mut errors);
    errors.is_empty()
}

/// `allOf`, `anyOf`, `oneOf` and `not` (value validations only, as
/// structural schemas allow).
fn combinators(schema: &Value, value: &Value, path: &str, errors: &mut Vec<FieldError>) {
    let p = name(path);
    if let Some(all) = schema["allOf"].as_array() {
        for s in all {
            at(s, value, path, errors);
        }
    }
    if let Some(any) = schema["anyOf"].as_array()
        && !any.iter().any(|s| passes(s, value))
    {
        invalid_at(
            errors,
            path,
            value,
            format!("{p} in body must validate at least one schema (anyOf)"),
        );
    }
    if let Some(one) = schema["oneOf"].as_array()
        && one.iter().filter(|s| passes(s, value)).count() != 1
    {
        invalid_at(
            errors,
            path,
            value,
            format!("{p} in body must validate one and only one schema (oneOf)"),
        );
    }
    if let Some(not) = schema.get("not").filter(|n| n.is_object())
        && passes(not, value)
    {
        invalid_at(
            errors,
            path,
            value,
            format!("{p} in body must not validate the schema (not)"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_read_like_kube_apiserver() {
        let schema = json!({"type": "object", "properties": {"spec": {"type": "object", "required": ["a"],
            "properties": {"a": {"type": "string"}, "b": {"type": "string", "enum": ["x", "y"]},
                           "n": {"type": "integer", "minimum": 1}, "s": {"type": "string", "maxLength": 3}}}}});
        let errors = validate(&schema, &json!({"spec": {"b": "z", "n": 0, "s": "long"}}));
        let texts: Vec<String> = errors.iter().map(|e| format!("{}: {}", e.field, e.body())).collect();
        assert_eq!(
            texts,
            [
                "spec.a: Required value",
                "spec.b: Unsupported value: \"z\": supported values: \"x\", \"y\"",
                "spec.n: Invalid value: 0: spec.n in body should be greater than or equal to 1",
                "spec.s: Too long: may not be longer than 3",
            ]
        );
        let errors = validate(&schema, &json!({"spec": {"a": 42}}));
        assert_eq!(
            errors[0].body(),
            "Invalid value: \"integer\": spec.a in body must be of type string: \"integer\""
        );
    }
}
