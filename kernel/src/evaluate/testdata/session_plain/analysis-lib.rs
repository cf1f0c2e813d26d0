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
use std::collections::BTreeSet;
const LIMIT: usize = 10;
fn add(a: i32, b: i32) -> i32 {
    a + b + 0
}
use std::collections::HashMap;
fn nine() -> i32 {
    9
}
pub fn shapes() -> Vec<Shape> {
    vec![Shape::Circle(1.0), Shape::Square(2.0)]
}
static GREETING: &str = "hello";
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
macro_rules! square {
    ($x:expr) => {
        ($x) * ($x)
    };
}
use std::fmt::Write as _;
use std::f64::consts::*;
use std::f64::consts::*;
impl Point {
    fn origin() -> Point {
        Point { x: 0.0, y: 0.0 }
    }
}

            struct EvcxrUserCodeError {}
            impl<T: std::fmt::Display> From<T> for EvcxrUserCodeError {
                fn from(error: T) -> Self {
                    eprintln!("{}", error);
                    
                    EvcxrUserCodeError {}
                }
            }
        
fn evcxr_variable_store<T: 'static>(_: T) {}
#[allow(unused_variables)]
async fn evcxr_analysis_wrapper(
p: Point,
circle: f64,
n: i32,
mut names: HashMap<String, usize>,
v: Vec<i32>,
total: i32,
) -> Result<(), EvcxrUserCodeError> {
let q = Point::orig
evcxr_variable_store(p);
evcxr_variable_store(circle);
evcxr_variable_store(q);
evcxr_variable_store(n);
evcxr_variable_store(names);
evcxr_variable_store(v);
evcxr_variable_store(total);
Ok(())
}
