//! The scheduler and the kubelet, simulated.
//!
//! Scheduler (pass 1): a pod without `spec.nodeName` (and not being deleted) is bound to a Node that
//! satisfies its `spec.nodeSelector`, its required node affinity (`nodeSelectorTerms` with
//! `matchExpressions` In/NotIn/Exists/DoesNotExist/Gt/Lt and `matchFields` on `metadata.name`, as
//! the DaemonSet controller uses), and whose `NoSchedule`/`NoExecute` taints (and
//! `spec.unschedulable`, as the `node.kubernetes.io/unschedulable` taint) are tolerated. Among the
//! feasible nodes the one with the fewest pods wins, ties broken by node name: deterministic and
//! spreading, not the real scoring. No feasible node → the pod stays Pending with condition
//! `PodScheduled=False`, reason `Unschedulable` and the scheduler's message shape
//! `0/N nodes are available: ...` (the per-reason breakdown is simplified).
//!
//! Kubelet (pass 2): a pod bound to an existing Node whose phase is Pending (or absent) becomes
//! Running (a pod bound to a Node that does not exist stays Pending) with the
//! conditions PodReadyToStartContainers, Initialized, Ready, ContainersReady, PodScheduled all True,
//! a unique podIP in 10.244.0.0/14 (the node's IP for hostNetwork pods), hostIP from the node's
//! InternalIP, startTime and one running
//! containerStatus per container (imageID and containerID are synthesised). Readiness probes are not
//! run. The kubelet never changes a pod again once it is Running, so tests can set `status.phase` to
//! Succeeded/Failed or flip Ready themselves (this is how Job pods "finish").
//!
//! Termination: the API server sets `deletionTimestamp` to request time + grace period; the kubelet
//! removes the pod (Delete with uid precondition) once that time has passed and no finalizers
//! remain (pods annotated `kubesim.dev/ignore-sigterm` are left to the driver, see grace.rs).
//! Pods that never got a node, or are already Succeeded/Failed, are removed at once, as the API
//! server itself deletes those immediately (`pod strategy CheckGracefulDelete`).

use std::collections::{BTreeMap, HashSet};

use serde_json::{Value, json};

use super::*;

pub(crate) fn reconcile(ctx: &Ctx<'_>, out: &mut Vec<Mutation>) {
    let nodes: Vec<&Value> = {
        let mut n: Vec<&Value> = ctx
            .snap
            .list(keys::NODES)
            .iter()
            .map(|a| a.as_ref())
            .collect();
        n.sort_by(|a, b| obj_name(a).cmp(obj_name(b)));
        n
    };
    let mut load: BTreeMap<&str, usize> = nodes.iter().map(|n| (obj_name(n), 0)).collect();
    let pods: Vec<&Value> = ctx
        .snap
        .list(keys::PODS)
        .iter()
        .map(|a| a.as_ref())
        .collect();
    let needs_start = |p: &Value| {
        !is_terminating(p)
            && (str_at(p, "/spec/nodeName").is_none_or(str::is_empty)
                || (pod_phase(p) == "Pending" && str_at(p, "/status/startTime").is_none()))
    };
    // Node loads and used IPs are only needed when some pod is to be scheduled or started.
    let busy = pods.iter().any(|p| needs_start(p));
    let mut used_ips: HashSet<u32> = HashSet::new();
    for p in pods.iter().filter(|_| busy) {
        if let Some(n) = str_at(p, "/spec/nodeName")
            && let Some(c) = load.get_mut(n)
        {
            *c += 1;
        }
        if let Some(ip) = str_at(p, "/status/podIP").and_then(parse_ipv4) {
            used_ips.insert(ip);
        }
    }
    let mut next_ip = IP_BASE + 1;

    for p in pods {
        if is_terminating(p) {
            let no_finalizers = p
                .pointer("/metadata/finalizers")
                .and_then(Value::as_array)
                .is_none_or(|a| a.is_empty());
            let immediate = str_at(p, "/spec/nodeName").is_none_or(str::is_empty)
                || matches!(pod_phase(p), "Succeeded" | "Failed");
            // Containers that ignore SIGTERM are waited for by the driver's kubelet pass, which
            // knows the precise end of the grace period (grace.rs).
            let due = !crate::grace::ignores_sigterm(p)
                && time_at(p, "/metadata/deletionTimestamp").is_none_or(|t| t <= ctx.now);
            if no_finalizers && (immediate || due) {
                out.push(delete_of(keys::PODS, p));
            }
            continue;
        }
        let node_name = str_at(p, "/spec/nodeName").unwrap_or("");
        if node_name.is_empty() {
            schedule(ctx, p, &nodes, &mut load, out);
        } else if matches!(pod_phase(p), "Pending") && str_at(p, "/status/startTime").is_none() {
            // No such node: no kubelet will ever start it (it stays Pending, as in a cluster).
            let Some(node) = nodes.iter().find(|n| obj_name(n) == node_name).copied() else {
                continue;
            };
            let host_network = bool_at(p, "/spec/hostNetwork");
            let ip = loop {
                if host_network {
                    break None;
                }
                if next_ip >= IP_LIMIT {
                    break None;
                }
                let c = next_ip;
                next_ip += 1;
                if c & 0xff != 0 && c & 0xff != 0xff && used_ips.insert(c) {
                    break Some(c);
                }
            };
            out.push(Mutation::Update {
                key: keys::PODS.into(),
                object: start_pod(p, Some(node), ip, ctx.now),
            });
        }
    }
}

const IP_BASE: u32 = (10 << 24) | (244 << 16);
const IP_LIMIT: u32 = (10 << 24) | (248 << 16);

fn parse_ipv4(s: &str) -> Option<u32> {
    let ip: std::net::Ipv4Addr = s.parse().ok()?;
    Some(u32::from(ip))
}

/// The dotted form of an IP chosen by the kubelet simulation.
fn pod_ip_for(n: u32) -> String {
    std::net::Ipv4Addr::from(n).to_string()
}

fn schedule<'a>(
    ctx: &Ctx<'_>,
    p: &Value,
    nodes: &[&'a Value],
    load: &mut BTreeMap<&'a str, usize>,
    out: &mut Vec<Mutation>,
) {
    let feasible: Vec<&str> = nodes
        .iter()
        .filter(|n| node_fits(p, n))
        .map(|n| obj_name(n))
        .collect();
    let best = feasible
        .iter()
        .min_by_key(|n| (load.get(*n).copied().unwrap_or(0), **n))
        .copied();
    let mut pod = p.clone();
    let mut conds = existing_conditions(p);
    match best {
        Some(n) => {
            if let Some(c) = load.get_mut(n) {
                *c += 1;
            }
            pod["spec"]["nodeName"] = json!(n);
            set_condition(&mut conds, "PodScheduled", "True", "", "", ctx.now, false);
            pod["status"]["conditions"] = Value::Array(conds);
            if pod["status"].get("phase").is_none() {
                pod["status"]["phase"] = json!("Pending");
            }
            out.push(Mutation::Update {
                key: keys::PODS.into(),
                object: pod,
            });
        }
        None => {
            let msg = unschedulable_message(p, nodes);
            set_condition(
                &mut conds,
                "PodScheduled",
                "False",
                "Unschedulable",
                &msg,
                ctx.now,
                false,
            );
            let mut status = p.get("status").cloned().unwrap_or_else(|| json!({}));
            status["phase"] = json!("Pending");
            status["conditions"] = Value::Array(conds);
            if let Some(m) = status_update(keys::PODS, p, status) {
                out.push(m);
            }
        }
    }
}

/// nodeSelector, required node affinity and taints/tolerations.
pub(crate) fn node_fits(pod: &Value, node: &Value) -> bool {
    unfit_reason(pod, node).is_none()
}

/// Why the scheduler's filters reject `node` for `pod`, in the order the default filter plugins
/// run (NodeUnschedulable, TaintToleration, NodeAffinity), with their messages; None = fits.
pub(crate) fn unfit_reason(pod: &Value, node: &Value) -> Option<String> {
    let tolerations = ptr(pod, "/spec/tolerations")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    if bool_at(node, "/spec/unschedulable") {
        let t = json!({"key":"node.kubernetes.io/unschedulable","effect":"NoSchedule"});
        if !tolerations.iter().any(|tol| tolerates(tol, &t)) {
            return Some("node(s) were unschedulable".into());
        }
    }
    let taints = ptr(node, "/spec/taints")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let untolerated = taints
        .iter()
        .filter(|t| {
            matches!(
                t.get("effect").and_then(Value::as_str),
                Some("NoSchedule" | "NoExecute")
            )
        })
        .find(|t| !tolerations.iter().any(|tol| tolerates(tol, t)));
    if let Some(t) = untolerated {
        let s = |k: &str| t.get(k).and_then(Value::as_str).unwrap_or("");
        return Some(format!(
            "node(s) had untolerated taint {{{}: {}}}",
            s("key"),
            s("value")
        ));
    }
    let labels = obj_labels(node);
    let affinity = "node(s) didn't match Pod's node affinity/selector".to_string();
    if let Some(sel) = ptr(pod, "/spec/nodeSelector").and_then(Value::as_object) {
        for (k, v) in sel {
            if labels.and_then(|l| l.get(k)) != Some(v) {
                return Some(affinity);
            }
        }
    }
    if let Some(terms) = ptr(
        pod,
        "/spec/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms",
    )
    .and_then(Value::as_array)
    {
        // Terms are ORed; the requirements inside a term are ANDed.
        if !terms.iter().any(|t| term_matches(t, node)) {
            return Some(affinity);
        }
    }
    None
}

/// The scheduler's FitError message: `0/N nodes are available: <count> <reason>, ... .` plus the
/// default preemption post-filter message.
fn unschedulable_message(pod: &Value, nodes: &[&Value]) -> String {
    if nodes.is_empty() {
        return "no nodes available to schedule pods".into();
    }
    let mut hist: BTreeMap<String, usize> = BTreeMap::new();
    for n in nodes {
        if let Some(r) = unfit_reason(pod, n) {
            *hist.entry(r).or_default() += 1;
        }
    }
    let mut reasons: Vec<String> = hist.iter().map(|(r, c)| format!("{c} {r}")).collect();
    reasons.sort();
    let n = nodes.len();
    format!(
        "0/{n} nodes are available: {}. preemption: 0/{n} nodes are available: {n} Preemption is not helpful for scheduling.",
        reasons.join(", ")
    )
}

fn term_matches(term: &Value, node: &Value) -> bool {
    let exprs = term
        .get("matchExpressions")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let fields = term
        .get("matchFields")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    if exprs.is_empty() && fields.is_empty() {
        return false; // an empty term matches no objects
    }
    let labels = obj_labels(node);
    exprs.iter().all(|e| {
        let key = e.get("key").and_then(Value::as_str).unwrap_or("");
        requirement(e, labels.and_then(|l| l.get(key)).and_then(Value::as_str))
    }) && fields.iter().all(|e| {
        let key = e.get("key").and_then(Value::as_str).unwrap_or("");
        key == "metadata.name" && requirement(e, Some(obj_name(node)))
    })
}

fn requirement(e: &Value, have: Option<&str>) -> bool {
    let values: Vec<&str> = e
        .get("values")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let num = |s: &str| s.parse::<i64>().ok();
    match e.get("operator").and_then(Value::as_str).unwrap_or("") {
        "In" => have.is_some_and(|h| values.contains(&h)),
        "NotIn" => have.is_none_or(|h| !values.contains(&h)),
        "Exists" => have.is_some(),
        "DoesNotExist" => have.is_none(),
        "Gt" => {
            matches!((have.and_then(num), values.first().and_then(|v| num(v))), (Some(h), Some(v)) if h > v)
        }
        "Lt" => {
            matches!((have.and_then(num), values.first().and_then(|v| num(v))), (Some(h), Some(v)) if h < v)
        }
        _ => false,
    }
}

/// `v1helper.TolerationsTolerateTaint`: empty key with Exists tolerates everything; effect empty
/// matches all effects; operator Equal (default) compares values.
pub(crate) fn tolerates(tol: &Value, taint: &Value) -> bool {
    let s = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let (tk, te, tv) = (s(taint, "key"), s(taint, "effect"), s(taint, "value"));
    let (ok, oe, op, ov) = (
        s(tol, "key"),
        s(tol, "effect"),
        s(tol, "operator"),
        s(tol, "value"),
    );
    if !oe.is_empty() && oe != te {
        return false;
    }
    if !ok.is_empty() && ok != tk {
        return false;
    }
    match op.as_str() {
        "Exists" => true,
        "" | "Equal" => ov == tv,
        _ => false,
    }
}

fn fake_hash(seed: &str) -> String {
    // FNV-1a 64 expanded to 64 hex chars: only needs to look like a digest and be stable.
    let mut out = String::with_capacity(64);
    for round in 0u8..4 {
        let mut h: u64 = 0xcbf29ce484222325 ^ u64::from(round);
        for b in seed.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x100000001b3);
        }
        out.push_str(&format!("{h:016x}"));
    }
    out
}

fn start_pod(p: &Value, node: Option<&Value>, ip: Option<u32>, now: jiff::Timestamp) -> Value {
    let now_s = fmt_time(now);
    let host_ip = node
        .and_then(|n| ptr(n, "/status/addresses").and_then(Value::as_array))
        .and_then(|a| {
            a.iter()
                .find(|x| x.get("type").and_then(Value::as_str) == Some("InternalIP"))
        })
        .and_then(|x| x.get("address").and_then(Value::as_str))
        .unwrap_or("192.168.0.1")
        .to_string();
    let uid = obj_uid(p).unwrap_or("");
    let statuses = |path: &str, init: bool| -> Vec<Value> {
        ptr(p, path)
            .and_then(Value::as_array)
            .map(|cs| {
                cs.iter()
                    .map(|c| {
                        let name = c.get("name").and_then(Value::as_str).unwrap_or("");
                        let image = c.get("image").and_then(Value::as_str).unwrap_or("");
                        let full = if image.contains('/') { image.to_string() } else { format!("docker.io/library/{image}") };
                        let repo = full.split(['@', ':']).next().unwrap_or(&full).to_string();
                        let state = if init {
                            json!({"terminated":{"exitCode":0,"reason":"Completed","startedAt":now_s,"finishedAt":now_s,
                                   "containerID":format!("containerd://{}", fake_hash(&format!("{uid}/{name}")))}})
                        } else {
                            json!({"running":{"startedAt":now_s}})
                        };
                        json!({
                            "name": name,
                            "image": full,
                            "imageID": format!("{repo}@sha256:{}", fake_hash(image)),
                            "containerID": format!("containerd://{}", fake_hash(&format!("{uid}/{name}"))),
                            "ready": !init,
                            "started": !init,
                            "restartCount": 0,
                            "state": state,
                            "lastState": {},
                        })
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut conds = existing_conditions(p);
    for t in [
        "PodReadyToStartContainers",
        "Initialized",
        "Ready",
        "ContainersReady",
        "PodScheduled",
    ] {
        set_condition(&mut conds, t, "True", "", "", now, false);
    }
    let mut pod = p.clone();
    let ip_s = ip.map(pod_ip_for);
    let mut status = json!({
        "phase": "Running",
        "conditions": conds,
        "hostIP": host_ip,
        "hostIPs": [{"ip": host_ip}],
        "startTime": now_s,
        "containerStatuses": statuses("/spec/containers", false),
        "qosClass": p.get("spec").map(crate::defaults::qos_class).unwrap_or("BestEffort"),
    });
    let ip_s = if bool_at(p, "/spec/hostNetwork") {
        Some(host_ip.clone())
    } else {
        ip_s
    };
    if let Some(ip) = ip_s {
        status["podIP"] = json!(ip);
        status["podIPs"] = json!([{ "ip": ip }]);
    }
    let init = statuses("/spec/initContainers", true);
    if !init.is_empty() {
        status["initContainerStatuses"] = Value::Array(init);
    }
    pod["status"] = status;
    pod
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    fn pod(name: &str, spec: Value) -> Value {
        json!({"apiVersion":"v1","kind":"Pod","metadata":{"name":name,"namespace":"ns","uid":format!("uid-{name}")},"spec":spec})
    }

    #[test]
    fn schedules_then_runs_with_unique_ips() {
        let mut s = MiniStore::new(vec![
            ("/nodes", node("n1", json!({"disk":"ssd"}))),
            ("/nodes", node("n2", json!({}))),
            (
                "/pods",
                pod(
                    "a",
                    json!({"containers":[{"name":"c","image":"nginx:1.27"}]}),
                ),
            ),
            (
                "/pods",
                pod(
                    "b",
                    json!({"nodeSelector":{"disk":"ssd"},"containers":[{"name":"c","image":"nginx"}]}),
                ),
            ),
            (
                "/pods",
                pod(
                    "c",
                    json!({"nodeSelector":{"disk":"nvme"},"containers":[{"name":"c","image":"nginx"}]}),
                ),
            ),
            (
                "/pods",
                pod("d", json!({"containers":[{"name":"c","image":"nginx"}]})),
            ),
        ]);
        let now = t("2024-05-01T10:00:00Z");
        s.settle(now, &ControllerSet::all());
        let a = s.get("/pods", "a");
        let b = s.get("/pods", "b");
        let c = s.get("/pods", "c");
        assert_eq!(b["spec"]["nodeName"], "n1");
        assert_eq!(a["spec"]["nodeName"], "n1", "ties are broken by node name");
        assert_eq!(
            s.get("/pods", "d")["spec"]["nodeName"],
            "n2",
            "least-loaded node wins"
        );
        assert_eq!(a["status"]["phase"], "Running");
        assert!(pod_ready(a));
        assert_ne!(a["status"]["podIP"], b["status"]["podIP"]);
        assert!(
            a["status"]["podIP"]
                .as_str()
                .unwrap()
                .starts_with("10.244.")
        );
        assert_eq!(a["status"]["hostIP"], "192.168.0.10");
        assert_eq!(
            a["status"]["containerStatuses"][0]["image"],
            "docker.io/library/nginx:1.27"
        );
        assert_eq!(
            a["status"]["containerStatuses"][0]["state"]["running"]["startedAt"],
            "2024-05-01T10:00:00Z"
        );
        assert_eq!(c["status"]["phase"], "Pending");
        let cond = condition(c, "PodScheduled").unwrap();
        assert_eq!(cond["reason"], "Unschedulable");
        assert!(
            cond["message"]
                .as_str()
                .unwrap()
                .starts_with("0/2 nodes are available")
        );
    }

    #[test]
    fn taints_and_affinity() {
        let mut n = node("t", json!({"role":"gpu"}));
        n["spec"] = json!({"taints":[{"key":"gpu","value":"yes","effect":"NoSchedule"}]});
        let p = pod("p", json!({}));
        assert!(!node_fits(&p, &n));
        assert_eq!(
            unfit_reason(&p, &n).unwrap(),
            "node(s) had untolerated taint {gpu: yes}"
        );
        let mut cordoned = node("c", json!({}));
        cordoned["spec"] = json!({"unschedulable": true});
        assert_eq!(
            unschedulable_message(&p, &[&n, &cordoned]),
            "0/2 nodes are available: 1 node(s) had untolerated taint {gpu: yes}, 1 node(s) were unschedulable. preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling."
        );
        let tol = pod(
            "p",
            json!({"tolerations":[{"key":"gpu","operator":"Equal","value":"yes","effect":"NoSchedule"}]}),
        );
        assert!(node_fits(&tol, &n));
        let all = pod("p", json!({"tolerations":[{"operator":"Exists"}]}));
        assert!(node_fits(&all, &n));
        let aff = pod(
            "p",
            json!({"tolerations":[{"operator":"Exists"}],"affinity":{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[{"matchFields":[{"key":"metadata.name","operator":"In","values":["other"]}]}]}}}}),
        );
        assert!(!node_fits(&aff, &n));
        let aff2 = pod(
            "p",
            json!({"tolerations":[{"operator":"Exists"}],"affinity":{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[{"matchExpressions":[{"key":"role","operator":"In","values":["gpu"]}]}]}}}}),
        );
        assert!(node_fits(&aff2, &n));
    }

    #[test]
    fn terminating_pods_are_removed_after_grace() {
        let now = t("2024-05-01T10:00:00Z");
        let mut p = pod("p", json!({"nodeName":"n1"}));
        p["status"] = json!({"phase":"Running"});
        p["metadata"]["deletionTimestamp"] = json!("2024-05-01T10:00:30Z");
        let snap = Snapshot::from_objects([("/pods", p.clone())]);
        assert!(crate::controllers::reconcile(&snap, now, &ControllerSet::all()).is_empty());
        let later = t("2024-05-01T10:00:31Z");
        let m = crate::controllers::reconcile(&snap, later, &ControllerSet::all());
        assert_eq!(m, vec![delete_of("/pods", &p)]);
        p["metadata"]["finalizers"] = json!(["x/y"]);
        let snap = Snapshot::from_objects([("/pods", p)]);
        assert!(crate::controllers::reconcile(&snap, later, &ControllerSet::all()).is_empty());
    }

    #[test]
    fn missing_node_stays_pending_and_host_network_uses_node_ip() {
        let now = t("2024-05-01T10:00:00Z");
        let lost = pod(
            "lost",
            json!({"nodeName":"nowhere","containers":[{"name":"c","image":"x"}]}),
        );
        let host = pod(
            "host",
            json!({"nodeName":"n1","hostNetwork":true,"containers":[{"name":"c","image":"x"}]}),
        );
        let mut s = MiniStore::new(vec![
            ("/nodes", node("n1", json!({}))),
            ("/pods", lost),
            ("/pods", host),
        ]);
        s.settle(now, &ControllerSet::all());
        assert!(s.get("/pods", "lost").get("status").is_none());
        let h = s.get("/pods", "host");
        assert_eq!(h["status"]["podIP"], "192.168.0.10");
        assert_eq!(h["status"]["hostIP"], "192.168.0.10");
    }

    #[test]
    fn running_pods_are_left_alone() {
        let mut p = pod("p", json!({"nodeName":"n1"}));
        p["status"] = json!({"phase":"Succeeded","startTime":"2024-05-01T10:00:00Z"});
        let snap = Snapshot::from_objects([("/pods", p), ("/nodes", node("n1", json!({})))]);
        assert!(
            crate::controllers::reconcile(&snap, t("2024-05-01T10:00:00Z"), &ControllerSet::all())
                .is_empty()
        );
    }
}
