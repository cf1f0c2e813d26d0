#![allow(unused_imports, unused_mut, dead_code)]
use serde::Deserialize;
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Config {
    pub name: String,
    pub replicas: u32,
}

impl Config {
    pub fn scaled(&self, by: u32) -> Config {
        Config { name: self.name.clone(), replicas: self.replicas * by }
    }
}
fn parse(text: &str) -> serde_json::Result<Config> {
    serde_json::from_str(text)
}
use serde::Serialize;
mod evcxr_internal_runtime {
// (evcxr's runtime module, src/evcxr_internal_runtime.rs of evcxr, left out of this copy)
}
#[unsafe(no_mangle)]
pub extern "C" fn run_user_code_4(
mut evcxr_variable_store: *mut evcxr_internal_runtime::VariableStore)
  -> *mut evcxr_internal_runtime::VariableStore {
if evcxr_variable_store.is_null() {
  evcxr_variable_store = evcxr_internal_runtime::create_variable_store();
}
let evcxr_variable_store = unsafe {&mut *evcxr_variable_store};
{let mut vars_ok = true;
vars_ok &= evcxr_variable_store.check_variable::<String>(stringify!(text));
vars_ok &= evcxr_variable_store.check_variable::<Config>(stringify!(c));
if !vars_ok {return evcxr_variable_store;}}
let text = evcxr_variable_store.take_variable::<String>(stringify!(text));
let c = evcxr_variable_store.take_variable::<Config>(stringify!(c));
match std::panic::catch_unwind(
  std::panic::AssertUnwindSafe(||{
let n = 5u64;
fn evcxr_send_text_plain(text: &str)
{
    use std::io::Write; use std::io::{self}; fn try_send_text(text: &str) ->
    io::Result<()>
    {
        let stdout = io::stdout(); let mut output = stdout.lock();
        output.write_all(b"EVCXR_BEGIN_CONTENT text/plain\n")?;
        output.write_all(text.as_bytes())?;
        output.write_all(b"\nEVCXR_END_CONTENT\n")?; Ok(())
    } if let Err(error) = try_send_text(text)
    {
        eprintln!("Failed to send content to parent: {:?}", error);
        std::process::exit(1);
    }
}
evcxr_send_text_plain(&format!("{:?}",&(
n * 2
)));
evcxr_variable_store.put_variable::<u64>(stringify!(n), n);
})) { 
  Ok(_) => {}
  Err(_) => {
    println!("EVCXR_PANIC_NOTIFICATION");
}}
evcxr_variable_store.put_variable::<String>(stringify!(text), text);
evcxr_variable_store.put_variable::<Config>(stringify!(c), c);
evcxr_variable_store
}
