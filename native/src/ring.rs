//! Receive rings for AF_PACKET ports (PACKET_RX_RING, TPACKET_V2): the
//! kernel writes each frame into memory shared with this process while it
//! delivers it (in the softirq of the interface, on whichever CPU that runs),
//! and a receive is then a walk over the ring and one memcpy per frame into
//! the caller's slot, with no system call and no socket buffer to free.
//! recvmmsg(2), which Open vSwitch's netdev-linux uses, instead copies every
//! frame out of its socket buffer in the receiving thread: on the datapath's
//! own CPU, about a third of its time at small frames.
//!
//! ```
//! ring: | block 0                          | block 1 ...        | block n-1 |
//!       | frame 0 | frame 1 | ... |         | frame k | ...      |           |
//! frame: | tpacket2_hdr | sockaddr_ll | pad | Ethernet frame (at tp_mac) ... |
//! ```
//! Frame i belongs to this process while its tp_status has TP_STATUS_USER;
//! handing it back is writing TP_STATUS_KERNEL (with release ordering, after
//! the copy). Frames are taken in ring order from `next`.
//!
//! Invariant: a ring lives exactly as long as its fd: set up by `attach`
//! while afpacketOpen configures the socket, unmapped by `detach` when the
//! fd is closed through the addon. The table of rings is process-wide (a
//! mutex around a short list), so a Worker that loads the addon sees the
//! same rings; only the thread that receives touches a ring's frames.
//! Limits: RING_SIZE bytes per port; a frame longer than a ring frame holds
//! is cut, and reported with its real length (the caller drops it).

use core::ffi::{c_int, c_uint, c_void};
use core::sync::atomic::{AtomicU32, Ordering};
use core::{cmp, mem, ptr};
use std::sync::Mutex;

use crate::sys;

/// Bytes of ring per port: 2048 frames of 2 KiB for a 1500-byte MTU, as
/// deep as the socket receive queue it replaces (RCVBUF_SIZE).
const RING_SIZE: usize = 4 << 20;

/// Bytes of one ring block: frames never straddle blocks, and a block is
/// physically contiguous memory, so it stays small.
const BLOCK_SIZE: usize = 64 << 10;

/// Room in a ring frame before the Ethernet header: tpacket2_hdr (32) and
/// sockaddr_ll (20) aligned to 16, plus the alignment of the network header
/// the kernel adds (up to 16), rounded up.
const FRAME_HEADROOM: usize = 96;

/// Ethernet header plus two VLAN tags beyond the MTU.
const FRAME_OVERHEAD: usize = 14 + 8;

struct Ring {
    fd: c_int,
    base: usize,
    size: usize,
    frame_size: usize,
    frame_nr: usize,
    next: usize,
}

static RINGS: Mutex<Vec<Ring>> = Mutex::new(Vec::new());

fn rings() -> std::sync::MutexGuard<'static, Vec<Ring>> {
    // A panic cannot happen while the lock is held (panic = abort), so the
    // lock is never poisoned; take the data either way.
    RINGS.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn set_option<T>(fd: c_int, name: c_int, value: &T) -> Result<(), c_int> {
    // SAFETY: value is a live T and its size is passed along.
    let status =
        unsafe { sys::setsockopt(fd, sys::SOL_PACKET, name, (value as *const T).cast(), mem::size_of::<T>() as u32) };
    if status < 0 { Err(sys::errno()) } else { Ok(()) }
}

/// The ring frame size for an interface of this MTU: a power of two that
/// holds the headroom and a full frame with two VLAN tags.
fn frame_size_for(mtu: usize) -> usize {
    (FRAME_HEADROOM + mtu + FRAME_OVERHEAD).next_power_of_two().max(2048)
}

/// Gives socket `fd` (AF_PACKET, not yet bound) a TPACKET_V2 receive ring
/// sized for `mtu`. On failure the socket is left as it was and receives
/// through recvmmsg: the ring is an optimization, not a requirement.
pub fn attach(fd: c_int, mtu: usize) -> Result<(), c_int> {
    let frame_size = frame_size_for(mtu);
    let block_size = cmp::max(BLOCK_SIZE, frame_size);
    let block_nr = cmp::max(RING_SIZE / block_size, 1);
    let frames_per_block = block_size / frame_size;
    set_option(fd, sys::PACKET_VERSION, &sys::TPACKET_V2)?;
    let request = sys::TpacketReq {
        block_size: block_size as c_uint,
        block_nr: block_nr as c_uint,
        frame_size: frame_size as c_uint,
        frame_nr: (block_nr * frames_per_block) as c_uint,
    };
    set_option(fd, sys::PACKET_RX_RING, &request)?;
    let size = block_size * block_nr;
    // SAFETY: maps the ring just configured on fd; the kernel checks size.
    let base = unsafe { sys::mmap(ptr::null_mut(), size, sys::PROT_READ | sys::PROT_WRITE, sys::MAP_SHARED, fd, 0) };
    if base == sys::MAP_FAILED {
        let errnum = sys::errno();
        // Without the mapping the ring would fill and stop the socket: remove it.
        let none = sys::TpacketReq { block_size: 0, block_nr: 0, frame_size: 0, frame_nr: 0 };
        let _ = set_option(fd, sys::PACKET_RX_RING, &none);
        return Err(errnum);
    }
    let frame_nr = block_nr * frames_per_block;
    rings().push(Ring { fd, base: base as usize, size, frame_size, frame_nr, next: 0 });
    Ok(())
}

/// Unmaps fd's ring, if it has one; called before the fd is closed.
pub fn detach(fd: c_int) {
    let mut table = rings();
    if let Some(index) = table.iter().position(|ring| ring.fd == fd) {
        let ring = table.swap_remove(index);
        // SAFETY: base/size are the mapping attach made, unmapped once.
        unsafe { sys::munmap(ring.base as *mut c_void, ring.size) };
    }
}

/// Where the caller wants frame i: its slot, and where its length goes.
pub trait Slots {
    fn frames_max(&self) -> usize;
    fn slot_size(&self) -> usize;
    fn slot(&self, index: usize) -> *mut u8;
    fn set_length(&self, index: usize, size: usize);
}

fn read_u32(at: *const u8) -> u32 {
    // SAFETY: callers pass a pointer inside a ring frame header; unaligned
    // reads are fine on the supported targets and read_unaligned allows them.
    unsafe { ptr::read_unaligned(at.cast::<u32>()) }
}

fn read_u16(at: *const u8) -> u16 {
    // SAFETY: as read_u32.
    unsafe { ptr::read_unaligned(at.cast::<u16>()) }
}

/// Takes up to frames_max frames from fd's ring into the slots; None when
/// fd has no ring. `vlan` puts a tag the kernel took off back in place.
pub fn receive(fd: c_int, rx: &dyn Slots, vlan: fn(*mut u8, usize, usize, u16, u16) -> usize) -> Option<usize> {
    let mut table = rings();
    let ring = table.iter_mut().find(|ring| ring.fd == fd)?;
    let slot_size = rx.slot_size();
    let mut count = 0;
    while count < rx.frames_max() {
        let frame = (ring.base + ring.next * ring.frame_size) as *mut u8;
        // SAFETY: tp_status is the first, 4-aligned word of a frame inside
        // the mapping; the kernel writes it concurrently, hence the atomic.
        let status_word = unsafe { &*(frame.add(sys::TPACKET2_STATUS_AT) as *const AtomicU32) };
        let status = status_word.load(Ordering::Acquire);
        if status & sys::TP_STATUS_USER == 0 {
            break;
        }
        // SAFETY (these reads): offsets inside the 32-byte tpacket2_hdr.
        let wire_size = read_u32(unsafe { frame.add(sys::TPACKET2_LEN_AT) }) as usize;
        let snap_size = read_u32(unsafe { frame.add(sys::TPACKET2_SNAPLEN_AT) }) as usize;
        let mac_at = read_u16(unsafe { frame.add(sys::TPACKET2_MAC_AT) }) as usize;
        let mut size = wire_size;
        // A frame cut by the ring (or the kernel) is too long for any slot
        // that would take its real length: report it as not fitting.
        if snap_size < wire_size {
            size = cmp::max(wire_size, slot_size + 1);
        }
        let copied = cmp::min(cmp::min(snap_size, slot_size), ring.frame_size.saturating_sub(mac_at));
        // SAFETY: [mac_at, mac_at + copied) lies inside this ring frame, and
        // the slot holds slot_size >= copied bytes.
        unsafe { ptr::copy_nonoverlapping(frame.add(mac_at), rx.slot(count), copied) };
        if status & sys::TP_STATUS_VLAN_VALID != 0 && size <= slot_size {
            let tci = read_u16(unsafe { frame.add(sys::TPACKET2_VLAN_TCI_AT) });
            let tpid = if status & sys::TP_STATUS_VLAN_TPID_VALID != 0 {
                read_u16(unsafe { frame.add(sys::TPACKET2_VLAN_TPID_AT) })
            } else {
                crate::ETHERTYPE_VLAN
            };
            size = vlan(rx.slot(count), size, slot_size, tpid, tci);
        }
        rx.set_length(count, size);
        status_word.store(sys::TP_STATUS_KERNEL, Ordering::Release);
        ring.next = (ring.next + 1) % ring.frame_nr;
        count += 1;
    }
    Some(count)
}
