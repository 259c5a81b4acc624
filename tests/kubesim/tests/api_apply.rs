//! Server-side apply merging lists by the schema: `x-kubernetes-list-type: map` (per-entry
//! ownership, `k:{...}` managedFields keys, multi-key with a defaulted key), `set`, atomic lists,
//! the `/status` subresource with one field manager per entry, conflicts between managers (409,
//! the apiserver's message and causes) and `force`; built-in lists (containers, env, ports).
//! Each test defines its own small CRD.

use crate::common;

use common::{cluster, eventually, status_of};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
};
use serde_json::{Value, json};

/// A Gadget CRD: `spec.entries` a map list keyed by `id`, `spec.ports` keyed by
/// `port`+`protocol` (protocol defaults to TCP), `spec.tags` a set, `spec.args` atomic,
/// `status.actions` a map list keyed by `id` (status subresource).
fn gadget_crd(group: &str) -> Value {
    let entry = json!({"type": "object", "required": ["id"], "properties": {
        "id": {"type": "string"}, "value": {"type": "string"}, "note": {"type": "string"}}});
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("gadgets.{group}")},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"kind": "Gadget", "plural": "gadgets", "singular": "gadget"},
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {
                    "type": "object",
                    "properties": {
                        "spec": {"type": "object", "properties": {
                            "entries": {"type": "array", "items": entry,
                                "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["id"]},
                            "ports": {"type": "array",
                                "items": {"type": "object", "required": ["port"], "properties": {
                                    "port": {"type": "integer"},
                                    "protocol": {"type": "string", "default": "TCP"},
                                    "name": {"type": "string"}}},
                                "x-kubernetes-list-type": "map",
                                "x-kubernetes-list-map-keys": ["port", "protocol"]},
                            "tags": {"type": "array", "items": {"type": "string"},
                                "x-kubernetes-list-type": "set"},
                            "args": {"type": "array", "items": {"type": "string"}}
                        }},
                        "status": {"type": "object", "properties": {
                            "phase": {"type": "string"},
                            "actions": {"type": "array", "items": {"type": "object", "required": ["id"],
                                "properties": {"id": {"type": "string"}, "state": {"type": "string"},
                                               "message": {"type": "string"}}},
                                "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["id"]}
                        }}
                    }
                }}
            }]
        }
    })
}

struct Gadgets {
    api: Api<DynamicObject>,
    group: String,
    client: kube::Client,
}

impl Gadgets {
    /// Installs the CRD (group unique to the test's namespace) and waits until it is served.
    async fn install(client: &kube::Client, ns: &str) -> Gadgets {
        let group = format!("{ns}.ssa.example.com");
        let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
        let crd: CustomResourceDefinition =
            serde_json::from_value(gadget_crd(&group)).expect("crd");
        crds.create(&PostParams::default(), &crd)
            .await
            .expect("create CRD");
        let ar = ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk(&group, "v1", "Gadget"),
            "gadgets",
        );
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &ar);
        let served = eventually(20, || {
            let api = api.clone();
            async move { api.list(&Default::default()).await.ok().map(|_| ()) }
        })
        .await;
        assert!(served.is_some(), "the CRD is served");
        Gadgets {
            api,
            group,
            client: client.clone(),
        }
    }

    fn config(&self, body: Value) -> Value {
        let mut c = json!({"apiVersion": format!("{}/v1", self.group), "kind": "Gadget",
            "metadata": {"name": "g"}});
        if let (Some(m), Some(b)) = (c.as_object_mut(), body.as_object()) {
            m.extend(b.clone());
        }
        c
    }

    async fn apply(&self, manager: &str, body: Value) -> Result<Value, kube::Error> {
        self.api
            .patch(
                "g",
                &PatchParams::apply(manager),
                &Patch::Apply(self.config(body)),
            )
            .await
            .map(|o| serde_json::to_value(o).expect("json"))
    }

    async fn apply_status(&self, manager: &str, body: Value) -> Result<Value, kube::Error> {
        self.api
            .patch_status(
                "g",
                &PatchParams::apply(manager),
                &Patch::Apply(self.config(body)),
            )
            .await
            .map(|o| serde_json::to_value(o).expect("json"))
    }

    async fn get(&self) -> Value {
        serde_json::to_value(self.api.get("g").await.expect("get")).expect("json")
    }

    async fn uninstall(self) {
        let crds: Api<CustomResourceDefinition> = Api::all(self.client);
        let _ = crds
            .delete(&format!("gadgets.{}", self.group), &DeleteParams::default())
            .await;
    }
}

/// The managedFields entry of `manager` (and subresource).
fn entry<'a>(obj: &'a Value, manager: &str, subresource: Option<&str>) -> Option<&'a Value> {
    obj.pointer("/metadata/managedFields")?
        .as_array()?
        .iter()
        .find(|e| {
            e["manager"] == manager && e.get("subresource").and_then(Value::as_str) == subresource
        })
}

fn ids(list: &Value) -> Vec<&str> {
    list.as_array()
        .map(|a| a.iter().filter_map(|e| e["id"].as_str()).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn map_list_entries_are_owned_per_manager() {
    let c = cluster().await;
    let g = Gadgets::install(&c.client, &c.ns).await;
    g.apply(
        "a",
        json!({"spec": {"entries": [{"id": "x", "value": "1"}]}}),
    )
    .await
    .expect("a applies x");
    let o = g
        .apply(
            "b",
            json!({"spec": {"entries": [{"id": "y", "value": "2"}]}}),
        )
        .await
        .expect("b applies y");
    // B's apply of y kept A's x.
    assert_eq!(ids(&o["spec"]["entries"]), vec!["x", "y"]);
    let a = entry(&o, "a", None).expect("a's entry");
    assert_eq!(a["operation"], "Apply");
    assert_eq!(
        a["fieldsV1"]["f:spec"]["f:entries"]["k:{\"id\":\"x\"}"],
        json!({".": {}, "f:id": {}, "f:value": {}})
    );
    let b = entry(&o, "b", None).expect("b's entry");
    assert!(b["fieldsV1"]["f:spec"]["f:entries"]["k:{\"id\":\"y\"}"].is_object());
    assert!(
        b["fieldsV1"]["f:spec"]["f:entries"]
            .get("k:{\"id\":\"x\"}")
            .is_none()
    );
    // A adds a field to its entry and a new entry; B's stays.
    let o = g
        .apply(
            "a",
            json!({"spec": {"entries": [{"id": "x", "value": "1", "note": "n"}, {"id": "z", "value": "3"}]}}),
        )
        .await
        .expect("a grows");
    assert_eq!(ids(&o["spec"]["entries"]), vec!["x", "y", "z"]);
    assert_eq!(o["spec"]["entries"][0]["note"], "n");
    // A omits x, which it alone owned: removed; y (B's) and z stay.
    let o = g
        .apply(
            "a",
            json!({"spec": {"entries": [{"id": "z", "value": "3"}]}}),
        )
        .await
        .expect("a drops x");
    assert_eq!(ids(&o["spec"]["entries"]), vec!["y", "z"]);
    // A applies no entries at all: z goes too, y stays.
    let o = g
        .apply("a", json!({"spec": {}}))
        .await
        .expect("a drops all");
    assert_eq!(ids(&o["spec"]["entries"]), vec!["y"]);
    g.uninstall().await;
}

#[tokio::test]
async fn changing_another_managers_entry_conflicts_unless_forced() {
    let c = cluster().await;
    let g = Gadgets::install(&c.client, &c.ns).await;
    g.apply(
        "a",
        json!({"spec": {"entries": [{"id": "x", "value": "1"}], "args": ["--one"]}}),
    )
    .await
    .expect("a");
    // Same value: no conflict (shared ownership).
    g.apply(
        "b",
        json!({"spec": {"entries": [{"id": "x", "value": "1"}]}}),
    )
    .await
    .expect("b agrees");
    let s = status_of(
        g.apply(
            "c",
            json!({"spec": {"entries": [{"id": "x", "value": "9"}]}}),
        )
        .await
        .expect_err("conflict"),
    );
    assert_eq!((s.code, s.reason.as_str()), (409, "Conflict"));
    assert_eq!(
        s.message,
        "Apply failed with 2 conflicts: conflicts with \"a\":\n- .spec.entries[id=\"x\"].value\nconflicts with \"b\":\n- .spec.entries[id=\"x\"].value"
    );
    let causes = s.details.expect("details").causes;
    assert_eq!(causes.len(), 2);
    assert!(
        causes
            .iter()
            .all(|c| c.reason == "FieldManagerConflict"
                && c.field == ".spec.entries[id=\"x\"].value")
    );
    // An atomic list belongs to its applier as a whole.
    let s = status_of(
        g.apply("c", json!({"spec": {"args": ["--two"]}}))
            .await
            .expect_err("conflict"),
    );
    assert_eq!(
        s.message,
        "Apply failed with 1 conflict: conflict with \"a\": .spec.args"
    );
    // Forced: the value changes and the ownership moves to c.
    let o = c_force(&g).await;
    assert_eq!(o["spec"]["entries"][0]["value"], "9");
    let owns = |m: &str| {
        entry(&o, m, None)
            .and_then(|e| {
                e.pointer("/fieldsV1/f:spec/f:entries/k:{\"id\":\"x\"}/f:value")
                    .cloned()
            })
            .is_some()
    };
    assert!(owns("c") && !owns("a") && !owns("b"));
    g.uninstall().await;
}

async fn c_force(g: &Gadgets) -> Value {
    g.api
        .patch(
            "g",
            &PatchParams::apply("c").force(),
            &Patch::Apply(g.config(json!({"spec": {"entries": [{"id": "x", "value": "9"}]}}))),
        )
        .await
        .map(|o| serde_json::to_value(o).expect("json"))
        .expect("forced")
}

#[tokio::test]
async fn sets_and_multi_key_maps_with_a_defaulted_key() {
    let c = cluster().await;
    let g = Gadgets::install(&c.client, &c.ns).await;
    g.apply(
        "a",
        json!({"spec": {"tags": ["red", "blue"], "ports": [{"port": 80, "name": "http"}]}}),
    )
    .await
    .expect("a");
    let o = g
        .apply(
            "b",
            json!({"spec": {"tags": ["green"], "ports": [{"port": 80, "protocol": "UDP", "name": "dns"}]}}),
        )
        .await
        .expect("b");
    assert_eq!(o["spec"]["tags"], json!(["red", "blue", "green"]));
    // 80/TCP (the default protocol) and 80/UDP are different entries.
    let ports = o["spec"]["ports"].as_array().expect("ports");
    assert_eq!(ports.len(), 2);
    assert_eq!(
        ports[0],
        json!({"port": 80, "protocol": "TCP", "name": "http"})
    );
    let a = entry(&o, "a", None).expect("a");
    assert!(
        a["fieldsV1"]["f:spec"]["f:ports"]["k:{\"port\":80,\"protocol\":\"TCP\"}"].is_object(),
        "{a}"
    );
    assert!(
        a["fieldsV1"]["f:spec"]["f:tags"]["v:\"red\""].is_object(),
        "{a}"
    );
    // A drops blue: only the values A applied and nobody else owns go.
    let o = g
        .apply(
            "a",
            json!({"spec": {"tags": ["red"], "ports": [{"port": 80, "name": "http"}]}}),
        )
        .await
        .expect("a drops blue");
    assert_eq!(o["spec"]["tags"], json!(["red", "green"]));
    g.uninstall().await;
}

#[tokio::test]
async fn status_entries_applied_by_one_manager_each() {
    let c = cluster().await;
    let g = Gadgets::install(&c.client, &c.ns).await;
    g.apply("author", json!({"spec": {"args": ["x"]}}))
        .await
        .expect("create");
    let act = |id: &str, state: &str| json!({"id": id, "state": state});
    g.apply_status(
        "op-x",
        json!({"status": {"actions": [act("x", "Pending")]}}),
    )
    .await
    .expect("op-x");
    // The spec of a status apply is ignored.
    let o = g
        .apply_status(
            "op-y",
            json!({"spec": {"args": ["changed"]}, "status": {"actions": [act("y", "Pending")]}}),
        )
        .await
        .expect("op-y");
    assert_eq!(ids(&o["status"]["actions"]), vec!["x", "y"]);
    assert_eq!(o["spec"]["args"], json!(["x"]));
    let x = entry(&o, "op-x", Some("status")).expect("op-x's status entry");
    assert_eq!(x["operation"], "Apply");
    assert!(x["fieldsV1"]["f:status"]["f:actions"]["k:{\"id\":\"x\"}"]["f:state"].is_object());
    assert!(entry(&o, "op-y", Some("status")).is_some());
    // op-x moves its entry on without touching y.
    let o = g
        .apply_status("op-x", json!({"status": {"actions": [act("x", "Done")]}}))
        .await
        .expect("op-x done");
    let actions = o["status"]["actions"].as_array().expect("actions");
    assert_eq!(actions[0], act("x", "Done"));
    assert_eq!(actions[1], act("y", "Pending"));
    // op-y may not change x: the conflict names the status subresource.
    let s = status_of(
        g.apply_status("op-y", json!({"status": {"actions": [act("x", "Failed")]}}))
            .await
            .expect_err("conflict"),
    );
    assert_eq!(
        s.message,
        "Apply failed with 1 conflict: conflict with \"op-x\" with subresource \"status\": .status.actions[id=\"x\"].state"
    );
    // op-x applies no actions: x goes, y stays.
    let o = g
        .apply_status("op-x", json!({"status": {"actions": []}}))
        .await
        .expect("op-x drops x");
    assert_eq!(ids(&o["status"]["actions"]), vec!["y"]);
    // The main resource ignores status.
    let o = g
        .apply(
            "author",
            json!({"spec": {"args": ["x"]}, "status": {"phase": "Ignored"}}),
        )
        .await
        .expect("author");
    assert!(o["status"].get("phase").is_none());
    assert_eq!(ids(&g.get().await["status"]["actions"]), vec!["y"]);
    g.uninstall().await;
}

#[tokio::test]
async fn updates_own_map_entries_too() {
    let c = cluster().await;
    let g = Gadgets::install(&c.client, &c.ns).await;
    g.apply(
        "a",
        json!({"spec": {"entries": [{"id": "x", "value": "1"}]}}),
    )
    .await
    .expect("a");
    // A non-apply write (merge patch) by "editor" takes the field it changed.
    g.api
        .patch(
            "g",
            &PatchParams {
                field_manager: Some("editor".into()),
                ..PatchParams::default()
            },
            &Patch::Merge(json!({"spec": {"entries": [{"id": "x", "value": "2"}]}})),
        )
        .await
        .expect("merge patch");
    let o = g.get().await;
    let ed = entry(&o, "editor", None).expect("editor");
    assert_eq!(ed["operation"], "Update");
    assert!(
        ed["fieldsV1"]["f:spec"]["f:entries"]["k:{\"id\":\"x\"}"]["f:value"].is_object(),
        "{ed}"
    );
    let s = status_of(
        g.apply(
            "a",
            json!({"spec": {"entries": [{"id": "x", "value": "1"}]}}),
        )
        .await
        .expect_err("conflict"),
    );
    assert_eq!(
        s.message,
        format!(
            "Apply failed with 1 conflict: conflict with \"editor\" using {}/v1: .spec.entries[id=\"x\"].value",
            g.group
        )
    );
    g.uninstall().await;
}

#[tokio::test]
async fn an_entry_without_its_key_is_rejected() {
    let c = cluster().await;
    let g = Gadgets::install(&c.client, &c.ns).await;
    let e = g
        .apply("a", json!({"spec": {"entries": [{"value": "1"}]}}))
        .await
        .expect_err("rejected");
    let s = status_of(e);
    assert_eq!(s.code, 500);
    assert!(
        s.message.contains("failed to create typed patch object")
            && s.message.contains(".spec.entries: element 0: associative list with keys has an element that omits key field \"id\""),
        "{}",
        s.message
    );
    assert!(g.api.get_opt("g").await.expect("get").is_none());
    g.uninstall().await;
}

#[tokio::test]
async fn builtin_containers_env_and_ports_merge_by_key() {
    let c = cluster().await;
    let api: Api<Deployment> = Api::namespaced(c.client.clone(), &c.ns);
    let deploy = |containers: Value| {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": containers}}}})
    };
    let apply = |m: &'static str, containers: Value| {
        let api = api.clone();
        let cfg = deploy(containers);
        async move {
            api.patch("web", &PatchParams::apply(m), &Patch::Apply(cfg))
                .await
                .map(|o| serde_json::to_value(o).expect("json"))
        }
    };
    apply(
        "a",
        json!([{"name": "app", "image": common::PAUSE,
                 "env": [{"name": "A", "value": "1"}], "ports": [{"containerPort": 80}]}]),
    )
    .await
    .expect("a");
    let o = apply(
        "b",
        json!([{"name": "app", "env": [{"name": "B", "value": "2"}]},
               {"name": "sidecar", "image": common::PAUSE}]),
    )
    .await
    .expect("b");
    let cs = &o["spec"]["template"]["spec"]["containers"];
    assert_eq!(cs[0]["name"], "app");
    assert_eq!(cs[0]["image"], common::PAUSE);
    let env: Vec<&str> = cs[0]["env"]
        .as_array()
        .expect("env")
        .iter()
        .filter_map(|e| e["name"].as_str())
        .collect();
    assert_eq!(env, vec!["A", "B"]);
    assert_eq!(cs[1]["name"], "sidecar");
    let a = entry(&o, "a", None).expect("a");
    let app =
        &a["fieldsV1"]["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"app\"}"];
    assert!(
        app["f:ports"]["k:{\"containerPort\":80,\"protocol\":\"TCP\"}"].is_object(),
        "{a}"
    );
    assert!(
        app["f:env"]["k:{\"name\":\"A\"}"]["f:value"].is_object(),
        "{a}"
    );
    // The selector is atomic (metav1.LabelSelector).
    assert_eq!(a["fieldsV1"]["f:spec"]["f:selector"], json!({}));
    // A stops applying env A: removed; B's env stays.
    let o = apply(
        "a",
        json!([{"name": "app", "image": common::PAUSE, "ports": [{"containerPort": 80}]}]),
    )
    .await
    .expect("a again");
    let env = &o["spec"]["template"]["spec"]["containers"][0]["env"];
    assert_eq!(env, &json!([{"name": "B", "value": "2"}]));
}
