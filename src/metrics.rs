//! The operator's Prometheus metrics (prometheus-client), served on `/metrics`.
//!
//! Every label is bounded: categories, severities, verbs, results, phases and error
//! labels come from fixed enums (`metric_label()`), never from object names.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct IncidentLabels {
    pub category: &'static str,
    pub severity: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ActionLabels {
    pub verb: &'static str,
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    pub controller: &'static str,
    pub error: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReadyLabels {
    pub ready: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PhaseLabels {
    pub phase: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CurrencyLabels {
    pub currency: String,
}

/// The `verb` label values of `cryptojack_actions_total` (the action verbs and `Restore`).
pub const ACTION_VERBS: [&str; 13] = [
    "CollectLogs",
    "Label",
    "Isolate",
    "BlockPorts",
    "Scale",
    "Suspend",
    "Park",
    "Evict",
    "DeleteTokens",
    "RecreateServiceAccount",
    "QuarantineBinding",
    "CapGpuQuota",
    "Restore",
];

/// Every metric of the operator.
pub struct Metrics {
    pub registry: Registry,
    pub incidents: Family<IncidentLabels, Counter>,
    pub actions: Family<ActionLabels, Counter>,
    pub detection_latency: Histogram,
    pub time_to_contain: Histogram,
    pub reconcile_errors: Family<ErrorLabels, Counter>,
    pub policies: Family<ReadyLabels, Gauge>,
    pub incidents_by_phase: Family<PhaseLabels, Gauge>,
    pub leader: Gauge,
    pub pods_evaluated: Counter,
    pub estimated_cost: Family<CurrencyLabels, Counter<f64, AtomicU64>>,
}

/// Buckets from 1 ms to about 33 s.
fn latency_buckets() -> impl Iterator<Item = f64> {
    prometheus_client::metrics::histogram::exponential_buckets(0.001, 2.0, 16)
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("cryptojack");
        let incidents = Family::<IncidentLabels, Counter>::default();
        registry.register(
            "incidents",
            "Incidents created, by the category and severity of their most severe finding",
            incidents.clone(),
        );
        let actions = Family::<ActionLabels, Counter>::default();
        registry.register(
            "actions",
            "Containment and restore actions finished, by verb and result",
            actions.clone(),
        );
        let detection_latency = Histogram::new(latency_buckets());
        registry.register_with_unit(
            "detection_latency",
            "From the pod watch event's arrival to the incident being recorded",
            prometheus_client::registry::Unit::Seconds,
            detection_latency.clone(),
        );
        let time_to_contain = Histogram::new(latency_buckets());
        registry.register_with_unit(
            "time_to_contain",
            "From detection to every owner suspended and every eviction accepted",
            prometheus_client::registry::Unit::Seconds,
            time_to_contain.clone(),
        );
        let reconcile_errors = Family::<ErrorLabels, Counter>::default();
        registry.register(
            "reconcile_errors",
            "Errors of the controllers, by controller and error kind",
            reconcile_errors.clone(),
        );
        let policies = Family::<ReadyLabels, Gauge>::default();
        registry.register(
            "policies",
            "CryptojackPolicies, by readiness",
            policies.clone(),
        );
        let incidents_by_phase = Family::<PhaseLabels, Gauge>::default();
        registry.register(
            "incidents_by_phase",
            "CryptojackIncidents known to the leader, by phase",
            incidents_by_phase.clone(),
        );
        let leader = Gauge::default();
        registry.register(
            "leader",
            "1 when this replica holds the leader Lease",
            leader.clone(),
        );
        let pods_evaluated = Counter::default();
        registry.register(
            "pods_evaluated",
            "Pod events run through the detection engine",
            pods_evaluated.clone(),
        );
        let estimated_cost = Family::<CurrencyLabels, Counter<f64, AtomicU64>>::default();
        registry.register(
            "estimated_cost",
            "Estimated cost of contained incidents at containment, by currency",
            estimated_cost.clone(),
        );
        // Every label set exists from the start (0), so that rates and alerts see the first
        // increment.
        for c in crate::api::Category::ALL {
            for sev in crate::api::Severity::ALL {
                let _ = incidents.get_or_create(&IncidentLabels {
                    category: c.api_str(),
                    severity: sev.api_str(),
                });
            }
        }
        for verb in ACTION_VERBS {
            for result in ["Done", "Failed", "Skipped"] {
                let _ = actions.get_or_create(&ActionLabels { verb, result });
            }
        }
        for ready in ["true", "false"] {
            let _ = policies.get_or_create(&ReadyLabels { ready });
        }
        Metrics {
            registry,
            incidents,
            actions,
            detection_latency,
            time_to_contain,
            reconcile_errors,
            policies,
            incidents_by_phase,
            leader,
            pods_evaluated,
            estimated_cost,
        }
    }

    /// The text exposition format (OpenMetrics).
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    /// The classic Prometheus text format (0.0.4), for scrapers and tools that do not ask
    /// for OpenMetrics (`promtool check metrics` reads this one): counters are declared
    /// under their `_total` sample name, no `# UNIT` and no `# EOF`.
    pub fn encode_classic(&self) -> String {
        let open = self.encode();
        let mut counters: Vec<String> = Vec::new();
        for line in open.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ")
                && let Some((name, kind)) = rest.split_once(' ')
                && kind == "counter"
            {
                counters.push(name.to_string());
            }
        }
        let mut out = String::with_capacity(open.len());
        for line in open.lines() {
            if line == "# EOF" || line.starts_with("# UNIT ") {
                continue;
            }
            let rewritten = ["# HELP ", "# TYPE "].iter().find_map(|prefix| {
                let rest = line.strip_prefix(prefix)?;
                let (name, tail) = rest.split_once(' ')?;
                counters
                    .iter()
                    .any(|c| c == name)
                    .then(|| format!("{prefix}{name}_total {tail}"))
            });
            out.push_str(rewritten.as_deref().unwrap_or(line));
            out.push('\n');
        }
        out
    }

    pub fn error(&self, controller: &'static str, error: &'static str) {
        self.reconcile_errors
            .get_or_create(&ErrorLabels { controller, error })
            .inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_every_family_with_bounded_labels() {
        let m = Metrics::new();
        m.incidents
            .get_or_create(&IncidentLabels {
                category: "MinerBinary",
                severity: "Critical",
            })
            .inc();
        m.actions
            .get_or_create(&ActionLabels {
                verb: "Scale",
                result: "Done",
            })
            .inc();
        m.detection_latency.observe(0.004);
        m.error("incidents", "write");
        m.leader.set(1);
        let text = m.encode();
        for needle in [
            "cryptojack_incidents_total{category=\"MinerBinary\",severity=\"Critical\"} 1",
            "cryptojack_actions_total{verb=\"Scale\",result=\"Done\"} 1",
            "cryptojack_detection_latency_seconds_bucket",
            "cryptojack_reconcile_errors_total{controller=\"incidents\",error=\"write\"} 1",
            "cryptojack_leader 1",
            "# EOF",
        ] {
            assert!(text.contains(needle), "{needle} missing in\n{text}");
        }
        let classic = m.encode_classic();
        for needle in [
            "# HELP cryptojack_incidents_total Incidents created",
            "# TYPE cryptojack_incidents_total counter",
            "cryptojack_incidents_total{category=\"MinerBinary\",severity=\"Critical\"} 1",
            "# TYPE cryptojack_detection_latency_seconds histogram",
        ] {
            assert!(classic.contains(needle), "{needle} missing in\n{classic}");
        }
        assert!(!classic.contains("# EOF") && !classic.contains("# UNIT"));
        // label sets exist from the start
        assert!(text.contains("cryptojack_actions_total{verb=\"Evict\",result=\"Failed\"} 0"));
    }

    #[test]
    fn every_action_verb_has_its_label() {
        use crate::api::ActionVerb::*;
        for v in [
            CollectLogs,
            Label,
            Isolate,
            BlockPorts,
            Scale,
            Suspend,
            Park,
            Evict,
            DeleteTokens,
            RecreateServiceAccount,
            QuarantineBinding,
            CapGpuQuota,
        ] {
            assert!(ACTION_VERBS.contains(&v.as_str()), "{v:?}");
        }
    }
}
