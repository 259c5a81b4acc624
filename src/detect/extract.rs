//! Turns a container into what the matchers read, once per container: the simple commands
//! it runs (argv, `sh -c` scripts split into words, base64 payloads decoded, command
//! substitutions, env values) and the raw strings, each word tagged with the field it came from.

use std::borrow::Cow;

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

use super::shell;
use super::view::ContainerView;

/// Deepest nesting of scripts (`sh -c` in `sh -c`, decoded payloads, substitutions).
pub(crate) const MAX_DEPTH: u8 = 4;
/// Longest script analysed (longer ones are cut).
pub(crate) const MAX_SCRIPT_BYTES: usize = 64 * 1024;
/// Longest base64 word decoded.
pub(crate) const MAX_BASE64_BYTES: usize = 64 * 1024;
/// Total decoded bytes per container.
pub(crate) const MAX_DECODED_TOTAL: usize = 256 * 1024;

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
}

#[derive(Clone, Debug)]
pub(crate) struct Word<'a> {
    pub text: Cow<'a, str>,
    pub field: Field,
    /// Comes from a decoded base64 payload.
    pub decoded: bool,
    /// Already analysed as a script or payload; matchers skip it.
    pub skip: bool,
}

#[derive(Clone, Debug)]
pub(crate) struct Cmd<'a> {
    pub words: Vec<Word<'a>>,
    /// The first word is not a program that runs (env values; `args` of an image entrypoint
    /// that start with an option).
    pub no_program: bool,
}

#[derive(Clone, Debug)]
pub(crate) struct Text<'a> {
    pub text: Cow<'a, str>,
    pub field: Field,
    pub decoded: bool,
}

/// Everything the matchers read of one container.
#[derive(Clone, Debug, Default)]
pub(crate) struct Extracted<'a> {
    pub cmds: Vec<Cmd<'a>>,
    /// Raw strings: each command/args element, env values, decoded payloads, the joined command line.
    pub texts: Vec<Text<'a>>,
    decoded_total: usize,
}

impl<'a> Extracted<'a> {
    pub(crate) fn of(c: &'a ContainerView) -> Extracted<'a> {
        let mut out = Extracted::default();
        let argv: Vec<Word<'a>> = c
            .command
            .iter()
            .enumerate()
            .map(|(i, s)| (Field::Command(i), s))
            .chain(c.args.iter().enumerate().map(|(i, s)| (Field::Args(i), s)))
            .map(|(field, s)| Word {
                text: Cow::Borrowed(s.as_str()),
                field,
                decoded: false,
                skip: false,
            })
            .collect();
        for w in &argv {
            out.texts.push(Text {
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
            out.texts.push(Text {
                text: Cow::Owned(joined),
                field: Field::CommandLine,
                decoded: false,
            });
        }
        if !argv.is_empty() {
            // `args` alone go to the image's entrypoint; when they start with an option there
            // is no program word (when they start with a word, entrypoint wrappers run it).
            let no_program = c.command.is_empty() && argv[0].text.starts_with('-');
            out.analyze_argv(argv, 0, no_program);
        }
        for e in &c.env {
            if e.value.is_empty() {
                continue;
            }
            let field = Field::Env(e.index);
            out.texts.push(Text {
                text: Cow::Borrowed(e.value.as_str()),
                field,
                decoded: false,
            });
            out.analyze_script(Cow::Borrowed(e.value.as_str()), field, false, 1, true);
        }
        out
    }

    /// Each simple command that came from a script or payload, as one line (for Sigma's
    /// `CommandLine`).
    pub(crate) fn script_lines(&self) -> Vec<Text<'static>> {
        self.cmds
            .iter()
            .filter(|c| c.words.len() > 1 && matches!(c.words[0].text, Cow::Owned(_)))
            .filter(|c| !matches!(c.words[0].field, Field::Env(_)))
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

    fn analyze_argv(&mut self, mut words: Vec<Word<'a>>, depth: u8, no_program: bool) {
        let script = if depth < MAX_DEPTH && !no_program {
            shell_script_index(&words)
        } else {
            None
        };
        if let Some(i) = script {
            words[i].skip = true;
            let w = &words[i];
            let (text, field, decoded) = (w.text.clone(), w.field, w.decoded);
            self.cmds.push(Cmd { words, no_program });
            self.analyze_script(text, field, decoded, depth + 1, false);
        } else {
            self.cmds.push(Cmd { words, no_program });
        }
    }

    fn analyze_script(
        &mut self,
        text: Cow<'a, str>,
        field: Field,
        decoded: bool,
        depth: u8,
        no_program: bool,
    ) {
        let text = cut(&text, MAX_SCRIPT_BYTES);
        let script = shell::parse(text);
        for pipeline in script.pipelines {
            let decoder = pipeline.iter().position(|cmd| is_base64_decoder(cmd));
            let mut payloads: Vec<String> = Vec::new();
            for (k, cmd) in pipeline.into_iter().enumerate() {
                let mut words: Vec<Word<'a>> = Vec::with_capacity(cmd.len());
                for (j, w) in cmd.into_iter().enumerate() {
                    let feeds_decoder = match decoder {
                        Some(d) => (k < d && j > 0) || (k == d && w.here_string),
                        None => false,
                    };
                    let mut skip = false;
                    if feeds_decoder
                        && looks_base64(&w.text)
                        && let Some(plain) = self.decode(&w.text)
                    {
                        payloads.push(plain);
                        skip = true;
                    }
                    words.push(Word {
                        text: Cow::Owned(w.text),
                        field,
                        decoded,
                        skip,
                    });
                }
                // Env values are data: only their first command could be a program, and
                // even that is not run by this container.
                self.analyze_argv(words, depth, no_program);
            }
            for plain in payloads {
                if depth < MAX_DEPTH {
                    self.texts.push(Text {
                        text: Cow::Owned(plain.clone()),
                        field,
                        decoded: true,
                    });
                    self.analyze_script(Cow::Owned(plain), field, true, depth + 1, false);
                }
            }
        }
        if depth < MAX_DEPTH {
            for nested in script.nested {
                self.analyze_script(Cow::Owned(nested), field, decoded, depth + 1, false);
            }
        }
    }

    fn decode(&mut self, word: &str) -> Option<String> {
        if self.decoded_total >= MAX_DECODED_TOTAL {
            return None;
        }
        let plain = decode_base64_text(word)?;
        self.decoded_total += plain.len();
        Some(plain)
    }
}

fn cut(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
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
    "busybox-sh",
    "rbash",
];

/// Programs that run the program named after them (with their own options first).
const WRAPPERS: &[&str] = &[
    "nohup",
    "exec",
    "env",
    "nice",
    "timeout",
    "sudo",
    "doas",
    "setsid",
    "taskset",
    "chrt",
    "stdbuf",
    "ionice",
    "time",
    "command",
    "builtin",
    "busybox",
    "xargs",
    "su-exec",
    "gosu",
    "tini",
    "dumb-init",
    "!",
    "{",
    "then",
    "do",
    "else",
    "if",
    "elif",
    "while",
    "until",
    "eval",
    "watch",
    "runuser",
    "chroot",
];
/// Wrappers whose first positional argument is not the program (duration, mask, user, root...).
const WRAPPERS_WITH_POSITIONAL: &[&str] = &[
    "timeout", "taskset", "chrt", "su-exec", "gosu", "chroot", "runuser",
];
/// Short options of wrappers that take a value.
const WRAPPER_VALUE_OPTS: &[&str] = &[
    "-n", "-u", "-g", "-c", "-p", "-k", "-s", "-o", "-e", "-i", "-I", "-P", "-L",
];

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

/// Index of the word that is the program run by this simple command, after assignments and
/// wrappers such as `nohup`, `env`, `nice -n 19`, `timeout 1h`, `busybox`.
pub(crate) fn program_index(words: &[Word<'_>]) -> Option<usize> {
    let mut i = 0;
    let mut guard = 0;
    while i < words.len() && guard < 16 {
        guard += 1;
        let w = words[i].text.as_ref();
        if is_assignment(w) {
            i += 1;
            continue;
        }
        let base = basename(w);
        if !WRAPPERS.contains(&base) {
            return Some(i);
        }
        i += 1;
        let mut positional_to_skip = usize::from(WRAPPERS_WITH_POSITIONAL.contains(&base));
        while i < words.len() {
            let a = words[i].text.as_ref();
            if a == "--" {
                i += 1;
                break;
            }
            if a.starts_with('-') && a.len() > 1 {
                i += if WRAPPER_VALUE_OPTS.contains(&a) {
                    2
                } else {
                    1
                };
            } else if is_assignment(a) && base == "env" {
                i += 1;
            } else if positional_to_skip > 0 {
                positional_to_skip -= 1;
                i += 1;
            } else {
                break;
            }
        }
    }
    None
}

/// If the simple command is `sh -c SCRIPT ...` (any shell, any option cluster containing `c`),
/// the index of SCRIPT.
pub(crate) fn shell_script_index(words: &[Word<'_>]) -> Option<usize> {
    let p = program_index(words)?;
    if !SHELLS.contains(&basename(&words[p].text)) {
        return None;
    }
    let mut has_c = false;
    let mut i = p + 1;
    while i < words.len() {
        let a = words[i].text.as_ref();
        if a == "--" {
            i += 1;
            continue;
        }
        if a == "-o" || a == "+o" || a == "-O" || a == "+O" {
            i += 2;
            continue;
        }
        if (a.starts_with('-') || a.starts_with('+')) && a.len() > 1 && !a.starts_with("--") {
            has_c |= a[1..].contains('c');
            i += 1;
            continue;
        }
        if a.starts_with("--") {
            i += 1;
            continue;
        }
        return has_c.then_some(i);
    }
    None
}

fn is_base64_decoder(cmd: &[shell::ShellWord]) -> bool {
    if !cmd
        .iter()
        .any(|w| w.text.contains("base64") || w.text.ends_with("openssl"))
    {
        return false;
    }
    let words: Vec<Word<'_>> = cmd
        .iter()
        .map(|w| Word {
            text: Cow::Borrowed(w.text.as_str()),
            field: Field::Image,
            decoded: false,
            skip: false,
        })
        .collect();
    let Some(p) = program_index(&words) else {
        return false;
    };
    let prog = basename(&words[p].text);
    let args = &cmd[p + 1..];
    let has = |flags: &[&str]| args.iter().any(|a| flags.contains(&a.text.as_str()));
    match prog {
        "base64" | "base64.exe" | "gbase64" => {
            has(&["-d", "--decode", "-D", "-di", "-id", "--decode=true"])
        }
        "openssl" => has(&["base64", "-base64", "-a"]) && has(&["-d"]),
        _ => false,
    }
}

/// A word that could be a base64 payload: long enough, only base64 characters.
pub(crate) fn looks_base64(w: &str) -> bool {
    w.len() >= 16
        && w.len() <= MAX_BASE64_BYTES
        && w.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'-' | b'_'))
}

const LENIENT: GeneralPurposeConfig =
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
const STANDARD: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::STANDARD, LENIENT);
const URL_SAFE: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::URL_SAFE, LENIENT);

/// Decode a base64 word into text; `None` unless it decodes to mostly printable text.
pub(crate) fn decode_base64_text(w: &str) -> Option<String> {
    let bytes = STANDARD.decode(w).or_else(|_| URL_SAFE.decode(w)).ok()?;
    if bytes.is_empty() {
        return None;
    }
    let text = String::from_utf8_lossy(&bytes);
    let printable = text
        .chars()
        .filter(|c| !c.is_control() || matches!(c, '\n' | '\t' | '\r'))
        .count();
    let total = text.chars().count();
    (printable * 10 >= total * 9).then(|| text.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::view::ContainerKind;

    fn container(command: &[&str], args: &[&str]) -> ContainerView {
        ContainerView {
            kind: ContainerKind::Regular,
            index: 0,
            name: "c".into(),
            image: "alpine".into(),
            command: command.iter().map(|s| s.to_string()).collect(),
            args: args.iter().map(|s| s.to_string()).collect(),
            env: vec![],
            ports: vec![],
            requests: Default::default(),
            limits: Default::default(),
        }
    }

    fn programs(x: &Extracted<'_>) -> Vec<String> {
        x.cmds
            .iter()
            .filter(|c| !c.no_program)
            .filter_map(|c| program_index(&c.words).map(|p| c.words[p].text.to_string()))
            .collect()
    }

    #[test]
    fn argv_and_shell_scripts() {
        let c = container(
            &["/bin/sh", "-c"],
            &["cd /tmp && nohup nice -n 19 ./xmrig -o x:1 & sleep 5"],
        );
        let x = Extracted::of(&c);
        assert_eq!(programs(&x), ["/bin/sh", "cd", "./xmrig", "sleep"]);
        // every word of the script is attributed to args[0]
        assert!(x.cmds[2].words.iter().all(|w| w.field == Field::Args(0)));
    }

    #[test]
    fn option_clusters_and_nested_shells() {
        let c = container(
            &[
                "bash",
                "-ec",
                "bash -lc 'timeout 1h env A=1 t-rex -a kawpow'",
            ],
            &[],
        );
        let x = Extracted::of(&c);
        assert!(programs(&x).contains(&"t-rex".to_string()));
        let c = container(&["bash", "script.sh", "-c", "xmrig"], &[]);
        assert_eq!(programs(&Extracted::of(&c)), ["bash"]);
    }

    #[test]
    fn base64_payloads_are_decoded_and_parsed() {
        // "./xmrig -o pool.example:3333"
        let payload =
            base64::engine::general_purpose::STANDARD.encode("./xmrig -o pool.example:3333");
        for script in [
            format!("echo {payload} | base64 -d | sh"),
            format!("echo {payload}|base64 --decode>/tmp/a.sh; sh /tmp/a.sh"),
            format!("sh -c \"$(echo {payload} | base64 -d)\""),
            format!("base64 -d <<< {payload} | bash"),
        ] {
            let c = container(&["sh", "-c", &script], &[]);
            let x = Extracted::of(&c);
            assert!(programs(&x).contains(&"./xmrig".to_string()), "{script}");
            assert!(
                x.texts
                    .iter()
                    .any(|t| t.decoded && t.text.contains("pool.example")),
                "{script}"
            );
        }
    }

    #[test]
    fn base64_without_decoder_is_not_decoded() {
        let payload =
            base64::engine::general_purpose::STANDARD.encode("./xmrig -o pool.example:3333");
        let c = container(&["sh", "-c", &format!("echo {payload} > /tmp/x")], &[]);
        let x = Extracted::of(&c);
        assert!(!x.texts.iter().any(|t| t.decoded));
    }

    #[test]
    fn depth_is_bounded() {
        let mut script = "./xmrig".to_string();
        for _ in 0..10 {
            script = format!(
                "echo {} | base64 -d | sh",
                base64::engine::general_purpose::STANDARD.encode(&script)
            );
        }
        let c = container(&["sh", "-c", &script], &[]);
        let x = Extracted::of(&c);
        assert!(!programs(&x).contains(&"./xmrig".to_string()));
        assert!(x.texts.iter().filter(|t| t.decoded).count() <= MAX_DEPTH as usize);
    }

    #[test]
    fn binary_base64_is_ignored() {
        assert!(decode_base64_text("AAECAwQFBgcICQoLDA0ODxAREhM=").is_none());
        assert_eq!(
            decode_base64_text("aGVsbG8gd29ybGQ").as_deref(),
            Some("hello world")
        );
    }
}
