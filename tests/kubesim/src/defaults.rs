//! Defaulting of built-in objects (the subset of the apiserver's defaulters that clients and the
//! simulated controllers observe), and status initialisation on create.

use serde_json::{Value, json};

use crate::resources::ResourceDef;

fn set_default(obj: &mut Value, field: &str, v: Value) {
    if let Some(m) = obj.as_object_mut()
        && m.get(field).is_none_or(Value::is_null)
    {
        m.insert(field.into(), v);
    }
}

fn obj_at<'a>(obj: &'a mut Value, field: &str) -> Option<&'a mut Value> {
    let m = obj.as_object_mut()?;
    let v = m.entry(field).or_insert_with(|| json!({}));
    v.is_object().then_some(v)
}

fn default_containers(spec: &mut Value, key: &str) {
    let Some(cs) = spec.get_mut(key).and_then(Value::as_array_mut) else {
        return;
    };
    for c in cs {
        let latest = c.get("image").and_then(Value::as_str).is_some_and(|i| {
            !i.rsplit('/').next().unwrap_or(i).contains(':') || i.ends_with(":latest")
        });
        set_default(
            c,
            "imagePullPolicy",
            json!(if latest { "Always" } else { "IfNotPresent" }),
        );
        set_default(c, "terminationMessagePath", json!("/dev/termination-log"));
        set_default(c, "terminationMessagePolicy", json!("File"));
        set_default(c, "resources", json!({}));
        if let Some(ports) = c.get_mut("ports").and_then(Value::as_array_mut) {
            for p in ports {
                set_default(p, "protocol", json!("TCP"));
            }
        }
    }
}

/// Defaults of a PodSpec.
pub fn pod_spec(spec: &mut Value) {
    if !spec.is_object() {
        return;
    }
    set_default(spec, "restartPolicy", json!("Always"));
    set_default(spec, "terminationGracePeriodSeconds", json!(30));
    set_default(spec, "dnsPolicy", json!("ClusterFirst"));
    set_default(spec, "schedulerName", json!("default-scheduler"));
    set_default(spec, "securityContext", json!({}));
    set_default(spec, "serviceAccountName", json!("default"));
    if let Some(sa) = spec.get("serviceAccountName").cloned() {
        set_default(spec, "serviceAccount", sa);
    }
    set_default(spec, "enableServiceLinks", json!(true));
    default_containers(spec, "containers");
    default_containers(spec, "initContainers");
}

/// `SetDefaults_Pod` (pods only, not templates): a container's requests default to its limits.
fn requests_from_limits(spec: &mut Value) {
    for key in ["containers", "initContainers"] {
        let Some(cs) = spec.get_mut(key).and_then(Value::as_array_mut) else {
            continue;
        };
        for c in cs {
            let Some(limits) = c
                .pointer("/resources/limits")
                .and_then(Value::as_object)
                .cloned()
            else {
                continue;
            };
            if let Some(res) = obj_at(c, "resources")
                && let Some(requests) = obj_at(res, "requests")
                && let Some(r) = requests.as_object_mut()
            {
                for (k, v) in limits {
                    r.entry(k).or_insert(v);
                }
            }
        }
    }
}

fn template_spec(spec: &mut Value) {
    if let Some(t) = spec.get_mut("template")
        && let Some(ps) = obj_at(t, "spec")
    {
        pod_spec(ps);
    }
}

/// The QoS class of a pod spec.
pub fn qos_class(spec: &Value) -> &'static str {
    let cs: Vec<&Value> = ["containers", "initContainers"]
        .iter()
        .filter_map(|k| spec.get(*k).and_then(Value::as_array))
        .flatten()
        .collect();
    let mut any = false;
    let mut guaranteed = !cs.is_empty();
    for c in &cs {
        let req = c.pointer("/resources/requests").and_then(Value::as_object);
        let lim = c.pointer("/resources/limits").and_then(Value::as_object);
        if req.is_some_and(|m| !m.is_empty()) || lim.is_some_and(|m| !m.is_empty()) {
            any = true;
        }
        for r in ["cpu", "memory"] {
            let l = lim.and_then(|m| m.get(r));
            let q = req.and_then(|m| m.get(r)).or(l);
            if l.is_none() || q != l {
                guaranteed = false;
            }
        }
    }
    if !any {
        "BestEffort"
    } else if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

/// Applies the defaults of `def`'s kind to `obj` (create and update).
pub fn apply(def: &ResourceDef, obj: &mut Value, _now: &str) {
    if def.crd.is_some() {
        return;
    }
    let key = def.key();
    match key.as_str() {
        "/pods" => {
            if let Some(spec) = obj_at(obj, "spec") {
                pod_spec(spec);
                requests_from_limits(spec);
            }
            if obj.get("status").is_none_or(|s| s.get("phase").is_none()) {
                let qos = obj.get("spec").map(qos_class).unwrap_or("BestEffort");
                obj["status"] = json!({"phase": "Pending", "qosClass": qos});
            }
        }
        "/namespaces" => {
            if let Some(spec) = obj_at(obj, "spec") {
                set_default(spec, "finalizers", json!(["kubernetes"]));
            }
            if obj.get("status").is_none_or(|s| s.get("phase").is_none()) {
                obj["status"] = json!({"phase": "Active"});
            }
            let name = obj
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            if let Some(md) = obj.get_mut("metadata")
                && let Some(labels) = obj_at(md, "labels")
            {
                set_default(labels, "kubernetes.io/metadata.name", json!(name));
            }
        }
        "/services" => {
            if let Some(spec) = obj_at(obj, "spec") {
                set_default(spec, "type", json!("ClusterIP"));
                set_default(spec, "sessionAffinity", json!("None"));
                if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
                    for p in ports {
                        set_default(p, "protocol", json!("TCP"));
                        if let Some(port) = p.get("port").cloned() {
                            set_default(p, "targetPort", port);
                        }
                    }
                }
            }
            set_default(obj, "status", json!({"loadBalancer": {}}));
        }
        "apps/deployments" => {
            if let Some(spec) = obj_at(obj, "spec") {
                set_default(spec, "replicas", json!(1));
                set_default(spec, "revisionHistoryLimit", json!(10));
                set_default(spec, "progressDeadlineSeconds", json!(600));
                set_default(
                    spec,
                    "strategy",
                    json!({"type":"RollingUpdate","rollingUpdate":{"maxSurge":"25%","maxUnavailable":"25%"}}),
                );
                template_spec(spec);
            }
            set_default(obj, "status", json!({}));
        }
        "apps/replicasets" | "apps/statefulsets" => {
            if let Some(spec) = obj_at(obj, "spec") {
                set_default(spec, "replicas", json!(1));
                if key == "apps/statefulsets" {
                    set_default(spec, "podManagementPolicy", json!("OrderedReady"));
                    set_default(spec, "revisionHistoryLimit", json!(10));
                    set_default(
                        spec,
                        "updateStrategy",
                        json!({"type":"RollingUpdate","rollingUpdate":{"partition":0}}),
                    );
                }
                template_spec(spec);
            }
            set_default(obj, "status", json!({"replicas": 0}));
        }
        "/replicationcontrollers" => {
            // SetDefaults_ReplicationController: selector and labels from the template's labels.
            let tl = obj
                .pointer("/spec/template/metadata/labels")
                .filter(|l| l.as_object().is_some_and(|m| !m.is_empty()))
                .cloned();
            if let Some(tl) = tl {
                if obj
                    .pointer("/spec/selector")
                    .and_then(Value::as_object)
                    .is_none_or(|m| m.is_empty())
                    && let Some(spec) = obj_at(obj, "spec")
                {
                    spec["selector"] = tl.clone();
                }
                if obj
                    .pointer("/metadata/labels")
                    .and_then(Value::as_object)
                    .is_none_or(|m| m.is_empty())
                    && let Some(md) = obj_at(obj, "metadata")
                {
                    md["labels"] = tl;
                }
            }
            if let Some(spec) = obj_at(obj, "spec") {
                set_default(spec, "replicas", json!(1));
                template_spec(spec);
            }
            set_default(obj, "status", json!({"replicas": 0}));
        }
        "apps/daemonsets" => {
            if let Some(spec) = obj_at(obj, "spec") {
                set_default(spec, "revisionHistoryLimit", json!(10));
                set_default(
                    spec,
                    "updateStrategy",
                    json!({"type":"RollingUpdate","rollingUpdate":{"maxSurge":0,"maxUnavailable":1}}),
                );
                template_spec(spec);
            }
            set_default(
                obj,
                "status",
                json!({"currentNumberScheduled":0,"desiredNumberScheduled":0,"numberMisscheduled":0,"numberReady":0}),
            );
        }
        "batch/jobs" => {
            if let Some(spec) = obj_at(obj, "spec") {
                set_default(spec, "parallelism", json!(1));
                set_default(spec, "completions", json!(1));
                set_default(spec, "backoffLimit", json!(6));
                set_default(spec, "completionMode", json!("NonIndexed"));
                set_default(spec, "suspend", json!(false));
                if let Some(t) = spec.get_mut("template")
                    && let Some(ps) = obj_at(t, "spec")
                {
                    set_default(ps, "restartPolicy", json!("Never"));
                    pod_spec(ps);
                }
            }
            set_default(obj, "status", json!({}));
        }
        "batch/cronjobs" => {
            if let Some(spec) = obj_at(obj, "spec") {
                set_default(spec, "suspend", json!(false));
                set_default(spec, "concurrencyPolicy", json!("Allow"));
                set_default(spec, "successfulJobsHistoryLimit", json!(3));
                set_default(spec, "failedJobsHistoryLimit", json!(1));
            }
            set_default(obj, "status", json!({}));
        }
        "/secrets" => {
            set_default(obj, "type", json!("Opaque"));
            merge_string_data(obj);
        }
        "policy/poddisruptionbudgets" => {
            set_default(
                obj,
                "status",
                json!({"currentHealthy":0,"desiredHealthy":0,"disruptionsAllowed":0,"expectedPods":0}),
            );
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::Registry;

    #[test]
    fn pod_defaults_and_qos() {
        let r = Registry::with_builtins();
        let d = r.get("/pods").expect("pods");
        let mut p = json!({"metadata":{"name":"p"},"spec":{"containers":[{"name":"c","image":"nginx:1.27",
            "resources":{"limits":{"cpu":"1","memory":"1Gi"}}}]}});
        apply(&d, &mut p, "");
        assert_eq!(p["spec"]["restartPolicy"], "Always");
        assert_eq!(
            p["spec"]["containers"][0]["imagePullPolicy"],
            "IfNotPresent"
        );
        assert_eq!(p["status"]["phase"], "Pending");
        assert_eq!(p["status"]["qosClass"], "Guaranteed");
        assert_eq!(
            p["spec"]["containers"][0]["resources"]["requests"],
            json!({"cpu": "1", "memory": "1Gi"}),
            "requests default to limits"
        );
        let be = json!({"containers":[{"name":"c","image":"busybox"}]});
        assert_eq!(qos_class(&be), "BestEffort");
    }
}

/// `stringData` is write-only: the apiserver merges it into `data` (base64), its keys
/// winning, and never stores it (`pkg/apis/core/v1/conversion.go`,
/// `Convert_v1_Secret_To_core_Secret`).
fn merge_string_data(obj: &mut Value) {
    use base64::Engine as _;
    let Some(map) = obj.as_object_mut() else {
        return;
    };
    let Some(string_data) = map.remove("stringData") else {
        return;
    };
    let Some(entries) = string_data.as_object() else {
        return;
    };
    if entries.is_empty() {
        return;
    }
    let data = map.entry("data").or_insert_with(|| json!({}));
    if !data.is_object() {
        *data = json!({});
    }
    if let Some(d) = data.as_object_mut() {
        for (k, v) in entries {
            let text = v.as_str().unwrap_or_default();
            d.insert(
                k.clone(),
                json!(base64::engine::general_purpose::STANDARD.encode(text.as_bytes())),
            );
        }
    }
}

#[cfg(test)]
mod string_data_tests {
    use super::*;

    #[test]
    fn string_data_is_merged_into_data_and_not_stored() {
        let mut s =
            json!({"data": {"a": "eA==", "b": "eQ=="}, "stringData": {"b": "new", "c": "z"}});
        merge_string_data(&mut s);
        assert_eq!(s, json!({"data": {"a": "eA==", "b": "bmV3", "c": "eg=="}}));
        let mut only = json!({"stringData": {"k": "v"}});
        merge_string_data(&mut only);
        assert_eq!(only, json!({"data": {"k": "dg=="}}));
    }
}
