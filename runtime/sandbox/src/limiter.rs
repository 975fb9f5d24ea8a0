//! Memory and table limits of one store, with the peak kept for reporting.

use wasmtime::ResourceLimiter;

/// Most table elements one invocation may hold.
const MAX_TABLE_ELEMENTS: usize = 100_000;

#[derive(Debug)]
pub(crate) struct MemoryLimiter {
    limit: u64,
    /// Bytes of linear memory in use across all of the component's memories.
    used: u64,
    pub(crate) peak: u64,
    /// Set when a growth was refused, so a later trap is reported as the memory limit.
    pub(crate) refused: Option<u64>,
}

impl MemoryLimiter {
    pub(crate) fn limit(&self) -> u64 {
        self.limit
    }

    pub(crate) fn new(limit: u64) -> Self {
        MemoryLimiter {
            limit,
            used: 0,
            peak: 0,
            refused: None,
        }
    }
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let grow = (desired - current) as u64;
        let wanted = self.used + grow;
        if wanted > self.limit {
            self.refused = Some(wanted);
            return Ok(false);
        }
        self.used = wanted;
        self.peak = self.peak.max(wanted);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }

    fn instances(&self) -> usize {
        64
    }
    fn tables(&self) -> usize {
        64
    }
    fn memories(&self) -> usize {
        16
    }
}
