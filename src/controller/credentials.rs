//! Reads for the credential actions and the investigation: the ServiceAccount the pods ran
//! as, who else uses it, its legacy token Secrets, the bindings that grant it, recent RBAC
//! objects (possible backdoors), the Secrets the pods could read, cloud identities, and
//! the GPU resource names the spending limit caps.
//!
//! Every read tolerates a 403: what the operator may not see is reported as such.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{Node, Pod, Secret, ServiceAccount};
use k8s_openapi::api::rbac::v1::{
    ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, Subject,
};
use kube::api::{Api, ListParams};
use kube::{Client, ResourceExt};

use super::error::{describe, is_forbidden};
use crate::api::{
    CloudIdentity, CryptojackIncident, GrantingBinding, Investigation, MAX_INVESTIGATION_ITEMS,
    MAX_MESSAGE_CHARS, MAX_SAVED_MAP_ENTRIES, MAX_SAVED_VALUE_CHARS, RecentObject, SavedBinding,
    SavedRoleRef, SavedSubject, ServiceAccountUndo, bounded,
};
use crate::detect::PolicySet;
use crate::respond::plan::ServiceAccountFacts;

/// Whether this operator may `verb` `group/resource` (in `namespace`): a
/// SelfSubjectAccessReview, which every authenticated user may create. Asked before the
/// opt-in operations, so that a missing permission is reported as such rather than tried
/// and refused. None when the review itself could not be made.
pub async fn can_i(
    client: &Client,
    verb: &str,
    group: &str,
    resource: &str,
    namespace: Option<&str>,
) -> Option<bool> {
    use k8s_openapi::api::authorization::v1::{
        ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
    };
    let api: Api<SelfSubjectAccessReview> = Api::all(client.clone());
    let review = SelfSubjectAccessReview {
        spec: SelfSubjectAccessReviewSpec {
            resource_attributes: Some(ResourceAttributes {
                verb: Some(verb.into()),
                group: Some(group.into()),
                resource: Some(resource.into()),
                namespace: namespace.map(String::from),
                ..Default::default()
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    match api.create(&kube::api::PostParams::default(), &review).await {
        Ok(r) => r.status.map(|s| s.allowed),
        Err(e) => {
            tracing::debug!(error = %describe(&e), "SelfSubjectAccessReview");
            None
        }
    }
}

/// The legacy token Secrets of ServiceAccount `ns/name` (reading Secrets is opt-in).
async fn legacy_tokens(client: &Client, ns: &str, name: &str) -> Result<Vec<String>, String> {
    if can_i(client, "list", "", "secrets", Some(ns)).await == Some(false) {
        return Err(format!(
            "listing Secrets in {ns} is not permitted: {OPT_IN}"
        ));
    }
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
    match secrets
        .list_metadata(&ListParams::default().fields("type=kubernetes.io/service-account-token"))
        .await
    {
        Ok(list) => Ok(list
            .items
            .into_iter()
            .filter(|s| {
                s.metadata
                    .annotations
                    .as_ref()
                    .and_then(|a| a.get("kubernetes.io/service-account.name"))
                    .is_some_and(|n| n == name)
            })
            .filter_map(|s| s.metadata.name)
            .take(32)
            .collect()),
        Err(e) if is_forbidden(&e) => {
            Err(format!("listing Secrets in {ns} is forbidden: {OPT_IN}"))
        }
        Err(e) => Err(format!("listing Secrets in {ns}: {}", describe(&e))),
    }
}

const OPT_IN: &str = "grant the opt-in credential-revocation ClusterRole (cluster-wide read of Secrets, bind/escalate) to enable it";

fn saved_map(m: Option<&BTreeMap<String, String>>) -> BTreeMap<String, String> {
    m.into_iter()
        .flatten()
        .filter(|(k, v)| {
            k.as_str() != "kubectl.kubernetes.io/last-applied-configuration"
                && v.chars().count() <= MAX_SAVED_VALUE_CHARS
        })
        .take(MAX_SAVED_MAP_ENTRIES)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The ServiceAccount `name` in `ns` as it is, who else uses it, and its legacy tokens.
pub async fn service_account(
    client: &Client,
    ns: &str,
    name: &str,
    workload_pods: &BTreeSet<String>,
) -> ServiceAccountFacts {
    let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), ns);
    let saved = match sas.get_opt(name).await {
        Ok(Some(sa)) => Some(ServiceAccountUndo {
            old_uid: sa.metadata.uid.clone().unwrap_or_default(),
            labels: saved_map(sa.metadata.labels.as_ref()),
            annotations: saved_map(sa.metadata.annotations.as_ref()),
            image_pull_secrets: sa
                .image_pull_secrets
                .iter()
                .flatten()
                .map(|r| r.name.clone())
                .take(16)
                .collect(),
            automount_service_account_token: sa.automount_service_account_token,
        }),
        Ok(None) => None,
        Err(e) => {
            tracing::warn!(error = %describe(&e), "reading ServiceAccount {ns}/{name}");
            None
        }
    };
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let shared_with = match pods
        .list_metadata(&ListParams::default().fields(&format!("spec.serviceAccountName={name}")))
        .await
    {
        Ok(list) => list
            .items
            .into_iter()
            .filter(|p| {
                !p.metadata
                    .uid
                    .as_ref()
                    .is_some_and(|u| workload_pods.contains(u))
            })
            .filter_map(|p| p.metadata.name)
            .take(10)
            .collect(),
        Err(e) => {
            // cannot tell: treat as shared (never recreate a ServiceAccount blindly)
            vec![format!("(unknown: {})", describe(&e))]
        }
    };
    let token_secrets = legacy_tokens(client, ns, name).await;
    ServiceAccountFacts {
        name: name.to_string(),
        saved,
        shared_with,
        token_secrets,
    }
}

fn names_sa(s: &Subject, ns: &str, sa: &str) -> bool {
    s.kind == "ServiceAccount" && s.name == sa && s.namespace.as_deref() == Some(ns)
}

/// Groups every ServiceAccount of `ns` belongs to.
fn grants_by_group(s: &Subject, ns: &str) -> bool {
    s.kind == "Group"
        && (s.name == "system:serviceaccounts"
            || s.name == "system:authenticated"
            || s.name == format!("system:serviceaccounts:{ns}"))
}

fn saved_subjects(subjects: &[Subject]) -> Vec<SavedSubject> {
    subjects
        .iter()
        .take(64)
        .map(|s| SavedSubject {
            kind: s.kind.clone(),
            api_group: s.api_group.clone().filter(|g| !g.is_empty()),
            name: s.name.clone(),
            namespace: s.namespace.clone(),
        })
        .collect()
}

fn saved_binding(
    kind: &str,
    namespace: Option<String>,
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    role_ref: &k8s_openapi::api::rbac::v1::RoleRef,
    subjects: &[Subject],
) -> SavedBinding {
    SavedBinding {
        kind: kind.into(),
        namespace,
        name: meta.name.clone().unwrap_or_default(),
        role_ref: SavedRoleRef {
            api_group: role_ref.api_group.clone(),
            kind: role_ref.kind.clone(),
            name: role_ref.name.clone(),
        },
        subjects: saved_subjects(subjects),
        labels: saved_map(meta.labels.as_ref()),
    }
}

/// Every RoleBinding and ClusterRoleBinding that names the ServiceAccount as a subject
/// (for quarantine; group grants are listed by the investigation, not quarantined).
pub async fn bindings_of(client: &Client, ns: &str, sa: &str) -> Result<Vec<SavedBinding>, String> {
    // quarantine changes bindings (and restore needs `bind` on their roles): both are in the
    // opt-in role
    for (verb, resource) in [
        ("update", "rolebindings"),
        ("update", "clusterrolebindings"),
        ("bind", "clusterroles"),
    ] {
        if can_i(client, verb, "rbac.authorization.k8s.io", resource, None).await == Some(false) {
            return Err(format!("{verb} {resource} is not permitted: {OPT_IN}"));
        }
    }
    let mut out = Vec::new();
    let rbs: Api<RoleBinding> = Api::all(client.clone());
    let list = rbs.list(&ListParams::default()).await.map_err(|e| {
        if is_forbidden(&e) {
            format!("listing RoleBindings is forbidden: {OPT_IN}")
        } else {
            format!("listing RoleBindings: {}", describe(&e))
        }
    })?;
    for b in list.items {
        let subjects = b.subjects.clone().unwrap_or_default();
        if subjects.iter().any(|s| names_sa(s, ns, sa)) {
            out.push(saved_binding(
                "RoleBinding",
                b.metadata.namespace.clone(),
                &b.metadata,
                &b.role_ref,
                &subjects,
            ));
        }
    }
    let crbs: Api<ClusterRoleBinding> = Api::all(client.clone());
    let list = crbs.list(&ListParams::default()).await.map_err(|e| {
        if is_forbidden(&e) {
            format!("listing ClusterRoleBindings is forbidden: {OPT_IN}")
        } else {
            format!("listing ClusterRoleBindings: {}", describe(&e))
        }
    })?;
    for b in list.items {
        let subjects = b.subjects.clone().unwrap_or_default();
        if subjects.iter().any(|s| names_sa(s, ns, sa)) {
            out.push(saved_binding(
                "ClusterRoleBinding",
                None,
                &b.metadata,
                &b.role_ref,
                &subjects,
            ));
        }
    }
    out.truncate(MAX_INVESTIGATION_ITEMS);
    Ok(out)
}

/// GPU resource names the spending limit caps: the exact names of the policies' GPU rules,
/// the names the incident requested, and node allocatable names the rules' globs match.
pub async fn gpu_resources(
    client: &Client,
    set: &PolicySet,
    policies: &[String],
    incident: &CryptojackIncident,
) -> Vec<String> {
    let mut out: BTreeSet<String> = incident.spec.requested.gpus.keys().cloned().collect();
    let in_force: Vec<_> = set
        .policies()
        .iter()
        .filter(|p| policies.iter().any(|n| n == p.name()))
        .collect();
    for p in &in_force {
        for r in &p.spec().detect.gpu.resources {
            if !r.contains(['*', '?', '[']) {
                out.insert(r.clone());
            }
        }
    }
    let nodes: Api<Node> = Api::all(client.clone());
    if let Ok(list) = nodes.list(&ListParams::default()).await {
        for n in list.items {
            for name in n
                .status
                .and_then(|s| s.allocatable)
                .unwrap_or_default()
                .into_keys()
            {
                if in_force.iter().any(|p| p.is_gpu_resource(&name)) {
                    out.insert(name);
                }
            }
        }
    }
    out.into_iter()
        .filter(|r| !r.contains(['*', '?', '[']))
        .take(32)
        .collect()
}

fn summarize(rules: &[PolicyRule]) -> (String, bool) {
    let mut admin = false;
    let parts: Vec<String> = rules
        .iter()
        .map(|r| {
            let verbs = r.verbs.join(",");
            let resources = r.resources.clone().unwrap_or_default();
            let groups = r.api_groups.clone().unwrap_or_default();
            if r.verbs.iter().any(|v| v == "*")
                && resources.iter().any(|x| x == "*")
                && (groups.iter().any(|g| g == "*") || groups.is_empty())
            {
                admin = true;
            }
            if resources.is_empty() {
                format!(
                    "{verbs} {}",
                    r.non_resource_urls.clone().unwrap_or_default().join(",")
                )
            } else {
                format!("{verbs} {}", resources.join(","))
            }
        })
        .collect();
    (bounded(&parts.join("; "), MAX_MESSAGE_CHARS), admin)
}

async fn role_rules(
    client: &Client,
    kind: &str,
    ns: Option<&str>,
    name: &str,
) -> Option<Vec<PolicyRule>> {
    if kind == "ClusterRole" {
        let api: Api<ClusterRole> = Api::all(client.clone());
        api.get_opt(name)
            .await
            .ok()
            .flatten()
            .map(|r| r.rules.unwrap_or_default())
    } else {
        let api: Api<Role> = Api::namespaced(client.clone(), ns.unwrap_or_default());
        api.get_opt(name)
            .await
            .ok()
            .flatten()
            .map(|r| r.rules.unwrap_or_default())
    }
}

/// What the operator can find out for the responder.
pub async fn investigate(
    client: &Client,
    incident: &CryptojackIncident,
    pods: &[Pod],
    recent_window_seconds: i64,
    evidence_secret: Option<String>,
) -> Investigation {
    let ns = incident.namespace().unwrap_or_default();
    let sa_name = incident
        .spec
        .service_account
        .clone()
        .unwrap_or_else(|| "default".into());
    let mut inv = Investigation {
        evidence_secret,
        ..Default::default()
    };

    // bindings that grant the ServiceAccount (by name or by group)
    let mut granting: Vec<(String, Option<String>, String, String, String)> = Vec::new();
    let rbs: Api<RoleBinding> = Api::all(client.clone());
    match rbs.list(&ListParams::default()).await {
        Ok(list) => {
            for b in list.items {
                let bns = b.metadata.namespace.clone();
                // a RoleBinding grants only in its namespace
                if bns.as_deref() != Some(ns.as_str())
                    && !b
                        .subjects
                        .iter()
                        .flatten()
                        .any(|s| names_sa(s, &ns, &sa_name))
                {
                    continue;
                }
                if b.subjects
                    .iter()
                    .flatten()
                    .any(|s| names_sa(s, &ns, &sa_name) || grants_by_group(s, &ns))
                {
                    granting.push((
                        "RoleBinding".into(),
                        bns,
                        b.name_any(),
                        b.role_ref.kind.clone(),
                        b.role_ref.name.clone(),
                    ));
                }
            }
        }
        Err(e) => tracing::debug!(error = %describe(&e), "investigation: rolebindings"),
    }
    let crbs: Api<ClusterRoleBinding> = Api::all(client.clone());
    match crbs.list(&ListParams::default()).await {
        Ok(list) => {
            for b in list.items {
                if b.subjects
                    .iter()
                    .flatten()
                    .any(|s| names_sa(s, &ns, &sa_name) || grants_by_group(s, &ns))
                {
                    granting.push((
                        "ClusterRoleBinding".into(),
                        None,
                        b.name_any(),
                        b.role_ref.kind.clone(),
                        b.role_ref.name.clone(),
                    ));
                }
            }
        }
        Err(e) => tracing::debug!(error = %describe(&e), "investigation: clusterrolebindings"),
    }
    for (kind, bns, name, role_kind, role_name) in granting {
        if inv.bindings.len() >= MAX_INVESTIGATION_ITEMS {
            inv.truncated = true;
            break;
        }
        let rules = role_rules(client, &role_kind, bns.as_deref(), &role_name).await;
        let (grants, admin) = match &rules {
            Some(r) => summarize(r),
            None => ("(the role could not be read)".into(), false),
        };
        inv.bindings.push(GrantingBinding {
            kind,
            namespace: bns,
            name,
            role: format!("{role_kind}/{role_name}"),
            grants,
            cluster_admin_like: admin || role_name == "cluster-admin",
        });
    }

    // recent RBAC objects and ServiceAccounts: possible backdoors
    let cutoff = jiff::Timestamp::now()
        .checked_sub(jiff::SignedDuration::from_secs(
            recent_window_seconds.max(0),
        ))
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    let mut recent: Vec<RecentObject> = Vec::new();
    macro_rules! recent_of {
        ($ty:ty, $kind:expr, $api:expr) => {
            let api: Api<$ty> = $api;
            if let Ok(list) = api.list_metadata(&ListParams::default()).await {
                for o in list.items {
                    if let Some(t) = o.metadata.creation_timestamp.clone()
                        && t.0 >= cutoff
                    {
                        recent.push(RecentObject {
                            kind: $kind.into(),
                            namespace: o.metadata.namespace.clone(),
                            name: o.metadata.name.clone().unwrap_or_default(),
                            by: super::owners::creator(&o.metadata),
                            created_at: Some(t),
                        });
                    }
                }
            }
        };
    }
    recent_of!(Role, "Role", Api::namespaced(client.clone(), &ns));
    recent_of!(
        RoleBinding,
        "RoleBinding",
        Api::namespaced(client.clone(), &ns)
    );
    recent_of!(
        ServiceAccount,
        "ServiceAccount",
        Api::namespaced(client.clone(), &ns)
    );
    recent_of!(ClusterRole, "ClusterRole", Api::all(client.clone()));
    recent_of!(
        ClusterRoleBinding,
        "ClusterRoleBinding",
        Api::all(client.clone())
    );
    recent.sort_by(|a, b| {
        b.created_at
            .as_ref()
            .map(|t| t.0)
            .cmp(&a.created_at.as_ref().map(|t| t.0))
    });
    if recent.len() > MAX_INVESTIGATION_ITEMS {
        inv.truncated = true;
        recent.truncate(MAX_INVESTIGATION_ITEMS);
    }
    inv.recent_objects = recent;

    // Secrets the pods mount or reference: possibly exposed to the miner
    let mut secrets = BTreeSet::new();
    for p in pods {
        let Some(spec) = &p.spec else { continue };
        for v in spec.volumes.iter().flatten() {
            if let Some(s) = v.secret.as_ref().and_then(|s| s.secret_name.clone()) {
                secrets.insert(s);
            }
            for src in v.projected.iter().flat_map(|p| p.sources.iter().flatten()) {
                if let Some(s) = src.secret.as_ref() {
                    secrets.insert(s.name.clone());
                }
            }
        }
        for c in spec
            .containers
            .iter()
            .chain(spec.init_containers.iter().flatten())
        {
            for e in c.env.iter().flatten() {
                if let Some(r) = e
                    .value_from
                    .as_ref()
                    .and_then(|v| v.secret_key_ref.as_ref())
                {
                    secrets.insert(r.name.clone());
                }
            }
            for e in c.env_from.iter().flatten() {
                if let Some(r) = &e.secret_ref {
                    secrets.insert(r.name.clone());
                }
            }
        }
        for r in spec.image_pull_secrets.iter().flatten() {
            secrets.insert(r.name.clone());
        }
    }
    if secrets.len() > MAX_INVESTIGATION_ITEMS {
        inv.truncated = true;
    }
    inv.secrets = secrets.into_iter().take(MAX_INVESTIGATION_ITEMS).collect();

    // cloud identities of the ServiceAccount
    let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), &ns);
    if let Ok(Some(sa)) = sas.get_opt(&sa_name).await {
        let ann = sa.metadata.annotations.unwrap_or_default();
        for (provider, key, advice) in [
            (
                "AWS",
                "eks.amazonaws.com/role-arn",
                "the pods could assume this IAM role: review CloudTrail for its sessions, revoke them (IAM → role → Revoke active sessions) and tighten its trust policy",
            ),
            (
                "GCP",
                "iam.gke.io/gcp-service-account",
                "the pods could act as this Google service account: review its audit logs, remove the roles/iam.workloadIdentityUser binding and rotate its keys",
            ),
            (
                "Azure",
                "azure.workload.identity/client-id",
                "the pods could get tokens for this managed identity/app: review its sign-in logs, remove the federated credential and rotate its secrets",
            ),
        ] {
            if let Some(v) = ann.get(key) {
                inv.cloud_identities.push(CloudIdentity {
                    provider: provider.into(),
                    annotation: key.into(),
                    identity: bounded(v, 512),
                    advice: advice.into(),
                });
            }
        }
    }
    inv
}
