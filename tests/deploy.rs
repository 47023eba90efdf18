//! deploy/: what can be checked without Docker or Kubernetes. The YAML files
//! parse (Python's PyYAML, installed by `.ci/run`; skipped without it unless
//! ACCORD_REQUIRE_PYTHON=1) and say what the deployment needs; the systemd
//! unit passes `systemd-analyze verify` where systemd is installed; the
//! Dockerfile is multi-stage, non-root, with a volume and a health check.

use std::path::Path;
use std::process::Command;

fn deploy(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy")
        .join(name)
}

#[test]
fn yaml_files_parse_and_describe_the_deployment() {
    let script = r#"
import json, sys, yaml
out = {}
for path in sys.argv[1:]:
    out[path.rsplit('/', 1)[-1]] = list(yaml.safe_load_all(open(path)))
print(json.dumps(out))
"#;
    let files = [
        deploy("docker-compose.yml"),
        deploy("kubernetes/accord.yaml"),
        deploy("docker-compose.postgres.yml"),
        deploy("kubernetes/accord-postgres.yaml"),
    ];
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(&files)
        .output();
    let out = match out {
        Ok(o) if o.status.success() => o,
        other => {
            if std::env::var("ACCORD_REQUIRE_PYTHON").as_deref() == Ok("1") {
                panic!("python3 with PyYAML is required: {other:?}");
            }
            eprintln!("SKIPPED: python3 with PyYAML not found");
            return;
        }
    };
    let docs: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let compose = &docs["docker-compose.yml"][0];
    assert!(compose["services"]["accord"]["volumes"][0]
        .as_str()
        .unwrap()
        .ends_with(":/var/lib/accord"));
    let audit = compose["services"]["auditor"]["command"][0]
        .as_str()
        .unwrap();
    assert!(
        audit.contains("accord audit") && audit.contains("--state"),
        "{audit}"
    );

    let k8s = docs["accord.yaml"].as_array().unwrap();
    let kinds: Vec<&str> = k8s.iter().map(|d| d["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["Service", "StatefulSet"]);
    let set = &k8s[1]["spec"];
    assert_eq!(set["replicas"], 1, "one writer per log");
    assert_eq!(set["volumeClaimTemplates"][0]["metadata"]["name"], "data");
    let container = &set["template"]["spec"]["containers"][0];
    for probe in ["startupProbe", "readinessProbe", "livenessProbe"] {
        assert_eq!(container[probe]["grpc"]["port"], 50051, "{probe}");
        // The API service's full name, as health reports it.
        assert_eq!(
            container[probe]["grpc"]["service"],
            accord::server::ecosystem::REGISTRY_SERVICE,
            "{probe}"
        );
    }
    let check = compose["services"]["accord"]["healthcheck"]["test"]
        .as_array()
        .unwrap();
    assert!(
        check
            .windows(2)
            .any(|w| w[0] == "--service" && w[1] == accord::server::ecosystem::REGISTRY_SERVICE),
        "{check:?}"
    );
    assert_eq!(container["volumeMounts"][0]["mountPath"], "/var/lib/accord");

    // PostgreSQL: two servers on one database, the keys made once and
    // shared read-only, the password as a file (never in the URL).
    let pg = &docs["docker-compose.postgres.yml"][0]["services"];
    for name in ["accord-a", "accord-b"] {
        let s = &pg[name];
        let url = s["environment"]["ACCORD_STORAGE_URL"].as_str().unwrap();
        let userinfo = url.split('@').next().unwrap();
        assert!(
            !userinfo.trim_start_matches("postgres://").contains(':'),
            "{url}"
        );
        assert!(s["environment"]["ACCORD_STORAGE_PASSWORD_FILE"].is_string());
        assert_eq!(s["volumes"][0], "accord-keys:/var/lib/accord:ro");
        assert_eq!(
            s["depends_on"]["keys"]["condition"],
            "service_completed_successfully"
        );
    }
    assert_eq!(pg["keys"]["entrypoint"][1], "init");
    let k8s = docs["accord-postgres.yaml"].as_array().unwrap();
    let kinds: Vec<&str> = k8s.iter().map(|d| d["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["Secret", "Service", "Deployment"]);
    let spec = &k8s[2]["spec"];
    assert!(spec["replicas"].as_u64().unwrap() >= 2, "several replicas");
    let c = &spec["template"]["spec"]["containers"][0];
    let env = c["env"].as_array().unwrap();
    let url = env
        .iter()
        .find(|e| e["name"] == "ACCORD_STORAGE_URL")
        .unwrap();
    assert_eq!(url["valueFrom"]["secretKeyRef"]["name"], "accord-postgres");
    assert!(env
        .iter()
        .any(|e| e["name"] == "ACCORD_STORAGE_PASSWORD_FILE"));
    assert_eq!(c["readinessProbe"]["grpc"]["port"], 50051);
    assert_eq!(c["livenessProbe"]["tcpSocket"]["port"], 50051);
}

#[test]
fn the_dockerfile_is_multi_stage_non_root_with_volume_and_healthcheck() {
    let text = std::fs::read_to_string(deploy("Dockerfile")).unwrap();
    let froms = text.lines().filter(|l| l.starts_with("FROM ")).count();
    assert_eq!(froms, 2, "multi-stage");
    assert!(text.contains("\nUSER 10001"), "non-root");
    assert!(text.contains("\nVOLUME /var/lib/accord"));
    assert!(text.contains("HEALTHCHECK") && text.contains("accord\", \"health\""));
    let service = format!(
        "\"--service\", \"{}\"",
        accord::server::ecosystem::REGISTRY_SERVICE
    );
    assert!(text.contains(&service), "health check names {service}");
    assert!(
        text.contains("--locked"),
        "builds from the committed Cargo.lock"
    );
}

#[test]
fn the_systemd_unit_verifies() {
    let Ok(probe) = Command::new("systemd-analyze").arg("--version").output() else {
        eprintln!("SKIPPED: systemd-analyze not installed");
        return;
    };
    assert!(probe.status.success());
    for name in ["accord.service", "accord-witness.service"] {
        // verify checks that ExecStart's binary exists: point it at ours.
        let unit = std::fs::read_to_string(deploy(name)).unwrap();
        let unit = unit.replace("/usr/local/bin/accord", env!("CARGO_BIN_EXE_accord"));
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join(name);
        std::fs::write(&path, unit).unwrap();
        let out = Command::new("systemd-analyze")
            .arg("verify")
            .arg(&path)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        // Without a running systemd (containers) only its own absence may be reported.
        let problems: Vec<&str> = stderr.lines().filter(|l| l.contains(name)).collect();
        assert!(problems.is_empty(), "{stderr}");
        eprintln!(
            "systemd-analyze verify {name}: exit {:?}; {}",
            out.status.code(),
            stderr.trim()
        );
    }
}

/// The caching proxy example (no nginx in CI to run `nginx -t`): tiles are
/// cached, `/checkpoint` never is, and only tiles and the checkpoint pass.
#[test]
fn the_tiles_proxy_caches_tiles_and_never_the_checkpoint() {
    let conf = std::fs::read_to_string(deploy("nginx-tiles-cache.conf")).unwrap();
    let block = |location: &str| {
        let start = conf.find(location).unwrap_or_else(|| panic!("{location}"));
        let end = start + conf[start..].find("\n    }").unwrap();
        conf[start..end].to_owned()
    };
    let tiles = block("location /tile/ {");
    assert!(
        tiles.contains("proxy_cache accord_tiles;")
            && tiles.contains("proxy_cache_valid 200 365d;")
    );
    let checkpoint = block("location = /checkpoint {");
    assert!(!checkpoint.contains("proxy_cache ") && checkpoint.contains("proxy_no_cache 1;"));
    assert!(block("location / {").contains("return 404;"));
    assert_eq!(conf.matches('{').count(), conf.matches('}').count());
}
