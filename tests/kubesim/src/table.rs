//! Server-side printing: `meta.k8s.io/v1` Table responses, built like kube-apiserver builds them.
//!
//! * Built-in resources use the columns and cell logic of the apiserver's printers
//!   (`pkg/printers/internalversion/printers.go`), always generated "wide" (the server sends every
//!   column; kubectl hides `priority: 1` columns unless `-o wide`).
//! * Resources without a printer (here: `apiextensions.k8s.io/customresourcedefinitions` and any
//!   unknown built-in) use the default table convertor: `Name` + `Created At` (RFC 3339).
//! * Custom resources use their `additionalPrinterColumns` through the JSONPath subset of
//!   [`crate::jsonpath`], like `apiextensions-apiserver/pkg/registry/customresource/tableconvertor`:
//!   `Name` first, then the columns; a CRD version without columns gets the default
//!   `Age` column (`type: date`, `.metadata.creationTimestamp`). Cells: a missing value is `null`
//!   (kubectl prints `<none>`); `integer`/`number`/`boolean` cells keep their JSON type (or `null`
//!   on a type mismatch); `string` cells print the value as text; `date` cells are rendered by the
//!   server as a relative age (`HumanDuration(now - t)`, `<invalid>` if unparsable).
//! * Row objects: `includeObject=Metadata` (the default) gives a `PartialObjectMetadata`,
//!   `Object` the full object, `None` a `null` object.
//!
//! Ages use `k8s.io/apimachinery/pkg/util/duration.HumanDuration` ([`human_duration`]).

use std::borrow::Borrow;

use jiff::{SignedDuration, Timestamp};
use serde_json::{Map, Value, json};

use crate::jsonpath::{JsonPath, value_to_text};
use crate::selector::{format_labels, label_selector_from_object};

/// A table column; `json_path` is set for CRD columns (and `None` for built-in printers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    pub type_: String,
    pub format: String,
    pub description: String,
    pub priority: i64,
    pub json_path: Option<String>,
}

const NAME_DESC: &str = "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";
const CREATED_DESC: &str = "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";

fn col(name: &str, type_: &str, priority: i64, description: &str) -> Column {
    Column {
        name: name.to_string(),
        type_: type_.to_string(),
        format: if name == "Name" {
            "name".to_string()
        } else {
            String::new()
        },
        description: description.to_string(),
        priority,
        json_path: None,
    }
}

fn name_col() -> Column {
    col("Name", "string", 0, NAME_DESC)
}
fn age_col() -> Column {
    col("Age", "string", 0, CREATED_DESC)
}
fn s(name: &str, desc: &str) -> Column {
    col(name, "string", 0, desc)
}
fn i(name: &str, desc: &str) -> Column {
    col(name, "integer", 0, desc)
}
fn wide(name: &str, desc: &str) -> Column {
    col(name, "string", 1, desc)
}
fn template_cols() -> [Column; 2] {
    [
        wide("Containers", "Names of each container in the template."),
        wide(
            "Images",
            "Images referenced by each container in the template.",
        ),
    ]
}

/// The columns kube-apiserver's printer defines for a built-in resource key ("GROUP/PLURAL").
pub fn builtin_columns(resource_key: &str) -> Vec<Column> {
    let mut c = vec![name_col()];
    match resource_key {
        "/pods" => c.extend([
            s("Ready", "The aggregate readiness state of this pod for accepting traffic."),
            s("Status", "The aggregate status of the containers in this pod."),
            s("Restarts", "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted."),
            age_col(),
            wide("IP", "IP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated."),
            wide("Node", "NodeName indicates in which node this pod is scheduled."),
            wide("Nominated Node", "nominatedNodeName is set only when this pod preempts other pods on the node, but it cannot be scheduled right away as preemption victims receive their graceful termination periods."),
            wide("Readiness Gates", "If specified, all readiness gates will be evaluated for pod readiness. A pod is ready when all its containers are ready AND all conditions specified in the readiness gates have status equal to \"True\""),
        ]),
        "apps/deployments" => {
            c.extend([
                s("Ready", "Number of the pod with ready state"),
                s("Up-to-date", "Total number of non-terminated pods targeted by this deployment that have the desired template spec."),
                s("Available", "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment."),
                age_col(),
            ]);
            c.extend(template_cols());
            c.push(wide("Selector", "Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones affected by this deployment."));
        }
        "apps/replicasets" => {
            c.extend([
                i("Desired", "Replicas is the number of desired pods."),
                i("Current", "Replicas is the most recently observed number of replicas."),
                i("Ready", "The number of ready replicas for this replica set."),
                age_col(),
            ]);
            c.extend(template_cols());
            c.push(wide("Selector", "Selector is a label query over pods that should match the replica count."));
        }
        "/replicationcontrollers" => {
            c.extend([
                i("Desired", "Replicas is the number of desired replicas. This is a pointer to distinguish between explicit zero and unspecified. Defaults to 1. More info: https://kubernetes.io/docs/concepts/workloads/controllers/replicationcontroller#what-is-a-replicationcontroller"),
                i("Current", "Replicas is the most recently observed number of replicas. More info: https://kubernetes.io/docs/concepts/workloads/controllers/replicationcontroller#what-is-a-replicationcontroller"),
                i("Ready", "The number of ready replicas for this replication controller."),
                age_col(),
            ]);
            c.extend(template_cols());
            c.push(wide("Selector", "Selector is a label query over pods that should match the Replicas count. If Selector is empty, it is defaulted to the labels present on the Pod template. Label keys and values that must match in order to be controlled by this replication controller, if empty defaulted to labels on Pod template. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors"));
        }
        "apps/statefulsets" => {
            c.extend([s("Ready", "Number of the pod with ready state"), age_col()]);
            c.extend(template_cols());
        }
        "apps/daemonsets" => {
            c.extend([
                i("Desired", "The total number of nodes that should be running the daemon pod (including nodes correctly running the daemon pod)."),
                i("Current", "The number of nodes that are running at least 1 daemon pod and are supposed to run the daemon pod."),
                i("Ready", "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and ready."),
                i("Up-to-date", "The total number of nodes that are running updated daemon pod"),
                i("Available", "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and available (ready for at least spec.minReadySeconds)"),
                s("Node Selector", "NodeSelector is a selector which must be true for the pod to fit on a node. Selector which must match a node's labels for the pod to be scheduled on that node."),
                age_col(),
            ]);
            c.extend(template_cols());
            c.push(wide("Selector", "A label query over pods that are managed by the daemon set."));
        }
        "batch/jobs" => {
            c.extend([
                s("Status", "Status of the job."),
                s("Completions", "The desired number of successfully finished pods the job should be run with."),
                s("Duration", "Time required to complete the job."),
                age_col(),
            ]);
            c.extend(template_cols());
            c.push(wide("Selector", "A label query over pods that should match the pod count."));
        }
        "batch/cronjobs" => {
            c.extend([
                s("Schedule", "The schedule in Cron format, see https://en.wikipedia.org/wiki/Cron."),
                s("Timezone", "The time zone name for the given schedule, see https://en.wikipedia.org/wiki/List_of_tz_database_time_zones."),
                col("Suspend", "boolean", 0, "This flag tells the controller to suspend subsequent executions, it does not apply to already started executions."),
                i("Active", "A list of pointers to currently running jobs."),
                s("Last Schedule", "Information when was the last time the job was successfully scheduled."),
                age_col(),
            ]);
            c.extend(template_cols());
            c.push(wide("Selector", "A label query over pods that should match the pod count."));
        }
        "/namespaces" => c.extend([s("Status", "The status of the namespace"), age_col()]),
        "/nodes" => c.extend([
            s("Status", "The status of the node"),
            s("Roles", "The roles of the node"),
            age_col(),
            s("Version", "Kubelet Version reported by the node."),
            wide("Internal-IP", "List of addresses reachable to the node. Queried from cloud provider, if available."),
            wide("External-IP", "List of addresses reachable to the node. Queried from cloud provider, if available."),
            wide("OS-Image", "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy))."),
            wide("Kernel-Version", "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64)."),
            wide("Container-Runtime", "ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2)."),
        ]),
        "/services" => c.extend([
            s("Type", "type determines how the Service is exposed. Defaults to ClusterIP."),
            s("Cluster-IP", "clusterIP is the IP address of the service and is usually assigned randomly."),
            s("External-IP", "externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service."),
            s("Port(s)", "The list of ports that are exposed by this service."),
            age_col(),
            wide("Selector", "Route service traffic to pods with label keys and values matching this selector."),
        ]),
        "/serviceaccounts" => c.extend([
            i("Secrets", "Secrets is a list of the secrets in the same namespace that pods running using this ServiceAccount are allowed to use."),
            age_col(),
        ]),
        "/secrets" => c.extend([
            s("Type", "The type of the secret"),
            i("Data", "The number of entries in the data"),
            age_col(),
        ]),
        "/configmaps" => c.extend([i("Data", "The number of entries in the data"), age_col()]),
        "/events" | "events.k8s.io/events" => {
            c = vec![
                s("Last Seen", "The time at which the most recent occurrence of this event was recorded."),
                s("Type", "Type of this event (Normal, Warning), new types could be added in the future"),
                s("Reason", "This should be a short, machine understandable string that gives the reason for the transition into the object's current status."),
                s("Object", "The object that this event is about."),
                wide("Subobject", "If referring to a piece of an object instead of an entire object, this string should contain a valid JSON/Go-field access statement."),
                wide("Source", "The component reporting this event. Should be a short machine understandable string."),
                s("Message", "A human-readable description of the status of this operation."),
                wide("First Seen", "The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)"),
                wide("Count", "The number of times this event has occurred."),
                Column {
                    format: "name".to_string(),
                    ..wide("Name", NAME_DESC)
                },
            ];
        }
        "networking.k8s.io/networkpolicies" => c.extend([
            s("Pod-Selector", "Selects the pods to which this NetworkPolicy object applies."),
            age_col(),
        ]),
        "/resourcequotas" => c.extend([
            age_col(),
            s("Request", "Request represents a minimum amount of cpu/memory that a container may consume."),
            s("Limit", "Limits control the maximum amount of cpu/memory that a container may use independent of contention on the node."),
        ]),
        "policy/poddisruptionbudgets" => c.extend([
            s("Min Available", "The minimum number of pods that must be available simultaneously.  This can be either an integer or a string specifying a percentage, e.g. \"28%\"."),
            s("Max Unavailable", "The maximum number of pods that may be unavailable simultaneously.  This can be either an integer or a string specifying a percentage, e.g. \"28%\"."),
            i("Allowed Disruptions", "Calculated number of pods that may be disrupted at this time."),
            age_col(),
        ]),
        "rbac.authorization.k8s.io/roles" | "rbac.authorization.k8s.io/clusterroles" => {
            c.push(col("Created At", "date", 0, CREATED_DESC));
        }
        "rbac.authorization.k8s.io/rolebindings" | "rbac.authorization.k8s.io/clusterrolebindings" => {
            c.extend([
                s("Role", "Role references a role in the current namespace or a cluster role."),
                age_col(),
                wide("Users", "Users in the binding"),
                wide("Groups", "Groups in the binding"),
                wide("ServiceAccounts", "ServiceAccounts in the binding"),
            ]);
        }
        "coordination.k8s.io/leases" => c.extend([
            s("Holder", "holderIdentity contains the identity of the holder of a current lease."),
            age_col(),
        ]),
        _ => c.push(col("Created At", "date", 0, CREATED_DESC)),
    }
    c
}

/// Columns of a custom resource version (`spec.versions[]` entry of a CRD): `Name`, then its
/// `additionalPrinterColumns`, or `Age` when it has none.
pub fn crd_columns(crd_version: &Value) -> Vec<Column> {
    let mut cols = vec![Column {
        json_path: Some(".metadata.name".to_string()),
        ..name_col()
    }];
    let defs = crd_version
        .get("additionalPrinterColumns")
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty());
    let Some(defs) = defs else {
        cols.push(Column {
            name: "Age".to_string(),
            type_: "date".to_string(),
            format: String::new(),
            description: CREATED_DESC.to_string(),
            priority: 0,
            json_path: Some(".metadata.creationTimestamp".to_string()),
        });
        return cols;
    };
    for d in defs {
        let json_path = d
            .get("jsonPath")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let description = d
            .get("description")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .unwrap_or_else(|| {
                format!("Custom resource definition column (in JSONPath format): {json_path}")
            });
        cols.push(Column {
            name: d
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            type_: d
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or("string")
                .to_string(),
            format: d
                .get("format")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            description,
            priority: d.get("priority").and_then(Value::as_i64).unwrap_or(0),
            json_path: Some(json_path.to_string()),
        });
    }
    cols
}

/// `duration.HumanDuration` from k8s.io/apimachinery.
pub fn human_duration(d: SignedDuration) -> String {
    let seconds = d.as_secs();
    if seconds < -1 {
        return "<invalid>".to_string();
    } else if seconds < 0 {
        return "0s".to_string();
    } else if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        let s = seconds % 60;
        if s == 0 {
            return format!("{minutes}m");
        }
        return format!("{minutes}m{s}s");
    } else if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = seconds / 3600;
    if hours < 8 {
        let m = minutes % 60;
        if m == 0 {
            return format!("{hours}h");
        }
        return format!("{hours}h{m}m");
    } else if hours < 48 {
        return format!("{hours}h");
    } else if hours < 24 * 8 {
        let h = hours % 24;
        if h == 0 {
            return format!("{}d", hours / 24);
        }
        return format!("{}d{h}h", hours / 24);
    } else if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    } else if hours < 24 * 365 * 8 {
        let dy = (hours / 24) % 365;
        if dy == 0 {
            return format!("{}y", hours / 24 / 365);
        }
        return format!("{}y{dy}d", hours / 24 / 365);
    }
    format!("{}y", hours / 24 / 365)
}

fn parse_ts(v: Option<&Value>) -> Option<Timestamp> {
    v.and_then(Value::as_str).and_then(|s| s.parse().ok())
}

/// `translateTimestampSince`: `<unknown>` for a missing time.
fn since(v: Option<&Value>, now: Timestamp) -> String {
    match parse_ts(v) {
        Some(t) => human_duration(now.duration_since(t)),
        None => "<unknown>".to_string(),
    }
}

fn created_at(obj: &Value) -> String {
    parse_ts(ptr(obj, "/metadata/creationTimestamp"))
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|| "0001-01-01T00:00:00Z".to_string())
}

/// `Value::pointer` without its per-segment allocations (no `~0`/`~1` escapes needed here).
fn ptr<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('/').skip(1).try_fold(v, |cur, seg| match cur {
        Value::Object(m) => m.get(seg),
        Value::Array(a) => seg.parse::<usize>().ok().and_then(|i| a.get(i)),
        _ => None,
    })
}

fn sv<'a>(obj: &'a Value, path: &str) -> &'a str {
    ptr(obj, path).and_then(Value::as_str).unwrap_or_default()
}

fn iv(obj: &Value, path: &str) -> i64 {
    ptr(obj, path).and_then(Value::as_i64).unwrap_or(0)
}

fn arr<'a>(obj: &'a Value, path: &str) -> &'a [Value] {
    ptr(obj, path)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

fn or_none(s: &str) -> String {
    if s.is_empty() {
        "<none>".to_string()
    } else {
        s.to_string()
    }
}

fn name_of(obj: &Value) -> String {
    sv(obj, "/metadata/name").to_string()
}

fn containers_images(obj: &Value, spec_ptr: &str) -> [Value; 2] {
    let cs = arr(obj, &format!("{spec_ptr}/containers"));
    let names: Vec<&str> = cs
        .iter()
        .map(|c| c.get("name").and_then(Value::as_str).unwrap_or_default())
        .collect();
    let images: Vec<&str> = cs
        .iter()
        .map(|c| c.get("image").and_then(Value::as_str).unwrap_or_default())
        .collect();
    [json!(names.join(",")), json!(images.join(","))]
}

/// `selector.String()` of `metav1.LabelSelectorAsSelector`.
fn selector_string(sel: Option<&Value>) -> String {
    match sel {
        None | Some(Value::Null) => String::new(),
        Some(s) => label_selector_from_object(s)
            .map(|l| l.to_string())
            .unwrap_or_else(|_| "<error>".to_string()),
    }
}

/// `metav1.FormatLabelSelector`.
fn format_label_selector(sel: Option<&Value>) -> String {
    or_none(&selector_string(sel))
}

fn int_or_string(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => "N/A".to_string(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

fn has_condition(obj: &Value, type_: &str) -> bool {
    arr(obj, "/status/conditions").iter().any(|c| {
        c.get("type").and_then(Value::as_str) == Some(type_)
            && c.get("status").and_then(Value::as_str) == Some("True")
    })
}

fn pod_cells(pod: &Value, now: Timestamp) -> (Vec<Value>, Option<Value>) {
    let phase = sv(pod, "/status/phase");
    let mut reason = phase.to_string();
    if !sv(pod, "/status/reason").is_empty() {
        reason = sv(pod, "/status/reason").to_string();
    }
    for c in arr(pod, "/status/conditions") {
        if c.get("type").and_then(Value::as_str) == Some("PodScheduled")
            && c.get("reason").and_then(Value::as_str) == Some("SchedulingGated")
        {
            reason = "SchedulingGated".to_string();
        }
    }
    let conditions = match phase {
        "Succeeded" => Some(
            json!([{"type": "Completed", "status": "True", "reason": "Succeeded", "message": "The pod has completed successfully."}]),
        ),
        "Failed" => Some(
            json!([{"type": "Completed", "status": "True", "reason": "Failed", "message": "The pod failed."}]),
        ),
        _ => None,
    };
    let init_specs = arr(pod, "/spec/initContainers");
    let restartable = |name: &str| {
        init_specs.iter().any(|c| {
            c.get("name").and_then(Value::as_str) == Some(name)
                && c.get("restartPolicy").and_then(Value::as_str) == Some("Always")
        })
    };
    let mut total = arr(pod, "/spec/containers").len()
        + init_specs
            .iter()
            .filter(|c| c.get("restartPolicy").and_then(Value::as_str) == Some("Always"))
            .count();
    if total == 0 {
        total = arr(pod, "/status/containerStatuses").len();
    }
    let mut ready = 0;
    let mut restarts = 0;
    let mut restartable_restarts = 0;
    let mut last_restart: Option<Timestamp> = None;
    let mut last_restartable_restart: Option<Timestamp> = None;
    let finished = |c: &Value| parse_ts(ptr(c, "/lastState/terminated/finishedAt"));
    let later = |a: Option<Timestamp>, b: Option<Timestamp>| match (a, b) {
        (Some(x), Some(y)) => Some(x.max(y)),
        (x, y) => x.or(y),
    };
    let mut initializing = false;
    let init_statuses = arr(pod, "/status/initContainerStatuses");
    for (idx, c) in init_statuses.iter().enumerate() {
        let rc = c.get("restartCount").and_then(Value::as_i64).unwrap_or(0);
        restarts += rc;
        last_restart = later(last_restart, finished(c));
        let name = c.get("name").and_then(Value::as_str).unwrap_or_default();
        if restartable(name) {
            restartable_restarts += rc;
            last_restartable_restart = later(last_restartable_restart, finished(c));
        }
        let term = ptr(c, "/state/terminated");
        let exit = term
            .and_then(|t| t.get("exitCode"))
            .and_then(Value::as_i64)
            .unwrap_or(0);
        let waiting_reason = sv(c, "/state/waiting/reason");
        if term.is_some() && exit == 0 {
            continue;
        }
        if restartable(name) && c.get("started").and_then(Value::as_bool) == Some(true) {
            if c.get("ready").and_then(Value::as_bool) == Some(true) {
                ready += 1;
            }
            continue;
        }
        if let Some(t) = term {
            let treason = t.get("reason").and_then(Value::as_str).unwrap_or_default();
            let signal = t.get("signal").and_then(Value::as_i64).unwrap_or(0);
            reason = if !treason.is_empty() {
                format!("Init:{treason}")
            } else if signal != 0 {
                format!("Init:Signal:{signal}")
            } else {
                format!("Init:ExitCode:{exit}")
            };
        } else if !waiting_reason.is_empty() && waiting_reason != "PodInitializing" {
            reason = format!("Init:{waiting_reason}");
        } else {
            reason = format!("Init:{idx}/{}", init_specs.len());
        }
        initializing = true;
        break;
    }
    let initialized = arr(pod, "/status/conditions").iter().any(|c| {
        c.get("type").and_then(Value::as_str) == Some("Initialized")
            && c.get("status").and_then(Value::as_str) == Some("True")
    });
    if !initializing || initialized {
        restarts = restartable_restarts;
        last_restart = last_restartable_restart;
        let mut has_running = false;
        for c in arr(pod, "/status/containerStatuses").iter().rev() {
            restarts += c.get("restartCount").and_then(Value::as_i64).unwrap_or(0);
            last_restart = later(last_restart, finished(c));
            let waiting = sv(c, "/state/waiting/reason");
            let term = ptr(c, "/state/terminated");
            if !waiting.is_empty() {
                reason = waiting.to_string();
            } else if let Some(t) = term {
                let treason = t.get("reason").and_then(Value::as_str).unwrap_or_default();
                let signal = t.get("signal").and_then(Value::as_i64).unwrap_or(0);
                let exit = t.get("exitCode").and_then(Value::as_i64).unwrap_or(0);
                reason = if !treason.is_empty() {
                    treason.to_string()
                } else if signal != 0 {
                    format!("Signal:{signal}")
                } else {
                    format!("ExitCode:{exit}")
                };
            } else if c.get("ready").and_then(Value::as_bool) == Some(true)
                && ptr(c, "/state/running").is_some()
            {
                has_running = true;
                ready += 1;
            }
        }
        if reason == "Completed" && has_running {
            reason = if has_condition(pod, "Ready") {
                "Running".to_string()
            } else {
                "NotReady".to_string()
            };
        }
    }
    let deleting = pod
        .pointer("/metadata/deletionTimestamp")
        .is_some_and(|v| !v.is_null());
    if deleting && sv(pod, "/status/reason") == "NodeLost" {
        reason = "Unknown".to_string();
    } else if deleting && phase != "Succeeded" && phase != "Failed" {
        reason = "Terminating".to_string();
    }
    let restarts_str = match last_restart {
        Some(t) if restarts != 0 => {
            format!("{restarts} ({} ago)", human_duration(now.duration_since(t)))
        }
        _ => restarts.to_string(),
    };
    let mut ip = sv(pod, "/status/podIPs/0/ip");
    if ip.is_empty() {
        ip = sv(pod, "/status/podIP");
    }
    let gates = arr(pod, "/spec/readinessGates");
    let gates_str = if gates.is_empty() {
        "<none>".to_string()
    } else {
        let conds = arr(pod, "/status/conditions");
        let true_count = gates
            .iter()
            .filter(|g| {
                let t = g.get("conditionType");
                conds
                    .iter()
                    .find(|c| c.get("type") == t)
                    .is_some_and(|c| c.get("status").and_then(Value::as_str) == Some("True"))
            })
            .count();
        format!("{true_count}/{}", gates.len())
    };
    (
        vec![
            json!(name_of(pod)),
            json!(format!("{ready}/{total}")),
            json!(reason),
            json!(restarts_str),
            json!(since(ptr(pod, "/metadata/creationTimestamp"), now)),
            json!(or_none(ip)),
            json!(or_none(sv(pod, "/spec/nodeName"))),
            json!(or_none(sv(pod, "/status/nominatedNodeName"))),
            json!(gates_str),
        ],
        conditions,
    )
}

fn node_cells(node: &Value, age: String) -> Vec<Value> {
    let mut status: Vec<String> = Vec::new();
    if let Some(c) = arr(node, "/status/conditions")
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some("Ready"))
    {
        if c.get("status").and_then(Value::as_str) == Some("True") {
            status.push("Ready".into());
        } else {
            status.push("NotReady".into());
        }
    }
    if status.is_empty() {
        status.push("Unknown".into());
    }
    if ptr(node, "/spec/unschedulable").and_then(Value::as_bool) == Some(true) {
        status.push("SchedulingDisabled".into());
    }
    let mut roles: Vec<String> = Vec::new();
    if let Some(labels) = ptr(node, "/metadata/labels").and_then(Value::as_object) {
        for (k, v) in labels {
            if let Some(role) = k.strip_prefix("node-role.kubernetes.io/") {
                if !role.is_empty() {
                    roles.push(role.to_string());
                }
            } else if k == "kubernetes.io/role"
                && let Some(r) = v.as_str().filter(|r| !r.is_empty())
            {
                roles.push(r.to_string());
            }
        }
    }
    roles.sort();
    roles.dedup();
    let addr = |t: &str| {
        arr(node, "/status/addresses")
            .iter()
            .find(|a| a.get("type").and_then(Value::as_str) == Some(t))
            .and_then(|a| a.get("address").and_then(Value::as_str))
            .unwrap_or("<none>")
            .to_string()
    };
    let unknown = |p: &str| {
        let v = sv(node, p);
        if v.is_empty() { "<unknown>" } else { v }.to_string()
    };
    vec![
        json!(name_of(node)),
        json!(status.join(",")),
        json!(or_none(&roles.join(","))),
        json!(age),
        json!(sv(node, "/status/nodeInfo/kubeletVersion")),
        json!(addr("InternalIP")),
        json!(addr("ExternalIP")),
        json!(unknown("/status/nodeInfo/osImage")),
        json!(unknown("/status/nodeInfo/kernelVersion")),
        json!(unknown("/status/nodeInfo/containerRuntimeVersion")),
    ]
}

fn service_cells(svc: &Value, age: String) -> Vec<Value> {
    let type_ = match sv(svc, "/spec/type") {
        "" => "ClusterIP",
        t => t,
    };
    let mut cluster_ip = sv(svc, "/spec/clusterIPs/0");
    if cluster_ip.is_empty() {
        cluster_ip = sv(svc, "/spec/clusterIP");
    }
    let external_ips: Vec<&str> = arr(svc, "/spec/externalIPs")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let external = match type_ {
        "ClusterIP" | "NodePort" => {
            if external_ips.is_empty() {
                "<none>".to_string()
            } else {
                external_ips.join(",")
            }
        }
        "LoadBalancer" => {
            let mut ips: Vec<String> = arr(svc, "/status/loadBalancer/ingress")
                .iter()
                .filter_map(|i| {
                    i.get("ip")
                        .or_else(|| i.get("hostname"))
                        .and_then(Value::as_str)
                        .map(str::to_string)
                })
                .collect();
            ips.extend(external_ips.iter().map(|s| s.to_string()));
            if ips.is_empty() {
                "<pending>".to_string()
            } else {
                ips.join(",")
            }
        }
        "ExternalName" => sv(svc, "/spec/externalName").to_string(),
        _ => "<unknown>".to_string(),
    };
    let ports: Vec<String> = arr(svc, "/spec/ports")
        .iter()
        .map(|p| {
            let port = p.get("port").and_then(Value::as_i64).unwrap_or(0);
            let proto = p.get("protocol").and_then(Value::as_str).unwrap_or("TCP");
            match p.get("nodePort").and_then(Value::as_i64) {
                Some(np) if np != 0 => format!("{port}:{np}/{proto}"),
                _ => format!("{port}/{proto}"),
            }
        })
        .collect();
    vec![
        json!(name_of(svc)),
        json!(type_),
        json!(or_none(cluster_ip)),
        json!(external),
        json!(or_none(&ports.join(","))),
        json!(age),
        json!(format_labels(
            ptr(svc, "/spec/selector").and_then(Value::as_object)
        )),
    ]
}

fn event_cells(ev: &Value, now: Timestamp) -> Vec<Value> {
    let new_api = ev.get("apiVersion").and_then(Value::as_str) == Some("events.k8s.io/v1");
    let (regarding, note, first_ptr, last_ptr, count_ptr, source) = if new_api {
        (
            "/regarding",
            "/note",
            "/deprecatedFirstTimestamp",
            "/deprecatedLastTimestamp",
            "/deprecatedCount",
            "/deprecatedSource",
        )
    } else {
        (
            "/involvedObject",
            "/message",
            "/firstTimestamp",
            "/lastTimestamp",
            "/count",
            "/source",
        )
    };
    let first_ts = ptr(ev, first_ptr).filter(|v| !v.is_null());
    let first = match first_ts {
        Some(v) => since(Some(v), now),
        None => since(ptr(ev, "/eventTime"), now),
    };
    let mut last = match ptr(ev, last_ptr).filter(|v| !v.is_null()) {
        Some(v) => since(Some(v), now),
        None => first.clone(),
    };
    let mut count = iv(ev, count_ptr);
    if ev.get("series").is_some_and(|s| !s.is_null()) {
        last = since(ptr(ev, "/series/lastObservedTime"), now);
        count = iv(ev, "/series/count");
    } else if count == 0 {
        count = 1;
    }
    let kind = sv(ev, &format!("{regarding}/kind")).to_lowercase();
    let name = sv(ev, &format!("{regarding}/name"));
    let target = if name.is_empty() {
        kind
    } else {
        format!("{kind}/{name}")
    };
    let first_non_empty = |a: &str, b: &str| {
        if a.is_empty() {
            b.to_string()
        } else {
            a.to_string()
        }
    };
    let component = first_non_empty(
        sv(ev, &format!("{source}/component")),
        &first_non_empty(
            sv(ev, "/reportingController"),
            sv(ev, "/reportingComponent"),
        ),
    );
    let instance = first_non_empty(
        sv(ev, &format!("{source}/host")),
        sv(ev, "/reportingInstance"),
    );
    let source_str = if instance.is_empty() {
        component
    } else {
        format!("{component}, {instance}")
    };
    vec![
        json!(last),
        json!(sv(ev, "/type")),
        json!(sv(ev, "/reason")),
        json!(target),
        json!(sv(ev, &format!("{regarding}/fieldPath"))),
        json!(source_str),
        json!(sv(ev, note).trim()),
        json!(first),
        json!(count),
        json!(name_of(ev)),
    ]
}

fn quota_cells(q: &Value, age: String) -> Vec<Value> {
    let hard = ptr(q, "/status/hard").and_then(Value::as_object);
    let used = ptr(q, "/status/used").and_then(Value::as_object);
    let mut request = Vec::new();
    let mut limit = Vec::new();
    for (res, h) in hard.into_iter().flatten() {
        let u = used
            .and_then(|u| u.get(res))
            .map(value_to_text)
            .unwrap_or_else(|| "0".to_string());
        let entry = format!("{res}: {u}/{}", value_to_text(h));
        if res.starts_with("limits.") {
            limit.push(entry);
        } else {
            request.push(entry);
        }
    }
    vec![
        json!(name_of(q)),
        json!(age),
        json!(request.join(", ")),
        json!(limit.join(", ")),
    ]
}

fn binding_cells(b: &Value, age: String) -> Vec<Value> {
    let mut users = Vec::new();
    let mut groups = Vec::new();
    let mut sas = Vec::new();
    for s in arr(b, "/subjects") {
        let name = s.get("name").and_then(Value::as_str).unwrap_or_default();
        match s.get("kind").and_then(Value::as_str) {
            Some("User") => users.push(name.to_string()),
            Some("Group") => groups.push(name.to_string()),
            Some("ServiceAccount") => sas.push(format!(
                "{}/{name}",
                s.get("namespace")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
            )),
            _ => {}
        }
    }
    vec![
        json!(name_of(b)),
        json!(format!(
            "{}/{}",
            sv(b, "/roleRef/kind"),
            sv(b, "/roleRef/name")
        )),
        json!(age),
        json!(users.join(", ")),
        json!(groups.join(", ")),
        json!(sas.join(", ")),
    ]
}

fn job_cells(job: &Value, now: Timestamp, age: String) -> Vec<Value> {
    let deleting = job
        .pointer("/metadata/deletionTimestamp")
        .is_some_and(|v| !v.is_null());
    let status = if has_condition(job, "Complete") {
        "Complete"
    } else if has_condition(job, "Failed") {
        "Failed"
    } else if deleting {
        "Terminating"
    } else if has_condition(job, "Suspended") {
        "Suspended"
    } else if has_condition(job, "FailureTarget") {
        "FailureTarget"
    } else if has_condition(job, "SuccessCriteriaMet") {
        "SuccessCriteriaMet"
    } else {
        "Running"
    };
    let succeeded = iv(job, "/status/succeeded");
    let completions = match (
        ptr(job, "/spec/completions").and_then(Value::as_i64),
        ptr(job, "/spec/parallelism").and_then(Value::as_i64),
    ) {
        (Some(c), _) => format!("{succeeded}/{c}"),
        (None, Some(p)) if p > 1 => format!("{succeeded}/1 of {p}"),
        _ => format!("{succeeded}/1"),
    };
    let start = parse_ts(ptr(job, "/status/startTime"));
    let done = parse_ts(ptr(job, "/status/completionTime"));
    let duration = match (start, done) {
        (None, _) => String::new(),
        (Some(s), None) => human_duration(now.duration_since(s)),
        (Some(s), Some(d)) => human_duration(d.duration_since(s)),
    };
    let [c, i] = containers_images(job, "/spec/template/spec");
    vec![
        json!(name_of(job)),
        json!(status),
        json!(completions),
        json!(duration),
        json!(age),
        c,
        i,
        json!(format_label_selector(ptr(job, "/spec/selector"))),
    ]
}

fn bool_ptr(v: Option<&Value>) -> &'static str {
    match v.and_then(Value::as_bool) {
        Some(true) => "True",
        Some(false) => "False",
        None => "<unset>",
    }
}

/// Cells of one row for a built-in resource (all columns of [`builtin_columns`]), plus the row
/// conditions the printer sets (pods that completed).
pub fn builtin_cells(
    resource_key: &str,
    obj: &Value,
    now: Timestamp,
) -> (Vec<Value>, Option<Value>) {
    if resource_key == "/pods" {
        return pod_cells(obj, now);
    }
    let age = since(ptr(obj, "/metadata/creationTimestamp"), now);
    let name = json!(name_of(obj));
    let cells = match resource_key {
        "apps/deployments" => {
            let desired = obj
                .pointer("/spec/replicas")
                .and_then(Value::as_i64)
                .unwrap_or(1);
            let [c, i] = containers_images(obj, "/spec/template/spec");
            vec![
                name,
                json!(format!("{}/{desired}", iv(obj, "/status/readyReplicas"))),
                json!(iv(obj, "/status/updatedReplicas")),
                json!(iv(obj, "/status/availableReplicas")),
                json!(age),
                c,
                i,
                json!(selector_string(ptr(obj, "/spec/selector"))),
            ]
        }
        "apps/replicasets" => {
            let [c, i] = containers_images(obj, "/spec/template/spec");
            vec![
                name,
                json!(
                    ptr(obj, "/spec/replicas")
                        .and_then(Value::as_i64)
                        .unwrap_or(1)
                ),
                json!(iv(obj, "/status/replicas")),
                json!(iv(obj, "/status/readyReplicas")),
                json!(age),
                c,
                i,
                json!(selector_string(ptr(obj, "/spec/selector"))),
            ]
        }
        "/replicationcontrollers" => {
            let [c, i] = containers_images(obj, "/spec/template/spec");
            // labels.FormatLabels of the plain-map selector.
            let selector = match ptr(obj, "/spec/selector").and_then(Value::as_object) {
                Some(m) if !m.is_empty() => m
                    .iter()
                    .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                    .collect::<Vec<_>>()
                    .join(","),
                _ => "<none>".to_string(),
            };
            vec![
                name,
                json!(
                    ptr(obj, "/spec/replicas")
                        .and_then(Value::as_i64)
                        .unwrap_or(1)
                ),
                json!(iv(obj, "/status/replicas")),
                json!(iv(obj, "/status/readyReplicas")),
                json!(age),
                c,
                i,
                json!(selector),
            ]
        }
        "apps/statefulsets" => {
            let desired = obj
                .pointer("/spec/replicas")
                .and_then(Value::as_i64)
                .unwrap_or(1);
            let [c, i] = containers_images(obj, "/spec/template/spec");
            vec![
                name,
                json!(format!("{}/{desired}", iv(obj, "/status/readyReplicas"))),
                json!(age),
                c,
                i,
            ]
        }
        "apps/daemonsets" => {
            let [c, i] = containers_images(obj, "/spec/template/spec");
            vec![
                name,
                json!(iv(obj, "/status/desiredNumberScheduled")),
                json!(iv(obj, "/status/currentNumberScheduled")),
                json!(iv(obj, "/status/numberReady")),
                json!(iv(obj, "/status/updatedNumberScheduled")),
                json!(iv(obj, "/status/numberAvailable")),
                json!(format_labels(
                    ptr(obj, "/spec/template/spec/nodeSelector").and_then(Value::as_object)
                )),
                json!(age),
                c,
                i,
                json!(selector_string(ptr(obj, "/spec/selector"))),
            ]
        }
        "batch/jobs" => job_cells(obj, now, age),
        "batch/cronjobs" => {
            let [c, i] = containers_images(obj, "/spec/jobTemplate/spec/template/spec");
            let last = match obj
                .pointer("/status/lastScheduleTime")
                .filter(|v| !v.is_null())
            {
                Some(v) => since(Some(v), now),
                None => "<none>".to_string(),
            };
            vec![
                name,
                json!(sv(obj, "/spec/schedule")),
                json!(or_none(sv(obj, "/spec/timeZone"))),
                json!(bool_ptr(ptr(obj, "/spec/suspend"))),
                json!(arr(obj, "/status/active").len()),
                json!(last),
                json!(age),
                c,
                i,
                json!(format_label_selector(ptr(
                    obj,
                    "/spec/jobTemplate/spec/selector"
                ))),
            ]
        }
        "/namespaces" => vec![name, json!(sv(obj, "/status/phase")), json!(age)],
        "/nodes" => node_cells(obj, age),
        "/services" => service_cells(obj, age),
        "/serviceaccounts" => vec![name, json!(arr(obj, "/secrets").len()), json!(age)],
        "/secrets" => vec![
            name,
            json!(sv(obj, "/type")),
            json!(
                obj.get("data")
                    .and_then(Value::as_object)
                    .map_or(0, Map::len)
            ),
            json!(age),
        ],
        "/configmaps" => {
            let n = obj
                .get("data")
                .and_then(Value::as_object)
                .map_or(0, Map::len)
                + obj
                    .get("binaryData")
                    .and_then(Value::as_object)
                    .map_or(0, Map::len);
            vec![name, json!(n), json!(age)]
        }
        "/events" | "events.k8s.io/events" => event_cells(obj, now),
        "networking.k8s.io/networkpolicies" => vec![
            name,
            json!(format_label_selector(
                ptr(obj, "/spec/podSelector").or(Some(&json!({})))
            )),
            json!(age),
        ],
        "/resourcequotas" => quota_cells(obj, age),
        "policy/poddisruptionbudgets" => vec![
            name,
            json!(int_or_string(ptr(obj, "/spec/minAvailable"))),
            json!(int_or_string(ptr(obj, "/spec/maxUnavailable"))),
            json!(iv(obj, "/status/disruptionsAllowed")),
            json!(age),
        ],
        "rbac.authorization.k8s.io/rolebindings"
        | "rbac.authorization.k8s.io/clusterrolebindings" => binding_cells(obj, age),
        "coordination.k8s.io/leases" => {
            vec![name, json!(sv(obj, "/spec/holderIdentity")), json!(age)]
        }
        _ => vec![name, json!(created_at(obj))],
    };
    (cells, None)
}

/// A CRD cell (`cellForJSONValue` and the string printing of the tableconvertor).
fn crd_cell(column: &Column, path: &JsonPath, obj: &Value, now: Timestamp) -> Value {
    let results = path.eval(obj);
    let Some(value) = results.first() else {
        return Value::Null;
    };
    if value.is_null() {
        return Value::Null;
    }
    match column.type_.as_str() {
        "string" => json!(value_to_text(value)),
        "integer" => match value {
            Value::Number(n) => n
                .as_i64()
                .map(|i| json!(i))
                .or_else(|| n.as_f64().map(|f| json!(f as i64)))
                .unwrap_or(Value::Null),
            _ => Value::Null,
        },
        "number" => match value {
            Value::Number(n) => n.as_f64().map(|f| json!(f)).unwrap_or(Value::Null),
            _ => Value::Null,
        },
        "boolean" => match value {
            Value::Bool(b) => json!(b),
            _ => Value::Null,
        },
        "date" => match value.as_str() {
            Some(s) => match s.parse::<Timestamp>() {
                Ok(t) => json!(human_duration(now.duration_since(t))),
                Err(_) => json!("<invalid>"),
            },
            None => Value::Null,
        },
        _ => Value::Null,
    }
}

fn row_object(obj: &Value, include_object: &str) -> Value {
    match include_object {
        "None" => Value::Null,
        "Object" => obj.clone(),
        _ => json!({
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": obj.get("metadata").cloned().unwrap_or_else(|| json!({})),
        }),
    }
}

/// A `meta.k8s.io/v1` Table. `metadata.resourceVersion` is the object's for a single object;
/// for lists use [`render_table_with_list_meta`] (kubectl `get -w` watches from the Table's
/// `resourceVersion`). `objects` may be `&[Value]`, `&[&Value]` or `&[Arc<Value>]`.
pub fn render_table<T: Borrow<Value>>(
    resource_key: &str,
    columns: &[Column],
    objects: &[T],
    now: Timestamp,
    include_object: &str,
) -> Value {
    let meta = match objects {
        [one] => {
            json!({"resourceVersion": ptr(one.borrow(), "/metadata/resourceVersion").cloned().unwrap_or(json!(""))})
        }
        _ => json!({}),
    };
    render_table_with_list_meta(resource_key, columns, objects, now, include_object, &meta)
}

/// Like [`render_table`] with the list metadata (`resourceVersion`, `continue`,
/// `remainingItemCount`) given by the caller.
pub fn render_table_with_list_meta<T: Borrow<Value>>(
    resource_key: &str,
    columns: &[Column],
    objects: &[T],
    now: Timestamp,
    include_object: &str,
    list_meta: &Value,
) -> Value {
    let crd_mode = columns.iter().any(|c| c.json_path.is_some());
    let paths: Vec<Option<JsonPath>> = columns
        .iter()
        .map(|c| c.json_path.as_deref().and_then(|p| JsonPath::parse(p).ok()))
        .collect();
    let rows: Vec<Value> = objects
        .iter()
        .map(|obj| {
            let obj: &Value = obj.borrow();
            let (cells, conditions) = if crd_mode {
                let cells = columns
                    .iter()
                    .zip(&paths)
                    .enumerate()
                    .map(|(idx, (c, p))| match p {
                        _ if idx == 0 && c.format == "name" => json!(name_of(obj)),
                        Some(p) => crd_cell(c, p, obj, now),
                        None => Value::Null,
                    })
                    .collect();
                (cells, None)
            } else {
                builtin_cells(resource_key, obj, now)
            };
            let mut row = Map::new();
            row.insert("cells".into(), Value::Array(cells));
            if let Some(c) = conditions {
                row.insert("conditions".into(), c);
            }
            row.insert("object".into(), row_object(obj, include_object));
            Value::Object(row)
        })
        .collect();
    let defs: Vec<Value> = columns
        .iter()
        .map(|c| {
            json!({"name": c.name, "type": c.type_, "format": c.format,
                   "description": c.description, "priority": c.priority})
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_meta,
        "columnDefinitions": defs,
        "rows": rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        "2026-01-10T12:00:00Z".parse().unwrap()
    }

    fn ago(secs: i64) -> String {
        (now() - SignedDuration::from_secs(secs)).to_string()
    }

    fn cells(key: &str, obj: &Value) -> Vec<Value> {
        let t = render_table(
            key,
            &builtin_columns(key),
            std::slice::from_ref(obj),
            now(),
            "None",
        );
        assert_eq!(
            t["rows"][0]["cells"].as_array().unwrap().len(),
            t["columnDefinitions"].as_array().unwrap().len(),
            "cells and columns of {key} must line up"
        );
        t["rows"][0]["cells"].as_array().unwrap().clone()
    }

    #[test]
    fn human_duration_matches_apimachinery() {
        let d = |s: i64| human_duration(SignedDuration::from_secs(s));
        assert_eq!(d(-5), "<invalid>");
        assert_eq!(human_duration(SignedDuration::from_millis(-500)), "0s");
        assert_eq!(d(0), "0s");
        assert_eq!(d(5), "5s");
        assert_eq!(d(119), "119s");
        assert_eq!(d(120), "2m");
        assert_eq!(d(182), "3m2s");
        assert_eq!(d(600), "10m");
        assert_eq!(d(179 * 60), "179m");
        assert_eq!(d(3 * 3600), "3h");
        assert_eq!(d(4 * 3600 + 5 * 60), "4h5m");
        assert_eq!(d(8 * 3600 + 59), "8h");
        assert_eq!(d(47 * 3600), "47h");
        assert_eq!(d(2 * 86400 + 3 * 3600), "2d3h");
        assert_eq!(d(3 * 86400), "3d");
        assert_eq!(d(45 * 86400), "45d");
        assert_eq!(d(800 * 86400), "2y70d");
        assert_eq!(d(730 * 86400), "2y");
        assert_eq!(d(9 * 365 * 86400), "9y");
    }

    #[test]
    fn table_shape_and_include_object() {
        let cm = json!({"metadata": {"name": "c", "namespace": "ns", "resourceVersion": "7",
            "creationTimestamp": ago(300)}, "data": {"a": "1", "b": "2"}, "binaryData": {"c": ""}});
        let t = render_table(
            "/configmaps",
            &builtin_columns("/configmaps"),
            std::slice::from_ref(&cm),
            now(),
            "Metadata",
        );
        assert_eq!(t["kind"], "Table");
        assert_eq!(t["apiVersion"], "meta.k8s.io/v1");
        assert_eq!(t["metadata"]["resourceVersion"], "7");
        assert_eq!(
            t["columnDefinitions"][0],
            json!({"name": "Name", "type": "string", "format": "name", "description": NAME_DESC, "priority": 0})
        );
        assert_eq!(t["rows"][0]["cells"], json!(["c", 3, "5m"]));
        assert_eq!(t["rows"][0]["object"]["kind"], "PartialObjectMetadata");
        assert_eq!(t["rows"][0]["object"]["apiVersion"], "meta.k8s.io/v1");
        assert_eq!(t["rows"][0]["object"]["metadata"]["name"], "c");
        assert!(t["rows"][0]["object"].get("data").is_none());
        let t = render_table(
            "/configmaps",
            &builtin_columns("/configmaps"),
            std::slice::from_ref(&cm),
            now(),
            "Object",
        );
        assert_eq!(t["rows"][0]["object"], cm);
        let t = render_table(
            "/configmaps",
            &builtin_columns("/configmaps"),
            std::slice::from_ref(&cm),
            now(),
            "None",
        );
        assert_eq!(t["rows"][0]["object"], Value::Null);
        let t = render_table_with_list_meta(
            "/configmaps",
            &builtin_columns("/configmaps"),
            &[cm.clone(), cm],
            now(),
            "None",
            &json!({"resourceVersion": "99", "continue": "x"}),
        );
        assert_eq!(
            t["metadata"],
            json!({"resourceVersion": "99", "continue": "x"})
        );
        assert_eq!(t["rows"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn accepts_borrowed_and_shared_objects() {
        let cm = json!({"metadata": {"name": "c", "resourceVersion": "3"}, "data": {}});
        let owned = render_table(
            "/configmaps",
            &builtin_columns("/configmaps"),
            std::slice::from_ref(&cm),
            now(),
            "None",
        );
        let refs = render_table(
            "/configmaps",
            &builtin_columns("/configmaps"),
            &[&cm],
            now(),
            "None",
        );
        let shared = [std::sync::Arc::new(cm.clone())];
        let arcs = render_table(
            "/configmaps",
            &builtin_columns("/configmaps"),
            &shared,
            now(),
            "None",
        );
        assert_eq!(owned, refs);
        assert_eq!(owned, arcs);
        assert_eq!(owned["metadata"]["resourceVersion"], "3");
    }

    #[test]
    fn pod_rows() {
        let names: Vec<String> = builtin_columns("/pods")
            .iter()
            .map(|c| c.name.clone())
            .collect();
        assert_eq!(
            names,
            [
                "Name",
                "Ready",
                "Status",
                "Restarts",
                "Age",
                "IP",
                "Node",
                "Nominated Node",
                "Readiness Gates"
            ]
        );
        assert_eq!(builtin_columns("/pods")[5].priority, 1);
        let pod = json!({"metadata": {"name": "p", "creationTimestamp": ago(3600 * 5)},
        "spec": {"nodeName": "n1", "containers": [{"name": "a"}, {"name": "b"}]},
        "status": {"phase": "Running", "podIP": "10.0.0.5", "containerStatuses": [
            {"name": "a", "ready": true, "restartCount": 2, "state": {"running": {}},
             "lastState": {"terminated": {"finishedAt": ago(120), "exitCode": 1}}},
            {"name": "b", "ready": false, "restartCount": 0, "state": {"waiting": {"reason": "CrashLoopBackOff"}}}
        ]}});
        assert_eq!(
            cells("/pods", &pod),
            vec![
                json!("p"),
                json!("1/2"),
                json!("CrashLoopBackOff"),
                json!("2 (2m ago)"),
                json!("5h"),
                json!("10.0.0.5"),
                json!("n1"),
                json!("<none>"),
                json!("<none>")
            ]
        );
        let pending = json!({"metadata": {"name": "q", "creationTimestamp": ago(5)},
            "spec": {"containers": [{"name": "a"}]}, "status": {"phase": "Pending"}});
        let c = cells("/pods", &pending);
        assert_eq!(
            c[1..5],
            [json!("0/1"), json!("Pending"), json!("0"), json!("5s")]
        );
        assert_eq!(c[5], "<none>");
        let mut deleting = pending.clone();
        deleting["metadata"]["deletionTimestamp"] = json!(ago(1));
        assert_eq!(cells("/pods", &deleting)[2], "Terminating");
        let done = json!({"metadata": {"name": "d"}, "spec": {"containers": [{"name": "a"}]},
            "status": {"phase": "Succeeded", "containerStatuses": [{"name": "a", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]}});
        let t = render_table("/pods", &builtin_columns("/pods"), &[done], now(), "None");
        assert_eq!(t["rows"][0]["cells"][2], "Completed");
        assert_eq!(t["rows"][0]["cells"][4], "<unknown>");
        assert_eq!(t["rows"][0]["conditions"][0]["type"], "Completed");
        let init = json!({"metadata": {"name": "i"}, "spec": {"initContainers": [{"name": "x"}, {"name": "y"}], "containers": [{"name": "a"}]},
            "status": {"phase": "Pending", "initContainerStatuses": [
                {"name": "x", "state": {"terminated": {"exitCode": 0}}},
                {"name": "y", "state": {"running": {}}}]}});
        assert_eq!(cells("/pods", &init)[2], "Init:1/2");
        let gated = json!({"metadata": {"name": "g"}, "spec": {"containers": [{"name": "a"}],
            "readinessGates": [{"conditionType": "x/ready"}, {"conditionType": "y/ready"}]},
            "status": {"phase": "Running", "conditions": [{"type": "x/ready", "status": "True"}]}});
        assert_eq!(cells("/pods", &gated)[8], "1/2");
    }

    #[test]
    fn workload_rows() {
        let d = json!({"metadata": {"name": "web", "creationTimestamp": ago(60)},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                "template": {"spec": {"containers": [{"name": "a", "image": "nginx"}, {"name": "b", "image": "busybox"}]}}},
            "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}});
        assert_eq!(
            cells("apps/deployments", &d),
            vec![
                json!("web"),
                json!("2/3"),
                json!(3),
                json!(2),
                json!("60s"),
                json!("a,b"),
                json!("nginx,busybox"),
                json!("app=web")
            ]
        );
        assert_eq!(
            cells("apps/replicasets", &d)[1..4],
            [json!(3), json!(0), json!(2)]
        );
        assert_eq!(cells("apps/statefulsets", &d)[1], "2/3");
        let ds = json!({"metadata": {"name": "ds"}, "spec": {"template": {"spec": {"nodeSelector": {"b": "2", "a": "1"}, "containers": []}}},
            "status": {"desiredNumberScheduled": 3, "currentNumberScheduled": 3, "numberReady": 2, "updatedNumberScheduled": 3, "numberAvailable": 2}});
        let c = cells("apps/daemonsets", &ds);
        assert_eq!(
            c[1..7],
            [
                json!(3),
                json!(3),
                json!(2),
                json!(3),
                json!(2),
                json!("a=1,b=2")
            ]
        );
        let job = json!({"metadata": {"name": "j"}, "spec": {"completions": 3, "template": {"spec": {"containers": [{"name": "c", "image": "i"}]}}},
            "status": {"succeeded": 1, "startTime": ago(300)}});
        assert_eq!(
            cells("batch/jobs", &job)[1..4],
            [json!("Running"), json!("1/3"), json!("5m")]
        );
        let job2 = json!({"metadata": {"name": "j"}, "spec": {"parallelism": 2},
            "status": {"succeeded": 2, "startTime": ago(300), "completionTime": ago(240),
            "conditions": [{"type": "Complete", "status": "True"}]}});
        assert_eq!(
            cells("batch/jobs", &job2)[1..4],
            [json!("Complete"), json!("2/1 of 2"), json!("60s")]
        );
        assert_eq!(cells("batch/jobs", &job2)[7], "<none>");
        let cj = json!({"metadata": {"name": "cj"}, "spec": {"schedule": "*/5 * * * *", "suspend": false},
            "status": {"active": [{"name": "x"}], "lastScheduleTime": ago(30)}});
        assert_eq!(
            cells("batch/cronjobs", &cj)[1..6],
            [
                json!("*/5 * * * *"),
                json!("<none>"),
                json!("False"),
                json!(1),
                json!("30s")
            ]
        );
        let names: Vec<String> = builtin_columns("batch/cronjobs")
            .iter()
            .map(|c| c.name.clone())
            .collect();
        assert_eq!(
            names[..7],
            [
                "Name",
                "Schedule",
                "Timezone",
                "Suspend",
                "Active",
                "Last Schedule",
                "Age"
            ]
        );
    }

    #[test]
    fn cluster_rows() {
        let ns = json!({"metadata": {"name": "default", "creationTimestamp": ago(86400 * 45)}, "status": {"phase": "Active"}});
        assert_eq!(
            cells("/namespaces", &ns),
            vec![json!("default"), json!("Active"), json!("45d")]
        );
        let node = json!({"metadata": {"name": "n1", "labels": {"node-role.kubernetes.io/control-plane": "", "node-role.kubernetes.io/worker": ""}},
            "spec": {"unschedulable": true},
            "status": {"conditions": [{"type": "Ready", "status": "True"}], "nodeInfo": {"kubeletVersion": "v1.33.0"},
                "addresses": [{"type": "InternalIP", "address": "10.0.0.1"}]}});
        let c = cells("/nodes", &node);
        assert_eq!(
            c[1..3],
            [
                json!("Ready,SchedulingDisabled"),
                json!("control-plane,worker")
            ]
        );
        assert_eq!(
            c[4..8],
            [
                json!("v1.33.0"),
                json!("10.0.0.1"),
                json!("<none>"),
                json!("<unknown>")
            ]
        );
        let svc = json!({"metadata": {"name": "s"}, "spec": {"type": "NodePort", "clusterIP": "10.96.0.10",
            "ports": [{"port": 80, "nodePort": 30080}, {"port": 53, "protocol": "UDP"}], "selector": {"app": "x"}}});
        assert_eq!(
            cells("/services", &svc)[1..5],
            [
                json!("NodePort"),
                json!("10.96.0.10"),
                json!("<none>"),
                json!("80:30080/TCP,53/UDP")
            ]
        );
        let lb = json!({"metadata": {"name": "s"}, "spec": {"type": "LoadBalancer"}});
        assert_eq!(cells("/services", &lb)[3], "<pending>");
        let sec = json!({"metadata": {"name": "s"}, "type": "Opaque", "data": {"a": "eA=="}});
        assert_eq!(cells("/secrets", &sec)[1..3], [json!("Opaque"), json!(1)]);
        let sa = json!({"metadata": {"name": "sa"}, "secrets": [{"name": "t"}]});
        assert_eq!(cells("/serviceaccounts", &sa)[1], 1);
        let np = json!({"metadata": {"name": "np"}, "spec": {"podSelector": {}}});
        assert_eq!(cells("networking.k8s.io/networkpolicies", &np)[1], "<none>");
        let np = json!({"metadata": {"name": "np"}, "spec": {"podSelector": {"matchLabels": {"app": "x"}}}});
        assert_eq!(cells("networking.k8s.io/networkpolicies", &np)[1], "app=x");
        let pdb = json!({"metadata": {"name": "p"}, "spec": {"minAvailable": "50%"}, "status": {"disruptionsAllowed": 1}});
        assert_eq!(
            cells("policy/poddisruptionbudgets", &pdb)[1..4],
            [json!("50%"), json!("N/A"), json!(1)]
        );
        let rq = json!({"metadata": {"name": "q"}, "status": {"hard": {"pods": "10", "limits.cpu": "2"}, "used": {"pods": "3"}}});
        assert_eq!(
            cells("/resourcequotas", &rq)[2..4],
            [json!("pods: 3/10"), json!("limits.cpu: 0/2")]
        );
        let role = json!({"metadata": {"name": "r", "creationTimestamp": "2026-01-01T10:00:00Z"}});
        assert_eq!(
            cells("rbac.authorization.k8s.io/roles", &role),
            vec![json!("r"), json!("2026-01-01T10:00:00Z")]
        );
        let rb = json!({"metadata": {"name": "rb"}, "roleRef": {"kind": "ClusterRole", "name": "view"},
            "subjects": [{"kind": "User", "name": "alice"}, {"kind": "ServiceAccount", "name": "sa", "namespace": "ns"}]});
        let c = cells("rbac.authorization.k8s.io/rolebindings", &rb);
        assert_eq!(c[1], "ClusterRole/view");
        assert_eq!(c[3..6], [json!("alice"), json!(""), json!("ns/sa")]);
        let lease = json!({"metadata": {"name": "l"}, "spec": {"holderIdentity": "me"}});
        assert_eq!(cells("coordination.k8s.io/leases", &lease)[1], "me");
        let crd = json!({"metadata": {"name": "x.cryptojack.dev", "creationTimestamp": "2026-01-02T03:04:05Z"}});
        let names: Vec<String> = builtin_columns("apiextensions.k8s.io/customresourcedefinitions")
            .iter()
            .map(|c| c.name.clone())
            .collect();
        assert_eq!(names, ["Name", "Created At"]);
        assert_eq!(
            cells("apiextensions.k8s.io/customresourcedefinitions", &crd)[1],
            "2026-01-02T03:04:05Z"
        );
    }

    #[test]
    fn event_rows() {
        let names: Vec<String> = builtin_columns("/events")
            .iter()
            .map(|c| c.name.clone())
            .collect();
        assert_eq!(
            names,
            [
                "Last Seen",
                "Type",
                "Reason",
                "Object",
                "Subobject",
                "Source",
                "Message",
                "First Seen",
                "Count",
                "Name"
            ]
        );
        let ev = json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e1"},
            "involvedObject": {"kind": "Pod", "name": "p"}, "reason": "Killing", "type": "Warning", "message": " bye ",
            "firstTimestamp": ago(600), "lastTimestamp": ago(60), "count": 3, "source": {"component": "kubelet", "host": "n1"}});
        assert_eq!(
            cells("/events", &ev),
            vec![
                json!("60s"),
                json!("Warning"),
                json!("Killing"),
                json!("pod/p"),
                json!(""),
                json!("kubelet, n1"),
                json!("bye"),
                json!("10m"),
                json!(3),
                json!("e1")
            ]
        );
        let new = json!({"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "e2"},
            "regarding": {"kind": "CryptojackIncident", "name": "i"}, "reason": "Contained", "type": "Normal",
            "note": "done", "eventTime": ago(5), "reportingController": "cryptojack"});
        assert_eq!(
            cells("events.k8s.io/events", &new),
            vec![
                json!("5s"),
                json!("Normal"),
                json!("Contained"),
                json!("cryptojackincident/i"),
                json!(""),
                json!("cryptojack"),
                json!("done"),
                json!("5s"),
                json!(1),
                json!("e2")
            ]
        );
    }

    #[test]
    fn crd_columns_and_cells() {
        let version = json!({"name": "v1", "additionalPrinterColumns": [
            {"name": "Severity", "type": "string", "jsonPath": ".spec.severity"},
            {"name": "Score", "type": "number", "jsonPath": ".status.score", "priority": 1, "description": "the score"},
            {"name": "Count", "type": "integer", "jsonPath": ".status.count"},
            {"name": "Contained", "type": "boolean", "jsonPath": ".status.contained"},
            {"name": "Ready", "type": "string", "jsonPath": ".status.conditions[?(@.type==\"Ready\")].status"},
            {"name": "Seen", "type": "date", "jsonPath": ".status.lastSeen"},
            {"name": "Missing", "type": "string", "jsonPath": ".status.nope"},
            {"name": "Labels", "type": "string", "jsonPath": ".metadata.labels"}
        ]});
        let cols = crd_columns(&version);
        assert_eq!(cols[0].name, "Name");
        assert_eq!(cols[2].priority, 1);
        assert_eq!(cols[2].description, "the score");
        assert_eq!(
            cols[1].description,
            "Custom resource definition column (in JSONPath format): .spec.severity"
        );
        let obj = json!({"metadata": {"name": "inc-1", "labels": {"a": "b"}}, "spec": {"severity": "High"},
            "status": {"score": 7, "count": 2.0, "contained": true, "lastSeen": ago(4 * 3600 + 300),
                "conditions": [{"type": "Ready", "status": "True"}]}});
        let t = render_table(
            "cryptojack.dev/cryptojackincidents",
            &cols,
            &[obj],
            now(),
            "Metadata",
        );
        assert_eq!(
            t["rows"][0]["cells"],
            json!([
                "inc-1",
                "High",
                7.0,
                2,
                true,
                "True",
                "4h5m",
                null,
                "{\"a\":\"b\"}"
            ])
        );
        assert_eq!(t["columnDefinitions"][6]["type"], "date");
        let bad =
            json!({"metadata": {"name": "x"}, "status": {"lastSeen": "yesterday", "count": "two"}});
        let t = render_table("g/r", &cols, &[bad], now(), "None");
        assert_eq!(t["rows"][0]["cells"][6], "<invalid>");
        assert_eq!(t["rows"][0]["cells"][3], Value::Null);
    }

    #[test]
    fn crd_without_columns_gets_age() {
        let cols = crd_columns(&json!({"name": "v1"}));
        let names: Vec<&str> = cols.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["Name", "Age"]);
        assert_eq!(cols[1].type_, "date");
        let obj = json!({"metadata": {"name": "x", "creationTimestamp": ago(3 * 86400)}});
        let t = render_table("g/r", &cols, &[obj], now(), "None");
        assert_eq!(t["rows"][0]["cells"], json!(["x", "3d"]));
    }
}
