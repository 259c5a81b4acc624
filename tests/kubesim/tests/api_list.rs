//! list: label and field selectors, limit/continue, resourceVersion semantics.

use crate::common;

use common::{cluster, default_builder, sim_cluster, status_of};
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

async fn seed(api: &Api<ConfigMap>) {
    let items = [
        ("a", json!({"app": "web", "tier": "front"})),
        ("b", json!({"app": "web", "tier": "back"})),
        ("c", json!({"app": "db"})),
        ("d", json!({"team": "x"})),
    ];
    for (n, labels) in items {
        let o: ConfigMap =
            serde_json::from_value(json!({"metadata": {"name": n, "labels": labels}})).expect("cm");
        api.create(&PostParams::default(), &o)
            .await
            .expect("create");
    }
}

async fn names(api: &Api<ConfigMap>, lp: &ListParams) -> Vec<String> {
    let mut v: Vec<String> = api
        .list(lp)
        .await
        .expect("list")
        .items
        .into_iter()
        .filter_map(|o| o.metadata.name)
        .filter(|n| n.len() == 1)
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn label_selectors() {
    let c = cluster().await;
    let api: Api<ConfigMap> = Api::namespaced(c.client.clone(), &c.ns);
    seed(&api).await;
    let cases = [
        ("app=web", vec!["a", "b"]),
        ("app==web", vec!["a", "b"]),
        ("app!=web", vec!["c", "d"]),
        ("app in (web,db)", vec!["a", "b", "c"]),
        ("app notin (web)", vec!["c", "d"]),
        ("tier", vec!["a", "b"]),
        ("!tier", vec!["c", "d"]),
        ("app=web,tier=back", vec!["b"]),
    ];
    for (sel, want) in cases {
        let got = names(&api, &ListParams::default().labels(sel)).await;
        assert_eq!(got, want, "selector {sel}");
    }
    let s = status_of(
        api.list(&ListParams::default().labels("app in (web"))
            .await
            .expect_err("bad selector"),
    );
    assert_eq!(s.code, 400);
}

#[tokio::test]
async fn field_selectors() {
    let c = cluster().await;
    let api: Api<ConfigMap> = Api::namespaced(c.client.clone(), &c.ns);
    seed(&api).await;
    assert_eq!(
        names(&api, &ListParams::default().fields("metadata.name=c")).await,
        vec!["c"]
    );
    assert_eq!(
        names(&api, &ListParams::default().fields("metadata.name!=c")).await,
        vec!["a", "b", "d"]
    );
    let all: Api<ConfigMap> = Api::all(c.client.clone());
    let ns_sel = format!("metadata.namespace={}", c.ns);
    assert_eq!(
        names(&all, &ListParams::default().fields(&ns_sel)).await,
        vec!["a", "b", "c", "d"]
    );
    let s = status_of(
        api.list(&ListParams::default().fields("data.k=v"))
            .await
            .expect_err("unsupported field"),
    );
    assert_eq!(s.code, 400);
    assert!(
        s.message.contains("field label not supported: data.k"),
        "{}",
        s.message
    );

    // Pods: spec.nodeName and status.phase. The pod is bound to a node that does not exist, so
    // nothing (no kubelet) changes its status behind our back.
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), &c.ns);
    for (n, node) in [("p1", "ghost-node-1"), ("p2", "ghost-node-2")] {
        let p: Pod = serde_json::from_value(json!({"metadata": {"name": n},
            "spec": {"nodeName": node, "containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}]}}))
            .expect("pod");
        pods.create(&PostParams::default(), &p)
            .await
            .expect("create pod");
    }
    let by_node = pods
        .list(&ListParams::default().fields("spec.nodeName=ghost-node-2"))
        .await
        .expect("list");
    assert_eq!(by_node.items.len(), 1);
    assert_eq!(by_node.items[0].metadata.name.as_deref(), Some("p2"));
    pods.patch_status(
        "p1",
        &PatchParams::default(),
        &Patch::Merge(json!({"status": {"phase": "Failed"}})),
    )
    .await
    .expect("status");
    let failed = pods
        .list(&ListParams::default().fields("status.phase=Failed"))
        .await
        .expect("list");
    let got: Vec<_> = failed
        .items
        .iter()
        .filter_map(|p| p.metadata.name.clone())
        .collect();
    assert_eq!(got, vec!["p1".to_string()]);
}

#[tokio::test]
async fn limit_and_continue() {
    let c = cluster().await;
    let api: Api<ConfigMap> = Api::namespaced(c.client.clone(), &c.ns);
    for i in 0..7 {
        let o: ConfigMap = serde_json::from_value(
            json!({"metadata": {"name": format!("page-{i}"), "labels": {"paged": "yes"}}}),
        )
        .expect("cm");
        api.create(&PostParams::default(), &o)
            .await
            .expect("create");
    }
    let mut lp = ListParams::default().labels("paged=yes").limit(3);
    let mut seen = Vec::new();
    let mut pages = 0;
    let mut first_rv = None;
    loop {
        let page = api.list(&lp).await.expect("page");
        pages += 1;
        first_rv.get_or_insert(page.metadata.resource_version.clone());
        seen.extend(page.items.into_iter().filter_map(|o| o.metadata.name));
        match page.metadata.continue_.filter(|s| !s.is_empty()) {
            Some(tok) => {
                if pages == 1 {
                    // ListMeta: with a label or field selector the number of remaining items
                    // is unknown and remainingItemCount is omitted.
                    assert_eq!(page.metadata.remaining_item_count, None);
                }
                lp = lp.continue_token(&tok);
            }
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 7);
    // Without a selector the server knows how many items follow the page.
    let total = api
        .list(&ListParams::default())
        .await
        .expect("list")
        .items
        .len();
    let first = api
        .list(&ListParams::default().limit(3))
        .await
        .expect("first page");
    assert_eq!(first.metadata.remaining_item_count, Some(total as i64 - 3));
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(seen, sorted, "lists are ordered by name");
}

#[tokio::test]
async fn expired_continue_is_410() {
    let Some(c) = sim_cluster(default_builder().history(5)).await else {
        return;
    };
    let api: Api<ConfigMap> = Api::namespaced(c.client.clone(), &c.ns);
    for i in 0..4 {
        let o: ConfigMap =
            serde_json::from_value(json!({"metadata": {"name": format!("e{i}")}})).expect("cm");
        api.create(&PostParams::default(), &o)
            .await
            .expect("create");
    }
    let page = api
        .list(&ListParams::default().limit(2))
        .await
        .expect("page");
    let tok = page.metadata.continue_.expect("continue");
    c.sim().restart();
    let s = status_of(
        api.list(&ListParams::default().limit(2).continue_token(&tok))
            .await
            .expect_err("410"),
    );
    assert_eq!((s.code, s.reason.as_str()), (410, "Expired"));
    assert!(
        s.message
            .starts_with("The provided continue parameter is too old")
    );
}

#[tokio::test]
async fn list_resource_version_zero_and_exact() {
    let c = cluster().await;
    let api: Api<ConfigMap> = Api::namespaced(c.client.clone(), &c.ns);
    seed(&api).await;
    let any = api
        .list(&ListParams::default().match_any())
        .await
        .expect("rv=0");
    assert!(any.items.len() >= 4);
    let rv: u64 = any
        .metadata
        .resource_version
        .as_deref()
        .expect("rv")
        .parse()
        .expect("num");
    assert!(rv > 0);
}

#[tokio::test]
async fn metadata_only_lists() {
    let c = cluster().await;
    let api: Api<ConfigMap> = Api::namespaced(c.client.clone(), &c.ns);
    seed(&api).await;
    let l = api
        .list_metadata(&ListParams::default().labels("app=web"))
        .await
        .expect("metadata list");
    let mut names: Vec<String> = l
        .items
        .into_iter()
        .filter_map(|o| o.metadata.name)
        .collect();
    names.sort();
    assert_eq!(names, vec!["a", "b"]);
    let one = api.get_metadata("c").await.expect("metadata get");
    assert_eq!(
        one.metadata
            .labels
            .unwrap_or_default()
            .get("app")
            .map(String::as_str),
        Some("db")
    );
}
