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
//! # Server-side apply (approximated)
//! [`server_side_apply`] merges the applied configuration into the existing object: maps are
//! merged recursively, lists keyed like strategic merge patch for the known field names above
//! (other lists are atomic and replaced), `null` in the applied configuration removes the field.
//! Ownership is tracked in `metadata.managedFields` with real-looking entries
//! (`manager`, `operation: Apply|Update`, `apiVersion`, `time`, `fieldsType: FieldsV1`,
//! `fieldsV1` in the `f:`/`k:`/`v:`/`.` encoding). What is approximated:
//! * the field set of an Apply is exactly the leaves of the applied configuration (plus `.` for
//!   keyed list elements); maps do not get `.` entries, and `apiVersion`, `kind`,
//!   `metadata.name/namespace/uid/resourceVersion/generation/creationTimestamp/managedFields`
//!   are never owned;
//! * list semantics come from the field-name table (no OpenAPI `x-kubernetes-list-type` for CRDs);
//! * conflicts are detected on leaf fields only: another manager owns the same leaf and the
//!   applied value differs from the live value (equal values become shared ownership, as in
//!   Kubernetes); `force` moves ownership to the applier;
//! * fields the manager applied before but no longer applies are removed from the object unless
//!   another manager owns them or something below them;
//! * Update operations ([`record_update_manager`]) take ownership of the leaves they changed
//!   (everything on create) and remove them from other managers, without conflicts; entries are
//!   keyed by (manager, operation) — the apiVersion of Update entries is recorded but not part of
//!   the identity; subresource entries are not distinguished.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

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

// ------------------------------------------------------------------ field sets (managedFields)

/// One element of a managed field path.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Pe {
    /// `f:name`
    Field(String),
    /// `k:{"name":"c"}` — the compact JSON of the key fields.
    Key(String),
    /// `v:"x"` — the compact JSON of a set element.
    Val(String),
}

type FPath = Vec<Pe>;
type FSet = BTreeSet<FPath>;

const UNOWNED_META: &[&str] = &[
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "managedFields",
    "selfLink",
];

fn object_fieldset(obj: &Value) -> FSet {
    let mut set = FSet::new();
    if let Value::Object(m) = obj {
        for (k, v) in m {
            if k == "apiVersion" || k == "kind" {
                continue;
            }
            if k == "metadata" {
                if let Value::Object(meta) = v {
                    for (mk, mv) in meta {
                        if !UNOWNED_META.contains(&mk.as_str()) {
                            collect(
                                mk,
                                mv,
                                vec![Pe::Field("metadata".into()), Pe::Field(mk.clone())],
                                &mut set,
                            );
                        }
                    }
                }
                continue;
            }
            collect(k, v, vec![Pe::Field(k.clone())], &mut set);
        }
    }
    set
}

fn key_json(key: &str, elem: &Value) -> Option<String> {
    elem.get(key)
        .map(|kv| Value::Object(Map::from_iter([(key.to_string(), kv.clone())])).to_string())
}

fn collect(field: &str, v: &Value, path: FPath, set: &mut FSet) {
    match v {
        Value::Null => {}
        Value::Object(m) if !m.is_empty() => {
            for (k, c) in m {
                let mut p = path.clone();
                p.push(Pe::Field(k.clone()));
                collect(k, c, p, set);
            }
        }
        Value::Array(items) if !items.is_empty() => {
            let elems: Vec<&Value> = items.iter().collect();
            match list_strategy(field, &elems) {
                ListStrategy::Map(key) if items.iter().all(|i| i.get(key).is_some()) => {
                    for item in items {
                        let Some(kj) = key_json(key, item) else {
                            continue;
                        };
                        let mut p = path.clone();
                        p.push(Pe::Key(kj));
                        set.insert(p.clone());
                        if let Value::Object(m) = item {
                            for (k, c) in m {
                                let mut cp = p.clone();
                                cp.push(Pe::Field(k.clone()));
                                collect(k, c, cp, set);
                            }
                        }
                    }
                }
                ListStrategy::Set => {
                    for item in items {
                        let mut p = path.clone();
                        p.push(Pe::Val(item.to_string()));
                        set.insert(p);
                    }
                }
                _ => {
                    set.insert(path);
                }
            }
        }
        _ => {
            set.insert(path);
        }
    }
}

fn encode_fieldset(set: &FSet) -> Value {
    let mut root = Map::new();
    for path in set {
        insert_encoded(&mut root, path, matches!(path.last(), Some(Pe::Key(_))));
    }
    Value::Object(root)
}

fn insert_encoded(node: &mut Map<String, Value>, path: &[Pe], element: bool) {
    let Some((first, rest)) = path.split_first() else {
        if element {
            node.insert(".".to_string(), Value::Object(Map::new()));
        }
        return;
    };
    let k = match first {
        Pe::Field(f) => format!("f:{f}"),
        Pe::Key(j) => format!("k:{j}"),
        Pe::Val(j) => format!("v:{j}"),
    };
    let entry = node.entry(k).or_insert_with(|| Value::Object(Map::new()));
    if !entry.is_object() {
        *entry = Value::Object(Map::new());
    }
    if let Value::Object(next) = entry {
        insert_encoded(next, rest, element);
    }
}

fn decode_fieldset(v: &Value) -> FSet {
    let mut set = FSet::new();
    decode_into(v, Vec::new(), &mut set);
    set
}

fn decode_into(v: &Value, path: FPath, set: &mut FSet) {
    let Value::Object(m) = v else { return };
    if m.is_empty() && !path.is_empty() {
        set.insert(path);
        return;
    }
    for (k, child) in m {
        if k == "." {
            if !path.is_empty() {
                set.insert(path.clone());
            }
            continue;
        }
        let pe = if let Some(f) = k.strip_prefix("f:") {
            Pe::Field(f.to_string())
        } else if let Some(j) = k.strip_prefix("k:") {
            // Normalise the JSON so it compares equal to what we compute.
            Pe::Key(
                serde_json::from_str::<Value>(j)
                    .map(|v| v.to_string())
                    .unwrap_or_else(|_| j.to_string()),
            )
        } else if let Some(j) = k.strip_prefix("v:") {
            Pe::Val(
                serde_json::from_str::<Value>(j)
                    .map(|v| v.to_string())
                    .unwrap_or_else(|_| j.to_string()),
            )
        } else {
            continue;
        };
        let mut p = path.clone();
        p.push(pe);
        decode_into(child, p, set);
    }
}

/// `.spec.template.spec.containers[name="c"].image`, like structured-merge-diff prints paths.
fn path_string(path: &FPath) -> String {
    let mut s = String::new();
    for pe in path {
        match pe {
            Pe::Field(f) => {
                s.push('.');
                s.push_str(f);
            }
            Pe::Key(j) => {
                let parts: Vec<String> = match serde_json::from_str::<Value>(j) {
                    Ok(Value::Object(m)) => m.iter().map(|(k, v)| format!("{k}={v}")).collect(),
                    _ => vec![j.clone()],
                };
                s.push('[');
                s.push_str(&parts.join(","));
                s.push(']');
            }
            Pe::Val(j) => {
                s.push_str("[=");
                s.push_str(j);
                s.push(']');
            }
        }
    }
    s
}

fn key_matches(elem: &Value, kj: &str) -> bool {
    match serde_json::from_str::<Value>(kj) {
        Ok(Value::Object(keys)) => keys.iter().all(|(k, v)| elem.get(k) == Some(v)),
        _ => false,
    }
}

fn get_at<'a>(v: &'a Value, path: &[Pe]) -> Option<&'a Value> {
    let mut cur = v;
    for pe in path {
        cur = match pe {
            Pe::Field(f) => cur.get(f.as_str())?,
            Pe::Key(kj) => cur.as_array()?.iter().find(|e| key_matches(e, kj))?,
            Pe::Val(j) => {
                let want: Value = serde_json::from_str(j).ok()?;
                cur.as_array()?.iter().find(|e| **e == want)?
            }
        };
    }
    Some(cur)
}

fn remove_at(v: &mut Value, path: &[Pe]) {
    let Some((last, parent_path)) = path.split_last() else {
        return;
    };
    let mut cur = v;
    for pe in parent_path {
        let next = match pe {
            Pe::Field(f) => cur.get_mut(f.as_str()),
            Pe::Key(kj) => cur
                .as_array_mut()
                .and_then(|a| a.iter_mut().find(|e| key_matches(e, kj))),
            Pe::Val(_) => None,
        };
        match next {
            Some(n) => cur = n,
            None => return,
        }
    }
    match last {
        Pe::Field(f) => {
            if let Some(m) = cur.as_object_mut() {
                m.remove(f.as_str());
            }
        }
        Pe::Key(kj) => {
            if let Some(a) = cur.as_array_mut() {
                a.retain(|e| !key_matches(e, kj));
            }
        }
        Pe::Val(j) => {
            if let (Some(a), Ok(want)) = (cur.as_array_mut(), serde_json::from_str::<Value>(j)) {
                a.retain(|e| *e != want);
            }
        }
    }
}

#[derive(Debug, Clone)]
struct Entry {
    manager: String,
    operation: String,
    api_version: String,
    subresource: Option<String>,
    time: Option<Value>,
    set: FSet,
}

impl Entry {
    fn display(&self) -> String {
        let mut s = format!("{:?}", self.manager);
        if let Some(sub) = &self.subresource {
            s.push_str(&format!(" with subresource {sub:?}"));
        }
        if self.operation == "Update" {
            s.push_str(&format!(" using {}", self.api_version));
        }
        s
    }

    fn to_value(&self) -> Value {
        let mut m = Map::new();
        m.insert("manager".into(), json!(self.manager));
        m.insert("operation".into(), json!(self.operation));
        m.insert("apiVersion".into(), json!(self.api_version));
        if let Some(t) = &self.time {
            m.insert("time".into(), t.clone());
        }
        m.insert("fieldsType".into(), json!("FieldsV1"));
        m.insert("fieldsV1".into(), encode_fieldset(&self.set));
        if let Some(sub) = &self.subresource {
            m.insert("subresource".into(), json!(sub));
        }
        Value::Object(m)
    }
}

fn read_entries(obj: Option<&Value>) -> Vec<Entry> {
    let Some(Value::Array(items)) = obj.and_then(|o| o.pointer("/metadata/managedFields")) else {
        return Vec::new();
    };
    items
        .iter()
        .map(|e| Entry {
            manager: e
                .get("manager")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            operation: e
                .get("operation")
                .and_then(Value::as_str)
                .unwrap_or("Update")
                .to_string(),
            api_version: e
                .get("apiVersion")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            subresource: e
                .get("subresource")
                .and_then(Value::as_str)
                .map(str::to_string),
            time: e.get("time").cloned(),
            set: e.get("fieldsV1").map(decode_fieldset).unwrap_or_default(),
        })
        .collect()
}

fn write_entries(obj: &mut Value, entries: &[Entry]) {
    let list: Vec<Value> = entries
        .iter()
        .filter(|e| !e.set.is_empty())
        .map(Entry::to_value)
        .collect();
    if !obj.is_object() {
        return;
    }
    if obj.get("metadata").is_none_or(|m| !m.is_object()) {
        obj["metadata"] = json!({});
    }
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        if list.is_empty() {
            meta.remove("managedFields");
        } else {
            meta.insert("managedFields".into(), Value::Array(list));
        }
    }
}

// ------------------------------------------------------------------ server-side apply

/// Server-side apply conflicts: `(manager, field path)` where `manager` is the manager as the
/// apiserver prints it (`"kubectl-client-side-apply" using apps/v1` for an Update entry,
/// `"other-applier"` for an Apply entry) and the path is like `.spec.replicas`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.message())]
pub struct ApplyConflict {
    pub conflicts: Vec<(String, String)>,
}

impl ApplyConflict {
    /// The Status message, e.g. `Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using apps/v1: .spec.replicas`.
    pub fn message(&self) -> String {
        if let [(manager, path)] = self.conflicts.as_slice() {
            return format!("Apply failed with 1 conflict: conflict with {manager}: {path}");
        }
        let mut managers: Vec<&str> = self.conflicts.iter().map(|(m, _)| m.as_str()).collect();
        managers.sort();
        managers.dedup();
        let mut lines = Vec::new();
        for m in managers {
            lines.push(format!("conflicts with {m}:"));
            for (_, p) in self.conflicts.iter().filter(|(cm, _)| cm == m) {
                lines.push(format!("- {p}"));
            }
        }
        format!(
            "Apply failed with {} conflicts: {}",
            self.conflicts.len(),
            lines.join("\n")
        )
    }

    /// The full 409 `metav1.Status` body kube-apiserver returns.
    pub fn to_status(&self) -> Value {
        let causes: Vec<Value> = self
            .conflicts
            .iter()
            .map(|(m, p)| {
                json!({"reason": "FieldManagerConflict", "message": format!("conflict with {m}"), "field": p})
            })
            .collect();
        crate::status::failure(
            409,
            "Conflict",
            &self.message(),
            Some(json!({"causes": causes})),
        )
    }
}

fn strip_for_apply(v: &Value) -> Value {
    let mut out = v.clone();
    if let Some(meta) = out.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("managedFields");
    }
    out
}

/// Merges `applied` into `target` with the apply list semantics; `null` removes.
fn apply_merge(field: &str, target: &mut Value, applied: &Value) {
    match (target, applied) {
        (Value::Object(t), Value::Object(a)) => {
            for (k, av) in a {
                if av.is_null() {
                    t.remove(k);
                    continue;
                }
                match t.get_mut(k) {
                    Some(tv) => apply_merge(k, tv, av),
                    None => {
                        t.insert(k.clone(), strip_nulls(av));
                    }
                }
            }
        }
        (Value::Array(t), Value::Array(a)) => {
            let elems: Vec<&Value> = t.iter().chain(a.iter()).collect();
            match list_strategy(field, &elems) {
                ListStrategy::Map(key) if a.iter().all(|e| e.get(key).is_some()) => {
                    for ae in a {
                        let kv = ae.get(key);
                        match t.iter_mut().find(|te| te.get(key) == kv) {
                            Some(te) => apply_merge(field, te, ae),
                            None => t.push(strip_nulls(ae)),
                        }
                    }
                }
                ListStrategy::Set => {
                    for ae in a {
                        if !t.contains(ae) {
                            t.push(ae.clone());
                        }
                    }
                }
                _ => *t = a.iter().map(strip_nulls).collect(),
            }
        }
        (t, a) => *t = strip_nulls(a),
    }
}

fn strip_nulls(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), strip_nulls(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(strip_nulls).collect()),
        other => other.clone(),
    }
}

fn is_prefix(prefix: &[Pe], path: &[Pe]) -> bool {
    path.len() >= prefix.len() && path[..prefix.len()] == *prefix
}

/// Server-side apply (`application/apply-patch+yaml`), approximated (see the module docs).
/// Returns the new object with its `metadata.managedFields`; on create (`existing == None`) the
/// applied configuration itself (without nulls), for the caller to complete (uid, timestamps...).
pub fn server_side_apply(
    existing: Option<&Value>,
    applied: &Value,
    manager: &str,
    force: bool,
    now: &str,
) -> Result<Value, ApplyConflict> {
    let applied = strip_for_apply(applied);
    let applied_set = object_fieldset(&applied);
    let api_version = applied
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let mut entries = read_entries(existing);
    let mut result = match existing {
        Some(e) => e.clone(),
        None => Value::Object(Map::new()),
    };

    // Conflicts: another manager owns a leaf whose live value the apply changes.
    let mut conflicts = Vec::new();
    let mut forced: Vec<(usize, FPath)> = Vec::new();
    if let Some(live) = existing {
        for path in &applied_set {
            if matches!(path.last(), Some(Pe::Key(_))) {
                continue;
            }
            let new_val = get_at(&applied, path);
            let old_val = get_at(live, path);
            if new_val == old_val {
                continue;
            }
            for (i, e) in entries.iter().enumerate() {
                if e.manager == manager && e.operation == "Apply" {
                    continue;
                }
                if e.set.contains(path) {
                    conflicts.push((e.display(), path_string(path)));
                    forced.push((i, path.clone()));
                }
            }
        }
    }
    if !conflicts.is_empty() && !force {
        return Err(ApplyConflict { conflicts });
    }
    for (i, path) in forced {
        if let Some(e) = entries.get_mut(i) {
            e.set.remove(&path);
        }
    }

    // Fields this manager applied before and no longer applies are removed (unless shared).
    let own = entries
        .iter()
        .position(|e| e.manager == manager && e.operation == "Apply");
    if let Some(idx) = own {
        let previous = entries[idx].set.clone();
        let mut removed: Vec<&FPath> = previous.difference(&applied_set).collect();
        // Ancestors first (a removed list element takes its fields with it).
        removed.sort_by_key(|p| p.len());
        let mut done: Vec<&FPath> = Vec::new();
        for path in removed {
            if done.iter().any(|d| is_prefix(d, path)) {
                continue;
            }
            let owned_elsewhere = entries
                .iter()
                .enumerate()
                .any(|(i, e)| i != idx && e.set.iter().any(|p| is_prefix(path, p)));
            let still_applied = applied_set.iter().any(|p| is_prefix(path, p));
            if !owned_elsewhere && !still_applied {
                remove_at(&mut result, path);
                done.push(path);
            }
        }
    }

    if let Some(meta) = result.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("managedFields");
    }
    apply_merge("", &mut result, &applied);

    let entry = Entry {
        manager: manager.to_string(),
        operation: "Apply".to_string(),
        api_version,
        subresource: None,
        time: Some(json!(now)),
        set: applied_set,
    };
    match own {
        Some(idx) => entries[idx] = entry,
        None => entries.push(entry),
    }
    write_entries(&mut result, &entries);
    Ok(result)
}

/// Records an Update operation (create, update, or a non-apply patch) by `manager` (the
/// `fieldManager` query parameter, or the client's user agent): the manager's `operation: Update`
/// entry takes ownership of every leaf that differs from `old` (all leaves on create), those
/// leaves are removed from other managers' entries, and entries lose fields that no longer exist.
/// The entries are read from `obj` if it carries `metadata.managedFields`, else from `old`.
pub fn record_update_manager(obj: &mut Value, old: Option<&Value>, manager: &str, now: &str) {
    record_update_manager_for(obj, old, manager, now, None);
}

/// [`record_update_manager`] for a write through a subresource (`Some("status")`, `Some("scale")`):
/// the entry carries `subresource` and is distinct from the manager's main-resource entry, and
/// conflicts name it `"manager" with subresource "status" using v1`.
pub fn record_update_manager_for(
    obj: &mut Value,
    old: Option<&Value>,
    manager: &str,
    now: &str,
    subresource: Option<&str>,
) {
    let mut entries = if obj
        .pointer("/metadata/managedFields")
        .is_some_and(Value::is_array)
    {
        read_entries(Some(obj))
    } else {
        read_entries(old)
    };
    let current = object_fieldset(obj);
    let changed: FSet = current
        .iter()
        .filter(|p| match old {
            None => true,
            Some(o) => get_at(o, p) != get_at(obj, p),
        })
        .cloned()
        .collect();
    for e in entries.iter_mut() {
        let snapshot: &Value = obj;
        e.set
            .retain(|p| !changed.contains(p) && get_at(snapshot, p).is_some());
    }
    let api_version = obj
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    match entries.iter_mut().find(|e| {
        e.manager == manager && e.operation == "Update" && e.subresource.as_deref() == subresource
    }) {
        Some(e) => {
            e.set.extend(changed.iter().cloned());
            if !changed.is_empty() {
                e.time = Some(json!(now));
                e.api_version = api_version;
            }
        }
        None => {
            if !changed.is_empty() {
                entries.push(Entry {
                    manager: manager.to_string(),
                    operation: "Update".to_string(),
                    api_version,
                    subresource: subresource.map(str::to_string),
                    time: Some(json!(now)),
                    set: changed,
                });
            }
        }
    }
    write_entries(obj, &entries);
}

/// Field paths (`.spec.replicas`) a manager owns according to `metadata.managedFields`.
pub fn managed_paths(obj: &Value, manager: &str) -> Vec<String> {
    read_entries(Some(obj))
        .iter()
        .filter(|e| e.manager == manager)
        .flat_map(|e| e.set.iter().map(path_string).collect::<Vec<_>>())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

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

    fn deploy(replicas: i64, image: &str) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "d", "namespace": "ns", "labels": {"app": "d"}},
            "spec": {"replicas": replicas, "template": {"spec": {"containers": [{"name": "c", "image": image}]}}}})
    }

    #[test]
    fn ssa_create_records_manager() {
        let obj = server_side_apply(
            None,
            &deploy(2, "x:1"),
            "mgr",
            false,
            "2026-01-01T00:00:00Z",
        )
        .unwrap();
        assert_eq!(obj["spec"]["replicas"], 2);
        let mf = &obj["metadata"]["managedFields"][0];
        assert_eq!(mf["manager"], "mgr");
        assert_eq!(mf["operation"], "Apply");
        assert_eq!(mf["apiVersion"], "apps/v1");
        assert_eq!(mf["time"], "2026-01-01T00:00:00Z");
        assert_eq!(mf["fieldsType"], "FieldsV1");
        assert_eq!(
            mf["fieldsV1"],
            json!({"f:metadata": {"f:labels": {"f:app": {}}},
                "f:spec": {"f:replicas": {}, "f:template": {"f:spec": {"f:containers": {
                    "k:{\"name\":\"c\"}": {".": {}, "f:image": {}, "f:name": {}}}}}}})
        );
    }

    #[test]
    fn ssa_merges_into_existing_and_keeps_other_fields() {
        let mut live = deploy(2, "x:1");
        live["metadata"]["labels"]["other"] = json!("keep");
        live["metadata"]["uid"] = json!("u1");
        live["status"] = json!({"replicas": 2});
        let mut applied = deploy(2, "x:2");
        applied["spec"]["template"]["spec"]["containers"] =
            json!([{"name": "sidecar", "image": "s:1"}, {"name": "c", "image": "x:2"}]);
        let obj = server_side_apply(Some(&live), &applied, "mgr", false, "t").unwrap();
        assert_eq!(
            obj["metadata"]["labels"],
            json!({"app": "d", "other": "keep"})
        );
        assert_eq!(obj["metadata"]["uid"], "u1");
        assert_eq!(obj["status"], json!({"replicas": 2}));
        let cs = obj["spec"]["template"]["spec"]["containers"]
            .as_array()
            .unwrap();
        assert_eq!(cs.len(), 2);
        assert_eq!(cs[0], json!({"name": "c", "image": "x:2"}));
        assert_eq!(cs[1], json!({"name": "sidecar", "image": "s:1"}));
    }

    #[test]
    fn ssa_conflict_with_update_manager() {
        let mut live = deploy(2, "x:1");
        record_update_manager(&mut live, None, "kubectl-client-side-apply", "t0");
        let err =
            server_side_apply(Some(&live), &deploy(5, "x:1"), "kubectl", false, "t1").unwrap_err();
        assert_eq!(
            err.conflicts,
            vec![(
                "\"kubectl-client-side-apply\" using apps/v1".to_string(),
                ".spec.replicas".to_string()
            )]
        );
        assert_eq!(
            err.message(),
            "Apply failed with 1 conflict: conflict with \"kubectl-client-side-apply\" using apps/v1: .spec.replicas"
        );
        let st = err.to_status();
        assert_eq!(st["code"], 409);
        assert_eq!(st["reason"], "Conflict");
        assert_eq!(st["details"]["causes"][0]["reason"], "FieldManagerConflict");
        assert_eq!(st["details"]["causes"][0]["field"], ".spec.replicas");
        assert_eq!(
            st["details"]["causes"][0]["message"],
            "conflict with \"kubectl-client-side-apply\" using apps/v1"
        );

        // Same value: no conflict, shared ownership.
        let obj =
            server_side_apply(Some(&live), &deploy(2, "x:1"), "kubectl", false, "t1").unwrap();
        assert_eq!(
            obj["metadata"]["managedFields"].as_array().unwrap().len(),
            2
        );

        // Force: ownership moves.
        let obj = server_side_apply(Some(&live), &deploy(5, "x:1"), "kubectl", true, "t1").unwrap();
        assert_eq!(obj["spec"]["replicas"], 5);
        assert!(
            !managed_paths(&obj, "kubectl-client-side-apply")
                .contains(&".spec.replicas".to_string())
        );
        assert!(managed_paths(&obj, "kubectl").contains(&".spec.replicas".to_string()));
    }

    #[test]
    fn ssa_multiple_conflicts_message() {
        let mut live = deploy(2, "x:1");
        record_update_manager(&mut live, None, "b-mgr", "t0");
        let live = server_side_apply(
            Some(&live),
            &json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "d"}, "spec": {"paused": false}}),
            "a-mgr",
            false,
            "t",
        )
        .unwrap();
        let mut applied = deploy(3, "x:9");
        applied["spec"]["paused"] = json!(true);
        let err = server_side_apply(Some(&live), &applied, "me", false, "t").unwrap_err();
        assert_eq!(err.conflicts.len(), 3);
        assert_eq!(
            err.message(),
            "Apply failed with 3 conflicts: conflicts with \"a-mgr\":\n- .spec.paused\nconflicts with \"b-mgr\" using apps/v1:\n- .spec.replicas\n- .spec.template.spec.containers[name=\"c\"].image"
        );
    }

    #[test]
    fn ssa_removes_fields_no_longer_applied() {
        let mut first = deploy(2, "x:1");
        first["metadata"]["labels"]["gone"] = json!("soon");
        first["metadata"]["annotations"] = json!({"shared": "v"});
        let live = server_side_apply(None, &first, "mgr", false, "t").unwrap();
        // Another manager co-owns the annotation.
        let live = server_side_apply(
            Some(&live),
            &json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "annotations": {"shared": "v"}}}),
            "other",
            false,
            "t",
        )
        .unwrap();
        let second = deploy(2, "x:1");
        let obj = server_side_apply(Some(&live), &second, "mgr", false, "t").unwrap();
        assert_eq!(obj["metadata"]["labels"], json!({"app": "d"}));
        assert_eq!(obj["metadata"]["annotations"], json!({"shared": "v"}));
        // Dropping a container removes the element.
        let mut third = deploy(2, "x:1");
        third["spec"]["template"]["spec"]["containers"] = json!([{"name": "n", "image": "n"}]);
        let obj = server_side_apply(Some(&obj), &third, "mgr", false, "t").unwrap();
        assert_eq!(
            obj["spec"]["template"]["spec"]["containers"],
            json!([{"name": "n", "image": "n"}])
        );
    }

    #[test]
    fn ssa_null_removes_field() {
        let live = server_side_apply(None, &deploy(2, "x"), "mgr", false, "t").unwrap();
        let mut applied = deploy(2, "x");
        applied["metadata"]["labels"] = json!({"app": null});
        let obj = server_side_apply(Some(&live), &applied, "mgr", false, "t").unwrap();
        assert_eq!(obj["metadata"]["labels"], json!({}));
    }

    #[test]
    fn update_manager_takes_changed_fields() {
        let mut obj = deploy(2, "x:1");
        record_update_manager(&mut obj, None, "creator", "t0");
        let old = obj.clone();
        let mut new = old.clone();
        new["spec"]["replicas"] = json!(7);
        record_update_manager(&mut new, Some(&old), "scaler", "t1");
        assert_eq!(
            managed_paths(&new, "scaler"),
            vec![".spec.replicas".to_string()]
        );
        assert!(!managed_paths(&new, "creator").contains(&".spec.replicas".to_string()));
        assert!(managed_paths(&new, "creator").contains(&".metadata.labels.app".to_string()));
        let entries = new["metadata"]["managedFields"].as_array().unwrap();
        assert_eq!(entries[1]["operation"], "Update");
        assert_eq!(entries[1]["time"], "t1");
        // A no-op update creates no entry.
        let before = new.clone();
        let mut again = new.clone();
        record_update_manager(&mut again, Some(&before), "noop", "t2");
        assert!(managed_paths(&again, "noop").is_empty());
    }

    #[test]
    fn subresource_update_entries() {
        let mut obj = deploy(2, "x:1");
        record_update_manager(&mut obj, None, "creator", "t0");
        let old = obj.clone();
        let mut new = old.clone();
        new["status"] = json!({"replicas": 2});
        record_update_manager_for(&mut new, Some(&old), "creator", "t1", Some("status"));
        let entries = new["metadata"]["managedFields"].as_array().unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[1]["subresource"], "status");
        assert_eq!(
            entries[1]["fieldsV1"],
            json!({"f:status": {"f:replicas": {}}})
        );
        let mut applied = deploy(2, "x:1");
        applied["status"] = json!({"replicas": 5});
        let err = server_side_apply(Some(&new), &applied, "other", false, "t2").unwrap_err();
        assert_eq!(
            err.message(),
            "Apply failed with 1 conflict: conflict with \"creator\" with subresource \"status\" using apps/v1: .status.replicas"
        );
    }

    #[test]
    fn fieldset_roundtrip_and_paths() {
        let obj = json!({"metadata": {"finalizers": ["a/b"]}, "spec": {"ports": [{"containerPort": 80}], "args": ["x"]}});
        let set = object_fieldset(&obj);
        let decoded = decode_fieldset(&encode_fieldset(&set));
        assert_eq!(set, decoded);
        let paths: Vec<String> = set.iter().map(path_string).collect();
        assert!(paths.contains(&".metadata.finalizers[=\"a/b\"]".to_string()));
        assert!(paths.contains(&".spec.ports[containerPort=80]".to_string()));
        assert!(paths.contains(&".spec.args".to_string()));
    }
}
