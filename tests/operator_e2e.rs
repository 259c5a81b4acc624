//! Black box: the real `kubesim` and `cryptojack` binaries and the pinned kubectl, as a
//! responder would use them: `kubectl apply -f` a miner, `kubectl get cryptojackincidents
//! -A` shows it Contained with its columns, `kubectl describe` shows the Events,
//! `cryptojack report` prints the post-incident report, `/metrics` passes promtool.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn kubectl_bin() -> PathBuf {
    if let Ok(k) = std::env::var("KUBECTL") {
        return PathBuf::from(k);
    }
    let pinned = repo().join(".tools/bin/kubectl");
    if pinned.exists() {
        pinned
    } else {
        PathBuf::from("kubectl")
    }
}

/// The kubesim binary next to cryptojack's (built on demand when a `-p cryptojack` run
/// did not build it).
fn kubesim_bin() -> PathBuf {
    let dir = Path::new(env!("CARGO_BIN_EXE_cryptojack"))
        .parent()
        .expect("target dir")
        .to_path_buf();
    let bin = dir.join("kubesim");
    if !bin.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "-p", "kubesim", "--bin", "kubesim"])
            .current_dir(repo())
            .status()
            .expect("cargo build -p kubesim");
        assert!(status.success(), "building kubesim");
    }
    bin
}

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Cluster {
    kubeconfig: PathBuf,
    _dir: tempfile::TempDir,
    _sim: Proc,
}

impl Cluster {
    fn start() -> Cluster {
        Cluster::start_with(&[])
    }

    fn start_with(extra: &[&str]) -> Cluster {
        let dir = tempfile::tempdir().expect("tempdir");
        let kubeconfig = dir.path().join("kubeconfig");
        let sim = Command::new(kubesim_bin())
            .args(["--listen", &format!("127.0.0.1:{}", free_port())])
            .arg("--crds")
            .arg(repo().join("crds"))
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .args(["--nodes", "2"])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting kubesim");
        let start = Instant::now();
        while !kubeconfig.exists() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "kubesim did not write its kubeconfig"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Cluster {
            kubeconfig,
            _dir: dir,
            _sim: Proc(sim),
        }
    }

    fn kubectl(&self, args: &[&str]) -> Output {
        Command::new(kubectl_bin())
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(args)
            .output()
            .expect("running kubectl")
    }

    fn kubectl_ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(
            out.status.success(),
            "kubectl {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn cryptojack(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_cryptojack"));
        c.args(args).env("KUBECONFIG", &self.kubeconfig);
        c
    }
}

fn eventually<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn http_get(port: u16, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let (head, body) = out.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.1 200").then(|| body.to_string())
}

/// Undoes chunked transfer encoding (axum streams /metrics chunked).
fn dechunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            return body.to_string();
        };
        if n == 0 || tail.len() < n {
            break;
        }
        out.push_str(&tail[..n]);
        rest = tail[n..].trim_start_matches("\r\n");
    }
    if out.is_empty() {
        body.to_string()
    } else {
        out
    }
}

#[test]
fn a_responder_sees_the_miner_contained_and_reads_the_report() {
    let cluster = Cluster::start();
    // the CRDs are served; without a policy nothing happens
    cluster.kubectl_ok(&["create", "namespace", "cryptojack-system"]);
    let metrics_port = free_port();
    let _operator = Proc(
        cluster
            .cryptojack(&[
                "run",
                "--namespace",
                "cryptojack-system",
                "--metrics-addr",
                &format!("127.0.0.1:{metrics_port}"),
            ])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting cryptojack run"),
    );
    let policy = repo().join("tests/fixtures/operator/contain-policy.yaml");
    cluster.kubectl_ok(&["apply", "-f", policy.to_str().expect("path")]);
    eventually("the policy Ready", Duration::from_secs(30), || {
        let out = cluster.kubectl_ok(&["get", "cryptojackpolicies"]);
        out.lines()
            .any(|l| l.starts_with("contain-all") && l.contains("True"))
            .then_some(())
    });
    let miner = repo().join("examples/workloads/miner-image-deployment.yaml");
    cluster.kubectl_ok(&["apply", "-f", miner.to_str().expect("path")]);

    let table = eventually(
        "kubectl get cryptojackincidents -A to show Contained",
        Duration::from_secs(30),
        || {
            let out = cluster.kubectl_ok(&["get", "cryptojackincidents", "-A"]);
            out.contains("Contained").then_some(out)
        },
    );
    let header: Vec<&str> = table
        .lines()
        .next()
        .expect("header")
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        [
            "NAMESPACE",
            "NAME",
            "WORKLOAD",
            "SEVERITY",
            "INDICATOR",
            "PHASE",
            "CONTAINED-IN",
            "COST",
            "TIER",
            "AGE"
        ],
        "{table}"
    );
    let row = table
        .lines()
        .find(|l| l.contains("Contained"))
        .expect("the row");
    assert!(
        row.contains("Deployment/metrics-exporter") && row.contains("Critical"),
        "{row}"
    );
    let name = row.split_whitespace().nth(1).expect("name").to_string();
    assert!(name.starts_with("cji-"));

    // the short name and describe, with the Events
    let describe = cluster.kubectl_ok(&["describe", "cji", &name, "-n", "default"]);
    assert!(describe.contains("Scale"), "{describe}");
    assert!(describe.contains("Events:"), "{describe}");
    assert!(describe.contains("CryptojackingDetected"), "{describe}");
    let deploy = cluster.kubectl_ok(&[
        "get",
        "deployment",
        "metrics-exporter",
        "-n",
        "default",
        "-o",
        "jsonpath={.spec.replicas}",
    ]);
    assert_eq!(deploy.trim(), "0");

    // the report
    let out = cluster
        .cryptojack(&["report", &name, "-n", "default"])
        .output()
        .expect("report");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "# Cryptojacking incident default/",
        "| Phase | Contained |",
        "## Timeline",
        "## Actions",
        "scale/apps/Deployment/default/metrics-exporter",
        "## Post-incident questions",
    ] {
        assert!(report.contains(needle), "{needle} missing from\n{report}");
    }
    // the report from a file (kubectl get -o yaml)
    let yaml = cluster.kubectl_ok(&["get", "cji", &name, "-n", "default", "-o", "yaml"]);
    let file = cluster.kubeconfig.with_file_name("incident.yaml");
    std::fs::write(&file, yaml).expect("write");
    let out = cluster
        .cryptojack(&["report", "-f", file.to_str().expect("path")])
        .output()
        .expect("report -f");
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("| Phase | Contained |"));

    // metrics: the incident, the actions and the latencies, valid for promtool
    let metrics = eventually(
        "/metrics with the incident by phase",
        Duration::from_secs(15),
        || {
            let m = dechunk(&http_get(metrics_port, "/metrics")?);
            m.contains("cryptojack_incidents_by_phase{phase=\"Contained\"} 1")
                .then_some(m)
        },
    );
    for needle in [
        "cryptojack_incidents_total{",
        "cryptojack_actions_total{verb=\"Scale\",result=\"Done\"} 1",
        "cryptojack_time_to_contain_seconds_count 1",
        "cryptojack_leader 1",
    ] {
        assert!(metrics.contains(needle), "{needle} missing from\n{metrics}");
    }
    assert!(http_get(metrics_port, "/healthz").is_some());
    assert!(http_get(metrics_port, "/readyz").is_some());
    let promtool = repo().join(".tools/bin/promtool");
    if promtool.exists() {
        let mut child = Command::new(&promtool)
            .args(["check", "metrics"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("promtool");
        use std::io::Write;
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(metrics.as_bytes())
            .expect("write");
        let out = child.wait_with_output().expect("promtool output");
        assert!(
            out.status.success(),
            "promtool check metrics: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    } else {
        panic!(
            "promtool is missing: run scripts/install-tools.sh (it installs .tools/bin/promtool)"
        );
    }
}

#[test]
fn a_missing_crd_gives_a_one_line_hint() {
    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = dir.path().join("kubeconfig");
    let _sim = Proc(
        Command::new(kubesim_bin())
            .args(["--listen", &format!("127.0.0.1:{}", free_port())])
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("kubesim"),
    );
    eventually("the kubeconfig", Duration::from_secs(20), || {
        kubeconfig.exists().then_some(())
    });
    let out = Command::new(env!("CARGO_BIN_EXE_cryptojack"))
        .args(["run", "--metrics-addr", "127.0.0.1:0"])
        .env("KUBECONFIG", &kubeconfig)
        .env("RUST_LOG", "off")
        .output()
        .expect("cryptojack run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("CRDs are not installed") && err.contains("kubectl apply -f crds/"),
        "{err}"
    );
}

/// Containment part two as a responder sees it, with RBAC on (kubesim over TLS): the stolen
/// token stops working, GPU pods are refused in the namespace, and the report lists what
/// the operator found out.
#[test]
fn after_containment_the_stolen_token_fails_gpu_pods_are_refused_and_the_report_investigates() {
    let cluster = Cluster::start_with(&["--rbac", "--gpu-nodes", "1"]);
    cluster.kubectl_ok(&["create", "namespace", "cryptojack-system"]);
    cluster.kubectl_ok(&["create", "namespace", "shop"]);
    let _operator = Proc(
        cluster
            .cryptojack(&[
                "run",
                "--namespace",
                "cryptojack-system",
                "--metrics-addr",
                "127.0.0.1:0",
            ])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting cryptojack run"),
    );
    let policy = repo().join("tests/fixtures/operator/contain-policy.yaml");
    cluster.kubectl_ok(&["apply", "-f", policy.to_str().expect("path")]);
    let setup = repo().join("tests/fixtures/operator/ci-runner-miner.yaml");
    cluster.kubectl_ok(&["apply", "-f", setup.to_str().expect("path")]);
    let token = cluster
        .kubectl_ok(&["create", "token", "ci-runner", "-n", "shop"])
        .trim()
        .to_string();
    let whoami = |t: &str| cluster.kubectl(&["--token", t, "auth", "whoami"]);
    let before = whoami(&token);
    assert!(
        before.status.success(),
        "the token works before: {}",
        String::from_utf8_lossy(&before.stderr)
    );
    assert!(
        String::from_utf8_lossy(&before.stdout).contains("system:serviceaccount:shop:ci-runner")
    );

    let miner = repo().join("tests/fixtures/operator/gpu-miner-deployment.yaml");
    cluster.kubectl_ok(&["apply", "-f", miner.to_str().expect("path")]);
    let row = eventually("the incident Contained", Duration::from_secs(40), || {
        let out = cluster.kubectl_ok(&["get", "cji", "-n", "shop"]);
        out.lines()
            .find(|l| l.contains("Contained"))
            .map(String::from)
    });
    let name = row.split_whitespace().next().expect("name").to_string();

    let after = whoami(&token);
    assert!(
        !after.status.success(),
        "the stolen token must fail after containment"
    );
    let err = String::from_utf8_lossy(&after.stderr);
    assert!(err.contains("Unauthorized") || err.contains("401"), "{err}");

    let gpu_pod = repo().join("tests/fixtures/operator/gpu-pod.yaml");
    let refused = eventually("a new GPU pod refused", Duration::from_secs(20), || {
        let out = cluster.kubectl(&["create", "-f", gpu_pod.to_str().expect("path")]);
        if out.status.success() {
            let _ = cluster.kubectl(&["delete", "pod", "training", "-n", "shop", "--wait=false"]);
            None
        } else {
            Some(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    });
    assert!(
        refused.contains("exceeded quota") && refused.contains("requests.nvidia.com/gpu"),
        "{refused}"
    );

    let out = cluster
        .cryptojack(&["report", &name, "-n", "shop"])
        .output()
        .expect("report");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "RBAC bindings that grant the ServiceAccount",
        "RoleBinding shop/ci-runner-edit → ClusterRole/edit",
        "created recently (possible backdoors)",
        "Role shop/token-reader",
        "AWS `eks.amazonaws.com/role-arn` = `arn:aws:iam::123456789012:role/ci-deployer`",
        "recreate-serviceaccount/core/ServiceAccount/shop/ci-runner",
        "cap-gpu-quota/core/ResourceQuota/shop/",
        "a GPU ResourceQuota of 0 was set",
    ] {
        assert!(report.contains(needle), "{needle} missing from\n{report}");
    }
}
