//! [`LogOnce`]: a condition logged once until it clears, for collectors that
//! retry every cycle.

use std::collections::HashSet;

/// Logs a condition once until it clears, then once when it clears.
#[derive(Debug, Default)]
pub(crate) struct LogOnce {
    seen: HashSet<String>,
}

impl LogOnce {
    /// True the first time `key` is seen (the caller logs at warn, later at debug).
    pub fn first(&mut self, key: impl Into<String>) -> bool {
        if self.seen.len() > 10_000 {
            self.seen.clear();
        }
        self.seen.insert(key.into())
    }

    /// Forgets `key`; true when it had been seen (the caller logs the recovery).
    pub fn clear(&mut self, key: &str) -> bool {
        self.seen.remove(key)
    }
}
