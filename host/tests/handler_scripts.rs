//! `iohost handlers test`: every example's own script (`examples-wasm/<name>/test.toml`) passes
//! against its built component (`./scripts/build-handlers.sh` first), with the demo's sidecar
//! when there is one; a script whose expectation is wrong fails with a diff (exit 1); an
//! unusable script or component is exit 2.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn run(args: &[&Path]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_iohost"));
    cmd.args(["handlers", "test"]).args(args);
    cmd.output().expect("iohost runs")
}

fn built(name: &str) -> PathBuf {
    let wasm = root().join("target/handlers").join(format!("{name}.wasm"));
    assert!(
        wasm.is_file(),
        "{} is missing: run ./scripts/build-handlers.sh",
        wasm.display()
    );
    wasm
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn every_example_passes_its_own_script() {
    let mut scripts: Vec<PathBuf> = std::fs::read_dir(root().join("examples-wasm"))
        .expect("examples")
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("test.toml"))
        .filter(|p| p.is_file())
        .collect();
    scripts.sort();
    assert!(scripts.len() >= 4, "example scripts: {scripts:?}");
    for script in scripts {
        let name = script
            .parent()
            .and_then(|p| p.file_name())
            .and_then(|n| n.to_str())
            .expect("name")
            .to_owned();
        let wasm = built(&name);
        let sidecar = root().join("handlers").join(format!("{name}.toml"));
        let mut args: Vec<&Path> = vec![&wasm, &script];
        let flag = Path::new("--sidecar");
        if sidecar.is_file() {
            args.extend([flag, &sidecar]);
        }
        let output = run(&args);
        assert!(output.status.success(), "{name}:\n{}", text(&output));
        assert!(
            text(&output).contains(", 0 failed"),
            "{name}:\n{}",
            text(&output)
        );
    }
}

#[test]
fn a_wrong_expectation_fails_with_a_diff_and_bad_input_is_exit_2() {
    let wasm = built("chat-typing");
    let dir = tempfile::tempdir().expect("tmp");
    let original = std::fs::read_to_string(root().join("examples-wasm/chat-typing/test.toml"))
        .expect("script");
    let wrong = original.replace(
        r#"args = [{ username = "ann", roomId = "7" }]"#,
        r#"args = [{ username = "anne", roomId = "7" }]"#,
    );
    assert_ne!(wrong, original);
    let script = dir.path().join("wrong.toml");
    std::fs::write(&script, wrong).expect("write");
    let output = run(&[&wasm, &script]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let shown = text(&output);
    assert!(
        shown.contains("not ok 1 - event chat:typing from ann"),
        "{shown}"
    );
    assert!(shown.contains(r#"-         "username": "anne""#), "{shown}");
    assert!(shown.contains(r#"+         "username": "ann""#), "{shown}");
    assert!(
        shown.contains("ok 2 - event chat:typing from ann"),
        "{shown}"
    );
    assert!(shown.contains("5 steps, 1 failed"), "{shown}");

    // Unusable: (component, script text, what the error says).
    let not_wasm = dir.path().join("not.wasm");
    std::fs::write(&not_wasm, "hello").expect("write");
    let good = std::fs::read_to_string(root().join("examples-wasm/chat-typing/test.toml"))
        .expect("script");
    let cases = [
        (
            &wasm,
            "[[step]]\nevent = \"x\"\n",
            "step 1: an `event` step needs `socket`",
        ),
        (&wasm, "[[step]]\nevnt = \"x\"\n", "is not a test script"),
        (&not_wasm, good.as_str(), "the handler does not load"),
    ];
    for (component, script_text, says) in cases {
        let script = dir.path().join("case.toml");
        std::fs::write(&script, script_text).expect("write");
        let output = run(&[component, &script]);
        assert_eq!(output.status.code(), Some(2), "{}", text(&output));
        assert!(text(&output).contains(says), "{}", text(&output));
    }
}

#[test]
fn a_handler_built_against_0_1_0_keeps_working_on_this_host() {
    // tests/fixtures/echo-0.1.0.wasm: examples-wasm/echo built with the guest SDK of
    // iohost:handler@0.1.0 (before 0.1.1 added emit-with-ack, emit-volatile and on-content).
    let fixture = root().join("tests/fixtures/echo-0.1.0.wasm");
    let bytes = std::fs::read(&fixture).expect("fixture");
    let imports = |version: &str| {
        let name = format!("iohost:handler/sockets@{version}");
        bytes.windows(name.len()).any(|w| w == name.as_bytes())
    };
    assert!(
        imports("0.1.0") && !imports("0.1.1"),
        "the fixture must import 0.1.0"
    );
    let script = root().join("examples-wasm/echo/test.toml");
    let output = run(&[&fixture, &script]);
    assert!(output.status.success(), "{}", text(&output));
    assert!(text(&output).contains(", 0 failed"), "{}", text(&output));
}
