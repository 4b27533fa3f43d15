//! The guest's global allocator (feature `fast-alloc`, on by default; wasm32 only): blocks of
//! up to 1 KiB come from one free list per power-of-two size, in front of the system allocator
//! (wasi-libc's dlmalloc), which serves everything larger.
//!
//! Why: an event allocates and frees a few dozen small blocks (the strings iohost lowers into
//! the guest, JSON values, keys), and dlmalloc's bins, splitting and coalescing were 10-16% of
//! the examples' time per event (BENCHMARKS.md). Taking a block from a free list, or giving it
//! back, is a few instructions, and Rust tells `dealloc` the size, so blocks carry no header.
//!
//! The cost: a freed small block stays on its list for the next allocation of its size and is
//! never merged or handed back to dlmalloc, so a handler holds, per size, the most it ever had
//! live at once. Handlers that want another allocator turn the feature off
//! (`default-features = false`) and set their own `#[global_allocator]`.

// An allocator is unsafe code by its nature: the one module of the SDK that has any.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout};
use std::cell::UnsafeCell;
use std::ptr;

/// Sizes served from free lists: 8, 16, 32, ... 1024 bytes.
const SIZES: usize = 8;
const SMALLEST: usize = 8;
const LARGEST: usize = SMALLEST << (SIZES - 1);
/// The strictest alignment a list serves; stricter requests go to the system allocator.
const MAX_ALIGN: usize = 16;
/// Bytes asked of the system allocator when a list is empty, carved into blocks of its size.
const REFILL: usize = 4096;

/// A free block: the next one of its size is written in its first bytes.
struct Free {
    next: *mut Free,
}

/// Free lists per size in front of `A`.
pub struct SizeClasses<A> {
    backing: A,
    free: UnsafeCell<[*mut Free; SIZES]>,
}

// SAFETY: the lists are only reached through `&self` without locking, which is sound on a target
// without threads: wasm32 without the `atomics` feature (wasm32-wasip2 spawns none).
#[cfg(all(target_arch = "wasm32", not(target_feature = "atomics")))]
unsafe impl<A: Sync> Sync for SizeClasses<A> {}

impl<A> SizeClasses<A> {
    pub const fn new(backing: A) -> Self {
        Self {
            backing,
            free: UnsafeCell::new([ptr::null_mut(); SIZES]),
        }
    }
}

/// The list a block of `layout` comes from, or `None` for the system allocator. A block's
/// size is a power of two at least as large as its alignment, so blocks carved from a 16-byte
/// aligned chunk are aligned for anything a list serves.
fn list_of(layout: Layout) -> Option<usize> {
    if layout.size() > LARGEST || layout.align() > MAX_ALIGN {
        return None;
    }
    let size = layout
        .size()
        .max(layout.align())
        .max(SMALLEST)
        .next_power_of_two();
    Some((size.trailing_zeros() - SMALLEST.trailing_zeros()) as usize)
}

const fn block_size(list: usize) -> usize {
    SMALLEST << list
}

impl<A: GlobalAlloc> SizeClasses<A> {
    /// Fills `list` with blocks carved from one new chunk; false when the system allocator has
    /// no memory left.
    ///
    /// # Safety
    /// No other reference to the lists may be live (single-threaded, not re-entered).
    unsafe fn refill(&self, list: usize) -> bool {
        let size = block_size(list);
        let chunk_bytes = REFILL.max(size);
        // SAFETY: REFILL and block sizes are powers of two, 16 divides them: a valid layout.
        let chunk = unsafe {
            self.backing
                .alloc(Layout::from_size_align_unchecked(chunk_bytes, MAX_ALIGN))
        };
        if chunk.is_null() {
            return false;
        }
        // SAFETY: the caller holds the only access to the lists.
        let free = unsafe { &mut *self.free.get() };
        for offset in (0..chunk_bytes).step_by(size).rev() {
            let block = chunk.wrapping_add(offset).cast::<Free>();
            // SAFETY: `block` lies inside the new chunk and is aligned for `Free` (size >= 8).
            unsafe { block.write(Free { next: free[list] }) };
            free[list] = block;
        }
        true
    }
}

// SAFETY: every block handed out is at least `layout.size()` bytes aligned to `layout.align()`
// (see `list_of`), is owned by one caller until it comes back through `dealloc`, and a block
// comes back to the list of the layout it was freed with, whose size it has (Rust frees with the
// layout it allocated with).
unsafe impl<A: GlobalAlloc> GlobalAlloc for SizeClasses<A> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let Some(list) = list_of(layout) else {
            // SAFETY: forwarded as given.
            return unsafe { self.backing.alloc(layout) };
        };
        // SAFETY: single-threaded; nothing below calls back into this allocator while the
        // lists are borrowed (`refill` borrows them itself, after the backing call).
        unsafe {
            if (*self.free.get())[list].is_null() && !self.refill(list) {
                return ptr::null_mut();
            }
            let free = &mut *self.free.get();
            let block = free[list];
            free[list] = (*block).next;
            block.cast()
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let Some(list) = list_of(layout) else {
            // SAFETY: forwarded as given.
            return unsafe { self.backing.dealloc(ptr, layout) };
        };
        // SAFETY: `ptr` is a block this allocator handed out for `layout` (GlobalAlloc's
        // contract), so it is at least `block_size(list)` bytes; single-threaded.
        unsafe {
            let free = &mut *self.free.get();
            let block = ptr.cast::<Free>();
            block.write(Free { next: free[list] });
            free[list] = block;
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: GlobalAlloc's contract: `new_size`, rounded to `layout.align()`, fits isize.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        match (list_of(layout), list_of(new_layout)) {
            // A string growing within its block's size (8 -> 12 bytes in a 16-byte block).
            (Some(old), Some(new)) if old == new => ptr,
            // SAFETY: forwarded as given.
            (None, None) => unsafe { self.backing.realloc(ptr, layout, new_size) },
            // SAFETY: a new block, the bytes both hold copied, the old one freed.
            _ => unsafe {
                let moved = self.alloc(new_layout);
                if !moved.is_null() {
                    ptr::copy_nonoverlapping(ptr, moved, layout.size().min(new_size));
                    self.dealloc(ptr, layout);
                }
                moved
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::alloc::System;
    use std::collections::HashSet;

    fn layout(size: usize, align: usize) -> Layout {
        Layout::from_size_align(size, align).expect("valid layout")
    }

    #[test]
    fn sizes_round_up_to_a_power_of_two_and_large_or_overaligned_ones_pass_through() {
        assert_eq!(list_of(layout(1, 1)), Some(0));
        assert_eq!(list_of(layout(8, 8)), Some(0));
        assert_eq!(list_of(layout(9, 1)), Some(1));
        assert_eq!(list_of(layout(4, 16)), Some(1), "alignment counts as size");
        assert_eq!(list_of(layout(1024, 8)), Some(7));
        assert_eq!(list_of(layout(1025, 1)), None);
        assert_eq!(list_of(layout(8, 32)), None);
    }

    #[test]
    fn blocks_are_aligned_distinct_and_reused_after_free() {
        let heap = SizeClasses::new(System);
        // Generated sizes and alignments across every list and past the largest.
        let cases: Vec<Layout> = (0..400)
            .map(|i: usize| layout(1 + (i * 37) % 1500, 1 << (i % 5)))
            .collect();
        let blocks: Vec<(*mut u8, Layout)> = cases
            .iter()
            .map(|&l| {
                // SAFETY: non-zero sizes; freed below with the same layout.
                let p = unsafe { heap.alloc(l) };
                assert!(!p.is_null());
                assert_eq!(p as usize % l.align(), 0, "{l:?} misaligned");
                // SAFETY: the block holds `l.size()` bytes.
                unsafe { ptr::write_bytes(p, 0xA5, l.size()) };
                (p, l)
            })
            .collect();
        let distinct: HashSet<usize> = blocks.iter().map(|(p, _)| *p as usize).collect();
        assert_eq!(distinct.len(), blocks.len(), "a block was handed out twice");
        for &(p, l) in &blocks {
            // SAFETY: allocated above with `l`.
            unsafe { heap.dealloc(p, l) };
        }
        // The next small block of a size is the last one freed of that size.
        let again = layout(20, 4);
        let last_freed = blocks
            .iter()
            .rev()
            .find(|(_, l)| list_of(*l) == list_of(again))
            .map(|(p, _)| *p);
        // SAFETY: as above.
        let p = unsafe { heap.alloc(again) };
        assert_eq!(Some(p), last_freed);
        // SAFETY: as above.
        unsafe { heap.dealloc(p, again) };
    }

    #[test]
    fn realloc_keeps_the_bytes_across_sizes() {
        let heap = SizeClasses::new(System);
        let mut l = layout(3, 1);
        // SAFETY: non-zero size.
        let mut p = unsafe { heap.alloc(l) };
        // SAFETY: 3 bytes.
        unsafe { ptr::copy_nonoverlapping(b"abc".as_ptr(), p, 3) };
        // Within a block, into the next list, past the largest, and back down.
        for size in [7, 100, 5000, 20_000, 600, 3] {
            // SAFETY: `p` was allocated with `l`.
            p = unsafe { heap.realloc(p, l, size) };
            assert!(!p.is_null());
            // SAFETY: at least 3 bytes.
            assert_eq!(unsafe { std::slice::from_raw_parts(p, 3) }, b"abc");
            l = layout(size, 1);
        }
        // SAFETY: as above.
        unsafe { heap.dealloc(p, l) };
    }
}
