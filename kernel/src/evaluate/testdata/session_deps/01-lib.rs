#![allow(unused_imports, unused_mut, dead_code)]
#[unsafe(no_mangle)]
pub extern "C" fn run_user_code_1(
mut x: *mut std::os::raw::c_void) -> *mut std::os::raw::c_void {x}
