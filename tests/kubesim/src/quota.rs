//! ResourceQuota: usage evaluation (k8s.io/kubernetes/pkg/quota/v1/evaluator/core), the admission
//! check on create (staging/src/k8s.io/apiserver/pkg/admission/plugin/resourcequota, `CheckRequest`)
//! and the quota controller's status computation (pkg/controller/resourcequota).
//!
//! As on a real cluster:
//! - A quota takes part in admission once the controller has filled `status.hard` (admission reads
//!   `status.hard`/`status.used`, never `spec`): kubesim's driver does that within milliseconds of
//!   the write, but a client that asserts a refusal right after creating a quota should wait for
//!   `status.hard` first, as it would have to against a real cluster.
//! - Admission charges the request to `status.used` (an update of the quota's status, with its
//!   resourceVersion as precondition) before the object is stored; the controller recomputes
//!   `status.used` from the stored objects afterwards.
//! - Only resources the object actually consumes (non-zero) are checked, so a pod without a GPU is
//!   admitted under `requests.nvidia.com/gpu: 0`.
//!
//! Evaluators: pods (`pods`, `count/pods`, `cpu`/`requests.cpu`, `memory`/`requests.memory`,
//! `ephemeral-storage`/`requests.ephemeral-storage`, `limits.*`, `hugepages-*`, and
//! `requests.<extended resource>`; scopes Terminating, NotTerminating, BestEffort, NotBestEffort,
//! PriorityClass, CrossNamespacePodAffinity), services (`services`, `services.loadbalancers`,
//! `services.nodeports`), persistentvolumeclaims (`persistentvolumeclaims`, `requests.storage`),
//! resourceclaims.resource.k8s.io when the DRA API is loaded (`count/resourceclaims.resource.k8s.io`
//! and `<device class>.deviceclass.resource.k8s.io/devices`, as `resource_claims.go` counts them) and
//! an object count (`count/<resource>[.<group>]`, plus the legacy names `configmaps`, `secrets`,
//! `replicationcontrollers`, `resourcequotas`) for every other namespaced resource. Quotas are
//! checked on create only (as the evaluators' `Handles`; in-place pod resize is not modelled).

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use serde_json::{Value, json};

use crate::api::{Api, ApiError, name_of, namespace_of};
use crate::quantity::Quantity;
use crate::resources::ResourceDef;
use crate::store::{StoreError, rv_of};

/// A resource list (`corev1.ResourceList`).
pub type ResourceList = BTreeMap<String, Quantity>;

pub const QUOTAS_KEY: &str = "/resourcequotas";

const STANDARD_CONTAINER_RESOURCES: &[&str] = &["cpu", "memory", "ephemeral-storage"];

/// `helper.IsNativeResource`: no domain, or a `kubernetes.io/` one.
fn is_native(name: &str) -> bool {
    !name.contains('/') || name.contains("kubernetes.io/")
}

/// `helper.IsExtendedResourceName`: not native, not `requests.`-prefixed.
pub fn is_extended_resource_name(name: &str) -> bool {
    !is_native(name) && !name.starts_with("requests.")
}

fn resource_list(v: Option<&Value>) -> ResourceList {
    let mut out = ResourceList::new();
    if let Some(m) = v.and_then(Value::as_object) {
        for (k, q) in m {
            if let Ok(q) = crate::quantity::from_json(q) {
                out.insert(k.clone(), q);
            }
        }
    }
    out
}

fn add_into(acc: &mut ResourceList, other: &ResourceList) {
    for (k, v) in other {
        acc.entry(k.clone()).or_insert_with(Quantity::zero).add(v);
    }
}

/// Per-resource maximum.
fn max_into(acc: &mut ResourceList, other: &ResourceList) {
    for (k, v) in other {
        match acc.get(k) {
            Some(cur) if cur >= v => {}
            _ => {
                acc.insert(k.clone(), *v);
            }
        }
    }
}

fn container_resources(c: &Value) -> (ResourceList, ResourceList) {
    let limits = resource_list(c.pointer("/resources/limits"));
    let mut requests = resource_list(c.pointer("/resources/requests"));
    // SetDefaults_Pod: requests default to limits.
    for (k, v) in &limits {
        requests.entry(k.clone()).or_insert(*v);
    }
    (requests, limits)
}

fn is_sidecar(c: &Value) -> bool {
    c.get("restartPolicy").and_then(Value::as_str) == Some("Always")
}

/// `resourcehelper.PodRequests` / `PodLimits` (k8s.io/component-helpers/resource): the sum over
/// containers (and sidecars), at least every init container's (plus the sidecars started before
/// it), plus the pod overhead (for limits: only for resources that have a limit).
pub fn pod_requests_and_limits(pod: &Value) -> (ResourceList, ResourceList) {
    let containers = pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let inits = pod
        .pointer("/spec/initContainers")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let mut reqs = ResourceList::new();
    let mut lims = ResourceList::new();
    for c in containers {
        let (r, l) = container_resources(c);
        add_into(&mut reqs, &r);
        add_into(&mut lims, &l);
    }
    let mut sidecar_reqs = ResourceList::new();
    let mut sidecar_lims = ResourceList::new();
    let mut init_reqs = ResourceList::new();
    let mut init_lims = ResourceList::new();
    for c in inits {
        let (r, l) = container_resources(c);
        if is_sidecar(c) {
            add_into(&mut reqs, &r);
            add_into(&mut lims, &l);
            add_into(&mut sidecar_reqs, &r);
            add_into(&mut sidecar_lims, &l);
            max_into(&mut init_reqs, &sidecar_reqs);
            max_into(&mut init_lims, &sidecar_lims);
        } else {
            let mut r2 = r.clone();
            add_into(&mut r2, &sidecar_reqs);
            let mut l2 = l.clone();
            add_into(&mut l2, &sidecar_lims);
            max_into(&mut init_reqs, &r2);
            max_into(&mut init_lims, &l2);
        }
    }
    max_into(&mut reqs, &init_reqs);
    max_into(&mut lims, &init_lims);
    let overhead = resource_list(pod.pointer("/spec/overhead"));
    add_into(&mut reqs, &overhead);
    for (k, v) in &overhead {
        if let Some(l) = lims.get_mut(k) {
            l.add(v);
        }
    }
    (reqs, lims)
}

/// `podComputeUsageHelper`.
fn pod_compute_usage(requests: &ResourceList, limits: &ResourceList) -> ResourceList {
    let mut out = ResourceList::new();
    out.insert("pods".into(), Quantity::from_units(1));
    for r in STANDARD_CONTAINER_RESOURCES {
        if let Some(q) = requests.get(*r) {
            out.insert((*r).to_string(), *q);
            out.insert(format!("requests.{r}"), *q);
        }
        if let Some(q) = limits.get(*r) {
            out.insert(format!("limits.{r}"), *q);
        }
    }
    for (r, q) in requests {
        if r.starts_with("hugepages-") {
            out.insert(r.clone(), *q);
            out.insert(format!("requests.{r}"), *q);
        }
        if is_extended_resource_name(r) {
            out.insert(format!("requests.{r}"), *q);
        }
    }
    out
}

fn phase(pod: &Value) -> &str {
    pod.pointer("/status/phase")
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// `QuotaV1Pod`: pods count for compute resources unless terminal or past their grace period.
fn pod_charged(pod: &Value, now: Timestamp) -> bool {
    if matches!(phase(pod), "Succeeded" | "Failed") {
        return false;
    }
    if let (Some(ts), Some(grace)) = (
        pod.pointer("/metadata/deletionTimestamp")
            .and_then(Value::as_str),
        pod.pointer("/metadata/deletionGracePeriodSeconds")
            .and_then(Value::as_i64),
    ) && let Ok(t) = ts.parse::<Timestamp>()
        && let Ok(end) = t.checked_add(jiff::SignedDuration::from_secs(grace))
        && now > end
    {
        return false;
    }
    true
}

/// `PodUsageFunc`.
pub fn pod_usage(pod: &Value, now: Timestamp) -> ResourceList {
    let mut out = ResourceList::new();
    out.insert("count/pods".into(), Quantity::from_units(1));
    if !pod_charged(pod, now) {
        return out;
    }
    let (r, l) = pod_requests_and_limits(pod);
    add_into(&mut out, &pod_compute_usage(&r, &l));
    out
}

const POD_RESOURCES: &[&str] = &[
    "count/pods",
    "cpu",
    "memory",
    "ephemeral-storage",
    "requests.cpu",
    "requests.memory",
    "requests.ephemeral-storage",
    "limits.cpu",
    "limits.memory",
    "limits.ephemeral-storage",
    "pods",
];

/// The resource key of DRA's ResourceClaims (served from CRDs in kubesim: tests/fixtures/thirdparty-crds/dra-v1).
pub const CLAIMS_KEY: &str = "resource.k8s.io/resourceclaims";
const CLAIM_COUNT: &str = "count/resourceclaims.resource.k8s.io";
/// `V1ResourceByDeviceClass`: `<class>.deviceclass.resource.k8s.io/devices`.
const PER_DEVICE_CLASS: &str = ".deviceclass.resource.k8s.io/devices";
/// `resourceapi.AllocationResultsMaxSize`: what an `All` request may take at most.
const ALLOCATION_RESULTS_MAX_SIZE: i64 = 32;

/// The devices one (sub)request may be allocated: its count (default 1) for `ExactCount` (the
/// default mode), the most an allocation holds for `All`, nothing for a mode it does not know.
fn requested_devices(req: &Value) -> i64 {
    match req
        .get("allocationMode")
        .and_then(Value::as_str)
        .unwrap_or("ExactCount")
    {
        "ExactCount" => req.get("count").and_then(Value::as_i64).unwrap_or(1),
        "All" => ALLOCATION_RESULTS_MAX_SIZE,
        _ => 0,
    }
}

/// The claim evaluator's `Usage` (pkg/quota/v1/evaluator/core/resource_claims.go): one claim, and
/// per device class the devices its requests may take; a `firstAvailable` request is charged its
/// largest alternative per class. Requests are read in the v1 shape (`exactly`) and the v1beta1
/// one (the fields on the request itself).
pub fn claim_usage(claim: &Value) -> ResourceList {
    let mut out = ResourceList::new();
    out.insert(CLAIM_COUNT.into(), Quantity::from_units(1));
    let requests = claim
        .pointer("/spec/devices/requests")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    for req in requests {
        let mut charge = ResourceList::new();
        match req.get("firstAvailable").and_then(Value::as_array) {
            Some(subs) if !subs.is_empty() => {
                for sub in subs {
                    if let Some(class) = sub.get("deviceClassName").and_then(Value::as_str) {
                        let one = ResourceList::from([(
                            format!("{class}{PER_DEVICE_CLASS}"),
                            Quantity::from_units(requested_devices(sub)),
                        )]);
                        max_into(&mut charge, &one);
                    }
                }
            }
            _ => {
                let exact = req.get("exactly").unwrap_or(req);
                if let Some(class) = exact.get("deviceClassName").and_then(Value::as_str) {
                    charge.insert(
                        format!("{class}{PER_DEVICE_CLASS}"),
                        Quantity::from_units(requested_devices(exact)),
                    );
                }
            }
        }
        add_into(&mut out, &charge);
    }
    out
}

/// `ObjectCountQuotaResourceNameFor` of a resource key (`GROUP/PLURAL`): `count/pods`,
/// `count/deployments.apps`.
pub fn object_count_name(key: &str) -> String {
    match key.split_once('/') {
        Some(("", plural)) => format!("count/{plural}"),
        Some((group, plural)) => format!("count/{plural}.{group}"),
        None => format!("count/{key}"),
    }
}

/// The resource names the evaluator of the resource `key` tracks, restricted to `input`
/// (`MatchingResources`).
pub fn matching_resources(key: &str, input: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for r in input {
        let m = match key {
            "/pods" => {
                POD_RESOURCES.contains(&r.as_str())
                    || r.starts_with("hugepages-")
                    || r.starts_with("requests.hugepages-")
                    || (!is_native(r) && r.starts_with("requests."))
            }
            "/services" => matches!(
                r.as_str(),
                "count/services" | "services" | "services.loadbalancers" | "services.nodeports"
            ),
            "/persistentvolumeclaims" => {
                matches!(
                    r.as_str(),
                    "count/persistentvolumeclaims" | "persistentvolumeclaims" | "requests.storage"
                ) || r.ends_with(".storageclass.storage.k8s.io/requests.storage")
                    || r.ends_with(".storageclass.storage.k8s.io/persistentvolumeclaims")
            }
            CLAIMS_KEY => r == CLAIM_COUNT || r.ends_with(PER_DEVICE_CLASS),
            _ => *r == object_count_name(key) || legacy_alias(key) == Some(r.as_str()),
        };
        if m {
            out.push(r.clone());
        }
    }
    out
}

fn legacy_alias(key: &str) -> Option<&'static str> {
    match key {
        "/configmaps" => Some("configmaps"),
        "/secrets" => Some("secrets"),
        "/replicationcontrollers" => Some("replicationcontrollers"),
        "/resourcequotas" => Some("resourcequotas"),
        _ => None,
    }
}

/// The usage of one namespaced object of the resource `key` (`Evaluator.Usage`).
pub fn usage(key: &str, obj: &Value, now: Timestamp) -> ResourceList {
    let one = Quantity::from_units(1);
    let mut out = ResourceList::new();
    match key {
        "/pods" => return pod_usage(obj, now),
        CLAIMS_KEY => return claim_usage(obj),
        "/services" => {
            out.insert("count/services".into(), one);
            out.insert("services".into(), one);
            let t = obj
                .pointer("/spec/type")
                .and_then(Value::as_str)
                .unwrap_or("ClusterIP");
            let ports = obj
                .pointer("/spec/ports")
                .and_then(Value::as_array)
                .map(Vec::len)
                .unwrap_or(0);
            let ports = i64::try_from(ports).unwrap_or(i64::MAX);
            match t {
                "LoadBalancer" => {
                    out.insert("services.loadbalancers".into(), one);
                    out.insert("services.nodeports".into(), Quantity::from_units(ports));
                }
                "NodePort" => {
                    out.insert("services.nodeports".into(), Quantity::from_units(ports));
                }
                _ => {}
            }
        }
        "/persistentvolumeclaims" => {
            out.insert("count/persistentvolumeclaims".into(), one);
            out.insert("persistentvolumeclaims".into(), one);
            let class = obj
                .pointer("/spec/storageClassName")
                .and_then(Value::as_str)
                .unwrap_or("");
            if !class.is_empty() {
                out.insert(
                    format!("{class}.storageclass.storage.k8s.io/persistentvolumeclaims"),
                    one,
                );
            }
            if let Some(q) = obj
                .pointer("/spec/resources/requests/storage")
                .and_then(|v| crate::quantity::from_json(v).ok())
            {
                out.insert("requests.storage".into(), q);
                if !class.is_empty() {
                    out.insert(
                        format!("{class}.storageclass.storage.k8s.io/requests.storage"),
                        q,
                    );
                }
            }
        }
        _ => {
            out.insert(object_count_name(key), one);
            if let Some(a) = legacy_alias(key) {
                out.insert(a.into(), one);
            }
        }
    }
    out
}

/// `getScopeSelectorsFromQuota`: `spec.scopes` as Exists selectors, plus `spec.scopeSelector`.
fn scope_selectors(quota: &Value) -> Vec<Value> {
    let mut out: Vec<Value> = quota
        .pointer("/spec/scopes")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|s| json!({"scopeName": s, "operator": "Exists"}))
                .collect()
        })
        .unwrap_or_default();
    if let Some(a) = quota
        .pointer("/spec/scopeSelector/matchExpressions")
        .and_then(Value::as_array)
    {
        out.extend(a.iter().cloned());
    }
    out
}

fn is_best_effort(pod: &Value) -> bool {
    pod.get("spec")
        .is_some_and(|s| crate::defaults::qos_class(s) == "BestEffort")
}

fn uses_cross_namespace_affinity(pod: &Value) -> bool {
    let term_cross = |t: &Value| {
        t.get("namespaces")
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty())
            || t.get("namespaceSelector").is_some_and(|v| !v.is_null())
    };
    ["podAffinity", "podAntiAffinity"].iter().any(|k| {
        let Some(a) = pod.pointer(&format!("/spec/affinity/{k}")) else {
            return false;
        };
        let req = a
            .get("requiredDuringSchedulingIgnoredDuringExecution")
            .and_then(Value::as_array)
            .is_some_and(|ts| ts.iter().any(term_cross));
        let pref = a
            .get("preferredDuringSchedulingIgnoredDuringExecution")
            .and_then(Value::as_array)
            .is_some_and(|ts| {
                ts.iter()
                    .any(|w| w.get("podAffinityTerm").is_some_and(term_cross))
            });
        req || pref
    })
}

/// `podMatchesScopeFunc`.
fn pod_matches_scope(selector: &Value, pod: &Value) -> bool {
    let scope = selector
        .get("scopeName")
        .and_then(Value::as_str)
        .unwrap_or("");
    let terminating = pod
        .pointer("/spec/activeDeadlineSeconds")
        .and_then(Value::as_i64)
        .is_some_and(|s| s >= 0);
    match scope {
        "Terminating" => terminating,
        "NotTerminating" => !terminating,
        "BestEffort" => is_best_effort(pod),
        "NotBestEffort" => !is_best_effort(pod),
        "PriorityClass" => {
            let pc = pod
                .pointer("/spec/priorityClassName")
                .and_then(Value::as_str)
                .unwrap_or("");
            let values: Vec<&str> = selector
                .get("values")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            match selector
                .get("operator")
                .and_then(Value::as_str)
                .unwrap_or("")
            {
                "Exists" => !pc.is_empty(),
                "DoesNotExist" => pc.is_empty(),
                "In" => !pc.is_empty() && values.contains(&pc),
                // A label selector NotIn matches a missing label.
                "NotIn" => !values.contains(&pc) || pc.is_empty(),
                _ => false,
            }
        }
        "CrossNamespacePodAffinity" => uses_cross_namespace_affinity(pod),
        _ => false,
    }
}

/// `Evaluator.Matches` (`generic.Matches`): the quota's `status.hard` names a resource the
/// evaluator tracks and every scope matches (scopes only ever match pods).
pub fn quota_matches(quota: &Value, key: &str, obj: &Value) -> bool {
    let hard: Vec<String> = resource_list(quota.pointer("/status/hard"))
        .into_keys()
        .collect();
    if matching_resources(key, &hard).is_empty() {
        return false;
    }
    scope_selectors(quota).iter().all(|s| {
        if key == "/pods" {
            pod_matches_scope(s, obj)
        } else {
            false
        }
    })
}

/// The validation set of `podEvaluator.Constraints` (the historic requirement that every
/// container states cpu/memory when a quota tracks them).
const VALIDATION_SET: &[&str] = &[
    "cpu",
    "memory",
    "requests.cpu",
    "requests.memory",
    "limits.cpu",
    "limits.memory",
];

/// `podEvaluator.Constraints`: Err("must specify ...").
fn pod_constraints(required: &[String], pod: &Value) -> Result<(), String> {
    let required: BTreeSet<&str> = required
        .iter()
        .map(String::as_str)
        .filter(|r| VALIDATION_SET.contains(r))
        .collect();
    if required.is_empty() {
        return Ok(());
    }
    let mut missing: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for key in ["containers", "initContainers"] {
        for c in pod
            .pointer(&format!("/spec/{key}"))
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[])
        {
            let (r, l) = container_resources(c);
            let have = pod_compute_usage(&r, &l);
            for res in &required {
                if !have.contains_key(*res) {
                    missing.entry(res).or_default().insert(
                        c.get("name")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_string(),
                    );
                }
            }
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    let parts: Vec<String> = missing
        .iter()
        .map(|(r, names)| {
            format!(
                "{r} for: {}",
                names.iter().cloned().collect::<Vec<_>>().join(",")
            )
        })
        .collect();
    Err(format!("must specify {}", parts.join("; ")))
}

/// `prettyPrint`: `name=quantity` sorted by name, comma-separated.
fn pretty(list: &ResourceList) -> String {
    list.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

fn mask(list: &ResourceList, names: &[String]) -> ResourceList {
    list.iter()
        .filter(|(k, _)| names.contains(k))
        .map(|(k, v)| (k.clone(), *v))
        .collect()
}

fn to_json(list: &ResourceList) -> Value {
    Value::Object(
        list.iter()
            .map(|(k, v)| (k.clone(), json!(v.canonical())))
            .collect(),
    )
}

/// `admission.NewForbidden` for a quota failure.
fn forbidden(def: &ResourceDef, name: &str, why: &str) -> ApiError {
    let message = if name.is_empty() {
        format!("{} is forbidden: {why}", def.qualified())
    } else {
        format!("{} \"{name}\" is forbidden: {why}", def.qualified())
    };
    let mut details = json!({"name": name, "kind": def.plural});
    if !def.group.is_empty() {
        details["group"] = json!(def.group);
    }
    ApiError::forbidden(message).with_details(details)
}

/// Quotas to write back: (the quota as read, its new `status.used`).
type Charges = Vec<(std::sync::Arc<Value>, ResourceList)>;

/// `CheckRequest` for a create of `obj`: Ok(the charges to persist) or the 403.
fn check(api: &Api, def: &ResourceDef, obj: &Value) -> Result<Charges, ApiError> {
    let ns = namespace_of(obj);
    let quotas = api
        .store
        .page(QUOTAS_KEY, Some(ns), None, usize::MAX, None)
        .items;
    if quotas.is_empty() {
        return Ok(Vec::new());
    }
    let key = def.key();
    let input = usage(&key, obj, api.clock.now());
    let name = name_of(obj);
    let mut interesting = Vec::new();
    for q in &quotas {
        if !quota_matches(q, &key, obj) {
            continue;
        }
        let hard = resource_list(q.pointer("/status/hard"));
        let hard_names: Vec<String> = hard.keys().cloned().collect();
        let restricted = matching_resources(&key, &hard_names);
        if key == "/pods"
            && let Err(e) = pod_constraints(&restricted, obj)
        {
            return Err(forbidden(
                def,
                name,
                &format!("failed quota: {}: {e}", name_of(q)),
            ));
        }
        let used = resource_list(q.pointer("/status/used"));
        if !restricted
            .iter()
            .all(|r| hard.contains_key(r) && used.contains_key(r))
        {
            let mut names = restricted.clone();
            names.sort();
            return Err(forbidden(
                def,
                name,
                &format!(
                    "status unknown for quota: {}, resources: {}",
                    name_of(q),
                    names.join(",")
                ),
            ));
        }
        interesting.push((q.clone(), hard, used));
    }
    let negative: Vec<String> = input
        .iter()
        .filter(|(_, v)| v.is_negative())
        .map(|(k, _)| k.clone())
        .collect();
    if !negative.is_empty() {
        return Err(forbidden(
            def,
            name,
            &format!(
                "quota usage is negative for resource(s): {}",
                negative.join(",")
            ),
        ));
    }
    let delta: ResourceList = input.into_iter().filter(|(_, v)| !v.is_zero()).collect();
    let mut charges = Vec::new();
    if delta.is_empty() {
        return Ok(charges);
    }
    for (q, hard, used) in interesting {
        let hard_names: Vec<String> = hard.keys().cloned().collect();
        let requested = mask(&delta, &hard_names);
        if requested.is_empty() {
            continue;
        }
        let mut new_usage = used.clone();
        add_into(&mut new_usage, &requested);
        let exceeded: Vec<String> = requested
            .keys()
            .filter(|k| match (new_usage.get(*k), hard.get(*k)) {
                (Some(u), Some(h)) => u > h,
                _ => false,
            })
            .cloned()
            .collect();
        if !exceeded.is_empty() {
            return Err(forbidden(
                def,
                name,
                &format!(
                    "exceeded quota: {}, requested: {}, used: {}, limited: {}",
                    name_of(&q),
                    pretty(&mask(&requested, &exceeded)),
                    pretty(&mask(&used, &exceeded)),
                    pretty(&mask(&hard, &exceeded)),
                ),
            ));
        }
        charges.push((q, new_usage));
    }
    Ok(charges)
}

/// The ResourceQuota admission for a create of `obj` (already defaulted, named and validated):
/// 403 when a matching quota would be exceeded; otherwise the usage is charged to the quotas'
/// `status.used` (not for dry runs).
pub fn admit_create(
    api: &Api,
    def: &ResourceDef,
    obj: &Value,
    dry_run: bool,
) -> Result<(), ApiError> {
    if !def.namespaced || def.key() == crate::crd::CRD_KEY {
        return Ok(());
    }
    for _ in 0..4 {
        let charges = check(api, def, obj)?;
        if dry_run || charges.is_empty() {
            return Ok(());
        }
        let mut conflict = false;
        for (q, used) in charges {
            let mut new = (*q).clone();
            new["status"]["used"] = to_json(&used);
            match api.store.update(QUOTAS_KEY, new, Some(rv_of(&q))) {
                Ok(_) => {}
                Err(StoreError::Conflict { .. }) => conflict = true,
                // A quota deleted meanwhile no longer constrains anything.
                Err(_) => {}
            }
        }
        if !conflict {
            return Ok(());
        }
    }
    Err(ApiError::new(
        409,
        "Conflict",
        format!(
            "Operation cannot be fulfilled on resourcequotas: the quotas of namespace {} changed while charging {} \"{}\"; please retry",
            namespace_of(obj),
            def.qualified(),
            name_of(obj)
        ),
    ))
}

/// Whether some evaluator tracks the quota resource `name` (object counts are assumed to name a
/// served resource).
fn tracked(name: &str) -> bool {
    let one = [name.to_string()];
    name.starts_with("count/")
        || [
            "/pods",
            "/services",
            "/persistentvolumeclaims",
            "/configmaps",
            "/secrets",
        ]
        .iter()
        .chain(["/replicationcontrollers", "/resourcequotas", CLAIMS_KEY].iter())
        .any(|k| !matching_resources(k, &one).is_empty())
}

/// The quota controller's status for `quota` given every object of the namespace by resource
/// (`syncResourceQuota` + `CalculateUsage`): `status.hard` = `spec.hard`, `status.used` = the
/// usage of the matching objects for every hard resource (zero when none).
pub fn compute_status(quota: &Value, objects: &[(&str, &Value)], now: Timestamp) -> Value {
    let hard_json = quota
        .pointer("/spec/hard")
        .cloned()
        .unwrap_or_else(|| json!({}));
    let hard = resource_list(Some(&hard_json));
    let hard_names: Vec<String> = hard.keys().cloned().collect();
    let selectors = scope_selectors(quota);
    // Resources no evaluator tracks (e.g. `limits.nvidia.com/gpu`: extended resources only have
    // the `requests.` form) are left out of `status.used`, as `CalculateUsage` masks them.
    let mut used: ResourceList = hard_names
        .iter()
        .filter(|k| tracked(k))
        .map(|k| (k.clone(), Quantity::zero()))
        .collect();
    for (key, obj) in objects {
        let names = matching_resources(key, &hard_names);
        if names.is_empty() {
            continue;
        }
        let in_scope = selectors.iter().all(|s| {
            if *key == "/pods" {
                pod_matches_scope(s, obj)
            } else {
                false
            }
        });
        if in_scope {
            add_into(&mut used, &mask(&usage(key, obj, now), &names));
        }
    }
    json!({"hard": hard_json, "used": to_json(&used)})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(containers: Value) -> Value {
        json!({"metadata": {"name": "p", "namespace": "ns"}, "spec": {"containers": containers}})
    }

    #[test]
    fn pod_usage_and_extended_resources() {
        let now = Timestamp::now();
        let p = pod(json!([
            {"name": "a", "resources": {"requests": {"cpu": "250m", "memory": "64Mi"}, "limits": {"nvidia.com/gpu": "1"}}},
            {"name": "b", "resources": {"requests": {"cpu": "1"}}}
        ]));
        let u = pod_usage(&p, now);
        assert_eq!(u["pods"].canonical(), "1");
        assert_eq!(u["count/pods"].canonical(), "1");
        assert_eq!(u["requests.cpu"].canonical(), "1250m");
        assert_eq!(u["cpu"].canonical(), "1250m");
        assert_eq!(u["requests.memory"].canonical(), "64Mi");
        assert_eq!(u["requests.nvidia.com/gpu"].canonical(), "1");
        assert!(!u.contains_key("limits.nvidia.com/gpu"));
        let mut done = p.clone();
        done["status"] = json!({"phase": "Succeeded"});
        let u = pod_usage(&done, now);
        assert_eq!(u.keys().collect::<Vec<_>>(), vec!["count/pods"]);
    }

    #[test]
    fn init_containers_and_constraints() {
        let mut p = pod(json!([{"name": "a", "resources": {"requests": {"cpu": "100m"}}}]));
        p["spec"]["initContainers"] =
            json!([{"name": "i", "resources": {"requests": {"cpu": "500m"}}}]);
        let (r, _) = pod_requests_and_limits(&p);
        assert_eq!(r["cpu"].canonical(), "500m");
        let err = pod_constraints(&["requests.memory".into(), "limits.cpu".into()], &p)
            .expect_err("missing");
        assert_eq!(
            err,
            "must specify limits.cpu for: a,i; requests.memory for: a,i"
        );
    }

    #[test]
    fn status_counts_matching_objects() {
        let (pods, cms) = ("/pods", "/configmaps");
        let quota = json!({"spec": {"hard": {"pods": "2", "requests.nvidia.com/gpu": "0", "configmaps": "5", "count/configmaps": "5"}}});
        let gpu = pod(json!([{"name": "a", "resources": {"limits": {"nvidia.com/gpu": "1"}}}]));
        let cm = json!({"metadata": {"name": "c", "namespace": "ns"}});
        let st = compute_status(
            &quota,
            &[(pods, &gpu), (pods, &gpu), (cms, &cm)],
            Timestamp::now(),
        );
        assert_eq!(
            st["used"],
            json!({"pods": "2", "requests.nvidia.com/gpu": "2", "configmaps": "1", "count/configmaps": "1"})
        );
        // Scoped quotas only count pods in scope.
        let scoped = json!({"spec": {"hard": {"pods": "2"}, "scopes": ["Terminating"]}});
        let st = compute_status(&scoped, &[(pods, &gpu)], Timestamp::now());
        assert_eq!(st["used"], json!({"pods": "0"}));
    }

    /// The cases of resource_claims_test.go: one request, several, a count, `All`, an unknown
    /// mode, `firstAvailable` (largest alternative per class), and the v1beta1 shape.
    #[test]
    fn claim_usage_per_device_class() {
        let claim = |requests: Value| json!({"spec": {"devices": {"requests": requests}}});
        let exactly = |class: &str, extra: Value| {
            let mut e = json!({"deviceClassName": class});
            if let Some(m) = extra.as_object() {
                for (k, v) in m {
                    e[k] = v.clone();
                }
            }
            json!({"name": "r", "exactly": e})
        };
        let used = |c: &Value| -> Value { to_json(&claim_usage(c)) };
        let gpu = "gpu.deviceclass.resource.k8s.io/devices";
        let count = "count/resourceclaims.resource.k8s.io";
        assert_eq!(
            used(&claim(json!([exactly("gpu", json!({}))]))),
            json!({count: "1", gpu: "1"})
        );
        let five: Vec<Value> = (0..5).map(|_| exactly("gpu", json!({}))).collect();
        assert_eq!(used(&claim(json!(five))), json!({count: "1", gpu: "5"}));
        assert_eq!(
            used(&claim(json!([exactly("gpu", json!({"count": 5}))]))),
            json!({count: "1", gpu: "5"})
        );
        assert_eq!(
            used(&claim(json!([exactly(
                "gpu",
                json!({"allocationMode": "All"})
            )]))),
            json!({count: "1", gpu: "32"})
        );
        assert_eq!(
            used(&claim(json!([exactly(
                "gpu",
                json!({"allocationMode": "Future"})
            )]))),
            json!({count: "1", gpu: "0"})
        );
        let first = json!([{"name": "r", "firstAvailable": [
            {"name": "a", "deviceClassName": "gpu", "count": 2},
            {"name": "b", "deviceClassName": "gpu", "count": 4},
            {"name": "c", "deviceClassName": "fpga"}]}, exactly("gpu", json!({}))]);
        assert_eq!(
            used(&claim(first)),
            json!({count: "1", gpu: "5", "fpga.deviceclass.resource.k8s.io/devices": "1"})
        );
        assert_eq!(
            used(&claim(
                json!([{"name": "r", "deviceClassName": "gpu", "count": 3}])
            )),
            json!({count: "1", gpu: "3"})
        );
        // A quota on a device class counts the claims' devices, and nothing else's.
        let quota = json!({"spec": {"hard": {gpu: "4", count: "10"}}});
        let c = claim(json!([exactly("gpu", json!({"count": 2}))]));
        let cm = json!({"metadata": {"name": "c", "namespace": "ns"}});
        let st = compute_status(
            &quota,
            &[(CLAIMS_KEY, &c), (CLAIMS_KEY, &c), ("/configmaps", &cm)],
            Timestamp::now(),
        );
        assert_eq!(st["used"], json!({gpu: "4", count: "2"}));
    }
}
