//! CustomResourceDefinitions: loading from files, serving created CRDs, schema validation (422),
//! pruning and defaulting, status and scale subresources, printer columns, and 415 for strategic
//! merge patches.

use crate::common;

use std::time::Duration;

use common::{cluster, default_builder, eventually, sim_cluster, status_of};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
};
use serde_json::{Value, json};

fn widget_crd(group: &str) -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("widgets.{group}")},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"kind": "Widget", "plural": "widgets", "singular": "widget", "shortNames": ["wdg"]},
            "versions": [{
                "name": "v1",
                "served": true,
                "storage": true,
                "subresources": {
                    "status": {},
                    "scale": {"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas"}
                },
                "additionalPrinterColumns": [
                    {"name": "Color", "type": "string", "jsonPath": ".spec.color"},
                    {"name": "Size", "type": "integer", "jsonPath": ".spec.size"},
                    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}
                ],
                "schema": {"openAPIV3Schema": {
                    "type": "object",
                    "properties": {
                        "spec": {
                            "type": "object",
                            "required": ["color"],
                            "properties": {
                                "color": {"type": "string", "enum": ["red", "green", "blue"]},
                                "size": {"type": "integer", "minimum": 1, "maximum": 10, "default": 3},
                                "replicas": {"type": "integer", "minimum": 0}
                            }
                        },
                        "status": {
                            "type": "object",
                            "properties": {"phase": {"type": "string"}, "replicas": {"type": "integer"}}
                        }
                    }
                }}
            }]
        }
    })
}

fn widgets(client: &kube::Client, group: &str, ns: &str) -> Api<DynamicObject> {
    let ar =
        ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, "v1", "Widget"), "widgets");
    Api::namespaced_with(client.clone(), ns, &ar)
}

fn widget(group: &str, name: &str, spec: Value) -> DynamicObject {
    serde_json::from_value(json!({
        "apiVersion": format!("{group}/v1"), "kind": "Widget",
        "metadata": {"name": name}, "spec": spec
    }))
    .expect("widget")
}

/// Creates the CRD through the API and waits until its objects can be listed.
async fn install(client: &kube::Client, group: &str, ns: &str) {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let crd: CustomResourceDefinition = serde_json::from_value(widget_crd(group)).expect("crd");
    crds.create(&PostParams::default(), &crd)
        .await
        .expect("create CRD");
    let api = widgets(client, group, ns);
    let ok = eventually(20, || {
        let api = api.clone();
        async move { api.list(&Default::default()).await.ok().map(|_| ()) }
    })
    .await;
    assert!(ok.is_some(), "the CRD is served");
}

async fn uninstall(client: &kube::Client, group: &str) {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let _ = crds
        .delete(&format!("widgets.{group}"), &DeleteParams::default())
        .await;
}

fn group_for(ns: &str) -> String {
    format!("{ns}.example.com")
}

#[tokio::test]
async fn crds_loaded_from_a_directory_are_served() {
    let dir = std::env::temp_dir().join(format!("kubesim-crds-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(dir.join("nested")).expect("dir");
    let doc = serde_json::to_string(&widget_crd("files.example.com")).expect("json");
    std::fs::write(
        dir.join("nested/widgets.yaml"),
        format!("# a comment\n---\n{doc}\n"),
    )
    .expect("write");
    std::fs::write(dir.join("README.txt"), "not a CRD").expect("write");
    let project = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../crds");
    let Some(c) = sim_cluster(default_builder().crds_dir(&dir).crds_dir(&project)).await else {
        return;
    };
    let _ = std::fs::remove_dir_all(&dir);
    let api = widgets(&c.client, "files.example.com", &c.ns);
    let o = api
        .create(
            &PostParams::default(),
            &widget("files.example.com", "w", json!({"color": "red"})),
        )
        .await
        .expect("create");
    assert_eq!(o.data["spec"]["size"], 3, "defaulted");
    let crds: Api<CustomResourceDefinition> = Api::all(c.client.clone());
    let crd = crds
        .get("cryptojackincidents.cryptojack.dev")
        .await
        .expect("project CRD");
    let established = crd
        .status
        .and_then(|s| s.conditions)
        .unwrap_or_default()
        .iter()
        .any(|c| c.type_ == "Established" && c.status == "True");
    assert!(established);
}

#[tokio::test]
async fn created_crd_is_served_and_deleting_it_unserves() {
    let c = cluster().await;
    let group = group_for(&c.ns);
    install(&c.client, &group, &c.ns).await;
    let api = widgets(&c.client, &group, &c.ns);
    api.create(
        &PostParams::default(),
        &widget(&group, "w1", json!({"color": "blue"})),
    )
    .await
    .expect("create");
    uninstall(&c.client, &group).await;
    let gone = eventually(30, || {
        let api = api.clone();
        async move {
            match api.list(&Default::default()).await {
                Err(kube::Error::Api(s)) if s.code == 404 => Some(()),
                _ => None,
            }
        }
    })
    .await;
    assert!(gone.is_some(), "the resource is no longer served");
}

#[tokio::test]
async fn schema_validation_answers_422() {
    let c = cluster().await;
    let group = group_for(&c.ns);
    install(&c.client, &group, &c.ns).await;
    let api = widgets(&c.client, &group, &c.ns);
    let pp = PostParams::default();
    // Required field missing.
    let s = status_of(
        api.create(&pp, &widget(&group, "a", json!({"size": 2})))
            .await
            .expect_err("422"),
    );
    assert_eq!((s.code, s.reason.as_str()), (422, "Invalid"));
    assert!(
        s.message
            .starts_with(&format!("Widget.{group} \"a\" is invalid: ")),
        "{}",
        s.message
    );
    assert!(
        s.message.contains("spec.color: Required value"),
        "{}",
        s.message
    );
    let d = s.details.expect("details");
    assert_eq!(d.kind, "Widget");
    assert_eq!(d.group, group);
    assert!(
        d.causes
            .iter()
            .any(|c| c.field == "spec.color" && c.reason == "FieldValueRequired")
    );
    // Enum.
    let s = status_of(
        api.create(&pp, &widget(&group, "b", json!({"color": "pink"})))
            .await
            .expect_err("422"),
    );
    assert!(
        s.message
            .contains("spec.color: Unsupported value: \"pink\""),
        "{}",
        s.message
    );
    // Range.
    let s = status_of(
        api.create(
            &pp,
            &widget(&group, "c", json!({"color": "red", "size": 11})),
        )
        .await
        .expect_err("422"),
    );
    assert!(
        s.message.contains(
            "spec.size: Invalid value: 11: spec.size in body should be less than or equal to 10"
        ),
        "{}",
        s.message
    );
    // Unknown fields are pruned, defaults applied.
    let o = api
        .create(
            &pp,
            &widget(&group, "d", json!({"color": "red", "extra": "dropped"})),
        )
        .await
        .expect("create");
    assert!(o.data["spec"].get("extra").is_none());
    assert_eq!(o.data["spec"]["size"], 3);
    // With fieldValidation=Strict (what kubectl sends), unknown fields are an error.
    let s = status_of(
        api.patch(
            "d",
            &PatchParams::default().validation_strict(),
            &Patch::Merge(json!({"spec": {"bogus": 1}})),
        )
        .await
        .expect_err("400"),
    );
    assert_eq!(s.code, 400);
    assert!(
        s.message
            .contains("strict decoding error: unknown field \"spec.bogus\""),
        "{}",
        s.message
    );
    // Updates are validated too.
    let s = status_of(
        api.patch(
            "d",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"size": 0}})),
        )
        .await
        .expect_err("422"),
    );
    assert_eq!(s.code, 422);
    uninstall(&c.client, &group).await;
}

#[tokio::test]
async fn custom_resource_status_and_scale_subresources() {
    let c = cluster().await;
    let group = group_for(&c.ns);
    install(&c.client, &group, &c.ns).await;
    let api = widgets(&c.client, &group, &c.ns);
    let o = api
        .create(
            &PostParams::default(),
            &serde_json::from_value(
                json!({"apiVersion": format!("{group}/v1"), "kind": "Widget",
                "metadata": {"name": "s"}, "spec": {"color": "red", "replicas": 1},
                "status": {"phase": "Ignored"}}),
            )
            .expect("obj"),
        )
        .await
        .expect("create");
    assert!(
        o.data.get("status").is_none(),
        "status is dropped on create"
    );
    assert_eq!(o.metadata.generation, Some(1));
    let pp = PatchParams::default();
    let o = api
        .patch(
            "s",
            &pp,
            &Patch::Merge(json!({"status": {"phase": "Nope"}, "spec": {"color": "green"}})),
        )
        .await
        .expect("main");
    assert!(o.data.get("status").is_none());
    assert_eq!(o.metadata.generation, Some(2));
    let o = api
        .patch_status(
            "s",
            &pp,
            &Patch::Merge(json!({"status": {"phase": "Ready"}, "spec": {"color": "blue"}})),
        )
        .await
        .expect("status");
    assert_eq!(o.data["status"]["phase"], "Ready");
    assert_eq!(o.data["spec"]["color"], "green");
    assert_eq!(o.metadata.generation, Some(2));
    // Scale.
    let scale = api.get_scale("s").await.expect("scale");
    assert_eq!(scale.spec.and_then(|s| s.replicas), Some(1));
    api.patch_scale("s", &pp, &Patch::Merge(json!({"spec": {"replicas": 4}})))
        .await
        .expect("patch scale");
    assert_eq!(api.get("s").await.expect("get").data["spec"]["replicas"], 4);
    // Strategic merge patches are not supported for custom resources.
    let s = status_of(
        api.patch(
            "s",
            &pp,
            &Patch::Strategic(json!({"spec": {"color": "red"}})),
        )
        .await
        .expect_err("415"),
    );
    assert_eq!(s.code, 415);
    uninstall(&c.client, &group).await;
}

#[tokio::test]
async fn custom_resource_tables_use_printer_columns() {
    let c = cluster().await;
    let group = group_for(&c.ns);
    install(&c.client, &group, &c.ns).await;
    let api = widgets(&c.client, &group, &c.ns);
    api.create(
        &PostParams::default(),
        &widget(&group, "t", json!({"color": "red", "size": 5})),
    )
    .await
    .expect("create");
    let req = axum::http::Request::get(format!("/apis/{group}/v1/namespaces/{}/widgets", c.ns))
        .header(
            "Accept",
            "application/json;as=Table;v=v1;g=meta.k8s.io,application/json",
        )
        .body(Vec::new())
        .expect("request");
    let table: Value = tokio::time::timeout(Duration::from_secs(10), c.client.request(req))
        .await
        .expect("in time")
        .expect("table");
    assert_eq!(table["kind"], "Table");
    let cols: Vec<&str> = table["columnDefinitions"]
        .as_array()
        .expect("columns")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(cols, vec!["Name", "Color", "Size", "Age"]);
    let row = &table["rows"][0]["cells"];
    assert_eq!(row[0], "t");
    assert_eq!(row[1], "red");
    assert_eq!(row[2], 5);
    uninstall(&c.client, &group).await;
}
