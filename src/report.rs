//! `cryptojack report`: an incident as a Markdown post-incident report: timeline, owner
//! chain, ServiceAccount, findings, actions and results, cost, what the operator found out,
//! and the playbook's post-incident questions with what the operator knows ("not known
//! to the operator" where a human must answer).

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::api::{ActionState, CryptojackIncident, IncidentPhase, Mode, ResolutionState};

#[derive(clap::Args, Debug, Clone)]
pub struct ReportArgs {
    /// The incident's name (read from the cluster; KUBECONFIG or in-cluster).
    pub name: Option<String>,
    /// Its namespace (default: the kubeconfig's namespace).
    #[arg(short, long)]
    pub namespace: Option<String>,
    /// Read the incident from a file (YAML or JSON, e.g. `kubectl get cji X -o yaml`) instead.
    #[arg(short, long, conflicts_with = "name")]
    pub file: Option<PathBuf>,
}

/// Errors of `cryptojack report`.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("give an incident name (with -n NAMESPACE) or -f FILE")]
    NoInput,
    #[error("reading {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: not a CryptojackIncident: {message}")]
    Decode { path: String, message: String },
    #[error("no Kubernetes configuration: {0}")]
    Config(String),
    #[error("reading incident {namespace}/{name}: {message}")]
    Get {
        namespace: String,
        name: String,
        message: String,
    },
}

impl ReportError {
    pub fn metric_label(&self) -> &'static str {
        match self {
            ReportError::NoInput => "no_input",
            ReportError::Read { .. } => "read",
            ReportError::Decode { .. } => "decode",
            ReportError::Config(_) => "config",
            ReportError::Get { .. } => "get",
        }
    }
}

/// Entry point of `cryptojack report`.
pub fn run(args: ReportArgs) -> ExitCode {
    match load(&args) {
        Ok(i) => {
            print!("{}", render(&i));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn load(args: &ReportArgs) -> Result<CryptojackIncident, ReportError> {
    if let Some(path) = &args.file {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ReportError::Read {
            path: shown.clone(),
            source,
        })?;
        return serde_saphyr::from_str::<CryptojackIncident>(&text).map_err(|e| {
            ReportError::Decode {
                path: shown,
                message: e.to_string(),
            }
        });
    }
    let Some(name) = args.name.clone() else {
        return Err(ReportError::NoInput);
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| ReportError::Config(e.to_string()))?;
    runtime.block_on(async {
        let config = kube::Config::infer()
            .await
            .map_err(|e| ReportError::Config(e.to_string()))?;
        let namespace = args
            .namespace
            .clone()
            .unwrap_or_else(|| config.default_namespace.clone());
        let client =
            kube::Client::try_from(config).map_err(|e| ReportError::Config(e.to_string()))?;
        let api: kube::Api<CryptojackIncident> = kube::Api::namespaced(client, &namespace);
        api.get(&name).await.map_err(|e| ReportError::Get {
            namespace,
            name,
            message: crate::controller::error::describe(&e),
        })
    })
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

fn time(t: Option<&jiff::Timestamp>) -> String {
    t.map(|t| t.to_string()).unwrap_or_else(|| "—".into())
}

/// The Markdown report of an incident.
pub fn render(i: &CryptojackIncident) -> String {
    let mut out = String::new();
    let s = &i.spec;
    let st = i.status.clone().unwrap_or_default();
    let name = i.metadata.name.clone().unwrap_or_default();
    let ns = i.metadata.namespace.clone().unwrap_or_default();
    let _ = writeln!(out, "# Cryptojacking incident {ns}/{name}\n");
    let _ = writeln!(out, "| | |\n|---|---|");
    let _ = writeln!(out, "| Workload | {} (namespace {ns}) |", cell(&s.workload));
    let _ = writeln!(out, "| Severity | {} |", s.severity.api_str());
    let _ = writeln!(out, "| Top indicator | `{}` |", cell(&s.top_indicator));
    let _ = writeln!(out, "| Phase | {} |", st.phase.as_str());
    let _ = writeln!(
        out,
        "| Mode | {} |",
        st.mode.map(Mode::as_str).unwrap_or("—")
    );
    let _ = writeln!(out, "| Policies | {} |", cell(&s.policies.join(", ")));
    let _ = writeln!(
        out,
        "| Time to contain | {} |",
        st.time_to_contain
            .clone()
            .unwrap_or_else(|| "not contained".into())
    );
    if let Some(c) = &st.estimated_cost {
        let _ = writeln!(
            out,
            "| Estimated cost | {} ({} h running, {} GPU-hours, {} CPU-hours) |",
            c.display, c.hours_running, c.gpu_hours, c.cpu_hours
        );
    }
    let _ = writeln!(
        out,
        "| Cost tier (playbook) | {} |",
        st.cost_tier.map(|t| t.as_str()).unwrap_or("—")
    );
    let _ = writeln!(
        out,
        "| Resolution | {} |",
        s.resolution
            .as_ref()
            .map(|r| format!(
                "{}{}{}",
                r.state.as_str(),
                r.by.as_ref()
                    .map(|b| format!(" by {b}"))
                    .unwrap_or_default(),
                r.note
                    .as_ref()
                    .map(|n| format!(": {}", cell(n)))
                    .unwrap_or_default()
            ))
            .unwrap_or_else(|| "unresolved".into())
    );
    if let Some(p) = &s.previous_incident {
        let _ = writeln!(out, "| Previous incident of this workload | {p} |");
    }

    // timeline
    let _ = writeln!(out, "\n## Timeline\n");
    let mut events: Vec<(jiff::Timestamp, String)> = Vec::new();
    for o in &s.owner_chain {
        if let Some(t) = &o.created_at {
            events.push((
                t.0,
                format!(
                    "{} {} created{}",
                    o.kind,
                    o.name,
                    o.field_manager
                        .as_ref()
                        .map(|m| format!(" by `{m}`"))
                        .unwrap_or_default()
                ),
            ));
        }
    }
    if let Some(t) = &s.pod_created_at {
        events.push((t.0, "first offending pod created".into()));
    }
    events.push((s.detected_at.0, format!("detected ({})", s.source.as_str())));
    for a in &st.actions {
        if let Some(t) = &a.finished_at {
            events.push((t.0, format!("{}: {}", a.id, a.state.as_str())));
        }
    }
    if let Some(t) = &st.contained_at {
        events.push((
            t.0,
            "contained (every owner suspended, every eviction accepted)".into(),
        ));
    }
    if let Some(t) = &st.pods_gone_at {
        events.push((t.0, "the last affected pod disappeared".into()));
    }
    if let Some(d) = &st.drift
        && let Some(t) = &d.last_at
    {
        events.push((
            t.0,
            format!(
                "drift #{}: {}{}",
                d.count,
                d.what.clone().unwrap_or_default(),
                d.by.as_ref()
                    .map(|b| format!(" (by `{b}`: pause it)"))
                    .unwrap_or_default()
            ),
        ));
    }
    if let Some(t) = &st.resolved_at {
        events.push((t.0, "resolved".into()));
    }
    events.sort_by_key(|(t, _)| *t);
    for (t, e) in &events {
        let _ = writeln!(out, "- `{t}` {}", e);
    }
    if let Some(ms) = st.detection_latency_ms {
        let _ = writeln!(
            out,
            "\nDetection latency: {ms} ms from the pod event to the incident{}.",
            st.since_pod_creation_seconds
                .map(|s| format!(
                    " ({s} s after the pod's creationTimestamp, which has one-second precision)"
                ))
                .unwrap_or_default()
        );
    }

    // who
    let _ = writeln!(out, "\n## Who launched it\n");
    if s.owner_chain.is_empty() {
        let _ = writeln!(out, "- A bare pod (no controller).");
    } else {
        let chain: Vec<String> = s
            .owner_chain
            .iter()
            .map(|o| format!("{}/{}", o.kind, o.name))
            .collect();
        let _ = writeln!(out, "- Owner chain: Pod → {}", chain.join(" → "));
        for o in &s.owner_chain {
            let _ = writeln!(
                out,
                "  - {} {}: created {} by `{}`",
                o.kind,
                o.name,
                time(o.created_at.as_ref().map(|t| &t.0)),
                o.field_manager.clone().unwrap_or_else(|| "unknown".into())
            );
        }
    }
    if let Some(f) = &s.forged_owner {
        let _ = writeln!(
            out,
            "- **Forged owner reference**: the pod claimed {} {} as its controller; not verified, so the pod was treated as bare.",
            f.kind, f.name
        );
    }
    let _ = writeln!(
        out,
        "- Pod created by field manager: `{}`",
        s.field_manager.clone().unwrap_or_else(|| "unknown".into())
    );
    let _ = writeln!(
        out,
        "- ServiceAccount: `{}`",
        s.service_account
            .clone()
            .unwrap_or_else(|| "default".into())
    );
    let _ = writeln!(
        out,
        "- Node: {}",
        s.node_name
            .clone()
            .unwrap_or_else(|| "not scheduled".into())
    );
    let _ = writeln!(
        out,
        "- Pods: {} seen{}",
        s.pod_count,
        if s.pods.len() < s.pod_count as usize {
            format!(" ({} listed)", s.pods.len())
        } else {
            String::new()
        }
    );
    for p in s.pods.iter().take(20) {
        let _ = writeln!(
            out,
            "  - {} on {}",
            p.name,
            p.node.clone().unwrap_or_else(|| "—".into())
        );
    }
    let _ = writeln!(
        out,
        "- Images: {}",
        s.images
            .iter()
            .map(|i| format!("`{i}`"))
            .collect::<Vec<_>>()
            .join(", ")
    );

    // findings
    let _ = writeln!(out, "\n## Findings\n");
    let _ = writeln!(
        out,
        "| Severity | Rule | Container | Field | Evidence | Policies |\n|---|---|---|---|---|---|"
    );
    for f in &s.findings {
        let _ = writeln!(
            out,
            "| {} | `{}` | {} | `{}` | `{}` | {} |",
            f.severity.api_str(),
            cell(&f.rule),
            cell(f.container.as_deref().unwrap_or("—")),
            cell(&f.field),
            cell(&f.evidence),
            cell(&f.policies.join(", "))
        );
    }
    if s.findings_truncated {
        let _ = writeln!(out, "\n(more findings than the incident keeps)");
    }

    // actions
    let _ = writeln!(out, "\n## Actions\n");
    if st.actions.is_empty() {
        let _ = writeln!(out, "None planned.");
    } else {
        let _ = writeln!(
            out,
            "| Action | State | Attempts | Result | Undo data | Restore |\n|---|---|---|---|---|---|"
        );
        for a in &st.actions {
            let result = a
                .error
                .clone()
                .or_else(|| a.message.clone())
                .unwrap_or_default();
            let pods = a
                .pods
                .as_ref()
                .map(|p| {
                    format!(
                        " ({} evicted, {} deleted, {} gone, {} blocked)",
                        p.evicted, p.deleted, p.gone, p.blocked
                    )
                })
                .unwrap_or_default();
            let undo = a
                .undo
                .as_ref()
                .and_then(|u| serde_json::to_string(u).ok())
                .unwrap_or_else(|| "—".into());
            let restore = a
                .restore
                .as_ref()
                .map(|r| {
                    format!(
                        "{} {}",
                        r.state.as_str(),
                        r.message.clone().unwrap_or_default()
                    )
                })
                .unwrap_or_else(|| "—".into());
            let _ = writeln!(
                out,
                "| `{}` | {} | {} | {}{} | `{}` | {} |",
                cell(&a.id),
                a.state.as_str(),
                a.attempts,
                cell(&result),
                pods,
                cell(&undo),
                cell(&restore)
            );
        }
    }
    if st.phase == IncidentPhase::PartiallyContained {
        let failed: Vec<&str> = st
            .actions
            .iter()
            .filter(|a| a.state == ActionState::Failed)
            .map(|a| a.id.as_str())
            .collect();
        let _ = writeln!(
            out,
            "\n**Partially contained**: {} failed. Do by hand what the operator could not, then resolve the incident.",
            failed.join(", ")
        );
    }
    for c in &st.conditions {
        if c.type_ == "Restored" {
            let _ = writeln!(
                out,
                "\nRestore: {} ({}: {})",
                c.status,
                c.reason,
                cell(&c.message)
            );
        }
    }

    // investigation
    if let Some(inv) = &st.investigation {
        let _ = writeln!(out, "\n## What the operator found out\n");
        if !inv.bindings.is_empty() {
            let _ = writeln!(out, "RBAC bindings that grant the ServiceAccount:\n");
            for b in &inv.bindings {
                let _ = writeln!(
                    out,
                    "- {} {}{} → {}: {}{}",
                    b.kind,
                    b.namespace
                        .as_ref()
                        .map(|n| format!("{n}/"))
                        .unwrap_or_default(),
                    b.name,
                    b.role,
                    cell(&b.grants),
                    if b.cluster_admin_like {
                        " **(cluster-admin-like)**"
                    } else {
                        ""
                    }
                );
            }
        }
        if !inv.recent_objects.is_empty() {
            let _ = writeln!(
                out,
                "\nRBAC objects and ServiceAccounts created recently (possible backdoors):\n"
            );
            for o in &inv.recent_objects {
                let _ = writeln!(
                    out,
                    "- {} {}{} created {} by `{}`",
                    o.kind,
                    o.namespace
                        .as_ref()
                        .map(|n| format!("{n}/"))
                        .unwrap_or_default(),
                    o.name,
                    time(o.created_at.as_ref().map(|t| &t.0)),
                    o.by.clone().unwrap_or_else(|| "unknown".into())
                );
            }
        }
        if !inv.secrets.is_empty() {
            let _ = writeln!(
                out,
                "\nSecrets the pods mount or reference (possibly exposed to the miner): {}",
                inv.secrets.join(", ")
            );
        }
        if !inv.cloud_identities.is_empty() {
            let _ = writeln!(
                out,
                "\nCloud identities reachable from the ServiceAccount:\n"
            );
            for c in &inv.cloud_identities {
                let _ = writeln!(
                    out,
                    "- {} `{}` = `{}`: {}",
                    c.provider, c.annotation, c.identity, c.advice
                );
            }
        }
        if let Some(secret) = &inv.evidence_secret {
            let _ = writeln!(
                out,
                "\nContainer logs saved before eviction: Secret `{ns}/{secret}`."
            );
        }
        if inv.truncated {
            let _ = writeln!(out, "\n(some lists were cut at their bound)");
        }
    }

    // post-incident questions
    let _ = writeln!(out, "\n## Post-incident questions (playbook PB-47)\n");
    let _ = writeln!(out, "| Question | What the operator knows |\n|---|---|");
    let unknown = "not known to the operator: a human must answer";
    let creds = {
        let mut parts = Vec::new();
        if let Some(sa) = &s.service_account {
            parts.push(format!("the pods ran as ServiceAccount `{sa}`"));
        }
        if let Some(o) = s.owner_chain.last()
            && let Some(m) = &o.field_manager
        {
            parts.push(format!("{} {} was created by `{m}`", o.kind, o.name));
        }
        if parts.is_empty() {
            unknown.to_string()
        } else {
            format!(
                "{}; how the credential behind it was exposed is {unknown}",
                parts.join("; ")
            )
        }
    };
    let _ = writeln!(
        out,
        "| How were cloud credentials exposed? | {} |",
        cell(&creds)
    );
    let _ = writeln!(out, "| Were budget alerts configured? | {unknown} |");
    let revoked = st.actions.iter().any(|a| {
        matches!(
            a.verb,
            crate::api::ActionVerb::RecreateServiceAccount | crate::api::ActionVerb::DeleteTokens
        ) && a.state == ActionState::Done
    });
    let _ = writeln!(
        out,
        "| Was IAM least-privilege enforced? | {} |",
        match &st.investigation {
            Some(inv) if inv.bindings.iter().any(|b| b.cluster_admin_like) =>
                "no: the ServiceAccount had cluster-admin-like rights (see above)".to_string(),
            Some(inv) if !inv.bindings.is_empty() => format!(
                "{} binding(s) granted the ServiceAccount (see above)",
                inv.bindings.len()
            ),
            _ => unknown.to_string(),
        }
    );
    let _ = writeln!(
        out,
        "| Total financial impact? | {} |",
        st.estimated_cost
            .as_ref()
            .map(|c| format!(
                "estimated {} for the cluster resources (cloud-side charges are {unknown})",
                c.display
            ))
            .unwrap_or_else(|| unknown.to_string())
    );
    let quota = st
        .actions
        .iter()
        .any(|a| a.verb == crate::api::ActionVerb::CapGpuQuota && a.state == ActionState::Done);
    let _ = writeln!(
        out,
        "| Were spending limits in place? | {} |",
        if quota {
            "a GPU ResourceQuota of 0 was set by the operator during containment; earlier limits are unknown"
                .to_string()
        } else {
            unknown.to_string()
        }
    );
    let _ = writeln!(
        out,
        "| Were the credentials revoked? | {} |",
        if revoked {
            "the ServiceAccount's tokens were revoked by the operator (issue new tokens to legitimate users)"
        } else {
            "not by the operator"
        }
    );
    if let Some(r) = &s.resolution
        && r.state == ResolutionState::FalsePositive
    {
        let _ = writeln!(
            out,
            "\nResolved as a false positive: the same findings on this workload are not contained again."
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_section_and_says_what_is_unknown() {
        let yaml = r#"
apiVersion: cryptojack.dev/v1alpha1
kind: CryptojackIncident
metadata: {name: cji-0123456789abcdef, namespace: shop}
spec:
  workload: Deployment/web-cache
  topOwner: {apiVersion: apps/v1, kind: Deployment, namespace: shop, name: web-cache, uid: u2}
  ownerChain:
  - {apiVersion: apps/v1, kind: ReplicaSet, name: web-cache-7d9f8, uid: u1}
  - {apiVersion: apps/v1, kind: Deployment, name: web-cache, uid: u2, fieldManager: kubectl-client-side-apply, createdAt: "2026-11-28T20:00:00Z"}
  serviceAccount: ci-runner
  pods: [{name: web-cache-7d9f8-abcde, uid: p1, node: gpu-1}]
  podCount: 1
  images: [docker.io/xmrig/xmrig:6.21.0]
  findings:
  - {rule: builtin/miner-binary/xmrig, category: MinerBinary, severity: Critical, container: main, field: "spec.containers[0].command[0]", evidence: xmrig, policies: [strict]}
  severity: Critical
  topIndicator: "builtin/miner-binary/xmrig: xmrig"
  policies: [strict]
  source: Watch
  detectedAt: "2026-11-28T21:00:00.123456Z"
  podCreatedAt: "2026-11-28T20:59:59Z"
status:
  phase: PartiallyContained
  mode: Contain
  actions:
  - {id: scale/apps/Deployment/shop/web-cache, verb: Scale, target: {apiVersion: apps/v1, kind: Deployment, namespace: shop, name: web-cache}, state: Done, attempts: 1, message: "Scaled Deployment shop/web-cache from 3 to 0", undo: {replicas: 3}, finishedAt: "2026-11-28T21:00:00.300000Z"}
  - {id: evict/apps/Deployment/shop/web-cache, verb: Evict, target: {apiVersion: apps/v1, kind: Deployment, namespace: shop, name: web-cache}, state: Failed, attempts: 5, error: "403 Forbidden"}
  timeToContain: 412ms
  estimatedCost: {amount: "0.05", currency: USD, hoursRunning: "0.02", gpuHours: "0.00", cpuHours: "0.02", display: "0.05 USD"}
  costTier: Low
"#;
        let i: CryptojackIncident = serde_saphyr::from_str(yaml).expect("incident");
        let md = render(&i);
        for needle in [
            "# Cryptojacking incident shop/cji-0123456789abcdef",
            "| Severity | Critical |",
            "| Time to contain | 412ms |",
            "## Timeline",
            "Deployment web-cache created by `kubectl-client-side-apply`",
            "Owner chain: Pod → ReplicaSet/web-cache-7d9f8 → Deployment/web-cache",
            "ServiceAccount: `ci-runner`",
            "`builtin/miner-binary/xmrig`",
            "Scaled Deployment shop/web-cache from 3 to 0",
            "{\"replicas\":3}",
            "**Partially contained**: evict/apps/Deployment/shop/web-cache failed",
            "| Were budget alerts configured? | not known to the operator",
            "| Total financial impact? | estimated 0.05 USD",
        ] {
            assert!(md.contains(needle), "missing {needle:?} in\n{md}");
        }
    }
}
