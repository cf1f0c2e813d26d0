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
        $x * $x
    };
}

use std::fmt::Write as _;
use std::f64::consts::*;

            struct EvcxrUserCodeError {}
            impl<T: std::fmt::Display> From<T> for EvcxrUserCodeError {
                fn from(error: T) -> Self {
                    eprintln!("{}", error);
                    println!("{}", evcxr_internal_runtime::USER_ERROR_OCCURRED);
                    EvcxrUserCodeError {}
                }
            }
        
mod evcxr_internal_runtime {
// (evcxr's runtime module, src/evcxr_internal_runtime.rs of evcxr, left out of this copy)
}
#[unsafe(no_mangle)]
pub extern "C" fn run_user_code_9(
mut evcxr_variable_store: *mut evcxr_internal_runtime::VariableStore)
  -> *mut evcxr_internal_runtime::VariableStore {
if evcxr_variable_store.is_null() {
  evcxr_variable_store = evcxr_internal_runtime::create_variable_store();
}
let evcxr_variable_store = unsafe {&mut *evcxr_variable_store};
{let mut vars_ok = true;
vars_ok &= evcxr_variable_store.check_variable::<Point>(stringify!(p));
vars_ok &= evcxr_variable_store.check_variable::<HashMap<String, usize>>(stringify!(names));
vars_ok &= evcxr_variable_store.check_variable::<Vec<i32>>(stringify!(v));
vars_ok &= evcxr_variable_store.check_variable::<i32>(stringify!(total));
if !vars_ok {return evcxr_variable_store;}}
let p = evcxr_variable_store.take_variable::<Point>(stringify!(p));
let mut names = evcxr_variable_store.take_variable::<HashMap<String, usize>>(stringify!(names));
let v = evcxr_variable_store.take_variable::<Vec<i32>>(stringify!(v));
let total = evcxr_variable_store.take_variable::<i32>(stringify!(total));
match std::panic::catch_unwind(
  std::panic::AssertUnwindSafe(||{
let _ = (|| -> std::result::Result<(), EvcxrUserCodeError> {
let n: i32 = "42".parse()?;
let circle = PI * 2.0;
{ struct KubernelValue<'a, T: ?Sized>(&'a T); trait KubernelDebug { fn kubernel_show(&self); } impl<'a, T: ::std::fmt::Debug + ?Sized> KubernelDebug for KubernelValue<'a, T> { fn kubernel_show(&self) { println!("EVCXR_BEGIN_CONTENT text/plain\n{:?}\nEVCXR_END_CONTENT", self.0); } } trait KubernelNoDebug { fn kubernel_show(&self); } impl<'a, T: ?Sized> KubernelNoDebug for &KubernelValue<'a, T> { fn kubernel_show(&self) {} } (&KubernelValue(&(n
))).kubernel_show(); };
evcxr_variable_store.put_variable::<f64>(stringify!(circle), circle);
evcxr_variable_store.put_variable::<i32>(stringify!(n), n);
Ok(())})();
})) { 
  Ok(_) => {}
  Err(_) => {
    println!("EVCXR_PANIC_NOTIFICATION");
}}
evcxr_variable_store.put_variable::<Point>(stringify!(p), p);
evcxr_variable_store.put_variable::<HashMap<String, usize>>(stringify!(names), names);
evcxr_variable_store.put_variable::<Vec<i32>>(stringify!(v), v);
evcxr_variable_store.put_variable::<i32>(stringify!(total), total);
evcxr_variable_store
}
