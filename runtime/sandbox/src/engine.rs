//! The one wasmtime engine of a process: pooling allocator, epoch interruption and its ticker.

use std::time::Duration;

use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::SandboxError;

/// How often the epoch advances. A guest yields to the async runtime at every tick, so a
/// wall-clock timeout is noticed within one tick even in a tight loop.
pub(crate) const TICK: Duration = Duration::from_millis(10);

/// Component instances that may be live at once; instantiation waits on a semaphore of this size.
pub(crate) const MAX_INSTANCES: usize = 64;

/// Bytes of linear memory one slot of the pool may reach; the per-invocation limit is enforced
/// below it by the store's limiter.
const MAX_MEMORY_SLOT: u64 = 4 << 30;

pub(crate) fn new_engine() -> Result<Engine, SandboxError> {
    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(MAX_INSTANCES as u32)
        .total_core_instances(MAX_INSTANCES as u32 * 16)
        .total_memories(MAX_INSTANCES as u32 * 4)
        .total_tables(MAX_INSTANCES as u32 * 8)
        .total_stacks(MAX_INSTANCES as u32)
        .max_component_instance_size(10 << 20)
        .max_core_instance_size(10 << 20)
        .max_core_instances_per_component(64)
        .max_memories_per_component(16)
        .max_tables_per_component(32)
        .max_memories_per_module(2)
        .max_tables_per_module(2)
        .table_elements(100_000)
        .max_memory_size(MAX_MEMORY_SLOT as usize)
        // A freed slot's first 4 MiB of memory (and 1 MiB of tables) are zeroed in place rather
        // than returned to the kernel: a small hook fits, and its next invocation skips the
        // madvise and page faults (24 µs instead of 41 µs per warm call in the benchmark, where
        // syscalls are slow). At most 64 slots × 5 MiB stay resident, and only slots in use.
        .linear_memory_keep_resident(4 << 20)
        .table_keep_resident(1 << 20);
    let mut config = Config::new();
    config
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool))
        .epoch_interruption(true)
        .memory_init_cow(true)
        .max_wasm_stack(1 << 20);
    let engine = Engine::new(&config).map_err(SandboxError::Engine)?;
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("davit-epoch".into())
        .spawn(move || {
            loop {
                std::thread::sleep(TICK);
                match weak.upgrade() {
                    Some(engine) => engine.increment_epoch(),
                    None => return,
                }
            }
        })
        .map_err(|e| SandboxError::Engine(e.into()))?;
    Ok(engine)
}
