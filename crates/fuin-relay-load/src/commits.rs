//! How well the in-process relays' stores batched their writes: the
//! transactions committed and the writes they held, read from the relay's
//! own metrics (`store_commit_batch_size`, which every backend records).

use serde::Serialize;

/// The commits of one backend during a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub(crate) struct Commits {
    /// Transactions committed.
    pub(crate) commits: u64,
    /// Writes (SQLite) or sends (PostgreSQL group commit) they held.
    pub(crate) writes: u64,
}

impl Commits {
    /// What the relays in this process have committed so far, for `backend`
    /// (`sqlite` or `postgres`).
    pub(crate) fn now(backend: &str) -> Self {
        parse(&fuin_relay::metrics::encode(), backend)
    }

    /// What was committed between `earlier` and `self`.
    pub(crate) fn since(self, earlier: Self) -> Self {
        Self {
            commits: self.commits.saturating_sub(earlier.commits),
            writes: self.writes.saturating_sub(earlier.writes),
        }
    }

    /// Writes per commit (0 without commits).
    pub(crate) fn mean_batch(self) -> f64 {
        if self.commits == 0 {
            0.0
        } else {
            self.writes as f64 / self.commits as f64
        }
    }
}

/// Reads the batch-size histogram's count and sum for `backend` out of the
/// metrics text.
fn parse(text: &str, backend: &str) -> Commits {
    let labels = format!("{{backend=\"{backend}\"}}");
    let value = |name: &str| -> f64 {
        text.lines()
            .filter_map(|line| line.strip_prefix(name))
            .filter_map(|rest| rest.strip_prefix(labels.as_str()))
            .filter_map(|rest| rest.trim().parse::<f64>().ok())
            .next()
            .unwrap_or(0.0)
    };
    Commits {
        commits: value("fuin_relay_store_commit_batch_size_count") as u64,
        writes: value("fuin_relay_store_commit_batch_size_sum") as u64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_histogram_of_the_named_backend_is_read() {
        let text = "# TYPE fuin_relay_store_commit_batch_size histogram\n\
                    fuin_relay_store_commit_batch_size_sum{backend=\"postgres\"} 7.0\n\
                    fuin_relay_store_commit_batch_size_count{backend=\"postgres\"} 2\n\
                    fuin_relay_store_commit_batch_size_sum{backend=\"sqlite\"} 300.0\n\
                    fuin_relay_store_commit_batch_size_count{backend=\"sqlite\"} 12\n";
        let sqlite = parse(text, "sqlite");
        assert_eq!(
            sqlite,
            Commits {
                commits: 12,
                writes: 300
            }
        );
        assert_eq!(sqlite.mean_batch(), 25.0);
        assert_eq!(parse(text, "postgres").writes, 7);
        assert_eq!(parse("", "sqlite"), Commits::default());
        assert_eq!(Commits::default().mean_batch(), 0.0);
    }
}
