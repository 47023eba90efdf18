//! Configuration: the example file documents exactly the defaults and every
//! option the code reads; file < environment < flags; a bad option is named
//! at start.

mod common;

use accord::server::Config;
use common::ServeProcess;
use std::path::Path;
use std::process::Command;

fn example() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/accord.example.toml");
    std::fs::read_to_string(path).unwrap()
}

/// The option names the code accepts, from its own refusal of an unknown key
/// ("unknown field `x`, expected one of `a`, `b`, …"): no hand-kept list.
fn known_options() -> Vec<String> {
    let err = Config::from_toml("no_such_option = 1")
        .unwrap_err()
        .to_string();
    let (_, expected) = err
        .split_once("expected one of")
        .expect("serde lists the fields");
    let names: Vec<String> = expected
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect();
    assert!(names.len() >= 10, "{err}");
    names
}

#[test]
fn the_example_file_is_the_defaults_and_names_every_option() {
    let text = example();
    assert_eq!(Config::from_toml(&text).unwrap(), Config::default());
    // Options without a default are shown commented out; each must be a
    // real option too (the file is parsed with them switched on).
    let uncommented: String = text
        .lines()
        .map(|l| match l.strip_prefix("# ") {
            Some(rest)
                if rest.split_once(" = ").is_some_and(|(k, _)| {
                    k.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                }) =>
            {
                rest
            }
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n");
    let all = Config::from_toml(&uncommented).expect("every documented option is read by the code");
    assert!(all.tls_cert.is_some() && all.metrics_listen.is_some() && all.rate_burst.is_some());
    for option in known_options() {
        assert!(
            uncommented
                .lines()
                .any(|l| l.starts_with(&format!("{option} = "))),
            "option {option} is not documented in deploy/accord.example.toml"
        );
    }
}

#[test]
fn bad_options_are_named() {
    for (toml, option) in [
        ("rate_limit = \"fast\"", "rate_limit"),
        ("rate_limit = -1.0", "rate_limit"),
        ("listen = \"nowhere\"", "listen"),
        ("log_format = \"xml\"", "log_format"),
        ("tls_cert = \"a.pem\"", "tls_cert/tls_key"),
        ("lissten = \"127.0.0.1:1\"", "lissten"),
    ] {
        let err = Config::from_toml(toml)
            .and_then(|c| c.validate().map(|_| c))
            .expect_err(toml)
            .to_string();
        assert!(err.contains(option), "{toml}: {err}");
    }
}

fn serve(
    dir: &Path,
    config: &Path,
    env: Option<&str>,
    flag: Option<&str>,
) -> Result<ServeProcess, String> {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_accord"));
    cmd.current_dir(dir).args(["serve", "--config"]).arg(config);
    cmd.env_remove("ACCORD_DATA");
    if let Some(data) = env {
        cmd.env("ACCORD_DATA", data);
    }
    if let Some(data) = flag {
        cmd.args(["--data", data]);
    }
    ServeProcess::spawn(cmd)
}

#[test]
fn flags_beat_the_environment_which_beats_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("accord.toml");
    std::fs::write(
        &config,
        "data = \"from-file\"\nlisten = \"127.0.0.1:0\"\nlog_format = \"json\"\n",
    )
    .unwrap();
    for (env, flag, expected) in [
        (None, None, "from-file"),
        (Some("from-env"), None, "from-env"),
        (Some("from-env"), Some("from-flag"), "from-flag"),
    ] {
        let server = serve(tmp.path(), &config, env, flag).unwrap();
        assert!(
            tmp.path().join(expected).join("log.key").exists(),
            "{expected}"
        );
        // JSON log lines, as the file asked.
        let line = server
            .lines
            .iter()
            .find(|l| l.contains("serving a log"))
            .unwrap();
        let json: serde_json::Value = serde_json::from_str(line).expect("a JSON log line");
        assert_eq!(json["level"], "INFO", "{line}");
    }
    // A wrong value is refused before anything is created, naming the option.
    std::fs::write(&config, "data = \"never\"\nrate_limit = \"fast\"\n").unwrap();
    let err = serve(tmp.path(), &config, None, None)
        .err()
        .expect("refused");
    assert!(err.contains("rate_limit"), "{err}");
    assert!(!tmp.path().join("never").exists());
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_accord"));
    cmd.current_dir(tmp.path())
        .args(["serve", "--data", "d", "--listen", "127.0.0.1:0"]);
    cmd.env("ACCORD_RATE_LIMIT", "-5");
    let err = ServeProcess::spawn(cmd).err().expect("refused");
    assert!(err.contains("rate_limit"), "{err}");
}
