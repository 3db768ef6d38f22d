//! Hostile plugins that attack the host's memory before a single strategy
//! call: components with many memories, tables or instances (issue 24 class
//! 3), and compile bombs (class 5). Each is the real `hostile` component with
//! extra core modules spliced in, so that it passes every interface check and
//! only the limit under test stops it.

use std::process::Command;

use cracktrader::model::StrategyId;
use cracktrader::strategy_host::{Limits, PluginError};
use cracktrader_tests::{cracktrader_bin, host, plugin};
use wasm_encoder::{
    CodeSection, Component, ConstExpr, DataSection, Function, FunctionSection, Instruction,
    MemorySection, MemoryType, Module, ModuleSection, RefType, StartSection, TableSection,
    TableType, TypeSection,
};
use wasmparser::{Parser, Payload};

/// The hostile component with `module` added and instantiated `copies`
/// times when the component is.
fn hostile_with(module: &Module, copies: u32) -> Vec<u8> {
    let mut bytes = std::fs::read(plugin("hostile")).unwrap();
    // The new module's index: the core modules the component already has.
    let mut depth = 0u32;
    let mut modules = 0u32;
    for payload in Parser::new(0).parse_all(&bytes) {
        match payload.unwrap() {
            Payload::Version { .. } => depth += 1,
            Payload::End(_) => depth -= 1,
            Payload::ModuleSection { .. } if depth == 1 => modules += 1,
            _ => {}
        }
    }
    let mut extra = Component::new();
    extra.section(&ModuleSection(module));
    let mut instances = wasm_encoder::InstanceSection::new();
    for _ in 0..copies {
        instances.instantiate(modules, Vec::<(&str, wasm_encoder::ModuleArg)>::new());
    }
    extra.section(&instances);
    // Sections of a component follow its 8-byte header.
    bytes.extend_from_slice(&extra.finish()[8..]);
    bytes
}

/// A memory of `pages` 64 KiB pages.
fn memory(pages: u64) -> MemoryType {
    MemoryType {
        minimum: pages,
        maximum: None,
        memory64: false,
        shared: false,
        page_size_log2: None,
    }
}

/// A core module with `count` memories of `pages` pages each.
fn memories(count: u32, pages: u64) -> Module {
    let mut section = MemorySection::new();
    for _ in 0..count {
        section.memory(memory(pages));
    }
    let mut module = Module::new();
    module.section(&section);
    module
}

/// A core module with `count` function tables of `elements` each.
fn tables(count: u32, elements: u64) -> Module {
    let mut section = TableSection::new();
    for _ in 0..count {
        section.table(TableType {
            element_type: RefType::FUNCREF,
            minimum: elements,
            maximum: None,
            table64: false,
            shared: false,
        });
    }
    let mut module = Module::new();
    module.section(&section);
    module
}

/// A core module with two one-page memories whose start function grows
/// each by `pages`.
fn growing_memories(pages: i32) -> Module {
    let mut types = TypeSection::new();
    types.ty().function([], []);
    let mut functions = FunctionSection::new();
    functions.function(0);
    let mut memories = MemorySection::new();
    memories.memory(memory(1)).memory(memory(1));
    let mut body = Function::new([]);
    for index in 0..2 {
        body.instruction(&Instruction::I32Const(pages))
            .instruction(&Instruction::MemoryGrow(index))
            .instruction(&Instruction::Drop);
    }
    body.instruction(&Instruction::End);
    let mut code = CodeSection::new();
    code.function(&body);
    // Sections in their binary order.
    let mut module = Module::new();
    module
        .section(&types)
        .section(&functions)
        .section(&memories)
        .section(&StartSection { function_index: 0 })
        .section(&code);
    module
}

/// A core module defining `count` empty functions.
fn functions(count: u32) -> Module {
    let mut types = TypeSection::new();
    types.ty().function([], []);
    let mut functions = FunctionSection::new();
    let mut code = CodeSection::new();
    let mut body = Function::new([]);
    body.instruction(&Instruction::End);
    for _ in 0..count {
        functions.function(0);
        code.function(&body);
    }
    let mut module = Module::new();
    module.section(&types);
    module.section(&functions);
    module.section(&code);
    module
}

/// A core module with one memory and `count` active data segments of
/// `bytes` bytes each.
fn data(count: u32, bytes: usize) -> Module {
    let mut section = DataSection::new();
    let segment = vec![0x5a; bytes];
    for _ in 0..count {
        section.active(0, &ConstExpr::i32_const(0), segment.iter().copied());
    }
    let mut module = memories(1, 1);
    module.section(&section);
    module
}

/// Loads `bytes` as a plugin and instantiates it under the default limits.
fn instantiate(bytes: &[u8]) -> Result<(), String> {
    let host = host();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bomb.wasm");
    std::fs::write(&path, bytes).unwrap();
    let limits = Limits::default();
    let plugin = host.load(&path, &limits).map_err(|e| e.to_string())?;
    host.instantiate(&plugin, &StrategyId::new("bomb"), limits)
        .map(drop)
        .map_err(|e| e.to_string())
}

fn refused_at_instantiation(bytes: &[u8], want: &str) {
    let err = instantiate(bytes).expect_err("the component is refused");
    assert!(err.contains(want), "expected {want:?} in: {err}");
}

/// The splicing itself is sound: the same module within every limit loads
/// and instantiates.
#[test]
fn a_spliced_component_within_the_limits_instantiates() {
    instantiate(&hostile_with(&memories(1, 1), 1)).unwrap();
    instantiate(&hostile_with(&tables(1, 10), 1)).unwrap();
    instantiate(&hostile_with(&growing_memories(16), 1)).unwrap();
}

#[test]
fn many_memories_are_refused() {
    // 100 memories of 16 MiB would be 1.6 GB; the count stops it first.
    refused_at_instantiation(&hostile_with(&memories(100, 256), 1), "memory count");
}

#[test]
fn memories_within_the_count_share_the_memory_cap() {
    // 4 instances of 2 memories of 20 MiB each: within every count, but
    // 160 MiB against a 64 MiB cap for the whole store.
    refused_at_instantiation(
        &hostile_with(&memories(2, 320), 4),
        "memories would exceed memory_mib = 64 MiB in all",
    );
}

#[test]
fn growing_several_memories_traps_at_the_store_cap() {
    // Each grows by 40 MiB: the second growth breaks the 64 MiB in all.
    refused_at_instantiation(
        &hostile_with(&growing_memories(640), 1),
        "memories would exceed memory_mib = 64 MiB in all",
    );
}

#[test]
fn many_instances_are_refused() {
    refused_at_instantiation(&hostile_with(&memories(0, 0), 100), "instance count");
}

#[test]
fn tables_share_the_table_cap() {
    refused_at_instantiation(
        &hostile_with(&tables(3, 40_000), 1),
        "tables would exceed table_elements = 100000 in all",
    );
}

/// Loads `bytes` as a plugin under the default limits; the load error.
fn load_error(bytes: &[u8]) -> PluginError {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bomb.wasm");
    std::fs::write(&path, bytes).unwrap();
    match host().load(&path, &Limits::default()) {
        Ok(_) => panic!("the bomb loaded"),
        Err(err) => err,
    }
}

fn assert_over(err: &PluginError, limit: &str) {
    assert!(
        matches!(err, PluginError::OverLimit { limit: l, .. } if *l == limit),
        "expected {limit}: {err}"
    );
}

#[test]
fn a_million_functions_are_refused_before_compiling() {
    let err = load_error(&hostile_with(&functions(1_000_000), 1));
    assert_over(&err, "max_functions");
    assert!(
        err.to_string()
            .ends_with("functions; the limit is max_functions = 100000 ([strategies.limits])"),
        "{err}"
    );
}

#[test]
fn a_huge_data_segment_is_refused_before_compiling() {
    let err = load_error(&hostile_with(&data(1, 40 * 1024 * 1024), 1));
    assert_over(&err, "max_data_mib");
    assert!(
        err.to_string()
            .contains("MiB of data segments; the limit is max_data_mib = 32"),
        "{err}"
    );
}

#[test]
fn many_data_segments_are_refused_before_compiling() {
    let err = load_error(&hostile_with(&data(200_000, 1), 1));
    assert_over(&err, "max_data_segments");
}

#[test]
fn an_oversized_file_is_refused_before_compiling() {
    let err = load_error(&hostile_with(&data(1, 70 * 1024 * 1024), 1));
    assert_over(&err, "max_plugin_mib");
}

/// A session with the good strategy and a bomb is refused at start with one
/// message naming the registration and the limit, without compiling the bomb.
#[test]
fn a_session_with_a_bomb_is_refused_naming_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let bomb = dir.path().join("bomb.wasm");
    std::fs::write(&bomb, hostile_with(&functions(1_000_000), 1)).unwrap();
    let session =
        super::hostile::session_beside_the_good_one(dir.path(), "fuel", Some((bomb, ("", ""))));
    let out = Command::new(cracktrader_bin())
        .arg("backtest")
        .arg(&session)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    let want = "max_functions = 100000";
    assert_eq!(stderr.matches(want).count(), 1, "{stderr}");
    assert!(stderr.contains("bad"), "{stderr}");
}
