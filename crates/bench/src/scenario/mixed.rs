//! `mixed`: 1000 keys are written during setup (as for `kv2-read`); op `i` writes key
//! `i % 1000` for one sequence number in ten and reads it otherwise: 90% reads, 10% writes on
//! one mount. Which numbers write is scattered by a hash, so that every client (client `k`
//! gets `k`, `k + c`, `k + 2c`, ...) writes one op in ten whatever the client count `c`.

use std::sync::Arc;

use anyhow::Context as _;
use async_trait::async_trait;

use super::Scenario;
use super::kv2::Kv2Mount;
use crate::http::VaultHttp;

/// One op in this many is a write.
const WRITE_EVERY: u64 = 10;

/// See the module docs.
#[derive(Debug, Default)]
pub(crate) struct Mixed {
    kv: Option<Arc<Kv2Mount>>,
}

/// Whether op `i` writes (else it reads): one sequence number in `WRITE_EVERY`, picked by
/// the SplitMix64 finaliser so that no stride of numbers writes more or less than others.
fn is_write(i: u64) -> bool {
    let mut z = i.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (z ^ (z >> 31)).is_multiple_of(WRITE_EVERY)
}

#[async_trait]
impl Scenario for Mixed {
    fn name(&self) -> &'static str {
        "mixed"
    }

    async fn setup(&mut self, client: &VaultHttp) -> anyhow::Result<()> {
        let kv = Arc::new(Kv2Mount::create(client, false).await?);
        self.kv = Some(Arc::clone(&kv));
        kv.prefill(client).await
    }

    async fn one_op(&self, client: &VaultHttp, i: u64) -> anyhow::Result<()> {
        let kv = self.kv.as_ref().context("setup did not run")?;
        if is_write(i) {
            kv.write(client, i).await
        } else {
            kv.read(client, i).await
        }
    }

    async fn teardown(&self, client: &VaultHttp) -> anyhow::Result<()> {
        match &self.kv {
            Some(kv) => kv.remove(client).await,
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Share of writes, in percent, among `count` ops of one client out of `clients`.
    fn write_share(client: u64, clients: u64, count: u64) -> f64 {
        let writes = (0..count)
            .filter(|n| is_write(client + n * clients))
            .count();
        100.0 * writes as f64 / count as f64
    }

    #[test]
    fn one_op_in_ten_writes_overall_and_for_every_client_at_common_client_counts() {
        let all = write_share(0, 1, 100_000);
        assert!((9.5..10.5).contains(&all), "{all}% overall");
        for clients in [2, 10, 16, 64, 256] {
            for client in [0, 1, clients / 2, clients - 1] {
                let share = write_share(client, clients, 20_000);
                assert!(
                    (9.0..11.0).contains(&share),
                    "client {client} of {clients}: {share}% writes"
                );
            }
        }
    }
}
