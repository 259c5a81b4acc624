//! helm against the cluster (kubesim over TLS with RBAC on, or the e2e cluster): install with
//! `--create-namespace` and `--wait` (a chart with a crds/ folder, a custom resource of that CRD,
//! Deployment, ServiceAccount, ClusterRole/Binding incl. one aggregated into `view`,
//! Role/RoleBinding, Service, PDB, NetworkPolicy, ConfigMap), list, upgrade, history, a server-side
//! dry run, `template --validate`, a `--wait` that times out, a ServiceAccount without the rights,
//! and uninstall. The chart is tests/kubesim/tests/fixtures/helm-chart (not the product chart).

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{Cluster, cluster_with, create_sa, default_builder, eventually, request_token};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret};
use k8s_openapi::api::rbac::v1::{ClusterRole, RoleBinding};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::{Value, json};

fn chart() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/helm-chart")
}

/// Runs helm with `kubeconfig` and a private helm home.
fn helm(home: &Path, kubeconfig: &Path, args: &[&str]) -> Output {
    tokio::task::block_in_place(|| {
        Command::new(common::helm_bin())
            .env("HELM_CACHE_HOME", home.join("cache"))
            .env("HELM_CONFIG_HOME", home.join("config"))
            .env("HELM_DATA_HOME", home.join("data"))
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .args(args)
            .output()
            .expect("running helm")
    })
}

fn helm_ok(home: &Path, kubeconfig: &Path, args: &[&str]) -> String {
    let out = helm(home, kubeconfig, args);
    assert!(
        out.status.success(),
        "helm {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn widgets(c: &Cluster, ns: &str) -> Api<DynamicObject> {
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("demo.kubesim.dev", "v1", "Widget"),
        "widgets",
    );
    Api::namespaced_with(c.client.clone(), ns, &ar)
}

async fn release_secrets(c: &Cluster, ns: &str, release: &str) -> Vec<Secret> {
    Api::<Secret>::namespaced(c.client.clone(), ns)
        .list(&ListParams::default().labels(&format!("owner=helm,name={release}")))
        .await
        .expect("list release secrets")
        .items
}

fn label<'a>(s: &'a Secret, k: &str) -> &'a str {
    s.metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(k))
        .map(String::as_str)
        .unwrap_or("")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm_install_upgrade_list_uninstall() {
    let c = cluster_with(default_builder().rbac(true)).await;
    let home = std::env::temp_dir().join(format!("kubesim-helm-{}", uuid::Uuid::new_v4().simple()));
    let kc = c.kubeconfig.clone();
    let ns = format!("{}-helm", c.ns);
    let chart = chart();
    let chart = chart.to_str().expect("utf-8 path");

    // install: the CRD from crds/, then everything else, waiting for readiness.
    helm_ok(
        &home,
        &kc,
        &[
            "install",
            "demo",
            chart,
            "-n",
            &ns,
            "--create-namespace",
            "--wait",
            "--timeout",
            "60s",
        ],
    );
    Api::<Namespace>::all(c.client.clone())
        .get(&ns)
        .await
        .expect("--create-namespace");
    let crd = Api::<CustomResourceDefinition>::all(c.client.clone())
        .get("widgets.demo.kubesim.dev")
        .await
        .expect("the chart's CRD");
    assert!(
        crd.status
            .and_then(|s| s.conditions)
            .unwrap_or_default()
            .iter()
            .any(|c| c.type_ == "Established" && c.status == "True")
    );
    let w = widgets(&c, &ns).get("demo").await.expect("the widget");
    assert_eq!(w.data["spec"], json!({"size": 3, "message": "hello"}));
    let deploys: Api<Deployment> = Api::namespaced(c.client.clone(), &ns);
    let d = deploys.get("demo").await.expect("deployment");
    assert_eq!(
        d.status.and_then(|s| s.ready_replicas),
        Some(2),
        "--wait returned once the Deployment was ready"
    );
    let secrets = release_secrets(&c, &ns, "demo").await;
    assert_eq!(secrets.len(), 1);
    assert_eq!(
        (label(&secrets[0], "status"), label(&secrets[0], "version")),
        ("deployed", "1")
    );
    assert_eq!(secrets[0].type_.as_deref(), Some("helm.sh/release.v1"));
    for (kind, name) in [
        ("serviceaccounts", "demo"),
        ("services", "demo"),
        ("configmaps", "demo-config"),
    ] {
        let out = c.kubectl(&["get", "-n", &ns, kind, name, "-o", "name"]);
        assert!(out.status.success(), "{kind}/{name}");
    }
    for (kind, name) in [
        ("roles.rbac.authorization.k8s.io", "demo-leases".to_string()),
        (
            "rolebindings.rbac.authorization.k8s.io",
            "demo-leases".to_string(),
        ),
        ("poddisruptionbudgets.policy", "demo".to_string()),
        ("networkpolicies.networking.k8s.io", "demo".to_string()),
        (
            "clusterroles.rbac.authorization.k8s.io",
            format!("demo-{ns}"),
        ),
        (
            "clusterrolebindings.rbac.authorization.k8s.io",
            format!("demo-{ns}"),
        ),
    ] {
        let out = c.kubectl(&["get", "-n", &ns, kind, &name, "-o", "name"]);
        assert!(
            out.status.success(),
            "{kind}/{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // The chart's aggregated role ends up in `view`.
    let aggregated = eventually(30, || async {
        let view = Api::<ClusterRole>::all(c.client.clone())
            .get("view")
            .await
            .ok()?;
        view.rules?
            .iter()
            .any(|r| r.api_groups.as_deref() == Some(&["demo.kubesim.dev".to_string()][..]))
            .then_some(())
    })
    .await;
    assert!(aggregated.is_some());

    // list
    let list: Value =
        serde_json::from_str(&helm_ok(&home, &kc, &["list", "-n", &ns, "-o", "json"]))
            .expect("json");
    assert_eq!(list[0]["name"], "demo");
    assert_eq!(list[0]["status"], "deployed");
    assert_eq!(list[0]["revision"], "1");

    // upgrade
    helm_ok(
        &home,
        &kc,
        &[
            "upgrade",
            "demo",
            chart,
            "-n",
            &ns,
            "--set",
            "replicas=3",
            "--set",
            "message=bye",
            "--wait",
            "--timeout",
            "60s",
        ],
    );
    let d = deploys.get("demo").await.expect("deployment");
    assert_eq!(d.status.and_then(|s| s.ready_replicas), Some(3));
    let cm = Api::<ConfigMap>::namespaced(c.client.clone(), &ns)
        .get("demo-config")
        .await
        .expect("configmap");
    assert_eq!(
        cm.data.expect("data").get("message").map(String::as_str),
        Some("bye")
    );
    let mut versions: Vec<(String, String)> = release_secrets(&c, &ns, "demo")
        .await
        .iter()
        .map(|s| {
            (
                label(s, "version").to_string(),
                label(s, "status").to_string(),
            )
        })
        .collect();
    versions.sort();
    assert_eq!(
        versions,
        vec![
            ("1".to_string(), "superseded".to_string()),
            ("2".to_string(), "deployed".to_string())
        ]
    );
    let history: Value = serde_json::from_str(&helm_ok(
        &home,
        &kc,
        &["history", "demo", "-n", &ns, "-o", "json"],
    ))
    .expect("json");
    assert_eq!(history.as_array().map(Vec::len), Some(2));

    // A server-side dry run creates nothing.
    helm_ok(
        &home,
        &kc,
        &["install", "dry", chart, "-n", &ns, "--dry-run=server"],
    );
    assert!(release_secrets(&c, &ns, "dry").await.is_empty());
    assert!(deploys.get_opt("dry").await.expect("get").is_none());
    // template --validate checks the manifests against the cluster.
    let rendered = helm_ok(
        &home,
        &kc,
        &["template", "demo", chart, "-n", &ns, "--validate"],
    );
    assert!(rendered.contains("kind: Deployment"));

    // --wait fails when the Deployment cannot become available (no node matches).
    let out = helm(
        &home,
        &kc,
        &[
            "install",
            "stuck",
            chart,
            "-n",
            &ns,
            "--set",
            "nodeSelector.disk=ssd",
            "--wait",
            "--timeout",
            "3s",
        ],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("Deployment") && err.contains("not ready"),
        "{err}"
    );
    helm_ok(&home, &kc, &["uninstall", "stuck", "-n", &ns, "--wait"]);

    // A ServiceAccount with `admin` in the namespace may list releases but not install a chart
    // with cluster-scoped objects: helm runs with its token and gets the apiserver's 403.
    create_sa(&c.client, &ns, "deployer").await;
    let rb: RoleBinding = serde_json::from_value(json!({"metadata": {"name": "deployer-admin"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "admin"},
        "subjects": [{"kind": "ServiceAccount", "name": "deployer", "namespace": ns}]}))
    .expect("rb");
    Api::<RoleBinding>::namespaced(c.client.clone(), &ns)
        .create(&PostParams::default(), &rb)
        .await
        .expect("rolebinding");
    let token = request_token(&c.client, &ns, "deployer").await;
    let dep_kc = c.token_kubeconfig(&token);
    let listed = eventually(30, || async {
        let out = helm(&home, &dep_kc, &["list", "-n", &ns, "-q"]);
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    })
    .await
    .expect("admin (aggregated) may list the release Secrets");
    assert_eq!(listed.trim(), "demo");
    let out = helm(&home, &dep_kc, &["install", "mine", chart, "-n", &ns]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "User \"system:serviceaccount:{ns}:deployer\" cannot patch resource \"customresourcedefinitions\""
        )),
        "{err}"
    );

    // uninstall: the release's objects and Secrets go, the CRD from crds/ stays.
    helm_ok(&home, &kc, &["uninstall", "demo", "-n", &ns, "--wait"]);
    assert!(deploys.get_opt("demo").await.expect("get").is_none());
    assert!(release_secrets(&c, &ns, "demo").await.is_empty());
    assert!(
        widgets(&c, &ns)
            .get_opt("demo")
            .await
            .expect("get")
            .is_none()
    );
    assert!(
        Api::<ClusterRole>::all(c.client.clone())
            .get_opt(&format!("demo-{ns}"))
            .await
            .expect("get")
            .is_none()
    );
    let crds: Api<CustomResourceDefinition> = Api::all(c.client.clone());
    assert!(
        crds.get_opt("widgets.demo.kubesim.dev")
            .await
            .expect("get")
            .is_some()
    );
    let list = helm_ok(&home, &kc, &["list", "-n", &ns, "-q"]);
    assert!(list.trim().is_empty(), "{list}");

    // Leave a real cluster as it was.
    if !c.is_sim() {
        let _ = crds
            .delete("widgets.demo.kubesim.dev", &DeleteParams::default())
            .await;
        let _ = Api::<Namespace>::all(c.client.clone())
            .delete(&ns, &DeleteParams::default())
            .await;
    }
    let _ = std::fs::remove_file(dep_kc);
    let _ = std::fs::remove_dir_all(home);
}
