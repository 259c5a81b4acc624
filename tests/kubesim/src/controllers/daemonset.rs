//! DaemonSet controller (pkg/controller/daemon), simulated.
//!
//! - A node should run the daemon pod when it satisfies the template's `nodeSelector`, required node
//!   affinity and its NoSchedule/NoExecute taints are tolerated by the template's tolerations plus
//!   the ones the controller always adds (`AddOrUpdateDaemonPodTolerations`: not-ready and
//!   unreachable NoExecute, disk/memory/pid-pressure and unschedulable NoSchedule,
//!   network-unavailable when hostNetwork).
//! - Pods are created with `generateName: <ds>-` and, as the real controller does since 1.12, bound
//!   through node affinity: the template's required node affinity is replaced by a term with
//!   `matchFields: metadata.name In [<node>]` (`ReplaceDaemonSetPodNodeNameNodeAffinity`); the
//!   simulated scheduler then binds the pod to that node. Labels `controller-revision-hash` and
//!   `pod-template-generation` are added.
//! - Pods on nodes that should no longer run the daemon (e.g. its nodeSelector was changed to match
//!   nothing, which is how cryptojack "parks" a DaemonSet), on nodes that no longer exist, extra
//!   pods on a node and Failed pods are deleted.
//! - Template changes with `updateStrategy: RollingUpdate` (default) replace one stale pod at a time
//!   once every desired pod is ready (maxUnavailable 1); `OnDelete` leaves stale pods alone.
//! - Status: desiredNumberScheduled, currentNumberScheduled, numberMisscheduled, numberReady,
//!   numberAvailable, numberUnavailable, updatedNumberScheduled, observedGeneration.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::*;

pub(crate) fn reconcile(ctx: &Ctx<'_>, out: &mut Vec<Mutation>) {
    for ds in ctx.snap.list(keys::DAEMON_SETS) {
        sync(ctx, ds, out);
    }
}

fn default_tolerations(host_network: bool) -> Vec<Value> {
    let mut t = vec![
        json!({"key":"node.kubernetes.io/not-ready","operator":"Exists","effect":"NoExecute"}),
        json!({"key":"node.kubernetes.io/unreachable","operator":"Exists","effect":"NoExecute"}),
        json!({"key":"node.kubernetes.io/disk-pressure","operator":"Exists","effect":"NoSchedule"}),
        json!({"key":"node.kubernetes.io/memory-pressure","operator":"Exists","effect":"NoSchedule"}),
        json!({"key":"node.kubernetes.io/pid-pressure","operator":"Exists","effect":"NoSchedule"}),
        json!({"key":"node.kubernetes.io/unschedulable","operator":"Exists","effect":"NoSchedule"}),
    ];
    if host_network {
        t.push(json!({"key":"node.kubernetes.io/network-unavailable","operator":"Exists","effect":"NoSchedule"}));
    }
    t
}

/// The template with the controller's tolerations added (those already present are kept).
fn daemon_template(ds: &Value) -> Value {
    let mut t = ds
        .pointer("/spec/template")
        .cloned()
        .unwrap_or_else(|| json!({}));
    if !t.get("spec").is_some_and(Value::is_object) {
        t["spec"] = json!({});
    }
    let host_network = bool_at(&t, "/spec/hostNetwork");
    let mut tols: Vec<Value> = t
        .pointer("/spec/tolerations")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for d in default_tolerations(host_network) {
        if !tols
            .iter()
            .any(|x| x.get("key") == d.get("key") && x.get("effect") == d.get("effect"))
        {
            tols.push(d);
        }
    }
    t["spec"]["tolerations"] = Value::Array(tols);
    t
}

/// The node a daemon pod targets: spec.nodeName, or the node-affinity `metadata.name` field term.
fn target_node(p: &Value) -> Option<&str> {
    if let Some(n) = str_at(p, "/spec/nodeName").filter(|n| !n.is_empty()) {
        return Some(n);
    }
    p.pointer("/spec/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms")?
        .as_array()?
        .iter()
        .flat_map(|t| t.get("matchFields").and_then(Value::as_array).into_iter().flatten())
        .find(|f| f.get("key").and_then(Value::as_str) == Some("metadata.name"))
        .and_then(|f| f.pointer("/values/0"))
        .and_then(Value::as_str)
}

fn sync(ctx: &Ctx<'_>, ds: &Value, out: &mut Vec<Mutation>) {
    if is_terminating(ds) {
        return;
    }
    let ns = obj_namespace(ds).unwrap_or("default");
    let template = daemon_template(ds);
    let hash =
        super::deployment::compute_hash(ds.pointer("/spec/template").unwrap_or(&Value::Null), None);
    let gen_s = generation(ds).to_string();
    let probe = json!({"spec": template.get("spec").cloned().unwrap_or_else(|| json!({}))});
    let nodes: Vec<&Value> = ctx
        .snap
        .list(keys::NODES)
        .iter()
        .map(|a| a.as_ref())
        .collect();
    let should_run: BTreeMap<&str, bool> = nodes
        .iter()
        .map(|n| (obj_name(n), super::pods::node_fits(&probe, n)))
        .collect();
    let mut by_node: BTreeMap<&str, Vec<&Value>> = BTreeMap::new();
    for p in ctx.owned_pods(ds) {
        if let Some(n) = target_node(p) {
            by_node.entry(n).or_default().push(p);
        } else if !is_terminating(p) {
            out.push(delete_of(keys::PODS, p));
        }
    }
    let rolling = str_at(ds, "/spec/updateStrategy/type") != Some("OnDelete");
    let min_ready = i64_at(ds, "/spec/minReadySeconds").unwrap_or(0);
    let is_updated = |p: &Value| {
        let l = obj_labels(p);
        l.and_then(|l| l.get("controller-revision-hash"))
            .and_then(Value::as_str)
            == Some(hash.as_str())
    };
    let (mut desired, mut current, mut missched, mut ready, mut available, mut updated) =
        (0, 0, 0, 0, 0, 0);
    let mut stale: Vec<&Value> = Vec::new();
    let mut all_ready = true;
    for (node, run) in &should_run {
        let pods: Vec<&Value> = by_node.get(node).cloned().unwrap_or_default();
        let live: Vec<&Value> = pods
            .iter()
            .copied()
            .filter(|p| !is_terminating(p))
            .collect();
        if *run {
            desired += 1;
            let mut keep: Vec<&Value> = Vec::new();
            for p in &live {
                if pod_phase(p) == "Failed" {
                    out.push(delete_of(keys::PODS, p));
                } else {
                    keep.push(p);
                }
            }
            if keep.is_empty() {
                all_ready = false;
                if live.len() == pods.len() || pods.iter().all(|p| !is_terminating(p)) {
                    let mut t = template.clone();
                    if !t.pointer("/metadata/labels").is_some_and(Value::is_object) {
                        if !t.get("metadata").is_some_and(Value::is_object) {
                            t["metadata"] = json!({});
                        }
                        t["metadata"]["labels"] = json!({});
                    }
                    t["metadata"]["labels"]["controller-revision-hash"] = json!(hash);
                    t["metadata"]["labels"]["pod-template-generation"] = json!(gen_s);
                    t["spec"]["affinity"] = merged_affinity(&t, node);
                    let pod = pod_from_template(
                        &t,
                        ns,
                        controller_owner_ref(ds, "apps/v1", "DaemonSet"),
                        Some(&format!("{}-", obj_name(ds))),
                        None,
                    );
                    out.push(Mutation::Create {
                        key: keys::PODS.into(),
                        object: pod,
                    });
                }
            } else {
                current += 1;
                // Keep the oldest; delete duplicates.
                let mut sorted = keep.clone();
                sorted.sort_by_key(|p| {
                    (
                        str_at(p, "/metadata/creationTimestamp")
                            .unwrap_or("")
                            .to_string(),
                        obj_name(p).to_string(),
                    )
                });
                for extra in sorted.iter().skip(1) {
                    out.push(delete_of(keys::PODS, extra));
                }
                let p = sorted[0];
                if pod_ready(p) {
                    ready += 1;
                } else {
                    all_ready = false;
                }
                if pod_available(p, min_ready, ctx.now) {
                    available += 1;
                }
                if is_updated(p) {
                    updated += 1;
                } else {
                    stale.push(p);
                }
            }
        } else if !live.is_empty() {
            missched += 1;
            for p in live {
                out.push(delete_of(keys::PODS, p));
            }
        }
    }
    // Pods bound to nodes that do not exist.
    for (node, pods) in &by_node {
        if !should_run.contains_key(node) {
            for p in pods.iter().filter(|p| !is_terminating(p)) {
                out.push(delete_of(keys::PODS, p));
            }
        }
    }
    if rolling
        && all_ready
        && let Some(p) = stale.first()
    {
        out.push(delete_of(keys::PODS, p));
    }
    let mut status = ds
        .get("status")
        .cloned()
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({}));
    status["desiredNumberScheduled"] = json!(desired);
    status["currentNumberScheduled"] = json!(current);
    status["numberMisscheduled"] = json!(missched);
    status["numberReady"] = json!(ready);
    status["numberAvailable"] = json!(available);
    status["numberUnavailable"] = json!(desired - available);
    status["updatedNumberScheduled"] = json!(updated);
    status["observedGeneration"] = json!(generation(ds));
    if let Some(m) = status.as_object_mut() {
        for f in [
            "numberAvailable",
            "numberUnavailable",
            "updatedNumberScheduled",
        ] {
            if m.get(f) == Some(&json!(0)) {
                m.remove(f);
            }
        }
    }
    if let Some(m) = status_update(keys::DAEMON_SETS, ds, status) {
        out.push(m);
    }
}

/// `ReplaceDaemonSetPodNodeNameNodeAffinity`: the required terms become one term pinning the node
/// name; preferred terms and pod (anti-)affinity are kept.
fn merged_affinity(t: &Value, node: &str) -> Value {
    let mut aff = t
        .pointer("/spec/affinity")
        .cloned()
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({}));
    if !aff.get("nodeAffinity").is_some_and(Value::is_object) {
        aff["nodeAffinity"] = json!({});
    }
    aff["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"] = json!({
        "nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node]}]}]
    });
    aff
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    fn ds(selector: Value) -> Value {
        json!({"apiVersion":"apps/v1","kind":"DaemonSet","metadata":{"name":"agent","namespace":"kube-system","uid":"uid-ds","generation":1},
               "spec":{"selector":{"matchLabels":{"app":"agent"}},
                       "template":{"metadata":{"labels":{"app":"agent"}},"spec":{"nodeSelector":selector,"containers":[{"name":"c","image":"agent"}]}}}})
    }

    #[test]
    fn one_pod_per_matching_node_and_parking() {
        let now = t("2024-05-01T10:00:00Z");
        let mut tainted = node("n3", json!({"pool":"a"}));
        tainted["spec"] = json!({"taints":[{"key":"dedicated","value":"x","effect":"NoSchedule"}]});
        let mut s = MiniStore::new(vec![
            ("apps/daemonsets", ds(json!({"pool":"a"}))),
            ("/nodes", node("n1", json!({"pool":"a"}))),
            ("/nodes", node("n2", json!({"pool":"b"}))),
            ("/nodes", tainted),
        ]);
        s.settle(now, &ControllerSet::all());
        let pods = s.list("/pods");
        assert_eq!(pods.len(), 1);
        assert_eq!(pods[0]["spec"]["nodeName"], "n1");
        assert_eq!(
            pods[0]["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
                ["nodeSelectorTerms"][0]["matchFields"][0]["values"][0],
            "n1"
        );
        let st = &s.get("apps/daemonsets", "agent")["status"];
        assert_eq!(st["desiredNumberScheduled"], 1);
        assert_eq!(st["currentNumberScheduled"], 1);
        assert_eq!(st["numberReady"], 1);
        assert_eq!(st["updatedNumberScheduled"], 1);
        // Park: a selector that matches no node removes the pod.
        s.get_mut("apps/daemonsets", "agent")["spec"]["template"]["spec"]["nodeSelector"] =
            json!({"cryptojack.dev/parked":"true"});
        s.settle(now, &ControllerSet::all());
        assert!(s.list("/pods").is_empty());
        let st = &s.get("apps/daemonsets", "agent")["status"];
        assert_eq!(st["desiredNumberScheduled"], 0);
        assert_eq!(st["numberReady"], 0);
    }

    #[test]
    fn no_selector_runs_everywhere_untainted() {
        let now = t("2024-05-01T10:00:00Z");
        let mut d = ds(json!({}));
        d["spec"]["template"]["spec"]
            .as_object_mut()
            .unwrap()
            .remove("nodeSelector");
        let mut cordoned = node("n2", json!({}));
        cordoned["spec"] = json!({"unschedulable": true});
        let mut s = MiniStore::new(vec![
            ("apps/daemonsets", d),
            ("/nodes", node("n1", json!({}))),
            ("/nodes", cordoned),
        ]);
        s.settle(now, &ControllerSet::all());
        let mut nodes: Vec<String> = s
            .list("/pods")
            .iter()
            .map(|p| p["spec"]["nodeName"].as_str().unwrap().to_string())
            .collect();
        nodes.sort();
        assert_eq!(
            nodes,
            vec!["n1", "n2"],
            "daemon pods tolerate unschedulable"
        );
    }
}
