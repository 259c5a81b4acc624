//! Events: one store behind core/v1 and events.k8s.io/v1 (kube's Recorder writes
//! events.k8s.io/v1 and PATCHes the series on repeats; core clients, `kubectl get events` and
//! `kubectl describe` see the same objects), field selectors of each group, watches across the
//! groups, and the apiserver's validation (422).

use crate::common;

use std::time::Duration;

use common::{cluster, status_of};
use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Event as CoreEvent;
use k8s_openapi::api::events::v1::Event as NewEvent;
use kube::Resource;
use kube::api::{
    Api, DynamicObject, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use serde_json::{Value, json};

fn recorder(client: &kube::Client) -> Recorder {
    Recorder::new(
        client.clone(),
        Reporter {
            controller: "cryptojack.dev/operator".into(),
            instance: Some("cryptojack-0".into()),
        },
    )
}

fn scaled() -> Event {
    Event {
        type_: EventType::Normal,
        reason: "Scaled".into(),
        note: Some("Scaled Deployment web from 3 to 0".into()),
        action: "Scale".into(),
        secondary: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recorder_events_show_in_core_lists_kubectl_get_and_describe() {
    let c = cluster().await;
    let deps: Api<Deployment> = Api::namespaced(c.client.clone(), &c.ns);
    let d = common::create_pause_deployment(&deps, "web", 1).await;
    let reference = d.object_ref(&());
    let rec = recorder(&c.client);
    rec.publish(&scaled(), &reference).await.expect("publish");
    // A repeat: kube PATCHes the series of the same Event.
    rec.publish(&scaled(), &reference)
        .await
        .expect("publish again");

    let core: Api<CoreEvent> = Api::namespaced(c.client.clone(), &c.ns);
    let selector = format!(
        "involvedObject.name=web,involvedObject.kind=Deployment,involvedObject.uid={}",
        d.metadata.uid.as_deref().expect("uid")
    );
    let list = core
        .list(&ListParams::default().fields(&selector))
        .await
        .expect("core list");
    assert_eq!(list.items.len(), 1, "{list:?}");
    let ev = &list.items[0];
    assert_eq!(
        ev.message.as_deref(),
        Some("Scaled Deployment web from 3 to 0")
    );
    assert_eq!(ev.reason.as_deref(), Some("Scaled"));
    assert_eq!(
        ev.reporting_component.as_deref(),
        Some("cryptojack.dev/operator")
    );
    assert_eq!(ev.reporting_instance.as_deref(), Some("cryptojack-0"));
    assert_eq!(ev.series.as_ref().map(|s| s.count), Some(Some(2)));
    assert_eq!(ev.involved_object.name.as_deref(), Some("web"));

    // The same object through events.k8s.io/v1 (same name and resourceVersion: one store).
    let new: Api<NewEvent> = Api::namespaced(c.client.clone(), &c.ns);
    let list = new
        .list(
            &ListParams::default()
                .fields("regarding.name=web,reportingController=cryptojack.dev/operator"),
        )
        .await
        .expect("events.k8s.io list");
    assert_eq!(list.items.len(), 1);
    assert_eq!(list.items[0].metadata.name, ev.metadata.name);
    assert_eq!(
        list.items[0].metadata.resource_version,
        ev.metadata.resource_version
    );
    assert_eq!(list.items[0].note.as_deref(), ev.message.as_deref());
    // events.k8s.io has its own field labels.
    let s = status_of(
        new.list(&ListParams::default().fields("involvedObject.name=web"))
            .await
            .expect_err("400"),
    );
    assert_eq!(s.code, 400);
    assert_eq!(s.message, "field label not supported: involvedObject.name");

    let out = c.kubectl_ok(&["get", "events"]);
    let line = out
        .lines()
        .find(|l| l.contains("deployment/web"))
        .unwrap_or_else(|| panic!("no event line in:\n{out}"));
    assert!(line.contains("Normal") && line.contains("Scaled"), "{line}");
    assert!(line.contains("Scaled Deployment web from 3 to 0"), "{line}");
    let out = c.kubectl_ok(&["describe", "deployment", "web"]);
    let events = out
        .split("Events:")
        .nth(1)
        .unwrap_or_else(|| panic!("no Events section in:\n{out}"));
    assert!(
        events.contains("Scaled") && events.contains("Scaled Deployment web from 3 to 0"),
        "{events}"
    );
    assert!(events.contains("cryptojack.dev/operator"), "{events}");
}

#[tokio::test]
async fn watches_of_each_group_see_the_events_of_the_other() {
    let c = cluster().await;
    let core: Api<CoreEvent> = Api::namespaced(c.client.clone(), &c.ns);
    let new: Api<NewEvent> = Api::namespaced(c.client.clone(), &c.ns);
    let rv = core
        .list(&ListParams::default())
        .await
        .expect("list")
        .metadata
        .resource_version
        .expect("rv");
    let mut core_watch = std::pin::pin!(
        core.watch(&WatchParams::default().timeout(10), &rv)
            .await
            .expect("watch")
    );
    let mut new_watch = std::pin::pin!(
        new.watch(&WatchParams::default().timeout(10), &rv)
            .await
            .expect("watch")
    );
    // Written through events.k8s.io...
    let e1: NewEvent = serde_json::from_value(json!({
        "metadata": {"name": "via-new"},
        "eventTime": "2026-01-01T00:00:00.000000Z", "reportingController": "cryptojack.dev/operator",
        "reportingInstance": "i", "action": "Evict", "reason": "Evicted", "type": "Warning",
        "note": "evicted", "regarding": {"kind": "Pod", "name": "p", "namespace": c.ns}
    }))
    .expect("event");
    new.create(&PostParams::default(), &e1)
        .await
        .expect("create new");
    // ...and through core/v1.
    let e2: CoreEvent = serde_json::from_value(json!({
        "metadata": {"name": "via-core"}, "message": "old style", "reason": "Pulled", "type": "Normal",
        "count": 3, "source": {"component": "kubelet"},
        "involvedObject": {"kind": "Pod", "name": "p", "namespace": c.ns}
    }))
    .expect("event");
    core.create(&PostParams::default(), &e2)
        .await
        .expect("create core");
    let mut core_seen = Vec::new();
    while core_seen.len() < 2 {
        match tokio::time::timeout(Duration::from_secs(5), core_watch.next()).await {
            Ok(Some(Ok(WatchEvent::Added(e)))) => core_seen.push(e),
            Ok(Some(Ok(_))) => {}
            other => panic!("core watch: {other:?}"),
        }
    }
    assert_eq!(core_seen[0].metadata.name.as_deref(), Some("via-new"));
    assert_eq!(core_seen[0].message.as_deref(), Some("evicted"));
    assert_eq!(
        core_seen[0].reporting_component.as_deref(),
        Some("cryptojack.dev/operator")
    );
    let mut new_seen = Vec::new();
    while new_seen.len() < 2 {
        match tokio::time::timeout(Duration::from_secs(5), new_watch.next()).await {
            Ok(Some(Ok(WatchEvent::Added(e)))) => new_seen.push(e),
            Ok(Some(Ok(_))) => {}
            other => panic!("events.k8s.io watch: {other:?}"),
        }
    }
    assert_eq!(new_seen[1].metadata.name.as_deref(), Some("via-core"));
    assert_eq!(new_seen[1].note.as_deref(), Some("old style"));
    assert_eq!(new_seen[1].deprecated_count, Some(3));
    assert_eq!(
        new_seen[1]
            .deprecated_source
            .as_ref()
            .and_then(|s| s.component.as_deref()),
        Some("kubelet")
    );
    assert_eq!(
        new_seen[1]
            .regarding
            .as_ref()
            .and_then(|r| r.name.as_deref()),
        Some("p")
    );
}

#[tokio::test]
async fn invalid_events_are_rejected_as_the_apiserver_does() {
    let c = cluster().await;
    let new: Api<DynamicObject> = Api::namespaced_with(
        c.client.clone(),
        &c.ns,
        &kube::api::ApiResource::erase::<NewEvent>(&()),
    );
    let post = |v: Value| {
        let new = new.clone();
        async move {
            let ev: DynamicObject = serde_json::from_value(v).expect("event");
            new.create(&PostParams::default(), &ev).await
        }
    };
    // events.k8s.io/v1 is strict: eventTime, reportingController, ... and a known type.
    let s = status_of(
        post(json!({"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "bad"},
            "reason": "Scaled", "type": "Info", "regarding": {"kind": "Pod", "name": "p", "namespace": c.ns}}))
        .await
        .expect_err("422"),
    );
    assert_eq!((s.code, s.reason.as_str()), (422, "Invalid"));
    assert_eq!(
        s.message,
        "Event \"bad\" is invalid: [eventTime: Required value, type: Invalid value: \"\": has invalid value: Info]"
    );
    let details = s.details.expect("details");
    assert_eq!(
        (details.kind.as_str(), details.name.as_str()),
        ("Event", "bad")
    );
    assert_eq!(details.causes[0].reason, "FieldValueRequired");
    assert_eq!(details.causes[0].field, "eventTime");
    // With an eventTime the reporting fields are required, the note is at most 1 kB.
    let s = status_of(
        post(json!({"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "bad2"},
            "eventTime": "2026-01-01T00:00:00.000000Z", "reason": "Scaled", "type": "Normal",
            "note": "x".repeat(1025), "regarding": {"kind": "Pod", "name": "p", "namespace": c.ns}}))
        .await
        .expect_err("422"),
    );
    assert_eq!(
        s.message,
        "Event \"bad2\" is invalid: [reportingController: Required value, reportingController: Invalid value: \"\": name part must be non-empty, reportingInstance: Required value, action: Required value, message: Invalid value: \"\": can have at most 1024 characters]"
    );
    // core/v1 only applies the legacy rules: an old-style event without eventTime is fine...
    let core: Api<CoreEvent> = Api::namespaced(c.client.clone(), &c.ns);
    let ok: CoreEvent = serde_json::from_value(json!({"metadata": {"name": "legacy"},
        "reason": "Pulled", "message": "m", "involvedObject": {"kind": "Pod", "name": "p", "namespace": c.ns}}))
    .expect("event");
    core.create(&PostParams::default(), &ok)
        .await
        .expect("legacy event");
    // ...but not one about an object of another namespace.
    let other: CoreEvent = serde_json::from_value(json!({"metadata": {"name": "elsewhere"},
        "reason": "Pulled", "involvedObject": {"kind": "Pod", "name": "p", "namespace": "kube-system"}}))
    .expect("event");
    let s = status_of(
        core.create(&PostParams::default(), &other)
            .await
            .expect_err("422"),
    );
    assert_eq!(
        s.message,
        "Event \"elsewhere\" is invalid: involvedObject.namespace: Invalid value: \"kube-system\": does not match event.namespace"
    );
    // Through events.k8s.io the note of an existing event is immutable; the series is not.
    let rec = recorder(&c.client);
    let deps: Api<Deployment> = Api::namespaced(c.client.clone(), &c.ns);
    let d = common::create_pause_deployment(&deps, "web", 0).await;
    rec.publish(&scaled(), &d.object_ref(&()))
        .await
        .expect("publish");
    let typed: Api<NewEvent> = Api::namespaced(c.client.clone(), &c.ns);
    let name = typed
        .list(&ListParams::default().fields("regarding.name=web"))
        .await
        .expect("list")
        .items[0]
        .metadata
        .name
        .clone()
        .expect("name");
    let s = status_of(
        typed
            .patch(
                &name,
                &PatchParams::default(),
                &Patch::Merge(json!({"note": "rewritten"})),
            )
            .await
            .expect_err("422"),
    );
    assert_eq!(
        s.message,
        format!(
            "Event \"{name}\" is invalid: message: Invalid value: \"rewritten\": field is immutable"
        )
    );
    let patched = typed
        .patch(
            &name,
            &PatchParams::default(),
            &Patch::Merge(
                json!({"series": {"count": 5, "lastObservedTime": "2026-01-01T00:00:09.000000Z"}}),
            ),
        )
        .await
        .expect("series update");
    assert_eq!(patched.series.map(|s| s.count), Some(5));
}
