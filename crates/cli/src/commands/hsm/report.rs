//! Printing the doctor's report: a table grouped by section with the
//! remedies under the findings that need them, then the stanza and the
//! verdict; or the same as JSON/YAML for scripts. The exit code is the
//! verdict: 0 all good, 1 warnings, 2 unusable.

use coffer_server::hsm_probe::{Finding, Stanza, Status};
use serde::Serialize;

use crate::format::{Format, print_data};

/// Everything the probe reported.
#[derive(Debug, Default, Serialize)]
pub(super) struct Report {
    pub(super) findings: Vec<Finding>,
    pub(super) stanza: Option<Stanza>,
}

impl Report {
    fn count(&self, status: Status) -> usize {
        self.findings.iter().filter(|f| f.status == status).count()
    }

    /// 2 with any failure (or nothing recommendable), 1 with warnings, else 0.
    fn exit_code(&self) -> u8 {
        if self.count(Status::Fail) > 0 || self.stanza.is_none() {
            2
        } else if self.count(Status::Warn) > 0 {
            1
        } else {
            0
        }
    }

    fn verdict(&self) -> String {
        let (fails, warns) = (self.count(Status::Fail), self.count(Status::Warn));
        match self.exit_code() {
            0 => "usable: every check passed".to_owned(),
            1 => format!("usable, with {warns} warning(s) to fix"),
            _ if fails == 0 => {
                "unusable: the token offers no mechanism the seal can use".to_owned()
            }
            _ => format!("unusable: {fails} failure(s), {warns} warning(s)"),
        }
    }
}

#[derive(Serialize)]
struct JsonReport<'a> {
    lib: &'a str,
    result: &'static str,
    exit_code: u8,
    findings: &'a [Finding],
    stanza: Option<&'a Stanza>,
}

/// Prints `report` and returns the exit code.
pub(super) fn print(lib: &str, report: &Report, format: Format) -> u8 {
    let code = report.exit_code();
    if format != Format::Table {
        let json = JsonReport {
            lib,
            result: ["ok", "warnings", "unusable"][usize::from(code)],
            exit_code: code,
            findings: &report.findings,
            stanza: report.stanza.as_ref(),
        };
        if let Err(e) = print_data(format, &json) {
            eprintln!("Error: {e}");
            return 2;
        }
        return code;
    }
    print!("{}", table(lib, report));
    code
}

fn label(status: Status) -> &'static str {
    match status {
        Status::Info => "info",
        Status::Ok => "ok",
        Status::Warn => "WARN",
        Status::Fail => "FAIL",
    }
}

fn table(lib: &str, report: &Report) -> String {
    let mut out = format!("HSM doctor: {lib}\n");
    let width = report
        .findings
        .iter()
        .map(|f| f.check.chars().count())
        .max()
        .unwrap_or(0)
        .min(28);
    let mut section = "";
    for f in &report.findings {
        if f.section != section {
            section = &f.section;
            out.push_str(&format!("\n{section}\n"));
        }
        let time = f
            .millis
            .map(|ms| format!(" ({ms:.1} ms)"))
            .unwrap_or_default();
        out.push_str(&format!(
            "  {:<4}  {:<width$}  {}{time}\n",
            label(f.status),
            f.check,
            f.detail
        ));
        if let Some(r) = &f.remedy {
            out.push_str(&format!("  {:<4}  {:<width$}  -> {r}\n", "", ""));
        }
    }
    match &report.stanza {
        Some(s) => {
            let how = if s.proven {
                "proven by a wrap/unwrap round trip"
            } else {
                "from the mechanism list only: no key was tried"
            };
            out.push_str(&format!(
                "\nA seal stanza that works with this token ({how}):\n\n"
            ));
            for line in s.hcl.lines() {
                let indented = format!("    {line}");
                out.push_str(indented.trim_end());
                out.push('\n');
            }
        }
        None => out.push_str("\nNo seal stanza can be recommended for this module and token.\n"),
    }
    out.push_str(&format!(
        "\nResult: {} (exit {})\n",
        report.verdict(),
        report.exit_code()
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(status: Status) -> Finding {
        Finding::new("keys", "seal key", status, "detail")
    }

    fn stanza() -> Option<Stanza> {
        Some(Stanza {
            hcl: "seal \"pkcs11\" {\n}\n".to_owned(),
            proven: true,
        })
    }

    #[test]
    fn exit_code_is_the_worst_finding_and_no_stanza_is_unusable() {
        let mut r = Report {
            findings: vec![finding(Status::Ok), finding(Status::Info)],
            stanza: stanza(),
        };
        assert_eq!(r.exit_code(), 0);
        r.findings.push(finding(Status::Warn));
        assert_eq!(r.exit_code(), 1);
        r.findings.push(finding(Status::Fail));
        assert_eq!(r.exit_code(), 2);
        let r = Report {
            findings: vec![finding(Status::Ok)],
            stanza: None,
        };
        assert_eq!(r.exit_code(), 2);
    }

    #[test]
    fn the_table_shows_remedies_under_their_finding_and_the_verdict() {
        let r = Report {
            findings: vec![finding(Status::Fail).remedy("do this")],
            stanza: None,
        };
        let t = table("/lib.so", &r);
        assert!(t.contains("FAIL  seal key  detail\n"), "{t}");
        assert!(t.contains("-> do this"), "{t}");
        assert!(
            t.ends_with("Result: unusable: 1 failure(s), 0 warning(s) (exit 2)\n"),
            "{t}"
        );
    }
}
