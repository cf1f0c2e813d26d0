//! `kubernel`: what code from a notebook uses to know its place and to show things, the same in
//! a notebook cell and in a pod of the cluster.
//!
//! - [`rank`] and [`world`]: this pod's index in its Indexed Job and how many there are (0 and 1
//!   in a notebook cell, so code can be tried there first);
//! - [`partition`]: this rank's contiguous share of a range;
//! - [`progress`]: how far this rank has got, shown in the job's live table (in a cell: a bar);
//! - [`display`]: HTML, Markdown, SVG and PNG output, updated in place by id, and clearing.
//!
//! A job cell's program calls [`job::main`] (written by kubernel, not by hand), which hands the
//! value of the cell's last expression back to the notebook.

pub mod display;
#[doc(hidden)]
pub mod job;
pub mod protocol;

use std::ops::Range;

/// This pod's index in its Indexed Job (`JOB_COMPLETION_INDEX`); 0 in a notebook cell.
pub fn rank() -> usize {
    env_number(protocol::RANK_ENV).unwrap_or(0)
}

/// How many pods the job has (its completions); 1 in a notebook cell.
pub fn world() -> usize {
    env_number(protocol::WORLD_ENV).unwrap_or(1).max(1)
}

/// Whether this code runs in a pod that kubernel made (a job), not in a notebook cell.
pub fn in_cluster() -> bool {
    std::env::var_os(protocol::WORLD_ENV).is_some()
}

fn env_number(name: &str) -> Option<usize> {
    std::env::var(name).ok()?.trim().parse().ok()
}

/// This rank's contiguous share of `range`: the shares of all ranks cover it once, in rank
/// order, and differ in length by at most one.
pub fn partition<T: Share>(range: Range<T>) -> Range<T> {
    partition_of(range, rank(), world())
}

/// The share of `rank` among `world` (what [`partition`] gives in that pod).
pub fn partition_of<T: Share>(range: Range<T>, rank: usize, world: usize) -> Range<T> {
    let (start, end) = (range.start.to_i128(), range.end.to_i128());
    let len = (end - start).max(0);
    let (world, rank) = (world.max(1) as i128, (rank as i128).min(world.max(1) as i128));
    let at = |r: i128| start + len / world * r + (len % world).min(r);
    T::from_i128(at(rank))..T::from_i128(at((rank + 1).min(world)))
}

/// The integer types a range of work can be counted in.
pub trait Share: Copy {
    fn to_i128(self) -> i128;
    fn from_i128(v: i128) -> Self;
}

macro_rules! share {
    ($($t:ty),*) => {$(
        impl Share for $t {
            fn to_i128(self) -> i128 { self as i128 }
            fn from_i128(v: i128) -> Self { v as $t }
        }
    )*};
}
share!(u8, u16, u32, u64, usize, i8, i16, i32, i64, isize);

/// Says how far this rank has got, from 0.0 to 1.0. In a pod it goes to the job's live table;
/// in a notebook cell it is a progress bar, updated in place.
pub fn progress(fraction: f64) {
    let fraction = if fraction.is_finite() { fraction.clamp(0.0, 1.0) } else { 0.0 };
    if in_cluster() {
        println!("{}", protocol::progress_line(fraction));
    } else {
        display::progress_bar(fraction);
    }
}

/// The results of the notebook's last job cell, in rank order (`None` for an index that
/// failed), as the kernel kept them. Call it in a notebook cell, with the type of the job's
/// value: `let squares: Vec<Option<u64>> = kubernel::last_results()?;`.
pub fn last_results<T: serde::de::DeserializeOwned>() -> Result<Vec<Option<T>>, String> {
    let path = protocol::last_results_path(std::os::unix::process::parent_id());
    let text = std::fs::read_to_string(&path).map_err(|e| format!("no job results kept in {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("the last job's results do not fit this type: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_cover_the_range_once_in_order() {
        for (len, world) in [(10u64, 3usize), (3, 5), (0, 2), (100, 1), (7, 7)] {
            let shares: Vec<Range<u64>> = (0..world).map(|r| partition_of(5..5 + len, r, world)).collect();
            assert_eq!(shares.first().unwrap().start, 5);
            assert_eq!(shares.last().unwrap().end, 5 + len);
            for pair in shares.windows(2) {
                assert_eq!(pair[0].end, pair[1].start);
            }
            let sizes: Vec<u64> = shares.iter().map(|s| s.end - s.start).collect();
            assert!(sizes.iter().max().unwrap() - sizes.iter().min().unwrap() <= 1, "{sizes:?}");
        }
        assert_eq!(partition_of(-10i32..10, 1, 2), 0..10);
    }

    #[test]
    fn a_notebook_cell_is_rank_0_of_1() {
        // The tests run outside any job.
        assert_eq!((rank(), world(), in_cluster()), (0, 1, false));
        assert_eq!(partition(0..10usize), 0..10);
    }
}
