//! kubectl's generator subcommands, which send protobuf bodies: `kubectl create deployment|job|
//! cronjob|poddisruptionbudget|role|rolebinding|clusterrole|clusterrolebinding`, the objects read
//! back as JSON (zero values of Go pointers such as `replicas: 0` kept).

use crate::common;

use common::{Cluster, cluster};
use serde_json::Value;

fn get_json(c: &Cluster, what: &[&str]) -> Value {
    let mut args = vec!["get"];
    args.extend_from_slice(what);
    args.extend_from_slice(&["-o", "json"]);
    serde_json::from_str(&c.kubectl_ok(&args)).expect("kubectl -o json")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workload_generators() {
    let c = cluster().await;
    c.kubectl_ok(&[
        "create",
        "deployment",
        "web",
        "--image=registry.k8s.io/pause:3.10",
        "--replicas=0",
        "--port=8080",
    ]);
    let d = get_json(&c, &["deployment", "web"]);
    assert_eq!(d["spec"]["replicas"], 0, "an explicit 0 is kept: {d}");
    assert_eq!(d["spec"]["selector"]["matchLabels"]["app"], "web");
    let ctr = &d["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(ctr["name"], "pause");
    assert_eq!(ctr["image"], "registry.k8s.io/pause:3.10");
    assert_eq!(ctr["ports"][0]["containerPort"], 8080);
    assert_eq!(d["spec"]["template"]["metadata"]["labels"]["app"], "web");

    c.kubectl_ok(&[
        "create",
        "job",
        "once",
        "--image=registry.k8s.io/pause:3.10",
        "--",
        "/pause",
        "-v",
    ]);
    let j = get_json(&c, &["job", "once"]);
    let spec = &j["spec"]["template"]["spec"];
    assert_eq!(spec["restartPolicy"], "Never");
    assert_eq!(spec["containers"][0]["command"][0], "/pause");
    assert_eq!(spec["containers"][0]["command"][1], "-v");

    c.kubectl_ok(&[
        "create",
        "cronjob",
        "tick",
        "--image=registry.k8s.io/pause:3.10",
        "--schedule=*/5 * * * *",
        "--restart=OnFailure",
        "--",
        "/pause",
    ]);
    let cj = get_json(&c, &["cronjob", "tick"]);
    assert_eq!(cj["spec"]["schedule"], "*/5 * * * *");
    let tpl = &cj["spec"]["jobTemplate"]["spec"]["template"]["spec"];
    assert_eq!(tpl["restartPolicy"], "OnFailure");
    assert_eq!(tpl["containers"][0]["command"][0], "/pause");
    // A Job from the CronJob (annotations and an ownerReference in the protobuf metadata).
    c.kubectl_ok(&["create", "job", "manual", "--from=cronjob/tick"]);
    let m = get_json(&c, &["job", "manual"]);
    assert_eq!(
        m["metadata"]["annotations"]["cronjob.kubernetes.io/instantiate"],
        "manual"
    );
    let owner = &m["metadata"]["ownerReferences"][0];
    assert_eq!(
        (owner["kind"].as_str(), owner["name"].as_str()),
        (Some("CronJob"), Some("tick"))
    );
    assert_eq!(owner["uid"], cj["metadata"]["uid"]);
    assert_eq!(
        m["spec"]["template"]["spec"]["containers"][0]["image"],
        "registry.k8s.io/pause:3.10"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disruption_budget_generators() {
    let c = cluster().await;
    c.kubectl_ok(&[
        "create",
        "poddisruptionbudget",
        "half",
        "--selector=app=web",
        "--min-available=50%",
    ]);
    let p = get_json(&c, &["pdb", "half"]);
    assert_eq!(p["spec"]["minAvailable"], "50%");
    assert_eq!(p["spec"]["selector"]["matchLabels"]["app"], "web");
    c.kubectl_ok(&[
        "create",
        "pdb",
        "none",
        "--selector=app=web",
        "--max-unavailable=0",
    ]);
    let p = get_json(&c, &["pdb", "none"]);
    assert_eq!(p["spec"]["maxUnavailable"], 0, "{p}");
    assert!(p["spec"].get("minAvailable").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rbac_generators() {
    let c = cluster().await;
    c.kubectl_ok(&[
        "create",
        "role",
        "reader",
        "--verb=get,list",
        "--resource=pods,deployments.apps",
        "--resource-name=web",
    ]);
    let r = get_json(&c, &["role", "reader"]);
    let rules = r["rules"].as_array().expect("rules");
    assert_eq!(rules.len(), 2, "{r}");
    assert_eq!(rules[0]["verbs"], serde_json::json!(["get", "list"]));
    assert_eq!(rules[0]["resources"], serde_json::json!(["pods"]));
    assert_eq!(rules[0]["apiGroups"], serde_json::json!([""]));
    assert_eq!(rules[1]["apiGroups"], serde_json::json!(["apps"]));
    assert_eq!(rules[1]["resourceNames"], serde_json::json!(["web"]));
    c.kubectl_ok(&[
        "create",
        "rolebinding",
        "readers",
        "--role=reader",
        "--user=alice",
        "--group=devs",
        &format!("--serviceaccount={}:bot", c.ns),
    ]);
    let rb = get_json(&c, &["rolebinding", "readers"]);
    assert_eq!(rb["roleRef"]["kind"], "Role");
    assert_eq!(rb["roleRef"]["name"], "reader");
    let subjects = rb["subjects"].as_array().expect("subjects");
    let kinds: Vec<&str> = subjects.iter().filter_map(|s| s["kind"].as_str()).collect();
    assert_eq!(kinds, vec!["User", "Group", "ServiceAccount"]);
    assert_eq!(subjects[2]["namespace"], c.ns.as_str());
    assert!(subjects[2].get("apiGroup").is_none(), "{rb}");

    let cr_name = format!("{}-logs", c.ns);
    c.kubectl_ok(&[
        "create",
        "clusterrole",
        &cr_name,
        "--verb=get",
        "--non-resource-url=/logs/*",
    ]);
    let cr = get_json(&c, &["clusterrole", &cr_name]);
    assert_eq!(
        cr["rules"][0]["nonResourceURLs"],
        serde_json::json!(["/logs/*"])
    );
    let agg_name = format!("{}-agg", c.ns);
    c.kubectl_ok(&[
        "create",
        "clusterrole",
        &agg_name,
        "--aggregation-rule=team=a",
    ]);
    let agg = get_json(&c, &["clusterrole", &agg_name]);
    assert_eq!(
        agg["aggregationRule"]["clusterRoleSelectors"][0]["matchLabels"]["team"],
        "a"
    );
    let crb_name = format!("{}-logs", c.ns);
    c.kubectl_ok(&[
        "create",
        "clusterrolebinding",
        &crb_name,
        &format!("--clusterrole={cr_name}"),
        "--user=bob",
    ]);
    let crb = get_json(&c, &["clusterrolebinding", &crb_name]);
    assert_eq!(crb["roleRef"]["name"], cr_name.as_str());
    assert_eq!(crb["subjects"][0]["name"], "bob");
    for (k, n) in [
        ("clusterrolebinding", &crb_name),
        ("clusterrole", &cr_name),
        ("clusterrole", &agg_name),
    ] {
        c.kubectl_ok(&["delete", k, n]);
    }
}
