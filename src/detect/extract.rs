//! Turns a container into what the matchers read, once per container: the simple commands
//! it runs and the raw strings, each word tagged with the field it came from.
//!
//! What a container runs is found the way the kubelet, the shell and the interpreters would
//! find it:
//! - `$(VAR)` in `command`/`args` (and in env values, from the variables defined before
//!   them) is expanded from the container's literal env, `$$` escaping included;
//! - wrappers are looked through to the program they run (`nohup`, `nice -n 19`,
//!   `timeout 1h`, `env A=B`, `nsenter -t 1 -m --`, `chroot DIR`, `screen -dmS NAME`,
//!   `start-stop-daemon --exec`, `xargs`, `busybox`, the dynamic loader, ...), and the
//!   scripts some of them take (`su -c`, `runuser -c`, `flock -c`, `script -c`, `env -S`,
//!   `eval`, `watch`, `tmux new`, `tmux send-keys`) are analysed as scripts;
//! - `sh -c` scripts are split into commands with `$VAR` / `${VAR}` expanded from the env,
//!   the script's own assignments and `sh -c SCRIPT $0 $1...`; command substitutions,
//!   here-documents and `echo ... | sh` are followed;
//! - interpreter one-liners (`python -c`, `perl -e`, ...) are read for the commands and
//!   code they run ([`super::interp`]);
//! - payloads run through decoders (`base64 -d`, `xxd -r -p`, `base32 -d`, `rev`, ROT13
//!   `tr`, printf escapes, gzip/zlib) are decoded ([`super::decode`]) layer after layer,
//!   within a budget; what cannot be inspected within it is reported, not dropped.

use std::borrow::Cow;

use super::decode::{self, Decoded, Step};
use super::interp::{self, Lang};
use super::shell::{self, ShellWord, Vars};
use super::view::{ContainerView, Handler};

/// Deepest nesting of scripts (`sh -c` in `sh -c`, substitutions, code in code).
pub(crate) const MAX_DEPTH: u8 = 16;
/// Most decoding layers (a payload inside a payload ...).
pub(crate) const MAX_LAYERS: u8 = 8;
/// Total decoded bytes per container.
pub(crate) const MAX_DECODED_TOTAL: usize = 1 << 20;
/// Longest script or code split into commands. Longer ones (far beyond what fits in a pod
/// spec) get a finding of their own; their first bytes are split into commands and their
/// whole text is still scanned as one word for pools, stratum URLs, wallets and IOCs.
pub(crate) const MAX_SCRIPT_BYTES: usize = 256 * 1024;

/// The container field a string comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Field {
    Image,
    Command(usize),
    Args(usize),
    /// Index in the container's `env` list.
    Env(usize),
    /// The joined command line (`command` + `args`).
    CommandLine,
    /// Index in the container's `ports` list.
    Port(usize),
    /// Index in the exec command of a lifecycle hook or probe.
    Exec(Handler, usize),
    /// The joined exec command of a lifecycle hook or probe.
    ExecLine(Handler),
}

#[derive(Clone, Debug)]
pub(crate) struct Word<'a> {
    pub text: Cow<'a, str>,
    pub field: Field,
    /// Comes from a decoded payload.
    pub decoded: bool,
    /// Already analysed as a script, code or payload; matchers skip it.
    pub skip: bool,
    /// Fed to the command's standard input (here-string, here-document).
    pub here: bool,
}

#[derive(Clone, Debug)]
pub(crate) struct Cmd<'a> {
    pub words: Vec<Word<'a>>,
    /// Index of the word that is the program this command runs (after wrappers), if any.
    pub program: Option<usize>,
    /// Data, not a command (env values, a printed text).
    pub data: bool,
    /// Came out of a script, code or payload (not the container's own argv).
    pub nested: bool,
}

#[derive(Clone, Debug)]
pub(crate) struct Text<'a> {
    pub text: Cow<'a, str>,
    pub field: Field,
    pub decoded: bool,
}

/// Something that could not be inspected fully.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum LimitKind {
    /// A payload not decoded (too large, a bomb, an unsupported compressor, too many layers,
    /// scripts nested too deep).
    Uninspected,
    /// A decoded payload that is an executable.
    EmbeddedBinary,
    /// A payload that could not be inspected (an unsupported compressor, a cipher, binary
    /// data) and that the pipeline runs (`... | base64 -d | xz -d | sh`).
    UninspectedRun,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Limit {
    pub kind: LimitKind,
    pub field: Field,
    pub evidence: String,
}

/// An env variable after the kubelet's `$(VAR)` expansion.
#[derive(Clone, Debug)]
pub(crate) struct EnvVal<'a> {
    pub index: usize,
    pub name: &'a str,
    pub value: Cow<'a, str>,
}

/// Everything the matchers read of one container.
#[derive(Clone, Debug, Default)]
pub(crate) struct Extracted<'a> {
    pub cmds: Vec<Cmd<'a>>,
    /// Raw strings (only when asked for): each command/args element, env values, decoded
    /// payloads, the joined command line.
    pub texts: Vec<Text<'a>>,
    pub limits: Vec<Limit>,
    pub env: Vec<EnvVal<'a>>,
    want_texts: bool,
    decoded_budget: usize,
}

/// The kubelet's expansion of `$(VAR)` references (`$$` is a literal `$`; unknown
/// references stay as written), as in Kubernetes' `third_party/forked/golang/expansion`.
pub(crate) fn kubelet_expand<'s>(
    input: &'s str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Cow<'s, str> {
    if !input.contains('$') {
        return Cow::Borrowed(input);
    }
    let b = input.as_bytes();
    let mut out = String::with_capacity(input.len());
    let mut checkpoint = 0;
    let mut cursor = 0;
    while cursor < b.len() {
        if b[cursor] == b'$' && cursor + 1 < b.len() {
            out.push_str(&input[checkpoint..cursor]);
            let rest = &input[cursor + 1..];
            let advance = match rest.as_bytes()[0] {
                b'$' => {
                    out.push('$');
                    1
                }
                b'(' => match rest[1..].find(')') {
                    Some(close) => {
                        let name = &rest[1..1 + close];
                        match lookup(name) {
                            Some(v) => out.push_str(&v),
                            None => {
                                out.push_str("$(");
                                out.push_str(name);
                                out.push(')');
                            }
                        }
                        close + 2
                    }
                    None => {
                        out.push_str("$(");
                        1
                    }
                },
                _ => {
                    out.push('$');
                    let ch = rest.chars().next().map_or(0, char::len_utf8);
                    out.push_str(&rest[..ch]);
                    ch
                }
            };
            cursor += advance;
            checkpoint = cursor + 1;
        }
        cursor += 1;
    }
    if checkpoint < input.len() {
        out.push_str(&input[checkpoint..]);
    }
    Cow::Owned(out)
}

/// Parameters a script can know: the container's env and `sh -c SCRIPT $0 $1 ...`.
struct ScriptVars<'e, 'a> {
    env: &'e [EnvVal<'a>],
    pos: Vec<String>,
    all: String,
}

impl Vars for ScriptVars<'_, '_> {
    fn get(&self, name: &str) -> Option<&str> {
        match name.as_bytes() {
            [d @ b'0'..=b'9'] => self.pos.get(usize::from(d - b'0')).map(String::as_str),
            [b'@' | b'*'] => Some(self.all.as_str()),
            _ => self
                .env
                .iter()
                .rev()
                .find(|e| e.name == name)
                .map(|e| e.value.as_ref()),
        }
    }
}

/// Basename of a program path, e.g. `/usr/local/bin/xmrig` → `xmrig`.
pub(crate) fn basename(s: &str) -> &str {
    s.rsplit('/').next().unwrap_or(s)
}

const SHELLS: &[&str] = &[
    "sh",
    "bash",
    "dash",
    "ash",
    "zsh",
    "ksh",
    "mksh",
    "yash",
    "posh",
    "busybox-sh",
    "rbash",
    "csh",
    "tcsh",
    "fish",
];

/// How a wrapper takes its options and what it runs.
#[derive(Default)]
struct Spec {
    /// Short options that take a value (attached or as the next word).
    value_short: &'static str,
    /// Long options that take a value (as the next word unless written `--opt=value`).
    value_long: &'static [&'static str],
    /// Leading operands before the program (duration, mask, user, new root...).
    positional: usize,
    /// A short option that drops the leading operand (`runuser -u USER -- cmd`).
    clears_positional: &'static str,
    /// Options whose value is a shell command line.
    script_short: &'static str,
    script_long: &'static [&'static str],
    /// Options whose value is the program (`start-stop-daemon --exec`).
    program_short: &'static str,
    program_long: &'static [&'static str],
    /// The remaining words form a command line (`eval`, `watch`).
    rest_is_script: bool,
    /// Nothing runs unless a script option is given (`su`, `script`).
    needs_script: bool,
    /// `NAME=value` words may precede the program (`env`).
    assignments: bool,
}

fn wrapper(base: &str) -> Option<Spec> {
    let s = match base {
        "nohup" | "setsid" | "catatonit" | "unbuffer" | "torify" | "torsocks" | "tsocks"
        | "builtin" | "!" | "{" | "then" | "do" | "else" | "if" | "elif" | "while" | "until"
        | "busybox" | "command" => Spec::default(),
        "exec" => Spec {
            value_short: "a",
            ..Spec::default()
        },
        "env" => Spec {
            value_short: "uC",
            value_long: &["--unset", "--chdir", "--split-string"],
            script_short: "S",
            assignments: true,
            ..Spec::default()
        },
        "nice" => Spec {
            value_short: "n",
            value_long: &["--adjustment"],
            ..Spec::default()
        },
        "ionice" => Spec {
            value_short: "cnp",
            value_long: &["--class", "--classdata", "--pid"],
            ..Spec::default()
        },
        "taskset" => Spec {
            positional: 1,
            ..Spec::default()
        },
        "chrt" => Spec {
            value_short: "TPD",
            positional: 1,
            ..Spec::default()
        },
        "stdbuf" => Spec {
            value_short: "ioe",
            value_long: &["--input", "--output", "--error"],
            ..Spec::default()
        },
        "time" => Spec {
            value_short: "fo",
            value_long: &["--format", "--output"],
            ..Spec::default()
        },
        "timeout" => Spec {
            value_short: "sk",
            value_long: &["--signal", "--kill-after"],
            positional: 1,
            ..Spec::default()
        },
        "sudo" => Spec {
            value_short: "ugpCDrtUT",
            value_long: &[
                "--user",
                "--group",
                "--prompt",
                "--close-from",
                "--chdir",
                "--role",
                "--type",
                "--other-user",
                "--command-timeout",
                "--host",
            ],
            ..Spec::default()
        },
        "doas" => Spec {
            value_short: "uC",
            ..Spec::default()
        },
        "su-exec" | "gosu" | "setuidgid" | "s6-setuidgid" | "faketime" => Spec {
            positional: 1,
            ..Spec::default()
        },
        "runuser" => Spec {
            value_short: "ugGsw",
            value_long: &[
                "--user",
                "--group",
                "--supp-group",
                "--shell",
                "--whitelist-environment",
            ],
            positional: 1,
            clears_positional: "u",
            script_short: "c",
            script_long: &["--command"],
            ..Spec::default()
        },
        "su" => Spec {
            value_short: "sgGw",
            value_long: &[
                "--shell",
                "--group",
                "--supp-group",
                "--whitelist-environment",
            ],
            positional: 1,
            script_short: "c",
            script_long: &["--command", "--session-command"],
            needs_script: true,
            ..Spec::default()
        },
        "sg" => Spec {
            positional: 1,
            script_short: "c",
            ..Spec::default()
        },
        "chroot" => Spec {
            value_long: &["--userspec", "--groups"],
            positional: 1,
            ..Spec::default()
        },
        "nsenter" => Spec {
            value_short: "tSG",
            value_long: &["--target", "--setuid", "--setgid", "--user-parent"],
            ..Spec::default()
        },
        "unshare" => Spec {
            value_short: "SGRw",
            value_long: &[
                "--setuid",
                "--setgid",
                "--root",
                "--wd",
                "--map-user",
                "--map-group",
                "--propagation",
                "--setgroups",
            ],
            ..Spec::default()
        },
        "screen" => Spec {
            value_short: "SctehTpX",
            value_long: &["-Logfile"],
            ..Spec::default()
        },
        "watch" => Spec {
            value_short: "nq",
            value_long: &["--interval", "--equexit"],
            rest_is_script: true,
            ..Spec::default()
        },
        "eval" => Spec {
            rest_is_script: true,
            ..Spec::default()
        },
        "xargs" => Spec {
            value_short: "nILPsdEa",
            value_long: &[
                "--max-args",
                "--replace",
                "--max-lines",
                "--max-procs",
                "--max-chars",
                "--delimiter",
                "--eof",
                "--arg-file",
            ],
            ..Spec::default()
        },
        "tini" | "tini-static" => Spec {
            value_short: "pe",
            ..Spec::default()
        },
        "dumb-init" => Spec {
            value_short: "r",
            value_long: &["--rewrite"],
            ..Spec::default()
        },
        "flock" => Spec {
            value_short: "wE",
            value_long: &["--wait", "--timeout", "--conflict-exit-code"],
            positional: 1,
            script_short: "c",
            script_long: &["--command"],
            ..Spec::default()
        },
        "script" => Spec {
            value_short: "TIOBE",
            value_long: &["--log-timing", "--log-in", "--log-out", "--log-io"],
            script_short: "c",
            script_long: &["--command"],
            needs_script: true,
            ..Spec::default()
        },
        "start-stop-daemon" => Spec {
            value_short: "pnugsRrdcNPIk",
            value_long: &[
                "--pidfile",
                "--name",
                "--user",
                "--group",
                "--signal",
                "--retry",
                "--chroot",
                "--chdir",
                "--chuid",
                "--nicelevel",
                "--procsched",
                "--iosched",
                "--umask",
                "--output",
            ],
            program_short: "xa",
            program_long: &["--exec", "--startas"],
            ..Spec::default()
        },
        "chpst" => Spec {
            value_short: "uUbe/nlLmdofpcrt",
            ..Spec::default()
        },
        "numactl" => Spec {
            value_short: "CNmpiP",
            ..Spec::default()
        },
        "cgexec" => Spec {
            value_short: "g",
            ..Spec::default()
        },
        "systemd-run" => Spec {
            value_short: "pEu",
            value_long: &[
                "--unit",
                "--property",
                "--setenv",
                "--description",
                "--slice",
                "--uid",
                "--gid",
            ],
            ..Spec::default()
        },
        "setpriv" | "prlimit" => Spec::default(),
        "strace" => Spec {
            value_short: "oepsuEISbPXa",
            ..Spec::default()
        },
        "ltrace" => Spec {
            value_short: "oenpsuIaAD",
            ..Spec::default()
        },
        "proxychains" | "proxychains4" => Spec {
            value_short: "f",
            ..Spec::default()
        },
        b if b.starts_with("ld-linux") || b.starts_with("ld-musl") || b == "ld.so" => Spec {
            value_long: &[
                "--library-path",
                "--preload",
                "--argv0",
                "--audit",
                "--inhibit-rpath",
            ],
            ..Spec::default()
        },
        _ => return None,
    };
    Some(s)
}

fn is_assignment(w: &str) -> bool {
    match w.find('=') {
        Some(eq) if eq > 0 => {
            let name = &w[..eq];
            name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                && !name.as_bytes()[0].is_ascii_digit()
        }
        _ => false,
    }
}

/// What a simple command runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Run {
    /// Just the program (or nothing).
    Program,
    /// A command line: from word `at` (at byte `offset`), or the words from `at` joined.
    Script {
        at: usize,
        offset: usize,
        joined: bool,
    },
    /// Inline code: the parts (word, offset), joined by newlines.
    Code {
        lang: Lang,
        parts: Vec<(usize, usize)>,
    },
    /// A shell or interpreter reading its program from standard input.
    Stdin(Option<Lang>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Resolved {
    pub program: Option<usize>,
    pub run: Run,
}

fn text_of<'w>(words: &'w [Word<'_>], i: usize) -> &'w str {
    words[i].text.as_ref()
}

/// Resolves a shell's options: `-c SCRIPT`, `-s`, or a script file.
fn shell_run(words: &[Word<'_>], p: usize) -> Run {
    let mut has_c = false;
    let mut stdin = false;
    let mut i = p + 1;
    while i < words.len() {
        let a = text_of(words, i);
        // a lone `-` ends the options like `--` (bash, dash): `sh -` reads standard input
        if a == "--" || a == "-" || words[i].here {
            i += 1;
            continue;
        }
        if a == "-o" || a == "+o" || a == "-O" || a == "+O" {
            i += 2;
            continue;
        }
        if (a.starts_with('-') || a.starts_with('+')) && a.len() > 1 && !a.starts_with("--") {
            has_c |= a[1..].contains('c');
            stdin |= a[1..].contains('s');
            i += 1;
            continue;
        }
        if a.starts_with("--") {
            i += 1;
            continue;
        }
        if has_c {
            return Run::Script {
                at: i,
                offset: 0,
                joined: false,
            };
        }
        return if stdin {
            Run::Stdin(None)
        } else {
            Run::Program
        };
    }
    Run::Stdin(None)
}

/// Resolves an interpreter's options: inline code, a script file, or standard input.
fn code_run(words: &[Word<'_>], p: usize, lang: Lang) -> Run {
    let code_opts = interp::code_options(lang);
    let value_opts = interp::value_options(lang);
    let mut parts = Vec::new();
    let mut i = p + 1;
    // node/deno: `deno eval CODE`
    while i < words.len() {
        let a = text_of(words, i);
        if words[i].here {
            i += 1;
            continue;
        }
        if code_opts.contains(&a) {
            if i + 1 < words.len() {
                parts.push((i + 1, 0));
            }
            i += 2;
            continue;
        }
        if lang == Lang::Awk && !a.starts_with('-') {
            return Run::Code {
                lang,
                parts: vec![(i, 0)],
            };
        }
        if value_opts.contains(&a) {
            if lang == Lang::Awk && a == "-f" {
                return Run::Program;
            }
            i += 2;
            continue;
        }
        if a == "-" {
            return Run::Stdin(Some(lang));
        }
        if a.starts_with('-') && a.len() > 1 && !a.starts_with("--") {
            // clusters: `-lne CODE`, `-uc CODE`, attached `-cCODE` / `-e'CODE'`
            let letters = &a[1..];
            let code_letter = code_opts
                .iter()
                .filter_map(|o| o.strip_prefix('-'))
                .filter(|o| o.len() == 1)
                .find_map(|o| letters.find(o).map(|k| (k, o.len())));
            if let Some((k, l)) = code_letter {
                if k + l == letters.len() {
                    if i + 1 < words.len() {
                        parts.push((i + 1, 0));
                    }
                    i += 2;
                } else {
                    parts.push((i, 1 + k + l));
                    i += 1;
                }
                continue;
            }
            i += 1;
            continue;
        }
        if a.starts_with("--") {
            i += 1;
            continue;
        }
        // a script file (or `python -m module`)
        break;
    }
    if !parts.is_empty() {
        Run::Code { lang, parts }
    } else if (i >= words.len() || words[i..].iter().all(|w| w.here)) && !matches!(lang, Lang::Awk)
    {
        Run::Stdin(Some(lang))
    } else {
        Run::Program
    }
}

/// `tmux [opts] new-session|new-window|split-window|respawn-*|send-keys [opts] [command]`.
fn tmux_run(words: &[Word<'_>], p: usize) -> Run {
    let mut i = p + 1;
    // global options
    while i < words.len() && text_of(words, i).starts_with('-') {
        let a = text_of(words, i);
        i += if matches!(a, "-L" | "-S" | "-f" | "-c" | "-T") {
            2
        } else {
            1
        };
    }
    let Some(sub) = words.get(i).map(|w| w.text.as_ref()) else {
        return Run::Program;
    };
    let send = matches!(sub, "send-keys" | "send");
    let runs = send
        || matches!(
            sub,
            "new-session"
                | "new"
                | "new-window"
                | "neww"
                | "split-window"
                | "splitw"
                | "respawn-pane"
                | "respawnp"
                | "respawn-window"
                | "respawnw"
        );
    if !runs {
        return Run::Program;
    }
    i += 1;
    while i < words.len() {
        let a = text_of(words, i);
        if a == "--" {
            i += 1;
            break;
        }
        if !a.starts_with('-') || a.len() < 2 {
            break;
        }
        let last = a.chars().last().unwrap_or('-');
        i += if a.len() == 2 && "sncxyeFlptwTN".contains(last) {
            2
        } else {
            1
        };
    }
    if i >= words.len() {
        return Run::Program;
    }
    Run::Script {
        at: i,
        offset: 0,
        joined: true,
    }
}

/// Resolves what a simple command runs: the program after assignments and wrappers, and
/// the script or code it is given.
pub(crate) fn resolve(words: &[Word<'_>]) -> Resolved {
    let n = words.len();
    let mut i = 0;
    for _ in 0..16 {
        while i < n && is_assignment(text_of(words, i)) {
            i += 1;
        }
        if i >= n {
            return Resolved {
                program: None,
                run: Run::Program,
            };
        }
        let base = basename(text_of(words, i));
        if SHELLS.contains(&base) {
            return Resolved {
                program: Some(i),
                run: shell_run(words, i),
            };
        }
        if let Some(lang) = interp::interpreter(base) {
            return Resolved {
                program: Some(i),
                run: code_run(words, i, lang),
            };
        }
        if base == "tmux" {
            return Resolved {
                program: Some(i),
                run: tmux_run(words, i),
            };
        }
        if base == "command"
            && words
                .get(i + 1)
                .is_some_and(|w| matches!(w.text.as_ref(), "-v" | "-V"))
        {
            return Resolved {
                program: None,
                run: Run::Program,
            };
        }
        let Some(spec) = wrapper(base) else {
            return Resolved {
                program: Some(i),
                run: Run::Program,
            };
        };
        let watch_exec = base == "watch"
            && words[i + 1..]
                .iter()
                .any(|w| matches!(w.text.as_ref(), "-x" | "--exec"));
        let wrapper_at = i;
        i += 1;
        let mut positional = spec.positional;
        let mut ended = false;
        while i < n {
            let a = text_of(words, i);
            if !ended && a == "--" {
                ended = true;
                i += 1;
                continue;
            }
            if !ended && a.len() > 2 && (a.starts_with("--") || spec.value_long.contains(&a)) {
                let (name, inline) = match a.split_once('=') {
                    Some((n, _)) => (n, true),
                    None => (a, false),
                };
                if spec.script_long.contains(&name) {
                    return Resolved {
                        program: Some(wrapper_at),
                        run: if inline {
                            Run::Script {
                                at: i,
                                offset: name.len() + 1,
                                joined: false,
                            }
                        } else {
                            Run::Script {
                                at: i + 1,
                                offset: 0,
                                joined: false,
                            }
                        },
                    };
                }
                if spec.program_long.contains(&name) {
                    let at = if inline { i } else { i + 1 };
                    return Resolved {
                        program: (at < n).then_some(at),
                        run: Run::Program,
                    };
                }
                i += if spec.value_long.contains(&name) && !inline {
                    2
                } else {
                    1
                };
                continue;
            }
            if !ended && a.len() > 1 && a.starts_with('-') && !a.starts_with("--") {
                let letters = &a[1..];
                let mut skip_next = false;
                for (k, ch) in letters.char_indices() {
                    let rest = &letters[k + ch.len_utf8()..];
                    if spec.script_short.contains(ch) {
                        return Resolved {
                            program: Some(wrapper_at),
                            run: if rest.is_empty() {
                                Run::Script {
                                    at: i + 1,
                                    offset: 0,
                                    joined: false,
                                }
                            } else {
                                Run::Script {
                                    at: i,
                                    offset: 1 + k + ch.len_utf8(),
                                    joined: false,
                                }
                            },
                        };
                    }
                    if spec.program_short.contains(ch) {
                        let at = if rest.is_empty() { i + 1 } else { i };
                        return Resolved {
                            program: (at < n).then_some(at),
                            run: Run::Program,
                        };
                    }
                    if spec.clears_positional.contains(ch) {
                        positional = 0;
                    }
                    if spec.value_short.contains(ch) {
                        skip_next = rest.is_empty();
                        break;
                    }
                }
                i += if skip_next { 2 } else { 1 };
                continue;
            }
            if spec.assignments && is_assignment(a) {
                i += 1;
                continue;
            }
            if positional > 0 {
                positional -= 1;
                i += 1;
                continue;
            }
            break;
        }
        if i >= n {
            return Resolved {
                program: None,
                run: Run::Program,
            };
        }
        if spec.rest_is_script && !watch_exec {
            return Resolved {
                program: Some(wrapper_at),
                run: Run::Script {
                    at: i,
                    offset: 0,
                    joined: true,
                },
            };
        }
        if spec.needs_script {
            return Resolved {
                program: None,
                run: Run::Program,
            };
        }
    }
    Resolved {
        program: None,
        run: Run::Program,
    }
}

/// A decoding stage of a pipeline.
fn decoder_steps(words: &[Word<'_>], r: &Resolved) -> Option<Vec<Step>> {
    let p = r.program?;
    let prog = basename(text_of(words, p));
    let args: Vec<&str> = words[p + 1..].iter().map(|w| w.text.as_ref()).collect();
    let has = |flags: &[&str]| args.iter().any(|a| flags.contains(a));
    let cluster_has = |c: char| {
        args.iter()
            .any(|a| a.starts_with('-') && !a.starts_with("--") && a[1..].contains(c))
    };
    let decode_flag = has(&["--decode", "-D", "--decode=true"]) || cluster_has('d');
    let step = match prog {
        "base64" | "base64.exe" | "gbase64" if decode_flag => Step::Base64,
        "base32" if decode_flag => Step::Base32,
        "basenc" if decode_flag => {
            if has(&["--base64", "--base64url"]) {
                Step::Base64
            } else if has(&["--base32", "--base32hex"]) {
                Step::Base32
            } else if has(&["--base16"]) {
                Step::Hex
            } else {
                return None;
            }
        }
        "openssl" => {
            if has(&["zlib"]) && has(&["-d"]) {
                Step::Inflate
            } else if has(&["base64", "-base64", "-a", "-A"]) && has(&["-d"]) {
                Step::Base64
            } else {
                return None;
            }
        }
        "xxd"
            if (has(&["-r"]) || cluster_has('r'))
                && (has(&["-p", "-ps", "-plain", "-postscript"]) || cluster_has('p')) =>
        {
            Step::Hex
        }
        "rev" => Step::Reverse,
        "tr" if args.len() >= 2 => {
            let a = args[args.len() - 2];
            let b = args[args.len() - 1];
            let rot = matches!(
                (a, b),
                ("A-Za-z", "N-ZA-Mn-za-m")
                    | ("a-zA-Z", "n-za-mN-ZA-M")
                    | ("[A-Za-z]", "[N-ZA-Mn-za-m]")
                    | ("a-zA-Z", "n-za-mN-Z-AM")
            );
            if !rot {
                return None;
            }
            Step::Rot13
        }
        "gunzip" | "zcat" | "gzcat" | "unpigz" => Step::Inflate,
        "gzip" | "pigz" if decode_flag || has(&["--decompress", "--uncompress"]) => Step::Inflate,
        "zlib-flate" if has(&["-uncompress"]) => Step::Inflate,
        "bunzip2" | "bzcat" => Step::Unsupported("bzip2"),
        "bzip2" if decode_flag => Step::Unsupported("bzip2"),
        "unxz" | "xzcat" | "unlzma" | "lzcat" => Step::Unsupported("xz"),
        "xz" | "lzma" if decode_flag => Step::Unsupported("xz"),
        "unzstd" | "zstdcat" => Step::Unsupported("zstd"),
        "zstd" if decode_flag => Step::Unsupported("zstd"),
        "lz4" | "lz4cat" if decode_flag || prog == "lz4cat" => Step::Unsupported("lz4"),
        _ => return None,
    };
    Some(vec![step])
}

/// The text a source stage writes: `echo ARGS`, `printf FORMAT ARGS`, `cat <<EOF`, and
/// whether it holds escapes to decode (`printf '\x..'`, `echo -e '\x..'`).
fn source_text(words: &[Word<'_>], r: &Resolved) -> Option<(String, bool, Vec<usize>)> {
    let p = r.program?;
    let prog = basename(text_of(words, p));
    let mut used = Vec::new();
    let here: Vec<usize> = (0..words.len())
        .filter(|&i| i > p && words[i].here && prog == "cat")
        .collect();
    match prog {
        "echo" => {
            let mut escapes = false;
            let mut parts = Vec::new();
            for (i, w) in words.iter().enumerate().skip(p + 1) {
                let t = w.text.as_ref();
                if parts.is_empty()
                    && t.starts_with('-')
                    && t.len() > 1
                    && t[1..].chars().all(|c| "neE".contains(c))
                {
                    escapes |= t.contains('e');
                    continue;
                }
                parts.push(t);
                used.push(i);
            }
            let text = parts.join(" ");
            let esc = escapes && decode::has_escapes(&text);
            Some((text, esc, used))
        }
        "printf" => {
            let fmt = words.get(p + 1)?.text.as_ref();
            used.push(p + 1);
            let args: Vec<&str> = words[p + 2..].iter().map(|w| w.text.as_ref()).collect();
            used.extend(p + 2..words.len());
            if matches!(fmt, "%s" | "%b" | "%s\\n" | "%b\\n") {
                let text = args.join("");
                let esc = fmt.starts_with("%b") && decode::has_escapes(&text);
                Some((text, esc, used))
            } else {
                Some((fmt.to_string(), decode::has_escapes(fmt), used))
            }
        }
        "cat" if !here.is_empty() => {
            let text = here
                .iter()
                .map(|&i| words[i].text.as_ref())
                .collect::<Vec<_>>()
                .join("\n");
            Some((text, false, here))
        }
        _ => None,
    }
}

/// Whether `text` could be the input of `step`.
fn fits(step: Step, text: &str) -> bool {
    match step {
        Step::Base64 => decode::looks_base64(text),
        Step::Hex => decode::looks_hex(text),
        Step::Base32 => text.trim().len() >= 16,
        _ => !text.trim().is_empty(),
    }
}

/// Who consumes a decoded payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Consumer {
    Script,
    Code(Lang),
}

impl<'a> Extracted<'a> {
    /// Extracts a container. `want_texts`: also collect the raw strings (for policy
    /// patterns and Sigma rules; the built-in signatures read only the commands).
    pub(crate) fn of(c: &'a ContainerView, want_texts: bool) -> Extracted<'a> {
        let mut out = Extracted {
            want_texts,
            decoded_budget: MAX_DECODED_TOTAL,
            env: Vec::with_capacity(c.env.len()),
            cmds: Vec::with_capacity(2 + c.env.len()),
            ..Extracted::default()
        };
        // env values, each expanded from those defined before it (as the kubelet does)
        for e in &c.env {
            let value = if e.value.contains('$') {
                let before = &out.env;
                let lookup = |name: &str| {
                    before
                        .iter()
                        .rev()
                        .find(|x| x.name == name)
                        .map(|x| x.value.to_string())
                };
                kubelet_expand(&e.value, &lookup)
            } else {
                Cow::Borrowed(e.value.as_str())
            };
            out.env.push(EnvVal {
                index: e.index,
                name: e.name.as_str(),
                value,
            });
        }
        let argv = expanded_words(
            &out.env,
            c.command
                .iter()
                .enumerate()
                .map(|(i, s)| (Field::Command(i), s))
                .chain(c.args.iter().enumerate().map(|(i, s)| (Field::Args(i), s))),
        );
        if want_texts {
            out.push_argv_texts(&argv, Field::CommandLine);
        }
        if !argv.is_empty() {
            // `args` alone go to the image's entrypoint; when they start with an option
            // there is no program word (when they start with a word, entrypoint wrappers
            // run it).
            if c.command.is_empty() && argv[0].text.starts_with('-') {
                out.cmds.push(Cmd {
                    words: argv,
                    program: None,
                    data: false,
                    nested: false,
                });
            } else {
                out.analyze_argv(argv, 0, 0, false);
            }
        }
        // lifecycle hooks and exec probes: the kubelet expands `$(VAR)` in them too
        // (`ExpandContainerCommandOnlyStatic`) and execs them in the container
        for exec in &c.execs {
            let argv = expanded_words(
                &out.env,
                exec.command
                    .iter()
                    .enumerate()
                    .map(|(i, s)| (Field::Exec(exec.handler, i), s)),
            );
            if want_texts {
                out.push_argv_texts(&argv, Field::ExecLine(exec.handler));
            }
            out.analyze_argv(argv, 0, 0, false);
        }
        for k in 0..out.env.len() {
            let (field, value) = {
                let e = &out.env[k];
                (Field::Env(e.index), e.value.clone())
            };
            if value.is_empty() {
                continue;
            }
            if want_texts {
                out.texts.push(Text {
                    text: value.clone(),
                    field,
                    decoded: false,
                });
            }
            out.analyze_data(value, field);
        }
        out
    }

    /// Each word of an argv as a text, and the joined line as `line`.
    fn push_argv_texts(&mut self, argv: &[Word<'a>], line: Field) {
        for w in argv {
            self.texts.push(Text {
                text: w.text.clone(),
                field: w.field,
                decoded: false,
            });
        }
        if argv.len() > 1 {
            let joined = argv
                .iter()
                .map(|w| w.text.as_ref())
                .collect::<Vec<_>>()
                .join(" ");
            self.texts.push(Text {
                text: Cow::Owned(joined),
                field: line,
                decoded: false,
            });
        }
    }

    /// Each simple command that came from a script, code or payload, as one line (for
    /// Sigma's `CommandLine`).
    pub(crate) fn script_lines(&self) -> Vec<Text<'static>> {
        self.cmds
            .iter()
            .filter(|c| c.words.len() > 1 && c.nested && !c.data)
            .map(|c| Text {
                text: Cow::Owned(
                    c.words
                        .iter()
                        .map(|w| w.text.as_ref())
                        .collect::<Vec<_>>()
                        .join(" "),
                ),
                field: c.words[0].field,
                decoded: c.words[0].decoded,
            })
            .collect()
    }

    fn limit(&mut self, kind: LimitKind, field: Field, evidence: String) {
        if self.limits.len() < 16
            && !self
                .limits
                .iter()
                .any(|l| l.kind == kind && l.field == field)
        {
            self.limits.push(Limit {
                kind,
                field,
                evidence,
            });
        }
    }

    /// An env value (or another datum): its words are scanned, nothing in it runs.
    fn analyze_data(&mut self, value: Cow<'a, str>, field: Field) {
        // a value no matcher can find anything in (`info`, `8`, `eu-west-1`): no URL, host,
        // path or option, and no run long enough to be a wallet address
        let mut run = 0usize;
        let mut long_run = false;
        for b in value.bytes() {
            if b.is_ascii_alphanumeric() {
                run += 1;
                long_run |= run >= 26;
            } else {
                run = 0;
            }
        }
        if !long_run
            && !value.starts_with('-')
            && !value.contains(['.', '/', ':', ' ', '$', '`', '\\'])
        {
            return;
        }
        let simple = value.len() > MAX_SCRIPT_BYTES
            || !value.bytes().any(|b| {
                matches!(
                    b,
                    b' ' | b'\t'
                        | b'\n'
                        | b';'
                        | b'|'
                        | b'&'
                        | b'\''
                        | b'"'
                        | b'`'
                        | b'$'
                        | b'\\'
                        | b'('
                        | b')'
                        | b'<'
                        | b'>'
                )
            });
        if simple {
            self.cmds.push(Cmd {
                words: vec![Word {
                    text: value,
                    field,
                    decoded: false,
                    skip: false,
                    here: false,
                }],
                program: None,
                data: true,
                nested: false,
            });
            return;
        }
        let script = shell::parse_with(&value, &shell::NoVars);
        for pipeline in script.pipelines {
            for cmd in pipeline {
                self.cmds.push(Cmd {
                    words: cmd
                        .into_iter()
                        .map(|w| Word {
                            text: Cow::Owned(w.text),
                            field,
                            decoded: false,
                            skip: false,
                            here: false,
                        })
                        .collect(),
                    program: None,
                    data: true,
                    nested: false,
                });
            }
        }
    }

    fn analyze_argv(&mut self, words: Vec<Word<'a>>, depth: u8, layers: u8, nested: bool) {
        let r = resolve(&words);
        self.run_resolved(words, r, depth, layers, nested);
    }

    fn run_resolved(
        &mut self,
        mut words: Vec<Word<'a>>,
        r: Resolved,
        depth: u8,
        layers: u8,
        nested: bool,
    ) {
        match r.run.clone() {
            Run::Script { at, offset, joined } if at < words.len() => {
                let field = words[at].field;
                let decoded = words[at].decoded;
                let (text, pos) = if joined {
                    let t = words[at..]
                        .iter()
                        .map(|w| w.text.as_ref())
                        .collect::<Vec<_>>()
                        .join(" ");
                    for w in &mut words[at..] {
                        w.skip = true;
                    }
                    (t, Vec::new())
                } else {
                    let t = words[at].text.get(offset..).unwrap_or_default().to_string();
                    words[at].skip = true;
                    let pos = words[at + 1..].iter().map(|w| w.text.to_string()).collect();
                    (t, pos)
                };
                let text = self.bounded(text, field, &mut words[at]);
                self.cmds.push(Cmd {
                    words,
                    program: r.program,
                    data: false,
                    nested,
                });
                self.analyze_script(&text, field, decoded, depth + 1, layers, pos);
            }
            Run::Code { lang, parts } => {
                let valid: Vec<(usize, usize)> = parts
                    .into_iter()
                    .filter(|(i, _)| *i < words.len())
                    .collect();
                let code = valid
                    .iter()
                    .map(|&(i, off)| words[i].text.get(off..).unwrap_or_default())
                    .collect::<Vec<_>>()
                    .join("\n");
                let (field, decoded) = valid
                    .first()
                    .map_or((Field::CommandLine, false), |&(i, _)| {
                        (words[i].field, words[i].decoded)
                    });
                let mut probe = Word {
                    text: Cow::Borrowed(""),
                    field,
                    decoded,
                    skip: false,
                    here: false,
                };
                let code = self.bounded(code, field, &mut probe);
                self.cmds.push(Cmd {
                    words,
                    program: r.program,
                    data: false,
                    nested,
                });
                self.analyze_code(lang, &code, field, decoded, depth + 1, layers);
            }
            _ => self.cmds.push(Cmd {
                words,
                program: r.program,
                data: false,
                nested,
            }),
        }
    }

    /// Cuts a script longer than [`MAX_SCRIPT_BYTES`] (at a line or command boundary when
    /// there is one near), records the limit, and leaves its word to the word matchers.
    fn bounded(&mut self, text: String, field: Field, word: &mut Word<'_>) -> String {
        if text.len() <= MAX_SCRIPT_BYTES {
            return text;
        }
        let mut end = MAX_SCRIPT_BYTES;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        if let Some(nl) = text[..end].rfind(['\n', ';']).filter(|&k| k + 4096 > end) {
            end = nl + 1;
        }
        word.skip = false;
        self.limit(
            LimitKind::Uninspected,
            field,
            format!(
                "script of {} bytes is larger than the {MAX_SCRIPT_BYTES}-byte inspection bound: \
                 its first {end} bytes were split into commands, all of it scanned for indicators",
                text.len()
            ),
        );
        let mut text = text;
        text.truncate(end);
        text
    }

    fn too_deep(&mut self, depth: u8, layers: u8, field: Field) -> bool {
        if depth > MAX_DEPTH {
            self.limit(
                LimitKind::Uninspected,
                field,
                format!("script nested more than {MAX_DEPTH} levels deep, not inspected"),
            );
            return true;
        }
        if layers > MAX_LAYERS {
            self.limit(
                LimitKind::Uninspected,
                field,
                format!("payload encoded in more than {MAX_LAYERS} layers, not inspected"),
            );
            return true;
        }
        false
    }

    fn analyze_script(
        &mut self,
        text: &str,
        field: Field,
        decoded: bool,
        depth: u8,
        layers: u8,
        pos: Vec<String>,
    ) {
        if self.too_deep(depth, layers, field) {
            return;
        }
        let script = {
            let all = pos.iter().skip(1).cloned().collect::<Vec<_>>().join(" ");
            let vars = ScriptVars {
                env: &self.env,
                pos,
                all,
            };
            shell::parse_with(text, &vars)
        };
        if script.expansion_cut {
            self.limit(
                LimitKind::Uninspected,
                field,
                format!(
                    "parameter expansion beyond {} bytes, the rest not inspected",
                    shell::MAX_EXPANSION
                ),
            );
        }
        for pipeline in script.pipelines {
            self.analyze_pipeline(pipeline, field, decoded, depth, layers);
        }
        for nested in script.nested {
            self.analyze_script(&nested, field, decoded, depth + 1, layers, Vec::new());
        }
    }

    fn analyze_pipeline(
        &mut self,
        pipeline: Vec<Vec<ShellWord>>,
        field: Field,
        decoded: bool,
        depth: u8,
        layers: u8,
    ) {
        let stages: Vec<(Vec<Word<'a>>, Resolved)> = pipeline
            .into_iter()
            .map(|cmd| {
                let words: Vec<Word<'a>> = cmd
                    .into_iter()
                    .map(|w| Word {
                        text: Cow::Owned(w.text),
                        field,
                        decoded,
                        skip: false,
                        here: w.here_string,
                    })
                    .collect();
                let r = resolve(&words);
                (words, r)
            })
            .collect();
        let mut stages = stages;
        let mut payloads: Vec<(String, Consumer, u8)> = Vec::new();

        // decoder chain
        let first_decoder = stages
            .iter()
            .position(|(w, r)| decoder_steps(w, r).is_some());
        let consumer_after = |from: usize, stages: &[(Vec<Word<'a>>, Resolved)]| -> Consumer {
            match stages.get(from).map(|(_, r)| &r.run) {
                Some(Run::Stdin(Some(lang)) | Run::Code { lang, .. }) => Consumer::Code(*lang),
                _ => Consumer::Script,
            }
        };
        if let Some(d) = first_decoder {
            let mut steps = Vec::new();
            let mut k = d;
            while k < stages.len() {
                match decoder_steps(&stages[k].0, &stages[k].1) {
                    Some(s) => steps.extend(s),
                    None => break,
                }
                k += 1;
            }
            let consumer = consumer_after(k, &stages);
            // whether a stage after the decoders runs its standard input (`| sh`, `| python3 -`)
            let executed = stages[k..]
                .iter()
                .position(|(_, r)| matches!(r.run, Run::Stdin(_)))
                .map(|at| {
                    let words = &stages[k + at].0;
                    let runner = words.iter().map(|w| w.text.as_ref()).collect::<Vec<_>>();
                    // stages between the decoders and the runner: filters cryptojack cannot undo
                    (runner.join(" "), at > 0)
                });
            // sources: echo/printf/cat stages before the decoder, here-strings of the decoder
            let mut sources: Vec<(usize, Vec<usize>, String, bool)> = Vec::new();
            for (si, (w, r)) in stages.iter().enumerate().take(d) {
                if let Some((text, esc, used)) = source_text(w, r) {
                    sources.push((si, used, text, esc));
                }
            }
            let here: Vec<usize> = stages[d]
                .0
                .iter()
                .enumerate()
                .filter(|(_, w)| w.here)
                .map(|(i, _)| i)
                .collect();
            if !here.is_empty() {
                let text = here
                    .iter()
                    .map(|&i| stages[d].0[i].text.to_string())
                    .collect::<Vec<_>>()
                    .join("\n");
                sources.push((d, here, text, false));
            }
            for (si, used, text, esc) in sources {
                let mut chain = Vec::new();
                if esc {
                    chain.push(Step::Escapes);
                }
                chain.extend(steps.iter().copied());
                let probe = if esc {
                    decode::apply(Step::Escapes, text.as_bytes(), decode::MAX_PAYLOAD)
                        .map(|b| String::from_utf8_lossy(&b).into_owned())
                        .unwrap_or_default()
                } else {
                    text.clone()
                };
                if !chain
                    .get(usize::from(esc))
                    .is_some_and(|s| fits(*s, &probe))
                {
                    continue;
                }
                let before = self.limits.len();
                if let Some(plain) = self.decode(&text, &chain, field) {
                    for &u in &used {
                        if let Some(w) = stages[si].0.get_mut(u) {
                            w.skip = true;
                        }
                    }
                    payloads.push((plain, consumer, 1));
                } else if let Some((runner, filtered)) = &executed {
                    self.uninspected_run(before, field, runner, *filtered);
                }
            }
        } else {
            // no decoder: `echo '...' | sh`, `printf '\x..' | sh`, `sh <<EOF`, `python3 - <<EOF`
            for (si, (w, r)) in stages.iter().enumerate() {
                if let Run::Stdin(lang) = r.run {
                    let consumer = lang.map_or(Consumer::Script, Consumer::Code);
                    let here: Vec<String> = w
                        .iter()
                        .filter(|x| x.here)
                        .map(|x| x.text.to_string())
                        .collect();
                    for h in here {
                        payloads.push((h, consumer, 0));
                    }
                    if si > 0
                        && let Some((text, esc, _)) =
                            source_text(&stages[si - 1].0, &stages[si - 1].1)
                        && !esc
                    {
                        payloads.push((text, consumer, 0));
                    }
                }
            }
        }
        // printf / echo -e escapes: decoded wherever their output goes
        if first_decoder.is_none() {
            for (si, (w, r)) in stages.iter_mut().enumerate() {
                let _ = si;
                if let Some((text, true, used)) = source_text(w, r)
                    && let Some(plain) = self.decode(&text, &[Step::Escapes], field)
                {
                    for &u in &used {
                        if let Some(x) = w.get_mut(u) {
                            x.skip = true;
                        }
                    }
                    payloads.push((plain, Consumer::Script, 1));
                }
            }
        }
        for (words, r) in stages {
            self.run_resolved(words, r, depth, layers, true);
        }
        for (plain, consumer, extra_layers) in payloads {
            let decoded_now = decoded || extra_layers > 0;
            if self.want_texts {
                self.texts.push(Text {
                    text: Cow::Owned(plain.clone()),
                    field,
                    decoded: decoded_now,
                });
            }
            match consumer {
                Consumer::Script => self.analyze_script(
                    &plain,
                    field,
                    decoded_now,
                    depth + 1,
                    layers + extra_layers,
                    Vec::new(),
                ),
                Consumer::Code(lang) => self.analyze_code(
                    lang,
                    &plain,
                    field,
                    decoded_now,
                    depth + 1,
                    layers + extra_layers,
                ),
            }
        }
    }

    /// A payload decoded (or not) on its way to a shell or interpreter that cryptojack cannot
    /// read: the limit `decode` just recorded becomes [`LimitKind::UninspectedRun`], or one is
    /// recorded for binary data (an encrypted or unsupported payload after an unknown filter).
    fn uninspected_run(&mut self, before: usize, field: Field, runner: &str, filtered: bool) {
        if let Some(l) = self.limits.get_mut(before)
            && l.kind == LimitKind::Uninspected
        {
            l.kind = LimitKind::UninspectedRun;
            l.evidence = format!("{}, run by `{runner}`", l.evidence);
            return;
        }
        if self.limits.len() > before {
            return; // an embedded executable, reported as such
        }
        let what = if filtered {
            "an encoded payload passed through a filter cryptojack cannot undo"
        } else {
            "an encoded payload cryptojack cannot decode to text"
        };
        self.limit(
            LimitKind::UninspectedRun,
            field,
            format!("{what}, run by `{runner}`: not inspected"),
        );
    }

    /// Decodes a payload within the container's budget; records what cannot be inspected.
    fn decode(&mut self, text: &str, steps: &[Step], field: Field) -> Option<String> {
        match decode::decode_chain(text.as_bytes(), steps, &mut self.decoded_budget) {
            Ok(Some(Decoded::Text(t))) => Some(t),
            Ok(Some(Decoded::Elf(n))) => {
                self.limit(
                    LimitKind::EmbeddedBinary,
                    field,
                    format!("an ELF executable ({n} bytes) decoded from the command line"),
                );
                None
            }
            Ok(Some(Decoded::Binary)) | Ok(None) => None,
            Err(refused) => {
                self.limit(
                    LimitKind::Uninspected,
                    field,
                    format!(
                        "{} ({} bytes encoded), not inspected",
                        refused.describe(),
                        text.len()
                    ),
                );
                None
            }
        }
    }

    fn analyze_code(
        &mut self,
        lang: Lang,
        code: &str,
        field: Field,
        decoded: bool,
        depth: u8,
        layers: u8,
    ) {
        if self.too_deep(depth, layers, field) {
            return;
        }
        let word = |t: String| Word {
            text: Cow::Owned(t),
            field,
            decoded,
            skip: false,
            here: false,
        };
        let env = |name: &str| {
            self.env
                .iter()
                .rev()
                .find(|e| e.name == name)
                .map(|e| e.value.to_string())
        };
        for item in interp::analyze_in_env(lang, code, &env) {
            match item {
                interp::Item::Argv(argv) => {
                    let words: Vec<Word<'a>> = argv.into_iter().map(word).collect();
                    self.analyze_argv(words, depth, layers, true);
                }
                interp::Item::LooseArgv(argv) => {
                    if argv.len() >= 2 || argv.first().is_some_and(|a| a.contains('/')) {
                        let words: Vec<Word<'a>> = argv.into_iter().map(word).collect();
                        self.analyze_argv(words, depth, layers, true);
                    }
                }
                interp::Item::Script(s) => {
                    self.analyze_script(&s, field, decoded, depth + 1, layers, Vec::new());
                }
                interp::Item::LooseScript(s) => {
                    let t = s.trim();
                    if t.contains(char::is_whitespace) || t.contains('/') {
                        self.analyze_script(t, field, decoded, depth + 1, layers, Vec::new());
                    }
                }
                interp::Item::Code(c) => {
                    self.analyze_code(lang, &c, field, decoded, depth + 1, layers)
                }
                interp::Item::Encoded { text, steps } => {
                    if let Some(plain) = self.decode(&text, &steps, field) {
                        if self.want_texts {
                            self.texts.push(Text {
                                text: Cow::Owned(plain.clone()),
                                field,
                                decoded: true,
                            });
                        }
                        // decoded text: code of the same language, a command line, and data
                        self.analyze_code(lang, &plain, field, true, depth + 1, layers + 1);
                        self.analyze_script(&plain, field, true, depth + 1, layers + 1, Vec::new());
                    }
                }
            }
        }
    }
}

/// An argv's words with the kubelet's `$(VAR)` expansion from the container's literal env.
fn expanded_words<'a>(
    env: &[EnvVal<'a>],
    items: impl Iterator<Item = (Field, &'a String)>,
) -> Vec<Word<'a>> {
    let lookup = |name: &str| {
        env.iter()
            .rev()
            .find(|x| x.name == name)
            .map(|x| x.value.to_string())
    };
    items
        .map(|(field, s)| Word {
            text: kubelet_expand(s, &lookup),
            field,
            decoded: false,
            skip: false,
            here: false,
        })
        .collect()
}
