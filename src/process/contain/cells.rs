//! Emptied cells are kept for the next child tree instead of being removed and made again:
//! a cell costs a mkdir and an rmdir in each hierarchy (the memory controller's are the
//! dearest), which was a tenth of the gateway's own work per run.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use super::cell::Cell;
use super::cgroup::{CellLimits, Layout};

/// Emptied cells kept at most; runs beyond it at once make and remove their own.
const KEPT: usize = 16;

#[derive(Debug, Default)]
pub struct CellPool {
    idle: Mutex<Vec<Cell>>,
    made: AtomicU64,
}

impl CellPool {
    /// An emptied cell with these limits, else a new one.
    pub fn take(&self, layout: &Layout, instance: &str, limits: CellLimits) -> io::Result<Cell> {
        let kept = {
            let mut idle = self.idle();
            idle.iter()
                .rposition(|cell| cell.limits() == limits)
                .map(|at| idle.swap_remove(at))
        };
        // Another gateway's start may have pruned an idle cell of this one.
        if let Some(cell) = kept.filter(Cell::is_present) {
            return Ok(cell);
        }
        let name = format!("c{}", self.made.fetch_add(1, Ordering::Relaxed) + 1);
        Cell::create(layout, instance, &name, limits)
    }

    /// Keeps an emptied cell for a later tree; beyond [`KEPT`] it is removed.
    pub fn give_back(&self, cell: Cell) {
        let spare = {
            let mut idle = self.idle();
            if idle.len() < KEPT {
                idle.push(cell);
                None
            } else {
                Some(cell)
            }
        };
        drop(spare);
    }

    /// Removes every kept cell (at a clean stop).
    pub fn clear(&self) {
        let kept = std::mem::take(&mut *self.idle());
        drop(kept);
    }

    fn idle(&self) -> MutexGuard<'_, Vec<Cell>> {
        self.idle
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
