//! The container image, built and run with podman + runc (scripts/build-image.sh builds it
//! FROM scratch around the static release binary; scripts/test.sh runs it first and passes
//! the reference in `CRYPTOJACK_IMAGE`): a numeric non-root user, `ENTRYPOINT
//! ["/cryptojack"]`, nothing but the binary, its size; `cryptojack --version` and `cryptojack
//! scan` on a mounted manifest inside it (read-only root, no capabilities, no network); and,
//! where the sandbox allows host networking, `cryptojack run` in the container against a
//! kubesim on the host, as the chart's ServiceAccount. A step the sandbox refuses is
//! reported and skipped; nothing else is.
//!
//! Without `CRYPTOJACK_IMAGE` the tests say so and pass (a plain `cargo test`); with
//! `CRYPTOJACK_REQUIRE_IMAGE=1` (scripts/test.sh) a missing image fails them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::chart_common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use chart_common::*;
use serde_json::Value;

/// Largest image we accept (the stripped static binary is about 22 MB).
const MAX_IMAGE_BYTES: u64 = 40 * 1024 * 1024;

fn image() -> Option<String> {
    match std::env::var("CRYPTOJACK_IMAGE") {
        Ok(i) if !i.is_empty() => Some(i),
        _ => {
            let required = std::env::var("CRYPTOJACK_REQUIRE_IMAGE").is_ok_and(|v| v == "1");
            assert!(
                !required,
                "CRYPTOJACK_IMAGE is not set: build the image with scripts/build-image.sh"
            );
            eprintln!(
                "SKIPPED: no image (set CRYPTOJACK_IMAGE=$(scripts/build-image.sh); scripts/test.sh does)"
            );
            None
        }
    }
}

fn podman(args: &[&str]) -> Output {
    let mut c = Command::new("podman");
    c.args(["--runtime", "runc", "--cgroup-manager=cgroupfs"]);
    if std::env::var_os("CONTAINERS_CONF").is_none() {
        c.env(
            "CONTAINERS_CONF",
            repo().join(".tools/containers/containers.conf"),
        );
    }
    run(c.args(args))
}

fn podman_ok(args: &[&str]) -> String {
    ok(&format!("podman {args:?}"), podman(args))
}

fn crate_version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}

/// The hardening the chart's Deployment asks for, on the podman command line.
const HARDENED: &[&str] = &[
    "--read-only",
    "--cap-drop=ALL",
    "--security-opt=no-new-privileges",
];

#[test]
fn the_image_holds_only_the_static_binary_and_runs_as_a_numeric_non_root_user() {
    let Some(image) = image() else { return };
    let inspect: Value =
        serde_json::from_str(&podman_ok(&["image", "inspect", &image])).expect("json");
    let i = &inspect[0];
    assert_eq!(i["Config"]["User"], "65532:65532", "numeric non-root user");
    assert_eq!(
        i["Config"]["Entrypoint"],
        serde_json::json!(["/cryptojack"])
    );
    assert_eq!(i["Architecture"], "amd64");
    assert_eq!(
        i["Config"]["Labels"]["org.opencontainers.image.version"],
        crate_version()
    );
    let size = i["Size"].as_u64().expect("size");
    eprintln!("image {image}: {size} bytes");
    assert!(size < MAX_IMAGE_BYTES, "image of {size} bytes");
    assert_eq!(
        i["RootFS"]["Layers"].as_array().map(Vec::len),
        Some(1),
        "FROM scratch plus one COPY: one layer"
    );
    // Its whole file system: the binary and nothing else.
    let name = format!("cj-files-{}", std::process::id());
    podman_ok(&["create", "--name", &name, &image]);
    let dir = tempfile::tempdir().expect("tempdir");
    let tar = dir.path().join("fs.tar");
    let export = podman(&["export", "-o", tar.to_str().expect("utf-8"), &name]);
    let _ = podman(&["rm", "-f", &name]);
    ok("podman export", export);
    let listing = ok("tar -t", run(Command::new("tar").arg("-tvf").arg(&tar)));
    let files: Vec<&str> = listing
        .lines()
        .filter(|l| !l.starts_with('d'))
        .filter_map(|l| l.split_whitespace().last())
        .collect();
    assert_eq!(files, ["cryptojack"], "{listing}");
    // The chart deploys the same version by default.
    let chart = std::fs::read_to_string(chart_dir().join("Chart.yaml")).expect("Chart.yaml");
    assert!(
        chart.contains(&format!("appVersion: \"{}\"", crate_version())),
        "Chart.yaml appVersion is the crate version"
    );
}

#[test]
fn the_image_runs_version_and_scan_on_a_mounted_manifest() {
    let Some(image) = image() else { return };
    let mut args = vec!["run", "--rm", "--network=none"];
    args.extend_from_slice(HARDENED);
    args.extend_from_slice(&[image.as_str(), "--version"]);
    let out = podman_ok(&args);
    assert_eq!(out.trim(), format!("cryptojack {}", crate_version()));

    // A FROM-scratch image has no libc: that it runs at all shows the binary is static.
    let miner = repo().join("examples/workloads/miner-image-deployment.yaml");
    let benign = repo().join("examples/workloads/benign-minio.yaml");
    let scan = |file: &Path| {
        let mount = format!("{}:/manifests/workload.yaml:ro", file.display());
        let mut args = vec!["run", "--rm", "--network=none", "-v", mount.as_str()];
        args.extend_from_slice(HARDENED);
        args.extend_from_slice(&[
            image.as_str(),
            "scan",
            "/manifests/workload.yaml",
            "--format",
            "json",
        ]);
        podman(&args)
    };
    let out = scan(&miner);
    assert_eq!(
        out.status.code(),
        Some(1),
        "findings exit 1: {}",
        text(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).expect("scan JSON");
    let findings = report["findings"].as_array().expect("findings");
    assert!(!findings.is_empty());
    assert!(
        findings
            .iter()
            .all(|f| f["file"] == "/manifests/workload.yaml")
    );
    assert!(
        findings.iter().any(|f| f["severity"] == "critical"),
        "{findings:?}"
    );
    let out = scan(&benign);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
}

/// Removes the container on drop.
struct Container(String);

impl Drop for Container {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let logs = podman(&["logs", "--tail", "40", &self.0]);
            eprintln!("--- container logs ---\n{}", text(&logs.stderr));
        }
        let _ = podman(&["rm", "-f", "-t", "0", &self.0]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_image_runs_the_operator_against_kubesim_on_the_host() {
    let Some(image) = image() else { return };
    // Host networking: the sandbox may refuse it; then only this test's step is skipped.
    let probe = podman(&["run", "--rm", "--network=host", &image, "--version"]);
    if !probe.status.success() {
        eprintln!(
            "SKIPPED (refused by the sandbox): podman run --network=host: {}",
            text(&probe.stderr).trim()
        );
        return;
    }
    let sim = kubesim::Sim::builder()
        .rbac(true)
        .crds_dir(repo().join("crds"))
        .nodes(1)
        .tick(Duration::from_millis(50))
        .start()
        .await
        .expect("kubesim starts");
    let client = sim.client();
    let rendered = render("");
    install_rbac(&client, &rendered).await;
    apply(&client, rendered.get("CryptojackPolicy", "default")).await;
    let token = sa_token(&client, NAMESPACE, RELEASE).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = dir.path().join("kubeconfig");
    sim.kubeconfig_for_token_in(&token, NAMESPACE, &kubeconfig)
        .expect("kubeconfig");

    let port = free_port();
    let name = format!("cj-run-{}", std::process::id());
    let mount = format!("{}:/var/run/cryptojack/kubeconfig:ro", kubeconfig.display());
    let pod_name = "cryptojack-in-a-container";
    let metrics = format!("--metrics-addr=127.0.0.1:{port}");
    let pod_env = format!("POD_NAME={pod_name}");
    let ns_env = format!("POD_NAMESPACE={NAMESPACE}");
    let mut args = vec![
        "run",
        "-d",
        "--name",
        name.as_str(),
        "--network=host",
        "-v",
        mount.as_str(),
        "-e",
        "KUBECONFIG=/var/run/cryptojack/kubeconfig",
        "-e",
        pod_env.as_str(),
        "-e",
        ns_env.as_str(),
    ];
    args.extend_from_slice(HARDENED);
    args.extend_from_slice(&[
        image.as_str(),
        "run",
        metrics.as_str(),
        "--lease-duration-seconds=15",
        "--log-format=json",
    ]);
    podman_ok(&args);
    let container = Container(name.clone());

    // It leads, compiles the default policy, and answers its probes.
    let leases: kube::Api<k8s_openapi::api::coordination::v1::Lease> =
        kube::Api::namespaced(client.clone(), NAMESPACE);
    let holder = eventually(
        "the container holds the Lease",
        Duration::from_secs(60),
        || async {
            let l = leases.get_opt("cryptojack-leader").await.ok()??;
            l.spec?.holder_identity.filter(|h| h.starts_with(pod_name))
        },
    )
    .await;
    eprintln!("leader: {holder}");
    let policies: kube::Api<cryptojack::api::CryptojackPolicy> = kube::Api::all(client.clone());
    eventually(
        "the default policy Ready",
        Duration::from_secs(30),
        || async {
            let p = policies.get_opt("default").await.ok()??;
            p.status?
                .conditions
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True")
                .then_some(())
        },
    )
    .await;
    for path in ["/healthz", "/readyz"] {
        let (code, _) = http_get(port, path).expect(path);
        assert_eq!(code, 200, "{path}");
    }

    // SIGTERM (podman stop): it exits 0 and gives the Lease up for a standby.
    podman_ok(&["stop", "-t", "20", &name]);
    let state: Value = serde_json::from_str(&podman_ok(&["inspect", &name])).expect("json");
    assert_eq!(state[0]["State"]["ExitCode"], 0, "{}", state[0]["State"]);
    let lease = leases.get("cryptojack-leader").await.expect("lease");
    assert_eq!(
        lease.spec.and_then(|s| s.holder_identity),
        None,
        "the Lease was released"
    );
    drop(container);
}
