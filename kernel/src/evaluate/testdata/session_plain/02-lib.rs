#![allow(unused_imports, unused_mut, dead_code)]
fn add(a: i32, b: i32) -> i32 {
    a + b
}
#[derive(Debug, Clone, PartialEq)]
struct Point {
    x: f64,
    y: f64,
}

impl Point {
    fn norm(&self) -> f64 {
        (self.x * self.x + self.y * self.y).sqrt()
    }
}
#[unsafe(no_mangle)]
pub extern "C" fn run_user_code_2(
mut x: *mut std::os::raw::c_void) -> *mut std::os::raw::c_void {x}
