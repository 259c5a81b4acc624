//! Patches: JSON merge patch (RFC 7386), JSON patch (RFC 6902), strategic merge patch, and an
//! approximation of server-side apply with `metadata.managedFields`.
//!
//! # Strategic merge patch
//! Kubernetes reads the patch strategy of each list from the Go struct tags of the built-in type.
//! kubesim has no Go types, so [`list_strategy`] decides by the *field name* (and, for `ports`,
//! by the element shape): `containers`/`initContainers`/`ephemeralContainers`/`env`/`volumes`/
//! `imagePullSecrets`/`resourceClaims`/`schedulingGates`/`secrets` merge by `name`, `volumeMounts`
//! by `mountPath`, `volumeDevices` by `devicePath`, `ports` by `containerPort` (container ports) or
//! `port` (service ports), `conditions`/node `addresses` by `type`, `ownerReferences` by `uid`,
//! `hostAliases`/`podIPs`/`hostIPs` by `ip`, `topologySpreadConstraints` by `topologyKey`;
//! `finalizers` and `podCIDRs` are merged primitive lists; every other list is replaced.
//! Directives: `$patch: replace|delete|merge` (in maps and as list elements),
//! `$retainKeys`, `$deleteFromPrimitiveList/<list>`, `$setElementOrder/<list>` (honoured for the
//! order of the listed elements). Directive keys are never stored.
//!
//! # Server-side apply
//! Server-side apply and `metadata.managedFields` live in `ssa.rs` (typed by the CRD schemas,
//! built-in lists by a field-name table); the functions are re-exported here.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

/// RFC 7386 JSON merge patch (`application/merge-patch+json`): `null` deletes.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    json_patch::merge(target, patch);
}

/// RFC 6902 JSON patch (`application/json-patch+json`), atomic: on error the target is unchanged.
pub fn json_patch(target: &mut Value, patch: &Value) -> Result<(), String> {
    let ops: json_patch::Patch =
        serde_json::from_value(patch.clone()).map_err(|e| format!("invalid JSON patch: {e}"))?;
    json_patch::patch(target, &ops).map_err(|e| e.to_string())
}

/// How a list is merged (strategic merge patch) and owned (server-side apply).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListStrategy {
    /// Elements are maps identified by this key.
    Map(&'static str),
    /// Primitive elements, merged as a set.
    Set,
    /// The whole list is replaced.
    Atomic,
}

/// Patch strategy of a list field, from its name (and for `ports`/`addresses` the element shape).
pub fn list_strategy(field: &str, elements: &[&Value]) -> ListStrategy {
    let any_has = |k: &str| elements.iter().any(|e| e.get(k).is_some());
    match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "env"
        | "volumes"
        | "imagePullSecrets"
        | "resourceClaims"
        | "schedulingGates"
        | "secrets" => ListStrategy::Map("name"),
        "volumeMounts" => ListStrategy::Map("mountPath"),
        "volumeDevices" => ListStrategy::Map("devicePath"),
        "ports" if any_has("containerPort") => ListStrategy::Map("containerPort"),
        "ports" if any_has("port") => ListStrategy::Map("port"),
        "conditions" => ListStrategy::Map("type"),
        "addresses" if any_has("type") && any_has("address") => ListStrategy::Map("type"),
        "ownerReferences" => ListStrategy::Map("uid"),
        "hostAliases" | "podIPs" | "hostIPs" => ListStrategy::Map("ip"),
        "topologySpreadConstraints" => ListStrategy::Map("topologyKey"),
        "finalizers" | "podCIDRs" => ListStrategy::Set,
        _ => ListStrategy::Atomic,
    }
}

// ------------------------------------------------------------------ strategic merge patch

const PATCH: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const DELETE_PRIMITIVE: &str = "$deleteFromPrimitiveList/";
const SET_ORDER: &str = "$setElementOrder/";

enum Outcome {
    Keep,
    Delete,
}

/// Strategic merge patch (`application/strategic-merge-patch+json`) for built-in types.
pub fn strategic_merge_patch(target: &mut Value, patch: &Value) -> Result<(), String> {
    let Value::Object(p) = patch else {
        return Err(format!(
            "strategic merge patch must be a JSON object, got {patch}"
        ));
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(t) = target else {
        return Err("target is not an object".to_string());
    };
    match smp_map(t, p)? {
        Outcome::Keep => Ok(()),
        Outcome::Delete => {
            t.clear();
            Ok(())
        }
    }
}

fn smp_map(target: &mut Map<String, Value>, patch: &Map<String, Value>) -> Result<Outcome, String> {
    match patch.get(PATCH) {
        None => {}
        Some(Value::String(s)) if s == "merge" => {}
        Some(Value::String(s)) if s == "delete" => return Ok(Outcome::Delete),
        Some(Value::String(s)) if s == "replace" => {
            let mut fresh = Map::new();
            let mut rest = patch.clone();
            rest.remove(PATCH);
            smp_map(&mut fresh, &rest)?;
            *target = fresh;
            return Ok(Outcome::Keep);
        }
        Some(other) => {
            return Err(format!(
                "unknown patch type: {} in map: {}",
                value_text(other),
                Value::Object(patch.clone())
            ));
        }
    }
    let mut orders: Vec<(&str, &Vec<Value>)> = Vec::new();
    for (k, pv) in patch {
        if k == PATCH || k == RETAIN_KEYS {
            continue;
        }
        if let Some(list) = k.strip_prefix(DELETE_PRIMITIVE) {
            let Value::Array(remove) = pv else {
                return Err(format!("{k} must be a list, got {pv}"));
            };
            if let Some(Value::Array(items)) = target.get_mut(list) {
                items.retain(|i| !remove.contains(i));
            }
            continue;
        }
        if let Some(list) = k.strip_prefix(SET_ORDER) {
            if let Value::Array(order) = pv {
                orders.push((list, order));
            }
            continue;
        }
        if k.starts_with('$') {
            return Err(format!("unknown strategic merge patch directive {k:?}"));
        }
        match pv {
            Value::Null => {
                target.remove(k);
            }
            Value::Object(pm) => {
                if let Some(Value::Object(tm)) = target.get_mut(k) {
                    if let Outcome::Delete = smp_map(tm, pm)? {
                        target.remove(k);
                    }
                } else {
                    let mut fresh = Map::new();
                    match smp_map(&mut fresh, pm)? {
                        Outcome::Delete => {
                            target.remove(k);
                        }
                        Outcome::Keep => {
                            target.insert(k.clone(), Value::Object(fresh));
                        }
                    }
                }
            }
            Value::Array(pl) => {
                let mut current = match target.remove(k) {
                    Some(Value::Array(a)) => a,
                    _ => Vec::new(),
                };
                smp_list(k, &mut current, pl)?;
                target.insert(k.clone(), Value::Array(current));
            }
            scalar => {
                target.insert(k.clone(), scalar.clone());
            }
        }
    }
    for (list, order) in orders {
        if let Some(Value::Array(items)) = target.get_mut(list) {
            apply_element_order(list, items, order);
        }
    }
    if let Some(retain) = patch.get(RETAIN_KEYS) {
        let Value::Array(keys) = retain else {
            return Err(format!("$retainKeys must be a list, got {retain}"));
        };
        let keep: BTreeSet<&str> = keys.iter().filter_map(Value::as_str).collect();
        target.retain(|k, _| keep.contains(k.as_str()));
    }
    Ok(Outcome::Keep)
}

fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn is_replace_marker(v: &Value) -> bool {
    v.as_object()
        .is_some_and(|m| m.len() == 1 && m.get(PATCH).and_then(Value::as_str) == Some("replace"))
}

/// Turns a patch value into a stored value (directives resolved against nothing).
fn clean_new(field: &str, v: &Value) -> Result<Option<Value>, String> {
    match v {
        Value::Object(m) => {
            let mut fresh = Map::new();
            Ok(match smp_map(&mut fresh, m)? {
                Outcome::Delete => None,
                Outcome::Keep => Some(Value::Object(fresh)),
            })
        }
        Value::Array(items) => {
            let mut out = Vec::new();
            smp_list(field, &mut out, items)?;
            Ok(Some(Value::Array(out)))
        }
        Value::Null => Ok(None),
        other => Ok(Some(other.clone())),
    }
}

fn smp_list(field: &str, target: &mut Vec<Value>, patch: &[Value]) -> Result<(), String> {
    if patch.iter().any(is_replace_marker) {
        let mut out = Vec::new();
        for item in patch.iter().filter(|i| !is_replace_marker(i)) {
            if let Some(v) = clean_new(field, item)? {
                out.push(v);
            }
        }
        *target = out;
        return Ok(());
    }
    let elems: Vec<&Value> = target.iter().chain(patch.iter()).collect();
    match list_strategy(field, &elems) {
        ListStrategy::Atomic => {
            let mut out = Vec::new();
            for item in patch {
                if let Some(v) = clean_new(field, item)? {
                    out.push(v);
                }
            }
            *target = out;
        }
        ListStrategy::Set => {
            for item in patch {
                if !target.contains(item) {
                    target.push(item.clone());
                }
            }
        }
        ListStrategy::Map(key) => {
            for item in patch {
                let Value::Object(pm) = item else {
                    return Err(format!(
                        "map: {item} does not contain declared merge key: {key}"
                    ));
                };
                let Some(kv) = pm.get(key) else {
                    return Err(format!(
                        "map: {item} does not contain declared merge key: {key}"
                    ));
                };
                let pos = target.iter().position(|t| t.get(key) == Some(kv));
                let delete = pm.get(PATCH).and_then(Value::as_str) == Some("delete");
                match (pos, delete) {
                    (Some(i), true) => {
                        target.remove(i);
                    }
                    (None, true) => {}
                    (Some(i), false) => {
                        if let Some(Value::Object(tm)) = target.get_mut(i)
                            && let Outcome::Delete = smp_map(tm, pm)?
                        {
                            target.remove(i);
                        }
                    }
                    (None, false) => {
                        if let Some(v) = clean_new(field, item)? {
                            target.push(v);
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

fn apply_element_order(field: &str, items: &mut Vec<Value>, order: &[Value]) {
    let elems: Vec<&Value> = items.iter().chain(order.iter()).collect();
    let strategy = list_strategy(field, &elems);
    let identity = |v: &Value| -> Value {
        match strategy {
            ListStrategy::Map(k) => v.get(k).cloned().unwrap_or(Value::Null),
            _ => v.clone(),
        }
    };
    let wanted: Vec<Value> = order.iter().map(&identity).collect();
    // Listed elements take the listed order; others keep their relative position after them.
    let mut listed: Vec<(usize, Value)> = Vec::new();
    let mut rest = Vec::new();
    for item in items.drain(..) {
        match wanted.iter().position(|w| *w == identity(&item)) {
            Some(p) => listed.push((p, item)),
            None => rest.push(item),
        }
    }
    listed.sort_by_key(|(p, _)| *p);
    items.extend(listed.into_iter().map(|(_, v)| v));
    items.extend(rest);
}

pub use crate::ssa::{
    ApplyConflict, managed_paths, record_update_manager, record_update_manager_for,
    server_side_apply,
};

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_rfc7386() {
        let mut t = json!({"a": "b", "c": {"d": "e", "f": "g"}, "l": [1, 2]});
        merge_patch(
            &mut t,
            &json!({"a": "z", "c": {"f": null}, "l": [3], "n": {"x": null}}),
        );
        assert_eq!(t, json!({"a": "z", "c": {"d": "e"}, "l": [3], "n": {}}));
        let mut t = json!({"a": 1});
        merge_patch(&mut t, &json!(["x"]));
        assert_eq!(t, json!(["x"]));
    }

    #[test]
    fn json_patch_rfc6902() {
        let mut t =
            json!({"metadata": {"labels": {"a": "1"}}, "spec": {"replicas": 1, "l": [1, 2]}});
        json_patch(
            &mut t,
            &json!([
                {"op": "replace", "path": "/spec/replicas", "value": 3},
                {"op": "add", "path": "/metadata/labels/b~1c", "value": "2"},
                {"op": "remove", "path": "/spec/l/0"},
                {"op": "add", "path": "/spec/l/-", "value": 9},
                {"op": "test", "path": "/spec/replicas", "value": 3},
                {"op": "copy", "from": "/spec/replicas", "path": "/spec/copy"},
                {"op": "move", "from": "/spec/copy", "path": "/spec/moved"}
            ]),
        )
        .unwrap();
        assert_eq!(
            t,
            json!({"metadata": {"labels": {"a": "1", "b/c": "2"}}, "spec": {"replicas": 3, "l": [2, 9], "moved": 3}})
        );
    }

    #[test]
    fn json_patch_errors_are_atomic() {
        let mut t = json!({"spec": {"replicas": 1}});
        let err = json_patch(
            &mut t,
            &json!([
                {"op": "replace", "path": "/spec/replicas", "value": 5},
                {"op": "test", "path": "/spec/replicas", "value": 1}
            ]),
        )
        .unwrap_err();
        assert!(err.contains("value did not match"), "{err}");
        assert_eq!(t, json!({"spec": {"replicas": 1}}));
        assert!(json_patch(&mut t, &json!([{"op": "remove", "path": "/nope"}])).is_err());
        assert!(
            json_patch(&mut t, &json!({"op": "add"}))
                .unwrap_err()
                .starts_with("invalid JSON patch")
        );
    }

    fn pod() -> Value {
        json!({"spec": {"containers": [
            {"name": "a", "image": "a:1", "env": [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}],
             "ports": [{"containerPort": 80}]},
            {"name": "b", "image": "b:1"}
        ], "tolerations": [{"key": "t1"}]},
        "metadata": {"finalizers": ["f1"], "labels": {"l": "1"}}})
    }

    #[test]
    fn smp_merges_keyed_lists() {
        let mut t = pod();
        strategic_merge_patch(
            &mut t,
            &json!({"spec": {"containers": [
                {"name": "a", "image": "a:2", "env": [{"name": "Y", "value": "3"}, {"name": "Z", "value": "4"}]},
                {"name": "c", "image": "c:1"}
            ]}}),
        )
        .unwrap();
        let cs = &t["spec"]["containers"];
        assert_eq!(cs.as_array().unwrap().len(), 3);
        assert_eq!(cs[0]["image"], "a:2");
        assert_eq!(
            cs[0]["env"],
            json!([{"name": "X", "value": "1"}, {"name": "Y", "value": "3"}, {"name": "Z", "value": "4"}])
        );
        assert_eq!(cs[0]["ports"], json!([{"containerPort": 80}]));
        assert_eq!(cs[1], json!({"name": "b", "image": "b:1"}));
        assert_eq!(cs[2], json!({"name": "c", "image": "c:1"}));
    }

    #[test]
    fn smp_replaces_unknown_lists_and_merges_primitive_sets() {
        let mut t = pod();
        strategic_merge_patch(
            &mut t,
            &json!({"spec": {"tolerations": [{"key": "t2"}]}, "metadata": {"finalizers": ["f2", "f1"]}}),
        )
        .unwrap();
        assert_eq!(t["spec"]["tolerations"], json!([{"key": "t2"}]));
        assert_eq!(t["metadata"]["finalizers"], json!(["f1", "f2"]));
    }

    #[test]
    fn smp_delete_directives() {
        let mut t = pod();
        strategic_merge_patch(
            &mut t,
            &json!({
                "spec": {"containers": [{"name": "b", "$patch": "delete"},
                                        {"name": "a", "env": [{"name": "X", "$patch": "delete"}]}]},
                "metadata": {"$deleteFromPrimitiveList/finalizers": ["f1"], "labels": {"l": null}}
            }),
        )
        .unwrap();
        assert_eq!(t["spec"]["containers"].as_array().unwrap().len(), 1);
        assert_eq!(
            t["spec"]["containers"][0]["env"],
            json!([{"name": "Y", "value": "2"}])
        );
        assert_eq!(t["metadata"]["finalizers"], json!([]));
        assert_eq!(t["metadata"]["labels"], json!({}));

        let mut t = pod();
        strategic_merge_patch(
            &mut t,
            &json!({"metadata": {"labels": {"$patch": "delete"}}}),
        )
        .unwrap();
        assert!(t["metadata"].get("labels").is_none());
    }

    #[test]
    fn smp_replace_directives() {
        let mut t = pod();
        strategic_merge_patch(
            &mut t,
            &json!({"spec": {"containers": [{"$patch": "replace"}, {"name": "only", "image": "o"}]},
                    "metadata": {"labels": {"$patch": "replace", "new": "1"}}}),
        )
        .unwrap();
        assert_eq!(
            t["spec"]["containers"],
            json!([{"name": "only", "image": "o"}])
        );
        assert_eq!(t["metadata"]["labels"], json!({"new": "1"}));
    }

    #[test]
    fn smp_retain_keys_and_element_order() {
        let mut t = json!({"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}},
            "containers": [{"name": "a"}, {"name": "b"}]}});
        strategic_merge_patch(
            &mut t,
            &json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"},
                "$setElementOrder/containers": [{"name": "b"}, {"name": "a"}],
                "containers": [{"name": "a", "image": "x"}]}}),
        )
        .unwrap();
        assert_eq!(t["spec"]["strategy"], json!({"type": "Recreate"}));
        assert_eq!(
            t["spec"]["containers"],
            json!([{"name": "b"}, {"name": "a", "image": "x"}])
        );
        assert!(!t.to_string().contains('$'));
    }

    #[test]
    fn smp_directives_never_stored_in_new_values() {
        let mut t = json!({});
        strategic_merge_patch(
            &mut t,
            &json!({"spec": {"$patch": "merge", "template": {"$retainKeys": ["a"], "a": 1, "b": null},
                "volumes": [{"name": "v", "$patch": "delete"}, {"name": "w"}]}}),
        )
        .unwrap();
        assert_eq!(
            t,
            json!({"spec": {"template": {"a": 1}, "volumes": [{"name": "w"}]}})
        );
    }

    #[test]
    fn smp_errors() {
        let mut t = pod();
        let e = strategic_merge_patch(&mut t, &json!({"spec": {"containers": [{"image": "x"}]}}))
            .unwrap_err();
        assert!(
            e.contains("does not contain declared merge key: name"),
            "{e}"
        );
        let e = strategic_merge_patch(&mut t, &json!({"spec": {"$patch": "bogus"}})).unwrap_err();
        assert!(e.starts_with("unknown patch type: bogus in map:"), "{e}");
        assert!(strategic_merge_patch(&mut t, &json!([1])).is_err());
    }

    #[test]
    fn smp_service_ports_and_conditions() {
        let mut t = json!({"spec": {"ports": [{"port": 80, "name": "http"}, {"port": 443, "name": "https"}]},
            "status": {"conditions": [{"type": "Ready", "status": "False"}]}});
        strategic_merge_patch(
            &mut t,
            &json!({"spec": {"ports": [{"port": 443, "targetPort": 8443}]},
                "status": {"conditions": [{"type": "Ready", "status": "True"}, {"type": "Other", "status": "True"}]}}),
        )
        .unwrap();
        assert_eq!(
            t["spec"]["ports"][1],
            json!({"port": 443, "name": "https", "targetPort": 8443})
        );
        assert_eq!(t["status"]["conditions"][0]["status"], "True");
        assert_eq!(t["status"]["conditions"].as_array().unwrap().len(), 2);
    }
}
