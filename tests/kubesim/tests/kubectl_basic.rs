//! kubectl against the cluster: get (tables, -o json, -w), describe, create -f, apply (client-side
//! and --server-side, a `kind: List`), patch (merge, json, strategic), label, annotate, scale, delete,
//! api-resources, and CRD printer columns.

use crate::common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Cluster, cluster, default_builder, kubectl_bin, sim_cluster};

const DEPLOYMENT: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 1
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      terminationGracePeriodSeconds: 0
      containers:
      - name: c
        image: registry.k8s.io/pause:3.10
        env: [{name: A, value: "1"}]
"#;

fn ok_stdin(c: &Cluster, args: &[&str], stdin: &str) -> String {
    let out = c.kubectl_stdin(args, stdin);
    assert!(
        out.status.success(),
        "kubectl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn jsonpath(c: &Cluster, kind_name: &str, path: &str) -> String {
    c.kubectl_ok(&["get", kind_name, "-o", &format!("jsonpath={path}")])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_get_describe() {
    let c = cluster().await;
    let out = ok_stdin(&c, &["create", "-f", "-"], DEPLOYMENT);
    assert!(out.contains("deployment.apps/web created"), "{out}");
    let table = c.kubectl_ok(&["get", "deployments"]);
    let header = table.lines().next().unwrap_or_default();
    for col in ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"] {
        assert!(header.contains(col), "{header}");
    }
    assert!(table.contains("web"));
    let json = c.kubectl_ok(&["get", "deployment", "web", "-o", "json"]);
    let v: serde_json::Value = serde_json::from_str(&json).expect("json");
    assert_eq!(v["metadata"]["name"], "web");
    let desc = c.kubectl_ok(&["describe", "deployment", "web"]);
    assert!(desc.contains("Name:") && desc.contains("web"), "{desc}");
    // Pods appear and describe works (it lists events with involvedObject field selectors).
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let pods = c.kubectl_ok(&["get", "pods", "-l", "app=web", "-o", "name"]);
        if let Some(p) = pods.lines().next() {
            let d = c.kubectl_ok(&["describe", p]);
            assert!(d.contains("Containers:"), "{d}");
            break;
        }
        assert!(Instant::now() < deadline, "no pod");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let ns_table = c.kubectl_ok(&["get", "pods"]);
    let header = ns_table.lines().next().unwrap_or_default();
    for col in ["NAME", "READY", "STATUS", "RESTARTS", "AGE"] {
        assert!(header.contains(col), "{header}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_client_side_and_server_side() {
    let c = cluster().await;
    let out = ok_stdin(&c, &["apply", "-f", "-"], DEPLOYMENT);
    assert!(out.contains("created"), "{out}");
    let out = ok_stdin(&c, &["apply", "-f", "-"], DEPLOYMENT);
    assert!(out.contains("unchanged"), "{out}");
    let changed = DEPLOYMENT.replace("value: \"1\"", "value: \"2\"");
    let out = ok_stdin(&c, &["apply", "-f", "-"], &changed);
    assert!(out.contains("configured"), "{out}");
    assert_eq!(
        jsonpath(
            &c,
            "deployment/web",
            "{.spec.template.spec.containers[0].env[0].value}"
        ),
        "2"
    );
    let last = jsonpath(
        &c,
        "deployment/web",
        "{.metadata.annotations.kubectl\\.kubernetes\\.io/last-applied-configuration}",
    );
    assert!(last.contains("\"value\":\"2\""), "{last}");
    // Server-side apply of a ConfigMap, twice, by the same manager.
    let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ssa\ndata:\n  a: \"1\"\n";
    let out = ok_stdin(&c, &["apply", "--server-side", "-f", "-"], cm);
    assert!(out.contains("serverside-applied"), "{out}");
    let out = ok_stdin(
        &c,
        &["apply", "--server-side", "-f", "-"],
        &cm.replace("\"1\"", "\"2\""),
    );
    assert!(out.contains("serverside-applied"), "{out}");
    assert_eq!(jsonpath(&c, "configmap/ssa", "{.data.a}"), "2");
    let managers = jsonpath(&c, "configmap/ssa", "{.metadata.managedFields[*].manager}");
    assert!(managers.contains("kubectl"), "{managers}");
}

/// `kubectl apply -f` of a `kind: List` (what `kubectl get -o yaml` prints): kubectl validates a
/// List's items with OpenAPI v2 (protobuf from `/openapi/v2`), which kubesim serves without
/// definitions, so the items are created and the server's own checks still apply to each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_a_list() {
    let c = cluster().await;
    let list = "apiVersion: v1\nkind: List\nmetadata: {resourceVersion: \"\"}\nitems:\n\
        - apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: one}\n  data: {a: \"1\"}\n\
        - apiVersion: v1\n  kind: Service\n  metadata: {name: two}\n  spec: {ports: [{port: 80}]}\n";
    let out = ok_stdin(&c, &["apply", "-f", "-"], list);
    assert!(
        out.contains("configmap/one created") && out.contains("service/two created"),
        "{out}"
    );
    assert_eq!(jsonpath(&c, "configmap/one", "{.data.a}"), "1");
    // an invalid item is still refused by the server, naming the field
    let bad = list.replace("name: one", "name: Not_A_Name");
    let out = c.kubectl_stdin(&["apply", "-f", "-"], &bad);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("metadata.name: Invalid value"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patch_label_annotate_scale_delete() {
    let c = cluster().await;
    ok_stdin(&c, &["create", "-f", "-"], DEPLOYMENT);
    c.kubectl_ok(&[
        "patch",
        "deployment",
        "web",
        "--type",
        "merge",
        "-p",
        r#"{"spec":{"replicas":2}}"#,
    ]);
    assert_eq!(jsonpath(&c, "deployment/web", "{.spec.replicas}"), "2");
    c.kubectl_ok(&[
        "patch",
        "deployment",
        "web",
        "--type",
        "json",
        "-p",
        r#"[{"op":"replace","path":"/spec/replicas","value":3}]"#,
    ]);
    assert_eq!(jsonpath(&c, "deployment/web", "{.spec.replicas}"), "3");
    c.kubectl_ok(&[
        "patch", "deployment", "web", "--type", "strategic", "-p",
        r#"{"spec":{"template":{"spec":{"containers":[{"name":"c","env":[{"name":"B","value":"2"}]}]}}}}"#,
    ]);
    let env = jsonpath(
        &c,
        "deployment/web",
        "{.spec.template.spec.containers[0].env[*].name}",
    );
    assert!(
        env.contains('A') && env.contains('B'),
        "strategic merge keeps A: {env}"
    );
    c.kubectl_ok(&["label", "deployment", "web", "tier=front"]);
    assert_eq!(
        jsonpath(&c, "deployment/web", "{.metadata.labels.tier}"),
        "front"
    );
    c.kubectl_ok(&["label", "deployment", "web", "tier-"]);
    assert_eq!(
        jsonpath(&c, "deployment/web", "{.metadata.labels.tier}"),
        ""
    );
    c.kubectl_ok(&["annotate", "deployment", "web", "note=hello"]);
    assert_eq!(
        jsonpath(&c, "deployment/web", "{.metadata.annotations.note}"),
        "hello"
    );
    c.kubectl_ok(&["scale", "deployment", "web", "--replicas=1"]);
    assert_eq!(jsonpath(&c, "deployment/web", "{.spec.replicas}"), "1");
    // `kubectl scale` sends no fieldManager: the manager is the User-Agent's product, "kubectl".
    let managers = jsonpath(
        &c,
        "deployment/web",
        "{range .metadata.managedFields[*]}{.manager}{\"\\n\"}{end}",
    );
    assert!(managers.lines().any(|m| m == "kubectl"), "{managers}");
    let out = c.kubectl_ok(&[
        "delete",
        "deployment",
        "web",
        "--wait=true",
        "--timeout=60s",
    ]);
    assert!(out.contains("deleted"), "{out}");
    let out = c.kubectl(&["get", "deployment", "web"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("NotFound"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_watch_streams_changes() {
    let c = cluster().await;
    let mut child = Command::new(kubectl_bin())
        .arg("--kubeconfig")
        .arg(&c.kubeconfig)
        .args(["-n", &c.ns, "get", "configmaps", "--watch", "-o", "name"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("kubectl get -w");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    ok_stdin(
        &c,
        &["create", "-f", "-"],
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: watched\n",
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen = false;
    while Instant::now() < deadline {
        if let Ok(l) = tokio::task::block_in_place(|| rx.recv_timeout(Duration::from_millis(200)))
            && l.contains("configmap/watched")
        {
            seen = true;
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(seen, "kubectl get -w printed the new ConfigMap");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_resources_lists_builtins() {
    let c = cluster().await;
    let out = c.kubectl_ok(&["api-resources"]);
    for r in [
        "pods",
        "deployments",
        "poddisruptionbudgets",
        "customresourcedefinitions",
        "leases",
        "networkpolicies",
    ] {
        assert!(out.contains(r), "api-resources lacks {r}");
    }
    let out = c.kubectl_ok(&["api-resources", "--api-group=apps", "-o", "name"]);
    assert!(out.lines().any(|l| l == "deployments.apps"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crd_printer_columns_in_kubectl_get() {
    let crds = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../crds");
    let Some(c) = sim_cluster(default_builder().crds_dir(&crds)).await else {
        return;
    };
    let incident = r#"
apiVersion: cryptojack.dev/v1alpha1
kind: CryptojackIncident
metadata:
  name: inc-1
spec:
  detectedAt: "2026-01-01T00:00:00Z"
  severity: High
  source: Watch
  workload: Deployment/miner
  topOwner: {apiVersion: apps/v1, kind: Deployment, name: miner, uid: u1}
"#;
    ok_stdin(&c, &["create", "-f", "-"], incident);
    let out = c.kubectl_ok(&["get", "cryptojackincidents", "-A"]);
    let header = out.lines().next().unwrap_or_default().to_string();
    // Columns of priority 0 are printed (plus NAMESPACE and NAME).
    for col in ["NAMESPACE", "NAME", "WORKLOAD", "SEVERITY", "AGE"] {
        assert!(header.contains(col), "{header} lacks {col}");
    }
    let row = out.lines().nth(1).unwrap_or_default();
    assert!(
        row.contains("inc-1") && row.contains("Deployment/miner") && row.contains("High"),
        "{row}"
    );
    // An invalid one gets the server's 422.
    let bad = incident
        .replace("severity: High", "severity: extreme")
        .replace("inc-1", "inc-2");
    let out = c.kubectl_stdin(&["create", "-f", "-"], &bad);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("is invalid") && stderr.contains("spec.severity"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_generators_for_simple_kinds() {
    let c = cluster().await;
    c.kubectl_ok(&["create", "configmap", "gen-cm", "--from-literal=a=b"]);
    assert_eq!(jsonpath(&c, "configmap/gen-cm", "{.data.a}"), "b");
    c.kubectl_ok(&[
        "create",
        "secret",
        "generic",
        "gen-s",
        "--from-literal=pw=x",
    ]);
    assert_eq!(jsonpath(&c, "secret/gen-s", "{.data.pw}"), "eA==");
    assert_eq!(jsonpath(&c, "secret/gen-s", "{.type}"), "Opaque");
    c.kubectl_ok(&["create", "serviceaccount", "gen-sa"]);
    assert_eq!(
        jsonpath(&c, "serviceaccount/gen-sa", "{.metadata.name}"),
        "gen-sa"
    );
    let ns = common::random_ns();
    c.kubectl_ok(&["create", "namespace", &ns]);
    let phase = c.kubectl_ok(&["get", "namespace", &ns, "-o", "jsonpath={.status.phase}"]);
    assert_eq!(phase, "Active");
    c.kubectl_ok(&["delete", "namespace", &ns, "--wait=false"]);
}
