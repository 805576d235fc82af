//! Just enough of the Kubernetes protobuf encoding to read access reviews.
//!
//! kubectl's typed clients (`kubectl auth can-i`) send
//! SelfSubjectAccessReview and SelfSubjectRulesReview bodies as protobuf
//! and accept a JSON answer. kube-sim otherwise speaks JSON only, so this
//! reads the `k8s\0` envelope and the few review fields, nothing else.

use serde_json::{Value, json};

const MAGIC: &[u8] = b"k8s\0";

enum Field<'a> {
    Varint,
    Bytes(&'a [u8]),
}

fn varint(buf: &[u8], pos: &mut usize) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *buf.get(*pos)?;
        *pos += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

fn fields(buf: &[u8]) -> Option<Vec<(u64, Field<'_>)>> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < buf.len() {
        let key = varint(buf, &mut pos)?;
        let (number, wire) = (key >> 3, key & 7);
        match wire {
            0 => {
                varint(buf, &mut pos)?;
                out.push((number, Field::Varint));
            }
            2 => {
                let len = usize::try_from(varint(buf, &mut pos)?).ok()?;
                let bytes = buf.get(pos..pos.checked_add(len)?)?;
                pos += len;
                out.push((number, Field::Bytes(bytes)));
            }
            1 => pos += 8,
            5 => pos += 4,
            _ => return None,
        }
    }
    Some(out)
}

fn bytes_of(buf: &[u8], number: u64) -> Option<&[u8]> {
    fields(buf)?.into_iter().find_map(|(n, f)| match f {
        Field::Bytes(b) if n == number => Some(b),
        _ => None,
    })
}

fn text(buf: &[u8], number: u64) -> String {
    bytes_of(buf, number)
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .unwrap_or_default()
}

/// Decodes a protobuf SelfSubjectAccessReview or SelfSubjectRulesReview into
/// its JSON form; `None` if the body is not one.
pub fn decode_review(body: &[u8], resource: &str) -> Option<Value> {
    let envelope = body.strip_prefix(MAGIC)?;
    let raw = bytes_of(envelope, 2)?;
    let spec = bytes_of(raw, 2).unwrap_or_default();
    if resource == "selfsubjectrulesreviews" {
        return Some(json!({"spec": {"namespace": text(spec, 1)}}));
    }
    let spec_json = match bytes_of(spec, 1) {
        Some(attrs) => json!({"resourceAttributes": {
            "namespace": text(attrs, 1), "verb": text(attrs, 2), "group": text(attrs, 3),
            "version": text(attrs, 4), "resource": text(attrs, 5), "subresource": text(attrs, 6),
            "name": text(attrs, 7),
        }}),
        None => json!({"nonResourceAttributes": {}}),
    };
    Some(json!({"spec": spec_json}))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(number: u8, bytes: &[u8]) -> Vec<u8> {
        let mut out = vec![(number << 3) | 2, bytes.len() as u8];
        out.extend_from_slice(bytes);
        out
    }

    #[test]
    fn reads_an_access_review() {
        let attrs = [field(2, b"create"), field(3, b"apps"), field(5, b"deployments")].concat();
        let spec = field(1, &attrs);
        let raw = field(2, &spec);
        let unknown = [field(1, &field(2, b"SelfSubjectAccessReview")), field(2, &raw)].concat();
        let body = [MAGIC.to_vec(), unknown].concat();
        let review = decode_review(&body, "selfsubjectaccessreviews").unwrap();
        assert_eq!(review["spec"]["resourceAttributes"]["verb"], "create");
        assert_eq!(review["spec"]["resourceAttributes"]["resource"], "deployments");
    }
}
