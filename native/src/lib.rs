//! flowplane's native addon: live ports on TAP devices and AF_PACKET
//! sockets, with batched, non-blocking receive and transmit. Loaded by
//! src/io/native.ts as native/flowplane.node.
//!
//! Invariant: every fd handed out is non-blocking and close-on-exec, and no
//! function except `waitReadable` ever blocks, so `recvBatch`/`sendBatch`
//! can run on Node's main thread without stalling its event loop. Nothing
//! is allocated on the rx/tx path: JS buffers are used in place and the
//! per-call scratch arrays live on the stack.
//!
//! Design:
//! - `tapOpen(name, {mtu?, mac?, persist?}) -> fd`: /dev/net/tun with
//!   TUNSETIFF(IFF_TAP | IFF_NO_PI) creates the tap, or attaches to an
//!   existing tap nobody has open (EBUSY when someone has). MTU, MAC and
//!   IFF_UP are then set with SIOCSIF* ioctls on an AF_INET datagram socket.
//!   A tap created here disappears when its fd is closed unless `persist`.
//! - `afpacketOpen(ifname, {ring?}) -> fd`: socket(AF_PACKET, SOCK_RAW, 0). Protocol
//!   0 means nothing is queued until bind(ETH_P_ALL, ifindex) limits the
//!   socket to one interface, so no frame of another interface slips in
//!   between socket() and bind(). Then promiscuous membership (dropped by
//!   the kernel when the socket closes), PACKET_IGNORE_OUTGOING (a frame
//!   leaving through the interface, sent by the host's stack or by another
//!   socket, was not received from its wire; forwarding it back would make
//!   a loop) and PACKET_AUXDATA (see VLAN below). Unless `ring: false`,
//!   the socket receives through a TPACKET_V2 ring (src/ring.rs); the
//!   receive queue, which serves when there is no ring, is deepened to
//!   RCVBUF_SIZE (see there why).
//! - `recvBatch(fd, kind, buffer, slotSize, framesMax, lengths) -> count`:
//!   frame i lands at byte i * slotSize of `buffer`, its length in
//!   lengths[i]. AF_PACKET: a copy per frame out of the receive ring, or
//!   without a ring one recvmmsg(2) per CHUNK_FRAMES frames, as Open
//!   vSwitch's netdev-linux does; tap: one readv(2) per frame (tun has no
//!   batched read). Returns 0 when nothing is ready.
//!   ```
//!   buffer: | slot 0          | slot 1          | ... | slot framesMax-1 |
//!           |frame 0...|      |frame 1.....|    |     |                  |
//!           0          lengths[0]            ...      framesMax * slotSize
//!   ```
//!   lengths[i] is the frame's length on the wire. When it exceeds slotSize
//!   the frame did not fit and only slotSize bytes were kept: the caller
//!   must drop it (OVS drops such frames too). MSG_TRUNC makes the packet
//!   socket report the real length; for tap the tail is read into a stack
//!   scratch area to learn it.
//! - VLAN: the kernel moves a received frame's 802.1Q tag into packet
//!   metadata before AF_PACKET sees it (802.1Q or 802.1ad, the outer tag). The tag comes back through
//!   PACKET_AUXDATA (or the ring frame's header) and is put back in place,
//!   so the frame reads exactly as on the wire (netdev-linux does the same).
//! - `sendBatch(fd, kind, buffer, offsets, lengths, count) -> sent`: frame i
//!   is `lengths[i]` bytes at `offsets[i]`. sendmmsg(2) per CHUNK_FRAMES
//!   frames for AF_PACKET, write(2) per frame for tap. Stops at EAGAIN or
//!   ENOBUFS (queue full: the caller drops the rest and counts them); skips
//!   a frame the kernel refuses by itself (EMSGSIZE, EINVAL: too long or
//!   too short); any other error is thrown if no frame was taken yet, and
//!   otherwise left for the next call to report.
//! - Readiness: `waitReadable(fds, timeoutMs) -> mask` is poll(2) for POLLIN
//!   on up to WAIT_FDS_MAX fds; bit i is set when fds[i] is readable or has
//!   an error to report (which the next recvBatch then throws). It blocks,
//!   so it belongs in a worker_threads Worker, never on the main thread:
//!   src/io/native.ts runs one watcher Worker per port that blocks here,
//!   posts a message when the fd is readable, and sleeps on an Atomics word
//!   until the main thread has drained the port. An idle port costs the
//!   main thread nothing. The addon has no global state, so it loads in
//!   Workers as well as on the main thread.
//! - Errors: a failed system call throws an Error whose `code` is the errno
//!   name (EPERM, ENODEV, EBUSY, ...), with `errno` and `syscall` set and a
//!   message such as `tapOpen(tap0): TUNSETIFF: EBUSY (Device or resource
//!   busy)`. Bad arguments (our caller's bug) throw TypeError/RangeError
//!   with Node's ERR_INVALID_ARG_TYPE / ERR_INVALID_ARG_VALUE /
//!   ERR_OUT_OF_RANGE codes.
//!
//! Limits: 64-bit Linux with glibc (x86_64, aarch64); Linux 4.20 or later
//! (PACKET_IGNORE_OUTGOING). No offloads are negotiated (no IFF_VNET_HDR or
//! PACKET_VNET_HDR): the kernel segments for a tap, but an AF_PACKET socket
//! on an interface with GRO/LRO, or on a veth whose peer sends TSO frames,
//! can receive frames larger than the MTU, which are dropped unless the
//! slots are 64 KiB (or offloads are turned off with ethtool).
//!
//! Unsafe code is confined to small blocks, each with a SAFETY comment: the
//! FFI calls themselves, given pointers to locals or to JS memory whose
//! bounds were checked first, and the in-place VLAN tag reinsertion.

mod napi;
mod ring;
mod sys;

use core::ffi::{c_int, c_uint, c_ulong, c_void};
use core::{cmp, mem, ptr};
use std::os::fd::IntoRawFd;
use std::os::unix::fs::OpenOptionsExt;

use napi::{Args, Bytes, CallbackInfo, Env, Fail, Value, Words, sys_fail};
use sys::{IFNAMSIZ, IfReq};

/// Bumped whenever an export's signature or meaning changes, so that
/// native.ts refuses a stale build instead of misbehaving.
const ABI_VERSION: u32 = 1;

/// The `kind` argument of recvBatch/sendBatch.
const KIND_TAP: i64 = 0;
const KIND_AFPACKET: i64 = 1;

/// Frames per recvmmsg/sendmmsg call: twice the datapath's batch of 32, so a
/// batch is one system call; the scratch arrays (~8 KiB) live on the stack.
const CHUNK_FRAMES: usize = 64;

/// Control bytes per received frame: CMSG_SPACE(sizeof(tpacket_auxdata)),
/// a 16-byte header plus 20 bytes rounded up to 24.
const CONTROL_SIZE: usize = 40;

/// Scratch for the tail of a tap frame longer than its slot: the largest
/// frame a tap can hand out (MTU 65535 plus headers) then still reports its
/// real length. Stack memory, never initialized nor read.
const TAP_OVERFLOW_SIZE: usize = 65536 + 64;

/// Receive queue of an AF_PACKET socket without a ring, in bytes (SO_RCVBUF; the kernel
/// doubles it for its bookkeeping). The default (net.core.rmem_default,
/// 208 KiB) holds about 80 full-size frames or 270 small ones: a few
/// hundred microseconds of traffic, less than a switch thread sharing a
/// busy CPU can be kept waiting, and the rest is dropped. 4 MiB holds
/// about 1500 full-size frames, as many as a tap's default queue of 1000
/// frames of any size, at the cost of that much latency when backlogged.
/// Open vSwitch's netdev-linux leaves the default.
const RCVBUF_SIZE: c_int = 4 << 20;

/// Fds one waitReadable call watches: one bit each in the returned mask.
const WAIT_FDS_MAX: usize = 32;

/// Destination and source MAC: where an 802.1Q tag goes back in.
const ETH_ADDRS_SIZE: usize = 12;
const VLAN_HEADER_SIZE: usize = 4;
const ETHERTYPE_VLAN: u16 = 0x8100;

/// An fd this module owns until `release` hands it to JS; closed on every
/// early return, so a failed open never leaks one.
struct Fd(c_int);

impl Fd {
    fn release(self) -> c_int {
        let fd = self.0;
        mem::forget(self);
        fd
    }
}

impl Drop for Fd {
    fn drop(&mut self) {
        // SAFETY: self.0 is an open fd nobody else holds.
        unsafe { sys::close(self.0) };
    }
}

/// A control buffer for one received frame, aligned for `struct cmsghdr`.
#[repr(C, align(8))]
#[derive(Clone, Copy)]
struct Control([u8; CONTROL_SIZE]);

const EMPTY_IOVEC: sys::IoVec = sys::IoVec { base: ptr::null_mut(), len: 0 };
const EMPTY_MMSG: sys::MMsgHdr = sys::MMsgHdr {
    hdr: sys::MsgHdr {
        name: ptr::null_mut(),
        namelen: 0,
        iov: ptr::null_mut(),
        iovlen: 0,
        control: ptr::null_mut(),
        controllen: 0,
        flags: 0,
    },
    len: 0,
};

// ---------------------------------------------------------------------------
// Opening ports.

/// An interface name as the kernel wants it: 1 to 15 bytes, NUL-padded.
/// The kernel's dev_valid_name() rules are checked here so the error names
/// the problem instead of a bare EINVAL.
fn ifname(name: &str, context: &str) -> Result<[u8; IFNAMSIZ], Fail> {
    let bad = name.is_empty()
        || name.len() >= IFNAMSIZ
        || name == "."
        || name == ".."
        || name.bytes().any(|b| b == 0 || b == b'/' || b == b':' || b.is_ascii_whitespace());
    if bad {
        return Err(Fail::Value(format!(
            "{context}: interface name must be 1 to {} bytes without '/', ':', NUL or spaces",
            IFNAMSIZ - 1
        )));
    }
    let mut out = [0u8; IFNAMSIZ];
    out[..name.len()].copy_from_slice(name.as_bytes());
    Ok(out)
}

/// "02:00:00:00:00:01" (or with '-') into six bytes.
fn parse_mac(text: &str) -> Option<[u8; 6]> {
    let mut mac = [0u8; 6];
    let mut parts = text.split([':', '-']);
    for byte in mac.iter_mut() {
        let part = parts.next()?;
        if part.len() != 2 {
            return None;
        }
        *byte = u8::from_str_radix(part, 16).ok()?;
    }
    if parts.next().is_some() { None } else { Some(mac) }
}

fn ifreq(name: [u8; IFNAMSIZ]) -> IfReq {
    IfReq { name, data: [0; 24] }
}

/// ioctl(fd, request, &ifr), errno on failure.
fn ioctl_ifreq(fd: c_int, request: c_ulong, ifr: &mut IfReq) -> Result<(), c_int> {
    // SAFETY: ifr is a live, fully initialized struct ifreq the kernel may
    // read and write; the request numbers used all take a struct ifreq.
    if unsafe { sys::ioctl(fd, request, ifr as *mut IfReq) } < 0 { Err(sys::errno()) } else { Ok(()) }
}

fn open_tun(context: &str) -> Result<Fd, Fail> {
    // std sets O_CLOEXEC; O_NONBLOCK makes reads return EAGAIN when empty.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(sys::O_NONBLOCK)
        .open("/dev/net/tun")
        .map_err(|error| sys_fail(error.raw_os_error().unwrap_or(sys::EINVAL), context, "open(/dev/net/tun)"))?;
    Ok(Fd(file.into_raw_fd()))
}

/// TUNSETIFF: creates the tap or attaches to it. Returns the name the kernel
/// settled on (the same as asked, since '%' patterns are not accepted).
fn tun_set_iff(tun: &Fd, name: [u8; IFNAMSIZ], context: &str) -> Result<[u8; IFNAMSIZ], Fail> {
    let mut ifr = ifreq(name);
    ifr.data[..2].copy_from_slice(&(sys::IFF_TAP | sys::IFF_NO_PI).to_ne_bytes());
    ioctl_ifreq(tun.0, sys::TUNSETIFF, &mut ifr).map_err(|errnum| {
        let hint = match errnum {
            sys::EINVAL => "an interface with this name exists and is not a tap",
            sys::EPERM => "needs CAP_NET_ADMIN",
            sys::EBUSY => "the tap is already open (by this or another process)",
            _ => "",
        };
        Fail::Sys { errnum, context: context.to_owned(), step: "TUNSETIFF", hint }
    })?;
    Ok(ifr.name)
}

fn tun_set_persist(tun: &Fd, on: bool, context: &str) -> Result<(), Fail> {
    // SAFETY: TUNSETPERSIST takes its argument by value, not as a pointer.
    if unsafe { sys::ioctl(tun.0, sys::TUNSETPERSIST, on as c_ulong) } < 0 {
        return Err(sys_fail(sys::errno(), context, "TUNSETPERSIST"));
    }
    Ok(())
}

fn tap_open_fd(name: &str, mtu: Option<c_int>, mac: Option<[u8; 6]>, persist: Option<bool>) -> Result<c_int, Fail> {
    let context = format!("tapOpen({name})");
    let wanted = ifname(name, &context)?;
    let tun = open_tun(&context)?;
    let name = tun_set_iff(&tun, wanted, &context)?;
    if let Some(on) = persist {
        tun_set_persist(&tun, on, &context)?;
    }

    let control = new_socket(sys::AF_INET, sys::SOCK_DGRAM | sys::SOCK_CLOEXEC)
        .map_err(|e| sys_fail(e, &context, "socket(AF_INET)"))?;
    if let Some(mtu) = mtu {
        let mut ifr = ifreq(name);
        ifr.data[..4].copy_from_slice(&mtu.to_ne_bytes());
        ioctl_ifreq(control.0, sys::SIOCSIFMTU, &mut ifr).map_err(|e| sys_fail(e, &context, "SIOCSIFMTU"))?;
    }
    if let Some(mac) = mac {
        // ifr_hwaddr is a struct sockaddr: sa_family, then the address.
        let mut ifr = ifreq(name);
        ifr.data[..2].copy_from_slice(&sys::ARPHRD_ETHER.to_ne_bytes());
        ifr.data[2..8].copy_from_slice(&mac);
        ioctl_ifreq(control.0, sys::SIOCSIFHWADDR, &mut ifr).map_err(|e| sys_fail(e, &context, "SIOCSIFHWADDR"))?;
    }
    let mut ifr = ifreq(name);
    ioctl_ifreq(control.0, sys::SIOCGIFFLAGS, &mut ifr).map_err(|e| sys_fail(e, &context, "SIOCGIFFLAGS"))?;
    let flags = i16::from_ne_bytes([ifr.data[0], ifr.data[1]]) | sys::IFF_UP;
    ifr.data[..2].copy_from_slice(&flags.to_ne_bytes());
    ioctl_ifreq(control.0, sys::SIOCSIFFLAGS, &mut ifr).map_err(|e| sys_fail(e, &context, "SIOCSIFFLAGS"))?;
    Ok(tun.release())
}

/// socket(domain, kind, 0), owned by the returned guard.
fn new_socket(domain: c_int, kind: c_int) -> Result<Fd, c_int> {
    // SAFETY: plain socket creation; the new fd is wrapped at once.
    let fd = unsafe { sys::socket(domain, kind, 0) };
    if fd < 0 { Err(sys::errno()) } else { Ok(Fd(fd)) }
}

fn if_index(name: [u8; IFNAMSIZ], context: &str) -> Result<c_int, Fail> {
    // SAFETY: name is NUL-terminated (at most 15 bytes in a 16-byte array).
    let index = unsafe { sys::if_nametoindex(name.as_ptr().cast()) };
    if index == 0 {
        return Err(sys_fail(sys::errno(), context, "if_nametoindex"));
    }
    Ok(index as c_int)
}

/// Removes a tap nobody has open, persistent or not: attach, clear the
/// persist flag, close.
fn tap_delete(name: &str) -> Result<(), Fail> {
    let context = format!("tapDelete({name})");
    let wanted = ifname(name, &context)?;
    // Without this check TUNSETIFF would create the tap it is asked to delete.
    if_index(wanted, &context)?;
    let tun = open_tun(&context)?;
    tun_set_iff(&tun, wanted, &context)?;
    tun_set_persist(&tun, false, &context)
}

fn set_int_option(fd: c_int, name: c_int, value: c_int) -> Result<(), c_int> {
    set_int_option_at(fd, sys::SOL_PACKET, name, value)
}

fn set_int_option_at(fd: c_int, level: c_int, name: c_int, value: c_int) -> Result<(), c_int> {
    // SAFETY: value is a live int and its size is passed along.
    let status =
        unsafe { sys::setsockopt(fd, level, name, (&value as *const c_int).cast(), mem::size_of::<c_int>() as u32) };
    if status < 0 { Err(sys::errno()) } else { Ok(()) }
}

/// Deepens the socket's receive queue to RCVBUF_SIZE: beyond the sysctl
/// cap (net.core.rmem_max) with CAP_NET_ADMIN, else up to the cap. Best
/// effort: a shallower queue still works, it only drops sooner.
fn deepen_receive_queue(fd: c_int) {
    if set_int_option_at(fd, sys::SOL_SOCKET, sys::SO_RCVBUFFORCE, RCVBUF_SIZE).is_err() {
        let _ = set_int_option_at(fd, sys::SOL_SOCKET, sys::SO_RCVBUF, RCVBUF_SIZE);
    }
}

fn afpacket_open_fd(name: &str, use_ring: bool) -> Result<c_int, Fail> {
    let context = format!("afpacketOpen({name})");
    let ifname_bytes = ifname(name, &context)?;
    let ifindex = if_index(ifname_bytes, &context)?;

    // Protocol 0: see the header comment on why ETH_P_ALL waits for bind().
    let sock =
        new_socket(sys::AF_PACKET, sys::SOCK_RAW | sys::SOCK_NONBLOCK | sys::SOCK_CLOEXEC).map_err(|errnum| {
            let hint = if errnum == sys::EPERM { "needs CAP_NET_RAW" } else { "" };
            Fail::Sys { errnum, context: context.clone(), step: "socket(AF_PACKET)", hint }
        })?;
    set_int_option(sock.0, sys::PACKET_AUXDATA, 1).map_err(|e| sys_fail(e, &context, "setsockopt(PACKET_AUXDATA)"))?;
    deepen_receive_queue(sock.0);
    set_int_option(sock.0, sys::PACKET_IGNORE_OUTGOING, 1).map_err(|errnum| Fail::Sys {
        errnum,
        context: context.clone(),
        step: "setsockopt(PACKET_IGNORE_OUTGOING)",
        hint: if errnum == sys::ENOPROTOOPT { "Linux 4.20 or later is needed" } else { "" },
    })?;

    // The ring goes on before bind(): nothing is queued yet, so no frame is
    // left behind in the socket queue, which poll(2) would keep reporting.
    let ring = RingGuard(sock.0, use_ring && ring::attach(sock.0, interface_mtu(sock.0, ifname_bytes)).is_ok());

    let address = sys::SockAddrLl {
        family: sys::AF_PACKET as u16,
        protocol: sys::ETH_P_ALL.to_be(),
        ifindex,
        hatype: 0,
        pkttype: 0,
        halen: 0,
        addr: [0; 8],
    };
    // SAFETY: address is a live sockaddr_ll and its size is passed along.
    let status = unsafe {
        sys::bind(sock.0, (&address as *const sys::SockAddrLl).cast(), mem::size_of::<sys::SockAddrLl>() as u32)
    };
    if status < 0 {
        return Err(sys_fail(sys::errno(), &context, "bind"));
    }

    let membership = sys::PacketMreq { ifindex, kind: sys::PACKET_MR_PROMISC, alen: 0, address: [0; 8] };
    // SAFETY: membership is a live packet_mreq and its size is passed along.
    let status = unsafe {
        sys::setsockopt(
            sock.0,
            sys::SOL_PACKET,
            sys::PACKET_ADD_MEMBERSHIP,
            (&membership as *const sys::PacketMreq).cast(),
            mem::size_of::<sys::PacketMreq>() as u32,
        )
    };
    if status < 0 {
        return Err(sys_fail(sys::errno(), &context, "setsockopt(PACKET_ADD_MEMBERSHIP)"));
    }
    ring.release();
    Ok(sock.release())
}

/// Unmaps the socket's ring when opening fails after it was attached (the
/// socket's own guard then closes the fd).
struct RingGuard(c_int, bool);

impl RingGuard {
    fn release(self) {
        mem::forget(self);
    }
}

impl Drop for RingGuard {
    fn drop(&mut self) {
        if self.1 {
            ring::detach(self.0);
        }
    }
}

/// The interface's MTU (SIOCGIFMTU), or 1500 when it cannot be read: the
/// ring's frames are sized from it.
fn interface_mtu(fd: c_int, name: [u8; IFNAMSIZ]) -> usize {
    let mut ifr = ifreq(name);
    match ioctl_ifreq(fd, sys::SIOCGIFMTU, &mut ifr) {
        Ok(()) => i32::from_ne_bytes([ifr.data[0], ifr.data[1], ifr.data[2], ifr.data[3]]).clamp(68, 65535) as usize,
        Err(_) => 1500,
    }
}

// ---------------------------------------------------------------------------
// Receive.

/// A batch's receive target, bounds already checked: `frames_max` slots of
/// `slot_size` bytes fit in `buffer`, and `lengths` has `frames_max` entries.
struct RxTarget {
    buffer: Bytes,
    slot_size: usize,
    frames_max: usize,
    lengths: Words<u32>,
}

impl RxTarget {
    fn slot(&self, index: usize) -> *mut u8 {
        self.buffer.ptr.wrapping_add(index * self.slot_size)
    }

    fn set_length(&self, index: usize, size: usize) {
        debug_assert!(index < self.frames_max);
        // SAFETY: index < frames_max <= lengths.length (checked on entry).
        unsafe { self.lengths.ptr.add(index).write(cmp::min(size, u32::MAX as usize) as u32) };
    }
}

/// One readv(2) per frame until EAGAIN. tun cuts a frame longer than the
/// buffer and returns only what it copied, so the frame's tail goes to a
/// scratch area: a result above slot_size is then the frame's real length.
fn tap_recv(fd: c_int, rx: &RxTarget) -> Result<usize, (c_int, &'static str)> {
    let mut overflow = mem::MaybeUninit::<[u8; TAP_OVERFLOW_SIZE]>::uninit();
    let mut count = 0;
    while count < rx.frames_max {
        let iov = [
            sys::IoVec { base: rx.slot(count).cast(), len: rx.slot_size },
            sys::IoVec { base: overflow.as_mut_ptr().cast(), len: TAP_OVERFLOW_SIZE },
        ];
        // SAFETY: slot `count` lies inside the buffer (count < frames_max);
        // the overflow area is a local the kernel may fill (never read).
        let size = unsafe { sys::readv(fd, iov.as_ptr(), iov.len() as c_int) };
        if size < 0 {
            let errnum = sys::errno();
            if errnum == sys::EINTR {
                continue;
            }
            // With frames in hand, a persistent error is reported next call.
            if errnum == sys::EAGAIN || count > 0 {
                break;
            }
            return Err((errnum, "readv"));
        }
        if size == 0 {
            break;
        }
        rx.set_length(count, size as usize);
        count += 1;
    }
    Ok(count)
}

impl ring::Slots for RxTarget {
    fn frames_max(&self) -> usize {
        self.frames_max
    }
    fn slot_size(&self) -> usize {
        self.slot_size
    }
    fn slot(&self, index: usize) -> *mut u8 {
        RxTarget::slot(self, index)
    }
    fn set_length(&self, index: usize, size: usize) {
        RxTarget::set_length(self, index, size)
    }
}

/// From the socket's receive ring when it has one (see ring.rs), else one
/// recvmmsg(2) per CHUNK_FRAMES frames until fewer arrive than asked.
fn packet_recv(fd: c_int, rx: &RxTarget) -> Result<usize, (c_int, &'static str)> {
    if let Some(count) = ring::receive(fd, rx, reinsert_vlan) {
        return Ok(count);
    }
    let mut iov = [EMPTY_IOVEC; CHUNK_FRAMES];
    let mut msgs = [EMPTY_MMSG; CHUNK_FRAMES];
    let mut control = [Control([0; CONTROL_SIZE]); CHUNK_FRAMES];
    let mut count = 0;
    while count < rx.frames_max {
        let want = cmp::min(rx.frames_max - count, CHUNK_FRAMES);
        for j in 0..want {
            iov[j] = sys::IoVec { base: rx.slot(count + j).cast(), len: rx.slot_size };
            msgs[j] = EMPTY_MMSG;
            msgs[j].hdr.iov = iov.as_mut_ptr().wrapping_add(j);
            msgs[j].hdr.iovlen = 1;
            msgs[j].hdr.control = control[j].0.as_mut_ptr().cast();
            msgs[j].hdr.controllen = CONTROL_SIZE;
        }
        // SAFETY: msgs[..want] point at iov entries and control buffers on
        // this stack frame, and each iov entry covers one slot inside the
        // checked buffer. MSG_TRUNC makes msg_len the frame's full length.
        let got = unsafe {
            sys::recvmmsg(fd, msgs.as_mut_ptr(), want as c_uint, sys::MSG_DONTWAIT | sys::MSG_TRUNC, ptr::null_mut())
        };
        if got < 0 {
            let errnum = sys::errno();
            if errnum == sys::EINTR {
                continue;
            }
            if errnum == sys::EAGAIN || count > 0 {
                break;
            }
            return Err((errnum, "recvmmsg"));
        }
        let got = got as usize;
        for j in 0..got {
            let mut size = msgs[j].len as usize;
            if let Some((tpid, tci)) = vlan_tag(&control[j].0, msgs[j].hdr.controllen) {
                size = reinsert_vlan(rx.slot(count + j), size, rx.slot_size, tpid, tci);
            }
            rx.set_length(count + j, size);
        }
        count += got;
        if got < want {
            break;
        }
    }
    Ok(count)
}

/// The VLAN tag the kernel took off a frame, from its PACKET_AUXDATA
/// control message: (TPID, TCI), or None for an untagged frame.
fn vlan_tag(control: &[u8; CONTROL_SIZE], used: usize) -> Option<(u16, u16)> {
    let used = cmp::min(used, CONTROL_SIZE);
    let u16_at = |at: usize| u16::from_ne_bytes([control[at], control[at + 1]]);
    let u32_at = |at: usize| u32::from_ne_bytes([control[at], control[at + 1], control[at + 2], control[at + 3]]);
    let usize_at = |at: usize| {
        u64::from_ne_bytes([
            control[at],
            control[at + 1],
            control[at + 2],
            control[at + 3],
            control[at + 4],
            control[at + 5],
            control[at + 6],
            control[at + 7],
        ]) as usize
    };
    let mut at = 0;
    while at + sys::CMSG_HEADER_SIZE <= used {
        let size = usize_at(at); // cmsg_len: size_t
        let level = u32_at(at + 8) as c_int;
        let kind = u32_at(at + 12) as c_int;
        if size < sys::CMSG_HEADER_SIZE || at + size > used {
            return None;
        }
        if level == sys::SOL_PACKET
            && kind == sys::PACKET_AUXDATA
            && size >= sys::CMSG_HEADER_SIZE + sys::TPACKET_AUXDATA_SIZE
        {
            let data = at + sys::CMSG_HEADER_SIZE;
            let status = u32_at(data + sys::AUXDATA_STATUS_AT);
            if status & sys::TP_STATUS_VLAN_VALID == 0 {
                return None;
            }
            let tci = u16_at(data + sys::AUXDATA_VLAN_TCI_AT);
            let tpid = if status & sys::TP_STATUS_VLAN_TPID_VALID != 0 {
                u16_at(data + sys::AUXDATA_VLAN_TPID_AT)
            } else {
                ETHERTYPE_VLAN
            };
            return Some((tpid, tci));
        }
        at += (size + 7) & !7;
    }
    None
}

/// Puts a 802.1Q tag back after the MAC addresses of the frame in `slot`.
/// Returns the tagged frame's length, which exceeds `slot_size` (and the
/// frame is then left as is, to be dropped) when the tag does not fit.
fn reinsert_vlan(slot: *mut u8, size: usize, slot_size: usize, tpid: u16, tci: u16) -> usize {
    let tagged = size + VLAN_HEADER_SIZE;
    if size < ETH_ADDRS_SIZE || tagged > slot_size {
        return if size < ETH_ADDRS_SIZE { size } else { tagged };
    }
    let tag = [(tpid >> 8) as u8, tpid as u8, (tci >> 8) as u8, tci as u8];
    // SAFETY: size + 4 <= slot_size, so the moved bytes [12, size) ->
    // [16, size + 4) and the tag at [12, 16) stay inside this frame's slot;
    // ptr::copy allows the overlap.
    unsafe {
        ptr::copy(slot.add(ETH_ADDRS_SIZE), slot.add(ETH_ADDRS_SIZE + VLAN_HEADER_SIZE), size - ETH_ADDRS_SIZE);
        ptr::copy_nonoverlapping(tag.as_ptr(), slot.add(ETH_ADDRS_SIZE), VLAN_HEADER_SIZE);
    }
    tagged
}

// ---------------------------------------------------------------------------
// Transmit.

/// A batch's frames: frame i is lengths[i] bytes at offsets[i] of buffer.
/// Offsets and lengths are JS memory another thread could change, so each
/// is read once, checked and used as read.
struct TxSource {
    buffer: Bytes,
    offsets: Words<u32>,
    lengths: Words<u32>,
}

impl TxSource {
    fn frame(&self, index: usize) -> Result<(*mut u8, usize), Fail> {
        // SAFETY: index < count <= offsets.length, lengths.length (checked on entry).
        let (offset, size) =
            unsafe { (self.offsets.ptr.add(index).read() as usize, self.lengths.ptr.add(index).read() as usize) };
        if offset + size > self.buffer.size {
            return Err(Fail::Range(format!(
                "frame {index}: offset {offset} + length {size} exceeds the buffer's {} bytes",
                self.buffer.size
            )));
        }
        Ok((self.buffer.ptr.wrapping_add(offset), size))
    }
}

/// What a failed transmit means for the rest of the batch.
enum TxError {
    /// The queue is full: stop, the caller drops the rest.
    Full,
    /// The kernel refused this one frame (too long, too short): skip it.
    Refused,
    /// The port is broken (down, gone): report it.
    Broken(c_int),
}

fn tx_error(errnum: c_int) -> TxError {
    match errnum {
        sys::EAGAIN | sys::ENOBUFS => TxError::Full,
        sys::EMSGSIZE | sys::EINVAL => TxError::Refused,
        _ => TxError::Broken(errnum),
    }
}

fn tap_send(fd: c_int, tx: &TxSource, count: usize) -> Result<usize, Fail> {
    let mut sent = 0;
    let mut index = 0;
    while index < count {
        let (frame, size) = tx.frame(index)?;
        // SAFETY: [frame, frame + size) lies inside the buffer (checked).
        let written = unsafe { sys::write(fd, frame.cast::<c_void>(), size) };
        if written >= 0 {
            sent += 1;
            index += 1;
            continue;
        }
        let errnum = sys::errno();
        if errnum == sys::EINTR {
            continue;
        }
        match tx_error(errnum) {
            TxError::Full => break,
            TxError::Refused => index += 1,
            TxError::Broken(_) if index > 0 => break,
            TxError::Broken(errnum) => return Err(sys_fail(errnum, &format!("sendBatch(fd {fd})"), "write")),
        }
    }
    Ok(sent)
}

fn packet_send(fd: c_int, tx: &TxSource, count: usize) -> Result<usize, Fail> {
    let mut iov = [EMPTY_IOVEC; CHUNK_FRAMES];
    let mut msgs = [EMPTY_MMSG; CHUNK_FRAMES];
    let mut sent = 0;
    let mut index = 0; // the first frame not handed to the kernel yet
    while index < count {
        let want = cmp::min(count - index, CHUNK_FRAMES);
        for j in 0..want {
            let (frame, size) = tx.frame(index + j)?;
            iov[j] = sys::IoVec { base: frame.cast(), len: size };
            msgs[j] = EMPTY_MMSG;
            msgs[j].hdr.iov = iov.as_mut_ptr().wrapping_add(j);
            msgs[j].hdr.iovlen = 1;
        }
        // SAFETY: msgs[..want] point at iov entries on this stack frame, each
        // covering a frame inside the checked buffer. The socket is bound,
        // so no destination address is needed.
        let done = unsafe { sys::sendmmsg(fd, msgs.as_mut_ptr(), want as c_uint, sys::MSG_DONTWAIT) };
        if done >= 0 {
            // A short count means frame index + done failed; the next call
            // reports why.
            sent += done as usize;
            index += done as usize;
            continue;
        }
        let errnum = sys::errno();
        if errnum == sys::EINTR {
            continue;
        }
        match tx_error(errnum) {
            TxError::Full => break,
            TxError::Refused => index += 1,
            TxError::Broken(_) if index > 0 => break,
            TxError::Broken(errnum) => return Err(sys_fail(errnum, &format!("sendBatch(fd {fd})"), "sendmmsg")),
        }
    }
    Ok(sent)
}

// ---------------------------------------------------------------------------
// The exports: argument checks, then the functions above.

fn fd_arg(env: Env, value: Value) -> Result<c_int, Fail> {
    Ok(napi::integer(env, value, "fd", 0, i32::MAX as i64)? as c_int)
}

fn kind_arg(env: Env, value: Value) -> Result<i64, Fail> {
    napi::integer(env, value, "kind", KIND_TAP, KIND_AFPACKET)
}

fn tap_open(args: &Args) -> Result<Value, Fail> {
    let env = args.env;
    let name = napi::string(env, args.get(0), "name", 64)?;
    let (mut mtu, mut mac, mut persist) = (None, None, None);
    let options = args.get(1);
    if !napi::is_nullish(env, options)? {
        let value = napi::property(env, options, c"mtu")?;
        if !napi::is_nullish(env, value)? {
            mtu = Some(napi::integer(env, value, "options.mtu", 68, 65535)? as c_int);
        }
        let value = napi::property(env, options, c"mac")?;
        if !napi::is_nullish(env, value)? {
            let text = napi::string(env, value, "options.mac", 64)?;
            mac =
                Some(parse_mac(&text).ok_or_else(|| {
                    Fail::Value(format!("options.mac must look like 02:00:00:00:00:01, got {text:?}"))
                })?);
        }
        let value = napi::property(env, options, c"persist")?;
        if !napi::is_nullish(env, value)? {
            persist = Some(napi::boolean(env, value, "options.persist")?);
        }
    }
    napi::create_i32(env, tap_open_fd(&name, mtu, mac, persist)?)
}

fn tap_delete_export(args: &Args) -> Result<Value, Fail> {
    let name = napi::string(args.env, args.get(0), "name", 64)?;
    tap_delete(&name)?;
    napi::undefined(args.env)
}

fn afpacket_open(args: &Args) -> Result<Value, Fail> {
    let env = args.env;
    let name = napi::string(env, args.get(0), "ifname", 64)?;
    let mut use_ring = true;
    let options = args.get(1);
    if !napi::is_nullish(env, options)? {
        let value = napi::property(env, options, c"ring")?;
        if !napi::is_nullish(env, value)? {
            use_ring = napi::boolean(env, value, "options.ring")?;
        }
    }
    napi::create_i32(env, afpacket_open_fd(&name, use_ring)?)
}

fn recv_batch(args: &Args) -> Result<Value, Fail> {
    let env = args.env;
    let fd = fd_arg(env, args.get(0))?;
    let kind = kind_arg(env, args.get(1))?;
    let buffer = napi::bytes(env, args.get(2), "buffer")?;
    let slot_size = napi::integer(env, args.get(3), "slotSize", 1, u32::MAX as i64)? as usize;
    let frames_max = napi::integer(env, args.get(4), "framesMax", 0, u32::MAX as i64)? as usize;
    let lengths = napi::u32_array(env, args.get(5), "lengths")?;
    if frames_max > lengths.length {
        return Err(Fail::Range(format!("framesMax {frames_max} exceeds lengths.length {}", lengths.length)));
    }
    if frames_max.checked_mul(slot_size).is_none_or(|size| size > buffer.size) {
        return Err(Fail::Range(format!(
            "framesMax {frames_max} * slotSize {slot_size} exceeds the buffer's {} bytes",
            buffer.size
        )));
    }
    let rx = RxTarget { buffer, slot_size, frames_max, lengths };
    let result = if kind == KIND_TAP { tap_recv(fd, &rx) } else { packet_recv(fd, &rx) };
    let count = result.map_err(|(errnum, step)| sys_fail(errnum, &format!("recvBatch(fd {fd})"), step))?;
    napi::create_u32(env, count as u32)
}

fn send_batch(args: &Args) -> Result<Value, Fail> {
    let env = args.env;
    let fd = fd_arg(env, args.get(0))?;
    let kind = kind_arg(env, args.get(1))?;
    let buffer = napi::bytes(env, args.get(2), "buffer")?;
    let offsets = napi::u32_array(env, args.get(3), "offsets")?;
    let lengths = napi::u32_array(env, args.get(4), "lengths")?;
    let count = napi::integer(env, args.get(5), "count", 0, u32::MAX as i64)? as usize;
    if count > offsets.length || count > lengths.length {
        return Err(Fail::Range(format!(
            "count {count} exceeds offsets.length {} or lengths.length {}",
            offsets.length, lengths.length
        )));
    }
    let tx = TxSource { buffer, offsets, lengths };
    let sent = if kind == KIND_TAP { tap_send(fd, &tx, count)? } else { packet_send(fd, &tx, count)? };
    napi::create_u32(env, sent as u32)
}

fn wait_readable(args: &Args) -> Result<Value, Fail> {
    let env = args.env;
    let fds = napi::i32_array(env, args.get(0), "fds")?;
    let timeout_ms = napi::integer(env, args.get(1), "timeoutMs", -1, i32::MAX as i64)? as c_int;
    if fds.length > WAIT_FDS_MAX {
        return Err(Fail::Range(format!("fds.length {} exceeds {WAIT_FDS_MAX}", fds.length)));
    }
    let mut polled = [sys::PollFd { fd: -1, events: 0, revents: 0 }; WAIT_FDS_MAX];
    for (index, entry) in polled.iter_mut().enumerate().take(fds.length) {
        // SAFETY: index < fds.length.
        entry.fd = unsafe { fds.ptr.add(index).read() };
        entry.events = sys::POLLIN;
    }
    // SAFETY: polled holds fds.length initialized entries. Negative fds are
    // ignored by poll(2).
    let ready = unsafe { sys::poll(polled.as_mut_ptr(), fds.length as c_ulong, timeout_ms) };
    if ready < 0 {
        let errnum = sys::errno();
        if errnum == sys::EINTR {
            return napi::create_u32(env, 0);
        }
        return Err(sys_fail(errnum, "waitReadable", "poll"));
    }
    let mut mask = 0u32;
    for (index, entry) in polled.iter().enumerate().take(fds.length) {
        if entry.revents & sys::POLLNVAL != 0 {
            return Err(sys_fail(sys::EBADF, &format!("waitReadable(fd {})", entry.fd), "poll"));
        }
        if entry.revents & (sys::POLLIN | sys::POLLERR | sys::POLLHUP) != 0 {
            mask |= 1 << index;
        }
    }
    napi::create_u32(env, mask)
}

fn close_export(args: &Args) -> Result<Value, Fail> {
    let fd = fd_arg(args.env, args.get(0))?;
    ring::detach(fd);
    // SAFETY: closing an fd JS owns; a wrong fd fails with EBADF.
    if unsafe { sys::close(fd) } < 0 {
        let errnum = sys::errno();
        // Linux has released the fd even when close reports EINTR.
        if errnum != sys::EINTR {
            return Err(sys_fail(errnum, &format!("close(fd {fd})"), "close"));
        }
    }
    napi::undefined(args.env)
}

macro_rules! callback {
    ($name:ident, $body:ident) => {
        extern "C" fn $name(env: Env, info: CallbackInfo) -> Value {
            napi::run(env, info, $body)
        }
    };
}

callback!(tap_open_cb, tap_open);
callback!(tap_delete_cb, tap_delete_export);
callback!(afpacket_open_cb, afpacket_open);
callback!(recv_batch_cb, recv_batch);
callback!(send_batch_cb, send_batch);
callback!(wait_readable_cb, wait_readable);
callback!(close_cb, close_export);

fn register(env: Env, exports: Value) -> Result<(), Fail> {
    napi::export_function(env, exports, c"tapOpen", tap_open_cb)?;
    napi::export_function(env, exports, c"tapDelete", tap_delete_cb)?;
    napi::export_function(env, exports, c"afpacketOpen", afpacket_open_cb)?;
    napi::export_function(env, exports, c"recvBatch", recv_batch_cb)?;
    napi::export_function(env, exports, c"sendBatch", send_batch_cb)?;
    napi::export_function(env, exports, c"waitReadable", wait_readable_cb)?;
    napi::export_function(env, exports, c"close", close_cb)?;
    napi::export_u32(env, exports, c"abiVersion", ABI_VERSION)?;
    napi::export_u32(env, exports, c"kindTap", KIND_TAP as u32)?;
    napi::export_u32(env, exports, c"kindAfpacket", KIND_AFPACKET as u32)?;
    Ok(())
}

/// Node looks this symbol up after dlopen() and calls it once per JS
/// environment (main thread, each Worker) that loads the addon.
///
/// # Safety
/// Called by Node with a live environment and its exports object.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn napi_register_module_v1(env: Env, exports: Value) -> Value {
    match register(env, exports) {
        Ok(()) => exports,
        Err(fail) => {
            napi::throw(env, fail);
            ptr::null_mut()
        }
    }
}
