//! The Helm chart, rendered: `helm lint --strict`, `helm template` with the default values and
//! with each optional part switched on, every manifest through `kubernetes-validate --strict`
//! for the oldest Kubernetes version the chart claims (1.33) and the newest kubernetes-validate
//! ships, the schema rejecting bad values with a clear message, the Deployment's hardening,
//! the admission policy's CEL, and docs/install.md listing every value.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::chart_common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use chart_common::*;
use serde_json::{Value, json};

#[test]
fn helm_lint_is_clean_with_the_defaults_and_with_every_optional_part() {
    let chart = chart_dir();
    let chart = chart.to_str().expect("utf-8 path");
    let helm = Helm::new();
    let out = helm.ok(&["lint", "--strict", chart]);
    assert!(
        out.contains("1 chart(s) linted, 0 chart(s) failed"),
        "{out}"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let all = dir.path().join("all.yaml");
    std::fs::write(&all, all_parts_values()).expect("values");
    let out = helm.ok(&[
        "lint",
        "--strict",
        chart,
        "--namespace",
        NAMESPACE,
        "--values",
        all.to_str().expect("utf-8"),
    ]);
    assert!(out.contains("0 chart(s) failed"), "{out}");
}

#[test]
fn the_defaults_render_the_operator_and_its_safety_nets() {
    let r = render("");
    let expected = [
        "ClusterRole/cryptojack",
        "ClusterRole/cryptojack-responder",
        "ClusterRole/cryptojack-view",
        "ClusterRoleBinding/cryptojack",
        "CryptojackPolicy/default",
        "Deployment/cryptojack",
        "NetworkPolicy/cryptojack",
        "PodDisruptionBudget/cryptojack",
        "Role/cryptojack",
        "RoleBinding/cryptojack",
        "Service/cryptojack-metrics",
        "ServiceAccount/cryptojack",
    ];
    assert_eq!(r.objects(), expected);
    // Everything namespaced lives in the release namespace.
    for d in &r.docs {
        let kind = d["kind"].as_str().unwrap_or("");
        let namespaced = !matches!(
            kind,
            "ClusterRole" | "ClusterRoleBinding" | "CryptojackPolicy"
        );
        assert_eq!(
            d["metadata"]["namespace"].as_str(),
            namespaced.then_some(NAMESPACE),
            "{kind}"
        );
        assert_eq!(
            d["metadata"]["labels"]["app.kubernetes.io/instance"], RELEASE,
            "{kind} carries the release label"
        );
    }
    // The default policy audits.
    assert_eq!(
        r.get("CryptojackPolicy", "default")["spec"],
        json!({"mode": "Audit"})
    );
    // The metrics Service selects the operator's pods on the metrics port.
    let svc = r.get("Service", "cryptojack-metrics");
    let pod_labels = &r.get("Deployment", "cryptojack")["spec"]["template"]["metadata"]["labels"];
    for (k, v) in svc["spec"]["selector"].as_object().expect("selector") {
        assert_eq!(&pod_labels[k], v);
    }
    assert_eq!(svc["spec"]["ports"][0]["targetPort"], "metrics");
    // The PDB never blocks a drain of a single replica, never lets both go at once.
    let pdb = r.get("PodDisruptionBudget", "cryptojack");
    assert_eq!(pdb["spec"]["maxUnavailable"], 1);
}

#[test]
fn the_deployment_is_hardened_and_runs_the_operator_as_documented() {
    let r = render("");
    let d = r.get("Deployment", "cryptojack");
    let spec = &d["spec"]["template"]["spec"];
    assert_eq!(d["spec"]["replicas"], 2);
    assert_eq!(spec["serviceAccountName"], "cryptojack");
    assert_eq!(spec["automountServiceAccountToken"], true);
    let psc = &spec["securityContext"];
    assert_eq!(psc["runAsNonRoot"], true);
    assert_eq!(psc["runAsUser"], 65532);
    assert_eq!(psc["runAsGroup"], 65532);
    assert_eq!(psc["seccompProfile"]["type"], "RuntimeDefault");
    let containers = spec["containers"].as_array().expect("containers");
    assert_eq!(containers.len(), 1);
    let c = &containers[0];
    assert_eq!(c["image"], "ghcr.io/cryptojack/cryptojack:0.1.0");
    let sc = &c["securityContext"];
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["runAsNonRoot"], true);
    assert_eq!(sc["privileged"], false);
    assert_eq!(sc["capabilities"]["drop"], json!(["ALL"]));
    assert!(sc["capabilities"]["add"].is_null());
    assert_eq!(sc["seccompProfile"]["type"], "RuntimeDefault");
    assert_eq!(
        c["args"],
        json!([
            "run",
            "--namespace=$(POD_NAMESPACE)",
            "--metrics-addr=0.0.0.0:8080",
            "--lease-duration-seconds=15",
            "--log-format=json"
        ])
    );
    let env = c["env"].as_array().expect("env");
    let field = |name: &str| {
        env.iter()
            .find(|e| e["name"] == name)
            .map(|e| e["valueFrom"]["fieldRef"]["fieldPath"].clone())
    };
    assert_eq!(field("POD_NAMESPACE"), Some(json!("metadata.namespace")));
    assert_eq!(field("POD_NAME"), Some(json!("metadata.name")));
    for (probe, path) in [
        ("startupProbe", "/healthz"),
        ("livenessProbe", "/healthz"),
        ("readinessProbe", "/readyz"),
    ] {
        assert_eq!(c[probe]["httpGet"]["path"], path, "{probe}");
        assert_eq!(c[probe]["httpGet"]["port"], "metrics", "{probe}");
    }
    assert_eq!(c["ports"][0]["containerPort"], 8080);
    assert!(c["resources"]["requests"]["cpu"].is_string());
    assert!(c["resources"]["limits"]["memory"].is_string());
    let spread = spec["topologySpreadConstraints"]
        .as_array()
        .expect("topology spread");
    let keys: Vec<&str> = spread
        .iter()
        .filter_map(|t| t["topologyKey"].as_str())
        .collect();
    assert_eq!(
        keys,
        ["kubernetes.io/hostname", "topology.kubernetes.io/zone"]
    );
    for t in spread {
        assert_eq!(t["whenUnsatisfiable"], "ScheduleAnyway");
        assert_eq!(
            t["labelSelector"]["matchLabels"],
            d["spec"]["selector"]["matchLabels"]
        );
    }
    // the ServiceAccount itself mounts nothing: only the operator's pods ask for the token
    assert_eq!(
        r.get("ServiceAccount", "cryptojack")["automountServiceAccountToken"],
        false
    );
}

#[test]
fn the_operator_network_policy_allows_the_api_server_dns_and_metrics_only() {
    let r = render("");
    let np = &r.get("NetworkPolicy", "cryptojack")["spec"];
    assert_eq!(np["policyTypes"], json!(["Ingress", "Egress"]));
    let ingress = np["ingress"].as_array().expect("ingress");
    assert_eq!(ingress.len(), 1);
    assert_eq!(
        ingress[0]["ports"],
        json!([{"port": "metrics", "protocol": "TCP"}])
    );
    let egress = np["egress"].as_array().expect("egress");
    assert_eq!(egress.len(), 2);
    assert_eq!(
        egress[0]["ports"],
        json!([{"port": 443, "protocol": "TCP"}, {"port": 6443, "protocol": "TCP"}])
    );
    // DNS only to the cluster DNS pods, never port 53 to anywhere
    assert_eq!(
        egress[1]["to"],
        json!([{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}])
    );
    let r = render(
        "networkPolicy:\n  apiServer:\n    cidrs: [10.0.0.1/32]\n  metrics:\n    from: [{namespaceSelector: {matchLabels: {team: obs}}}]\n",
    );
    let np = &r.get("NetworkPolicy", "cryptojack")["spec"];
    assert_eq!(
        np["egress"][0]["to"],
        json!([{"ipBlock": {"cidr": "10.0.0.1/32"}}])
    );
    assert_eq!(
        np["ingress"][0]["from"],
        json!([{"namespaceSelector": {"matchLabels": {"team": "obs"}}}])
    );
    assert!(!render("networkPolicy:\n  enabled: false\n").has("NetworkPolicy"));
}

#[test]
fn each_optional_part_renders_what_it_adds() {
    let base = render("");
    for (name, values, kinds) in optional_parts() {
        let r = render(values);
        for kind in kinds {
            assert!(r.has(kind), "{name}: no {kind} in {:?}", r.objects());
        }
        match name {
            "serviceMonitor" => {
                let sm = &r.of_kind("ServiceMonitor")[0];
                assert_eq!(sm["metadata"]["labels"]["release"], "prometheus");
                assert_eq!(sm["spec"]["endpoints"][0]["port"], "metrics");
                assert_eq!(sm["spec"]["endpoints"][0]["scrapeTimeout"], "10s");
                // it selects the metrics Service
                let svc = r.get("Service", "cryptojack-metrics");
                for (k, v) in sm["spec"]["selector"]["matchLabels"]
                    .as_object()
                    .expect("matchLabels")
                {
                    assert_eq!(&svc["metadata"]["labels"][k], v, "{k}");
                }
            }
            "prometheusRule" => {
                let pr = &r.of_kind("PrometheusRule")[0];
                let rules = pr["spec"]["groups"][0]["rules"].as_array().expect("rules");
                assert!(rules.iter().all(|r| r["labels"]["team"] == "security"));
            }
            "grafanaDashboard" => {
                let cm = r.get("ConfigMap", "cryptojack-dashboard");
                assert_eq!(cm["metadata"]["namespace"], "monitoring");
                assert_eq!(cm["metadata"]["labels"]["grafana_dashboard"], "1");
                let dash: Value = serde_json::from_str(
                    cm["data"]["cryptojack.json"].as_str().expect("dashboard"),
                )
                .expect("the dashboard is JSON");
                assert_eq!(dash["uid"], "cryptojack");
            }
            "credentialRevocation" => {
                let role = r.get("ClusterRole", "cryptojack-credential-revocation");
                let verbs: BTreeSet<&str> = role["rules"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .flat_map(|r| r["verbs"].as_array().into_iter().flatten())
                    .filter_map(Value::as_str)
                    .collect();
                assert!(verbs.contains("bind") && !verbs.contains("escalate"));
                // and none of it is in the core role
                let core = serde_json::to_string(&base.get("ClusterRole", "cryptojack")["rules"])
                    .expect("json");
                assert!(!core.contains("\"bind\"") && !core.contains("\"escalate\""));
                let binding = r.get("ClusterRoleBinding", "cryptojack-credential-revocation");
                assert_eq!(binding["subjects"][0]["name"], "cryptojack");
            }
            "extraOwners" => {
                let rules = &r.get("ClusterRole", "cryptojack")["rules"];
                let has = |res: &str, verbs: Value| {
                    rules.as_array().into_iter().flatten().any(|r| {
                        r["apiGroups"] == json!(["argoproj.io"])
                            && r["resources"] == json!([res])
                            && r["verbs"] == verbs
                    })
                };
                assert!(has("rollouts", json!(["get"])));
                assert!(has("rollouts/scale", json!(["get", "patch"])));
            }
            "responderBinding" => {
                let b = r.get("ClusterRoleBinding", "cryptojack-responder");
                assert_eq!(b["roleRef"]["name"], "cryptojack-responder");
                let subjects: Vec<String> = b["subjects"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|s| {
                        format!(
                            "{}:{}",
                            s["kind"].as_str().unwrap_or(""),
                            s["name"].as_str().unwrap_or("")
                        )
                    })
                    .collect();
                assert_eq!(
                    subjects,
                    [
                        "Group:sec-oncall",
                        "User:alice@example.com",
                        "ServiceAccount:soar"
                    ]
                );
            }
            "containPolicy" => {
                let p = r.get("CryptojackPolicy", "default");
                assert_eq!(
                    p["spec"],
                    json!({"mode": "Contain", "match": {"excludeNamespaces": ["kube-system"]},
                           "limits": {"maxIncidentsPerMinute": 5}})
                );
            }
            "imageDigest" => {
                let d = r.get("Deployment", "cryptojack");
                assert_eq!(
                    d["spec"]["template"]["spec"]["containers"][0]["image"],
                    "registry.example.com/sec/cryptojack@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
                );
            }
            "dryRun" => {
                let c =
                    &r.get("Deployment", "cryptojack")["spec"]["template"]["spec"]["containers"][0];
                let args = c["args"].as_array().expect("args");
                assert!(args.contains(&json!("--dry-run")), "{args:?}");
                assert!(args.contains(&json!("--log-format=text")), "{args:?}");
            }
            "scheduling" => {
                let spec = &r.get("Deployment", "cryptojack")["spec"]["template"]["spec"];
                assert_eq!(spec["priorityClassName"], "system-cluster-critical");
                assert_eq!(spec["tolerations"][0]["key"], "dedicated");
                assert!(spec["affinity"]["nodeAffinity"].is_object());
                assert_eq!(spec["nodeSelector"]["kubernetes.io/os"], "linux");
            }
            _ => {}
        }
    }
    // Parts can also be switched off.
    let off = render(
        "defaultPolicy: {enabled: false}\npodDisruptionBudget: {enabled: false}\nmetrics: {service: {enabled: false}}\nrbac: {aggregateToDefaultRoles: false}\nresponders: {createRole: false}\ntopologySpread: {enabled: false}\n",
    );
    for kind in ["CryptojackPolicy", "PodDisruptionBudget", "Service"] {
        assert!(!off.has(kind), "{kind} still rendered");
    }
    assert_eq!(off.of_kind("ClusterRole").len(), 1, "{:?}", off.objects());
    assert!(off.get("Deployment", "cryptojack")["spec"]["template"]["spec"]["topologySpreadConstraints"].is_null());
    let out = render_raw(
        "metrics: {service: {enabled: false}, serviceMonitor: {enabled: true}}\n",
        &[],
    );
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("metrics.serviceMonitor.enabled needs metrics.service.enabled"),
        "{}",
        text(&out.stderr)
    );
}

/// The schema directories of the kubernetes-validate installed in .tools/venv:
/// (oldest version the chart claims, newest the package ships).
fn validate_versions() -> (String, String) {
    let venv = repo().join(".tools/venv/lib");
    let mut versions: Vec<(u32, u32, u32)> = Vec::new();
    for py in std::fs::read_dir(&venv)
        .unwrap_or_else(|e| panic!("{}: {e} (run scripts/install-tools.sh)", venv.display()))
    {
        let dir = py
            .expect("entry")
            .path()
            .join("site-packages/kubernetes_validate/kubernetes-json-schema");
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(v) = name
                .strip_prefix('v')
                .and_then(|n| n.strip_suffix("-local-strict"))
            else {
                continue;
            };
            let parts: Vec<u32> = v.split('.').filter_map(|p| p.parse().ok()).collect();
            if let [a, b, c] = parts[..] {
                versions.push((a, b, c));
            }
        }
    }
    versions.sort();
    let newest = versions
        .last()
        .copied()
        .expect("kubernetes-validate ships schemas");
    assert!(
        versions.contains(&(1, 33, 0)),
        "kubernetes-validate ships no 1.33 schemas: {versions:?}"
    );
    assert!(newest >= (1, 33, 0));
    (
        "1.33.0".into(),
        format!("{}.{}.{}", newest.0, newest.1, newest.2),
    )
}

/// Kinds kubernetes-validate has no schema for: validated by a server-side dry run against
/// kubesim with their CRDs loaded (tests/chart_install.rs).
const CUSTOM_KINDS: &[&str] = &["CryptojackPolicy", "ServiceMonitor", "PrometheusRule"];

fn kubernetes_validate(files: &[&Path], version: &str) -> std::process::Output {
    run(Command::new(kubernetes_validate_bin())
        .args(["--strict", "--kubernetes-version", version])
        .args(files))
}

#[test]
fn every_rendered_manifest_passes_kubernetes_validate_strict_for_the_oldest_and_newest_versions() {
    let (oldest, newest) = validate_versions();
    eprintln!("kubernetes-validate --strict for {oldest} and {newest}");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut files = Vec::new();
    let mut renderings = vec![("defaults".to_string(), String::new())];
    for (name, values, _) in optional_parts() {
        renderings.push((name.to_string(), values.to_string()));
    }
    renderings.push(("all".into(), all_parts_values()));
    // the built-in documents: one INFO line each is expected
    let mut docs = 0;
    for (name, values) in &renderings {
        let r = render(values);
        let f = dir.path().join(format!("{name}.yaml"));
        std::fs::write(&f, &r.yaml).expect("write rendering");
        files.push(f);
        docs += r
            .docs
            .iter()
            .filter(|d| !CUSTOM_KINDS.contains(&d["kind"].as_str().unwrap_or("")))
            .count();
    }
    let paths: Vec<&Path> = files.iter().map(|p| p.as_path()).collect();
    for version in [&oldest, &newest] {
        let out = kubernetes_validate(&paths, version);
        let stdout = text(&out.stdout);
        assert!(
            out.status.success(),
            "kubernetes-validate {version}:\n{stdout}\n{}",
            text(&out.stderr)
        );
        // Every document was validated, except the custom resources (no schema there).
        for line in stdout.lines().filter(|l| l.starts_with("WARN")) {
            assert!(
                CUSTOM_KINDS
                    .iter()
                    .any(|k| line.contains(&format!("schema for kind {k} "))),
                "unexpected warning: {line}"
            );
        }
        let validated = stdout.lines().filter(|l| l.starts_with("INFO")).count();
        assert_eq!(
            validated, docs,
            "one INFO line per built-in document:\n{stdout}"
        );
    }
    // The check can fail: a Deployment with an unknown field, or a field of the wrong type.
    let mut bad = render("");
    let d = bad
        .docs
        .iter_mut()
        .find(|d| d["kind"] == "Deployment")
        .expect("deployment");
    d["spec"]["template"]["spec"]["containers"][0]["securityContext"]["readOnlyRootFs"] =
        json!(true);
    let f = dir.path().join("bad.json");
    std::fs::write(&f, serde_json::to_vec(d).expect("json")).expect("write");
    let out = kubernetes_validate(&[f.as_path()], &oldest);
    assert!(!out.status.success(), "{}", text(&out.stdout));
    assert!(
        text(&out.stdout).contains("readOnlyRootFs"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn bad_values_are_rejected_by_the_schema_with_a_clear_message() {
    let cases: &[(&str, &[&str])] = &[
        (
            "replicaCount: two\n",
            &["/replicaCount", "got string, want integer"],
        ),
        (
            "replicas: 3\n",
            &["additional properties 'replicas' not allowed"],
        ),
        (
            "image:\n  repo: example.com/cj\n",
            &["/image", "additional properties 'repo' not allowed"],
        ),
        (
            "metrics:\n  serviceMonitor:\n    enable: true\n",
            &[
                "/metrics/serviceMonitor",
                "additional properties 'enable' not allowed",
            ],
        ),
        (
            "defaultPolicy:\n  mode: Enforce\n",
            &["/defaultPolicy/mode", "Audit", "Contain"],
        ),
        (
            "defaultPolicy:\n  spec:\n    respone: {}\n",
            &[
                "/defaultPolicy/spec",
                "additional properties 'respone' not allowed",
            ],
        ),
        (
            "rbac:\n  extraOwners:\n    - {apiGroup: '*', resource: '*'}\n",
            &["/rbac/extraOwners/0/apiGroup", "does not match pattern"],
        ),
        (
            "rbac:\n  extraOwners:\n    - {apiGroup: argoproj.io}\n",
            &["/rbac/extraOwners/0", "missing property 'resource'"],
        ),
        (
            "image:\n  digest: latest\n",
            &["/image/digest", "does not match pattern"],
        ),
        (
            "metrics:\n  prometheusRule:\n    operatorDownFor: five minutes\n",
            &[
                "/metrics/prometheusRule/operatorDownFor",
                "does not match pattern",
            ],
        ),
        (
            "resources:\n  limits:\n    memory: lots\n",
            &["/resources/limits/memory"],
        ),
        (
            "tolerations:\n  - {key: a, operater: Exists}\n",
            &["/tolerations/0", "'operater' not allowed"],
        ),
        (
            "operator:\n  logFormat: xml\n",
            &["/operator/logFormat", "json", "text"],
        ),
        (
            "resolutionPolicy:\n  groups: []\n",
            &["/resolutionPolicy/groups", "minItems"],
        ),
    ];
    for (values, expected) in cases {
        let out = render_raw(values, &[]);
        let err = text(&out.stderr);
        assert!(!out.status.success(), "accepted:\n{values}");
        assert!(
            err.contains("values don't meet the specifications of the schema"),
            "{values}: {err}"
        );
        for e in *expected {
            assert!(err.contains(e), "{values}: expected {e:?} in\n{err}");
        }
    }
}

/// Paths (in the schema) whose objects are Kubernetes or helm structures passed through as
/// they are; everything else is the chart's own and must forbid unknown keys.
const PASS_THROUGH: &[&str] = &[
    "global",
    "affinity.nodeAffinity",
    "affinity.podAffinity",
    "affinity.podAntiAffinity",
    "defaultPolicy.spec.cost",
    "defaultPolicy.spec.detect",
    "defaultPolicy.spec.limits",
    "defaultPolicy.spec.match",
    "defaultPolicy.spec.response",
];

fn check_schema(node: &Value, path: &str, root: &Value, seen: &mut Vec<String>) {
    let Some(obj) = node.as_object() else { return };
    if let Some(r) = obj.get("$ref").and_then(Value::as_str) {
        let target = r
            .strip_prefix("#/definitions/")
            .and_then(|n| root["definitions"].get(n))
            .unwrap_or_else(|| panic!("{path}: unresolved $ref {r}"));
        check_schema(target, path, root, seen);
        return;
    }
    for key in ["oneOf", "anyOf", "allOf"] {
        for alt in obj.get(key).and_then(Value::as_array).into_iter().flatten() {
            check_schema(alt, path, root, seen);
        }
    }
    let is_object = obj.get("type").is_some_and(|t| t == "object");
    if is_object {
        seen.push(path.to_string());
        match obj.get("additionalProperties") {
            Some(Value::Bool(false)) => {}
            // a map: its values have a schema of their own
            Some(Value::Object(values)) => check_schema(
                &Value::Object(values.clone()),
                &format!("{path}.*"),
                root,
                seen,
            ),
            other => assert!(
                PASS_THROUGH.contains(&path),
                "{path}: an object of the chart's own must set additionalProperties: false (has {other:?})"
            ),
        }
    }
    if let Some(props) = obj.get("properties").and_then(Value::as_object) {
        for (k, v) in props {
            let p = if path.is_empty() {
                k.clone()
            } else {
                format!("{path}.{k}")
            };
            check_schema(v, &p, root, seen);
        }
    }
    if let Some(items) = obj.get("items") {
        check_schema(items, &format!("{path}[]"), root, seen);
    }
}

#[test]
fn the_schema_forbids_unknown_keys_at_every_level_of_the_charts_own_values() {
    let schema: Value = serde_json::from_slice(
        &std::fs::read(chart_dir().join("values.schema.json")).expect("values.schema.json"),
    )
    .expect("the schema is JSON");
    assert_eq!(schema["additionalProperties"], false);
    let mut seen = Vec::new();
    check_schema(&schema, "", &schema, &mut seen);
    for p in PASS_THROUGH {
        assert!(
            seen.iter().any(|s| s == p),
            "{p} is not in the schema any more"
        );
    }
    // Every value of values.yaml has a schema (the lint above proves they validate).
    let values: Value = serde_saphyr::from_str(
        &std::fs::read_to_string(chart_dir().join("values.yaml")).expect("values.yaml"),
    )
    .expect("values.yaml parses");
    for key in leaf_keys(&values, "") {
        let top = key.split(['.', '[']).next().unwrap_or("");
        assert!(
            schema["properties"].get(top).is_some(),
            "{key} has no schema"
        );
    }
    // The default policy's spec keys are exactly the CRD's (but `mode`, a value of its own).
    let crd: Value = serde_saphyr::from_str(
        &std::fs::read_to_string(chart_dir().join("crds/cryptojackpolicies.cryptojack.dev.yaml"))
            .expect("CRD"),
    )
    .expect("CRD parses");
    let crd_keys: BTreeSet<&String> =
        crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
            .as_object()
            .expect("spec properties")
            .keys()
            .filter(|k| *k != "mode")
            .collect();
    let schema_keys: BTreeSet<&String> =
        schema["properties"]["defaultPolicy"]["properties"]["spec"]["properties"]
            .as_object()
            .expect("defaultPolicy.spec properties")
            .keys()
            .collect();
    assert_eq!(schema_keys, crd_keys);
}

/// Dotted paths of the leaves of `v` (maps that are empty count as leaves; lists are leaves).
fn leaf_keys(v: &Value, prefix: &str) -> Vec<String> {
    match v {
        Value::Object(m) if !m.is_empty() => m
            .iter()
            .flat_map(|(k, v)| {
                let p = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                leaf_keys(v, &p)
            })
            .collect(),
        _ => vec![prefix.to_string()],
    }
}

#[test]
fn docs_install_md_has_a_row_for_every_value_with_its_default() {
    let values: Value = serde_saphyr::from_str(
        &std::fs::read_to_string(chart_dir().join("values.yaml")).expect("values.yaml"),
    )
    .expect("values.yaml parses");
    let doc = std::fs::read_to_string(repo().join("docs/install.md")).expect("docs/install.md");
    // Maps whose entries are examples (labels), documented as one row.
    let as_one = [
        "networkPolicy.dns.podLabels",
        "grafanaDashboard.labels",
        "resources",
    ];
    let mut keys: Vec<String> = leaf_keys(&values, "")
        .into_iter()
        .map(|k| {
            as_one
                .iter()
                .find(|p| k.starts_with(&format!("{p}.")))
                .map(|p| p.to_string())
                .unwrap_or(k)
        })
        .collect();
    keys.dedup();
    for key in keys {
        let prefix = format!("| `{key}` | `");
        let row = doc
            .lines()
            .find(|l| l.starts_with(&prefix))
            .unwrap_or_else(|| panic!("docs/install.md has no row for `{key}`"));
        let default = row[prefix.len()..]
            .split_once("` |")
            .map(|(d, _)| d)
            .unwrap_or_else(|| panic!("{row}: no default"));
        let documented: Value = serde_json::from_str(default)
            .unwrap_or_else(|e| panic!("{row}: the default is not JSON: {e}"));
        let actual = key.split('.').fold(&values, |v, k| &v[k]);
        assert_eq!(&documented, actual, "docs/install.md: default of `{key}`");
    }
}

/// The ValidatingAdmissionPolicy's CEL, evaluated client-side (kube-cel), with its variables
/// inlined as the API server evaluates them (lazily, by name).
mod resolution_policy {
    use super::*;
    use kube_cel::{AdmissionRequest, VapEvaluator, VapExpression};

    fn policy() -> Value {
        let r = render("resolutionPolicy:\n  enabled: true\n  groups: [sec-oncall, soc]\n");
        r.get("ValidatingAdmissionPolicy", "cryptojack-resolution")["spec"].clone()
    }

    fn inline(expr: &str, vars: &[(String, String)]) -> String {
        let mut out = expr.to_string();
        for (name, e) in vars {
            out = out.replace(&format!("variables.{name}"), &format!("({e})"));
        }
        out
    }

    /// Whether `user` (in `groups`) may do `op` from `old` to `new`; the message when not.
    fn decide(
        op: &str,
        user: &str,
        groups: &[&str],
        old: Option<Value>,
        new: Value,
    ) -> Result<(), String> {
        let spec = policy();
        let vars: Vec<(String, String)> = spec["variables"]
            .as_array()
            .expect("variables")
            .iter()
            .map(|v| {
                (
                    v["name"].as_str().expect("name").to_string(),
                    v["expression"].as_str().expect("expression").to_string(),
                )
            })
            .collect();
        let mut b = VapEvaluator::builder()
            .object(new)
            .request(AdmissionRequest {
                operation: op.into(),
                username: user.into(),
                groups: groups.iter().map(|g| g.to_string()).collect(),
                ..Default::default()
            });
        if let Some(o) = old {
            b = b.old_object(o);
        }
        let evaluator = b.build();
        let exprs: Vec<VapExpression> = spec["validations"]
            .as_array()
            .expect("validations")
            .iter()
            .map(|v| VapExpression {
                expression: inline(v["expression"].as_str().expect("expression"), &vars),
                message: v["message"].as_str().map(String::from),
                message_expression: v["messageExpression"].as_str().map(|m| inline(m, &vars)),
            })
            .collect();
        let results = evaluator.evaluate(&exprs);
        match results.iter().find(|r| !r.passed) {
            None => Ok(()),
            Some(r) => Err(r.message.clone().unwrap_or_default()),
        }
    }

    fn incident(resolution: Option<Value>) -> Value {
        let mut spec =
            json!({"workload": "Deployment/miner", "detectedAt": "2026-11-30T10:00:00Z"});
        if let Some(r) = resolution {
            spec["resolution"] = r;
        }
        json!({"apiVersion": "cryptojack.dev/v1alpha1", "kind": "CryptojackIncident",
               "metadata": {"name": "cji-x", "namespace": "shop", "labels": {"a": "b"}}, "spec": spec})
    }

    #[test]
    fn only_the_configured_groups_and_the_operator_may_set_or_change_the_resolution() {
        let fp = Some(json!({"state": "FalsePositive", "note": "our CI runner"}));
        let confirmed = Some(json!({"state": "Confirmed", "note": "miner"}));
        let ci = (
            "system:serviceaccount:ci:deployer",
            &["system:serviceaccounts"][..],
        );
        let responder = ("alice", &["sec-oncall"][..]);
        let operator = (
            "system:serviceaccount:cryptojack-system:cryptojack",
            &[][..],
        );
        // a pipeline holding `edit` may not resolve (nor pre-resolve at create)
        let e = decide(
            "UPDATE",
            ci.0,
            ci.1,
            Some(incident(None)),
            incident(fp.clone()),
        )
        .unwrap_err();
        assert_eq!(
            e,
            "spec.resolution of a CryptojackIncident may only be set by members of sec-oncall, soc; system:serviceaccount:ci:deployer is not one"
        );
        assert!(decide("CREATE", ci.0, ci.1, None, incident(confirmed.clone())).is_err());
        // ... nor change or remove one
        assert!(
            decide(
                "UPDATE",
                ci.0,
                ci.1,
                Some(incident(fp.clone())),
                incident(confirmed.clone())
            )
            .is_err()
        );
        assert!(
            decide(
                "UPDATE",
                ci.0,
                ci.1,
                Some(incident(fp.clone())),
                incident(None)
            )
            .is_err()
        );
        // but other changes are not this policy's business (RBAC and the CRD decide)
        let mut relabelled = incident(fp.clone());
        relabelled["metadata"]["labels"]["a"] = json!("c");
        assert!(decide("UPDATE", ci.0, ci.1, Some(incident(fp.clone())), relabelled).is_ok());
        assert!(decide("CREATE", ci.0, ci.1, None, incident(None)).is_ok());
        // a responder may
        assert!(
            decide(
                "UPDATE",
                responder.0,
                responder.1,
                Some(incident(None)),
                incident(fp.clone())
            )
            .is_ok()
        );
        assert!(
            decide(
                "UPDATE",
                "bob",
                &["soc"],
                Some(incident(None)),
                incident(confirmed.clone())
            )
            .is_ok()
        );
        // and so may the operator (it re-creates deleted incidents from its copies)
        assert!(decide("CREATE", operator.0, operator.1, None, incident(fp)).is_ok());
    }
}
