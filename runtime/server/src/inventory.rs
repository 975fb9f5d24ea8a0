//! What each agent reports it has installed: one row per package, replaced whole by each
//! report, so a package an agent no longer has leaves the inventory with its next report.

use davit_api::{HostInventory, InventoryItem};
use sqlx::Row;

use crate::ServerError;
use crate::db::{Db, backend, now};

impl Db {
    /// Replaces what `agent` has, in one transaction.
    pub(crate) async fn put_inventory(
        &self,
        agent: &str,
        packages: &[InventoryItem],
    ) -> Result<(), ServerError> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        sqlx::query("DELETE FROM inventory WHERE agent = $1")
            .bind(agent)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        let at = now();
        for p in packages {
            sqlx::query(
                "INSERT INTO inventory (agent, name, version, state, time, reported_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(agent)
            .bind(&p.name)
            .bind(p.version.as_deref())
            .bind(&p.state)
            .bind(&p.time)
            .bind(at)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        }
        tx.commit().await.map_err(backend)
    }

    /// Every host's packages (or only `host`'s), by host name.
    pub(crate) async fn inventory(
        &self,
        host: Option<&str>,
    ) -> Result<Vec<HostInventory>, ServerError> {
        let rows = sqlx::query(
            "SELECT a.hostname, i.agent, i.name, i.version, i.state, i.time, i.reported_at \
             FROM inventory i JOIN agents a ON a.id = i.agent \
             WHERE $1 = '' OR a.hostname = $1 ORDER BY a.hostname, i.agent, i.name",
        )
        .bind(host.unwrap_or(""))
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        let mut out: Vec<HostInventory> = Vec::new();
        for r in &rows {
            let agent: String = r.try_get("agent").map_err(backend)?;
            let item = InventoryItem {
                name: r.try_get("name").map_err(backend)?,
                version: r.try_get("version").map_err(backend)?,
                state: r.try_get("state").map_err(backend)?,
                time: r.try_get("time").map_err(backend)?,
            };
            let reported_at: i64 = r.try_get("reported_at").map_err(backend)?;
            match out.last_mut() {
                Some(last) if last.agent == agent => {
                    last.reported_at = last.reported_at.max(reported_at);
                    last.packages.push(item);
                }
                _ => out.push(HostInventory {
                    host: r.try_get("hostname").map_err(backend)?,
                    agent,
                    reported_at,
                    packages: vec![item],
                }),
            }
        }
        Ok(out)
    }
}
