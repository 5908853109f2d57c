//! Enabling a device: the `sys/audit/:path` body, its validation, the
//! persisted/listed table entry, and building a device from it.
//!
//! Flow for the core: deserialize [`EnableRequest`] from the body, turn it
//! into an [`AuditTableEntry`] with [`AuditTableEntry::new`] (every option
//! checked, errors name the option), draw an [`AuditSalt`], build the device
//! with [`open_device`], register it with the broker, and persist the entry
//! and the salt. On unseal, rebuild each persisted entry with its stored salt.

use crate::device::{AuditDevice, DiscardDevice, FileDevice, FileMode, StdoutDevice};
use crate::{AuditError, AuditSalt, FormatOptions, Formatter};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

/// Where a device is enabled (`file/`), normalised with one trailing slash.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AuditPath(String);

impl AuditPath {
    /// Parses the `:path` of `sys/audit/:path` (`file`, `file/`, `team/a`).
    pub fn parse(raw: &str) -> Result<Self, AuditError> {
        let trimmed = raw.trim_matches('/');
        let bad = trimmed.is_empty()
            || trimmed
                .split('/')
                .any(|seg| seg.is_empty() || seg == "." || seg == "..")
            || trimmed.chars().any(|c| c.is_control() || c.is_whitespace());
        if bad {
            return Err(AuditError::InvalidPath(raw.to_owned()));
        }
        Ok(Self(format!("{trimmed}/")))
    }

    /// The path with its trailing slash (`file/`), as Vault lists it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AuditPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The body of `POST|PUT sys/audit/:path`. Weakly typed as Vault's framework:
/// `local` and option values may be JSON bools, numbers or strings (the vault
/// CLI sends `"true"`); options are kept as strings, as Vault stores them.
#[derive(Debug, Clone, Deserialize)]
pub struct EnableRequest {
    /// `file` (also `socket`, `syslog`: refused as not supported).
    #[serde(rename = "type", default, deserialize_with = "opt_string")]
    pub device_type: String,
    /// Free text shown by `vault audit list`.
    #[serde(default, deserialize_with = "opt_string")]
    pub description: String,
    /// Device options (`file_path`, `mode`, `log_raw`, ...).
    #[serde(default, deserialize_with = "string_map")]
    pub options: BTreeMap<String, String>,
    /// Whether the device is local to this cluster (replication).
    #[serde(default, deserialize_with = "weak_bool")]
    pub local: bool,
}

/// One row of the audit table: what the core persists, and the value under
/// each `"<path>/"` key of `GET sys/audit`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditTableEntry {
    /// The device type (`file`).
    #[serde(rename = "type")]
    pub device_type: String,
    /// The description given at enable time.
    pub description: String,
    /// The options as given (strings), without defaults filled in.
    pub options: BTreeMap<String, String>,
    /// The `local` flag.
    pub local: bool,
    /// The path with trailing slash (`file/`).
    pub path: String,
}

impl AuditTableEntry {
    /// Validates `req` for `path`. Nothing is opened yet.
    pub fn new(path: &AuditPath, req: EnableRequest) -> Result<Self, AuditError> {
        let entry = Self {
            device_type: req.device_type,
            description: req.description,
            options: req.options,
            local: req.local,
            path: path.as_str().to_owned(),
        };
        entry.settings()?;
        Ok(entry)
    }

    /// The typed settings these options describe.
    pub fn settings(&self) -> Result<DeviceSettings, AuditError> {
        match self.device_type.as_str() {
            "file" => parse_file_options(&self.options).map(DeviceSettings::File),
            "socket" | "syslog" => Err(AuditError::NotSupported(format!(
                "the {:?} audit device type (use \"file\", with file_path=stdout for standard output)",
                self.device_type
            ))),
            "" => Err(AuditError::InvalidRequest(
                "audit device type is required".to_owned(),
            )),
            other => Err(AuditError::UnknownType(other.to_owned())),
        }
    }
}

/// The list answer of `GET sys/audit`: path (with slash) → entry.
pub type AuditTable = BTreeMap<String, AuditTableEntry>;

/// Typed, validated device settings.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeviceSettings {
    /// Vault's `file` device (also covers `stdout` and `discard`).
    File(FileSettings),
}

/// Settings of a `file` device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSettings {
    /// Where entries go.
    pub target: FileTarget,
    /// `mode`; ignored for `stdout` and `discard`.
    pub mode: FileMode,
    /// Options common to all devices.
    pub format: FormatOptions,
}

/// The `file_path` option.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileTarget {
    /// A file, appended to.
    Path(PathBuf),
    /// `stdout`: the server's standard output.
    Stdout,
    /// `discard`: nowhere.
    Discard,
}

/// Builds the device `entry` describes, hashing with `salt`. A file device
/// opens its file now, so an unwritable path is refused at enable time.
pub fn open_device(
    entry: &AuditTableEntry,
    salt: AuditSalt,
) -> Result<Arc<dyn AuditDevice>, AuditError> {
    match entry.settings()? {
        DeviceSettings::File(s) => {
            let formatter = Formatter::new(salt, s.format);
            Ok(match s.target {
                FileTarget::Path(path) => Arc::new(FileDevice::open(path, s.mode, formatter)?),
                FileTarget::Stdout => Arc::new(StdoutDevice::new(formatter)),
                FileTarget::Discard => Arc::new(DiscardDevice::new(formatter)),
            })
        }
    }
}

/// Options of Vault's `file` device that Coffer implements.
const FILE_OPTIONS: &[&str] = &[
    "file_path",
    "path",
    "mode",
    "format",
    "prefix",
    "log_raw",
    "hmac_accessor",
    "elide_list_responses",
];

/// Vault Enterprise options, refused by name rather than as unknown.
const ENTERPRISE_OPTIONS: &[&str] = &["fallback", "filter", "exclude"];

fn parse_file_options(options: &BTreeMap<String, String>) -> Result<FileSettings, AuditError> {
    for name in options.keys() {
        if ENTERPRISE_OPTIONS.contains(&name.as_str()) {
            return Err(AuditError::NotSupported(format!(
                "the audit option {name:?} (Vault Enterprise)"
            )));
        }
        if !FILE_OPTIONS.contains(&name.as_str()) {
            return Err(invalid(
                name,
                format!(
                    "unknown option for the \"file\" audit device (known: {})",
                    FILE_OPTIONS.join(", ")
                ),
            ));
        }
    }

    // `path` is the legacy name of `file_path`.
    let (path_key, raw_path) = match (options.get("file_path"), options.get("path")) {
        (Some(p), _) => ("file_path", p),
        (None, Some(p)) => ("path", p),
        (None, None) => return Err(invalid("file_path", "is required".to_owned())),
    };
    let target = match raw_path.trim() {
        "" => return Err(invalid(path_key, "must not be empty".to_owned())),
        "stdout" => FileTarget::Stdout,
        "discard" => FileTarget::Discard,
        p => FileTarget::Path(PathBuf::from(p)),
    };

    let mode = match options.get("mode") {
        Some(m) => FileMode::parse(m).map_err(|reason| invalid("mode", reason))?,
        None => FileMode::default(),
    };

    match options.get("format").map(|f| f.trim()) {
        None | Some("" | "json") => {}
        Some("jsonx") => {
            return Err(AuditError::NotSupported(
                "audit format \"jsonx\" (use format=json)".to_owned(),
            ));
        }
        Some(other) => {
            return Err(invalid(
                "format",
                format!("{other:?} is not a format (\"json\")"),
            ));
        }
    }

    let defaults = FormatOptions::default();
    let format = FormatOptions {
        log_raw: bool_option(options, "log_raw", defaults.log_raw)?,
        hmac_accessor: bool_option(options, "hmac_accessor", defaults.hmac_accessor)?,
        elide_list_responses: bool_option(
            options,
            "elide_list_responses",
            defaults.elide_list_responses,
        )?,
        prefix: options.get("prefix").cloned().unwrap_or_default(),
    };
    Ok(FileSettings {
        target,
        mode,
        format,
    })
}

fn bool_option(
    options: &BTreeMap<String, String>,
    name: &str,
    default: bool,
) -> Result<bool, AuditError> {
    match options.get(name) {
        None => Ok(default),
        Some(v) if v.trim().is_empty() => Ok(default),
        Some(v) => parse_bool(v.trim())
            .ok_or_else(|| invalid(name, format!("{v:?} is not a boolean (true or false)"))),
    }
}

fn invalid(option: &str, reason: String) -> AuditError {
    AuditError::InvalidOption {
        option: option.to_owned(),
        reason,
    }
}

/// Go's `strconv.ParseBool`, which Vault's weak decoding uses.
fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

fn opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(d)?.unwrap_or_default())
}

fn weak_bool<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    use serde::de::Error;
    match Value::deserialize(d)? {
        Value::Null => Ok(false),
        Value::Bool(b) => Ok(b),
        Value::String(s) if s.trim().is_empty() => Ok(false),
        Value::String(s) => parse_bool(s.trim())
            .ok_or_else(|| D::Error::custom(format!("local: {s:?} is not a boolean"))),
        Value::Number(n) if n.as_u64() == Some(0) => Ok(false),
        Value::Number(n) if n.as_u64() == Some(1) => Ok(true),
        other => Err(D::Error::custom(format!(
            "local: expected a boolean, got {}",
            json_kind(&other)
        ))),
    }
}

/// Options arrive as JSON strings from the vault CLI and as bools or numbers
/// from hvac; all become strings. Nested values are refused.
fn string_map<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    use serde::de::Error;
    let Some(raw) = Option::<BTreeMap<String, Value>>::deserialize(d)? else {
        return Ok(BTreeMap::new());
    };
    let mut out = BTreeMap::new();
    for (k, v) in raw {
        let s = match v {
            Value::Null => continue,
            Value::String(s) => s,
            Value::Bool(b) => b.to_string(),
            Value::Number(n) => n.to_string(),
            other => {
                return Err(D::Error::custom(format!(
                    "options.{k}: expected a string, got {}",
                    json_kind(&other)
                )));
            }
        };
        out.insert(k, s);
    }
    Ok(out)
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
