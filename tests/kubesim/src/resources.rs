//! The resource registry: which resources the server serves, with the metadata discovery and the
//! request router need (group, version, kind, plural, scope, verbs, subresources).
//!
//! Resource keys are `"GROUP/PLURAL"` with the empty group for core (`"/pods"`, `"apps/deployments"`).

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use serde_json::Value;

/// The `scale` subresource of a resource: where replicas live in the object.
#[derive(Clone, Debug, PartialEq)]
pub struct ScalePaths {
    /// JSON path of the desired replicas, e.g. `.spec.replicas`.
    pub spec_replicas: String,
    /// JSON path of the observed replicas, e.g. `.status.replicas`.
    pub status_replicas: String,
    /// JSON path of the label selector (a metav1.LabelSelector for built-ins, a string for CRDs).
    pub label_selector: Option<String>,
}

/// What a CustomResourceDefinition adds to a resource: its schemas and printer columns per version.
#[derive(Clone, Debug)]
pub struct CrdInfo {
    /// The CRD object as stored.
    pub crd: Value,
    /// version name → the `versions[]` entry of the CRD.
    pub versions: BTreeMap<String, Value>,
}

impl CrdInfo {
    /// The openAPIV3Schema of `version`, if any.
    pub fn schema(&self, version: &str) -> Option<&Value> {
        self.versions
            .get(version)
            .and_then(|v| v.pointer("/schema/openAPIV3Schema"))
    }
}

/// One served resource.
#[derive(Clone, Debug)]
pub struct ResourceDef {
    pub group: String,
    /// Preferred version.
    pub version: String,
    /// All served versions (the preferred one first).
    pub versions: Vec<String>,
    pub kind: String,
    pub list_kind: String,
    pub plural: String,
    pub singular: String,
    pub namespaced: bool,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    pub verbs: Vec<String>,
    /// Has a `/status` subresource (status ignored on the main resource, everything else on /status).
    pub status: bool,
    pub scale: Option<ScalePaths>,
    /// pods/eviction
    pub eviction: bool,
    /// serviceaccounts/token
    pub token: bool,
    /// metadata.generation is maintained (bumped on spec changes).
    pub generation: bool,
    /// DELETE answers with the deleted object rather than a Status.
    pub return_deleted_object: bool,
    pub crd: Option<Arc<CrdInfo>>,
}

impl ResourceDef {
    /// `"GROUP/PLURAL"`.
    pub fn key(&self) -> String {
        format!("{}/{}", self.group, self.plural)
    }

    /// `apiVersion` for `version`.
    pub fn api_version_for(&self, version: &str) -> String {
        if self.group.is_empty() {
            version.to_string()
        } else {
            format!("{}/{}", self.group, version)
        }
    }

    /// `apiVersion` of the preferred version.
    pub fn api_version(&self) -> String {
        self.api_version_for(&self.version)
    }

    /// The "qualified resource" used in error messages: `pods`, `deployments.apps`.
    pub fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.plural.clone()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// The `Kind.group` form used in 422 messages (`CryptojackPolicy.cryptojack.dev`, `Pod`).
    pub fn qualified_kind(&self) -> String {
        if self.group.is_empty() {
            self.kind.clone()
        } else {
            format!("{}.{}", self.kind, self.group)
        }
    }

    pub fn serves_version(&self, version: &str) -> bool {
        self.versions.iter().any(|v| v == version)
    }
}

const ALL_VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

#[derive(Default)]
struct B {
    short: &'static [&'static str],
    categories: &'static [&'static str],
    status: bool,
    scale: bool,
    generation: bool,
    return_deleted: bool,
    verbs: Option<&'static [&'static str]>,
}

fn def(
    group: &str,
    version: &str,
    kind: &str,
    plural: &str,
    namespaced: bool,
    b: B,
) -> ResourceDef {
    let verbs = b
        .verbs
        .unwrap_or(ALL_VERBS)
        .iter()
        .map(|s| s.to_string())
        .collect();
    let scale = b.scale.then(|| ScalePaths {
        spec_replicas: ".spec.replicas".into(),
        status_replicas: ".status.replicas".into(),
        label_selector: Some(".spec.selector".into()),
    });
    ResourceDef {
        group: group.into(),
        version: version.into(),
        versions: vec![version.into()],
        kind: kind.into(),
        list_kind: format!("{kind}List"),
        plural: plural.into(),
        singular: kind.to_lowercase(),
        namespaced,
        short_names: b.short.iter().map(|s| s.to_string()).collect(),
        categories: b.categories.iter().map(|s| s.to_string()).collect(),
        verbs,
        status: b.status,
        scale,
        eviction: false,
        token: false,
        generation: b.generation,
        return_deleted_object: b.return_deleted,
        crd: None,
    }
}

/// The built-in resources kubesim serves.
pub fn builtins() -> Vec<ResourceDef> {
    let all: &'static [&'static str] = &["all"];
    let mut v = vec![
        def(
            "",
            "v1",
            "Namespace",
            "namespaces",
            false,
            B {
                short: &["ns"],
                status: true,
                return_deleted: true,
                verbs: Some(&[
                    "create", "delete", "get", "list", "patch", "update", "watch",
                ]),
                ..B::default()
            },
        ),
        def(
            "",
            "v1",
            "Pod",
            "pods",
            true,
            B {
                short: &["po"],
                categories: all,
                status: true,
                generation: true,
                return_deleted: true,
                ..B::default()
            },
        ),
        def(
            "",
            "v1",
            "Node",
            "nodes",
            false,
            B {
                short: &["no"],
                status: true,
                ..B::default()
            },
        ),
        def(
            "",
            "v1",
            "ServiceAccount",
            "serviceaccounts",
            true,
            B {
                short: &["sa"],
                ..B::default()
            },
        ),
        def("", "v1", "Secret", "secrets", true, B::default()),
        def(
            "",
            "v1",
            "ConfigMap",
            "configmaps",
            true,
            B {
                short: &["cm"],
                ..B::default()
            },
        ),
        def(
            "",
            "v1",
            "Service",
            "services",
            true,
            B {
                short: &["svc"],
                categories: all,
                status: true,
                return_deleted: true,
                verbs: Some(&[
                    "create",
                    "delete",
                    "deletecollection",
                    "get",
                    "list",
                    "patch",
                    "update",
                    "watch",
                ]),
                ..B::default()
            },
        ),
        def(
            "",
            "v1",
            "ReplicationController",
            "replicationcontrollers",
            true,
            B {
                short: &["rc"],
                categories: all,
                status: true,
                scale: true,
                generation: true,
                ..B::default()
            },
        ),
        def(
            "",
            "v1",
            "Endpoints",
            "endpoints",
            true,
            B {
                short: &["ep"],
                ..B::default()
            },
        ),
        def(
            "",
            "v1",
            "Event",
            "events",
            true,
            B {
                short: &["ev"],
                ..B::default()
            },
        ),
        def(
            "",
            "v1",
            "ResourceQuota",
            "resourcequotas",
            true,
            B {
                short: &["quota"],
                status: true,
                ..B::default()
            },
        ),
        def(
            "",
            "v1",
            "LimitRange",
            "limitranges",
            true,
            B {
                short: &["limits"],
                ..B::default()
            },
        ),
        def(
            "",
            "v1",
            "PersistentVolumeClaim",
            "persistentvolumeclaims",
            true,
            B {
                short: &["pvc"],
                status: true,
                ..B::default()
            },
        ),
        def(
            "apps",
            "v1",
            "Deployment",
            "deployments",
            true,
            B {
                short: &["deploy"],
                categories: all,
                status: true,
                scale: true,
                generation: true,
                ..B::default()
            },
        ),
        def(
            "apps",
            "v1",
            "ReplicaSet",
            "replicasets",
            true,
            B {
                short: &["rs"],
                categories: all,
                status: true,
                scale: true,
                generation: true,
                ..B::default()
            },
        ),
        def(
            "apps",
            "v1",
            "StatefulSet",
            "statefulsets",
            true,
            B {
                short: &["sts"],
                categories: all,
                status: true,
                scale: true,
                generation: true,
                ..B::default()
            },
        ),
        def(
            "apps",
            "v1",
            "DaemonSet",
            "daemonsets",
            true,
            B {
                short: &["ds"],
                categories: all,
                status: true,
                generation: true,
                ..B::default()
            },
        ),
        def(
            "apps",
            "v1",
            "ControllerRevision",
            "controllerrevisions",
            true,
            B::default(),
        ),
        def(
            "batch",
            "v1",
            "Job",
            "jobs",
            true,
            B {
                categories: all,
                status: true,
                generation: true,
                ..B::default()
            },
        ),
        def(
            "batch",
            "v1",
            "CronJob",
            "cronjobs",
            true,
            B {
                short: &["cj"],
                categories: all,
                status: true,
                generation: true,
                ..B::default()
            },
        ),
        def(
            "networking.k8s.io",
            "v1",
            "NetworkPolicy",
            "networkpolicies",
            true,
            B {
                short: &["netpol"],
                generation: true,
                ..B::default()
            },
        ),
        def(
            "rbac.authorization.k8s.io",
            "v1",
            "Role",
            "roles",
            true,
            B::default(),
        ),
        def(
            "rbac.authorization.k8s.io",
            "v1",
            "RoleBinding",
            "rolebindings",
            true,
            B::default(),
        ),
        def(
            "rbac.authorization.k8s.io",
            "v1",
            "ClusterRole",
            "clusterroles",
            false,
            B::default(),
        ),
        def(
            "rbac.authorization.k8s.io",
            "v1",
            "ClusterRoleBinding",
            "clusterrolebindings",
            false,
            B::default(),
        ),
        def(
            "coordination.k8s.io",
            "v1",
            "Lease",
            "leases",
            true,
            B::default(),
        ),
        def(
            "policy",
            "v1",
            "PodDisruptionBudget",
            "poddisruptionbudgets",
            true,
            B {
                short: &["pdb"],
                status: true,
                generation: true,
                ..B::default()
            },
        ),
        def(
            "apiextensions.k8s.io",
            "v1",
            "CustomResourceDefinition",
            "customresourcedefinitions",
            false,
            B {
                short: &["crd", "crds"],
                categories: &["api-extensions"],
                status: true,
                generation: true,
                ..B::default()
            },
        ),
        def(
            "events.k8s.io",
            "v1",
            "Event",
            "events",
            true,
            B {
                short: &["ev"],
                ..B::default()
            },
        ),
    ];
    v.extend(crate::reviews::defs());
    for d in &mut v {
        match d.plural.as_str() {
            "pods" => d.eviction = true,
            "serviceaccounts" => d.token = true,
            "endpoints" => d.singular = "endpoints".into(),
            _ => {}
        }
    }
    v
}

/// A create-only resource of `group`/v1 (the review APIs: nothing is stored).
pub fn def_for_review(group: &str, kind: &str, plural: &str, namespaced: bool) -> ResourceDef {
    def(
        group,
        "v1",
        kind,
        plural,
        namespaced,
        B {
            verbs: Some(&["create"]),
            ..B::default()
        },
    )
}

/// Thread-safe registry of served resources (built-ins plus CRDs).
#[derive(Default)]
pub struct Registry {
    inner: RwLock<BTreeMap<String, Arc<ResourceDef>>>,
}

impl Registry {
    pub fn with_builtins() -> Self {
        let r = Registry::default();
        for d in builtins() {
            r.insert(d);
        }
        r
    }

    pub fn insert(&self, def: ResourceDef) {
        let mut g = self.inner.write().unwrap_or_else(|e| e.into_inner());
        g.insert(def.key(), Arc::new(def));
    }

    pub fn remove(&self, key: &str) -> Option<Arc<ResourceDef>> {
        let mut g = self.inner.write().unwrap_or_else(|e| e.into_inner());
        g.remove(key)
    }

    /// By key `"GROUP/PLURAL"`.
    pub fn get(&self, key: &str) -> Option<Arc<ResourceDef>> {
        let g = self.inner.read().unwrap_or_else(|e| e.into_inner());
        g.get(key).cloned()
    }

    /// By group, version and plural as found in a URL.
    pub fn lookup(&self, group: &str, version: &str, plural: &str) -> Option<Arc<ResourceDef>> {
        self.get(&format!("{group}/{plural}"))
            .filter(|d| d.serves_version(version))
    }

    /// By `apiVersion` and `kind` (as found in an object or an ownerReference).
    pub fn by_kind(&self, api_version: &str, kind: &str) -> Option<Arc<ResourceDef>> {
        let (group, version) = split_api_version(api_version);
        let g = self.inner.read().unwrap_or_else(|e| e.into_inner());
        g.values()
            .find(|d| d.group == group && d.kind == kind && d.serves_version(version))
            .cloned()
    }

    pub fn all(&self) -> Vec<Arc<ResourceDef>> {
        let g = self.inner.read().unwrap_or_else(|e| e.into_inner());
        g.values().cloned().collect()
    }
}

/// `"apps/v1"` → `("apps", "v1")`, `"v1"` → `("", "v1")`.
pub fn split_api_version(api_version: &str) -> (&str, &str) {
    match api_version.split_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_keys_and_lookup() {
        let r = Registry::with_builtins();
        let pods = r.lookup("", "v1", "pods").expect("pods");
        assert_eq!(pods.key(), "/pods");
        assert!(pods.namespaced && pods.status && pods.eviction);
        let d = r.by_kind("apps/v1", "Deployment").expect("deployments");
        assert_eq!(d.qualified(), "deployments.apps");
        assert!(d.scale.is_some());
        assert!(r.lookup("apps", "v2", "deployments").is_none());
        assert_eq!(split_api_version("v1"), ("", "v1"));
    }
}
