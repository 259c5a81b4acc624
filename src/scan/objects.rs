//! From a parsed document to the pod views detection runs on: Pods, workload templates
//! and the items of `List`s (what `kubectl get -o yaml|json` prints).

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{Pod, PodTemplate, PodTemplateSpec, ReplicationController};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::detect::PodView;

/// A workload kind `scan` understands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Pod,
    Deployment,
    ReplicaSet,
    StatefulSet,
    DaemonSet,
    Job,
    CronJob,
    ReplicationController,
    PodTemplate,
}

impl Kind {
    fn parse(kind: &str) -> Option<Kind> {
        Some(match kind {
            "Pod" => Kind::Pod,
            "Deployment" => Kind::Deployment,
            "ReplicaSet" => Kind::ReplicaSet,
            "StatefulSet" => Kind::StatefulSet,
            "DaemonSet" => Kind::DaemonSet,
            "Job" => Kind::Job,
            "CronJob" => Kind::CronJob,
            "ReplicationController" => Kind::ReplicationController,
            "PodTemplate" => Kind::PodTemplate,
            _ => return None,
        })
    }

    /// The apiVersion the typed decoder expects.
    fn api_version(self) -> &'static str {
        match self {
            Kind::Pod | Kind::ReplicationController | Kind::PodTemplate => "v1",
            Kind::Deployment | Kind::ReplicaSet | Kind::StatefulSet | Kind::DaemonSet => "apps/v1",
            Kind::Job | Kind::CronJob => "batch/v1",
        }
    }

    /// Whether `api_version` is a Kubernetes API of this kind, current or older
    /// (`extensions/v1beta1` Deployments, `batch/v1beta1` CronJobs): their pod templates
    /// have the same shape. A kind of the same name in another group (a CRD such as
    /// Volcano's `Job`) is not ours.
    fn accepts(self, api_version: &str) -> bool {
        let group = api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or("");
        match self {
            Kind::Pod | Kind::ReplicationController | Kind::PodTemplate => group.is_empty(),
            Kind::Deployment | Kind::ReplicaSet | Kind::DaemonSet => {
                matches!(group, "apps" | "extensions")
            }
            Kind::StatefulSet => group == "apps",
            Kind::Job | Kind::CronJob => group == "batch",
        }
    }
}

/// What a document (or List item) turned out to be.
#[derive(Debug)]
pub enum Object {
    /// Something to evaluate.
    Target(Box<PodView>),
    /// Not a kind `scan` evaluates (or not a Kubernetes object at all).
    Skipped,
    /// A known kind with a field of the wrong shape.
    Invalid {
        kind: String,
        name: String,
        field: String,
        message: String,
    },
}

/// One object of a document: `item` is its index when the document is a List.
#[derive(Debug)]
pub struct Entry {
    pub item: Option<usize>,
    pub object: Object,
}

/// Classifies a document's value. Lists (`kind: List` or `*List` with `items`) yield one
/// entry per item; items without `kind`/`apiVersion` inherit them from a typed list
/// (`PodList` → `Pod`). Nested lists are not expanded (counted as skipped).
pub fn entries(value: Value) -> Vec<Entry> {
    match list_items(value) {
        Ok((items, item_kind, item_api)) => items
            .into_iter()
            .enumerate()
            .map(|(i, mut item)| {
                if let Value::Object(map) = &mut item {
                    if let Some(k) = &item_kind {
                        map.entry("kind")
                            .or_insert_with(|| Value::String(k.clone()));
                    }
                    if let Some(a) = &item_api {
                        map.entry("apiVersion")
                            .or_insert_with(|| Value::String(a.clone()));
                    }
                }
                let object = if list_items_ref(&item) {
                    Object::Skipped
                } else {
                    object(item)
                };
                Entry {
                    item: Some(i),
                    object,
                }
            })
            .collect(),
        Err(value) => vec![Entry {
            item: None,
            object: object(value),
        }],
    }
}

fn is_list_kind(kind: &str) -> bool {
    kind == "List" || (kind.ends_with("List") && kind.len() > 4)
}

/// Whether a document is a List (`kind: List` or `*List`, with `items`).
pub fn is_list(value: &Value) -> bool {
    list_items_ref(value)
}

fn list_items_ref(value: &Value) -> bool {
    value
        .get("kind")
        .and_then(Value::as_str)
        .is_some_and(is_list_kind)
        && value.get("items").is_some_and(Value::is_array)
}

type ListParts = (Vec<Value>, Option<String>, Option<String>);

fn list_items(value: Value) -> Result<ListParts, Value> {
    if !list_items_ref(&value) {
        return Err(value);
    }
    let Value::Object(mut map) = value else {
        return Err(value);
    };
    let kind = map
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let api = map
        .get("apiVersion")
        .and_then(Value::as_str)
        .map(str::to_string);
    let item_kind = kind
        .strip_suffix("List")
        .filter(|k| !k.is_empty())
        .map(str::to_string);
    let item_api = if item_kind.is_some() { api } else { None };
    match map.remove("items") {
        Some(Value::Array(items)) => Ok((items, item_kind, item_api)),
        _ => Ok((Vec::new(), None, None)),
    }
}

/// Whether an object of a kind `scan` does not know carries a pod template
/// (`spec.template.spec.containers`): Argo Rollouts, Knative Services, OpenKruise CloneSets
/// and other controllers that run pods from it are evaluated as workloads of their own kind.
pub fn has_generic_pod_template(value: &Value) -> bool {
    value
        .pointer("/spec/template/spec/containers")
        .is_some_and(|c| !c.is_null())
}

/// `metadata.name`, else `metadata.generateName`, else empty.
fn object_name(value: &Value) -> String {
    value
        .pointer("/metadata/name")
        .or_else(|| value.pointer("/metadata/generateName"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// An object of another kind that carries a pod template, evaluated as a workload of its kind.
fn generic_object(kind: &str, value: Value) -> Object {
    #[derive(serde::Deserialize)]
    struct Generic {
        #[serde(default)]
        metadata: ObjectMeta,
        spec: GenericSpec,
    }
    #[derive(serde::Deserialize)]
    struct GenericSpec {
        template: PodTemplateSpec,
    }
    let name = object_name(&value);
    match decode::<Generic>(value) {
        Ok(g) => Object::Target(Box::new(view(
            kind,
            &g.metadata,
            Some(g.spec.template),
            "spec.template.spec",
        ))),
        Err((field, message)) => Object::Invalid {
            kind: kind.to_string(),
            name,
            field,
            message,
        },
    }
}

fn object(mut value: Value) -> Object {
    let Some(map) = value.as_object_mut() else {
        return Object::Skipped;
    };
    let kind_name = map
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let generic = |value: Value| {
        if !kind_name.is_empty() && has_generic_pod_template(&value) {
            generic_object(&kind_name, value)
        } else {
            Object::Skipped
        }
    };
    let Some(kind) = Kind::parse(&kind_name) else {
        return generic(value);
    };
    let api_version = map
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or(kind.api_version());
    if !kind.accepts(api_version) {
        return generic(value);
    }
    // Older versions of the same API decode with the current types.
    map.insert(
        "apiVersion".into(),
        Value::String(kind.api_version().into()),
    );
    let name = object_name(&value);
    let result = match kind {
        Kind::Pod => decode::<Pod>(value).map(|p| PodView::from_pod(&p)),
        Kind::Deployment => decode::<Deployment>(value).map(|d| {
            let template = d.spec.map(|s| s.template);
            view("Deployment", &d.metadata, template, "spec.template.spec")
        }),
        Kind::ReplicaSet => decode::<ReplicaSet>(value).map(|d| {
            let template = d.spec.and_then(|s| s.template);
            view("ReplicaSet", &d.metadata, template, "spec.template.spec")
        }),
        Kind::StatefulSet => decode::<StatefulSet>(value).map(|d| {
            let template = d.spec.map(|s| s.template);
            view("StatefulSet", &d.metadata, template, "spec.template.spec")
        }),
        Kind::DaemonSet => decode::<DaemonSet>(value).map(|d| {
            let template = d.spec.map(|s| s.template);
            view("DaemonSet", &d.metadata, template, "spec.template.spec")
        }),
        Kind::Job => decode::<Job>(value).map(|d| {
            let template = d.spec.map(|s| s.template);
            view("Job", &d.metadata, template, "spec.template.spec")
        }),
        Kind::CronJob => decode::<CronJob>(value).map(|d| {
            let template = d.spec.and_then(|s| s.job_template.spec).map(|s| s.template);
            view(
                "CronJob",
                &d.metadata,
                template,
                "spec.jobTemplate.spec.template.spec",
            )
        }),
        Kind::ReplicationController => decode::<ReplicationController>(value).map(|d| {
            let template = d.spec.and_then(|s| s.template);
            view(
                "ReplicationController",
                &d.metadata,
                template,
                "spec.template.spec",
            )
        }),
        Kind::PodTemplate => decode::<PodTemplate>(value)
            .map(|d| view("PodTemplate", &d.metadata, d.template, "template.spec")),
    };
    let kind_name = match kind {
        Kind::Pod => "Pod",
        Kind::Deployment => "Deployment",
        Kind::ReplicaSet => "ReplicaSet",
        Kind::StatefulSet => "StatefulSet",
        Kind::DaemonSet => "DaemonSet",
        Kind::Job => "Job",
        Kind::CronJob => "CronJob",
        Kind::ReplicationController => "ReplicationController",
        Kind::PodTemplate => "PodTemplate",
    };
    match result {
        Ok(v) => Object::Target(Box::new(v)),
        Err((field, message)) => Object::Invalid {
            kind: kind_name.to_string(),
            name,
            field,
            message,
        },
    }
}

fn view(
    kind: &str,
    meta: &ObjectMeta,
    template: Option<PodTemplateSpec>,
    spec_path: &str,
) -> PodView {
    let template = template.unwrap_or_default();
    let path = crate::detect::FieldPath::parse(spec_path).unwrap_or_default();
    PodView::from_template(kind, meta, &template, path)
}

/// Decodes with the failing field's path: `("spec.containers[0].command", "invalid type: ...")`.
fn decode<T: DeserializeOwned>(value: Value) -> Result<T, (String, String)> {
    serde_path_to_error::deserialize::<_, T>(value).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." {
            "(document)".to_string()
        } else {
            path
        };
        (field, e.into_inner().to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(name: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
               "spec": {"containers": [{"name": "c", "image": "busybox"}]}})
    }

    #[test]
    fn pod_becomes_a_view() {
        let e = entries(pod("p"));
        assert_eq!(e.len(), 1);
        match &e[0].object {
            Object::Target(v) => {
                assert_eq!(v.name, "p");
                assert_eq!(v.spec_path.to_string(), "spec");
                assert_eq!(v.containers.len(), 1);
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn cronjob_uses_the_job_template_path() {
        let cj = json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "c"},
            "spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": {"spec": {
                "containers": [{"name": "m", "image": "xmrig/xmrig"}]}}}}}});
        match &entries(cj)[0].object {
            Object::Target(v) => {
                assert_eq!(v.kind, "CronJob");
                assert_eq!(
                    v.spec_path.to_string(),
                    "spec.jobTemplate.spec.template.spec"
                );
                assert_eq!(v.containers[0].image, "xmrig/xmrig");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn typed_list_items_inherit_kind() {
        let list = json!({"apiVersion": "v1", "kind": "PodList", "items": [
            {"metadata": {"name": "a"}, "spec": {"containers": []}},
            {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}}
        ]});
        let e = entries(list);
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].item, Some(0));
        assert!(matches!(&e[0].object, Object::Target(v) if v.name == "a"));
        assert!(matches!(e[1].object, Object::Skipped));
    }

    #[test]
    fn wrong_type_names_the_field() {
        let bad = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "c", "command": 5}]}});
        match &entries(bad)[0].object {
            Object::Invalid {
                field,
                message,
                kind,
                name,
            } => {
                assert_eq!(field, "spec.containers[0].command");
                assert!(message.contains("invalid type"), "{message}");
                assert_eq!((kind.as_str(), name.as_str()), ("Pod", "p"));
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn other_groups_and_kinds_are_skipped() {
        let volcano = json!({"apiVersion": "batch.volcano.sh/v1alpha1", "kind": "Job", "spec": {}});
        assert!(matches!(entries(volcano)[0].object, Object::Skipped));
        let svc = json!({"apiVersion": "v1", "kind": "Service"});
        assert!(matches!(entries(svc)[0].object, Object::Skipped));
        assert!(matches!(entries(json!(["a"]))[0].object, Object::Skipped));
        let old = json!({"apiVersion": "extensions/v1beta1", "kind": "Deployment",
            "metadata": {"name": "d"}, "spec": {"template": {"spec": {"containers": []}}}});
        assert!(matches!(entries(old)[0].object, Object::Target(_)));
        // another group's kind with a pod template is a workload of its kind
        let rollout = json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
            "metadata": {"name": "r"}, "spec": {"template": {"spec": {"containers": [{"name": "c"}]}}}});
        match &entries(rollout)[0].object {
            Object::Target(v) => {
                assert_eq!((v.kind.as_str(), v.name.as_str()), ("Rollout", "r"));
                assert_eq!(v.spec_path.to_string(), "spec.template.spec");
            }
            other => panic!("{other:?}"),
        }
        let empty = json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
            "spec": {"template": {"spec": {"containers": null}}}});
        assert!(
            matches!(entries(empty)[0].object, Object::Skipped),
            "as the lean path"
        );
        let nodepool = json!({"apiVersion": "karpenter.sh/v1", "kind": "NodePool",
            "spec": {"template": {"spec": {"requirements": []}}}});
        assert!(matches!(entries(nodepool)[0].object, Object::Skipped));
    }
}
