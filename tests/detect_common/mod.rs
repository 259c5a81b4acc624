//! Shared helpers of the detection integration tests: build `PodView`s from manifests.
#![allow(dead_code)]

use cryptojack::detect::{CompiledPolicy, Finding, PodView, Severity};
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{Pod, ReplicationController};

/// One `PodView` from a single-document manifest (Pod or a workload with a pod template).
pub fn view_from_yaml(yaml: &str) -> PodView {
    let v: serde_json::Value = serde_saphyr::from_str(yaml).expect("valid YAML");
    let kind = v["kind"].as_str().expect("kind").to_string();
    let tmpl =
        |meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
         t: Option<&k8s_openapi::api::core::v1::PodTemplateSpec>,
         path: &str| { PodView::from_template(&kind, meta, t.expect("template"), path) };
    match kind.as_str() {
        "Pod" => PodView::from_pod(&serde_json::from_value::<Pod>(v).expect("Pod")),
        "Deployment" => {
            let d: Deployment = serde_json::from_value(v).expect("Deployment");
            tmpl(
                &d.metadata,
                d.spec.as_ref().map(|s| &s.template),
                "spec.template.spec",
            )
        }
        "StatefulSet" => {
            let d: StatefulSet = serde_json::from_value(v).expect("StatefulSet");
            tmpl(
                &d.metadata,
                d.spec.as_ref().map(|s| &s.template),
                "spec.template.spec",
            )
        }
        "DaemonSet" => {
            let d: DaemonSet = serde_json::from_value(v).expect("DaemonSet");
            tmpl(
                &d.metadata,
                d.spec.as_ref().map(|s| &s.template),
                "spec.template.spec",
            )
        }
        "ReplicaSet" => {
            let d: ReplicaSet = serde_json::from_value(v).expect("ReplicaSet");
            tmpl(
                &d.metadata,
                d.spec.as_ref().and_then(|s| s.template.as_ref()),
                "spec.template.spec",
            )
        }
        "ReplicationController" => {
            let d: ReplicationController =
                serde_json::from_value(v).expect("ReplicationController");
            tmpl(
                &d.metadata,
                d.spec.as_ref().and_then(|s| s.template.as_ref()),
                "spec.template.spec",
            )
        }
        "Job" => {
            let d: Job = serde_json::from_value(v).expect("Job");
            tmpl(
                &d.metadata,
                d.spec.as_ref().map(|s| &s.template),
                "spec.template.spec",
            )
        }
        "CronJob" => {
            let d: CronJob = serde_json::from_value(v).expect("CronJob");
            let t = d
                .spec
                .as_ref()
                .and_then(|s| s.job_template.spec.as_ref())
                .map(|s| &s.template);
            tmpl(&d.metadata, t, "spec.jobTemplate.spec.template.spec")
        }
        other => panic!("unsupported kind {other}"),
    }
}

/// The label the corpus convention gives a result: `miner` (some high/critical finding other
/// than gpu-unapproved), `gpu` (a gpu-unapproved finding), `miner+gpu`, or `benign`.
pub fn label_of(findings: &[Finding]) -> &'static str {
    let gpu = findings
        .iter()
        .any(|f| f.category == cryptojack::detect::Category::GpuUnapproved);
    let miner = findings.iter().any(|f| {
        f.category != cryptojack::detect::Category::GpuUnapproved && f.severity >= Severity::High
    });
    match (miner, gpu) {
        (true, true) => "miner+gpu",
        (true, false) => "miner",
        (false, true) => "gpu",
        (false, false) => "benign",
    }
}

/// Findings of the built-in default policy for a manifest.
pub fn default_findings(yaml: &str) -> Vec<Finding> {
    CompiledPolicy::builtin_default().evaluate(&view_from_yaml(yaml))
}
