//! Server-side apply and `metadata.managedFields`, after structured-merge-diff (SMD) as the
//! apiserver uses it.
//!
//! # Types
//! SMD types every node of an object from the OpenAPI schema. kubesim does the same for custom
//! resources from the CRD's structural schema ([`Ty::Schema`]): `x-kubernetes-list-type: map`
//! with `x-kubernetes-list-map-keys` (key fields missing from an element take the schema's
//! `default`), `set`, and `atomic` — the default for lists without a list type —, and
//! `x-kubernetes-map-type: atomic`; below `x-kubernetes-preserve-unknown-fields` maps are
//! granular and lists atomic (SMD's "deduced" type). `metadata` is typed as ObjectMeta. Built-in
//! kinds have no schema in kubesim: [`builtin_list_type`] types their lists by field name (and
//! element shape for `ports`), following the `+listType`/`+listMapKey` tags of the Kubernetes
//! types (containers, env, volumes... by `name`; container ports by `containerPort`+`protocol`
//! and service ports by `port`+`protocol`, `protocol` defaulting to `TCP`; conditions by `type`;
//! ownerReferences by `uid`; topologySpreadConstraints by `topologyKey`+`whenUnsatisfiable`;
//! finalizers a set; every other list atomic), and every `*selector`/`*Selector` field is atomic
//! (metav1.LabelSelector is `+structType=atomic`, the map selectors `+mapType=atomic`).
//!
//! # Field sets
//! The field set of a configuration is its leaves (scalars, atomic lists and maps, empty maps)
//! plus one path per element of a `map` or `set` list (`k:{"id":"x"}`, `v:"x"`, keys sorted, as
//! the apiserver writes them, with `.` for the element itself). `apiVersion`, `kind` and the
//! identity/system fields of `metadata` are never owned.
//!
//! # Apply
//! The configuration (minus `status` on the main resource of a kind with a status subresource;
//! only `status` on `/status`) is merged into the live object: maps key by key, `map`/`set` lists
//! element by element in SMD's merged order, atomic values replaced, `null` removing. Another
//! manager owning a leaf whose value the apply changes is a conflict (409 with the apiserver's
//! message and causes) unless `force`, which moves the ownership; equal values become shared
//! ownership. Fields (and list elements) the manager applied last time and no longer applies are
//! removed unless another manager owns them or something below them. Managers are identified by
//! manager + operation + subresource (`Apply` entries) and also the apiVersion for `Update`
//! entries as far as display goes (kubesim keys Update entries by manager + subresource).
//! An invalid configuration (an element without its key field, duplicate keys) is a 500 with
//! SMD's "failed to create typed patch object" message.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

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

/// How a list is merged and owned (`x-kubernetes-list-type`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListType {
    /// `map`: elements are objects identified by these key fields.
    Map(Vec<String>),
    /// `set`: scalar elements identified by value.
    Set,
    /// `atomic`: the list is one value.
    Atomic,
}

/// The type of a node of an object, as far as server-side apply needs it.
#[derive(Debug, Clone, Copy)]
pub enum Ty<'a> {
    /// A built-in kind (lists typed by [`builtin_list_type`]).
    Builtin,
    /// A node of a CRD's structural schema.
    Schema(&'a Value),
    /// No schema (below `x-kubernetes-preserve-unknown-fields`): maps granular, lists atomic.
    Deduced,
}

impl<'a> Ty<'a> {
    /// The type at the root of an object: the CRD version's schema, or built-in.
    pub fn root(schema: Option<&'a Value>) -> Ty<'a> {
        schema.map_or(Ty::Builtin, Ty::Schema)
    }

    fn field(self, name: &str) -> Ty<'a> {
        match self {
            Ty::Schema(s) => match s.get("properties").and_then(|p| p.get(name)) {
                Some(p) => Ty::Schema(p),
                None => match s.get("additionalProperties") {
                    Some(ap) if ap.is_object() => Ty::Schema(ap),
                    _ => Ty::Deduced,
                },
            },
            other => other,
        }
    }

    fn items(self) -> Ty<'a> {
        match self {
            Ty::Schema(s) => s.get("items").map_or(Ty::Deduced, Ty::Schema),
            other => other,
        }
    }

    fn list_type(self, field: &str, items: &[&Value]) -> ListType {
        match self {
            Ty::Builtin => builtin_list_type(field, items),
            Ty::Schema(s) => match s.get("x-kubernetes-list-type").and_then(Value::as_str) {
                Some("map") => ListType::Map(
                    s.get("x-kubernetes-list-map-keys")
                        .and_then(Value::as_array)
                        .map(|a| {
                            a.iter()
                                .filter_map(Value::as_str)
                                .map(str::to_string)
                                .collect()
                        })
                        .unwrap_or_default(),
                ),
                Some("set") => ListType::Set,
                _ => ListType::Atomic,
            },
            Ty::Deduced => ListType::Atomic,
        }
    }

    /// A map that is one value.
    fn atomic_map(self, field: &str) -> bool {
        match self {
            Ty::Schema(s) => {
                s.get("x-kubernetes-map-type").and_then(Value::as_str) == Some("atomic")
            }
            Ty::Builtin => field == "selector" || field.ends_with("Selector"),
            Ty::Deduced => false,
        }
    }

    /// The default of key field `key` of this list's elements.
    fn key_default(self, key: &str) -> Option<Value> {
        match self {
            Ty::Builtin => (key == "protocol").then(|| json!("TCP")),
            Ty::Schema(s) => s
                .pointer("/items/properties")
                .and_then(|p| p.get(key))
                .and_then(|k| k.get("default"))
                .cloned(),
            Ty::Deduced => None,
        }
    }
}

/// The list type of a built-in list, from its field name (and for `ports` the element shape):
/// the `+listType`/`+listMapKey` (or `patchMergeKey`) tags of the Kubernetes Go types.
pub fn builtin_list_type(field: &str, items: &[&Value]) -> ListType {
    let any_has = |k: &str| items.iter().any(|e| e.get(k).is_some());
    let map = |keys: &[&str]| ListType::Map(keys.iter().map(|k| k.to_string()).collect());
    match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "env"
        | "volumes"
        | "imagePullSecrets"
        | "resourceClaims"
        | "schedulingGates"
        | "secrets" => map(&["name"]),
        "volumeMounts" => map(&["mountPath"]),
        "volumeDevices" => map(&["devicePath"]),
        "ports" if any_has("containerPort") => map(&["containerPort", "protocol"]),
        "ports" if any_has("port") => map(&["port", "protocol"]),
        "conditions" => map(&["type"]),
        "addresses" if any_has("type") && any_has("address") => map(&["type"]),
        "ownerReferences" => map(&["uid"]),
        "hostAliases" | "podIPs" | "hostIPs" => map(&["ip"]),
        "topologySpreadConstraints" => map(&["topologyKey", "whenUnsatisfiable"]),
        "finalizers" | "podCIDRs" => ListType::Set,
        _ => ListType::Atomic,
    }
}

/// The `k:` path element of a `map` list element: `{"k1":v1,"k2":v2}` with sorted keys (a key
/// field missing from the element takes its default).
fn element_key(list: Ty<'_>, keys: &[String], elem: &Value) -> Result<String, String> {
    let mut sorted: Vec<&String> = keys.iter().collect();
    sorted.sort();
    let mut parts = Vec::new();
    for k in sorted {
        let v = match elem.get(k.as_str()) {
            Some(v) if !v.is_null() => v.clone(),
            _ => list.key_default(k).ok_or_else(|| {
                format!(
                    "associative list with keys has an element that omits key field {k:?} (and doesn't have default value)"
                )
            })?,
        };
        parts.push(format!("{}:{}", Value::String(k.clone()), v));
    }
    Ok(format!("{{{}}}", parts.join(",")))
}

/// The identity of each element of a list (None for an atomic list).
fn element_ids(list: Ty<'_>, lt: &ListType, items: &[Value]) -> Option<Vec<Result<Pe, String>>> {
    match lt {
        ListType::Map(keys) => Some(
            items
                .iter()
                .map(|i| element_key(list, keys, i).map(Pe::Key))
                .collect(),
        ),
        ListType::Set => Some(items.iter().map(|i| Ok(Pe::Val(i.to_string()))).collect()),
        ListType::Atomic => None,
    }
}

/// The field set of an object (see the module docs); `errs` gets SMD's errors for invalid lists
/// (such a list is then owned as a whole).
/// `empty_leaf`: empty maps and lists count as leaves (Update operations, whose field sets come
/// from SMD's comparison that promotes empty values to leaves); an applied configuration's
/// field set (SMD's `ToFieldSet`) leaves them out unless atomic.
fn object_fieldset_typed(
    obj: &Value,
    root: Ty<'_>,
    empty_leaf: bool,
    errs: &mut Vec<String>,
) -> FSet {
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
                                Ty::Builtin,
                                vec![Pe::Field("metadata".into()), Pe::Field(mk.clone())],
                                &mut set,
                                empty_leaf,
                                errs,
                            );
                        }
                    }
                }
                continue;
            }
            collect(
                k,
                v,
                root.field(k),
                vec![Pe::Field(k.clone())],
                &mut set,
                empty_leaf,
                errs,
            );
        }
    }
    set
}

/// The field set of a built-in object.
#[cfg(test)]
fn object_fieldset(obj: &Value) -> FSet {
    object_fieldset_typed(obj, Ty::Builtin, true, &mut Vec::new())
}

fn collect(
    field: &str,
    v: &Value,
    ty: Ty<'_>,
    path: FPath,
    set: &mut FSet,
    empty_leaf: bool,
    errs: &mut Vec<String>,
) {
    match v {
        Value::Null => {}
        Value::Object(m) if !m.is_empty() && !ty.atomic_map(field) => {
            for (k, c) in m {
                let mut p = path.clone();
                p.push(Pe::Field(k.clone()));
                collect(k, c, ty.field(k), p, set, empty_leaf, errs);
            }
        }
        Value::Object(_) if !empty_leaf && !ty.atomic_map(field) => {}
        Value::Array(items) if items.is_empty() => {
            if empty_leaf || ty.list_type(field, &[]) == ListType::Atomic {
                set.insert(path);
            }
        }
        Value::Array(items) => {
            let refs: Vec<&Value> = items.iter().collect();
            let lt = ty.list_type(field, &refs);
            let Some(ids) = element_ids(ty, &lt, items) else {
                set.insert(path);
                return;
            };
            let mut seen = BTreeSet::new();
            let mut bad = false;
            for (i, id) in ids.iter().enumerate() {
                match id {
                    Err(e) => {
                        errs.push(format!("{}: element {i}: {e}", path_string(&path)));
                        bad = true;
                    }
                    Ok(pe) if !seen.insert(pe.clone()) => {
                        errs.push(format!(
                            "{}: duplicate entries for key {}",
                            path_string(&path),
                            path_string(&vec![pe.clone()])
                        ));
                        bad = true;
                    }
                    Ok(_) => {}
                }
            }
            if bad {
                set.insert(path);
                return;
            }
            let elem_ty = ty.items();
            for (item, id) in items.iter().zip(ids) {
                let Ok(pe) = id else { continue };
                let mut p = path.clone();
                p.push(pe);
                set.insert(p.clone());
                if let (ListType::Map(_), Value::Object(m)) = (&lt, item) {
                    for (k, c) in m {
                        let mut cp = p.clone();
                        cp.push(Pe::Field(k.clone()));
                        collect(k, c, elem_ty.field(k), cp, set, empty_leaf, errs);
                    }
                }
            }
        }
        _ => {
            set.insert(path);
        }
    }
}

/// Adds the defaults of key fields missing from `map` list elements, so that elements can be
/// found by their `k:` path.
fn fill_key_defaults(field: &str, v: &mut Value, ty: Ty<'_>) {
    match v {
        Value::Object(m) if !ty.atomic_map(field) => {
            for (k, c) in m.iter_mut() {
                let t = if field.is_empty() && k == "metadata" {
                    Ty::Builtin
                } else {
                    ty.field(k)
                };
                fill_key_defaults(k, c, t);
            }
        }
        Value::Array(items) => {
            let lt = {
                let refs: Vec<&Value> = items.iter().collect();
                ty.list_type(field, &refs)
            };
            if let ListType::Map(keys) = &lt {
                let elem_ty = ty.items();
                for item in items.iter_mut() {
                    if let Value::Object(m) = item {
                        for k in keys {
                            if m.get(k).is_none_or(Value::is_null)
                                && let Some(d) = ty.key_default(k)
                            {
                                m.insert(k.clone(), d);
                            }
                        }
                        for (k, c) in m.iter_mut() {
                            fill_key_defaults(k, c, elem_ty.field(k));
                        }
                    }
                }
            }
        }
        _ => {}
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

/// Merges `applied` into `target` with the apply semantics of `ty`; `null` removes.
fn apply_merge(field: &str, target: &mut Value, applied: &Value, ty: Ty<'_>) {
    match (target, applied) {
        (Value::Object(t), Value::Object(a)) if !ty.atomic_map(field) => {
            for (k, av) in a {
                if av.is_null() {
                    t.remove(k);
                    continue;
                }
                let kt = if field.is_empty() && k == "metadata" {
                    Ty::Builtin
                } else {
                    ty.field(k)
                };
                match t.get_mut(k) {
                    Some(tv) => apply_merge(k, tv, av, kt),
                    None => {
                        t.insert(k.clone(), strip_nulls(av));
                    }
                }
            }
        }
        (Value::Array(t), Value::Array(a)) => {
            let lt = {
                let refs: Vec<&Value> = a.iter().chain(t.iter()).collect();
                ty.list_type(field, &refs)
            };
            let ids = |items: &[Value]| -> Option<Vec<Pe>> {
                element_ids(ty, &lt, items)?
                    .into_iter()
                    .collect::<Result<_, _>>()
                    .ok()
            };
            match (ids(t), ids(a)) {
                (Some(lids), Some(rids)) => {
                    let elem_ty = ty.items();
                    *t = merge_list_items(t, &lids, a, &rids, |l, r| {
                        let mut out = l.clone();
                        apply_merge(field, &mut out, r, elem_ty);
                        out
                    });
                }
                _ => *t = a.iter().map(strip_nulls).collect(),
            }
        }
        (t, a) => *t = strip_nulls(a),
    }
}

/// The merged list of `lhs` (live) and `rhs` (applied) elements with identities `lids`/`rids`,
/// in the order SMD's `visitListItems` produces: live-only elements keep their place, applied
/// elements come in the applied order, shared elements are merged where the applied order puts
/// them.
fn merge_list_items(
    lhs: &[Value],
    lids: &[Pe],
    rhs: &[Value],
    rids: &[Pe],
    merge: impl Fn(&Value, &Value) -> Value,
) -> Vec<Value> {
    let lpos = |pe: &Pe| lids.iter().position(|x| x == pe);
    let in_rhs = |pe: &Pe| rids.contains(pe);
    let shared: Vec<&Pe> = rids.iter().filter(|pe| lpos(pe).is_some()).collect();
    let mut shared = shared.into_iter();
    let mut next_shared = shared.next();
    let mut out = Vec::with_capacity(lhs.len().max(rhs.len()));
    let (mut li, mut ri) = (0, 0);
    // Each round consumes at least one element of either side (a guard against a bad state).
    let mut rounds = 0;
    while (li < lhs.len() || ri < rhs.len()) && rounds <= 2 * (lhs.len() + rhs.len()) {
        rounds += 1;
        if li < lhs.len() && ri < rhs.len() {
            let pe = &lids[li];
            if *pe == rids[ri] {
                out.push(merge(&lhs[li], &rhs[ri]));
                li += 1;
                ri += 1;
                next_shared = shared.next();
                continue;
            }
            if in_rhs(pe) && next_shared.is_some_and(|n| n != pe) {
                li += 1;
                continue;
            }
        }
        if li < lhs.len() && !in_rhs(&lids[li]) {
            out.push(lhs[li].clone());
            li += 1;
            continue;
        }
        if ri < rhs.len() {
            let pe = &rids[ri];
            out.push(match lpos(pe) {
                Some(l) => merge(&lhs[l], &rhs[ri]),
                None => strip_nulls(&rhs[ri]),
            });
            ri += 1;
            if next_shared == Some(pe) {
                next_shared = shared.next();
            }
            continue;
        }
        // Only live elements that are also applied remain: they were merged already.
        li += 1;
    }
    out
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

/// What a server-side apply request brings besides the configuration.
#[derive(Debug, Clone, Copy)]
pub struct ApplyRequest<'a> {
    /// The `fieldManager`.
    pub manager: &'a str,
    pub force: bool,
    /// The time recorded in the manager's entry.
    pub now: &'a str,
    /// The CRD version's `openAPIV3Schema` (None for built-in kinds).
    pub schema: Option<&'a Value>,
    /// `Some("status")` for an apply through the status subresource.
    pub subresource: Option<&'a str>,
    /// The kind has a status subresource (the main resource then ignores `status`).
    pub status_subresource: bool,
}

/// Why an apply failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    /// Fields owned by other managers would change (409).
    #[error(transparent)]
    Conflict(#[from] ApplyConflict),
    /// The configuration cannot be typed (an element without its key, duplicate keys): SMD's
    /// message, answered as a 500 by the apiserver.
    #[error("{0}")]
    Invalid(String),
}

impl ApplyError {
    /// The apiserver's answer: 409 with the conflicts as causes, or a 500 without reason.
    pub fn into_api_error(self) -> crate::api::ApiError {
        match self {
            ApplyError::Conflict(c) => {
                let body = c.to_status();
                crate::api::ApiError {
                    code: 409,
                    reason: "Conflict".into(),
                    message: c.message(),
                    details: body.get("details").cloned().map(Box::new),
                    retry_after: None,
                    body: Some(Box::new(body)),
                }
            }
            ApplyError::Invalid(m) => crate::api::ApiError::new(500, "", m),
        }
    }
}

/// The part of a configuration an apply through `subresource` takes into account.
fn applied_part(applied: &Value, req: &ApplyRequest<'_>) -> Value {
    let mut a = strip_for_apply(applied);
    match req.subresource {
        Some("status") => {
            let mut only = Map::new();
            for k in ["apiVersion", "kind", "status"] {
                if let Some(v) = a.get(k) {
                    only.insert(k.to_string(), v.clone());
                }
            }
            let mut meta = Map::new();
            for k in ["name", "namespace"] {
                if let Some(v) = a.pointer(&format!("/metadata/{k}")) {
                    meta.insert(k.to_string(), v.clone());
                }
            }
            only.insert("metadata".to_string(), Value::Object(meta));
            Value::Object(only)
        }
        _ => {
            if req.status_subresource
                && let Some(m) = a.as_object_mut()
            {
                m.remove("status");
            }
            a
        }
    }
}

/// Server-side apply (`application/apply-patch+yaml`), see the module docs. Returns the new
/// object with its `metadata.managedFields`; on create (`existing == None`) the applied
/// configuration itself (without nulls), for the caller to complete (uid, timestamps...).
pub fn apply(
    existing: Option<&Value>,
    applied: &Value,
    req: &ApplyRequest<'_>,
) -> Result<Value, ApplyError> {
    let root = Ty::root(req.schema);
    let mut applied = applied_part(applied, req);
    let mut errs = Vec::new();
    let applied_set = object_fieldset_typed(&applied, root, false, &mut errs);
    if !errs.is_empty() {
        let what = format!(
            "{}/{}; {}, Kind={}",
            applied
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .unwrap_or(""),
            applied
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or(""),
            applied
                .get("apiVersion")
                .and_then(Value::as_str)
                .unwrap_or(""),
            applied.get("kind").and_then(Value::as_str).unwrap_or(""),
        );
        let detail = if errs.len() == 1 {
            errs.remove(0)
        } else {
            format!("errors:\n  {}", errs.join("\n  "))
        };
        return Err(ApplyError::Invalid(format!(
            "failed to create typed patch object ({what}): {detail}"
        )));
    }
    fill_key_defaults("", &mut applied, root);
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
    fill_key_defaults("", &mut result, root);
    let is_own = |e: &Entry| {
        e.manager == req.manager
            && e.operation == "Apply"
            && e.subresource.as_deref() == req.subresource
    };

    // Conflicts: another manager owns a leaf whose live value the apply changes.
    let mut conflicts = Vec::new();
    let mut forced: Vec<(usize, FPath)> = Vec::new();
    if existing.is_some() {
        for path in &applied_set {
            if matches!(path.last(), Some(Pe::Key(_) | Pe::Val(_))) {
                continue;
            }
            if get_at(&applied, path) == get_at(&result, path) {
                continue;
            }
            for (i, e) in entries.iter().enumerate() {
                if !is_own(e) && e.set.contains(path) {
                    conflicts.push((e.display(), path_string(path)));
                    forced.push((i, path.clone()));
                }
            }
        }
    }
    if !conflicts.is_empty() && !req.force {
        return Err(ApplyConflict { conflicts }.into());
    }
    for (i, path) in forced {
        if let Some(e) = entries.get_mut(i) {
            e.set.remove(&path);
        }
    }

    // Fields this manager applied before and no longer applies are removed (unless shared).
    let own = entries.iter().position(is_own);
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
    apply_merge("", &mut result, &applied, root);

    let entry = Entry {
        manager: req.manager.to_string(),
        operation: "Apply".to_string(),
        api_version,
        subresource: req.subresource.map(str::to_string),
        time: Some(json!(req.now)),
        set: applied_set,
    };
    match own {
        Some(idx) => entries[idx] = entry,
        None => entries.push(entry),
    }
    write_entries(&mut result, &entries);
    Ok(result)
}

/// [`apply`] of a built-in kind without status subresource semantics (tests, simple callers).
pub fn server_side_apply(
    existing: Option<&Value>,
    applied: &Value,
    manager: &str,
    force: bool,
    now: &str,
) -> Result<Value, ApplyError> {
    apply(
        existing,
        applied,
        &ApplyRequest {
            manager,
            force,
            now,
            schema: None,
            subresource: None,
            status_subresource: false,
        },
    )
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
    record_update(obj, old, manager, now, subresource, None);
}

/// [`record_update_manager_for`] typed by a CRD version's schema (`None`: built-in).
pub fn record_update(
    obj: &mut Value,
    old: Option<&Value>,
    manager: &str,
    now: &str,
    subresource: Option<&str>,
    schema: Option<&Value>,
) {
    let mut entries = if obj
        .pointer("/metadata/managedFields")
        .is_some_and(Value::is_array)
    {
        read_entries(Some(obj))
    } else {
        read_entries(old)
    };
    let current = object_fieldset_typed(obj, Ty::root(schema), true, &mut Vec::new());
    // A list element counts as changed when it is new; its fields when their values change.
    let changed: FSet = current
        .iter()
        .filter(|p| match old {
            None => true,
            Some(o) if matches!(p.last(), Some(Pe::Key(_) | Pe::Val(_))) => get_at(o, p).is_none(),
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

    fn conflict(r: Result<Value, ApplyError>) -> ApplyConflict {
        match r {
            Err(ApplyError::Conflict(c)) => c,
            other => panic!("expected a conflict, got {other:?}"),
        }
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
        // SMD's merged order: the applied order for applied elements.
        assert_eq!(cs.len(), 2);
        assert_eq!(cs[0], json!({"name": "sidecar", "image": "s:1"}));
        assert_eq!(cs[1], json!({"name": "c", "image": "x:2"}));
    }

    #[test]
    fn ssa_conflict_with_update_manager() {
        let mut live = deploy(2, "x:1");
        record_update_manager(&mut live, None, "kubectl-client-side-apply", "t0");
        let err = conflict(server_side_apply(
            Some(&live),
            &deploy(5, "x:1"),
            "kubectl",
            false,
            "t1",
        ));
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
        let err = conflict(server_side_apply(Some(&live), &applied, "me", false, "t"));
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
        let err = conflict(server_side_apply(
            Some(&new),
            &applied,
            "other",
            false,
            "t2",
        ));
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
        assert!(paths.contains(&".spec.ports[containerPort=80,protocol=\"TCP\"]".to_string()));
        assert!(paths.contains(&".spec.args".to_string()));
    }

    #[test]
    fn merged_list_order_follows_smd() {
        let v = |id: &str| json!({"id": id});
        let pe = |id: &str| Pe::Key(format!("{{\"id\":\"{id}\"}}"));
        let lhs = [v("a"), v("b"), v("c")];
        let rhs = [v("c"), v("d"), v("a")];
        let out = merge_list_items(
            &lhs,
            &[pe("a"), pe("b"), pe("c")],
            &rhs,
            &[pe("c"), pe("d"), pe("a")],
            |l, _| l.clone(),
        );
        assert_eq!(out, vec![v("b"), v("c"), v("d"), v("a")]);
    }

    #[test]
    fn crd_schema_types_lists_and_keys() {
        let schema = json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
            "m": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["k", "p"],
                  "items": {"type": "object", "properties": {"k": {"type": "string"}, "p": {"type": "string", "default": "TCP"}}}},
            "s": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
            "a": {"type": "array", "items": {"type": "object"}},
            "atomicMap": {"type": "object", "x-kubernetes-map-type": "atomic", "properties": {"x": {"type": "string"}}},
            "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
        }}}});
        let obj = json!({"spec": {"m": [{"k": "x"}], "s": ["v"], "a": [{"z": 1}],
            "atomicMap": {"x": "1"}, "free": {"deep": {"l": [1]}}}});
        let mut errs = Vec::new();
        let set = object_fieldset_typed(&obj, Ty::root(Some(&schema)), false, &mut errs);
        assert!(errs.is_empty(), "{errs:?}");
        let paths: Vec<String> = set.iter().map(path_string).collect();
        assert_eq!(
            paths,
            vec![
                ".spec.a",
                ".spec.atomicMap",
                ".spec.free.deep.l",
                ".spec.m[k=\"x\",p=\"TCP\"]",
                ".spec.m[k=\"x\",p=\"TCP\"].k",
                ".spec.s[=\"v\"]",
            ]
        );
        // Duplicate keys are SMD errors.
        let dup = json!({"spec": {"m": [{"k": "x"}, {"k": "x", "p": "TCP"}]}});
        let mut errs = Vec::new();
        object_fieldset_typed(&dup, Ty::root(Some(&schema)), false, &mut errs);
        assert_eq!(
            errs,
            vec![".spec.m: duplicate entries for key [k=\"x\",p=\"TCP\"]".to_string()]
        );
    }
}
