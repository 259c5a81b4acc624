//! Who owns a pod: the controller chain up to the top-level owner, verified.
//!
//! Anyone who can create a pod can write `ownerReferences`, so a miner pod could claim
//! a production Deployment as its owner and get it scaled to 0. Before the operator
//! trusts an owner it checks that the owner really controls the pod: the UID matches,
//! the owner's kind can control the child's kind, its selector matches the child's
//! labels, a ReplicaSet's `pod-template-hash` and a Job's `controller-uid` agree, and
//! the containers that carry findings are in the owner's pod template with the same
//! image. Otherwise the pod is treated as bare and the forged reference is recorded.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};
use kube::Client;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams};
use serde_json::Value;

use super::error::{Error, Result, is_not_found};
use crate::api::{ObjectRef, OwnerRef};
use crate::detect::LabelSelectorMatcher;

/// Built-in kinds that may control pods directly.
const POD_CONTROLLERS: &[&str] = &[
    "ReplicaSet",
    "StatefulSet",
    "DaemonSet",
    "Job",
    "ReplicationController",
];
/// Built-in kinds that never control pods directly.
const NEVER_POD_CONTROLLERS: &[&str] = &["Deployment", "CronJob"];
/// Longest owner chain followed.
const MAX_DEPTH: usize = 8;

/// The verified owner chain of a pod.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Ownership {
    /// From the pod's controller to the top-level owner (empty for a bare pod).
    pub chain: Vec<OwnerRef>,
    /// The top-level owner (the pod itself for a bare pod).
    pub top: ObjectRef,
    /// A reference that was claimed but not verified, and why.
    pub forged: Option<(ObjectRef, String)>,
}

impl Ownership {
    pub fn is_bare(&self) -> bool {
        self.chain.is_empty()
    }

    /// `Kind/name` for people.
    pub fn workload(&self) -> String {
        format!("{}/{}", self.top.kind, self.top.name)
    }
}

/// The controller reference of an object (`controller: true`).
pub fn controller_ref(meta: &ObjectMeta) -> Option<&OwnerReference> {
    meta.owner_references
        .iter()
        .flatten()
        .find(|r| r.controller == Some(true))
}

/// The field manager that created an object: the first `managedFields` entry.
pub fn creator(meta: &ObjectMeta) -> Option<String> {
    meta.managed_fields
        .iter()
        .flatten()
        .filter(|m| matches!(m.operation.as_deref(), Some("Update") | Some("Apply")))
        .min_by_key(|m| m.time.as_ref().map(|t| t.0))
        .and_then(|m| m.manager.clone())
}

/// An `ApiResource` for a group/version/kind: built-ins without a round trip, others
/// through discovery.
pub async fn api_resource(client: &Client, api_version: &str, kind: &str) -> Result<ApiResource> {
    let (group, version) = match api_version.rsplit_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version),
    };
    if let Some(plural) = builtin_plural(group, kind) {
        return Ok(ApiResource {
            group: group.to_string(),
            version: version.to_string(),
            api_version: api_version.to_string(),
            kind: kind.to_string(),
            plural: plural.to_string(),
        });
    }
    let gvk = GroupVersionKind::gvk(group, version, kind);
    kube::discovery::pinned_kind(client, &gvk)
        .await
        .map(|(ar, _caps)| ar)
        .map_err(Error::read(format!("discovery of {api_version} {kind}")))
}

/// Whether a kind serves the `scale` subresource (built-ins known; others discovered).
pub async fn has_scale(client: &Client, api_version: &str, kind: &str) -> Result<bool> {
    let (group, version) = match api_version.rsplit_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version),
    };
    if builtin_plural(group, kind).is_some() {
        return Ok(matches!(
            kind,
            "Deployment" | "ReplicaSet" | "StatefulSet" | "ReplicationController"
        ));
    }
    let gvk = GroupVersionKind::gvk(group, version, kind);
    let (_, caps) = kube::discovery::pinned_kind(client, &gvk)
        .await
        .map_err(Error::read(format!("discovery of {api_version} {kind}")))?;
    Ok(caps
        .subresources
        .iter()
        .any(|(ar, _)| ar.plural == "scale" || ar.plural.ends_with("/scale")))
}

fn builtin_plural(group: &str, kind: &str) -> Option<&'static str> {
    Some(match (group, kind) {
        ("apps", "Deployment") => "deployments",
        ("apps", "ReplicaSet") => "replicasets",
        ("apps", "StatefulSet") => "statefulsets",
        ("apps", "DaemonSet") => "daemonsets",
        ("batch", "Job") => "jobs",
        ("batch", "CronJob") => "cronjobs",
        ("", "ReplicationController") => "replicationcontrollers",
        ("", "Pod") => "pods",
        _ => return None,
    })
}

/// Reads an owner as a dynamic object; `None` when it does not exist.
pub async fn get_owner(
    client: &Client,
    namespace: &str,
    api_version: &str,
    kind: &str,
    name: &str,
) -> Result<Option<DynamicObject>> {
    let ar = api_resource(client, api_version, kind).await?;
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, &ar);
    match api.get(name).await {
        Ok(o) => Ok(Some(o)),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(Error::read(format!("{kind} {namespace}/{name}"))(e)),
    }
}

fn pod_ref(pod: &Pod) -> ObjectRef {
    ObjectRef {
        api_version: "v1".into(),
        kind: "Pod".into(),
        namespace: pod.metadata.namespace.clone(),
        name: pod.metadata.name.clone().unwrap_or_default(),
        uid: pod.metadata.uid.clone(),
    }
}

fn claimed_ref(namespace: &str, r: &OwnerReference) -> ObjectRef {
    ObjectRef {
        api_version: r.api_version.clone(),
        kind: r.kind.clone(),
        namespace: Some(namespace.to_string()),
        name: r.name.clone(),
        uid: Some(r.uid.clone()),
    }
}

/// Resolves and verifies the owner chain of `pod`. `finding_containers` are the
/// containers that carry findings (their images must be in the owner's template).
pub async fn resolve(
    client: &Client,
    pod: &Pod,
    finding_containers: &[String],
) -> Result<Ownership> {
    let namespace = pod.metadata.namespace.clone().unwrap_or_default();
    let mut out = Ownership {
        top: pod_ref(pod),
        ..Default::default()
    };
    let Some(first) = controller_ref(&pod.metadata) else {
        return Ok(out);
    };
    let pod_labels = pod.metadata.labels.clone().unwrap_or_default();
    let mut next: Option<OwnerReference> = Some(first.clone());
    // What the next owner must control: labels of the child (the pod's, then the
    // child owner's template labels) and the child's kind.
    let mut child_kind = "Pod".to_string();
    let mut child_labels = pod_labels.clone();
    while let Some(r) = next.take() {
        if out.chain.len() >= MAX_DEPTH {
            break;
        }
        let owner = match get_owner(client, &namespace, &r.api_version, &r.kind, &r.name).await {
            Ok(o) => o,
            Err(Error::Read { source, .. }) if super::error::is_forbidden(&source) => {
                // The operator may not read this kind (an owner kind its ClusterRole does not
                // list): the incident is still recorded, with the claimed owner as the top,
                // unverified; acting on it will be refused and recorded as Skipped.
                tracing::warn!(owner = %format!("{} {namespace}/{}", r.kind, r.name), "cannot read the owner (403): recorded unverified");
                out.chain.push(OwnerRef {
                    api_version: r.api_version.clone(),
                    kind: r.kind.clone(),
                    name: r.name.clone(),
                    uid: Some(r.uid.clone()),
                    field_manager: None,
                    created_at: None,
                });
                out.top = claimed_ref(&namespace, &r);
                break;
            }
            Err(e) => return Err(e),
        };
        let Some(owner) = owner else {
            // Gone (being garbage collected) or never existed.
            out.forged = Some((
                claimed_ref(&namespace, &r),
                format!("{} {} does not exist", r.kind, r.name),
            ));
            break;
        };
        let verdict = if child_kind == "Pod" {
            verify_pod_controller(&r, &owner, pod, &pod_labels, finding_containers)
        } else {
            verify_parent(&r, &owner, &child_kind, &child_labels)
        };
        if let Err(reason) = verdict {
            out.forged = Some((claimed_ref(&namespace, &r), reason));
            break;
        }
        out.chain.push(OwnerRef {
            api_version: r.api_version.clone(),
            kind: r.kind.clone(),
            name: r.name.clone(),
            uid: Some(r.uid.clone()),
            field_manager: creator(&owner.metadata),
            created_at: owner.metadata.creation_timestamp.clone(),
        });
        out.top = ObjectRef {
            api_version: r.api_version.clone(),
            kind: r.kind.clone(),
            namespace: Some(namespace.clone()),
            name: r.name.clone(),
            uid: Some(r.uid.clone()),
        };
        child_kind = r.kind.clone();
        child_labels = template_labels(&owner.data);
        next = controller_ref(&owner.metadata).cloned();
    }
    Ok(out)
}

fn template_labels(data: &Value) -> BTreeMap<String, String> {
    data.pointer("/spec/template/metadata/labels")
        .or_else(|| data.pointer("/spec/jobTemplate/spec/template/metadata/labels"))
        .and_then(|v| serde_json::from_value(v.clone()).ok())
        .unwrap_or_default()
}

fn selector_matches(
    data: &Value,
    labels: &BTreeMap<String, String>,
    kind: &str,
) -> Result<(), String> {
    let Some(sel) = data.pointer("/spec/selector") else {
        return Ok(());
    };
    if kind == "ReplicationController" {
        // a plain map
        let map: BTreeMap<String, String> = serde_json::from_value(sel.clone())
            .map_err(|_| "its selector cannot be read".to_string())?;
        return if map.iter().all(|(k, v)| labels.get(k) == Some(v)) {
            Ok(())
        } else {
            Err("its selector does not match the pod's labels".into())
        };
    }
    let Ok(selector) = serde_json::from_value::<LabelSelector>(sel.clone()) else {
        // a string selector (custom resources publish one in status); not checkable here
        return Ok(());
    };
    let matcher = LabelSelectorMatcher::new(&selector, "spec.selector")
        .map_err(|_| "its selector is invalid".to_string())?;
    if matcher.matches(labels) {
        Ok(())
    } else {
        Err("its selector does not match the labels".into())
    }
}

fn verify_pod_controller(
    r: &OwnerReference,
    owner: &DynamicObject,
    pod: &Pod,
    pod_labels: &BTreeMap<String, String>,
    finding_containers: &[String],
) -> Result<(), String> {
    let kind = r.kind.as_str();
    if owner.metadata.uid.as_deref() != Some(r.uid.as_str()) {
        return Err(format!(
            "the pod names {kind} {} with UID {} but that object's UID is {}",
            r.name,
            r.uid,
            owner.metadata.uid.as_deref().unwrap_or("unknown")
        ));
    }
    if NEVER_POD_CONTROLLERS.contains(&kind) {
        return Err(format!("a {kind} never controls pods directly"));
    }
    if POD_CONTROLLERS.contains(&kind) {
        selector_matches(&owner.data, pod_labels, kind)
            .map_err(|e| format!("{kind} {}: {e}", r.name))?;
    }
    if kind == "ReplicaSet"
        && let Some(hash) = owner
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get("pod-template-hash"))
        && pod_labels.get("pod-template-hash") != Some(hash)
    {
        return Err(format!(
            "the pod's pod-template-hash does not match ReplicaSet {}",
            r.name
        ));
    }
    if kind == "Job" {
        let uid = pod_labels
            .get("batch.kubernetes.io/controller-uid")
            .or_else(|| pod_labels.get("controller-uid"));
        if uid != Some(&r.uid) {
            return Err(format!(
                "the pod's controller-uid label does not match Job {}",
                r.name
            ));
        }
    }
    // The containers that carry findings must come from the owner's template.
    if let Some(template) = owner.data.pointer("/spec/template/spec") {
        let images = template_images(template);
        let spec = pod.spec.as_ref();
        for name in finding_containers {
            let pod_image = spec.and_then(|s| {
                s.containers
                    .iter()
                    .chain(s.init_containers.iter().flatten())
                    .find(|c| &c.name == name)
                    .and_then(|c| c.image.clone())
            });
            let Some(pod_image) = pod_image else {
                // ephemeral containers are never in a template
                return Err(format!(
                    "container {name} is not in {kind} {}'s pod template",
                    r.name
                ));
            };
            if images.get(name.as_str()) != Some(&pod_image) {
                return Err(format!(
                    "container {name} ({pod_image}) is not in {kind} {}'s pod template",
                    r.name
                ));
            }
        }
    }
    Ok(())
}

fn template_images(spec: &Value) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for list in ["containers", "initContainers"] {
        for c in spec
            .get(list)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let (Some(n), Some(i)) = (
                c.get("name").and_then(Value::as_str),
                c.get("image").and_then(Value::as_str),
            ) {
                out.insert(n.to_string(), i.to_string());
            }
        }
    }
    out
}

fn verify_parent(
    r: &OwnerReference,
    owner: &DynamicObject,
    child_kind: &str,
    child_labels: &BTreeMap<String, String>,
) -> Result<(), String> {
    let kind = r.kind.as_str();
    if owner.metadata.uid.as_deref() != Some(r.uid.as_str()) {
        return Err(format!(
            "{child_kind} names {kind} {} with UID {} but that object's UID is {}",
            r.name,
            r.uid,
            owner.metadata.uid.as_deref().unwrap_or("unknown")
        ));
    }
    let plausible = match (kind, child_kind) {
        ("Deployment", "ReplicaSet") | ("CronJob", "Job") => true,
        // built-in kinds control nothing else
        ("Deployment" | "CronJob" | "ReplicaSet" | "StatefulSet" | "DaemonSet", _)
        | ("Job" | "ReplicationController", _) => false,
        // custom kinds (Argo Rollouts → ReplicaSet, Workflows, ...) are trusted by UID
        _ => true,
    };
    if !plausible {
        return Err(format!("a {kind} never controls a {child_kind}"));
    }
    if kind == "Deployment" {
        selector_matches(&owner.data, child_labels, kind)
            .map_err(|e| format!("Deployment {}: {e}", r.name))?;
    }
    Ok(())
}

/// A live pod of a workload.
#[derive(Clone, Debug, PartialEq)]
pub struct WorkloadPod {
    pub name: String,
    pub uid: String,
    pub node: Option<String>,
    /// Has a deletionTimestamp.
    pub terminating: bool,
    pub created_at: Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>,
}

impl WorkloadPod {
    pub fn of(pod: &Pod) -> WorkloadPod {
        WorkloadPod {
            name: pod.metadata.name.clone().unwrap_or_default(),
            uid: pod.metadata.uid.clone().unwrap_or_default(),
            node: pod.spec.as_ref().and_then(|s| s.node_name.clone()),
            terminating: pod.metadata.deletion_timestamp.is_some(),
            created_at: pod.metadata.creation_timestamp.clone(),
        }
    }
}

/// The pods of a workload: those whose controller chain reaches `top` (for a bare pod,
/// the pod itself if it still exists). Terminal pods (Succeeded/Failed) are left out.
pub async fn workload_pods(client: &Client, top: &ObjectRef) -> Result<Vec<Pod>> {
    let ns = top.namespace.clone().unwrap_or_default();
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    if top.kind == "Pod" && top.group().is_empty() {
        return match pods.get_opt(&top.name).await {
            Ok(Some(p)) if p.metadata.uid == top.uid && !terminal(&p) => Ok(vec![p]),
            Ok(_) => Ok(Vec::new()),
            Err(e) => Err(Error::read(format!("pod {ns}/{}", top.name))(e)),
        };
    }
    let Some(top_uid) = top.uid.clone() else {
        return Ok(Vec::new());
    };
    let mut owners: BTreeSet<String> = [top_uid].into();
    let builtin = matches!(
        top.kind.as_str(),
        "ReplicaSet" | "StatefulSet" | "DaemonSet" | "Job" | "ReplicationController"
    );
    let (via_rs, via_job) = match top.kind.as_str() {
        "Deployment" => (true, false),
        "CronJob" => (false, true),
        _ if builtin => (false, false),
        _ => (true, true),
    };
    if via_rs {
        let rs: Api<k8s_openapi::api::apps::v1::ReplicaSet> = Api::namespaced(client.clone(), &ns);
        let list = rs
            .list_metadata(&ListParams::default())
            .await
            .map_err(Error::read(format!("replicasets in {ns}")))?;
        for r in list.items {
            if controller_ref(&r.metadata).is_some_and(|c| owners.contains(&c.uid))
                && let Some(uid) = r.metadata.uid
            {
                owners.insert(uid);
            }
        }
    }
    if via_job {
        let jobs: Api<k8s_openapi::api::batch::v1::Job> = Api::namespaced(client.clone(), &ns);
        let list = jobs
            .list_metadata(&ListParams::default())
            .await
            .map_err(Error::read(format!("jobs in {ns}")))?;
        for j in list.items {
            if controller_ref(&j.metadata).is_some_and(|c| owners.contains(&c.uid))
                && let Some(uid) = j.metadata.uid
            {
                owners.insert(uid);
            }
        }
    }
    let list = pods
        .list(&ListParams::default())
        .await
        .map_err(Error::read(format!("pods in {ns}")))?;
    Ok(list
        .items
        .into_iter()
        .filter(|p| controller_ref(&p.metadata).is_some_and(|c| owners.contains(&c.uid)))
        .filter(|p| !terminal(p))
        .collect())
}

/// Succeeded or Failed: its containers have stopped.
pub fn terminal(pod: &Pod) -> bool {
    matches!(
        pod.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded") | Some("Failed")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn owner(kind: &str, uid: &str, data: Value, labels: &[(&str, &str)]) -> DynamicObject {
        let mut o = DynamicObject::new(
            "o",
            &ApiResource {
                group: "apps".into(),
                version: "v1".into(),
                api_version: "apps/v1".into(),
                kind: kind.into(),
                plural: "x".into(),
            },
        )
        .data(data);
        o.metadata.uid = Some(uid.into());
        o.metadata.labels = Some(
            labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
        o
    }

    fn oref(kind: &str, uid: &str) -> OwnerReference {
        OwnerReference {
            api_version: "apps/v1".into(),
            kind: kind.into(),
            name: "o".into(),
            uid: uid.into(),
            controller: Some(true),
            ..Default::default()
        }
    }

    fn pod(labels: &[(&str, &str)], image: &str) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "p", "namespace": "ns", "labels": labels.iter().cloned().collect::<BTreeMap<_,_>>()},
            "spec": {"containers": [{"name": "c", "image": image}]}
        }))
        .expect("pod")
    }

    fn rs_data(image: &str) -> Value {
        json!({"spec": {"selector": {"matchLabels": {"app": "web"}},
               "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": image}]}}}})
    }

    #[test]
    fn a_real_replicaset_controls_its_pod() {
        let o = owner(
            "ReplicaSet",
            "u1",
            rs_data("xmrig"),
            &[("pod-template-hash", "abc")],
        );
        let p = pod(&[("app", "web"), ("pod-template-hash", "abc")], "xmrig");
        let l = p.metadata.labels.clone().unwrap_or_default();
        assert_eq!(
            verify_pod_controller(&oref("ReplicaSet", "u1"), &o, &p, &l, &["c".into()]),
            Ok(())
        );
    }

    #[test]
    fn forged_references_are_caught() {
        let o = owner(
            "ReplicaSet",
            "u1",
            rs_data("nginx"),
            &[("pod-template-hash", "abc")],
        );
        let good = [("app", "web"), ("pod-template-hash", "abc")];
        // wrong uid
        let p = pod(&good, "nginx");
        let l = p.metadata.labels.clone().unwrap_or_default();
        assert!(verify_pod_controller(&oref("ReplicaSet", "u2"), &o, &p, &l, &[]).is_err());
        // selector does not match
        let p = pod(&[("app", "db"), ("pod-template-hash", "abc")], "nginx");
        let l = p.metadata.labels.clone().unwrap_or_default();
        assert!(verify_pod_controller(&oref("ReplicaSet", "u1"), &o, &p, &l, &[]).is_err());
        // template hash differs
        let p = pod(&[("app", "web"), ("pod-template-hash", "zzz")], "nginx");
        let l = p.metadata.labels.clone().unwrap_or_default();
        assert!(verify_pod_controller(&oref("ReplicaSet", "u1"), &o, &p, &l, &[]).is_err());
        // everything copied, but the miner container is not the template's
        let p = pod(&good, "xmrig");
        let l = p.metadata.labels.clone().unwrap_or_default();
        let e = verify_pod_controller(&oref("ReplicaSet", "u1"), &o, &p, &l, &["c".into()])
            .expect_err("injected container");
        assert!(e.contains("not in ReplicaSet"), "{e}");
        // a Deployment never owns a pod directly
        let d = owner("Deployment", "u1", rs_data("nginx"), &[]);
        let p = pod(&good, "nginx");
        let l = p.metadata.labels.clone().unwrap_or_default();
        assert!(verify_pod_controller(&oref("Deployment", "u1"), &d, &p, &l, &[]).is_err());
    }

    #[test]
    fn a_job_pod_needs_the_job_controller_uid() {
        let job = owner(
            "Job",
            "job-uid",
            json!({"spec": {"selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "job-uid"}},
                   "template": {"spec": {"containers": [{"name": "c", "image": "x"}]}}}}),
            &[],
        );
        let p = pod(&[("batch.kubernetes.io/controller-uid", "job-uid")], "x");
        let l = p.metadata.labels.clone().unwrap_or_default();
        assert_eq!(
            verify_pod_controller(&oref("Job", "job-uid"), &job, &p, &l, &[]),
            Ok(())
        );
        let p = pod(&[("batch.kubernetes.io/controller-uid", "other")], "x");
        let l = p.metadata.labels.clone().unwrap_or_default();
        assert!(verify_pod_controller(&oref("Job", "job-uid"), &job, &p, &l, &[]).is_err());
    }

    #[test]
    fn parents_must_be_plausible() {
        let d = owner(
            "Deployment",
            "d1",
            json!({"spec": {"selector": {"matchLabels": {"app": "web"}}}}),
            &[],
        );
        let labels: BTreeMap<String, String> = [("app".to_string(), "web".to_string())].into();
        assert_eq!(
            verify_parent(&oref("Deployment", "d1"), &d, "ReplicaSet", &labels),
            Ok(())
        );
        assert!(verify_parent(&oref("Deployment", "d1"), &d, "Job", &labels).is_err());
        assert!(verify_parent(&oref("Deployment", "d2"), &d, "ReplicaSet", &labels).is_err());
        let other: BTreeMap<String, String> = [("app".to_string(), "db".to_string())].into();
        assert!(verify_parent(&oref("Deployment", "d1"), &d, "ReplicaSet", &other).is_err());
    }
}
