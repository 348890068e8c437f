//! The wasm exports: a thin layer that hands the host's bytes to the instance's one [`Guest`] and reports a status.
//! The ABI is documented at the crate root.
//!
//! # Invariants
//! - The only unsafe code of the crate is here: turning host-provided `(ptr, len)` pairs into slices, and the
//!   allocator calls behind `alloc`/`dealloc`.
//! - Input buffers are the host's (from `alloc`); the guest never keeps a reference to one past the call.

use crate::Guest;
use std::alloc::{Layout, alloc as allocate, dealloc as deallocate};
use std::cell::RefCell;
use std::ptr::{self, NonNull};

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
