//! The wasm exports: a thin layer that hands the host's bytes to the instance's one [`Guest`] and reports a status.
//! The ABI is documented at the crate root.
//!
//! # Invariants
//! - The only unsafe code of the crate is here: turning host-provided `(ptr, len)` pairs into slices, the
//!   allocator calls behind `alloc`/`dealloc`, and the small-block allocator in front of the system one.
//! - Input buffers are the host's (from `alloc`); the guest never keeps a reference to one past the call.

use crate::Guest;
use std::alloc::{Layout, alloc as allocate, dealloc as deallocate};
use std::cell::RefCell;
use std::ptr::{self, NonNull};

/// The global allocator: small blocks (up to [`SmallBlocks::MAX`] bytes, the position lists of account events and
/// the like) are kept on per-size free lists and reused, everything else goes to the system allocator (dlmalloc).
/// dlmalloc's free alone costs a few hundred wasm instructions, paid for every account event the host drops; a free
/// list push and pop cost a few. Freed small blocks stay on their lists (bounded by the peak of small blocks live).
#[global_allocator]
static ALLOCATOR: SmallBlocks = SmallBlocks { heads: [const { std::cell::Cell::new(ptr::null_mut()) }; 8] };

struct SmallBlocks {
    /// Head of the free list of each size class (16, 32, .. 128 bytes); a free block holds the next one's address.
    heads: [std::cell::Cell<*mut u8>; SmallBlocks::CLASSES],
}

// SAFETY: a wasm instance runs one thread (the module is built without the atomics feature), so the free lists are
// never touched concurrently.
unsafe impl Sync for SmallBlocks {}

impl SmallBlocks {
    const CLASSES: usize = 8;
    const GRANULE: usize = 16;
    const MAX: usize = Self::CLASSES * Self::GRANULE;

    /// The size class of a layout, if it is small: rounded up to the granule, at most granule-aligned.
    fn class(layout: Layout) -> Option<usize> {
        (layout.size() <= Self::MAX && layout.align() <= Self::GRANULE && layout.size() > 0)
            .then(|| (layout.size() - 1) / Self::GRANULE)
    }

    fn class_layout(class: usize) -> Layout {
        // Sizes and alignment are small powers-of-two multiples: always a valid layout.
        Layout::from_size_align((class + 1) * Self::GRANULE, Self::GRANULE).unwrap_or_else(|_| unreachable!())
    }
}

// SAFETY: blocks handed out are either the system allocator's (for the layout asked, or for its size class, which
// is at least as large and as aligned) or blocks of the same class returned earlier; a free block is only reused
// after `dealloc` gave it back, and its first word (a class is at least 16 bytes) holds the list link.
unsafe impl std::alloc::GlobalAlloc for SmallBlocks {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let Some(class) = Self::class(layout) else {
            // SAFETY: forwarded as is.
            return unsafe { std::alloc::System.alloc(layout) };
        };
        let head = self.heads[class].get();
        if head.is_null() {
            // SAFETY: a valid, nonzero layout.
            return unsafe { std::alloc::System.alloc(Self::class_layout(class)) };
        }
        // SAFETY: `head` is a free block of this class; its first word is the next free block.
        self.heads[class].set(unsafe { head.cast::<*mut u8>().read() });
        head
    }

    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        let Some(class) = Self::class(layout) else {
            // SAFETY: allocated by the system allocator for this layout (see `alloc`).
            return unsafe { std::alloc::System.dealloc(block, layout) };
        };
        // SAFETY: the block is at least 16 bytes and 16-aligned (its class layout), and no longer in use.
        unsafe { block.cast::<*mut u8>().write(self.heads[class].get()) };
        self.heads[class].set(block);
    }

    unsafe fn realloc(&self, block: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let new_layout = Layout::from_size_align(new_size, layout.align());
        match new_layout {
            // Large to large stays with the system allocator, which can grow a block in place.
            // SAFETY: the block is the system allocator's, for this layout (see `alloc`).
            Ok(new) if Self::class(layout).is_none() && Self::class(new).is_none() => unsafe {
                std::alloc::System.realloc(block, layout, new_size)
            },
            // SAFETY: the default: allocate, copy what fits, free the old block (all through this allocator).
            Ok(new) => unsafe {
                let moved = self.alloc(new);
                if !moved.is_null() {
                    ptr::copy_nonoverlapping(block, moved, layout.size().min(new_size));
                    self.dealloc(block, layout);
                }
                moved
            },
            Err(_) => ptr::null_mut(),
        }
    }
}

thread_local! {
    // A wasm instance runs one thread, so this is simply the instance's engine.
    static GUEST: RefCell<Guest> = RefCell::new(Guest::new());
}

fn with_guest<R>(f: impl FnOnce(&mut Guest) -> R) -> R {
    GUEST.with(|guest| f(&mut guest.borrow_mut()))
}

/// Borrows the host's input for the duration of one call.
///
/// # Safety
/// `ptr..ptr + len` must lie in a live buffer returned by `alloc` and hold the bytes the host wrote; the guest does
/// not touch that buffer during the call.
unsafe fn input<'a>(ptr: *const u8, len: usize) -> &'a [u8] {
    if len == 0 {
        return &[];
    }
    // SAFETY: the caller guarantees a live, initialized buffer of `len` bytes at `ptr`.
    unsafe { std::slice::from_raw_parts(ptr, len) }
}

/// Reserves `len` bytes for the host to write an input into. Null if memory is exhausted.
#[unsafe(no_mangle)]
pub extern "C" fn alloc(len: usize) -> *mut u8 {
    if len == 0 {
        return NonNull::dangling().as_ptr();
    }
    let Ok(layout) = Layout::array::<u8>(len) else { return ptr::null_mut() };
    // SAFETY: the layout's size is nonzero.
    unsafe { allocate(layout) }
}

/// Frees a buffer from `alloc(len)`.
///
/// # Safety
/// `ptr` must come from `alloc(len)` with the same `len` and not have been freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dealloc(ptr: *mut u8, len: usize) {
    if len == 0 || ptr.is_null() {
        return;
    }
    if let Ok(layout) = Layout::array::<u8>(len) {
        // SAFETY: the caller guarantees `ptr` was allocated by `alloc` with this very layout.
        unsafe { deallocate(ptr, layout) }
    }
}

/// # Safety
/// See [`input`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn init(ptr: *const u8, len: usize, seed: u64) -> u32 {
    // SAFETY: forwarded from this function's contract.
    let frame = unsafe { input(ptr, len) };
    with_guest(|guest| {
        let result = guest.handle_init(frame, seed).map(drop);
        guest.finish(result)
    })
}

/// # Safety
/// See [`input`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn execute(ptr: *const u8, len: usize) -> u32 {
    // SAFETY: forwarded from this function's contract.
    let frame = unsafe { input(ptr, len) };
    with_guest(|guest| {
        let result = guest.handle_execute(frame).map(drop);
        guest.finish(result)
    })
}

#[unsafe(no_mangle)]
pub extern "C" fn snapshot() -> u32 {
    with_guest(|guest| {
        let result = guest.handle_snapshot().map(drop);
        guest.finish(result)
    })
}

/// # Safety
/// See [`input`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn restore(ptr: *const u8, len: usize) -> u32 {
    // SAFETY: forwarded from this function's contract.
    let frame = unsafe { input(ptr, len) };
    with_guest(|guest| {
        let result = guest.handle_restore(frame).map(drop);
        guest.finish(result)
    })
}

/// # Safety
/// See [`input`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn view(ptr: *const u8, len: usize) -> u32 {
    // SAFETY: forwarded from this function's contract.
    let frame = unsafe { input(ptr, len) };
    with_guest(|guest| {
        let result = guest.handle_view(frame).map(drop);
        guest.finish(result)
    })
}

/// The state hash, or 0 with an `Error` frame in the output before `init`.
#[unsafe(no_mangle)]
pub extern "C" fn state_hash() -> u64 {
    with_guest(|guest| match guest.handle_state_hash() {
        Ok(hash) => hash,
        Err(error) => {
            guest.finish(Err(error));
            0
        }
    })
}

/// Start of the last call's output; valid until the next call.
#[unsafe(no_mangle)]
pub extern "C" fn output_ptr() -> *const u8 {
    with_guest(|guest| guest.output().as_ptr())
}

#[unsafe(no_mangle)]
pub extern "C" fn output_len() -> usize {
    with_guest(|guest| guest.output().len())
}
