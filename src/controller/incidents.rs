//! The incident reconciler: the incident is the durable work queue.
//!
//! Each reconcile reads the facts (gather), plans (pure), records the plan in the
//! incident's status (every new action Pending with its undo data, written before
//! anything changes), runs each Pending action (the only writes to the cluster, through
//! `respond::execute`), and records each result before the next step. After a crash or a
//! leader change, the next leader finishes what is not Done and repeats nothing that is.
//!
//! Also here: the resolution (Confirmed closes; FalsePositive restores from the undo
//! data), the finalizer, and the tamper-resistant copies in the operator's namespace.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, MicroTime, ObjectMeta, Time};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action as Requeue, Controller};
use kube::runtime::events::EventType;
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};
use tokio_util::sync::CancellationToken;

use super::context::Context;
use super::error::{Error, Result, describe, is_conflict, is_not_found};
use super::owners;
use crate::api::{
    Action, ActionState, ActionVerb, CONDITION_CONTAINED, CONDITION_RATE_LIMITED,
    CONDITION_RESTORED, CryptojackIncident, Drift, INCIDENT_FINALIZER, IncidentPhase,
    LABEL_INCIDENT, LABEL_INCIDENT_NAMESPACE, MAX_MESSAGE_CHARS, Mode, ObjectRef, ResolutionState,
    RestoreProgress, bounded, human_ms,
};
use crate::detect::CompiledPolicy;
use crate::respond::plan::{self, ActiveJob, Facts, Hold, OwnerState};
use crate::respond::{Outcome, RunSettings, execute};

/// Label on the copies of incidents kept in the operator's namespace.
pub const LABEL_COPY: &str = "cryptojack.dev/incident-copy";

/// An `ObjectReference` to an incident (for Events).
pub fn object_reference(incident: &CryptojackIncident, ns: &str, name: &str) -> ObjectReference {
    let mut r = incident.object_ref(&());
    r.namespace = Some(ns.to_string());
    r.name = Some(name.to_string());
    r
}

fn workload_reference(top: &ObjectRef) -> ObjectReference {
    ObjectReference {
        api_version: Some(top.api_version.clone()),
        kind: Some(top.kind.clone()),
        name: Some(top.name.clone()),
        namespace: top.namespace.clone(),
        uid: top.uid.clone(),
        ..Default::default()
    }
}

/// Writes an incident's status (PUT /status with its resourceVersion). `change` edits the
/// incident and says whether anything changed; on a 409 the incident is read again and
/// `change` applied anew, so concurrent spec appends are never lost and undo data is
/// never overwritten. Returns the incident as written (or as it was, when unchanged).
pub async fn update_status<F>(
    ctx: &Context,
    incident: CryptojackIncident,
    mut change: F,
) -> Result<CryptojackIncident>
where
    F: FnMut(&mut CryptojackIncident) -> bool,
{
    let ns = incident.namespace().unwrap_or_default();
    let name = incident.name_any();
    let api: Api<CryptojackIncident> = Api::namespaced(ctx.client.clone(), &ns);
    let mut current = incident;
    for attempt in 1..=6u32 {
        let mut next = current.clone();
        if !change(&mut next) {
            return Ok(current);
        }
        if let Some(s) = next.status.as_mut() {
            s.observed_generation = next.metadata.generation;
        }
        match api
            .replace_status(&name, &PostParams::default(), &next)
            .await
        {
            Ok(written) => return Ok(written),
            Err(e) if is_conflict(&e) && attempt < 6 => {
                current = api
                    .get(&name)
                    .await
                    .map_err(Error::read(format!("incident {ns}/{name}")))?;
            }
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
        attempts: 6,
    })
}

fn set_condition(
    conditions: &mut Vec<Condition>,
    type_: &str,
    status: bool,
    reason: &str,
    message: &str,
    generation: Option<i64>,
) -> bool {
    let status_s = if status { "True" } else { "False" };
    let message = bounded(message, MAX_MESSAGE_CHARS);
    if let Some(c) = conditions.iter_mut().find(|c| c.type_ == type_) {
        if c.status == status_s && c.reason == reason && c.message == message {
            return false;
        }
        if c.status != status_s {
            c.last_transition_time = Time(jiff::Timestamp::now());
        }
        c.status = status_s.into();
        c.reason = reason.into();
        c.message = message;
        c.observed_generation = generation;
        return true;
    }
    conditions.push(Condition {
        type_: type_.into(),
        status: status_s.into(),
        reason: reason.into(),
        message,
        last_transition_time: Time(jiff::Timestamp::now()),
        observed_generation: generation,
    });
    true
}

fn remove_condition(conditions: &mut Vec<Condition>, type_: &str) -> bool {
    let before = conditions.len();
    conditions.retain(|c| c.type_ != type_);
    before != conditions.len()
}

/// The action `id` of an incident's status.
fn action_mut<'a>(i: &'a mut CryptojackIncident, id: &str) -> Option<&'a mut Action> {
    i.status
        .as_mut()
        .and_then(|s| s.actions.iter_mut().find(|a| a.id == id))
}

/// Runs the incident controller until `token` is cancelled.
/// `policies_changed` emits when the Ready policies change: every incident is planned
/// again at once (an Audit policy switched to Contain contains its incidents now).
pub async fn run(
    ctx: Arc<Context>,
    policies_changed: futures::channel::mpsc::UnboundedReceiver<()>,
    token: CancellationToken,
) {
    let api: Api<CryptojackIncident> = Api::all(ctx.client.clone());
    let copies = tokio::spawn(copy_sweeper(ctx.clone(), token.clone()));
    let controller = Controller::new(api, watcher::Config::default().any_semantic());
    let phases = tokio::spawn(phase_gauges(ctx.clone(), controller.store(), token.clone()));
    controller
        .reconcile_all_on(policies_changed)
        .graceful_shutdown_on(token.clone().cancelled_owned())
        .run(reconcile, error_policy, ctx.clone())
        .for_each(|r| {
            if let Err(e) = r {
                tracing::debug!(error = %e, "incident reconcile");
            }
            futures::future::ready(())
        })
        .await;
    copies.abort();
    phases.abort();
}

/// Keeps `cryptojack_incidents_by_phase` up to date from the reconciler's cache.
async fn phase_gauges(
    ctx: Arc<Context>,
    store: kube::runtime::reflector::Store<CryptojackIncident>,
    token: CancellationToken,
) {
    const PHASES: [IncidentPhase; 7] = [
        IncidentPhase::Detected,
        IncidentPhase::Audited,
        IncidentPhase::Containing,
        IncidentPhase::Contained,
        IncidentPhase::PartiallyContained,
        IncidentPhase::Failed,
        IncidentPhase::Resolved,
    ];
    loop {
        let mut counts: BTreeMap<&'static str, i64> =
            PHASES.iter().map(|p| (p.as_str(), 0)).collect();
        for i in store.state() {
            let phase = i.status.as_ref().map(|s| s.phase).unwrap_or_default();
            *counts.entry(phase.as_str()).or_default() += 1;
        }
        for (phase, n) in counts {
            ctx.metrics
                .incidents_by_phase
                .get_or_create(&crate::metrics::PhaseLabels { phase })
                .set(n);
        }
        tokio::select! {
            _ = token.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(5)) => {}
        }
    }
}

fn error_policy(incident: Arc<CryptojackIncident>, error: &Error, ctx: Arc<Context>) -> Requeue {
    ctx.metrics.error("incidents", error.metric_label());
    let key = format!(
        "{}/{}",
        incident.namespace().unwrap_or_default(),
        incident.name_any()
    );
    let attempts = ctx
        .backoff
        .lock()
        .map(|mut m| {
            let n = m.entry(key.clone()).or_insert(0);
            *n += 1;
            *n
        })
        .unwrap_or(1);
    let delay = Duration::from_millis(500 * 2u64.saturating_pow(attempts.min(7)));
    tracing::warn!(incident = %key, error = %error, attempts, retry_in = ?delay, "reconcile failed");
    Requeue::requeue(delay.min(Duration::from_secs(60)))
}

async fn reconcile(incident: Arc<CryptojackIncident>, ctx: Arc<Context>) -> Result<Requeue> {
    let ns = incident.namespace().unwrap_or_default();
    let name = incident.name_any();
    let span = tracing::info_span!("reconcile", incident = %format!("{ns}/{name}"));
    let _enter = span.enter();
    drop(_enter);
    let result = reconcile_inner((*incident).clone(), &ctx).await;
    if result.is_ok()
        && let Ok(mut m) = ctx.backoff.lock()
    {
        m.remove(&format!("{ns}/{name}"));
    }
    result
}

async fn reconcile_inner(mut inc: CryptojackIncident, ctx: &Arc<Context>) -> Result<Requeue> {
    let ns = inc.namespace().unwrap_or_default();
    let name = inc.name_any();
    if inc.metadata.deletion_timestamp.is_some() {
        return on_delete(ctx, inc).await;
    }
    if !inc.finalizers().iter().any(|f| f == INCIDENT_FINALIZER) {
        let api: Api<CryptojackIncident> = Api::namespaced(ctx.client.clone(), &ns);
        let mut finalizers = inc.finalizers().to_vec();
        finalizers.push(INCIDENT_FINALIZER.into());
        let patch = serde_json::json!({"metadata": {"finalizers": finalizers, "resourceVersion": inc.resource_version()}});
        inc = api
            .patch(&name, &PatchParams::default(), &Patch::Merge(patch))
            .await
            .map_err(Error::write(format!("finalizer of incident {ns}/{name}")))?;
    }
    if inc
        .status
        .as_ref()
        .is_some_and(|s| s.phase == IncidentPhase::Resolved)
    {
        save_copy(ctx, &inc).await;
        return Ok(Requeue::await_change());
    }
    if let Some(res) = inc.spec.resolution.clone()
        && res.state == ResolutionState::FalsePositive
    {
        return restore(ctx, inc).await;
    }

    let set = ctx.policy_set();
    let policies: Vec<&CompiledPolicy> = inc
        .spec
        .policies
        .iter()
        .filter_map(|p| set.get(p))
        .collect();
    if policies.is_empty() {
        // every policy that matched was deleted or is not Ready: keep the record as it is
        return Ok(Requeue::requeue(Duration::from_secs(60)));
    }
    let gathered = gather(ctx, &inc).await?;
    let top = inc.spec.top_owner.clone();
    let response = plan::merge_response(
        &policies,
        inc.spec.severity,
        &ns,
        &top.kind,
        &top.name,
        &gathered.pod_labels,
    );
    let started = inc.status.as_ref().is_some_and(|s| {
        s.actions
            .iter()
            .any(|a| a.state != ActionState::Planned && a.state != ActionState::Skipped)
    });
    let mut hold = Hold::None;
    let mut rate_wait = None;
    if ctx.dry_run {
        hold = Hold::DryRun;
    } else if response.mode == Mode::Contain && !started {
        let allowed = ctx
            .rate
            .lock()
            .map(|mut r| {
                r.try_start(
                    &response.policies,
                    response.max_incidents_per_minute,
                    &format!("{ns}/{}", inc.metadata.name.as_deref().unwrap_or_default()),
                    Instant::now(),
                )
            })
            .unwrap_or(Ok(()));
        if let Err(wait) = allowed {
            hold = Hold::RateLimited;
            rate_wait = Some(wait);
        }
    }
    let mut facts = gathered.facts.clone();
    extend_facts(ctx, &inc, &response, &gathered, &mut facts).await;
    let planned = plan::plan(&inc, &response, &facts);
    let mut drift_events = Vec::new();
    inc = update_status(ctx, inc, |i| {
        let generation = i.metadata.generation;
        let st = i.status.get_or_insert_with(Default::default);
        let (mut changed, drifts) = plan::merge(&mut st.actions, &planned, response.mode, &hold);
        if st.mode != Some(response.mode) {
            st.mode = Some(response.mode);
            changed = true;
        }
        if drifts > 0 {
            let what = planned
                .iter()
                .filter_map(|p| p.drift.clone())
                .collect::<Vec<_>>()
                .join("; ");
            let by = match &facts.owner {
                OwnerState::Replicas { manager, .. } => manager.clone(),
                _ => None,
            };
            let d = st.drift.get_or_insert_with(Drift::default);
            d.count += drifts as i32;
            d.last_at = Some(MicroTime(jiff::Timestamp::now()));
            d.what = Some(bounded(&what, MAX_MESSAGE_CHARS));
            d.by = by;
            drift_events.push(what);
            changed = true;
        }
        changed |= match &hold {
            Hold::RateLimited => set_condition(
                &mut st.conditions,
                CONDITION_RATE_LIMITED,
                true,
                "MaxIncidentsPerMinute",
                &format!(
                    "policies {} allow {} incidents per minute; containment starts in {}s",
                    response.policies.join(", "),
                    response.max_incidents_per_minute,
                    rate_wait.map(|w| w.as_secs()).unwrap_or(0)
                ),
                generation,
            ),
            _ => remove_condition(&mut st.conditions, CONDITION_RATE_LIMITED),
        };
        let phase = plan::phase_of(&st.actions, response.mode, &hold);
        if st.phase != phase {
            st.phase = phase;
            changed = true;
        }
        changed
    })
    .await?;
    for what in drift_events {
        let regarding = object_reference(&inc, &ns, &name);
        ctx.event(
            &regarding,
            EventType::Warning,
            "Drift",
            "Contain",
            format!("{} came back after containment: {what}", inc.spec.workload),
        )
        .await;
    }

    if inc
        .status
        .as_ref()
        .is_some_and(|s| s.investigation.is_none())
    {
        let evidence = response
            .collect_logs
            .map(|_| plan::evidence_secret_name(&name));
        let inv = super::credentials::investigate(
            &ctx.client,
            &inc,
            &gathered.pods,
            response.recent_window_seconds,
            evidence,
        )
        .await;
        inc = update_status(ctx, inc, |i| {
            let st = i.status.get_or_insert_with(Default::default);
            if st.investigation.is_some() {
                return false;
            }
            st.investigation = Some(inv.clone());
            true
        })
        .await?;
    }
    let mut settings = RunSettings::new(
        &name,
        response.grace_period_seconds,
        response.force_after_seconds,
    );
    settings.collect_logs = response.collect_logs;
    settings.workload = Some(ObjectRef {
        namespace: Some(ns.clone()),
        ..inc.spec.top_owner.clone()
    });
    for p in &planned {
        if let Some(o) = &p.object {
            settings.objects.insert(p.id.clone(), o.clone());
        }
    }
    if let Some(sa) = &facts.service_account {
        settings.service_account = sa.saved.clone();
        settings.token_secrets = sa.token_secrets.clone().unwrap_or_default();
    }
    if let Some(Ok(bindings)) = &facts.bindings {
        for b in bindings {
            settings.bindings.insert(
                execute::binding_key(&b.kind, b.namespace.as_deref(), &b.name),
                b.clone(),
            );
        }
    }
    let mut retry_after: Option<Duration> = rate_wait;
    let mut order: Vec<(u8, usize, String)> = inc
        .status
        .as_ref()
        .map(|s| {
            s.actions
                .iter()
                .enumerate()
                .filter(|(_, a)| a.state == ActionState::Pending)
                .map(|(i, a)| (plan::rank(a.verb), i, a.id.clone()))
                .collect()
        })
        .unwrap_or_default();
    order.sort();
    for (_, _, id) in order {
        let pending = inc
            .status
            .as_ref()
            .and_then(|s| s.actions.iter().find(|a| a.id == id))
            .filter(|a| a.state == ActionState::Pending)
            .cloned();
        let Some(mut action) = pending else { continue };
        // 1. record the undo data before anything changes (write-once)
        if action.undo.is_none() {
            let undo = execute::undo_for(&action, &facts, &settings);
            if undo.is_some() || action.started_at.is_none() {
                let id = action.id.clone();
                let now = MicroTime(jiff::Timestamp::now());
                inc = update_status(ctx, inc, |i| {
                    let Some(a) = action_mut(i, &id) else {
                        return false;
                    };
                    let mut changed = false;
                    if a.undo.is_none() && undo.is_some() {
                        a.undo = undo.clone();
                        changed = true;
                    }
                    if a.started_at.is_none() {
                        a.started_at = Some(now.clone());
                        changed = true;
                    }
                    changed
                })
                .await?;
                if let Some(a) = inc
                    .status
                    .as_ref()
                    .and_then(|s| s.actions.iter().find(|a| a.id == id))
                {
                    action = a.clone();
                }
            }
        }
        // 2. the change itself
        action.attempts += 1;
        let outcome = ctx.executor.run(&mut action, &settings).await;
        ctx.hooks.after_mutation();
        let outcome = match outcome {
            Outcome::Done(m)
                if action.verb == ActionVerb::Isolate
                    && action.target.kind == "NetworkPolicy"
                    && action.target.group() == "networking.k8s.io" =>
            {
                effective(ctx, &inc, &name, m).await
            }
            other => other,
        };
        // 3. the result, before the next step
        let (state, message, error) = match &outcome {
            Outcome::Done(m) => (ActionState::Done, Some(m.clone()), None),
            Outcome::Skipped(m) => (ActionState::Skipped, Some(m.clone()), None),
            Outcome::Failed(e) if action.attempts < 5 => {
                retry_after = Some(
                    retry_after.map_or(Duration::from_secs(2), |r| r.min(Duration::from_secs(2))),
                );
                (ActionState::Pending, None, Some(e.clone()))
            }
            Outcome::Failed(e) => (ActionState::Failed, None, Some(e.clone())),
            Outcome::Retry { after, message } => {
                retry_after = Some(retry_after.map_or(*after, |r| r.min(*after)));
                (ActionState::Pending, Some(message.clone()), None)
            }
        };
        let id = action.id.clone();
        let progress = action.pods.clone();
        let new_uid = action.new_uid.clone();
        let attempts = action.attempts;
        let finished = state.is_finished();
        inc = update_status(ctx, inc, |i| {
            let Some(a) = action_mut(i, &id) else {
                return false;
            };
            a.state = state;
            a.attempts = attempts;
            a.message = message.as_deref().map(|m| bounded(m, MAX_MESSAGE_CHARS));
            a.error = error.as_deref().map(|m| bounded(m, MAX_MESSAGE_CHARS));
            if finished {
                a.finished_at = Some(MicroTime(jiff::Timestamp::now()));
            }
            a.pods = progress.clone();
            if new_uid.is_some() {
                a.new_uid = new_uid.clone();
            }
            true
        })
        .await?;
        if finished {
            ctx.metrics
                .actions
                .get_or_create(&crate::metrics::ActionLabels {
                    verb: action.verb.as_str(),
                    result: state.as_str(),
                })
                .inc();
            announce(ctx, &inc, &action, &outcome).await;
        }
    }

    // 4. phase, times, cost
    let now = jiff::Timestamp::now();
    let cost_spec = response.cost.clone();
    let live = gathered.facts.live_pods.len() + gathered.terminating;
    let mut just_contained = None;
    inc = update_status(ctx, inc, |i| {
        let detected = i.spec.detected_at.0;
        let first_pod = i
            .spec
            .pod_created_at
            .as_ref()
            .map(|t| t.0)
            .unwrap_or(detected);
        let generation = i.metadata.generation;
        let st = i.status.get_or_insert_with(Default::default);
        let mut changed = false;
        let phase = plan::phase_of(&st.actions, response.mode, &hold);
        if st.phase != phase {
            st.phase = phase;
            changed = true;
        }
        if response.mode == Mode::Contain
            && hold == Hold::None
            && plan::contained(&st.actions)
            && st.contained_at.is_none()
        {
            let ms = now.duration_since(detected).as_millis().max(0) as i64;
            st.contained_at = Some(MicroTime(now));
            st.time_to_contain_ms = Some(ms);
            st.time_to_contain = Some(human_ms(ms));
            just_contained = Some(ms);
            changed = true;
        }
        if st.contained_at.is_some() && live == 0 && st.pods_gone_at.is_none() {
            st.pods_gone_at = Some(MicroTime(now));
            changed = true;
        }
        let until = st.contained_at.as_ref().map(|t| t.0).unwrap_or(now);
        let hours = until.duration_since(first_pod).as_secs_f64() / 3600.0;
        let cost = plan::estimate_cost(i, &cost_spec, hours);
        let tier = plan::tier(hours);
        let st = i.status.get_or_insert_with(Default::default);
        if st.estimated_cost.as_ref().map(|c| &c.display) != Some(&cost.display) {
            st.estimated_cost = Some(cost);
            changed = true;
        }
        if st.cost_tier != Some(tier) {
            st.cost_tier = Some(tier);
            changed = true;
        }
        let (status, reason, message) = match st.phase {
            IncidentPhase::Contained => (
                true,
                "AllActionsDone",
                "every action is Done or Skipped".to_string(),
            ),
            IncidentPhase::PartiallyContained => (
                false,
                "ActionFailed",
                format!(
                    "failed: {}",
                    st.actions
                        .iter()
                        .filter(|a| a.state == ActionState::Failed)
                        .map(|a| a.id.clone())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ),
            IncidentPhase::Failed => (false, "AllActionsFailed", "no action succeeded".to_string()),
            IncidentPhase::Containing => (false, "Containing", "actions are pending".to_string()),
            IncidentPhase::Audited => (
                false,
                "Audit",
                "the plan is recorded, nothing is done (Audit mode, minSeverity, or --dry-run)"
                    .to_string(),
            ),
            IncidentPhase::Detected => (false, "Waiting", "waiting to start".to_string()),
            IncidentPhase::Resolved => (true, "Resolved", "resolved".to_string()),
        };
        changed |= set_condition(
            &mut st.conditions,
            CONDITION_CONTAINED,
            status,
            reason,
            &message,
            generation,
        );
        changed
    })
    .await?;
    if let Some(ms) = just_contained {
        ctx.metrics.time_to_contain.observe(ms as f64 / 1000.0);
        if let Some(c) = inc.status.as_ref().and_then(|s| s.estimated_cost.as_ref())
            && let Ok(amount) = c.amount.parse::<f64>()
        {
            ctx.metrics
                .estimated_cost
                .get_or_create(&crate::metrics::CurrencyLabels {
                    currency: c.currency.clone(),
                })
                .inc_by(amount);
        }
        tracing::warn!(incident = %format!("{ns}/{name}"), time_to_contain_ms = ms, "contained");
        let regarding = object_reference(&inc, &ns, &name);
        ctx.event(
            &regarding,
            EventType::Normal,
            "Contained",
            "Contain",
            format!("{} contained in {}", inc.spec.workload, human_ms(ms)),
        )
        .await;
    }
    save_copy(ctx, &inc).await;
    if let Some(r) = inc
        .spec
        .resolution
        .as_ref()
        .filter(|r| r.state == ResolutionState::Confirmed)
        && !inc
            .status
            .as_ref()
            .is_some_and(|s| s.actions.iter().any(|a| a.state == ActionState::Pending))
    {
        let note = r.note.clone().unwrap_or_default();
        inc = update_status(ctx, inc, |i| {
            let st = i.status.get_or_insert_with(Default::default);
            if st.phase == IncidentPhase::Resolved {
                return false;
            }
            st.phase = IncidentPhase::Resolved;
            st.resolved_at = Some(MicroTime(jiff::Timestamp::now()));
            true
        })
        .await?;
        let regarding = object_reference(&inc, &ns, &name);
        ctx.event(
            &regarding,
            EventType::Normal,
            "Resolved",
            "Resolve",
            format!("confirmed as cryptojacking; containment stays in place. {note}"),
        )
        .await;
        save_copy(ctx, &inc).await;
        return Ok(Requeue::await_change());
    }
    let phase = inc.status.as_ref().map(|s| s.phase).unwrap_or_default();
    Ok(match retry_after {
        Some(d) => Requeue::requeue(d),
        None => match phase {
            IncidentPhase::Contained
            | IncidentPhase::PartiallyContained
            | IncidentPhase::Failed => Requeue::requeue(Duration::from_secs(30)),
            _ => Requeue::requeue(Duration::from_secs(60)),
        },
    })
}

async fn announce(ctx: &Context, inc: &CryptojackIncident, action: &Action, outcome: &Outcome) {
    let ns = inc.namespace().unwrap_or_default();
    let name = inc.name_any();
    let (type_, reason, note) = match outcome {
        Outcome::Done(m) => (EventType::Normal, action.verb.as_str(), m.clone()),
        Outcome::Skipped(m) => (EventType::Normal, "Skipped", format!("{}: {m}", action.id)),
        Outcome::Failed(e) => (
            EventType::Warning,
            "ActionFailed",
            format!("{}: {e}", action.id),
        ),
        Outcome::Retry { .. } => return,
    };
    let regarding = object_reference(inc, &ns, &name);
    ctx.event(
        &regarding,
        type_,
        reason,
        action.verb.as_str(),
        note.clone(),
    )
    .await;
    if matches!(outcome, Outcome::Done(_)) && action.verb != ActionVerb::Evict {
        ctx.event(
            &workload_reference(&action.target),
            type_,
            reason,
            action.verb.as_str(),
            format!("{note} (cryptojack incident {name})"),
        )
        .await;
    }
}

/// A plain NetworkPolicy quarantine is additive: any other policy selecting the pods that
/// allows egress defeats it. Done only when none does.
async fn effective(
    ctx: &Context,
    inc: &CryptojackIncident,
    name: &str,
    message: String,
) -> Outcome {
    let ns = inc.namespace().unwrap_or_default();
    let mut top = inc.spec.top_owner.clone();
    top.namespace = Some(ns.clone());
    let pods = match owners::workload_pods(&ctx.client, &top).await {
        Ok(p) => p,
        Err(e) => {
            return Outcome::Retry {
                after: Duration::from_secs(1),
                message: e.to_string(),
            };
        }
    };
    let nps: Api<k8s_openapi::api::networking::v1::NetworkPolicy> =
        Api::namespaced(ctx.client.clone(), &ns);
    let list = match nps.list(&ListParams::default()).await {
        Ok(l) => l.items,
        Err(e) => {
            return Outcome::Retry {
                after: Duration::from_secs(1),
                message: describe(&e),
            };
        }
    };
    let mut reasons = Vec::new();
    for p in pods
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
    {
        let mut labels = p.metadata.labels.clone().unwrap_or_default();
        labels.insert(crate::api::LABEL_INCIDENT.to_string(), name.to_string());
        for np in &list {
            let v = serde_json::to_value(np).unwrap_or_default();
            if let Some(r) = crate::respond::network::re_allows_egress(&v, &labels)
                && !reasons.contains(&r)
            {
                reasons.push(r);
            }
        }
    }
    if reasons.is_empty() {
        Outcome::Done(format!(
            "{message}; no other NetworkPolicy re-allows the pods' egress (enforcement by the CNI cannot be verified from the API)"
        ))
    } else {
        Outcome::Failed(format!(
            "the quarantine is not effective: {}",
            reasons.join("; ")
        ))
    }
}

/// Reads what the part-two actions need, only while they are not finished.
async fn extend_facts(
    ctx: &Context,
    inc: &CryptojackIncident,
    response: &plan::Response,
    gathered: &Gathered,
    facts: &mut Facts,
) {
    let ns = inc.namespace().unwrap_or_default();
    let name = inc.name_any();
    let actions: Vec<Action> = inc
        .status
        .as_ref()
        .map(|s| s.actions.clone())
        .unwrap_or_default();
    let unfinished = |verb: ActionVerb| {
        let of: Vec<&Action> = actions.iter().filter(|a| a.verb == verb).collect();
        of.is_empty() || of.iter().any(|a| !a.state.is_finished())
    };
    facts.unlabelled_pods = gathered
        .pods
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter(|p| {
            p.metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(crate::api::LABEL_INCIDENT))
                != Some(&name)
        })
        .filter_map(|p| p.metadata.name.clone())
        .collect();
    let flavor = response
        .isolation
        .as_ref()
        .map(|i| i.flavor)
        .unwrap_or(crate::api::NetworkFlavor::Auto);
    let served = ctx.served.read().map(|s| *s).unwrap_or_default();
    facts.network = crate::respond::network::resolve(flavor, &served);
    if response.revoke_service_account != crate::api::ServiceAccountRevocation::Never
        && (unfinished(ActionVerb::DeleteTokens) || unfinished(ActionVerb::RecreateServiceAccount))
    {
        let sa = inc
            .spec
            .service_account
            .clone()
            .unwrap_or_else(|| "default".into());
        let uids: std::collections::BTreeSet<String> = gathered
            .pods
            .iter()
            .filter_map(|p| p.metadata.uid.clone())
            .chain(inc.spec.pods.iter().map(|p| p.uid.clone()))
            .collect();
        facts.service_account =
            Some(super::credentials::service_account(&ctx.client, &ns, &sa, &uids).await);
    }
    if response.quarantine_bindings && unfinished(ActionVerb::QuarantineBinding) {
        let sa = inc
            .spec
            .service_account
            .clone()
            .unwrap_or_else(|| "default".into());
        facts.bindings = Some(super::credentials::bindings_of(&ctx.client, &ns, &sa).await);
    }
    if response.gpu_quota && plan::involves_gpu(inc) && unfinished(ActionVerb::CapGpuQuota) {
        let set = ctx.policy_set();
        facts.gpu_resources =
            super::credentials::gpu_resources(&ctx.client, &set, &response.policies, inc).await;
    }
}

/// What `gather` read.
struct Gathered {
    facts: Facts,
    /// The workload's pods (live and terminating).
    pods: Vec<k8s_openapi::api::core::v1::Pod>,
    terminating: usize,
    pod_labels: BTreeMap<String, String>,
}

/// Reads the top owner's state and its live pods.
async fn gather(ctx: &Context, inc: &CryptojackIncident) -> Result<Gathered> {
    let top = &inc.spec.top_owner;
    let ns = top
        .namespace
        .clone()
        .or_else(|| inc.namespace())
        .unwrap_or_default();
    let mut top = top.clone();
    top.namespace = Some(ns.clone());
    let pods = owners::workload_pods(&ctx.client, &top).await?;
    let terminating = pods
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_some())
        .count();
    let live_pods: Vec<String> = pods
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter_map(|p| p.metadata.name.clone())
        .collect();
    let pod_labels = pods
        .first()
        .and_then(|p| p.metadata.labels.clone())
        .unwrap_or_default();
    let mut active_jobs = Vec::new();
    let owner = if top.kind == "Pod" && top.group().is_empty() {
        OwnerState::BarePod
    } else {
        match owners::get_owner(&ctx.client, &ns, &top.api_version, &top.kind, &top.name).await {
            Err(e) => {
                // an unknown kind (CRD removed), or one the operator may not read: it cannot
                // be acted on, but its pods still are
                let forbidden =
                    matches!(&e, Error::Read { source, .. } if super::error::is_forbidden(source));
                OwnerState::Unsupported {
                    reason: if forbidden {
                        format!(
                            "the operator may not read {} {} (list its resource in the chart's rbac.extraOwners value to let the operator scale it)",
                            top.kind, top.name
                        )
                    } else {
                        e.to_string()
                    },
                }
            }
            Ok(None) => OwnerState::Gone,
            Ok(Some(o)) if o.metadata.uid != top.uid => OwnerState::Gone,
            Ok(Some(o)) => {
                let data = &o.data;
                match top.kind.as_str() {
                    "Deployment" | "ReplicaSet" | "StatefulSet" | "ReplicationController" => {
                        OwnerState::Replicas {
                            replicas: data
                                .pointer("/spec/replicas")
                                .and_then(|v| v.as_i64())
                                .unwrap_or(1) as i32,
                            manager: replicas_manager(&o.metadata),
                        }
                    }
                    "Job" => OwnerState::Suspend {
                        suspend: data
                            .pointer("/spec/suspend")
                            .and_then(|v| v.as_bool())
                            .unwrap_or(false),
                    },
                    "CronJob" => {
                        for r in data
                            .pointer("/status/active")
                            .and_then(|v| v.as_array())
                            .into_iter()
                            .flatten()
                        {
                            let Some(job) = r.get("name").and_then(|v| v.as_str()) else {
                                continue;
                            };
                            if let Ok(Some(j)) =
                                owners::get_owner(&ctx.client, &ns, "batch/v1", "Job", job).await
                            {
                                active_jobs.push(ActiveJob {
                                    target: ObjectRef {
                                        api_version: "batch/v1".into(),
                                        kind: "Job".into(),
                                        namespace: Some(ns.clone()),
                                        name: job.to_string(),
                                        uid: j.metadata.uid.clone(),
                                    },
                                    suspend: j
                                        .data
                                        .pointer("/spec/suspend")
                                        .and_then(|v| v.as_bool())
                                        .unwrap_or(false),
                                });
                            }
                        }
                        OwnerState::Suspend {
                            suspend: data
                                .pointer("/spec/suspend")
                                .and_then(|v| v.as_bool())
                                .unwrap_or(false),
                        }
                    }
                    "DaemonSet" => OwnerState::DaemonSet {
                        node_selector: data
                            .pointer("/spec/template/spec/nodeSelector")
                            .and_then(|v| serde_json::from_value(v.clone()).ok())
                            .unwrap_or_default(),
                    },
                    kind => match owners::has_scale(&ctx.client, &top.api_version, kind).await {
                        Ok(true) => {
                            let ar =
                                owners::api_resource(&ctx.client, &top.api_version, kind).await?;
                            let api: Api<kube::api::DynamicObject> =
                                Api::namespaced_with(ctx.client.clone(), &ns, &ar);
                            match api.get_scale(&top.name).await {
                                Ok(s) => OwnerState::Replicas {
                                    replicas: s.spec.and_then(|s| s.replicas).unwrap_or(0),
                                    manager: replicas_manager(&o.metadata),
                                },
                                Err(e) => OwnerState::Unsupported {
                                    reason: format!(
                                        "reading {kind} {}'s scale: {}",
                                        top.name,
                                        describe(&e)
                                    ),
                                },
                            }
                        }
                        Ok(false) => OwnerState::Unsupported {
                            reason: format!(
                                "{kind} {} serves no scale subresource and cannot be suspended",
                                top.name
                            ),
                        },
                        Err(e) => OwnerState::Unsupported {
                            reason: e.to_string(),
                        },
                    },
                }
            }
        }
    };
    let mut facts = Facts::new(&ctx.operator_namespace, owner);
    facts.live_pods = live_pods;
    facts.active_jobs = active_jobs;
    Ok(Gathered {
        facts,
        pods,
        terminating,
        pod_labels,
    })
}

/// The field manager that last set `spec.replicas` (other than the operator).
fn replicas_manager(meta: &ObjectMeta) -> Option<String> {
    meta.managed_fields
        .iter()
        .flatten()
        .filter(|m| m.manager.as_deref() != Some(execute::FIELD_MANAGER))
        .filter(|m| {
            m.fields_v1
                .as_ref()
                .and_then(|f| f.0.pointer("/f:spec/f:replicas"))
                .is_some()
        })
        .max_by_key(|m| m.time.as_ref().map(|t| t.0))
        .and_then(|m| m.manager.clone())
}

/// FalsePositive: undo every action that changed something, newest first, then close.
async fn restore(ctx: &Arc<Context>, mut inc: CryptojackIncident) -> Result<Requeue> {
    let ns = inc.namespace().unwrap_or_default();
    let name = inc.name_any();
    let actions: Vec<Action> = inc
        .status
        .as_ref()
        .map(|s| s.actions.clone())
        .unwrap_or_default();
    let mut all_restored = true;
    let mut problems = Vec::new();
    for action in actions.iter().rev() {
        let done_before = action
            .restore
            .as_ref()
            .is_some_and(|r| r.state.is_finished());
        if done_before {
            if action
                .restore
                .as_ref()
                .is_some_and(|r| r.state == ActionState::Failed)
            {
                all_restored = false;
                problems.push(action.id.clone());
            }
            continue;
        }
        // only what may have changed the cluster is undone
        let touched = matches!(
            action.state,
            ActionState::Done | ActionState::Pending | ActionState::Failed
        ) && action.started_at.is_some();
        let outcome = if touched {
            let o = ctx.executor.restore(action).await;
            ctx.hooks.after_mutation();
            o
        } else {
            Outcome::Skipped("nothing was changed".into())
        };
        let (state, message) = match &outcome {
            Outcome::Done(m) => (ActionState::Done, m.clone()),
            Outcome::Skipped(m) => (ActionState::Skipped, m.clone()),
            Outcome::Failed(e) => {
                all_restored = false;
                problems.push(format!("{}: {e}", action.id));
                (ActionState::Failed, e.clone())
            }
            Outcome::Retry { after, message } => {
                // record the attempt and come back
                let id = action.id.clone();
                let m = message.clone();
                update_status(ctx, inc, |i| {
                    let Some(a) = action_mut(i, &id) else {
                        return false;
                    };
                    let r = a.restore.get_or_insert_with(RestoreProgress::default);
                    r.state = ActionState::Pending;
                    r.attempts += 1;
                    r.message = Some(bounded(&m, MAX_MESSAGE_CHARS));
                    true
                })
                .await?;
                return Ok(Requeue::requeue(*after));
            }
        };
        let id = action.id.clone();
        inc = update_status(ctx, inc, |i| {
            let Some(a) = action_mut(i, &id) else {
                return false;
            };
            let r = a.restore.get_or_insert_with(RestoreProgress::default);
            r.state = state;
            r.attempts += 1;
            r.message = Some(bounded(&message, MAX_MESSAGE_CHARS));
            r.finished_at = Some(MicroTime(jiff::Timestamp::now()));
            true
        })
        .await?;
        if touched {
            ctx.metrics
                .actions
                .get_or_create(&crate::metrics::ActionLabels {
                    verb: "Restore",
                    result: state.as_str(),
                })
                .inc();
            if state == ActionState::Done {
                ctx.event(
                    &workload_reference(&action.target),
                    EventType::Normal,
                    "Restored",
                    "Restore",
                    format!("{message} (cryptojack incident {name} resolved FalsePositive)"),
                )
                .await;
            }
        }
    }
    let note = inc
        .spec
        .resolution
        .as_ref()
        .and_then(|r| r.note.clone())
        .unwrap_or_default();
    inc = update_status(ctx, inc, |i| {
        let generation = i.metadata.generation;
        let st = i.status.get_or_insert_with(Default::default);
        let mut changed = set_condition(
            &mut st.conditions,
            CONDITION_RESTORED,
            all_restored,
            if all_restored {
                "Restored"
            } else {
                "RestoreFailed"
            },
            &if all_restored {
                "every change was undone".to_string()
            } else {
                format!("not restored: {}", problems.join("; "))
            },
            generation,
        );
        if st.phase != IncidentPhase::Resolved {
            st.phase = IncidentPhase::Resolved;
            st.resolved_at = Some(MicroTime(jiff::Timestamp::now()));
            changed = true;
        }
        changed
    })
    .await?;
    let regarding = object_reference(&inc, &ns, &name);
    ctx.event(
        &regarding,
        if all_restored {
            EventType::Normal
        } else {
            EventType::Warning
        },
        "ResolvedFalsePositive",
        "Restore",
        format!(
            "resolved FalsePositive ({note}); {}",
            if all_restored {
                "everything restored".to_string()
            } else {
                format!("not restored: {}", problems.join("; "))
            }
        ),
    )
    .await;
    save_copy(ctx, &inc).await;
    Ok(Requeue::await_change())
}

// ---------------------------------------------------------------------------- copies

fn copy_name(ns: &str, name: &str) -> String {
    format!("cji-copy.{ns}.{name}")
}

/// Keeps a copy of the incident in the operator's namespace (tamper resistance: a
/// namespace admin can delete the incident; the copy lets the operator re-create it).
async fn save_copy(ctx: &Context, inc: &CryptojackIncident) {
    let ns = inc.namespace().unwrap_or_default();
    let name = inc.name_any();
    let mut clean = inc.clone();
    clean.metadata = ObjectMeta {
        name: Some(name.clone()),
        namespace: Some(ns.clone()),
        labels: inc.metadata.labels.clone(),
        ..Default::default()
    };
    let Ok(json) = serde_json::to_string(&clean) else {
        return;
    };
    let api: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), &ctx.operator_namespace);
    let cm_name = copy_name(&ns, &name);
    let cm = ConfigMap {
        metadata: ObjectMeta {
            name: Some(cm_name.clone()),
            labels: Some(
                [
                    (LABEL_COPY.to_string(), "true".to_string()),
                    (LABEL_INCIDENT.to_string(), name.clone()),
                    (LABEL_INCIDENT_NAMESPACE.to_string(), ns.clone()),
                ]
                .into(),
            ),
            ..Default::default()
        },
        data: Some([("incident.json".to_string(), json.clone())].into()),
        ..Default::default()
    };
    match api.get_opt(&cm_name).await {
        Ok(Some(existing)) => {
            if existing.data.as_ref().and_then(|d| d.get("incident.json")) == Some(&json) {
                return;
            }
            let patch = serde_json::json!({"data": {"incident.json": json}});
            if let Err(e) = api
                .patch(&cm_name, &PatchParams::default(), &Patch::Merge(patch))
                .await
            {
                tracing::warn!(error = %e, copy = %cm_name, "could not update the incident's copy");
            }
        }
        Ok(None) => {
            if let Err(e) = api.create(&PostParams::default(), &cm).await
                && !is_conflict(&e)
            {
                tracing::warn!(error = %e, copy = %cm_name, "could not save the incident's copy");
            }
        }
        Err(e) => tracing::warn!(error = %e, copy = %cm_name, "could not read the incident's copy"),
    }
}

async fn delete_copy(ctx: &Context, ns: &str, name: &str) {
    let api: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), &ctx.operator_namespace);
    if let Err(e) = api
        .delete(&copy_name(ns, name), &DeleteParams::default())
        .await
        && !is_not_found(&e)
    {
        tracing::warn!(error = %e, "could not delete an incident's copy");
    }
}

/// A deleted incident: a resolved one goes (with its copy); an unresolved one is
/// recorded as a Warning, released, and re-created from its copy; in a terminating
/// namespace it is released (the copy stays) so namespace deletion never hangs.
async fn on_delete(ctx: &Arc<Context>, inc: CryptojackIncident) -> Result<Requeue> {
    let ns = inc.namespace().unwrap_or_default();
    let name = inc.name_any();
    let api: Api<CryptojackIncident> = Api::namespaced(ctx.client.clone(), &ns);
    let resolved = inc
        .status
        .as_ref()
        .is_some_and(|s| s.phase == IncidentPhase::Resolved);
    let terminating = ctx.namespace_terminating(&ns);
    if !resolved {
        save_copy(ctx, &inc).await;
        let regarding = object_reference(&inc, &ns, &name);
        ctx.event(
            &regarding,
            EventType::Warning,
            "UnresolvedIncidentDeleted",
            "Delete",
            if terminating {
                format!("namespace {ns} is being deleted; incident {name} was unresolved; its copy stays in {}", ctx.operator_namespace)
            } else {
                format!("incident {name} was deleted before it was resolved; re-creating it from its copy in {}", ctx.operator_namespace)
            },
        )
        .await;
    }
    if inc.finalizers().iter().any(|f| f == INCIDENT_FINALIZER) {
        let rest: Vec<String> = inc
            .finalizers()
            .iter()
            .filter(|f| *f != INCIDENT_FINALIZER)
            .cloned()
            .collect();
        let patch = serde_json::json!({"metadata": {"finalizers": rest, "resourceVersion": inc.resource_version()}});
        match api
            .patch(&name, &PatchParams::default(), &Patch::Merge(patch))
            .await
        {
            Ok(_) => {}
            Err(e) if is_not_found(&e) => {}
            Err(e) => {
                return Err(Error::write(format!("finalizer of incident {ns}/{name}"))(
                    e,
                ));
            }
        }
    }
    if resolved {
        delete_copy(ctx, &ns, &name).await;
        let secrets: Api<k8s_openapi::api::core::v1::Secret> =
            Api::namespaced(ctx.client.clone(), &ns);
        if let Err(e) = secrets
            .delete(&plan::evidence_secret_name(&name), &DeleteParams::default())
            .await
            && !is_not_found(&e)
        {
            tracing::warn!(error = %describe(&e), "could not delete the incident's evidence Secret");
        }
    } else if !terminating {
        recreate_from_copy(ctx, &ns, &name).await?;
    }
    Ok(Requeue::await_change())
}

/// Re-creates an unresolved incident from its copy once the deleted one is gone.
async fn recreate_from_copy(ctx: &Context, ns: &str, name: &str) -> Result<()> {
    let api: Api<CryptojackIncident> = Api::namespaced(ctx.client.clone(), ns);
    for _ in 0..50 {
        match api.get_opt(name).await {
            Ok(None) => break,
            Ok(Some(i)) if i.metadata.deletion_timestamp.is_none() => return Ok(()),
            Ok(Some(_)) => tokio::time::sleep(Duration::from_millis(100)).await,
            Err(e) => return Err(Error::read(format!("incident {ns}/{name}"))(e)),
        }
    }
    let copies: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), &ctx.operator_namespace);
    let Some(cm) = copies
        .get_opt(&copy_name(ns, name))
        .await
        .map_err(Error::read("incident copy"))?
    else {
        return Ok(());
    };
    let Some(json) = cm.data.as_ref().and_then(|d| d.get("incident.json")) else {
        return Ok(());
    };
    let mut copy: CryptojackIncident =
        serde_json::from_str(json).map_err(|e| Error::Serialize {
            what: format!("copy of incident {ns}/{name}"),
            source: e,
        })?;
    let status = copy.status.take();
    copy.metadata.finalizers = Some(vec![INCIDENT_FINALIZER.to_string()]);
    copy.metadata.resource_version = None;
    copy.metadata.uid = None;
    let created = match api.create(&PostParams::default(), &copy).await {
        Ok(c) => c,
        Err(e) if is_conflict(&e) => return Ok(()),
        Err(e) => return Err(Error::write(format!("re-created incident {ns}/{name}"))(e)),
    };
    update_status(ctx, created.clone(), |i| {
        i.status = status.clone();
        true
    })
    .await?;
    let regarding = object_reference(&created, ns, name);
    ctx.event(
        &regarding,
        EventType::Warning,
        "IncidentRecreated",
        "Recreate",
        format!("incident {name} was deleted unresolved and re-created from its copy"),
    )
    .await;
    Ok(())
}

/// Periodically re-creates unresolved incidents that vanished without the operator
/// seeing their deletion (e.g. their finalizer was removed by hand).
async fn copy_sweeper(ctx: Arc<Context>, token: CancellationToken) {
    loop {
        tokio::select! {
            _ = token.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(20)) => {}
        }
        let copies: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), &ctx.operator_namespace);
        let Ok(list) = copies
            .list(&ListParams::default().labels(&format!("{LABEL_COPY}=true")))
            .await
        else {
            continue;
        };
        for cm in list.items {
            let labels = cm.metadata.labels.clone().unwrap_or_default();
            let (Some(name), Some(ns)) = (
                labels.get(LABEL_INCIDENT),
                labels.get(LABEL_INCIDENT_NAMESPACE),
            ) else {
                continue;
            };
            let resolved = cm
                .data
                .as_ref()
                .and_then(|d| d.get("incident.json"))
                .and_then(|j| serde_json::from_str::<CryptojackIncident>(j).ok())
                .is_some_and(|i| {
                    i.status
                        .as_ref()
                        .is_some_and(|s| s.phase == IncidentPhase::Resolved)
                });
            if resolved || ctx.namespace_terminating(ns) || ctx.namespace_labels(ns).is_none() {
                continue;
            }
            let api: Api<CryptojackIncident> = Api::namespaced(ctx.client.clone(), ns);
            if let Ok(None) = api.get_opt(name).await {
                tracing::warn!(incident = %format!("{ns}/{name}"), "an unresolved incident vanished; re-creating it from its copy");
                if let Err(e) = recreate_from_copy(&ctx, ns, name).await {
                    tracing::warn!(error = %e, "re-creating an incident failed");
                }
            }
        }
    }
}
