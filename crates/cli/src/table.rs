//! Column-aligned tables like the `vault` CLI prints (its `columnize` output).
//!
//! Columns are separated by four spaces, every column but the last is padded to its widest
//! cell, a header row is followed by a row of dashes as long as each header, and an empty cell
//! prints as `n/a`.

/// Gap between columns (vault's `Glue`).
const GLUE: &str = "    ";
/// What an empty cell shows (vault's `Empty`).
const EMPTY: &str = "n/a";

/// A table under construction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Table {
    header: Option<Vec<String>>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with a header row (underlined with dashes).
    pub(crate) fn with_header<I, S>(header: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            header: Some(header.into_iter().map(Into::into).collect()),
            rows: Vec::new(),
        }
    }

    /// The usual two-column `Key / Value` table.
    pub(crate) fn key_value() -> Self {
        Self::with_header(["Key", "Value"])
    }

    /// Appends a row.
    pub(crate) fn row<I, S>(&mut self, cells: I) -> &mut Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.rows.push(cells.into_iter().map(Into::into).collect());
        self
    }

    /// Appends a `key, value` row.
    pub(crate) fn pair(&mut self, key: &str, value: impl Into<String>) -> &mut Self {
        self.row([key.to_owned(), value.into()])
    }

    /// True when no data rows were added.
    pub(crate) fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The lines of the table, without trailing newline.
    pub(crate) fn render(&self) -> String {
        let mut lines: Vec<Vec<String>> = Vec::new();
        if let Some(header) = &self.header {
            lines.push(header.clone());
            lines.push(
                header
                    .iter()
                    .map(|h| "-".repeat(h.chars().count()))
                    .collect(),
            );
        }
        lines.extend(self.rows.iter().map(|row| {
            row.iter()
                .map(|cell| {
                    if cell.trim().is_empty() {
                        EMPTY.to_owned()
                    } else {
                        cell.clone()
                    }
                })
                .collect()
        }));
        let columns = lines.iter().map(Vec::len).max().unwrap_or(0);
        let widths: Vec<usize> = (0..columns)
            .map(|c| {
                lines
                    .iter()
                    .filter_map(|l| l.get(c))
                    .map(|s| s.chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        lines
            .iter()
            .map(|line| {
                let mut out = String::new();
                for (c, cell) in line.iter().enumerate() {
                    if c + 1 == line.len() {
                        out.push_str(cell);
                    } else {
                        let pad = widths[c].saturating_sub(cell.chars().count());
                        out.push_str(cell);
                        out.push_str(&" ".repeat(pad));
                        out.push_str(GLUE);
                    }
                }
                out
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl std::fmt::Display for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.render())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_value_table_matches_vault_status_layout() {
        let mut table = Table::key_value();
        table
            .pair("Seal Type", "shamir")
            .pair("Total Recovery Shares", "1");
        assert_eq!(
            table.render(),
            "Key                      Value\n\
             ---                      -----\n\
             Seal Type                shamir\n\
             Total Recovery Shares    1"
        );
    }

    #[test]
    fn empty_cells_print_as_not_applicable() {
        let mut table = Table::key_value();
        table.pair("Unseal Nonce", "");
        assert!(
            table.render().ends_with("Unseal Nonce    n/a"),
            "{}",
            table.render()
        );
    }

    #[test]
    fn last_column_has_no_trailing_padding() {
        let mut table = Table::with_header(["Path", "Type", "Description"]);
        table.row([
            "cubbyhole/",
            "cubbyhole",
            "per-token private secret storage",
        ]);
        table.row(["kv/", "kv", ""]);
        let rendered = table.render();
        assert!(rendered.lines().all(|l| !l.ends_with(' ')), "{rendered}");
        assert_eq!(
            rendered.lines().nth(3),
            Some("kv/           kv           n/a")
        );
    }

    #[test]
    fn header_underline_is_as_long_as_each_header() {
        let table = Table::with_header(["Path", "External Entropy Access"]);
        assert_eq!(
            table.render().lines().nth(1),
            Some("----    -----------------------")
        );
    }

    #[test]
    fn multibyte_values_align_by_characters() {
        let mut table = Table::key_value();
        table.pair("token_duration", "∞").pair("a", "b");
        let rendered = table.render();
        assert!(rendered.contains("token_duration    ∞"), "{rendered}");
        assert!(rendered.contains("a                 b"), "{rendered}");
    }
}
