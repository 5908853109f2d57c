//! The tables, as Vault's documentation defines them, created when missing.
//!
//! Creation runs in one transaction under an advisory lock, so nodes starting
//! together do not race, and only when the table does not exist yet, so a role
//! without `CREATE` privilege works against tables an operator made by hand.
//! The index and key names are PostgreSQL's defaults for the table
//! (`<table>_pkey`, `<table>_parent_path_idx`), so several tables can share a schema.

use crate::config::quoted;

/// Key of the advisory lock held while creating tables ("coffer" in ASCII).
const CREATE_LOCK: i64 = 0x636f_6666_6572;

/// `CREATE TABLE` for the entries table.
pub(crate) fn create_data_table(table: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {t} (\n\
         \x20 parent_path TEXT COLLATE \"C\" NOT NULL,\n\
         \x20 path        TEXT COLLATE \"C\",\n\
         \x20 key         TEXT COLLATE \"C\",\n\
         \x20 value       BYTEA,\n\
         \x20 PRIMARY KEY (path, key)\n\
         )",
        t = quoted(table)
    )
}

/// `CREATE INDEX` on `parent_path`, which `list` scans by range.
pub(crate) fn create_parent_index(table: &str) -> String {
    format!("CREATE INDEX ON {} (parent_path)", quoted(table))
}

/// `CREATE TABLE` for the HA lock table.
pub(crate) fn create_ha_table(table: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {t} (\n\
         \x20 ha_key      TEXT COLLATE \"C\" NOT NULL,\n\
         \x20 ha_identity TEXT COLLATE \"C\" NOT NULL,\n\
         \x20 ha_value    TEXT COLLATE \"C\",\n\
         \x20 valid_until TIMESTAMP WITH TIME ZONE NOT NULL,\n\
         \x20 PRIMARY KEY (ha_key)\n\
         )",
        t = quoted(table)
    )
}

/// Creates the entries table (and its index), and the HA table when `ha_table`
/// is given, unless they exist. Returns the names of the tables it created.
pub(crate) async fn ensure_tables(
    client: &mut tokio_postgres::Client,
    table: &str,
    ha_table: Option<&str>,
) -> Result<Vec<String>, tokio_postgres::Error> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&CREATE_LOCK])
        .await?;
    let mut created = Vec::new();
    if !exists(&tx, table).await? {
        tx.batch_execute(&create_data_table(table)).await?;
        tx.batch_execute(&create_parent_index(table)).await?;
        created.push(table.to_owned());
    }
    if let Some(ha) = ha_table
        && !exists(&tx, ha).await?
    {
        tx.batch_execute(&create_ha_table(ha)).await?;
        created.push(ha.to_owned());
    }
    tx.commit().await?;
    Ok(created)
}

/// Whether `table` resolves through the `search_path`, as the queries will resolve it.
async fn exists(
    tx: &tokio_postgres::Transaction<'_>,
    table: &str,
) -> Result<bool, tokio_postgres::Error> {
    let row = tx
        .query_one(
            "SELECT to_regclass($1) IS NOT NULL",
            &[&quoted(table).as_str()],
        )
        .await?;
    row.try_get(0)
}
