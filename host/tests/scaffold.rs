//! `iohost handlers new` makes a project that builds for wasm32-wasip2 and passes
//! `iohost handlers check` as it is.

use std::path::Path;
use std::process::Command;

#[test]
fn a_new_handler_builds_and_fits_the_world() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let iohost = env!("CARGO_BIN_EXE_iohost");
    let out = Command::new(iohost)
        .args(["handlers", "new", "hello-there", "--dir"])
        .arg(tmp.path())
        .output()
        .expect("iohost runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let project = tmp.path().join("hello-there");

    // Share the workspace's target folder so dependencies compiled before are reused.
    let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/scaffold-test");
    let build = Command::new(env!("CARGO"))
        .args(["build", "--release", "--target", "wasm32-wasip2"])
        .current_dir(&project)
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .expect("cargo runs");
    assert!(
        build.status.success(),
        "{}",
        String::from_utf8_lossy(&build.stderr)
    );

    let wasm = target.join("wasm32-wasip2/release/hello_there.wasm");
    let check = Command::new(iohost)
        .args(["handlers", "check"])
        .arg(&wasm)
        .output()
        .expect("iohost runs");
    let report = String::from_utf8_lossy(&check.stdout);
    assert!(check.status.success(), "{report}");
    assert!(report.contains("fits the iohost:handler world"), "{report}");
    assert!(report.contains("on-event"), "{report}");

    let again = Command::new(iohost)
        .args(["handlers", "new", "hello-there", "--dir"])
        .arg(tmp.path())
        .output()
        .expect("iohost runs");
    assert!(
        !again.status.success(),
        "an existing project is never overwritten"
    );
}
