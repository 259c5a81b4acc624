//! HTTPS: with RBAC on, kubesim serves TLS with a CA generated at start and written into the
//! kubeconfig, so that kubectl sends its bearer token (client-go sends no credentials to a
//! plain-HTTP server) and `kubectl --token`, `kubectl create token` and token kubeconfigs work.
//! kubesim only (the scheme, the CA and the token kubeconfigs are kubesim's).

use crate::common;

use common::{default_builder, sim_cluster, status_of};
use k8s_openapi::api::core::v1::{ConfigMap, ServiceAccount};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::{Api, ListParams, PostParams};
use serde_json::json;

fn kubectl_with(kubeconfig: &std::path::Path, ns: &str, args: &[&str]) -> std::process::Output {
    tokio::task::block_in_place(|| {
        std::process::Command::new(common::kubectl_bin())
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .args(["-n", ns])
            .args(args)
            .output()
            .expect("running kubectl")
    })
}

async fn grant_configmap_reader(admin: &kube::Client, ns: &str, sa: &str) {
    let roles: Api<Role> = Api::namespaced(admin.clone(), ns);
    let role: Role = serde_json::from_value(json!({"metadata": {"name": "cm-reader"},
        "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}]}))
    .expect("role");
    roles
        .create(&PostParams::default(), &role)
        .await
        .expect("role");
    let rbs: Api<RoleBinding> = Api::namespaced(admin.clone(), ns);
    let rb: RoleBinding = serde_json::from_value(json!({"metadata": {"name": "cm-reader"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "cm-reader"},
        "subjects": [{"kind": "ServiceAccount", "name": sa, "namespace": ns}]}))
    .expect("rb");
    rbs.create(&PostParams::default(), &rb)
        .await
        .expect("rolebinding");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rbac_serves_https_and_kubectl_sends_tokens() {
    let Some(c) = sim_cluster(default_builder().rbac(true)).await else {
        return;
    };
    let sim = c.sim();
    assert!(sim.is_tls());
    assert!(sim.url().starts_with("https://127.0.0.1:"), "{}", sim.url());
    let ca = sim.ca_pem().expect("CA").to_string();
    // The kubeconfig carries the CA; every namespace's kube-root-ca.crt publishes it.
    let kc = std::fs::read_to_string(sim.kubeconfig_path()).expect("kubeconfig");
    assert!(kc.contains("certificate-authority-data: "), "{kc}");
    let root: ConfigMap = Api::namespaced(c.client.clone(), &c.ns)
        .get("kube-root-ca.crt")
        .await
        .expect("kube-root-ca.crt");
    assert_eq!(
        root.data.expect("data").get("ca.crt").map(String::as_str),
        Some(ca.as_str())
    );

    let sas: Api<ServiceAccount> = Api::namespaced(c.client.clone(), &c.ns);
    let sa: ServiceAccount =
        serde_json::from_value(json!({"metadata": {"name": "bot"}})).expect("sa");
    sas.create(&PostParams::default(), &sa).await.expect("sa");
    grant_configmap_reader(&c.client, &c.ns, "bot").await;

    // `kubectl create token` (as admin over TLS), then kubectl --token with that token.
    let token = c.kubectl_ok(&["create", "token", "bot"]).trim().to_string();
    assert_eq!(token.split('.').count(), 3, "{token}");
    let out = c.kubectl_ok(&["--token", &token, "get", "configmaps", "-o", "name"]);
    assert!(out.contains("configmap/kube-root-ca.crt"), "{out}");
    // Forbidden (not Unauthorized): the token was sent and identified the ServiceAccount.
    let out = c.kubectl(&["--token", &token, "get", "secrets"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "secrets is forbidden: User \"system:serviceaccount:{}:bot\" cannot list resource \"secrets\"",
            c.ns
        )),
        "{err}"
    );
    let out = c.kubectl(&["--token", "not-a-token", "get", "configmaps"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("You must be logged in to the server"), "{err}");

    // A kubeconfig for the token: kubectl and kube::Client as the ServiceAccount.
    let dir = tempfile_dir();
    let bot_kc = dir.join("bot.kubeconfig");
    sim.kubeconfig_for_token_in(&token, &c.ns, &bot_kc)
        .expect("token kubeconfig");
    let out = kubectl_with(&bot_kc, &c.ns, &["get", "configmaps", "-o", "name"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = kubectl_with(&bot_kc, &c.ns, &["get", "pods"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("forbidden"));
    let bot = sim.client_with_token(&token);
    Api::<ConfigMap>::namespaced(bot, &c.ns)
        .list(&ListParams::default())
        .await
        .expect("kube::Client over TLS as the ServiceAccount");

    // The certificate is really verified: a client trusting another CA is refused.
    let other = kubesim::tls::generate(std::net::IpAddr::from([127, 0, 0, 1])).expect("CA");
    let mut cfg = sim.client_config(sim.admin_token());
    cfg.root_cert = Some(vec![other.ca_der.clone()]);
    cfg.default_retry = false;
    let stranger = kube::Client::try_from(cfg).expect("client");
    let e = Api::<ConfigMap>::namespaced(stranger, &c.ns)
        .list(&ListParams::default())
        .await
        .expect_err("untrusted server certificate");
    assert!(!matches!(e, kube::Error::Api(_)), "{e:?}");
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_stays_available() {
    // Default without RBAC: plain HTTP, kubectl works without credentials.
    let Some(c) = sim_cluster(default_builder()).await else {
        return;
    };
    let sim = c.sim();
    assert!(!sim.is_tls() && sim.url().starts_with("http://"));
    assert!(sim.ca_pem().is_none());
    c.kubectl_ok(&["get", "configmaps"]);

    // RBAC over plain HTTP: kube::Client sends its token and is authorised...
    let Some(c) = sim_cluster(default_builder().rbac(true).tls(false)).await else {
        return;
    };
    let sim = c.sim();
    assert!(sim.url().starts_with("http://"));
    sim.add_user("alice-token", "alice", &[]);
    let mut cfg = sim.client_config("alice-token");
    cfg.default_retry = false;
    let alice = kube::Client::try_from(cfg).expect("client");
    let s = status_of(
        Api::<ConfigMap>::namespaced(alice, &c.ns)
            .list(&ListParams::default())
            .await
            .expect_err("403"),
    );
    assert_eq!(s.code, 403, "{}", s.message);
    // ...while kubectl sends no credentials to a plain-HTTP server: 401 even as the admin. This
    // is why RBAC defaults to HTTPS.
    let out = c.kubectl(&["get", "configmaps"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("You must be logged in to the server"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn tempfile_dir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("kubesim-tls-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

#[test]
fn binary_with_rbac_writes_a_tls_kubeconfig() {
    if std::env::var(common::E2E_ENV).is_ok_and(|v| !v.is_empty()) {
        eprintln!("skipped: kubesim-specific test in e2e mode");
        return;
    }
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};
    let dir = tempfile_dir();
    let kc = dir.join("kubeconfig");
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let mut child = Command::new(env!("CARGO_BIN_EXE_kubesim"))
        .args([
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--nodes",
            "1",
            "--rbac",
        ])
        .arg("--kubeconfig")
        .arg(&kc)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("kubesim");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !kc.exists() {
        assert!(Instant::now() < deadline, "no kubeconfig written");
        std::thread::sleep(Duration::from_millis(50));
    }
    let text = std::fs::read_to_string(&kc).expect("kubeconfig");
    assert!(
        text.contains(&format!("server: https://127.0.0.1:{port}")),
        "{text}"
    );
    assert!(text.contains("certificate-authority-data: "), "{text}");
    let out = Command::new(common::kubectl_bin())
        .arg("--kubeconfig")
        .arg(&kc)
        .args(["get", "nodes", "-o", "name"])
        .output()
        .expect("kubectl");
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "node/node-0");
    let _ = std::fs::remove_dir_all(dir);
}
