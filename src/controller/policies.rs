//! The policy watch: each CryptojackPolicy compiled on its own (an invalid policy never
//! affects the others), its status written (`Ready` with the rule count, or `Ready=False`
//! with reason `InvalidPolicy` and a message naming the field, with
//! observedGeneration), and the set of Ready policies swapped in for detection. A change
//! of the set asks for a sweep over the running pods.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};
use kube::core::DeserializeGuard;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::context::Context;
use super::error::is_not_found;
use crate::api::{
    CONDITION_READY, CryptojackPolicy, CryptojackPolicyStatus, MAX_MESSAGE_CHARS, bounded,
};
use crate::detect::{CompiledPolicy, PolicySet};
use crate::respond::FIELD_MANAGER;

/// The compiled policies by name (invalid ones absent).
#[derive(Default)]
struct Compiled {
    ready: BTreeMap<String, CompiledPolicy>,
    invalid: BTreeMap<String, String>,
}

impl Compiled {
    fn set(&self) -> PolicySet {
        PolicySet::new(self.ready.values().cloned().collect())
    }
}

/// The outcome of compiling one policy, as its status.
pub fn status_for(
    policy: &CryptojackPolicy,
    compiled: &Result<CompiledPolicy, String>,
) -> CryptojackPolicyStatus {
    let generation = policy.metadata.generation;
    let previous = policy
        .status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == CONDITION_READY));
    let (status, reason, message, rules) = match compiled {
        Ok(c) => (
            "True",
            "Compiled",
            format!("{} rules compiled", c.rule_count()),
            Some(c.rule_count() as i32),
        ),
        Err(e) => ("False", "InvalidPolicy", e.clone(), None),
    };
    let message = bounded(&message, MAX_MESSAGE_CHARS * 4);
    let last_transition_time = match previous {
        Some(p) if p.status == status => p.last_transition_time.clone(),
        _ => Time(jiff::Timestamp::now()),
    };
    CryptojackPolicyStatus {
        conditions: vec![Condition {
            type_: CONDITION_READY.into(),
            status: status.into(),
            reason: reason.into(),
            message,
            last_transition_time,
            observed_generation: generation,
        }],
        observed_generation: generation,
        compiled_rules: rules,
        network_flavor: policy.status.as_ref().and_then(|s| s.network_flavor),
    }
}

fn same_status(a: Option<&CryptojackPolicyStatus>, b: &CryptojackPolicyStatus) -> bool {
    let Some(a) = a else { return false };
    let strip = |s: &CryptojackPolicyStatus| {
        let mut s = s.clone();
        for c in &mut s.conditions {
            c.last_transition_time = Time(jiff::Timestamp::UNIX_EPOCH);
        }
        s
    };
    strip(a) == strip(b)
}

/// Compiles a policy and checks what the API server cannot: a forced network flavour the
/// cluster does not serve makes it not Ready.
fn compile(ctx: &Context, name: &str, p: &CryptojackPolicy) -> Result<CompiledPolicy, String> {
    let compiled = CompiledPolicy::compile(name, &p.spec).map_err(|e| e.to_string())?;
    let ni = &p.spec.response.network_isolation;
    if ni.enabled && ni.flavor != crate::api::NetworkFlavor::Auto {
        let served = ctx.served.read().map(|s| *s).unwrap_or_default();
        crate::respond::network::resolve(ni.flavor, &served)
            .map_err(|e| format!("policy {name:?} is invalid: {e}"))?;
    }
    Ok(compiled)
}

/// The network flavour a policy resolves to (for its status).
fn flavor_of(ctx: &Context, p: &CryptojackPolicy) -> Option<crate::api::NetworkFlavor> {
    let ni = &p.spec.response.network_isolation;
    if !ni.enabled && !p.spec.response.stratum_port_block.enabled {
        return None;
    }
    let served = ctx.served.read().map(|s| *s).unwrap_or_default();
    crate::respond::network::resolve(ni.flavor, &served)
        .ok()
        .map(|r| r.flavor())
}

/// Reads every policy once and compiles them (before the pod watch starts).
pub async fn initial(ctx: &Arc<Context>) -> Result<usize, kube::Error> {
    let api: Api<DeserializeGuard<CryptojackPolicy>> = Api::all(ctx.client.clone());
    let list = api.list(&Default::default()).await?;
    let mut compiled = Compiled::default();
    for DeserializeGuard(p) in list.items {
        match p {
            Ok(p) => {
                let name = p.name_any();
                match compile(ctx, &name, &p) {
                    Ok(c) => {
                        compiled.ready.insert(name, c);
                    }
                    Err(e) => {
                        compiled.invalid.insert(name, e);
                    }
                }
            }
            Err(bad) => {
                compiled.invalid.insert(
                    bad.metadata.name.clone().unwrap_or_default(),
                    bad.error.clone(),
                );
            }
        }
    }
    let n = compiled.ready.len();
    publish(ctx, &compiled);
    Ok(n)
}

fn publish(ctx: &Context, compiled: &Compiled) {
    if let Ok(mut p) = ctx.policies.write() {
        *p = compiled.set();
    }
    ctx.metrics
        .policies
        .get_or_create(&crate::metrics::ReadyLabels { ready: "true" })
        .set(compiled.ready.len() as i64);
    ctx.metrics
        .policies
        .get_or_create(&crate::metrics::ReadyLabels { ready: "false" })
        .set(compiled.invalid.len() as i64);
}

/// Watches policies until `token` is cancelled; `changed` is notified whenever the set of
/// Ready policies changes.
pub async fn run(ctx: Arc<Context>, changed: Arc<Notify>, token: CancellationToken) {
    let api: Api<DeserializeGuard<CryptojackPolicy>> = Api::all(ctx.client.clone());
    let typed: Api<CryptojackPolicy> = Api::all(ctx.client.clone());
    let stream = watcher::watcher(api, watcher::Config::default().any_semantic()).default_backoff();
    let mut stream = std::pin::pin!(stream);
    let mut compiled = Compiled::default();
    let mut initialised = false;
    // During a (re)list, the objects seen; policies not seen are gone when it ends.
    let mut listing: Option<Vec<String>> = None;
    let mut dirty = false;
    loop {
        let next = tokio::select! {
            _ = token.cancelled() => return,
            n = stream.next() => n,
        };
        let Some(event) = next else { return };
        let mut touched = dirty;
        match event {
            Ok(Event::Init) => listing = Some(Vec::new()),
            Ok(Event::InitApply(DeserializeGuard(p))) | Ok(Event::Apply(DeserializeGuard(p))) => {
                let (name, result, object) = match p {
                    Ok(p) => {
                        let name = p.name_any();
                        let r = compile(&ctx, &name, &p);
                        (name, r, Some(p))
                    }
                    Err(bad) => (
                        bad.metadata.name.clone().unwrap_or_default(),
                        Err(format!("the policy does not decode: {}", bad.error)),
                        None,
                    ),
                };
                if let Some(l) = listing.as_mut() {
                    l.push(name.clone());
                }
                match &result {
                    Ok(c) => {
                        let same = compiled
                            .ready
                            .get(&name)
                            .is_some_and(|old| old.spec() == c.spec());
                        if !same {
                            compiled.ready.insert(name.clone(), c.clone());
                            compiled.invalid.remove(&name);
                            touched = true;
                        }
                    }
                    Err(e) => {
                        touched |= compiled.ready.remove(&name).is_some();
                        compiled.invalid.insert(name.clone(), e.clone());
                        tracing::warn!(policy = %name, error = %e, "invalid policy");
                    }
                }
                if let Some(policy) = object {
                    let mut status = status_for(&policy, &result);
                    status.network_flavor = flavor_of(&ctx, &policy);
                    if !same_status(policy.status.as_ref(), &status) {
                        let patch = serde_json::json!({"status": status});
                        match typed
                            .patch_status(
                                &name,
                                &PatchParams {
                                    field_manager: Some(FIELD_MANAGER.into()),
                                    ..Default::default()
                                },
                                &Patch::Merge(patch),
                            )
                            .await
                        {
                            Ok(_) => {}
                            Err(e) if is_not_found(&e) => {}
                            Err(e) => {
                                ctx.metrics.error("policies", "write");
                                tracing::warn!(policy = %name, error = %e, "could not write the policy's status");
                            }
                        }
                    }
                }
            }
            Ok(Event::InitDone) => {
                if let Some(seen) = listing.take() {
                    let before = compiled.ready.len() + compiled.invalid.len();
                    compiled.ready.retain(|n, _| seen.contains(n));
                    compiled.invalid.retain(|n, _| seen.contains(n));
                    touched |= before != compiled.ready.len() + compiled.invalid.len();
                }
                if !initialised {
                    initialised = true;
                    touched = true;
                }
            }
            Ok(Event::Delete(DeserializeGuard(p))) => {
                let name = match p {
                    Ok(p) => p.name_any(),
                    Err(bad) => bad.metadata.name.unwrap_or_default(),
                };
                touched |= compiled.ready.remove(&name).is_some();
                compiled.invalid.remove(&name);
            }
            Err(e) => {
                ctx.metrics.error("policies", "watch");
                tracing::warn!(error = %e, "policy watch error; the watcher retries with backoff");
            }
        }
        dirty = touched;
        if dirty && listing.is_none() && initialised {
            publish(&ctx, &compiled);
            changed.notify_one();
            dirty = false;
        }
    }
}
