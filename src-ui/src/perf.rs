//! User Timing of the UI's own work: from a batch of the shell's patches arriving to the DOM showing it, as
//! `performance` measures named [`APPLY_RENDER`]. `cargo xtask bench app` reads them through WebDriver
//! (`performance.getEntriesByName`); they cost a mark and a measure per batch, and are bounded so a long
//! session does not pile entries up.

use std::cell::Cell;

const ARRIVED: &str = "live-orders:patches-arrived";
/// The measure's name: deserialised patches in, store reduced, every component re-rendered into the DOM.
pub(crate) const APPLY_RENDER: &str = "live-orders:apply-render";
/// Measures kept before they are cleared (a reader takes them well before).
const KEEP: u32 = 2000;

thread_local! {
    /// Whether a batch arrived that no render has shown yet (several batches before one render count once,
    /// from the first).
    static PENDING: Cell<bool> = const { Cell::new(false) };
    static MEASURES: Cell<u32> = const { Cell::new(0) };
}

fn performance() -> Option<web_sys::Performance> {
    web_sys::window()?.performance()
}

/// A batch of patches is about to be applied.
pub(crate) fn patches_arrived() {
    if PENDING.with(|p| p.replace(true)) {
        return;
    }
    if let Some(perf) = performance() {
        let _ = perf.mark(ARRIVED);
    }
}

/// A render has just been committed to the DOM.
pub(crate) fn rendered() {
    if !PENDING.with(|p| p.replace(false)) {
        return;
    }
    let Some(perf) = performance() else { return };
    if MEASURES.with(|m| m.replace(m.get() + 1)) >= KEEP {
        perf.clear_measures_with_measure_name(APPLY_RENDER);
        MEASURES.with(|m| m.set(1));
    }
    let _ = perf.measure_with_start_mark(APPLY_RENDER, ARRIVED);
    perf.clear_marks_with_mark_name(ARRIVED);
}
