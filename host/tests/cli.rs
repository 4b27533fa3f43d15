//! The `iohost` command line, run as a real process: config errors name the key and exit 2.

use std::path::Path;
use std::process::{Command, Output};

fn iohost(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_iohost"));
    cmd.args(args).current_dir(dir).env_remove("RUST_LOG");
    for (k, _) in std::env::vars() {
        if k.starts_with("IOHOST_") {
            cmd.env_remove(k);
        }
    }
    cmd.envs(env.iter().copied());
    cmd.output().expect("iohost runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn dir_with(config: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("iohost.toml"), config).expect("write config");
    dir
}

#[test]
fn no_file_at_all_is_a_valid_configuration() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = iohost(dir.path(), &["config", "check"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("defaults"));
}

#[test]
fn the_default_file_is_read_and_checked() {
    let dir = dir_with("[server]\nping_timeout_ms = 0\n");
    let out = iohost(dir.path(), &["config", "check"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("`server.ping_timeout_ms`"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_typo_names_the_unknown_key() {
    let dir = dir_with("[server]\nlisen = \"127.0.0.1:1\"\n");
    let out = iohost(dir.path(), &["config", "check"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("lisen"), "{}", stderr(&out));
}

#[test]
fn environment_variables_override_the_file_and_are_checked_too() {
    let dir = dir_with("[server]\nping_interval_ms = 1000\n");
    let out = iohost(
        dir.path(),
        &["config", "show"],
        &[("IOHOST_SERVER__PING_INTERVAL_MS", "1234")],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("ping_interval_ms = 1234"));

    let out = iohost(
        dir.path(),
        &["config", "check"],
        &[("IOHOST_SERVER__PING_INTERVAL_MS", "soon")],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("ping_interval_ms"),
        "{}",
        stderr(&out)
    );

    // A variable that names no key is not read: the environment may hold a backend's own
    // IOHOST_API_KEY. One that looks like a misspelt key is named (never its value).
    let out = iohost(
        dir.path(),
        &["config", "check"],
        &[
            ("IOHOST_SERVR__LISTEN", "value-one"),
            ("IOHOST_SERVER_PING_INTERVAL_MS", "value-two"),
            ("IOHOST_API_KEY", "value-three"),
            ("IOHOST_URL", "http://value-four"),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("warning: IOHOST_SERVR__LISTEN is not a configuration key (there is no section `servr`): ignored"), "{err}");
    assert!(
        err.contains("did you mean IOHOST_SERVER__PING_INTERVAL_MS?"),
        "{err}"
    );
    assert!(
        !err.contains("IOHOST_API_KEY") && !err.contains("IOHOST_URL"),
        "{err}"
    );
    assert!(!err.contains("value-"), "no value is shown: {err}");
}

#[test]
fn an_explicit_config_file_must_exist() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = iohost(
        dir.path(),
        &["--config", "missing.toml", "config", "check"],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("missing.toml does not exist"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn serve_refuses_to_start_on_a_bad_config() {
    let dir = dir_with("[rooms]\nname_pattern = \"(\"\n");
    let out = iohost(dir.path(), &["serve"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("`rooms.name_pattern`"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn show_prints_a_configuration_that_reads_back() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = iohost(dir.path(), &["config", "show"], &[]);
    assert!(out.status.success());
    std::fs::write(dir.path().join("iohost.toml"), &out.stdout).expect("write");
    let again = iohost(dir.path(), &["config", "show"], &[]);
    assert_eq!(out.stdout, again.stdout);
}

#[test]
fn show_and_errors_never_print_secrets() {
    let secrets = [
        "jwt-secret-0123456789",
        "api-token-0123456789",
        "admin-password-0123456789",
        "webhook-secret-0123456789",
        "api-key-0123456789abcdef0123456789abcdef",
        "redis-password-0123456789",
    ];
    let dir = dir_with(&format!(
        "[strapi]\njwt_secret = \"{}\"\napi_token = \"{}\"\nadmin_email = \"a@b.c\"\nadmin_password = \"{}\"\nwebhook_secret = \"{}\"\n[api]\nkeys = [\"{}\"]\n[cluster]\nredis_url = \"redis://:{}@127.0.0.1:6379\"\n",
        secrets[0], secrets[1], secrets[2], secrets[3], secrets[4], secrets[5]
    ));
    let out = iohost(dir.path(), &["config", "show"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let shown = String::from_utf8_lossy(&out.stdout);
    for secret in secrets {
        assert!(!shown.contains(secret), "{secret} in:\n{shown}");
    }
    assert!(shown.contains("jwt_secret = \"[hidden]\""), "{shown}");

    // A key given where a list belongs: the error names the variable, not the key's value.
    let out = iohost(
        dir.path(),
        &["config", "check"],
        &[("IOHOST_API__KEYS", secrets[4])],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("IOHOST_API__KEYS"),
        "{}",
        stderr(&out)
    );
    assert!(!stderr(&out).contains(secrets[4]), "{}", stderr(&out));
}

#[test]
fn the_example_config_is_valid() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../iohost.example.toml");
    let dir = tempfile::tempdir().expect("temp dir");
    let path = example.to_string_lossy().into_owned();
    let out = iohost(dir.path(), &["--config", &path, "config", "check"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
}

/// Every key `config show` prints is documented (set) in iohost.example.toml, and vice versa.
#[test]
fn the_example_config_documents_every_key() {
    fn keys(prefix: &str, table: &toml::Table, out: &mut Vec<String>) {
        for (k, v) in table {
            let path = format!("{prefix}{k}");
            match v {
                toml::Value::Table(t) if path != "rooms.roles" => keys(&format!("{path}."), t, out),
                _ => out.push(path),
            }
        }
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let shown = iohost(dir.path(), &["config", "show"], &[]);
    let shown: toml::Table = String::from_utf8_lossy(&shown.stdout)
        .parse()
        .expect("toml");
    let example = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../iohost.example.toml"),
    )
    .expect("example");
    let example: toml::Table = example.parse().expect("example is toml");
    let (mut a, mut b) = (Vec::new(), Vec::new());
    keys("", &shown, &mut a);
    keys("", &example, &mut b);
    a.retain(|k| k != "rooms.roles");
    a.sort();
    b.sort();
    assert_eq!(a, b);
}
