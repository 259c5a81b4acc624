//! The detection engine. PURE: no Kubernetes client, no async, no I/O.
//!
//! `CompiledPolicy::compile` turns a `CryptojackPolicy` into multi-pattern automata once;
//! `CompiledPolicy::evaluate` runs a `PodView` through them and returns the findings.
//!
//! Per container the strings are read once (`extract`) the way the container will run
//! them: the kubelet's `$(VAR)` expansion (`$$` escapes) over env and argv; wrappers looked
//! through (`env`, `nohup`, `nice`, `timeout`, `nsenter`, `chroot`, `su -c`, `screen`,
//! `tmux`, `busybox`, `xargs`, the dynamic loader...); `sh -c` scripts split into simple
//! commands with shell variables (`$VAR`, `${VAR:-x}`, `$0`..`$9`, `$@`) resolved from
//! literal env and script assignments; interpreter one-liners (`python -c`, `perl -e`,
//! `ruby -e`, `node -e`, `php -r`, `lua -e`, `Rscript -e`, `awk`) read for the command lines
//! and URLs they build; payloads decoded (base64/base32/hex/escapes/rev/ROT13, gzip, zlib and
//! raw deflate) through nested layers within a budget (16 levels, 8 decoding layers, 1 MiB
//! decoded per container, 256 KiB per script, ratio 100). What exceeds a bound is a finding
//! (`builtin/obfuscation/uninspected`), never a silent cut-off. Every matcher then reads
//! that: the built-in signatures (one Aho-Corasick automaton for words, one for image
//! components, hash lookups for options, CIDR tables for IPs), the policy's indicators
//! (`spec.detect.iocs`) with the same context rules, its own patterns (one automaton + one
//! `RegexSet` per list) and its Sigma rules (one automaton + one `RegexSet` per Sigma field).
//! All wildcards are [`glob`]s (globset syntax).
//!
//! Context decides what a name means: a pool domain in a node daemon's peer option, a DNS
//! sinkhole or blocklist line or a `*BLOCKLIST*` variable is named, not used; a program
//! whose name collides with a miner's (`t-rex` the tile server, nicehash's `excavator`) is a
//! miner only with miner evidence; a non-Monero address counts only next to a miner
//! (or as `WALLET.worker` pool login); a lone Monero address in an env value is medium;
//! env-only miner configuration (pool + wallet, algorithm + pool...) is high.
//!
//! Rule ids in findings (and in `spec.detect.disabledRules`, where a family prefix such as
//! `builtin/miner-flags` names all its rules):
//!
//! | id | category | severity |
//! |---|---|---|
//! | `builtin/miner-binary/<name>` | miner-binary | critical when run (contextual names only with miner evidence); high inside a URL or path |
//! | `builtin/miner-installer/<name>` | miner-binary | critical |
//! | `builtin/miner-image/<name or keyword>` | miner-image | critical (name), high (keyword) |
//! | `builtin/known-ioc/<image, domain or CIDR>` (campaign IOCs, each with its source) | known-ioc | critical |
//! | `builtin/lookalike-registry/<account or registry>` | known-ioc | medium alone; high next to any other medium+ signal |
//! | `builtin/pool/stratum-url` | pool | critical |
//! | `builtin/pool/known-pool` | pool | critical with a port or in a URL, else high |
//! | `builtin/pool/pool-argument` (host:port after a pool option or in a POOL variable, miner-like only) | pool | high |
//! | `builtin/miner-flags/<option>`, `.../algorithm`, `.../coin` | miner-flags | high (shared algorithms only on a miner-like line; an ALGO variable alone: medium) |
//! | `builtin/wallet/<coin>` | wallet | high (Monero in an env value with no other signal: medium) |
//! | `builtin/obfuscation/uninspected`, `builtin/obfuscation/embedded-binary` | miner-binary | medium (uninspected and run by a shell or interpreter: high) |
//! | `builtin/port/stratum-port` | port | low |
//! | `builtin/gpu/unapproved` (resources, globs, DRA claims) | gpu-unapproved | high (one per pod) |
//! | `builtin/node/gpu-instance-type` (not when the GPU request is approved), `builtin/node/region` / `builtin/node/spot` | node | medium / low |
//! | `policy/<policy>/iocs.images[i]`, `.domains[i]`, `.ipRanges[i]` | known-ioc | the entry's (default critical) |
//! | `policy/<policy>/images[i]` (or the pattern's `id`) | miner-image | the pattern's |
//! | `policy/<policy>/commands[i]` (or the pattern's `id`) | known-ioc | the pattern's |
//! | `sigma/<id>` or `policy/<policy>/sigma[i]` | known-ioc | from the Sigma `level` |
//!
//! Pod-level findings: the GPU finding names the first container that requests a GPU (its
//! field is that container's resource quantity, or its `resources.claims` entry for a DRA
//! claim); node findings have no container. The look-alike raise is applied by
//! [`CompiledPolicy::evaluate`]; [`Verdict::incident_severity`] and [`is_lookalike`] expose it.

mod builtin;
mod decode;
pub mod error;
mod extract;
pub mod glob;
mod interp;
mod ioc;
pub mod path;
mod patterns;
mod policyset;
mod resources;
pub mod selector;
mod shell;
mod sigma;
pub mod signatures;
pub mod view;
mod wallet;

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::Arc;

pub use crate::api::{Category, Finding, Severity};
pub use error::{FieldError, PolicyError};
pub use path::{FieldPath, Segment};
pub use policyset::{PolicySet, Verdict, is_placement_context};
pub use resources::{INSTANCE_TYPE_KEYS, REGION_KEYS, SPOT_LABELS};
pub use selector::{LabelSelectorMatcher, WorkloadMatcher, label_selector_matches};
pub use signatures::{
    KnownIoc, LOOKALIKE_RULE_PREFIX, RuleInfo, SIGNATURES_YAML, builtin_rules, known_iocs,
};
pub use view::{
    ClaimSource, ClaimView, ContainerKind, ContainerView, DeviceRequestView, EnvView, EvalContext,
    ExecView, Handler, NamespaceLabels, NodeRequirement, PodView, PortView, TolerationView,
    Workload, device_requests,
};
pub use wallet::MAX_EVIDENCE_CHARS;

use crate::api::{CryptojackPolicySpec, Mode};
use builtin::{Hit, ImageCache, Scanner};
use extract::{Extracted, Field};
use ioc::IocSet;
use patterns::PatternSet;
use resources::{GpuCheck, NodeCheck, NodeSignal};
use sigma::{SigmaField, SigmaScratch, SigmaSet, SigmaValue};
use signatures::Builtin;

/// Name of the policy [`CompiledPolicy::builtin_default`] returns.
pub const DEFAULT_POLICY_NAME: &str = "builtin-default";

#[derive(Debug)]
struct Scope {
    namespace_selector: Option<LabelSelectorMatcher>,
    pod_selector: Option<LabelSelectorMatcher>,
    exclude_namespaces: Vec<String>,
    exempt: Vec<WorkloadMatcher>,
}

#[derive(Debug)]
struct Inner {
    name: String,
    mode: Mode,
    table: Arc<Builtin>,
    signatures: bool,
    /// Indexed like `table.rules`.
    disabled: Vec<bool>,
    gpu: Option<GpuCheck>,
    node: NodeCheck,
    images: PatternSet,
    commands: PatternSet,
    sigma: SigmaSet,
    iocs: IocSet,
    scope: Scope,
    rule_count: u32,
    spec: CryptojackPolicySpec,
    image_cache: ImageCache,
}

/// A policy compiled for evaluation. `Send + Sync`; cloning shares the compiled automata.
#[derive(Clone, Debug)]
pub struct CompiledPolicy {
    inner: Arc<Inner>,
}

impl CompiledPolicy {
    /// Compile a policy once: all patterns into multi-pattern automata (aho-corasick, RegexSet).
    /// Every problem is reported at once, each naming its field.
    pub fn compile(name: &str, spec: &CryptojackPolicySpec) -> Result<CompiledPolicy, PolicyError> {
        let mut errors = Vec::new();
        let table = Builtin::shared();
        let d = &spec.detect;

        let mut disabled = vec![false; table.rules.len()];
        for (i, id) in d.disabled_rules.iter().enumerate() {
            let id = id.trim();
            let family = format!("{}/", id.trim_end_matches('/'));
            let mut named = false;
            for (k, r) in table.rules.iter().enumerate() {
                if r.id == id || r.id.starts_with(&family) {
                    disabled[k] = true;
                    named = true;
                }
            }
            if !named {
                errors.push(FieldError::new(
                    format!("spec.detect.disabledRules[{i}]"),
                    format!(
                        "{id:?} names no built-in rule (ids look like builtin/miner-binary/xmrig; \
                         a family such as builtin/miner-flags names all its rules)"
                    ),
                ));
            }
        }
        let gpu = GpuCheck::new(&d.gpu, &mut errors);
        let node = NodeCheck::new(&d.node, &mut errors);
        let images = PatternSet::compile(
            &d.images,
            "spec.detect.images",
            &format!("policy/{name}/images"),
            &mut errors,
        );
        let commands = PatternSet::compile(
            &d.commands,
            "spec.detect.commands",
            &format!("policy/{name}/commands"),
            &mut errors,
        );
        let sigma = SigmaSet::compile(&d.sigma, name, &mut errors);
        let iocs = IocSet::compile(&d.iocs, name, &mut errors);

        let m = &spec.match_;
        let mut selector =
            |sel: Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector>,
             field: &str| {
                sel.and_then(|s| match LabelSelectorMatcher::new(s, field) {
                    Ok(m) => Some(m),
                    Err(e) => {
                        errors.extend(e);
                        None
                    }
                })
            };
        let namespace_selector = selector(
            m.namespace_selector.as_ref(),
            "spec.match.namespaceSelector",
        );
        let pod_selector = selector(m.pod_selector.as_ref(), "spec.match.podSelector");
        let mut exempt = Vec::new();
        for (i, s) in m.exempt.iter().enumerate() {
            match WorkloadMatcher::new(s, &format!("spec.match.exempt[{i}]")) {
                Ok(w) => exempt.push(w),
                Err(e) => errors.extend(e),
            }
        }
        for (i, s) in spec.response.protect.iter().enumerate() {
            if let Err(e) = WorkloadMatcher::new(s, &format!("spec.response.protect[{i}]")) {
                errors.extend(e);
            }
        }
        if !errors.is_empty() {
            return Err(PolicyError {
                policy: name.to_string(),
                errors,
            });
        }

        let enabled = |k: u32| !disabled[k as usize];
        let mut rule_count = 0u32;
        if d.builtin {
            rule_count += (0..table.signature_rules as u32)
                .filter(|&k| enabled(k))
                .count() as u32;
        }
        if gpu.is_some() && enabled(table.gpu_rule) {
            rule_count += 1;
        }
        for (sig, rule) in [
            (NodeSignal::InstanceType, table.node_instance_rule),
            (NodeSignal::Region, table.node_region_rule),
            (NodeSignal::Spot, table.node_spot_rule),
        ] {
            if node.active(sig) && enabled(rule) {
                rule_count += 1;
            }
        }
        rule_count +=
            (images.rules.len() + commands.rules.len() + sigma.rules.len() + iocs.entries.len())
                as u32;

        Ok(CompiledPolicy {
            inner: Arc::new(Inner {
                name: name.to_string(),
                mode: spec.mode,
                signatures: d.builtin,
                table,
                disabled,
                gpu,
                node,
                images,
                commands,
                sigma,
                iocs,
                scope: Scope {
                    namespace_selector,
                    pod_selector,
                    exclude_namespaces: m.exclude_namespaces.clone(),
                    exempt,
                },
                rule_count,
                spec: spec.clone(),
                image_cache: ImageCache::default(),
            }),
        })
    }

    /// The built-in default policy (Audit, builtin signatures, default GPU rule and node signals).
    #[allow(
        clippy::expect_used,
        reason = "the default spec is a constant of the program, compiled by every test run"
    )]
    pub fn builtin_default() -> CompiledPolicy {
        // The default spec has no user input to get wrong; a failure here is a defect caught by tests.
        CompiledPolicy::compile(DEFAULT_POLICY_NAME, &CryptojackPolicySpec::default())
            .expect("the default policy compiles")
    }

    pub fn name(&self) -> &str {
        &self.inner.name
    }

    pub fn mode(&self) -> Mode {
        self.inner.mode
    }

    /// The policy as written (the planner reads its response, cost and limits).
    pub fn spec(&self) -> &CryptojackPolicySpec {
        &self.inner.spec
    }

    /// Whether `resource` counts as a GPU under this policy's GPU rule (exact names and
    /// globs); false when the rule is off.
    pub fn is_gpu_resource(&self, resource: &str) -> bool {
        self.inner.gpu.as_ref().is_some_and(|g| g.is_gpu(resource))
    }

    /// Whether a DRA device request asks for a GPU under this policy's GPU rule (false when
    /// the rule is off).
    pub fn is_gpu_request(&self, request: &DeviceRequestView) -> bool {
        self.inner
            .gpu
            .as_ref()
            .is_some_and(|g| g.is_gpu_request(request))
    }

    /// The policy's `protect` selectors, compiled (they compiled when the policy did).
    pub fn protect(&self) -> Vec<WorkloadMatcher> {
        self.inner
            .spec
            .response
            .protect
            .iter()
            .filter_map(|s| WorkloadMatcher::new(s, "spec.response.protect").ok())
            .collect()
    }

    /// Number of active rules (built-in signatures not disabled, GPU and node rules in use,
    /// user patterns and Sigma rules).
    pub fn rule_count(&self) -> u32 {
        self.inner.rule_count
    }

    /// Whether this policy covers the pod: its namespace is not excluded, the namespace
    /// selector matches the namespace labels (see [`NamespaceLabels`]: the caller says
    /// whether it knows them), the pod selector matches the pod labels, and, when the
    /// top-level owner is known, no exemption names it.
    pub fn applies_to(&self, view: &PodView, ctx: &EvalContext<'_>) -> bool {
        let s = &self.inner.scope;
        if let Some(ns) = &view.namespace
            && s.exclude_namespaces.iter().any(|x| x == ns)
        {
            return false;
        }
        if let (Some(sel), NamespaceLabels::Known(labels)) =
            (&s.namespace_selector, ctx.namespace_labels)
            && !sel.matches(labels)
        {
            return false;
        }
        if let Some(sel) = &s.pod_selector
            && !sel.matches(&view.labels)
        {
            return false;
        }
        match ctx.workload {
            Some(w) => {
                let ns = view.namespace.as_deref().unwrap_or("default");
                !s.exempt
                    .iter()
                    .any(|e| e.matches(ns, w.kind, w.name, &view.labels))
            }
            None => true,
        }
    }

    /// [`evaluate`](Self::evaluate) as an offline scan sees a manifest (namespace labels
    /// unknown, the object its own workload).
    pub fn evaluate_offline(&self, view: &PodView) -> Vec<Finding> {
        self.evaluate(view, &EvalContext::offline(view))
    }

    /// Findings for one pod, most severe first, no duplicates (same rule and field). Does not
    /// check [`applies_to`](Self::applies_to).
    pub fn evaluate(&self, view: &PodView, ctx: &EvalContext<'_>) -> Vec<Finding> {
        let p = &*self.inner;
        let mut out: Vec<Finding> = Vec::new();
        let needs_text =
            p.signatures || !p.commands.is_empty() || !p.sigma.is_empty() || !p.iocs.is_empty();
        let want_texts = !p.commands.is_empty() || !p.sigma.is_empty();
        let scanner = Scanner {
            b: &p.table,
            disabled: &p.disabled,
            images: &p.image_cache,
        };
        let mut hits: Vec<Hit> = Vec::new();
        let mut ioc_hits: Vec<(u32, Severity, Field, String)> = Vec::new();
        let mut seen = vec![false; p.images.rules.len().max(p.commands.rules.len())];
        let mut sigma_scratch = SigmaScratch::default();

        for c in &view.containers {
            // the container's field path, built only for findings
            let base = || c.path(&view.spec_path);
            let x = if needs_text {
                Extracted::of(c, want_texts)
            } else {
                Extracted::default()
            };
            if p.signatures {
                hits.clear();
                scanner.container(c, &x, &mut hits);
                for h in hits.drain(..) {
                    let info = &p.table.rules[h.rule as usize];
                    out.push(Finding {
                        rule: info.id.clone(),
                        category: info.category,
                        severity: h.severity,
                        container: Some(c.name.clone()),
                        field: field_path(&base(), c, h.field).to_string(),
                        evidence: h.evidence,
                        policies: Vec::new(),
                    });
                }
            }
            if !p.iocs.is_empty() {
                ioc_hits.clear();
                scanner.policy_iocs(&p.iocs, c, &x, &mut ioc_hits);
                for (e, severity, field, evidence) in ioc_hits.drain(..) {
                    let entry = &p.iocs.entries[e as usize];
                    let evidence = match &entry.source {
                        Some(src) => format!("{evidence} (IOC {}: {src})", entry.value),
                        None => format!("{evidence} (IOC {})", entry.value),
                    };
                    out.push(Finding {
                        rule: entry.id.clone(),
                        category: Category::KnownIoc,
                        severity,
                        container: Some(c.name.clone()),
                        field: field_path(&base(), c, field).to_string(),
                        evidence: wallet::truncate_chars(&evidence, MAX_EVIDENCE_CHARS),
                        policies: Vec::new(),
                    });
                }
            }
            if !p.images.is_empty() && !c.image.is_empty() {
                p.images.matches(&c.image, &mut seen, |r, s, e| {
                    let rule = &p.images.rules[r as usize];
                    out.push(Finding {
                        rule: rule.id.clone(),
                        category: Category::MinerImage,
                        severity: rule.severity,
                        container: Some(c.name.clone()),
                        field: field_path(&base(), c, Field::Image).to_string(),
                        evidence: wallet::evidence(&c.image, s, e, false),
                        policies: Vec::new(),
                    });
                });
            }
            if !p.commands.is_empty() {
                let script_words = x
                    .cmds
                    .iter()
                    .flat_map(|cmd| cmd.words.iter())
                    .filter(|w| !w.skip && matches!(w.text, std::borrow::Cow::Owned(_)))
                    .map(|w| (w.text.as_ref(), w.field, w.decoded));
                let texts = x
                    .texts
                    .iter()
                    .map(|t| (t.text.as_ref(), t.field, t.decoded));
                for (text, field, decoded) in texts.chain(script_words) {
                    p.commands.matches(text, &mut seen, |r, s, e| {
                        let rule = &p.commands.rules[r as usize];
                        out.push(Finding {
                            rule: rule.id.clone(),
                            category: Category::KnownIoc,
                            severity: rule.severity,
                            container: Some(c.name.clone()),
                            field: field_path(&base(), c, field).to_string(),
                            evidence: wallet::evidence(text, s, e, decoded),
                            policies: Vec::new(),
                        });
                    });
                }
            }
            if !p.sigma.is_empty() {
                let lines = x.script_lines();
                let values = sigma_values(c, &x, &lines);
                p.sigma.evaluate(&values, &mut sigma_scratch, |ri, vi| {
                    let rule = &p.sigma.rules[ri];
                    let (field, evidence) = match vi.map(|v| &values[v]) {
                        Some(v) => (
                            v.tag.0,
                            wallet::evidence(v.text, 0, v.text.len().min(80), v.tag.1),
                        ),
                        None => (
                            Field::Image,
                            wallet::truncate_chars(&rule.title, MAX_EVIDENCE_CHARS),
                        ),
                    };
                    out.push(Finding {
                        rule: rule.id.clone(),
                        category: Category::KnownIoc,
                        severity: rule.severity,
                        container: Some(c.name.clone()),
                        field: field_path(&base(), c, field).to_string(),
                        evidence,
                        policies: Vec::new(),
                    });
                });
            }
        }

        // the approval labels are read only for a pod that requests a GPU or runs on a node
        // with a GPU-instance signal
        let gpu_approved = std::cell::OnceCell::new();
        let approved = || {
            *gpu_approved.get_or_init(|| {
                p.gpu
                    .as_ref()
                    .is_some_and(|g| g.approved(view, ctx.namespace_labels))
            })
        };
        if let Some(gpu) = &p.gpu
            && !p.disabled[p.table.gpu_rule as usize]
            && let Some((ci, field, evidence)) = gpu.check(view, approved)
        {
            let c = &view.containers[ci];
            out.push(Finding {
                rule: p.table.rules[p.table.gpu_rule as usize].id.clone(),
                category: Category::GpuUnapproved,
                severity: Severity::High,
                container: Some(c.name.clone()),
                field: field.to_string(),
                evidence: wallet::truncate_chars(&evidence, MAX_EVIDENCE_CHARS),
                policies: Vec::new(),
            });
        }
        for (sig, field, evidence) in p.node.check(view, ctx.node_labels) {
            let rule = match sig {
                // a GPU instance is what an approved GPU workload is meant to run on
                NodeSignal::InstanceType if approved() => continue,
                NodeSignal::InstanceType => p.table.node_instance_rule,
                NodeSignal::Region => p.table.node_region_rule,
                NodeSignal::Spot => p.table.node_spot_rule,
            };
            if p.disabled[rule as usize] {
                continue;
            }
            let info = &p.table.rules[rule as usize];
            out.push(Finding {
                rule: info.id.clone(),
                category: Category::Node,
                severity: info.severity,
                container: None,
                field: field.to_string(),
                evidence,
                policies: Vec::new(),
            });
        }

        raise_lookalikes(&mut out);
        // most severe first (stable: discovery order within a severity), then drop repeats of
        // the same rule and field, keeping the most severe one
        if out.len() > 1 {
            out.sort_by_key(|f| std::cmp::Reverse(f.severity));
            let mut keys: HashSet<(&str, &str)> = HashSet::with_capacity(out.len());
            let keep: Vec<bool> = out
                .iter()
                .map(|f| keys.insert((f.rule.as_str(), f.field.as_str())))
                .collect();
            let mut k = keep.into_iter();
            out.retain(|_| k.next().unwrap_or(true));
        }
        out
    }
}

/// Whether a finding is a look-alike registry account or host.
pub fn is_lookalike(f: &Finding) -> bool {
    f.rule.starts_with(LOOKALIKE_RULE_PREFIX)
}

/// A look-alike registry raises the pod's severity by one level, at most to High, when any
/// other signal is there: its findings are reported at `High` then (alone they are `Medium`).
pub(crate) fn raise_lookalikes(findings: &mut [Finding]) {
    let others = findings
        .iter()
        .filter(|f| !is_lookalike(f) && !policyset::is_placement_context(f))
        .map(|f| f.severity)
        .max();
    let Some(others) = others else { return };
    let incident = others.max(Severity::Medium).raised(Severity::High);
    for f in findings.iter_mut().filter(|f| is_lookalike(f)) {
        if f.severity < incident && incident <= Severity::High {
            f.severity = incident;
        }
    }
}

/// Field path of a container field, e.g. `spec.containers[0].args[3]`.
fn field_path(base: &FieldPath, c: &ContainerView, f: Field) -> FieldPath {
    match f {
        Field::Image => base.field("image"),
        Field::Command(i) => base.field("command").index(i),
        Field::Args(i) => base.field("args").index(i),
        Field::Env(i) => base.field("env").index(i).field("value"),
        Field::CommandLine if c.command.is_empty() => base.field("args"),
        Field::CommandLine => base.field("command"),
        Field::Port(i) => base.field("ports").index(i).field("containerPort"),
        Field::Exec(h, i) => exec_path(base, h).index(i),
        Field::ExecLine(h) => exec_path(base, h),
    }
}

/// `base.lifecycle.postStart.exec.command` and the like.
fn exec_path(base: &FieldPath, h: Handler) -> FieldPath {
    h.path()
        .iter()
        .fold(base.clone(), |p, f| p.field(Cow::Borrowed(*f)))
}

/// Values offered to Sigma rules: `Image` = the image reference and each program run;
/// `CommandLine` = the joined command line, each command/args element, each simple command of
/// a script and each decoded payload.
fn sigma_values<'x>(
    c: &'x ContainerView,
    x: &'x Extracted<'x>,
    lines: &'x [extract::Text<'static>],
) -> Vec<SigmaValue<'x, (Field, bool)>> {
    let mut v = Vec::new();
    if !c.image.is_empty() {
        v.push(SigmaValue {
            field: SigmaField::Image,
            text: c.image.as_str(),
            tag: (Field::Image, false),
        });
    }
    for cmd in &x.cmds {
        if cmd.data {
            continue;
        }
        if let Some(p) = cmd.program {
            let w = &cmd.words[p];
            v.push(SigmaValue {
                field: SigmaField::Image,
                text: w.text.as_ref(),
                tag: (w.field, w.decoded),
            });
        }
    }
    for t in &x.texts {
        if !matches!(t.field, Field::Env(_)) {
            v.push(SigmaValue {
                field: SigmaField::CommandLine,
                text: t.text.as_ref(),
                tag: (t.field, t.decoded),
            });
        }
    }
    for line in lines {
        v.push(SigmaValue {
            field: SigmaField::CommandLine,
            text: line.text.as_ref(),
            tag: (line.field, line.decoded),
        });
    }
    v
}
