//! What one handler instance may make iohost hold: all its linear memories together, all its
//! tables' elements together, and how many core instances, tables and memories it may create.
//! wasmtime asks before every allocation and growth; past a limit the instantiation or the call
//! traps with [`Exceeded`], the instance is thrown away, and nothing it asked for stays.

use wasmtime::ResourceLimiter;

/// Core instances one component instance may create (components made by the Rust, JavaScript
/// and Python toolchains use fewer than 20).
pub const MAX_CORE_INSTANCES: usize = 100;
/// Tables one instance may create.
pub const MAX_TABLES: usize = 100;
/// Linear memories one instance may create (their sizes together stay under `memory_mb`).
pub const MAX_MEMORIES: usize = 16;

/// A limit an instance ran into; its text reaches the log and the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Exceeded {
    #[error("its linear memories would reach {asked} bytes, over its {max} byte limit")]
    Memory { asked: usize, max: usize },
    #[error("its tables would hold {asked} elements, over its {max} element limit")]
    TableElements { asked: usize, max: usize },
    #[error(
        "it asked for more than {max} actions in one call ([handlers.limits] actions_per_call)"
    )]
    Actions { max: usize },
    #[error(
        "its actions in one call would hold more than {max} bytes ([handlers.limits] action_mb_per_call)"
    )]
    ActionBytes { max: usize },
}

/// How long one call may wait for one kind of thing (acks, the KV store on Redis), all its
/// waits together; past it, further waits are refused.
#[derive(Debug, Clone)]
pub struct WaitBudget {
    max: std::time::Duration,
    waited: std::time::Duration,
}

impl WaitBudget {
    pub fn new(max: std::time::Duration) -> Self {
        Self {
            max,
            waited: std::time::Duration::ZERO,
        }
    }

    /// How long the call may still wait.
    pub fn left(&self) -> std::time::Duration {
        self.max.saturating_sub(self.waited)
    }

    /// The whole wait one call may spend.
    pub fn max(&self) -> std::time::Duration {
        self.max
    }

    /// The call waited `took`.
    pub fn waited(&mut self, took: std::time::Duration) {
        self.waited += took;
    }
}

/// The actions (emits, joins, ...) one call may ask iohost to hold until it returns, and how
/// long it may wait for acks and for the KV store. Past the number or bytes of actions the
/// call is failed: the rest of what it asks is not kept, and its instance's next epoch tick (or
/// its return) ends it with [`Exceeded`].
#[derive(Debug, Clone)]
pub struct ActionBudget {
    max: usize,
    max_bytes: usize,
    used: usize,
    bytes: usize,
    exceeded: Option<Exceeded>,
    pub acks: WaitBudget,
    /// The KV store's wait, when it is Redis.
    pub kv: WaitBudget,
}

impl ActionBudget {
    pub fn new(
        max: usize,
        max_bytes: usize,
        ack_wait_max: std::time::Duration,
        kv_wait_max: std::time::Duration,
    ) -> Self {
        Self {
            max,
            max_bytes,
            used: 0,
            bytes: 0,
            exceeded: None,
            acks: WaitBudget::new(ack_wait_max),
            kv: WaitBudget::new(kv_wait_max),
        }
    }

    /// A call begins: nothing spent.
    pub fn reset(&mut self) {
        self.used = 0;
        self.bytes = 0;
        self.exceeded = None;
        self.acks = WaitBudget::new(self.acks.max);
        self.kv = WaitBudget::new(self.kv.max);
    }

    /// Bytes the actions may still hold.
    pub fn bytes_left(&self) -> usize {
        self.max_bytes.saturating_sub(self.bytes)
    }

    /// Counts `bytes` more held by the action just kept (its values once read), failing the
    /// call's actions past `action_mb_per_call` as [`Self::spend`] does.
    pub fn spend_bytes(&mut self, bytes: usize) -> bool {
        if self.exceeded.is_some() {
            return false;
        }
        self.bytes = self.bytes.saturating_add(bytes);
        if self.bytes > self.max_bytes {
            self.exceeded = Some(Exceeded::ActionBytes {
                max: self.max_bytes,
            });
        }
        self.exceeded.is_none()
    }

    /// May one more action of `bytes` be kept? Once refused, every later one is too.
    pub fn spend(&mut self, bytes: usize) -> bool {
        if self.exceeded.is_some() {
            return false;
        }
        self.used += 1;
        self.bytes = self.bytes.saturating_add(bytes);
        if self.used > self.max {
            self.exceeded = Some(Exceeded::Actions { max: self.max });
        } else if self.bytes > self.max_bytes {
            self.exceeded = Some(Exceeded::ActionBytes {
                max: self.max_bytes,
            });
        }
        self.exceeded.is_none()
    }

    /// The bound this call ran into, if any.
    pub fn exceeded(&self) -> Option<&Exceeded> {
        self.exceeded.as_ref()
    }
}

#[derive(Debug)]
pub struct InstanceLimits {
    memory_max: usize,
    table_elements_max: usize,
    /// Bytes of every linear memory of this instance, now.
    memory: usize,
    /// Elements of every table of this instance, now.
    table_elements: usize,
    /// The totals before the last growth approved, to undo it if wasmtime then refuses it
    /// (past a declared maximum, or an allocation that failed).
    memory_before: usize,
    tables_before: usize,
}

impl InstanceLimits {
    pub fn new(memory_max: usize, table_elements_max: usize) -> Self {
        Self {
            memory_max,
            table_elements_max,
            memory: 0,
            table_elements: 0,
            memory_before: 0,
            tables_before: 0,
        }
    }

    /// Bytes of linear memory this instance holds.
    pub fn memory(&self) -> usize {
        self.memory
    }
}

/// What `total` becomes when one of its parts goes from `current` to `desired`, unless that is
/// more than `max` (then the error `exceeded` makes of the total asked).
fn grow(
    total: &mut usize,
    current: usize,
    desired: usize,
    max: usize,
    exceeded: impl FnOnce(usize, usize) -> Exceeded,
) -> wasmtime::Result<bool> {
    let asked = (*total - current.min(*total)).saturating_add(desired);
    if asked > max {
        return Err(exceeded(asked, max).into());
    }
    *total = asked;
    Ok(true)
}

impl ResourceLimiter for InstanceLimits {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let max = self.memory_max;
        self.memory_before = self.memory;
        grow(&mut self.memory, current, desired, max, |asked, max| {
            Exceeded::Memory { asked, max }
        })
    }

    fn memory_grow_failed(&mut self, _error: wasmtime::Error) -> wasmtime::Result<()> {
        self.memory = self.memory_before;
        Ok(())
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let max = self.table_elements_max;
        self.tables_before = self.table_elements;
        grow(
            &mut self.table_elements,
            current,
            desired,
            max,
            |asked, max| Exceeded::TableElements { asked, max },
        )
    }

    fn table_grow_failed(&mut self, _error: wasmtime::Error) -> wasmtime::Result<()> {
        self.table_elements = self.tables_before;
        Ok(())
    }

    fn instances(&self) -> usize {
        MAX_CORE_INSTANCES
    }

    fn tables(&self) -> usize {
        MAX_TABLES
    }

    fn memories(&self) -> usize {
        MAX_MEMORIES
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_are_bounded_in_number_and_bytes() {
        let ms = std::time::Duration::from_millis;
        let mut budget = ActionBudget::new(2, 100, ms(5), ms(7));
        assert!(budget.spend(10));
        assert!(budget.spend(10));
        assert!(!budget.spend(0), "a third action");
        assert_eq!(budget.exceeded(), Some(&Exceeded::Actions { max: 2 }));
        assert!(!budget.spend(0), "refused once, refused after");
        budget.reset();
        assert!(budget.spend(100));
        assert!(!budget.spend(1), "one byte over");
        assert_eq!(budget.exceeded(), Some(&Exceeded::ActionBytes { max: 100 }));
        // What the values read from a payload hold counts too, as bytes, not as an action.
        budget.reset();
        assert!(budget.spend(10) && budget.spend_bytes(80));
        assert_eq!(budget.bytes_left(), 10);
        assert!(
            budget.spend(10),
            "a second action: the count is not spent by bytes"
        );
        assert!(!budget.spend_bytes(1));
        // The KV store's wait (Redis), apart from acks'.
        budget.reset();
        budget.kv.waited(ms(4));
        assert_eq!(budget.kv.left(), ms(3));
        assert_eq!(budget.acks.left(), ms(5));
        budget.kv.waited(ms(4));
        assert!(budget.kv.left().is_zero());
        budget.reset();
        assert_eq!(budget.kv.left(), ms(7));
    }

    #[test]
    fn all_memories_count_together() {
        let mut limits = InstanceLimits::new(100, 10);
        assert!(limits.memory_growing(0, 60, None).expect("first"));
        assert!(limits.memory_growing(60, 70, None).expect("grows"));
        assert_eq!(limits.memory(), 70);
        let second = limits
            .memory_growing(0, 40, None)
            .expect_err("a second memory");
        assert_eq!(
            second.downcast_ref::<Exceeded>(),
            Some(&Exceeded::Memory {
                asked: 110,
                max: 100
            })
        );
        assert!(limits.memory_growing(0, 30, None).expect("fits"));
        assert_eq!(limits.memory(), 100);
    }

    /// A core module with `memories` empty memories, an empty table, and exports
    /// `grow-table(n)` and `grow-<i>(pages)` for each memory.
    fn greedy_module(memories: u32) -> Vec<u8> {
        use wasm_encoder::{
            CodeSection, ExportKind, ExportSection, Function, FunctionSection, Instruction,
            MemorySection, MemoryType, Module, RefType, TableSection, TableType, TypeSection,
            ValType,
        };
        let mut types = TypeSection::new();
        types.ty().function([ValType::I32], [ValType::I32]);
        let mut tables = TableSection::new();
        tables.table(TableType {
            element_type: RefType::FUNCREF,
            minimum: 0,
            maximum: None,
            table64: false,
            shared: false,
        });
        let mut mems = MemorySection::new();
        let (mut funcs, mut code, mut exports) = (
            FunctionSection::new(),
            CodeSection::new(),
            ExportSection::new(),
        );
        let mut add = |name: String, body: &[Instruction]| {
            let index = funcs.len();
            funcs.function(0);
            let mut f = Function::new([]);
            body.iter().for_each(|i| {
                f.instruction(i);
            });
            f.instruction(&Instruction::End);
            code.function(&f);
            exports.export(&name, ExportKind::Func, index);
        };
        add(
            "grow-table".into(),
            &[
                Instruction::RefNull(wasm_encoder::HeapType::FUNC),
                Instruction::LocalGet(0),
                Instruction::TableGrow(0),
            ],
        );
        for i in 0..memories {
            mems.memory(MemoryType {
                minimum: 0,
                maximum: None,
                memory64: false,
                shared: false,
                page_size_log2: None,
            });
            add(
                format!("grow-{i}"),
                &[Instruction::LocalGet(0), Instruction::MemoryGrow(i)],
            );
        }
        let mut module = Module::new();
        module
            .section(&types)
            .section(&funcs)
            .section(&tables)
            .section(&mems)
            .section(&exports)
            .section(&code);
        module.finish()
    }

    fn instantiate(
        memories: u32,
    ) -> wasmtime::Result<(wasmtime::Store<InstanceLimits>, wasmtime::Instance)> {
        let engine = wasmtime::Engine::default();
        let module = wasmtime::Module::new(&engine, greedy_module(memories))?;
        let mut store = wasmtime::Store::new(&engine, InstanceLimits::new(32 << 20, 1000));
        store.limiter(|limits| limits);
        let instance = wasmtime::Instance::new(&mut store, &module, &[])?;
        Ok((store, instance))
    }

    fn call(
        store: &mut wasmtime::Store<InstanceLimits>,
        instance: &wasmtime::Instance,
        name: &str,
        n: i32,
    ) -> wasmtime::Result<i32> {
        instance
            .get_typed_func::<i32, i32>(&mut *store, name)?
            .call(&mut *store, n)
    }

    /// What a hand-made component could try, on a real wasmtime store with these limits.
    #[test]
    fn real_instances_cannot_grow_tables_or_extra_memories_past_the_limits() {
        let (mut store, instance) = instantiate(MAX_MEMORIES as u32).expect("16 memories");
        assert_eq!(
            call(&mut store, &instance, "grow-table", 1000).ok(),
            Some(0)
        );
        let trap = call(&mut store, &instance, "grow-table", 50_000_000).expect_err("50M");
        assert!(matches!(
            trap.downcast_ref::<Exceeded>(),
            Some(Exceeded::TableElements { .. })
        ));
        // 16 memories of 32 MiB each were +512 MiB; now all of them share 32 MiB.
        let (mut store, instance) = instantiate(MAX_MEMORIES as u32).expect("16 memories");
        assert_eq!(
            call(&mut store, &instance, "grow-0", 320).ok(),
            Some(0),
            "20 MiB"
        );
        assert_eq!(
            call(&mut store, &instance, "grow-1", 192).ok(),
            Some(0),
            "12 MiB"
        );
        let trap = call(&mut store, &instance, "grow-2", 1).expect_err("over 32 MiB");
        assert_eq!(
            trap.downcast_ref::<Exceeded>(),
            Some(&Exceeded::Memory {
                asked: (32 << 20) + 65536,
                max: 32 << 20
            })
        );
        assert_eq!(store.data().memory(), 32 << 20);
        // One memory more than allowed: no instance at all.
        assert!(instantiate(MAX_MEMORIES as u32 + 1).is_err());
    }

    #[test]
    fn a_growth_wasmtime_refuses_after_all_is_not_counted() {
        let mut limits = InstanceLimits::new(100, 10);
        assert!(limits.memory_growing(0, 40, None).expect("first"));
        assert!(limits.memory_growing(40, 60, None).expect("approved"));
        limits
            .memory_grow_failed(wasmtime::Error::msg("allocation failed"))
            .expect("hook");
        assert_eq!(limits.memory(), 40, "the refused growth is undone");
    }

    #[test]
    fn table_elements_count_together() {
        let mut limits = InstanceLimits::new(100, 10);
        assert!(limits.table_growing(0, 6, None).expect("first"));
        assert!(limits.table_growing(0, 4, None).expect("second"));
        assert!(limits.table_growing(4, 50_000_000, None).is_err());
    }
}
