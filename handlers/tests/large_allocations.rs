//! The functions' allocator policy, in a process of its own: once a large block has been freed,
//! a later large block is still mapped on its own (and so given back when freed), not carved
//! from the heap.

#![cfg(all(target_os = "linux", target_env = "gnu"))]

use std::hint::black_box;

use nami_handlers::init::{LARGE_ALLOCATION_BYTES, return_large_allocations};

/// Bytes the allocator has mapped on their own, outside its heap.
fn mapped_bytes() -> usize {
    // SAFETY: mallinfo2 only reads the allocator's counters.
    unsafe { libc::mallinfo2() }.hblkhd
}

#[test]
fn a_large_block_after_a_larger_one_is_still_mapped_on_its_own() {
    assert!(return_large_allocations());

    // glibc's own policy would now raise its threshold to 8 MiB…
    drop(black_box(vec![1_u8; 8 << 20]));
    // …and serve this 1 MiB block (well over the threshold kept) from the heap.
    let before = mapped_bytes();
    let block = black_box(vec![1_u8; 1 << 20]);
    let held = mapped_bytes();
    drop(block);
    assert!(
        held >= before + (1 << 20),
        "a 1 MiB block (threshold {LARGE_ALLOCATION_BYTES} bytes) was not mapped on its own: \
         {before} bytes mapped before, {held} while it was held"
    );
}
