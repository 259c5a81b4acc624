//! `metav1.Status` bodies: the one builder every error and success response uses.

use serde_json::{Value, json};

/// A `Failure` Status. An empty `reason` is left out (as the apiserver does for plain internal
/// errors); `details` is included when given.
pub fn failure(code: u16, reason: &str, message: &str, details: Option<Value>) -> Value {
    let mut s = json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "code": code,
    });
    if !reason.is_empty() {
        s["reason"] = json!(reason);
    }
    if let Some(d) = details {
        s["details"] = d;
    }
    s
}

/// A `Success` Status (DELETE of kinds that do not answer the object: no code; eviction: 201).
pub fn success(code: Option<u16>, details: Option<Value>) -> Value {
    let mut s = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"});
    if let Some(c) = code {
        s["code"] = json!(c);
    }
    if let Some(d) = details {
        s["details"] = d;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_and_success_shapes() {
        assert_eq!(
            failure(
                404,
                "NotFound",
                "pods \"x\" not found",
                Some(json!({"name": "x"}))
            ),
            json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                   "message": "pods \"x\" not found", "reason": "NotFound",
                   "details": {"name": "x"}, "code": 404})
        );
        assert_eq!(
            failure(500, "", "boom", None),
            json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                   "message": "boom", "code": 500})
        );
        assert_eq!(
            success(Some(201), None),
            json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201})
        );
    }
}
