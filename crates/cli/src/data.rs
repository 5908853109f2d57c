//! Request data from command-line arguments, as `vault write`/`kv put` take it:
//! `k=v` (string values), `k=@file` (file contents), `k=-` (stdin), `@file.json` or a lone `-`
//! (a JSON object). A key given twice becomes a list, as vault's builder does.

use std::io::Read;
use std::path::Path;

use anyhow::{Context, bail};
use serde_json::{Map, Value};

/// Builds the JSON object sent to the server. `stdin` is read at most once.
pub(crate) fn parse(args: &[String], stdin: &mut dyn Read) -> anyhow::Result<Map<String, Value>> {
    let mut data = Map::new();
    let mut stdin_used = false;
    let mut read_stdin = |what: &str| -> anyhow::Result<String> {
        if stdin_used {
            bail!("stdin can only be used once ({what})");
        }
        stdin_used = true;
        let mut text = String::new();
        stdin
            .read_to_string(&mut text)
            .context("error reading stdin")?;
        Ok(text)
    };
    for arg in args {
        if arg == "-" {
            merge_object(&mut data, &read_stdin("-")?, "stdin")?;
            continue;
        }
        let Some((key, value)) = arg.split_once('=') else {
            if let Some(file) = arg.strip_prefix('@') {
                merge_object(&mut data, &read_file(Path::new(file))?, file)?;
                continue;
            }
            bail!("invalid key/value pair {arg:?}: format must be key=value");
        };
        if key.is_empty() {
            bail!("invalid key/value pair: the key is empty");
        }
        let value = if value == "-" {
            read_stdin(key)?
        } else if let Some(file) = value.strip_prefix('@') {
            read_file(Path::new(file))?
        } else {
            value.to_owned()
        };
        insert(&mut data, key, Value::String(value));
    }
    Ok(data)
}

fn insert(data: &mut Map<String, Value>, key: &str, value: Value) {
    match data.get_mut(key) {
        None => {
            data.insert(key.to_owned(), value);
        }
        Some(Value::Array(list)) => list.push(value),
        Some(existing) => {
            let first = existing.take();
            *existing = Value::Array(vec![first, value]);
        }
    }
}

fn read_file(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("error reading {}", path.display()))
}

fn merge_object(data: &mut Map<String, Value>, text: &str, source: &str) -> anyhow::Result<()> {
    let value: Value =
        serde_json::from_str(text).with_context(|| format!("error parsing JSON from {source}"))?;
    let Value::Object(object) = value else {
        bail!("JSON from {source} must be an object");
    };
    for (k, v) in object {
        data.insert(k, v);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn key_value_pairs_become_string_values() {
        let data = parse(&args(&["a=1", "b=true", "c=x=y"]), &mut std::io::empty()).expect("parse");
        assert_eq!(
            Value::Object(data),
            json!({"a": "1", "b": "true", "c": "x=y"})
        );
    }

    #[test]
    fn at_file_value_reads_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("pw");
        std::fs::write(&file, "s3cret\n").expect("write");
        let arg = format!("password=@{}", file.display());
        let data = parse(&[arg], &mut std::io::empty()).expect("parse");
        assert_eq!(data["password"], json!("s3cret\n"));
    }

    #[test]
    fn lone_dash_reads_a_json_object_from_stdin() {
        let mut stdin = std::io::Cursor::new(r#"{"n": 5, "s": "x"}"#);
        let data = parse(&args(&["-"]), &mut stdin).expect("parse");
        assert_eq!(Value::Object(data), json!({"n": 5, "s": "x"}));
    }

    #[test]
    fn dash_value_reads_stdin_as_a_string() {
        let mut stdin = std::io::Cursor::new("from stdin");
        let data = parse(&args(&["k=-"]), &mut stdin).expect("parse");
        assert_eq!(data["k"], json!("from stdin"));
    }

    #[test]
    fn repeated_keys_become_a_list() {
        let data = parse(&args(&["p=a", "p=b", "p=c"]), &mut std::io::empty()).expect("parse");
        assert_eq!(data["p"], json!(["a", "b", "c"]));
    }

    #[test]
    fn argument_without_equals_sign_is_rejected() {
        let err = parse(&args(&["oops"]), &mut std::io::empty()).expect_err("must fail");
        assert!(err.to_string().contains("key=value"), "{err}");
    }

    #[test]
    fn stdin_cannot_be_read_twice() {
        let mut stdin = std::io::Cursor::new("x");
        assert!(parse(&args(&["a=-", "b=-"]), &mut stdin).is_err());
    }
}
