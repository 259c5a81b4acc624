//! The chart installed as a user would: `helm install` into kubesim (HTTPS, RBAC on), the CRDs
//! and the default policy appear, the operator (the `cryptojack` binary with the rendered
//! Deployment's arguments and environment, authenticated as the chart's ServiceAccount)
//! makes `kubectl get cryptojackpolicies` show it Ready, its probes and metrics answer, a
//! miner is recorded, `helm upgrade` switches the policy to Contain, and `helm uninstall`
//! leaves the CRDs and the incidents. Also: the custom resources the chart renders
//! (ServiceMonitor, PrometheusRule, the default policy) pass a server-side dry run against
//! kubesim with their CRDs loaded, which kubernetes-validate cannot check.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::chart_common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use chart_common::*;
use serde_json::{Value, json};

struct Kubectl<'a> {
    kubeconfig: &'a Path,
}

impl Kubectl<'_> {
    fn run(&self, args: &[&str]) -> std::process::Output {
        run(Command::new(kubectl_bin())
            .arg("--kubeconfig")
            .arg(self.kubeconfig)
            .args(args))
    }

    fn ok(&self, args: &[&str]) -> String {
        ok(&format!("kubectl {args:?}"), self.run(args))
    }
}

/// The operator as the rendered Deployment runs it: its container's args (with `$(VAR)`
/// expanded from its env, the metrics address moved to a free local port) and env (the
/// downward API's values filled in), as the chart's ServiceAccount.
struct Operator {
    child: Child,
    log: std::path::PathBuf,
}

impl Operator {
    fn spawn(
        deployment: &Value,
        kubeconfig: &Path,
        pod_name: &str,
        metrics_port: u16,
        log: &Path,
    ) -> Operator {
        let c = &deployment["spec"]["template"]["spec"]["containers"][0];
        let mut env: Vec<(String, String)> = Vec::new();
        for e in c["env"].as_array().expect("env") {
            let name = e["name"].as_str().expect("name").to_string();
            let value = if let Some(v) = e["value"].as_str() {
                v.to_string()
            } else {
                match e["valueFrom"]["fieldRef"]["fieldPath"].as_str() {
                    Some("metadata.namespace") => NAMESPACE.to_string(),
                    Some("metadata.name") => pod_name.to_string(),
                    other => panic!("env {name}: unsupported source {other:?}"),
                }
            };
            env.push((name, value));
        }
        let args: Vec<String> = c["args"]
            .as_array()
            .expect("args")
            .iter()
            .map(|a| {
                let mut a = a.as_str().expect("arg").to_string();
                for (k, v) in &env {
                    a = a.replace(&format!("$({k})"), v);
                }
                if a.starts_with("--metrics-addr=") {
                    a = format!("--metrics-addr=127.0.0.1:{metrics_port}");
                }
                a
            })
            .collect();
        assert_eq!(args[0], "run");
        assert!(
            args.contains(&format!("--namespace={NAMESPACE}")),
            "{args:?}"
        );
        let child = Command::new(env!("CARGO_BIN_EXE_cryptojack"))
            .args(&args)
            .envs(env)
            .env("KUBECONFIG", kubeconfig)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).expect("log file"))
            .spawn()
            .expect("spawning cryptojack run");
        Operator {
            child,
            log: log.to_path_buf(),
        }
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            eprintln!("--- the operator's last log lines ---");
            for l in tail.iter().rev() {
                eprintln!("{l}");
            }
        }
    }
}

/// The `kubectl get` table as rows of columns.
fn table(out: &str) -> Vec<Vec<String>> {
    out.lines()
        .map(|l| l.split_whitespace().map(String::from).collect())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm_install_into_kubesim_as_a_user_would_and_the_operator_makes_the_policy_ready() {
    let sim = kubesim::Sim::builder()
        .rbac(true)
        .nodes(2)
        .tick(Duration::from_millis(50))
        .start()
        .await
        .expect("kubesim starts");
    let admin = Kubectl {
        kubeconfig: sim.kubeconfig_path(),
    };
    let helm = Helm::with_kubeconfig(sim.kubeconfig_path());
    let chart = chart_dir();
    let chart = chart.to_str().expect("utf-8 path");

    // 1. install, as the README says
    let out = helm.ok(&[
        "install",
        RELEASE,
        chart,
        "-n",
        NAMESPACE,
        "--create-namespace",
        "--wait",
        "--timeout",
        "60s",
    ]);
    assert!(out.contains("STATUS: deployed"), "{out}");
    assert!(
        out.contains("kubectl get cryptojackincidents -A"),
        "NOTES: {out}"
    );
    for crd in [
        "cryptojackpolicies.cryptojack.dev",
        "cryptojackincidents.cryptojack.dev",
    ] {
        let c = admin.ok(&["get", "crd", crd, "-o", "json"]);
        let c: Value = serde_json::from_str(&c).expect("json");
        assert!(
            c["status"]["conditions"].as_array().is_some_and(|cs| cs
                .iter()
                .any(|c| c["type"] == "Established" && c["status"] == "True")),
            "{crd} established"
        );
    }
    let policies = admin.ok(&["get", "cryptojackpolicies"]);
    let rows = table(&policies);
    assert_eq!(
        rows[0][..4],
        ["NAME", "MODE", "READY", "RULES"],
        "{policies}"
    );
    assert_eq!(rows[1][..2], ["default", "Audit"], "{policies}");
    // no operator yet: nobody has said whether it compiled
    assert!(!policies.contains("True"), "{policies}");
    let listed = admin.ok(&[
        "get",
        "-n",
        NAMESPACE,
        "deployment,serviceaccount,service,pdb,networkpolicy,role,rolebinding",
        "-o",
        "name",
    ]);
    for o in [
        "deployment.apps/cryptojack",
        "serviceaccount/cryptojack",
        "service/cryptojack-metrics",
        "poddisruptionbudget.policy/cryptojack",
        "networkpolicy.networking.k8s.io/cryptojack",
        "role.rbac.authorization.k8s.io/cryptojack",
        "rolebinding.rbac.authorization.k8s.io/cryptojack",
    ] {
        assert!(listed.lines().any(|l| l == o), "{o} in {listed}");
    }
    // the read-only role is aggregated into view (hence edit and admin)
    eventually_sync(
        "cryptojack.dev in the view ClusterRole",
        Duration::from_secs(20),
        || {
            admin
                .ok(&["get", "clusterrole", "view", "-o", "json"])
                .contains("cryptojack.dev")
                .then_some(())
        },
    )
    .await;

    // 2. the operator, as its Deployment runs it, as the chart's ServiceAccount
    let client = sim.client();
    let token = sa_token(&client, NAMESPACE, "cryptojack").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let sa_kubeconfig = dir.path().join("sa.kubeconfig");
    sim.kubeconfig_for_token_in(&token, NAMESPACE, &sa_kubeconfig)
        .expect("kubeconfig");
    let deployment = admin.ok(&[
        "get",
        "deployment",
        "cryptojack",
        "-n",
        NAMESPACE,
        "-o",
        "json",
    ]);
    let deployment: Value = serde_json::from_str(&deployment).expect("json");
    let port = free_port();
    let op = Operator::spawn(
        &deployment,
        &sa_kubeconfig,
        "cryptojack-7d9f-abcde",
        port,
        &dir.path().join("operator.log"),
    );
    let ready = eventually_sync(
        "kubectl get cryptojackpolicies shows default Ready",
        Duration::from_secs(60),
        || {
            let out = admin.ok(&["get", "cryptojackpolicies"]);
            table(&out)
                .iter()
                .any(|r| r.len() >= 3 && r[0] == "default" && r[2] == "True")
                .then_some(out)
        },
    )
    .await;
    eprintln!("{ready}");
    // the probes and the metrics the chart points at
    let c = &deployment["spec"]["template"]["spec"]["containers"][0];
    for probe in ["startupProbe", "livenessProbe", "readinessProbe"] {
        let path = c[probe]["httpGet"]["path"].as_str().expect("probe path");
        let (code, _) =
            eventually_sync(&format!("{probe} {path}"), Duration::from_secs(10), || {
                http_get(port, path)
            })
            .await;
        assert_eq!(code, 200, "{probe} {path}");
    }
    let (_, metrics) = http_get(port, "/metrics").expect("metrics");
    assert!(metrics.contains("cryptojack_leader 1"), "{metrics}");
    assert!(
        metrics.contains("cryptojack_policies{ready=\"true\"} 1"),
        "{metrics}"
    );
    // the Lease in its namespace
    let lease = admin.ok(&[
        "get",
        "lease",
        "cryptojack-leader",
        "-n",
        NAMESPACE,
        "-o",
        "jsonpath={.spec.holderIdentity}",
    ]);
    assert!(lease.starts_with("cryptojack-7d9f-abcde"), "{lease}");

    // 3. a miner: the Audit policy records it and changes nothing
    admin.ok(&["create", "namespace", "shop"]);
    let miner = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "miner", "namespace": "shop"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "miner"}},
                 "template": {"metadata": {"labels": {"app": "miner"}},
                              "spec": {"containers": [{"name": "m", "image": "docker.io/xmrig/xmrig:6.21.0",
                                                       "command": ["xmrig", "-o", "stratum+tcp://pool.supportxmr.com:3333"]}]}}}
    });
    let f = dir.path().join("miner.json");
    std::fs::write(&f, miner.to_string()).expect("write");
    admin.ok(&["apply", "-f", f.to_str().expect("utf-8")]);
    let incidents = eventually_sync("an Audited incident", Duration::from_secs(60), || {
        let out = admin.ok(&["get", "cryptojackincidents", "-A"]);
        out.contains("Audited").then_some(out)
    })
    .await;
    eprintln!("{incidents}");
    assert!(incidents.contains("Deployment/miner"), "{incidents}");
    assert_eq!(
        admin.ok(&[
            "get",
            "deployment",
            "miner",
            "-n",
            "shop",
            "-o",
            "jsonpath={.spec.replicas}"
        ]),
        "1",
        "Audit changes nothing"
    );

    // 4. upgrade as docs/install.md says: the CRDs first (helm never upgrades crds/), then
    //    the chart, switching the default policy to Contain
    //    helm applied the CRDs as its own field manager: a changed CRD (a new release's)
    //    conflicts without --force-conflicts
    let crd_file = chart_dir().join("crds/cryptojackpolicies.cryptojack.dev.yaml");
    let mut crd: Value = serde_saphyr::from_str(&std::fs::read_to_string(&crd_file).expect("CRD"))
        .expect("CRD parses");
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["description"] =
        json!("a newer release's description");
    let newer = dir.path().join("crds");
    std::fs::create_dir_all(&newer).expect("mkdir");
    std::fs::write(newer.join("policies.json"), crd.to_string()).expect("write");
    std::fs::copy(
        chart_dir().join("crds/cryptojackincidents.cryptojack.dev.yaml"),
        newer.join("incidents.yaml"),
    )
    .expect("copy");
    let newer = newer.to_str().expect("utf-8");
    let refused = admin.run(&["apply", "--server-side", "-f", newer]);
    assert!(!refused.status.success());
    assert!(
        text(&refused.stderr).contains("conflict"),
        "{}",
        text(&refused.stderr)
    );
    let out = admin.ok(&["apply", "--server-side", "--force-conflicts", "-f", newer]);
    assert!(
        out.contains("customresourcedefinition.apiextensions.k8s.io/cryptojackpolicies.cryptojack.dev serverside-applied"),
        "{out}"
    );
    helm.ok(&[
        "upgrade",
        RELEASE,
        chart,
        "-n",
        NAMESPACE,
        "--reuse-values",
        "--set",
        "defaultPolicy.mode=Contain",
    ]);
    eventually_sync(
        "the default policy in Contain mode",
        Duration::from_secs(20),
        || {
            let out = admin.ok(&["get", "cryptojackpolicies"]);
            table(&out)
                .iter()
                .any(|r| r.len() >= 3 && r[0] == "default" && r[1] == "Contain" && r[2] == "True")
                .then_some(())
        },
    )
    .await;

    // 5. uninstall: the operator's objects go, the CRDs and the incidents stay
    drop(op);
    let out = helm.ok(&["uninstall", RELEASE, "-n", NAMESPACE]);
    assert!(out.contains("uninstalled"), "{out}");
    let gone = admin.run(&["get", "deployment", "cryptojack", "-n", NAMESPACE]);
    assert!(!gone.status.success());
    let gone = admin.run(&["get", "clusterrole", "cryptojack"]);
    assert!(!gone.status.success());
    admin.ok(&["get", "crd", "cryptojackincidents.cryptojack.dev"]);
    let incidents = admin.ok(&["get", "cryptojackincidents", "-n", "shop", "-o", "name"]);
    assert_eq!(
        incidents.lines().count(),
        1,
        "the incident stays: {incidents}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_charts_custom_resources_pass_a_server_side_dry_run_with_their_crds() {
    let sim = kubesim::Sim::builder()
        .rbac(true)
        .crds_dir(repo().join("crds"))
        .crds_dir(fixtures().join("crds"))
        .start()
        .await
        .expect("kubesim starts");
    let admin = Kubectl {
        kubeconfig: sim.kubeconfig_path(),
    };
    admin.ok(&["create", "namespace", NAMESPACE]);
    let dir = tempfile::tempdir().expect("tempdir");
    let renderings = [
        ("defaults", String::new()),
        ("all", all_parts_values()),
        ("contain", "defaultPolicy: {mode: Contain, spec: {response: {evict: {gracePeriodSeconds: 2}}, cost: {currency: EUR}}}\n".to_string()),
    ];
    let mut checked = std::collections::BTreeSet::new();
    for (name, values) in &renderings {
        let r = render(values);
        for d in r.docs.iter().filter(|d| {
            matches!(
                d["kind"].as_str(),
                Some("CryptojackPolicy" | "ServiceMonitor" | "PrometheusRule")
            )
        }) {
            let kind = d["kind"].as_str().unwrap_or("");
            let f = dir.path().join(format!("{name}-{kind}.json"));
            std::fs::write(&f, d.to_string()).expect("write");
            let out = admin.ok(&[
                "apply",
                "--server-side",
                "--dry-run=server",
                "-f",
                f.to_str().expect("utf-8"),
            ]);
            assert!(out.contains("(server dry run)"), "{out}");
            checked.insert(kind.to_string());
        }
    }
    assert_eq!(
        checked.into_iter().collect::<Vec<_>>(),
        ["CryptojackPolicy", "PrometheusRule", "ServiceMonitor"]
    );
    // a dry run creates nothing
    let none = admin.ok(&[
        "get",
        "cryptojackpolicies,servicemonitors,prometheusrules",
        "-A",
        "-o",
        "name",
    ]);
    assert_eq!(none.trim(), "", "{none}");
    // and the check can fail: an unknown field, a bad enum, a bad duration
    let r = render(&all_parts_values());
    let mut bad_rule = r.of_kind("PrometheusRule")[0].clone();
    bad_rule["spec"]["groups"][0]["rules"][0]["for"] = json!("five minutes");
    let mut bad_monitor = r.of_kind("ServiceMonitor")[0].clone();
    bad_monitor["spec"]["endpoints"][0]["intervall"] = json!("30s");
    let mut bad_policy = r.of_kind("CryptojackPolicy")[0].clone();
    bad_policy["spec"]["mode"] = json!("Enforce");
    for (bad, expect) in [
        (bad_rule, "spec.groups[0].rules[0].for"),
        (bad_monitor, "intervall"),
        (bad_policy, "spec.mode"),
    ] {
        let f = dir.path().join("bad.json");
        std::fs::write(&f, bad.to_string()).expect("write");
        let out = admin.run(&[
            "apply",
            "--server-side",
            "--dry-run=server",
            "-f",
            f.to_str().expect("utf-8"),
        ]);
        assert!(!out.status.success(), "accepted: {bad}");
        assert!(
            text(&out.stderr).contains(expect),
            "{expect}: {}",
            text(&out.stderr)
        );
    }
}
