//! The `kubesim` binary: writes its kubeconfig once it serves, kubectl works with it, `--fault`
//! rules are active from the start, SIGTERM stops it cleanly.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common;

#[test]
fn binary_serves_kubectl_and_stops_on_sigterm() {
    if std::env::var(common::E2E_ENV).is_ok_and(|v| !v.is_empty()) {
        eprintln!("skipped: kubesim-specific test in e2e mode");
        return;
    }
    let dir = std::env::temp_dir().join(format!("kubesim-bin-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("dir");
    let kc = dir.join("kubeconfig");
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let crds = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../crds");
    let mut child = Command::new(env!("CARGO_BIN_EXE_kubesim"))
        .args([
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--nodes",
            "2",
            "--history",
            "100",
        ])
        .arg("--crds")
        .arg(&crds)
        .arg("--kubeconfig")
        .arg(&kc)
        .arg("--fault")
        .arg(r#"{"verb":"list","resource":"configmaps","namespace":"kube-public","status":500,"message":"injected by --fault"}"#)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("kubesim");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !kc.exists() {
        assert!(Instant::now() < deadline, "no kubeconfig written");
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = Command::new(common::kubectl_bin())
        .arg("--kubeconfig")
        .arg(&kc)
        .args(["get", "nodes", "-o", "name"])
        .output()
        .expect("kubectl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let nodes = String::from_utf8_lossy(&out.stdout);
    assert_eq!(nodes.lines().count(), 2, "{nodes}");
    let out = Command::new(common::kubectl_bin())
        .arg("--kubeconfig")
        .arg(&kc)
        .args([
            "get",
            "crd",
            "cryptojackpolicies.cryptojack.dev",
            "-o",
            "name",
        ])
        .output()
        .expect("kubectl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The --fault rule fails the first list of kube-public's ConfigMaps, not the second.
    let list_cms = || {
        Command::new(common::kubectl_bin())
            .arg("--kubeconfig")
            .arg(&kc)
            .args(["get", "configmaps", "-n", "kube-public", "-o", "name"])
            .output()
            .expect("kubectl")
    };
    let first = list_cms();
    assert!(!first.status.success());
    assert!(
        String::from_utf8_lossy(&first.stderr).contains("injected by --fault"),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let second = list_cms();
    assert!(
        String::from_utf8_lossy(&second.stdout).contains("configmap/kube-root-ca.crt"),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    let term = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(term.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        assert!(Instant::now() < deadline, "kubesim did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
