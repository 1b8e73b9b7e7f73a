//! A global allocator that wipes every heap block before it is freed.
//!
//! Zeroizing our own secret types is not enough: serde_json's scratch buffer for escaped strings,
//! growing `Vec`s and library internals free blocks that held a secret, and the allocator hands
//! them out again without wiping them. Wiping on free is the one place that catches all of them,
//! so that after `lock` no copy of a secret survives in freed memory. The cost is a write over
//! each block as it is freed, which is small next to the agent's socket round trip.

use std::alloc::{GlobalAlloc, Layout, System};

/// [`System`] with every block wiped on `dealloc` and on the move of a `realloc`.
pub struct WipingAllocator;

// SAFETY: every call is forwarded to `System` with the same layout; wiping writes only within
// the block being freed, which the caller owns until `dealloc` returns.
unsafe impl GlobalAlloc for WipingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` points to a live block of `layout.size()` bytes owned by the caller.
        unsafe {
            wipe(ptr, layout.size());
            System.dealloc(ptr, layout);
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // Never let the system move the block itself: it would free the old one unwiped.
        // SAFETY: `new_size` is non-zero and fits `layout.align()` (GlobalAlloc contract).
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        // SAFETY: valid layout; on success both blocks are live and do not overlap.
        unsafe {
            let new_ptr = System.alloc(new_layout);
            if !new_ptr.is_null() {
                std::ptr::copy_nonoverlapping(ptr, new_ptr, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
            new_ptr
        }
    }
}

/// Zeroes `len` bytes at `ptr` with volatile stores, which the optimizer may not drop even
/// though the block is about to be freed.
///
/// # Safety
/// `ptr..ptr+len` must be writable.
unsafe fn wipe(ptr: *mut u8, len: usize) {
    let head = ptr.align_offset(size_of::<u64>()).min(len);
    let words = (len - head) / size_of::<u64>();
    // SAFETY: all writes stay within `ptr..ptr+len`; the word writes are 8-aligned.
    unsafe {
        for i in 0..head {
            ptr.add(i).write_volatile(0);
        }
        let word_ptr = ptr.add(head).cast::<u64>();
        for i in 0..words {
            word_ptr.add(i).write_volatile(0);
        }
        for i in head + words * size_of::<u64>()..len {
            ptr.add(i).write_volatile(0);
        }
    }
    std::sync::atomic::compiler_fence(std::sync::atomic::Ordering::SeqCst);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wipe_clears_unaligned_ranges_exactly() {
        let mut buf = [0xAAu8; 64];
        // SAFETY: 3..3+50 lies within the buffer.
        unsafe { wipe(buf.as_mut_ptr().add(3), 50) };
        assert!(buf[..3].iter().all(|&b| b == 0xAA));
        assert!(buf[3..53].iter().all(|&b| b == 0));
        assert!(buf[53..].iter().all(|&b| b == 0xAA));
    }

    #[test]
    fn realloc_keeps_contents() {
        let layout = Layout::from_size_align(16, 8).unwrap();
        // SAFETY: standard alloc/realloc/dealloc sequence with matching layouts.
        unsafe {
            let p = WipingAllocator.alloc(layout);
            for i in 0..16 {
                p.add(i).write(i as u8);
            }
            let q = WipingAllocator.realloc(p, layout, 64);
            assert!((0..16).all(|i| *q.add(i) == i as u8));
            WipingAllocator.dealloc(q, Layout::from_size_align(64, 8).unwrap());
        }
    }
}
