//! Shared helpers of the detection integration tests: build `PodView`s from manifests or by
//! hand, evaluate them, and check generated cases (many variants per class, each with a
//! benign twin) all at once, reporting every failure.
#![allow(dead_code)]

use std::collections::BTreeMap;

use cryptojack::detect::{
    Category, CompiledPolicy, ContainerKind, ContainerView, EnvView, FieldPath, Finding, PodView,
    PortView, Severity,
};
use cryptojack::scan::objects::{Object, entries};

/// One `PodView` from a single-document manifest (Pod or a workload with a pod template),
/// built by the same adapter `cryptojack scan` uses.
pub fn view_from_yaml(yaml: &str) -> PodView {
    let v: serde_json::Value = serde_saphyr::from_str(yaml).expect("valid YAML");
    let mut found = entries(v);
    assert_eq!(found.len(), 1, "one object per manifest");
    match found.remove(0).object {
        Object::Target(view) => *view,
        other => panic!("not a Pod or workload: {other:?}"),
    }
}

/// The label the corpus convention gives a result: `miner` (some high/critical finding other
/// than gpu-unapproved), `gpu` (a gpu-unapproved finding), `miner+gpu`, `suspicious` (a
/// medium finding, nothing high) or `benign`.
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
        (false, false) if findings.iter().any(|f| f.severity >= Severity::Medium) => "suspicious",
        (false, false) => "benign",
    }
}

/// Findings of the built-in default policy for a manifest.
pub fn default_findings(yaml: &str) -> Vec<Finding> {
    CompiledPolicy::builtin_default().evaluate_offline(&view_from_yaml(yaml))
}

// ------------------------------------------------------------------ building views by hand

pub fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// A regular container.
pub fn container(image: &str, command: &[&str], args: &[&str]) -> ContainerView {
    ContainerView {
        kind: ContainerKind::Regular,
        index: 0,
        name: "c".into(),
        image: image.into(),
        command: strings(command),
        args: strings(args),
        ..Default::default()
    }
}

/// A container with env variables.
pub fn with_env(mut c: ContainerView, env: &[(&str, &str)]) -> ContainerView {
    c.env = env
        .iter()
        .enumerate()
        .map(|(index, (n, v))| EnvView {
            index,
            name: n.to_string(),
            value: v.to_string(),
        })
        .collect();
    c
}

/// A container with container ports.
pub fn with_ports(mut c: ContainerView, ports: &[i32]) -> ContainerView {
    c.ports = ports
        .iter()
        .enumerate()
        .map(|(index, &p)| PortView {
            index,
            container_port: p,
            protocol: None,
            name: None,
        })
        .collect();
    c
}

/// A Pod holding the containers (re-indexed in order).
pub fn pod(mut containers: Vec<ContainerView>) -> PodView {
    for (i, c) in containers.iter_mut().enumerate() {
        c.index = i;
        c.name = format!("c{i}");
    }
    PodView {
        kind: "Pod".into(),
        name: "p".into(),
        namespace: Some("default".into()),
        spec_path: FieldPath::fields(&["spec"]),
        containers,
        ..Default::default()
    }
}

/// The default policy's findings for one container.
pub fn run(c: ContainerView) -> Vec<Finding> {
    CompiledPolicy::builtin_default().evaluate_offline(&pod(vec![c]))
}

pub fn rules(f: &[Finding]) -> Vec<&str> {
    f.iter().map(|f| f.rule.as_str()).collect()
}

pub fn max_severity(f: &[Finding]) -> Option<Severity> {
    f.iter().map(|f| f.severity).max()
}

// ------------------------------------------------------------------ generated cases

/// What a generated case must produce.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expect {
    /// Some finding of at least high severity, other than the GPU rule (a miner).
    Miner,
    /// No finding above `Low`.
    Benign,
    /// No finding above this severity, and at least one finding of exactly it.
    Exactly(Severity),
    /// No finding above this severity.
    AtMost(Severity),
    /// A finding of this rule (and the pod is at least `High` when the rule is).
    Rule(String),
    /// No finding of this rule.
    NoRule(String),
    /// A gpu-unapproved finding.
    Gpu,
    /// No gpu-unapproved finding.
    NoGpu,
}

/// A generated case: a name that says what varies, a pod, an expectation.
pub struct Case {
    pub name: String,
    pub view: PodView,
    pub expect: Vec<Expect>,
}

impl Case {
    pub fn new(name: impl Into<String>, view: PodView, expect: Expect) -> Case {
        Case {
            name: name.into(),
            view,
            expect: vec![expect],
        }
    }

    pub fn one(name: impl Into<String>, c: ContainerView, expect: Expect) -> Case {
        Case::new(name, pod(vec![c]), expect)
    }

    pub fn also(mut self, e: Expect) -> Case {
        self.expect.push(e);
        self
    }
}

fn holds(e: &Expect, f: &[Finding]) -> bool {
    let max = max_severity(f);
    match e {
        Expect::Miner => f
            .iter()
            .any(|f| f.category != Category::GpuUnapproved && f.severity >= Severity::High),
        Expect::Benign => max.is_none_or(|s| s <= Severity::Low),
        Expect::Exactly(s) => max == Some(*s),
        Expect::AtMost(s) => max.is_none_or(|m| m <= *s),
        Expect::Rule(r) => f.iter().any(|f| f.rule == *r),
        Expect::NoRule(r) => !f.iter().any(|f| f.rule == *r),
        Expect::Gpu => f.iter().any(|f| f.category == Category::GpuUnapproved),
        Expect::NoGpu => !f.iter().any(|f| f.category == Category::GpuUnapproved),
    }
}

/// Evaluates every case with `policy`; panics listing every case that failed. Also checks
/// what holds for every finding: evidence at most 120 characters, sorted most severe first.
/// Returns how many cases there were of each expectation kind (for the reports).
pub fn check_with(policy: &CompiledPolicy, cases: &[Case]) -> BTreeMap<String, usize> {
    let mut failures = Vec::new();
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for case in cases {
        let f = policy.evaluate_offline(&case.view);
        for e in &case.expect {
            let key = match e {
                Expect::Miner | Expect::Rule(_) | Expect::Gpu | Expect::Exactly(_) => "positive",
                _ => "twin",
            };
            *counts.entry(key.to_string()).or_default() += 1;
            if !holds(e, &f) {
                failures.push(format!(
                    "{}: expected {e:?}, got {:?}",
                    case.name,
                    f.iter()
                        .map(|f| format!(
                            "{} {:?} {} [{}]",
                            f.rule, f.severity, f.field, f.evidence
                        ))
                        .collect::<Vec<_>>()
                ));
            }
        }
        for x in &f {
            if x.evidence.chars().count() > 120 {
                failures.push(format!("{}: evidence too long: {}", case.name, x.evidence));
            }
        }
        if f.windows(2).any(|w| w[0].severity < w[1].severity) {
            failures.push(format!("{}: findings not most severe first", case.name));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    counts
}

/// [`check_with`] the built-in default policy.
pub fn check(cases: &[Case]) -> BTreeMap<String, usize> {
    check_with(&CompiledPolicy::builtin_default(), cases)
}

/// Asserts a class has at least `min` generated variants and as many benign twins.
pub fn assert_class_size(counts: &BTreeMap<String, usize>, min_positive: usize, min_twins: usize) {
    let p = counts.get("positive").copied().unwrap_or(0);
    let t = counts.get("twin").copied().unwrap_or(0);
    assert!(p >= min_positive, "only {p} positive variants");
    assert!(t >= min_twins, "only {t} twins");
}

// ------------------------------------------------------------------ common values

/// A Monero address (95 characters).
pub const XMR: &str = "44K7L8BUNYUGZdZHMc2fkxRwfemfmgWgcCkmRu3CgCg5YT4FWCfS1g9p5cR1RYpWhQo8ZS76sTTyc7wgCzjYXVfv6SaZMUp";
pub const ETH: &str = "0x529084ADCA88fBcB5bD2d5aF02a4B8F0F7dA2EE7";
pub const RVN: &str = "RXLdrSHoatFf8hvERYHfcAV1Bchtq65JZu";
pub const BTC: &str = "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq";

pub fn b64(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(s)
}

pub fn b64_bytes(s: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(s)
}

pub fn hex(s: &[u8]) -> String {
    s.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn gzip(s: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(s).expect("gzip");
    e.finish().expect("gzip")
}

pub fn zlib(s: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(s).expect("zlib");
    e.finish().expect("zlib")
}

/// Quote a word for a POSIX shell (single quotes).
pub fn sq(w: &str) -> String {
    format!("'{}'", w.replace('\'', "'\\''"))
}

/// An argv as one shell command line.
pub fn shell_line(argv: &[&str]) -> String {
    argv.iter().map(|w| sq(w)).collect::<Vec<_>>().join(" ")
}

/// Miner command lines (argv), each a different miner style; every one is a miner on its
/// own.
pub fn miner_argvs() -> Vec<Vec<String>> {
    vec![
        strings(&[
            "/tmp/xmrig",
            "-o",
            "pool.supportxmr.com:443",
            "-u",
            XMR,
            "--tls",
        ]),
        strings(&[
            "./t-rex",
            "-a",
            "kawpow",
            "-o",
            "stratum+tcp://rvn.2miners.com:6060",
            "-u",
            &format!("{RVN}.w1"),
        ]),
        strings(&[
            "/var/tmp/.sys/kworker",
            "--algo",
            "rx/0",
            "--url",
            "gulf.moneroocean.stream:10128",
            "--donate-level",
            "1",
        ]),
        strings(&[
            "/opt/bz/bzminer",
            "-a",
            "kaspa",
            "-p",
            "stratum+ssl://kas.herominers.com:1206",
            "-w",
            "kaspa:qz7ulu4c25dh7fzec9zjyrmlhnkzrg4wmf89q7gzr3gfrsj3uz6xjceef60sd",
        ]),
        strings(&[
            "/usr/local/bin/app",
            "--donate-level=0",
            "--randomx-1gb-pages",
            "-o",
            "mine.example.net:3333",
            "-u",
            XMR,
        ]),
    ]
}

/// Benign command lines (argv) of the same shapes.
pub fn benign_argvs() -> Vec<Vec<String>> {
    vec![
        strings(&["/usr/bin/python3", "-m", "http.server", "8080"]),
        strings(&["nginx", "-g", "daemon off;"]),
        strings(&[
            "/usr/local/bin/gunicorn",
            "app.wsgi:application",
            "-b",
            "0.0.0.0:8000",
            "--workers",
            "4",
        ]),
        strings(&["redis-server", "--appendonly", "yes", "--port", "6379"]),
        strings(&[
            "/app/worker",
            "--queue",
            "emails",
            "-o",
            "out.json",
            "--algo",
            "ppo",
        ]),
    ]
}
