#![allow(unused_imports, unused_mut, dead_code)]
use serde::Serialize;
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
use serde::Deserialize;
#[unsafe(no_mangle)]
pub extern "C" fn run_user_code_2(
mut x: *mut std::os::raw::c_void) -> *mut std::os::raw::c_void {x}
