//! Table tests for binding request values to an ARGS_MAP.

use super::*;
use serde_json::json;
use std::path::Path;

fn schema() -> ArgsMap {
    ArgsMap::parse(json!({
        "name": {"flag": "--name", "type": "str", "required": true},
        "times": {"flag": "--times", "type": "int", "default": 1},
        "ratio": {"flag": "--ratio", "type": "float"},
        "loud": {"flag": "--loud", "type": "bool", "default": false},
        "upper": {"flag": "--upper", "type": "bool", "action": "store_true"},
        "photo": {"flag": "--photo", "type": "file"},
        "format": {"flag": "--format", "type": "choice", "choices": ["json", "csv", 3], "default": "json"},
        "options": {"flag": "--options", "type": "json"},
        "site": {"flag": "--site", "type": "url"}
    }))
    .unwrap()
}

fn text(pairs: &[(&str, &str)]) -> BTreeMap<String, RawValue> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), RawValue::Text(v.to_string())))
        .collect()
}

fn json_input(value: Value) -> BTreeMap<String, RawValue> {
    value
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), RawValue::Json(v.clone())))
        .collect()
}

fn argv(args: &RunArgs) -> Vec<String> {
    args.argv
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect()
}

#[test]
fn defaults_are_applied_in_schema_order() {
    let args = bind(&schema(), text(&[("name", "Bob")])).unwrap();
    assert_eq!(
        argv(&args),
        ["--name", "Bob", "--times", "1", "--loud", "0", "--format", "json"]
    );
    assert_eq!(
        args.recorded,
        json!({"name": "Bob", "times": 1, "loud": false, "format": "json"})
            .as_object()
            .unwrap()
            .clone()
    );
}

#[test]
fn text_values_are_coerced() {
    let input = text(&[
        ("name", "-dash"),
        ("times", " 7 "),
        ("ratio", "2.5"),
        ("loud", "Yes"),
        ("upper", "true"),
        ("format", "3"),
        ("options", "{\"a\": [1, 2]}"),
        ("site", "https://example.org/x?y=1"),
    ]);
    let args = bind(&schema(), input).unwrap();
    assert_eq!(
        argv(&args),
        [
            "--name",
            "-dash",
            "--times",
            "7",
            "--ratio",
            "2.5",
            "--loud",
            "1",
            "--upper",
            "--format",
            "3",
            "--options",
            "{\"a\":[1,2]}",
            "--site",
            "https://example.org/x?y=1"
        ]
    );
}

#[test]
fn json_values_are_coerced() {
    let input = json_input(json!({
        "name": 42, "times": 3.0, "ratio": 1, "loud": true, "upper": false,
        "format": 3, "options": "{\"k\": true}", "site": "http://localhost:8080"
    }));
    let args = bind(&schema(), input).unwrap();
    assert_eq!(
        argv(&args),
        [
            "--name",
            "42",
            "--times",
            "3",
            "--ratio",
            "1",
            "--loud",
            "1",
            "--format",
            "3",
            "--options",
            "{\"k\":true}",
            "--site",
            "http://localhost:8080"
        ]
    );
    assert_eq!(args.recorded["options"], json!({"k": true}));
}

#[test]
fn a_json_string_that_is_not_a_container_stays_a_string() {
    let args = bind(
        &schema(),
        json_input(json!({"name": "x", "options": "plain"})),
    )
    .unwrap();
    assert!(argv(&args).contains(&"\"plain\"".to_string()));
}

#[test]
fn every_problem_is_reported_per_field() {
    let input = json_input(json!({
        "times": "many", "ratio": "NaN", "loud": "maybe", "upper": 2, "photo": "/etc/passwd",
        "format": "xml", "options": 5, "site": "ftp://files.example.org"
    }));
    let mut input = input;
    input.insert("options".into(), RawValue::Text("{broken".into()));
    let problems = bind(&schema(), input).unwrap_err();
    let by_param: BTreeMap<_, _> = problems
        .iter()
        .map(|p| (p.param.as_str(), p.message.as_str()))
        .collect();
    let expected = [
        ("name", "is required"),
        ("times", "expected an integer, got \"many\""),
        ("ratio", "expected a number"),
        ("loud", "expected a boolean"),
        ("upper", "expected a boolean"),
        ("photo", "must be uploaded as a file"),
        ("format", "\"xml\" is not one of \"json\", \"csv\", 3"),
        ("options", "is not valid JSON"),
        ("site", "is not an http(s) URL"),
    ];
    for (param, message) in expected {
        let got = by_param
            .get(param)
            .unwrap_or_else(|| panic!("no problem reported for {param}: {problems:?}"));
        assert!(
            got.contains(message),
            "{param}: {got:?} should contain {message:?}"
        );
    }
    assert_eq!(problems.len(), expected.len());
}

#[test]
fn wrong_json_types_are_refused() {
    let cases = [
        (
            json!({"name": {"a": 1}}),
            "name",
            "expected a string, got an object",
        ),
        (
            json!({"name": "x", "times": 1.5}),
            "times",
            "expected an integer, got 1.5",
        ),
        (
            json!({"name": "x", "times": true}),
            "times",
            "expected an integer, got a boolean",
        ),
        (
            json!({"name": "x", "times": 1e300}),
            "times",
            "expected an integer",
        ),
        (
            json!({"name": "x", "ratio": [1]}),
            "ratio",
            "expected a number, got an array",
        ),
        (
            json!({"name": "x", "site": "not a url"}),
            "site",
            "is not a valid URL",
        ),
        (
            json!({"name": "x", "site": "javascript:alert(1)"}),
            "site",
            "is not an http(s) URL",
        ),
        (
            json!({"name": "x", "format": ["json"]}),
            "format",
            "expected one of the choices",
        ),
    ];
    for (input, param, message) in cases {
        let problems = bind(&schema(), json_input(input.clone())).unwrap_err();
        assert_eq!(problems.len(), 1, "{input}: {problems:?}");
        assert_eq!(problems[0].param, param);
        assert!(
            problems[0].message.contains(message),
            "{input}: {:?}",
            problems[0].message
        );
    }
}

#[test]
fn blanks_and_nulls_count_as_not_given() {
    let mut input = text(&[("name", ""), ("times", ""), ("loud", "")]);
    input.insert("ratio".into(), RawValue::Json(Value::Null));
    let args = bind(&schema(), input).unwrap();
    assert_eq!(
        argv(&args),
        ["--name", "", "--times", "1", "--loud", "0", "--format", "json"]
    );
    let problems = bind(&schema(), json_input(json!({"name": null}))).unwrap_err();
    assert_eq!(problems[0].message, "is required");
}

#[test]
fn uploads_bind_only_to_file_parameters() {
    let upload = RawValue::Upload {
        file_name: "cat.png".into(),
        path: "/data/runs/1/uploads/cat.png".into(),
        size: 42,
    };
    let mut input = text(&[("name", "x")]);
    input.insert("photo".into(), upload.clone());
    let args = bind(&schema(), input).unwrap();
    let argv = argv(&args);
    let at = argv
        .iter()
        .position(|a| a == "--photo")
        .expect("--photo passed");
    assert_eq!(argv[at + 1], "/data/runs/1/uploads/cat.png");
    assert_eq!(
        args.recorded["photo"],
        json!({"file": "cat.png", "size": 42}),
        "the path is never recorded"
    );
    let mut moved = args.clone();
    moved.relocate_uploads(Path::new("/data/runs/1"), Path::new("/data/runs/2"));
    assert_eq!(moved.argv[at + 1], "/data/runs/2/uploads/cat.png");
    assert_eq!(
        moved.argv[..at + 1],
        args.argv[..at + 1],
        "other arguments stay"
    );
    let mut input = text(&[("name", "x")]);
    input.insert("times".into(), upload);
    let problems = bind(&schema(), input).unwrap_err();
    assert_eq!(problems[0].param, "times");
}

#[test]
fn unknown_parameters_are_ignored_and_reported() {
    let args = bind(
        &schema(),
        text(&[("name", "x"), ("zzz", "1"), ("aaa", "2")]),
    )
    .unwrap();
    assert_eq!(args.ignored, ["aaa", "zzz"]);
    assert!(
        argv(&args)
            .iter()
            .all(|a| a != "zzz" && a != "aaa" && a != "2"),
        "{:?}",
        argv(&args)
    );
}

#[test]
fn values_too_long_for_a_command_line_are_refused_before_the_run() {
    let map = ArgsMap::parse(json!({
        "a": {"flag": "--a"}, "b": {"flag": "--b"}, "c": {"flag": "--c"},
        "d": {"flag": "--d"}, "e": {"flag": "--e"}, "f": {"flag": "--f"}, "g": {"flag": "--g"},
        "h": {"flag": "--h"}, "i": {"flag": "--i"}
    }))
    .unwrap();
    let one = "x".repeat(200 * 1024);
    let problems = bind(&map, text(&[("a", &one)])).unwrap_err();
    assert_eq!(problems[0].param, "a");
    assert!(
        problems[0]
            .message
            .contains("more than one command-line argument can hold"),
        "{:?}",
        problems[0]
    );
    let big = "y".repeat(120 * 1024);
    let many: Vec<(&str, &str)> = ["a", "b", "c", "d", "e", "f", "g", "h", "i"]
        .iter()
        .map(|k| (*k, big.as_str()))
        .collect();
    let problems = bind(&map, text(&many)).unwrap_err();
    assert_eq!(problems.len(), 1);
    assert!(
        problems[0].message.contains("add up to"),
        "{:?}",
        problems[0]
    );
    assert!(
        bind(&map, text(&[("a", &big)])).is_ok(),
        "120 KiB in one argument is fine"
    );
}

#[test]
fn a_nul_byte_in_text_is_refused_and_escaped_in_json() {
    let map = ArgsMap::parse(json!({
        "s": {"flag": "--s"},
        "u": {"flag": "--u", "type": "url"},
        "j": {"flag": "--j", "type": "json"}
    }))
    .unwrap();
    for (name, value) in [("s", "a\0b"), ("u", "http://x/\0")] {
        let problems = bind(&map, text(&[(name, value)])).unwrap_err();
        assert_eq!(problems[0].param, name);
        assert!(problems[0].message.contains("NUL"), "{:?}", problems[0]);
    }
    let args = bind(&map, json_input(json!({"j": {"t": "a\u{0}b"}}))).unwrap();
    assert_eq!(argv(&args), ["--j", r#"{"t":"a\u0000b"}"#]);
}
