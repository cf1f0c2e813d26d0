#![allow(unused_imports, unused_mut, dead_code)]
enum Shape {
    Circle(f64),
    Square(f64),
}

trait Area {
    fn area(&self) -> f64;
}

impl Area for Shape {
    fn area(&self) -> f64 {
        match self {
            Shape::Circle(r) => 3.0 * r * r,
            Shape::Square(s) => s * s,
        }
    }
}
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
pub extern "C" fn run_user_code_3(
mut x: *mut std::os::raw::c_void) -> *mut std::os::raw::c_void {x}
