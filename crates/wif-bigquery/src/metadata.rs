//! Table metadata:
//! [`tables.get`](https://cloud.google.com/bigquery/docs/reference/rest/v2/tables/get), for
//! callers that want a table's schema before inserting into it.

use reqwest::Method;
use serde::Deserialize;
use wif_core::Error;

use crate::client::{BigQuery, Call};
use crate::hints::Operation;
use crate::{DEFAULT_TIMEOUT, Schema, TableRef};

#[derive(Deserialize)]
struct Table {
    #[serde(default)]
    schema: Schema,
}

impl BigQuery {
    /// The schema of `table` (`tables.get`).
    pub async fn table_schema(&self, table: &TableRef) -> Result<Schema, Error> {
        table.validate()?;
        let resource = table.resource();
        let url = self.table_url(table, &[])?;
        let t: Table = self
            .call(Call {
                method: "tables.get",
                operation: Operation::Metadata,
                resource: resource.clone(),
                table: Some(&resource),
                rows: 0,
                http_method: Method::GET,
                url,
                body: None,
                timeout: DEFAULT_TIMEOUT,
            })
            .await?;
        Ok(t.schema)
    }
}
