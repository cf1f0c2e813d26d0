//! pmap on this process's threads alone: a notebook cell, a job that is not connected, or a
//! runtime built without `net`. Threads take guided chunks of the items from a shared cursor
//! (large first, small at the end, so uneven items balance) and the results go back in order.

use super::meter;
use super::schedule::guided;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

pub fn run<T: Send, R: Send, F: Fn(T) -> R + Sync>(items: Vec<T>, f: &F, threads: usize) -> Vec<R> {
    let n = items.len();
    let threads = threads.clamp(1, n.max(1));
    let cursor = Mutex::new(items.into_iter().enumerate());
    let stop = AtomicBool::new(false);
    let take = || {
        let mut cursor = cursor.lock().unwrap_or_else(|e| e.into_inner());
        let chunk = guided(cursor.len(), 1, threads);
        cursor.by_ref().take(chunk).collect::<Vec<(usize, T)>>()
    };
    let work = || -> Result<Vec<(usize, R)>, Box<dyn std::any::Any + Send>> {
        let mut out = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            let chunk = take();
            if chunk.is_empty() {
                break;
            }
            meter::hold(chunk.len());
            let held = chunk.len();
            for (k, (i, item)) in chunk.into_iter().enumerate() {
                match catch_unwind(AssertUnwindSafe(|| f(item))) {
                    Ok(r) => out.push((i, r)),
                    Err(panic) => {
                        // The others stop at their next chunk; the panic goes on after them.
                        stop.store(true, Ordering::Relaxed);
                        meter::drop_held(held - k);
                        return Err(panic);
                    }
                }
                meter::done_one();
            }
        }
        Ok(out)
    };
    meter::begin(n);
    let parts: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (1..threads).map(|_| s.spawn(work)).collect();
        let mine = work();
        std::iter::once(mine).chain(handles.into_iter().map(|h| h.join().unwrap_or_else(Err))).collect()
    });
    meter::end();
    let mut slots: Vec<Option<R>> = std::iter::repeat_with(|| None).take(n).collect();
    for part in parts {
        for (i, r) in part.unwrap_or_else(|panic| resume_unwind(panic)) {
            slots[i] = Some(r);
        }
    }
    slots.into_iter().map(|r| r.expect("every item has a result")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_come_in_order_once() {
        let calls = std::sync::atomic::AtomicUsize::new(0);
        let out = run((0..10_000u64).collect(), &|x| {
            calls.fetch_add(1, Ordering::Relaxed);
            x * x
        }, 4);
        assert_eq!(out, (0..10_000u64).map(|x| x * x).collect::<Vec<_>>());
        assert_eq!(calls.into_inner(), 10_000);
        assert_eq!(run(Vec::<u8>::new(), &|x| x, 3), Vec::<u8>::new());
        assert_eq!(run(vec![1, 2], &|x| x + 1, 16), vec![2, 3]);
    }

    #[test]
    fn uneven_items_use_every_thread() {
        // Two slow items at the start would stall one thread if shares were fixed.
        let out = run((0..64u64).collect(), &|x| {
            std::thread::sleep(std::time::Duration::from_millis(if x < 2 { 50 } else { 1 }));
            (x, std::thread::current().id())
        }, 4);
        let ids: std::collections::HashSet<_> = out.iter().map(|(_, id)| *id).collect();
        assert!(ids.len() > 1, "one thread did everything");
        assert!(out.iter().enumerate().all(|(i, (x, _))| *x == i as u64));
    }

    #[test]
    fn a_panic_goes_on_to_the_caller() {
        let result = catch_unwind(|| run((0..100u32).collect(), &|x| if x == 37 { panic!("item 37") } else { x }, 3));
        let message = result.unwrap_err().downcast::<&str>().map(|s| s.to_string()).unwrap_or_default();
        assert_eq!(message, "item 37");
    }
}
