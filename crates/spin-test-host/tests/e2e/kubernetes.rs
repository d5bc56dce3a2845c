//! The SpinKube manifests (`deploy/kubernetes/*.yaml`), checked against the SpinApp
//! CRD's `openAPIV3Schema` (the copy in `deploy/kubernetes/crd/`, spin-operator v0.6.1)
//! with a JSON Schema validator, plus what the API server would not catch: unknown fields
//! (the CRD's objects do not forbid them; the API server would silently drop them), the
//! operator's webhook rules, and that every component and variable named exists in the
//! app the image is pushed from.

use serde_json::Value;

fn yaml_documents(path: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(spin_test_host::workspace_root().join(path)).unwrap();
    serde_norway::Deserializer::from_str(&text)
        .map(|d| serde::Deserialize::deserialize(d).unwrap_or_else(|e| panic!("{path}: {e}")))
        .filter(|v: &Value| !v.is_null())
        .collect()
}

/// The CRD's schema for `SpinApp`, with every object that lists its properties closed
/// to others (`additionalProperties: false`), so a misspelt field fails here.
fn spinapp_schema() -> Value {
    let crd = yaml_documents("deploy/kubernetes/crd/core.spinkube.dev_spinapps.yaml").remove(0);
    assert_eq!(crd["spec"]["names"]["kind"], "SpinApp");
    let version = crd["spec"]["versions"].as_array().unwrap().iter().find(|v| v["name"] == "v1alpha1").unwrap();
    let mut schema = version["schema"]["openAPIV3Schema"].clone();
    fn close(v: &mut Value) {
        match v {
            Value::Object(o) => {
                if o.contains_key("properties") && !o.contains_key("additionalProperties") {
                    o.insert("additionalProperties".into(), Value::Bool(false));
                }
                o.values_mut().for_each(close);
            }
            Value::Array(a) => a.iter_mut().for_each(close),
            _ => {}
        }
    }
    close(&mut schema);
    schema
}

fn problems(schema: &jsonschema::Validator, doc: &Value) -> Vec<String> {
    schema.iter_errors(doc).map(|e| format!("{} at {}", e, e.instance_path)).collect()
}

#[test]
fn the_spinapps_are_valid_against_the_crd() {
    let schema = jsonschema::validator_for(&spinapp_schema()).unwrap();
    let manifest: toml::Value = toml::from_str(
        &std::fs::read_to_string(spin_test_host::workspace_root().join("deploy/kubernetes/spin.toml")).unwrap(),
    )
    .unwrap();
    let apps: Vec<Value> = yaml_documents("deploy/kubernetes/coffee-orders.yaml");
    assert_eq!(apps.len(), 2, "the front and the consumers");
    let mut deployed = Vec::new();
    for app in &apps {
        let name = app["metadata"]["name"].as_str().unwrap();
        assert_eq!(
            (app["apiVersion"].as_str(), app["kind"].as_str()),
            (Some("core.spinkube.dev/v1alpha1"), Some("SpinApp"))
        );
        assert_eq!(problems(&schema, app), Vec::<String>::new(), "{name}");
        // The operator's validating webhook: replicas > 0 without autoscaling.
        assert!(app["spec"]["replicas"].as_i64().unwrap() > 0, "{name}");
        for c in app["spec"]["components"].as_array().unwrap() {
            let c = c.as_str().unwrap();
            assert!(
                manifest["component"].get(c).is_some(),
                "{name}: no component `{c}` in deploy/kubernetes/spin.toml"
            );
            deployed.push(c.to_owned());
        }
        // Every variable through the runtime config's static provider, from the Secret
        // the deploy commands create; none as a pod environment variable.
        assert_eq!(app["spec"]["runtimeConfig"]["loadFromSecret"], "coffee-orders-runtime-config", "{name}");
        assert!(app["spec"].get("variables").is_none(), "{name}: variables outside the static provider");
    }
    deployed.sort();
    let mut all: Vec<String> = manifest["component"].as_table().unwrap().keys().cloned().collect();
    all.sort();
    assert_eq!(deployed, all, "every component runs in exactly one of the SpinApps");
}

#[test]
fn the_check_refuses_what_the_crd_and_the_operator_refuse() {
    let schema = jsonschema::validator_for(&spinapp_schema()).unwrap();
    let good = yaml_documents("deploy/kubernetes/coffee-orders.yaml").remove(0);
    let mut misspelt = good.clone();
    misspelt["spec"]["replica"] = 2.into();
    assert!(!problems(&schema, &misspelt).is_empty(), "an unknown field");
    let mut no_executor = good.clone();
    no_executor["spec"].as_object_mut().unwrap().remove("executor");
    assert!(!problems(&schema, &no_executor).is_empty(), "executor is required");
    let mut wrong_type = good.clone();
    wrong_type["spec"]["replicas"] = "two".into();
    assert!(!problems(&schema, &wrong_type).is_empty(), "replicas is an integer");
    let mut empty = good;
    empty["spec"]["components"] = serde_json::json!([]);
    assert!(!problems(&schema, &empty).is_empty(), "components has at least one item");
}

#[test]
fn the_demo_redis_manifest_reads() {
    let kinds: Vec<String> =
        yaml_documents("deploy/kubernetes/redis.yaml").iter().map(|d| d["kind"].as_str().unwrap().to_owned()).collect();
    assert_eq!(kinds, ["Service", "Deployment", "PersistentVolumeClaim"]);
}

/// The three-partition example's two Redis are each set as the demo Redis is (the same
/// arguments: append-only file, password, keyspace notifications), on volumes and with
/// passwords of their own.
#[test]
fn the_partitions_redis_are_set_as_the_demo_redis_is() {
    let demo = yaml_documents("deploy/kubernetes/redis.yaml");
    let partitions = yaml_documents("deploy/kubernetes/redis-partitions.yaml");
    assert_eq!(partitions.len(), 2 * demo.len());
    let container = |d: &Value| d["spec"]["template"]["spec"]["containers"][0].clone();
    let demo_redis = container(&demo[1]);
    for (i, name) in ["redis-1", "redis-2"].iter().enumerate() {
        let docs = &partitions[i * 3..i * 3 + 3];
        assert!(docs.iter().all(|d| d["metadata"]["name"].as_str().unwrap().starts_with(name)), "{name}");
        let c = container(&docs[1]);
        assert_eq!(c["args"], demo_redis["args"], "{name}");
        assert_eq!(c["image"], demo_redis["image"], "{name}");
        let key = c["env"][0]["valueFrom"]["secretKeyRef"]["key"].as_str().unwrap();
        assert_eq!(key, format!("redis{}_password", i + 1));
        let claim = &docs[1]["spec"]["template"]["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"];
        assert_eq!(claim, &docs[2]["metadata"]["name"], "{name}");
        assert_eq!(docs[0]["spec"]["selector"], docs[1]["spec"]["template"]["metadata"]["labels"], "{name}");
    }
}

/// The SpinKube commands (`docs/deploying.md`) match the manifests: the image they push
/// is the one every SpinApp runs once their `sed` has set it (run here on the file), they
/// wait for every Deployment the manifests make, the Secret they create has every key
/// the manifests read, and the runtime config they write holds every variable.
#[test]
fn the_spinkube_commands_match_the_manifests() {
    let root = spin_test_host::workspace_root();
    let page = std::fs::read_to_string(root.join("docs/deploying.md")).unwrap();
    let section = page.split("## SpinKube and other replicas").nth(1).unwrap().split("\n## ").next().unwrap();
    let docs: Vec<Value> = [
        "deploy/kubernetes/coffee-orders.yaml",
        "deploy/kubernetes/redis.yaml",
        "deploy/kubernetes/redis-partitions.yaml",
    ]
    .iter()
    .flat_map(|p| yaml_documents(p))
    .collect();
    assert!(section.contains("spin registry push -f deploy/kubernetes/spin.toml \"$IMAGE\""));
    let apply = section
        .lines()
        .find(|l| l.contains("deploy/kubernetes/coffee-orders.yaml | kubectl apply -f -"))
        .expect("the SpinApps applied with the pushed image");
    let set_image = apply.split(" | kubectl apply").next().unwrap();
    let out = spin_test_host::bash(&format!("IMAGE=registry.example.com/mine:1\n{set_image}"), &root);
    let applied: Vec<Value> = serde_norway::Deserializer::from_str(&out)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .filter(|v: &Value| !v.is_null())
        .collect();
    let spinapps: Vec<&Value> = applied.iter().filter(|d| d["kind"] == "SpinApp").collect();
    assert_eq!(spinapps.len(), 2);
    for app in &spinapps {
        assert_eq!(app["spec"]["image"], "registry.example.com/mine:1", "{}", app["metadata"]["name"]);
    }
    let wait = section.lines().find(|l| l.starts_with("kubectl rollout status")).expect("a wait for the rollout");
    for name in spinapps.iter().map(|a| a["metadata"]["name"].as_str().unwrap()).chain(["redis"]) {
        assert!(wait.contains(&format!("deployment/{name}")), "{wait} does not wait for {name}");
    }
    fn secret_keys(v: &Value, out: &mut Vec<(String, bool)>) {
        match v {
            Value::Object(o) => {
                if let Some(k) = o.get("secretKeyRef").and_then(|r| r["key"].as_str()) {
                    assert_eq!(o["secretKeyRef"]["name"], "coffee-orders");
                    out.push((k.to_owned(), o["secretKeyRef"]["optional"] == true));
                }
                o.values().for_each(|v| secret_keys(v, out));
            }
            Value::Array(a) => a.iter().for_each(|v| secret_keys(v, out)),
            _ => {}
        }
    }
    let mut keys = Vec::new();
    docs.iter().for_each(|d| secret_keys(d, &mut keys));
    assert!(!keys.is_empty());
    for (key, optional) in keys {
        let shown = if optional { page.as_str() } else { section };
        assert!(shown.contains(&format!("--from-literal={key}=")), "the deploy commands' Secret lacks `{key}`");
    }
    assert!(section.contains("kubectl apply -f deploy/kubernetes/redis.yaml"));

    // The runtime config Secret, as the commands write it (their lines from `pw=` to the
    // file, run here with openssl and scripts/variables): Spin's static provider with
    // every variable the manifest requires or has a default for, and the secrets random.
    let block = spin_test_host::docs::blocks()
        .into_iter()
        .find(|b| b.page == "docs/deploying.md" && b.text.contains("kube-runtime-config.toml"))
        .expect("the SpinKube block");
    let lines: Vec<&str> = block.text.lines().collect();
    let from = lines.iter().position(|l| l.starts_with("pw=")).unwrap();
    let to = lines.iter().position(|l| l.contains("> kube-runtime-config.toml")).unwrap();
    let dir = std::env::temp_dir().join(format!("kube-rc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let script =
        lines[from..=to].join("\n").replace("> kube-runtime-config.toml", &format!("> {}/rc.toml", dir.display()));
    spin_test_host::bash(&script, &root);
    let rc: toml::Table = toml::from_str(&std::fs::read_to_string(dir.join("rc.toml")).unwrap()).unwrap();
    let mode = std::fs::metadata(dir.join("rc.toml")).unwrap().permissions();
    assert_eq!(std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777, 0o600, "it holds secrets");
    std::fs::remove_dir_all(&dir).unwrap();
    let provider = &rc["variables_provider"].as_array().unwrap()[0];
    assert_eq!(provider["type"].as_str(), Some("static"));
    let values = provider["values"].as_table().unwrap();
    let manifest: toml::Table =
        toml::from_str(&std::fs::read_to_string(root.join("deploy/kubernetes/spin.toml")).unwrap()).unwrap();
    for (var, spec) in manifest["variables"].as_table().unwrap() {
        if spec.get("default").is_some() || spec.get("required").and_then(toml::Value::as_bool) == Some(true) {
            assert!(values.contains_key(var), "`{var}` is not in the runtime config the commands write");
        }
    }
    assert!(values["redis_address"].as_str().unwrap().starts_with("redis://default:"), "{values:?}");
    assert_eq!(values["admin_token"].as_str().unwrap().len(), 64, "a random token");
    assert!(section.contains("--from-file=runtime-config.toml=kube-runtime-config.toml"), "the Secret from the file");
}
