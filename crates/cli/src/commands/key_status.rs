//! `coffer operator rotate` and `coffer operator key-status`: the barrier's
//! key terms, as `vault operator rotate` / `key-status` show them.

use anyhow::Context as _;
use coffer_client::Client;
use serde_json::{Value, json};

use super::EXIT_OK;
use crate::cli::GlobalArgs;
use crate::context;
use crate::format::{go_value, print_data};
use crate::table::Table;

/// `operator rotate`: adds a key term; values written from now on use it.
pub(crate) async fn rotate(global: &GlobalArgs) -> anyhow::Result<u8> {
    let client = context::client(global)?;
    client
        .write("sys/rotate", &json!({}))
        .await
        .context("Error rotating key")?;
    let status = key_status(&client).await?;
    if global.format.is_data() {
        print_data(global.format, &status)?;
    } else {
        println!("Success! Rotated key\n\n{}", status_table(&status).render());
    }
    Ok(EXIT_OK)
}

/// `operator key-status`.
pub(crate) async fn show(global: &GlobalArgs) -> anyhow::Result<u8> {
    let client = context::client(global)?;
    let status = key_status(&client).await?;
    if global.format.is_data() {
        print_data(global.format, &status)?;
    } else {
        println!("{}", status_table(&status).render());
    }
    Ok(EXIT_OK)
}

async fn key_status(client: &Client) -> anyhow::Result<Value> {
    client
        .read("sys/key-status")
        .await
        .context("Error reading key status")?
        .and_then(|s| s.data)
        .map(Value::Object)
        .context("Error reading key status: the server sent no data")
}

/// Vault prints these three rows without a header.
fn status_table(status: &Value) -> Table {
    let mut t = Table::default();
    t.pair("Key Term", go_value(&status["term"]));
    t.pair("Install Time", go_value(&status["install_time"]));
    t.pair("Encryption Count", go_value(&status["encryptions"]));
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_names_term_install_time_and_count() {
        let text = status_table(&json!({
            "term": 3,
            "install_time": "2026-12-07T01:00:00Z",
            "encryptions": 12,
        }))
        .render();
        let rows: Vec<Vec<&str>> = text
            .lines()
            .map(|l| l.split_whitespace().collect())
            .collect();
        assert_eq!(rows[0], ["Key", "Term", "3"]);
        assert_eq!(rows[1], ["Install", "Time", "2026-12-07T01:00:00Z"]);
        assert_eq!(rows[2], ["Encryption", "Count", "12"]);
    }
}
