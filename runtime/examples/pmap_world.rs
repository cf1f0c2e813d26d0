//! A job body that calls pmap, run by the tests (tests/pmap.rs) as a master, workers, or the
//! `--procs` launcher, with the environment a job's pods get. It maps `x -> x * x` over
//! `0..PMAP_ITEMS` (default 1000), `PMAP_CALLS` times (default 1), each item taking
//! `PMAP_SLEEP_MS` (default 0); with `PMAP_PANIC_ON_WORKERS=1` the function panics on every
//! rank but 0; `PMAP_START_AFTER_MS` waits before the first call (so that workers have
//! joined); `PMAP_SERVE=1` makes it a long-lived worker (`serve`) instead; `PMAP_UNSENDABLE=1` maps items that cannot be sent (paths that are not UTF-8);
//! `PMAP_FLOATS=1` maps to NaN, infinities and plain floats and checks them on the master. It prints one `PMAP` line per call (with items/s) and, on the master, the
//! results as JSON; its value is (rank, world, results of the last call).

use std::time::{Duration, Instant};

fn var(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() {
    if kubernel::connected() && !kubernel::pmap::NETWORKED {
        // The tests run this binary as it was built last: say so rather than map alone.
        eprintln!("pmap_world was built without the `net` feature: build it with --features net");
        std::process::exit(3);
    }
    if var("PMAP_SERVE", 0) == 1 {
        let sleep = var("PMAP_SLEEP_MS", 0);
        kubernel::pmap::serve(move |x: u64| {
            std::thread::sleep(Duration::from_millis(sleep));
            x * x
        });
    }
    if var("PMAP_UNSENDABLE", 0) == 1 {
        // Items that serde cannot write (a path that is not UTF-8): fine on the master's own
        // threads, not sendable to a worker.
        kubernel::job::main(|| {
            use std::os::unix::ffi::OsStrExt;
            // The worker has joined by then, and asks for items at once.
            std::thread::sleep(Duration::from_millis(var("PMAP_START_AFTER_MS", 0)));
            let items: Vec<std::path::PathBuf> = (0..1000u32).map(|i| std::ffi::OsStr::from_bytes(&[0xff, i as u8]).into()).collect();
            kubernel::pmap(items, |p| {
                std::thread::sleep(Duration::from_millis(5));
                p.as_os_str().len()
            })
            .len()
        })
    }
    if var("PMAP_FLOATS", 0) == 1 {
        kubernel::job::main(|| {
            std::thread::sleep(Duration::from_millis(var("PMAP_START_AFTER_MS", 0)));
            let expect = |x: u64| match x % 4 {
                0 => f64::NAN,
                1 => f64::INFINITY,
                2 => f64::NEG_INFINITY,
                _ => x as f64 / 8.0,
            };
            let out = kubernel::pmap((0..400u64).collect::<Vec<_>>(), move |x| {
                std::thread::sleep(Duration::from_millis(2));
                (kubernel::rank(), expect(x))
            });
            if kubernel::rank() == 0 {
                let wrong = out.iter().enumerate().filter(|(x, (_, r))| r.to_bits() != expect(*x as u64).to_bits()).count();
                let from_workers = out.iter().filter(|(rank, _)| *rank != 0).count();
                println!("PMAP_FLOATS wrong={wrong} from_workers={from_workers} of={}", out.len());
            }
            out.len()
        })
    }
    kubernel::job::main(|| {
        let (n, calls, sleep) = (var("PMAP_ITEMS", 1000), var("PMAP_CALLS", 1), var("PMAP_SLEEP_MS", 0));
        let panic_on_workers = var("PMAP_PANIC_ON_WORKERS", 0) == 1;
        std::thread::sleep(Duration::from_millis(var("PMAP_START_AFTER_MS", 0)));
        let mut last = 0;
        for call in 1..=calls {
            let started = Instant::now();
            let out = kubernel::pmap((0..n).collect::<Vec<u64>>(), |x| {
                if sleep > 0 {
                    std::thread::sleep(Duration::from_millis(sleep));
                }
                if panic_on_workers && kubernel::rank() != 0 {
                    panic!("boom on item {x}");
                }
                x * x
            });
            let secs = started.elapsed().as_secs_f64();
            println!("PMAP call={call} rank={} results={} secs={secs:.3} items_per_s={:.0}", kubernel::rank(), out.len(), n as f64 / secs);
            if !out.is_empty() && var("PMAP_QUIET", 0) == 0 {
                println!("PMAP_RESULTS call={call} {}", serde_json::to_string(&out).unwrap());
            }
            last = out.len();
        }
        (kubernel::rank(), kubernel::world(), last)
    })
}
