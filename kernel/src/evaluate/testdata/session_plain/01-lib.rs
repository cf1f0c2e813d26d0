#![allow(unused_imports, unused_mut, dead_code)]
fn add(a: i32, b: i32) -> i32 {
    a + b
}
#[unsafe(no_mangle)]
pub extern "C" fn run_user_code_1(
mut x: *mut std::os::raw::c_void) -> *mut std::os::raw::c_void {x}
