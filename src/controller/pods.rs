//! The pod watch: every pod of every namespace through the detection engine, and what
//! it finds recorded as incidents (one per offending top-level workload).
//!
//! Memory: nothing is kept per benign pod. Per offending pod, the fingerprint of what
//! was recorded (so status-only updates of a recorded pod cost no API call).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::api::{Api, ListParams, PostParams};
use kube::core::DeserializeGuard;
use kube::runtime::WatchStreamExt;
use kube::runtime::events::EventType;
use kube::runtime::watcher::{self, Event};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::context::Context;
use super::error::{Error, Result, is_conflict, is_not_found};
use super::owners::{self, Ownership};
use crate::api::common::fnv1a64;
use crate::api::{
    AffectedPod, Category, CryptojackIncident, CryptojackIncidentSpec, Finding, INCIDENT_FINALIZER,
    IncidentPhase, IncidentSource, LABEL_OWNER_UID, MAX_FINDINGS, MAX_IMAGES, MAX_PODS,
    MAX_POLICIES, MAX_TOP_INDICATOR_CHARS, RequestedResources, ResolutionState, Severity, bounded,
    incident_name_nth,
};
use crate::detect::{
    EvalContext, NamespaceLabels, PodView, Verdict, Workload, is_placement_context,
};

/// What was recorded per offending pod (pod UID → fingerprint of its findings).
#[derive(Default)]
pub struct Recorded {
    pods: Mutex<HashMap<String, u64>>,
    /// Serialises the writes to one owner's incident.
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl Recorded {
    fn seen(&self, uid: &str, fingerprint: u64) -> bool {
        self.pods
            .lock()
            .map(|m| m.get(uid) == Some(&fingerprint))
            .unwrap_or(false)
    }

    fn remember(&self, uid: &str, fingerprint: u64) {
        if let Ok(mut m) = self.pods.lock() {
            m.insert(uid.to_string(), fingerprint);
        }
    }

    fn forget(&self, uid: &str) {
        if let Ok(mut m) = self.pods.lock() {
            m.remove(uid);
        }
    }

    /// Forget everything (after a policy change: every pod is evaluated again).
    pub fn clear(&self) {
        if let Ok(mut m) = self.pods.lock() {
            m.clear();
        }
    }

    fn lock_for(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        match self.locks.lock() {
            Ok(mut m) => {
                if m.len() > 10_000 {
                    m.retain(|_, l| Arc::strong_count(l) > 1);
                }
                m.entry(key.to_string()).or_default().clone()
            }
            Err(_) => Arc::new(tokio::sync::Mutex::new(())),
        }
    }
}

/// What was recorded of a pod: its findings and the node it was bound to (a pod first seen
/// unscheduled is recorded again once bound, so that the incident names its node).
fn fingerprint(findings: &[Finding], node: Option<&str>) -> u64 {
    let mut prints: Vec<String> = findings.iter().map(Finding::fingerprint).collect();
    prints.sort();
    prints.push(format!("node={}", node.unwrap_or_default()));
    fnv1a64(prints.join("\n").as_bytes())
}

/// Runs the pod watch until `token` is cancelled.
pub async fn run(ctx: Arc<Context>, recorded: Arc<Recorded>, token: CancellationToken) {
    let api: Api<DeserializeGuard<Pod>> = Api::all(ctx.client.clone());
    let stream = watcher::watcher(api, watcher::Config::default().any_semantic()).default_backoff();
    let mut stream = std::pin::pin!(stream);
    let limit = Arc::new(Semaphore::new(16));
    loop {
        let next = tokio::select! {
            _ = token.cancelled() => return,
            n = stream.next() => n,
        };
        let Some(event) = next else { return };
        let arrival = Instant::now();
        match event {
            Ok(Event::Apply(DeserializeGuard(Ok(pod)))) => {
                on_pod(
                    &ctx,
                    &recorded,
                    &limit,
                    pod,
                    arrival,
                    IncidentSource::Watch,
                    &token,
                )
                .await
            }
            Ok(Event::InitApply(DeserializeGuard(Ok(pod)))) => {
                on_pod(
                    &ctx,
                    &recorded,
                    &limit,
                    pod,
                    arrival,
                    IncidentSource::Scan,
                    &token,
                )
                .await
            }
            Ok(
                Event::Apply(DeserializeGuard(Err(bad)))
                | Event::InitApply(DeserializeGuard(Err(bad))),
            ) => {
                ctx.metrics.error("pods", "decode");
                tracing::warn!(
                    pod = %format!("{}/{}", bad.metadata.namespace.as_deref().unwrap_or(""), bad.metadata.name.as_deref().unwrap_or("")),
                    error = %bad.error,
                    "skipping a pod that does not decode"
                );
            }
            Ok(Event::Delete(DeserializeGuard(Ok(pod)))) => {
                if let Some(uid) = &pod.metadata.uid {
                    recorded.forget(uid);
                }
            }
            Ok(Event::Delete(DeserializeGuard(Err(_)))) | Ok(Event::Init) | Ok(Event::InitDone) => {
            }
            Err(e) => {
                ctx.metrics.error("pods", "watch");
                tracing::warn!(error = %e, "pod watch error; the watcher retries with backoff");
            }
        }
    }
}

/// Lists every pod again and evaluates it (after a policy change), page by page.
pub async fn sweep(
    ctx: &Arc<Context>,
    recorded: &Arc<Recorded>,
    token: &CancellationToken,
) -> Result<usize> {
    let api: Api<DeserializeGuard<Pod>> = Api::all(ctx.client.clone());
    let limit = Arc::new(Semaphore::new(16));
    let mut lp = ListParams::default().limit(500);
    let mut n = 0;
    loop {
        let page = api.list(&lp).await.map_err(Error::read("pods (sweep)"))?;
        for DeserializeGuard(pod) in page.items {
            if token.is_cancelled() {
                return Err(Error::Cancelled);
            }
            if let Ok(pod) = pod {
                n += 1;
                on_pod(
                    ctx,
                    recorded,
                    &limit,
                    pod,
                    Instant::now(),
                    IncidentSource::Scan,
                    token,
                )
                .await;
            }
        }
        match page.metadata.continue_ {
            Some(c) if !c.is_empty() => lp = lp.continue_token(&c),
            _ => break,
        }
    }
    Ok(n)
}

async fn namespace_labels(ctx: &Context, ns: &str) -> Option<BTreeMap<String, String>> {
    if let Some(l) = ctx.namespace_labels(ns) {
        return Some(l);
    }
    // A pod in a namespace the cache has not seen yet: ask (never guess).
    let api: Api<Namespace> = Api::all(ctx.client.clone());
    match api.get_metadata_opt(ns).await {
        Ok(Some(n)) => Some(n.metadata.labels.unwrap_or_default()),
        Ok(None) => None,
        Err(e) => {
            tracing::warn!(namespace = ns, error = %e, "cannot read the namespace's labels");
            None
        }
    }
}

/// Evaluates one pod; when it has findings not yet recorded, records them in the
/// background (bounded concurrency; the watch is never blocked for long).
async fn on_pod(
    ctx: &Arc<Context>,
    recorded: &Arc<Recorded>,
    limit: &Arc<Semaphore>,
    pod: Pod,
    arrival: Instant,
    source: IncidentSource,
    token: &CancellationToken,
) {
    ctx.metrics.pods_evaluated.inc();
    let Some(uid) = pod.metadata.uid.clone() else {
        return;
    };
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    let set = ctx.policy_set();
    if set.is_empty() {
        return;
    }
    let Some(namespace) = namespace_labels(ctx, &ns).await else {
        return;
    };
    let mut view = PodView::from_pod(&pod);
    if !view.resource_claims.is_empty() {
        resolve_claims(ctx, &ns, &mut view).await;
    }
    let labels = Labels {
        node: view.node_name.as_deref().and_then(|n| ctx.node_labels(n)),
        namespace,
    };
    let verdict = set.evaluate(&view, &labels.context(None));
    if verdict.is_empty() {
        return;
    }
    let fp = fingerprint(&verdict.findings, view.node_name.as_deref());
    if recorded.seen(&uid, fp) {
        return;
    }
    let Ok(permit) = limit.clone().acquire_owned().await else {
        return;
    };
    let ctx = ctx.clone();
    let recorded = recorded.clone();
    let token = token.clone();
    tokio::spawn(async move {
        let _permit = permit;
        let mut delay = std::time::Duration::from_millis(200);
        for attempt in 1..=6 {
            if token.is_cancelled() {
                return;
            }
            match record(
                &ctx,
                &recorded,
                &pod,
                &labels,
                view.clone(),
                arrival,
                source,
            )
            .await
            {
                Ok(()) => {
                    recorded.remember(&uid, fp);
                    return;
                }
                Err(e) => {
                    ctx.metrics.error("pods", e.metric_label());
                    tracing::warn!(pod = %format!("{ns}/{}", pod.metadata.name.as_deref().unwrap_or("")), attempt, error = %e, "recording the incident failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(std::time::Duration::from_secs(10));
                }
            }
        }
        // Not remembered: the next event of this pod (or the next sweep) tries again.
        tracing::error!(pod = %format!("{ns}/{}", pod.metadata.name.as_deref().unwrap_or("")), "gave up recording an incident for now");
    });
}

/// The labels detection reads beyond the pod: its namespace's, and its node's once it is
/// bound to one.
struct Labels {
    namespace: BTreeMap<String, String>,
    node: Option<BTreeMap<String, String>>,
}

impl Labels {
    fn context<'a>(&'a self, workload: Option<Workload<'a>>) -> EvalContext<'a> {
        EvalContext {
            namespace_labels: NamespaceLabels::Known(&self.namespace),
            workload,
            node_labels: self.node.as_ref(),
        }
    }
}

/// Fills in what a pod's DRA claims ask for, from the ResourceClaims and
/// ResourceClaimTemplates they name (read as dynamic objects: DRA is newer than the
/// Kubernetes version the typed client is built for).
async fn resolve_claims(ctx: &Context, ns: &str, view: &mut PodView) {
    use crate::detect::{ClaimSource, DeviceRequestView, device_requests};
    let Some(version) = ctx.dra.read().ok().and_then(|d| d.clone()) else {
        tracing::debug!(
            "pod claims DRA devices but the cluster serves no resource.k8s.io ResourceClaims"
        );
        return;
    };
    let mut found: BTreeMap<(bool, String), Vec<DeviceRequestView>> = BTreeMap::new();
    for c in &view.resource_claims {
        let (template, name) = match &c.source {
            ClaimSource::Claim(n) => (false, n.clone()),
            ClaimSource::Template(n) => (true, n.clone()),
            ClaimSource::Unknown => continue,
        };
        let kind = if template {
            "ResourceClaimTemplate"
        } else {
            "ResourceClaim"
        };
        let ar = kube::api::ApiResource {
            group: "resource.k8s.io".into(),
            version: version.clone(),
            api_version: format!("resource.k8s.io/{version}"),
            kind: kind.into(),
            plural: if template {
                "resourceclaimtemplates"
            } else {
                "resourceclaims"
            }
            .into(),
        };
        let api: Api<kube::api::DynamicObject> = Api::namespaced_with(ctx.client.clone(), ns, &ar);
        match api.get_opt(&name).await {
            Ok(Some(o)) => {
                let mut v = serde_json::to_value(&o).unwrap_or_default();
                v["kind"] = serde_json::json!(kind);
                found.insert((template, name), device_requests(&v));
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(error = %super::error::describe(&e), "reading {kind} {ns}/{name}")
            }
        }
    }
    view.resolve_claims(|source| match source {
        ClaimSource::Claim(n) => found.get(&(false, n.clone())).cloned(),
        ClaimSource::Template(n) => found.get(&(true, n.clone())).cloned(),
        ClaimSource::Unknown => None,
    });
}

/// The ResourceQuota resource name that counts a device class's devices.
pub fn device_class_quota(class: &str) -> String {
    format!("{class}.deviceclass.resource.k8s.io/devices")
}

fn forged_finding(ownership: &Ownership) -> Option<Finding> {
    let (claimed, reason) = ownership.forged.as_ref()?;
    Some(Finding {
        rule: "operator/forged-owner".into(),
        category: Category::KnownIoc,
        severity: Severity::High,
        container: None,
        field: "metadata.ownerReferences".into(),
        evidence: bounded(
            &format!("claims {} {}: {reason}", claimed.kind, claimed.name),
            120,
        ),
        policies: Vec::new(),
    })
}

fn requested(pod: &Pod, view: &PodView, set: &crate::detect::PolicySet) -> RequestedResources {
    let mut out = RequestedResources::default();
    // DRA: devices of GPU classes, counted as the quota counts them
    for claim in &view.resource_claims {
        for d in &claim.devices {
            if set.policies().iter().any(|p| p.is_gpu_request(d)) {
                *out.gpus
                    .entry(device_class_quota(&d.device_class))
                    .or_default() += d.count.unwrap_or(1).max(1);
            }
        }
    }
    let Some(spec) = &pod.spec else { return out };
    for c in &spec.containers {
        let Some(res) = &c.resources else { continue };
        let req = res.requests.clone().unwrap_or_default();
        let lim = res.limits.clone().unwrap_or_default();
        if let Some(q) = req.get("cpu").or_else(|| lim.get("cpu")) {
            out.cpu_millicores += crate::quantity::millis(&q.0).unwrap_or(0);
        }
        let mut names: BTreeSet<&String> = req.keys().collect();
        names.extend(lim.keys());
        for name in names {
            if set.policies().iter().any(|p| p.is_gpu_resource(name)) {
                let q = req.get(name).or_else(|| lim.get(name));
                let n = q.and_then(|q| crate::quantity::count(&q.0)).unwrap_or(0);
                if n > 0 {
                    *out.gpus.entry(name.clone()).or_default() += n;
                }
            }
        }
    }
    out
}

fn images(pod: &Pod) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    if let Some(spec) = &pod.spec {
        let all = spec
            .init_containers
            .iter()
            .flatten()
            .chain(spec.containers.iter())
            .filter_map(|c| c.image.clone())
            .chain(
                spec.ephemeral_containers
                    .iter()
                    .flatten()
                    .filter_map(|c| c.image.clone()),
            );
        for i in all {
            if !out.contains(&i) {
                out.push(i);
            }
        }
    }
    out
}

fn affected(pod: &Pod) -> AffectedPod {
    AffectedPod {
        name: pod.metadata.name.clone().unwrap_or_default(),
        uid: pod.metadata.uid.clone().unwrap_or_default(),
        node: pod.spec.as_ref().and_then(|s| s.node_name.clone()),
        created_at: pod.metadata.creation_timestamp.clone(),
    }
}

/// Adds what is new to an incident's facts (append-only lists, bounded). True when
/// something changed.
fn append(
    spec: &mut CryptojackIncidentSpec,
    pod: &Pod,
    verdict: &Verdict,
    req: &RequestedResources,
) -> bool {
    let mut changed = false;
    let p = affected(pod);
    // a listed pod that was not bound to a node when it was recorded: its node now (the pod
    // watch sees every binding; `fingerprint` includes the node so that a binding is recorded)
    if let Some(node) = &p.node {
        if let Some(listed) = spec.pods.iter_mut().find(|x| x.uid == p.uid)
            && listed.node.is_none()
        {
            listed.node = Some(node.clone());
            changed = true;
        }
        if spec.node_name.is_none() {
            spec.node_name = Some(node.clone());
            changed = true;
        }
    }
    if !spec.pods.iter().any(|x| x.uid == p.uid) && !spec.findings.is_empty() {
        // a pod not listed yet (listed only while there is room; counted always)
        spec.pod_count += 1;
        if spec.pods.len() < MAX_PODS {
            spec.pods.push(p);
        }
        spec.requested.cpu_millicores += req.cpu_millicores;
        for (k, v) in &req.gpus {
            *spec.requested.gpus.entry(k.clone()).or_default() += v;
        }
        changed = true;
    }
    for image in images(pod) {
        if !spec.images.contains(&image) && spec.images.len() < MAX_IMAGES {
            spec.images.push(image);
            changed = true;
        }
    }
    for f in &verdict.findings {
        let known = spec
            .findings
            .iter()
            .any(|g| g.rule == f.rule && g.field == f.field && g.evidence == f.evidence);
        match known {
            true => {}
            false if spec.findings.len() < MAX_FINDINGS => {
                spec.findings.push(f.clone());
                changed = true;
            }
            false => {
                if !spec.findings_truncated {
                    spec.findings_truncated = true;
                    changed = true;
                }
            }
        }
    }
    for p in &verdict.policies {
        if !spec.policies.contains(p) && spec.policies.len() < MAX_POLICIES {
            spec.policies.push(p.clone());
            changed = true;
        }
    }
    if let Some(s) = verdict.severity()
        && s > spec.severity
    {
        spec.severity = s;
        spec.top_indicator = top_indicator(&verdict.findings);
        changed = true;
    }
    changed
}

fn top_indicator(findings: &[Finding]) -> String {
    findings
        .first()
        .map(|f| {
            bounded(
                &format!("{}: {}", f.rule, f.evidence),
                MAX_TOP_INDICATOR_CHARS,
            )
        })
        .unwrap_or_default()
}

/// The owner's incidents, newest last: (n, incident).
async fn incidents_of(
    api: &Api<CryptojackIncident>,
    owner_uid: &str,
) -> Result<Vec<(u32, CryptojackIncident)>> {
    let lp = ListParams::default().labels(&format!("{LABEL_OWNER_UID}={owner_uid}"));
    let list = api
        .list(&lp)
        .await
        .map_err(Error::read(format!("incidents of owner {owner_uid}")))?;
    let mut out: Vec<(u32, CryptojackIncident)> = list
        .items
        .into_iter()
        .map(|i| {
            let n = i
                .metadata
                .name
                .as_deref()
                .and_then(|n| n.rsplit_once('-'))
                .and_then(|(_, s)| s.parse::<u32>().ok())
                .filter(|n| *n >= 2)
                .unwrap_or(1);
            (n, i)
        })
        .collect();
    out.sort_by_key(|(n, _)| *n);
    Ok(out)
}

/// Records `pod`'s findings in its workload's incident: created once (deterministic
/// name from the top owner's UID; a 409 means another writer did it), appended to after.
async fn record(
    ctx: &Arc<Context>,
    recorded: &Recorded,
    pod: &Pod,
    labels: &Labels,
    view: PodView,
    arrival: Instant,
    source: IncidentSource,
) -> Result<()> {
    let set = ctx.policy_set();
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    let first = set.evaluate(&view, &labels.context(None));
    let containers: Vec<String> = first
        .findings
        .iter()
        .filter_map(|f| f.container.clone())
        .collect();
    let ownership = owners::resolve(&ctx.client, pod, &containers).await?;
    // Exemptions name workloads: evaluate again now that the workload is known.
    let mut verdict = set.evaluate(
        &view,
        &labels.context(Some(Workload {
            kind: &ownership.top.kind,
            name: &ownership.top.name,
        })),
    );
    if verdict.is_empty() {
        tracing::debug!(workload = %ownership.workload(), "exempt by policy");
        return Ok(());
    }
    if let Some(f) = forged_finding(&ownership) {
        let mut f = f;
        f.policies = verdict.policies.clone();
        verdict.findings.push(f);
        verdict
            .findings
            .sort_by_key(|f| std::cmp::Reverse(f.severity));
    }
    let owner_uid = ownership.top.uid.clone().unwrap_or_default();
    let lock = recorded.lock_for(&owner_uid);
    let _guard = lock.lock().await;
    let api: Api<CryptojackIncident> = Api::namespaced(ctx.client.clone(), &ns);
    let existing = incidents_of(&api, &owner_uid).await?;
    let req = requested(pod, &view, &set);

    let mut previous: Option<String> = None;
    let mut next_n = 1;
    if let Some((n, latest)) = existing.last() {
        next_n = n + 1;
        match latest.spec.resolution.as_ref().map(|r| r.state) {
            None => return append_to(&api, latest.clone(), pod, &verdict, &req).await,
            Some(ResolutionState::FalsePositive) => {
                let exempt: BTreeSet<String> = latest
                    .spec
                    .findings
                    .iter()
                    .map(Finding::fingerprint)
                    .collect();
                // where the pods land next (another node's labels) is context, not a new
                // finding: only the others must all be exempt
                if verdict
                    .findings
                    .iter()
                    .filter(|f| !is_placement_context(f))
                    .all(|f| exempt.contains(&f.fingerprint()))
                {
                    tracing::debug!(workload = %ownership.workload(), "resolved FalsePositive for these findings");
                    return Ok(());
                }
            }
            Some(ResolutionState::Confirmed) => {}
        }
        previous = latest.metadata.name.clone();
    }
    let name = incident_name_nth(&owner_uid, next_n);
    let severity = verdict.severity().unwrap_or(Severity::Low);
    let mut findings = verdict.findings.clone();
    let truncated = findings.len() > MAX_FINDINGS;
    findings.truncate(MAX_FINDINGS);
    let detected_at = jiff::Timestamp::now();
    let mut spec = CryptojackIncidentSpec {
        workload: bounded(&ownership.workload(), 512),
        top_owner: ownership.top.clone(),
        owner_chain: ownership.chain.clone(),
        forged_owner: ownership.forged.as_ref().map(|(r, _)| r.clone()),
        service_account: Some(
            pod.spec
                .as_ref()
                .and_then(|s| s.service_account_name.clone())
                .unwrap_or_else(|| "default".into()),
        ),
        node_name: pod.spec.as_ref().and_then(|s| s.node_name.clone()),
        pods: vec![affected(pod)],
        pod_count: 1,
        images: images(pod).into_iter().take(MAX_IMAGES).collect(),
        top_indicator: top_indicator(&findings),
        findings,
        findings_truncated: truncated,
        severity,
        policies: verdict
            .policies
            .iter()
            .take(MAX_POLICIES)
            .cloned()
            .collect(),
        source,
        source_detail: None,
        detected_at: MicroTime(detected_at),
        pod_created_at: pod.metadata.creation_timestamp.clone(),
        field_manager: owners::creator(&pod.metadata),
        requested: req.clone(),
        previous_incident: previous,
        resolution: None,
    };
    spec.source_detail = match source {
        IncidentSource::Scan => {
            Some("found by a sweep over existing pods (start-up or policy change)".into())
        }
        _ => None,
    };
    let mut incident = CryptojackIncident::new(&name, spec);
    incident.metadata = ObjectMeta {
        name: Some(name.clone()),
        namespace: Some(ns.clone()),
        labels: Some([(LABEL_OWNER_UID.to_string(), owner_uid.clone())].into()),
        finalizers: Some(vec![INCIDENT_FINALIZER.to_string()]),
        ..Default::default()
    };
    let created = match api.create(&PostParams::default(), &incident).await {
        Ok(c) => c,
        Err(e) if is_conflict(&e) => {
            // another writer (or a lost response) got there first: append instead
            let current = api
                .get(&name)
                .await
                .map_err(Error::read(format!("incident {ns}/{name}")))?;
            return append_to(&api, current, pod, &verdict, &req).await;
        }
        Err(e) => {
            return Err(Error::RecordIncident {
                namespace: ns,
                name,
                source: e,
            });
        }
    };
    let latency = arrival.elapsed();
    // The status subresource drops status on create: write it at once so PHASE shows.
    let since_creation = pod
        .metadata
        .creation_timestamp
        .as_ref()
        .map(|t| detected_at.duration_since(t.0).as_secs().max(0));
    let created = super::incidents::update_status(ctx, created, |i| {
        let st = i.status.get_or_insert_with(Default::default);
        if st.detection_latency_ms.is_none() {
            st.detection_latency_ms = Some(latency.as_millis() as i64);
            st.since_pod_creation_seconds = since_creation;
        }
        true
    })
    .await?;
    ctx.metrics.detection_latency.observe(latency.as_secs_f64());
    let top = verdict.findings.first();
    ctx.metrics
        .incidents
        .get_or_create(&crate::metrics::IncidentLabels {
            category: top.map(|f| f.category.api_str()).unwrap_or("None"),
            severity: severity.api_str(),
        })
        .inc();
    tracing::warn!(incident = %format!("{ns}/{name}"), workload = %ownership.workload(), severity = severity.api_str(), indicator = %top_indicator(&verdict.findings), latency_ms = latency.as_millis() as u64, "incident recorded");
    let regarding = super::incidents::object_reference(&created, &ns, &name);
    ctx.event(
        &regarding,
        EventType::Warning,
        "CryptojackingDetected",
        "Detect",
        format!(
            "{} in {}: {}",
            severity.api_str(),
            ownership.workload(),
            top_indicator(&verdict.findings)
        ),
    )
    .await;
    Ok(())
}

async fn append_to(
    api: &Api<CryptojackIncident>,
    mut current: CryptojackIncident,
    pod: &Pod,
    verdict: &Verdict,
    req: &RequestedResources,
) -> Result<()> {
    let name = current.metadata.name.clone().unwrap_or_default();
    let ns = current.metadata.namespace.clone().unwrap_or_default();
    for attempt in 1..=5u32 {
        if current.spec.resolution.is_some()
            || current
                .status
                .as_ref()
                .is_some_and(|s| s.phase == IncidentPhase::Resolved)
        {
            return Ok(());
        }
        let mut next = current.clone();
        if !append(&mut next.spec, pod, verdict, req) {
            return Ok(());
        }
        match api.replace(&name, &PostParams::default(), &next).await {
            Ok(_) => {
                return Ok(());
            }
            Err(e) if is_conflict(&e) && attempt < 5 => {
                current = api
                    .get(&name)
                    .await
                    .map_err(Error::read(format!("incident {ns}/{name}")))?;
            }
            Err(e) if is_not_found(&e) => return Ok(()),
            Err(e) => {
                return Err(Error::RecordIncident {
                    namespace: ns,
                    name,
                    source: e,
                });
            }
        }
    }
    Err(Error::Conflict {
        namespace: ns,
        name,
        attempts: 5,
    })
}
