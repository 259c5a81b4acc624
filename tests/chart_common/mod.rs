//! Shared helpers of the chart tests (tests/chart_*.rs): the pinned tools (helm, kubectl,
//! promtool, kubernetes-validate from `.tools/`), rendering the chart with given values, and
//! the list of optional parts that each get switched on.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// The release and namespace every test renders and installs with.
pub const RELEASE: &str = "cryptojack";
pub const NAMESPACE: &str = "cryptojack-system";

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn chart_dir() -> PathBuf {
    repo().join("charts/cryptojack")
}

/// Fixtures of the chart tests (vendored minimal CRDs, promtool test cases).
pub fn fixtures() -> PathBuf {
    repo().join("tests/chart_common")
}

/// A tool: `$ENV` when set, else `.tools/bin/NAME` of the repository, else NAME on PATH.
pub fn tool(name: &str, env: &str) -> PathBuf {
    if let Ok(p) = std::env::var(env)
        && !p.is_empty()
    {
        return PathBuf::from(p);
    }
    let pinned = repo().join(".tools/bin").join(name);
    if pinned.exists() {
        pinned
    } else {
        PathBuf::from(name)
    }
}

pub fn helm_bin() -> PathBuf {
    tool("helm", "HELM")
}

pub fn kubectl_bin() -> PathBuf {
    tool("kubectl", "KUBECTL")
}

pub fn promtool_bin() -> PathBuf {
    tool("promtool", "PROMTOOL")
}

pub fn kubernetes_validate_bin() -> PathBuf {
    tool("kubernetes-validate", "KUBERNETES_VALIDATE")
}

/// Runs a command to completion (from async tests too: blocking is moved off the runtime's
/// worker so that an in-process kubesim keeps serving).
pub fn run(cmd: &mut Command) -> Output {
    let mut go = || {
        cmd.output()
            .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"))
    };
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(go)
        }
        _ => go(),
    }
}

pub fn text(out: &[u8]) -> String {
    String::from_utf8_lossy(out).into_owned()
}

/// Asserts success; stdout.
pub fn ok(what: &str, out: Output) -> String {
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}",
        out.status,
        text(&out.stderr),
        text(&out.stdout)
    );
    text(&out.stdout)
}

/// helm with a private home (no repositories, no cache shared with the user).
pub struct Helm {
    pub home: tempfile::TempDir,
    pub kubeconfig: Option<PathBuf>,
}

impl Helm {
    pub fn new() -> Helm {
        Helm {
            home: tempfile::tempdir().expect("helm home"),
            kubeconfig: None,
        }
    }

    pub fn with_kubeconfig(kubeconfig: &Path) -> Helm {
        Helm {
            kubeconfig: Some(kubeconfig.to_path_buf()),
            ..Helm::new()
        }
    }

    pub fn command(&self) -> Command {
        let mut c = Command::new(helm_bin());
        let h = self.home.path();
        c.env("HELM_CACHE_HOME", h.join("cache"))
            .env("HELM_CONFIG_HOME", h.join("config"))
            .env("HELM_DATA_HOME", h.join("data"));
        if let Some(k) = &self.kubeconfig {
            c.arg("--kubeconfig").arg(k);
        }
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        run(self.command().args(args))
    }

    pub fn ok(&self, args: &[&str]) -> String {
        ok(&format!("helm {args:?}"), self.run(args))
    }
}

impl Default for Helm {
    fn default() -> Self {
        Helm::new()
    }
}

/// Splits a multi-document YAML stream (helm's output) into JSON values; empty documents
/// are left out.
pub fn split_docs(yaml: &str) -> Vec<Value> {
    let mut docs = Vec::new();
    let mut current = String::new();
    let mut flush = |doc: &mut String| {
        let is_empty = doc
            .lines()
            .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'));
        if !is_empty {
            let v: Value = serde_saphyr::from_str(doc)
                .unwrap_or_else(|e| panic!("rendered YAML does not parse: {e}\n{doc}"));
            if !v.is_null() {
                docs.push(v);
            }
        }
        doc.clear();
    };
    for line in yaml.lines() {
        if line == "---" || line.starts_with("--- ") {
            flush(&mut current);
        } else {
            current.push_str(line);
            current.push('\n');
        }
    }
    flush(&mut current);
    docs
}

/// A rendering of the chart.
pub struct Rendered {
    pub yaml: String,
    pub docs: Vec<Value>,
}

impl Rendered {
    /// `Kind/name` of every object, sorted.
    pub fn objects(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .docs
            .iter()
            .map(|d| {
                format!(
                    "{}/{}",
                    d["kind"].as_str().unwrap_or("?"),
                    d["metadata"]["name"].as_str().unwrap_or("?")
                )
            })
            .collect();
        v.sort();
        v
    }

    pub fn of_kind(&self, kind: &str) -> Vec<&Value> {
        self.docs.iter().filter(|d| d["kind"] == kind).collect()
    }

    pub fn has(&self, kind: &str) -> bool {
        !self.of_kind(kind).is_empty()
    }

    /// The one object of `kind` named `name`.
    pub fn get(&self, kind: &str, name: &str) -> &Value {
        self.docs
            .iter()
            .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("no {kind}/{name} in {:?}", self.objects()))
    }
}

/// `helm template` of the chart (release [`RELEASE`] in [`NAMESPACE`]) with `values` (YAML,
/// may be empty) as a values file.
pub fn render(values: &str) -> Rendered {
    let out = render_raw(values, &[]);
    let yaml = ok("helm template", out);
    let docs = split_docs(&yaml);
    Rendered { yaml, docs }
}

/// `helm template` with `values` and extra arguments; the raw output (may fail).
pub fn render_raw(values: &str, extra: &[&str]) -> Output {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("values.yaml");
    std::fs::write(&file, values).expect("values file");
    let chart = chart_dir();
    let helm = Helm::new();
    let mut args = vec![
        "template",
        RELEASE,
        chart.to_str().expect("utf-8 path"),
        "--namespace",
        NAMESPACE,
        "--values",
        file.to_str().expect("utf-8 path"),
    ];
    args.extend_from_slice(extra);
    helm.run(&args)
}

/// The optional parts of the chart, each switched on by its values (on top of the defaults),
/// and the kinds that part adds.
pub fn optional_parts() -> Vec<(&'static str, &'static str, &'static [&'static str])> {
    vec![
        (
            "serviceMonitor",
            "metrics:\n  serviceMonitor:\n    enabled: true\n    labels: {release: prometheus}\n    scrapeTimeout: 10s\n",
            &["ServiceMonitor"],
        ),
        (
            "prometheusRule",
            "metrics:\n  prometheusRule:\n    enabled: true\n    alertLabels: {team: security}\n",
            &["PrometheusRule"],
        ),
        (
            "grafanaDashboard",
            "grafanaDashboard:\n  enabled: true\n  namespace: monitoring\n  annotations: {grafana_folder: Security}\n",
            &["ConfigMap"],
        ),
        (
            "resolutionPolicy",
            "resolutionPolicy:\n  enabled: true\n  groups: [sec-oncall, soc]\n",
            &[
                "ValidatingAdmissionPolicy",
                "ValidatingAdmissionPolicyBinding",
            ],
        ),
        (
            "credentialRevocation",
            "rbac:\n  credentialRevocation:\n    enabled: true\n",
            &["ClusterRole", "ClusterRoleBinding"],
        ),
        (
            "extraOwners",
            "rbac:\n  extraOwners:\n    - {apiGroup: argoproj.io, resource: rollouts}\n",
            &[],
        ),
        (
            "responderBinding",
            "responders:\n  groups: [sec-oncall]\n  users: [alice@example.com]\n  serviceAccounts: [{name: soar, namespace: soc}]\n",
            &["ClusterRoleBinding"],
        ),
        (
            "containPolicy",
            "defaultPolicy:\n  mode: Contain\n  spec:\n    match:\n      excludeNamespaces: [kube-system]\n    limits:\n      maxIncidentsPerMinute: 5\n",
            &["CryptojackPolicy"],
        ),
        (
            "imageDigest",
            "image:\n  repository: registry.example.com/sec/cryptojack\n  digest: sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n",
            &[],
        ),
        (
            "networkPolicyPeers",
            "networkPolicy:\n  apiServer:\n    cidrs: [10.0.0.1/32, 192.168.10.0/24]\n  metrics:\n    from:\n      - namespaceSelector:\n          matchLabels: {kubernetes.io/metadata.name: monitoring}\n        podSelector:\n          matchLabels: {app.kubernetes.io/name: prometheus}\n",
            &["NetworkPolicy"],
        ),
        (
            "scheduling",
            "nodeSelector: {kubernetes.io/os: linux}\ntolerations: [{key: dedicated, operator: Equal, value: security, effect: NoSchedule}]\naffinity:\n  nodeAffinity:\n    requiredDuringSchedulingIgnoredDuringExecution:\n      nodeSelectorTerms:\n        - matchExpressions: [{key: kubernetes.io/arch, operator: In, values: [amd64]}]\npriorityClassName: system-cluster-critical\npodAnnotations: {example.com/team: security}\npodLabels: {team: security}\n",
            &["Deployment"],
        ),
        (
            "dryRun",
            "operator:\n  dryRun: true\n  logFormat: text\n  logLevel: debug\n",
            &["Deployment"],
        ),
    ]
}

/// Every optional part at once.
pub fn all_parts_values() -> String {
    // Later documents of a values stream would replace, not merge: merge the maps here.
    let mut merged = Value::Object(Default::default());
    for (_, values, _) in optional_parts() {
        let v: Value = serde_saphyr::from_str(values).expect("part values parse");
        merge(&mut merged, v);
    }
    serde_json::to_string(&merged).expect("json is yaml")
}

fn merge(into: &mut Value, from: Value) {
    match (into, from) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                merge(a.entry(k).or_insert(Value::Null), v);
            }
        }
        (slot, v) => *slot = v,
    }
}

/// Creates the namespace `ns` (admin; an existing one is fine).
pub async fn create_namespace(client: &kube::Client, ns: &str) {
    use k8s_openapi::api::core::v1::Namespace;
    let api: kube::Api<Namespace> = kube::Api::all(client.clone());
    let obj: Namespace =
        serde_json::from_value(serde_json::json!({"metadata": {"name": ns}})).expect("namespace");
    match api.create(&kube::api::PostParams::default(), &obj).await {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 409 => {}
        Err(e) => panic!("creating namespace {ns}: {e}"),
    }
}

/// Server-side applies a rendered object with the admin client (as helm 4 does).
pub async fn apply(client: &kube::Client, obj: &Value) {
    use kube::api::{DynamicObject, Patch, PatchParams};
    let av = obj["apiVersion"].as_str().expect("apiVersion");
    let kind = obj["kind"].as_str().expect("kind");
    let name = obj["metadata"]["name"].as_str().expect("name");
    let (group, version) = av.rsplit_once('/').unwrap_or(("", av));
    let gvk = kube::api::GroupVersionKind::gvk(group, version, kind);
    let (ar, caps) = kube::discovery::pinned_kind(client, &gvk)
        .await
        .unwrap_or_else(|e| panic!("discovery of {av} {kind}: {e}"));
    let api: kube::Api<DynamicObject> = match obj["metadata"]["namespace"].as_str() {
        Some(ns) if caps.scope == kube::discovery::Scope::Namespaced => {
            kube::Api::namespaced_with(client.clone(), ns, &ar)
        }
        _ => kube::Api::all_with(client.clone(), &ar),
    };
    api.patch(
        name,
        &PatchParams::apply("helm").force(),
        &Patch::Apply(obj),
    )
    .await
    .unwrap_or_else(|e| panic!("applying {kind} {name}: {e}"));
}

/// The kinds of the chart's RBAC for the operator.
pub const RBAC_KINDS: &[&str] = &[
    "ServiceAccount",
    "ClusterRole",
    "ClusterRoleBinding",
    "Role",
    "RoleBinding",
];

/// Applies the rendering's ServiceAccount and RBAC objects (in [`NAMESPACE`], created first).
pub async fn install_rbac(client: &kube::Client, r: &Rendered) {
    create_namespace(client, NAMESPACE).await;
    for kind in RBAC_KINDS {
        for obj in r.of_kind(kind) {
            apply(client, obj).await;
        }
    }
}

/// A TokenRequest token (one hour) of the ServiceAccount `ns/name`.
pub async fn sa_token(client: &kube::Client, ns: &str, name: &str) -> String {
    use k8s_openapi::api::authentication::v1::TokenRequest;
    use k8s_openapi::api::core::v1::ServiceAccount;
    let sas: kube::Api<ServiceAccount> = kube::Api::namespaced(client.clone(), ns);
    let tr: TokenRequest = serde_json::from_value(serde_json::json!({
        "apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
        "spec": {"audiences": [], "expirationSeconds": 3600}
    }))
    .expect("token request");
    let out: TokenRequest = sas
        .create_subresource("token", name, &kube::api::PostParams::default(), &tr)
        .await
        .unwrap_or_else(|e| panic!("TokenRequest for {ns}/{name}: {e}"));
    out.status.expect("status").token
}

/// `system:serviceaccount:NS:NAME` of the chart's ServiceAccount.
pub fn operator_user() -> String {
    format!("system:serviceaccount:{NAMESPACE}:{RELEASE}")
}

/// Polls `f` every 100 ms until it gives Some, or panics after `timeout` naming `what`.
pub async fn eventually_sync<T>(
    what: &str,
    timeout: std::time::Duration,
    mut f: impl FnMut() -> Option<T>,
) -> T {
    let start = std::time::Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// GET `path` on 127.0.0.1:`port`: (status, body).
pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(2)))
        .ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    let code = buf.split_whitespace().nth(1)?.parse().ok()?;
    let body = buf.split_once("\r\n\r\n").map(|(_, b)| b.to_string())?;
    Some((code, body))
}

/// Polls the future `f` makes every 100 ms until it gives Some, or panics after `timeout`
/// naming `what`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: std::time::Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = std::time::Instant::now();
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
