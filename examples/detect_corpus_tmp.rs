#[path = "../tests/detect_common/mod.rs"]
mod detect_common;
fn main() {
    let dir = std::env::args().nth(1).unwrap();
    let labels = std::fs::read_to_string(format!("{dir}/labels.tsv")).unwrap();
    let policy = cryptojack::detect::CompiledPolicy::builtin_default();
    let mut bad = 0;
    for line in labels.lines().skip(1) {
        let (file, expect) = line.split_once('\t').unwrap();
        let yaml = std::fs::read_to_string(format!("{dir}/{file}")).unwrap();
        let f = policy.evaluate(&detect_common::view_from_yaml(&yaml));
        let got = detect_common::label_of(&f);
        let ok = got == expect;
        if !ok { bad += 1; }
        println!("| {file} | {expect} | {got} | {} |", if ok { "ok" } else { "WRONG" });
        if std::env::var("V").is_ok() || !ok {
            for x in &f { println!("    {} {} {} {:?} {} :: {}", x.severity, x.category, x.rule, x.container, x.field, x.evidence); }
        }
    }
    println!("wrong: {bad}");
}
