//! Naming a table: `project.dataset.table` (the GoogleSQL spelling) or `project:dataset.table`
//! (the `bq` tool's).

use std::fmt;
use std::str::FromStr;

use wif_core::Error;

/// A fully qualified table: project, dataset and table ids.
///
/// ```
/// use wif_bigquery::TableRef;
///
/// let t: TableRef = "my-project.analytics.events".parse()?;
/// assert_eq!(t.dataset(), "analytics");
/// // Domain-scoped projects contain a dot and a colon; the last two dots separate the ids.
/// let t: TableRef = "example.com:my-project.analytics.events".parse()?;
/// assert_eq!(t.project(), "example.com:my-project");
/// # Ok::<(), wif_core::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TableRef {
    project: String,
    dataset: String,
    table: String,
}

impl TableRef {
    /// A table reference from its parts (checked when used: empty ids are a configuration error).
    pub fn new(
        project: impl Into<String>,
        dataset: impl Into<String>,
        table: impl Into<String>,
    ) -> Self {
        TableRef {
            project: project.into(),
            dataset: dataset.into(),
            table: table.into(),
        }
    }

    /// The project id.
    pub fn project(&self) -> &str {
        &self.project
    }

    /// The dataset id.
    pub fn dataset(&self) -> &str {
        &self.dataset
    }

    /// The table id.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// `project:dataset.table`: how BigQuery names the table in its messages (and so do ours).
    pub(crate) fn resource(&self) -> String {
        format!("{}:{}.{}", self.project, self.dataset, self.table)
    }

    /// Rejects empty ids before any network call.
    pub(crate) fn validate(&self) -> Result<(), Error> {
        for (field, value) in [
            ("project", &self.project),
            ("dataset", &self.dataset),
            ("table", &self.table),
        ] {
            if value.trim().is_empty() {
                return Err(Error::config(
                    &format!("table.{field}"),
                    "must not be empty (expected `project.dataset.table`)",
                ));
            }
        }
        Ok(())
    }
}

impl fmt::Display for TableRef {
    /// `project.dataset.table`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.project, self.dataset, self.table)
    }
}

impl FromStr for TableRef {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let s = s.trim().trim_matches('`');
        let bad = || {
            Error::config(
                "table",
                format!("`{s}` is not `project.dataset.table` (or `project:dataset.table`)"),
            )
        };
        let (rest, table) = s.rsplit_once('.').ok_or_else(bad)?;
        // `bq`'s `project:dataset.table` when the last colon comes after the last dot;
        // otherwise split from the right, since domain-scoped projects (`example.com:p`)
        // contain a dot.
        let (project, dataset) = match (rest.rfind(':'), rest.rfind('.')) {
            (Some(colon), dot) if dot.is_none_or(|d| colon > d) => {
                (&rest[..colon], &rest[colon + 1..])
            }
            _ => rest.rsplit_once('.').ok_or_else(bad)?,
        };
        let t = TableRef::new(project, dataset, table);
        t.validate().map_err(|_| bad())?;
        Ok(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_usual_spellings() {
        let table: &[(&str, (&str, &str, &str))] = &[
            ("p.d.t", ("p", "d", "t")),
            ("`p.d.t`", ("p", "d", "t")),
            ("p:d.t", ("p", "d", "t")),
            ("example.com:p.d.t", ("example.com:p", "d", "t")),
            ("example.com:p:d.t", ("example.com:p", "d", "t")),
        ];
        for (text, (p, d, t)) in table {
            let r: TableRef = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(
                (r.project(), r.dataset(), r.table()),
                (*p, *d, *t),
                "{text}"
            );
        }
    }

    #[test]
    fn rejects_incomplete_names() {
        for text in ["", "t", "d.t", "p..t", ".d.t", "p.d."] {
            let err = text.parse::<TableRef>().expect_err(text);
            assert!(err.is_config(), "{text}: {err}");
        }
    }
}
