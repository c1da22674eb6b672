//! The slice of the Linux / glibc ABI the addon uses, declared by hand because
//! the crate has no dependencies (no `libc` crate).
//!
//! Layouts are those of 64-bit Linux with glibc (x86_64, aarch64): `size_t`
//! and pointers are 8 bytes, `socklen_t` is 4, and `#[repr(C)]` inserts the
//! same padding a C compiler would. The ioctl numbers use the generic
//! `_IOC` encoding of x86 and arm; powerpc, mips and sparc encode them
//! differently and are not supported.

use core::ffi::{c_char, c_int, c_short, c_uint, c_ulong, c_void};

pub const O_NONBLOCK: c_int = 0o4000;

pub const AF_INET: c_int = 2;
pub const AF_PACKET: c_int = 17;
pub const SOCK_DGRAM: c_int = 2;
pub const SOCK_RAW: c_int = 3;
pub const SOCK_NONBLOCK: c_int = 0o4000;
pub const SOCK_CLOEXEC: c_int = 0o2000000;

pub const SOL_SOCKET: c_int = 1;
pub const SO_RCVBUF: c_int = 8;
pub const SO_RCVBUFFORCE: c_int = 33;

pub const SOL_PACKET: c_int = 263;
pub const PACKET_RX_RING: c_int = 5;
pub const PACKET_VERSION: c_int = 10;
pub const TPACKET_V2: c_int = 1;
pub const TP_STATUS_USER: u32 = 0x1;
pub const TP_STATUS_KERNEL: u32 = 0x0;

pub const PROT_READ: c_int = 0x1;
pub const PROT_WRITE: c_int = 0x2;
pub const MAP_SHARED: c_int = 0x01;
pub const MAP_FAILED: *mut c_void = !0usize as *mut c_void;
pub const SIOCGIFMTU: c_ulong = 0x8921;
pub const PACKET_ADD_MEMBERSHIP: c_int = 1;
pub const PACKET_MR_PROMISC: u16 = 1;
pub const PACKET_AUXDATA: c_int = 8;
pub const PACKET_IGNORE_OUTGOING: c_int = 23;
pub const ETH_P_ALL: u16 = 0x0003;
/// `tpacket_auxdata.tp_status` bits: the kernel took a VLAN tag off the frame.
pub const TP_STATUS_VLAN_VALID: u32 = 0x10;
pub const TP_STATUS_VLAN_TPID_VALID: u32 = 0x40;

pub const MSG_TRUNC: c_int = 0x20;
pub const MSG_DONTWAIT: c_int = 0x40;

pub const POLLIN: c_short = 0x001;
pub const POLLERR: c_short = 0x008;
pub const POLLHUP: c_short = 0x010;
pub const POLLNVAL: c_short = 0x020;

/// `_IOW('T', 202, int)` and `_IOW('T', 203, int)` from <linux/if_tun.h>.
pub const TUNSETIFF: c_ulong = 0x4004_54ca;
pub const TUNSETPERSIST: c_ulong = 0x4004_54cb;
pub const IFF_TAP: c_short = 0x0002;
pub const IFF_NO_PI: c_short = 0x1000;

pub const SIOCGIFFLAGS: c_ulong = 0x8913;
pub const SIOCSIFFLAGS: c_ulong = 0x8914;
pub const SIOCSIFMTU: c_ulong = 0x8922;
pub const SIOCSIFHWADDR: c_ulong = 0x8924;
pub const IFF_UP: c_short = 0x1;
pub const ARPHRD_ETHER: u16 = 1;
pub const IFNAMSIZ: usize = 16;

pub const EPERM: c_int = 1;
pub const EINTR: c_int = 4;
pub const EBADF: c_int = 9;
pub const EBUSY: c_int = 16;
pub const EAGAIN: c_int = 11;
pub const EINVAL: c_int = 22;
pub const EMSGSIZE: c_int = 90;
pub const ENOPROTOOPT: c_int = 92;
pub const ENOBUFS: c_int = 105;

#[repr(C)]
#[derive(Clone, Copy)]
pub struct IoVec {
    pub base: *mut c_void,
    pub len: usize,
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct MsgHdr {
    pub name: *mut c_void,
    pub namelen: u32,
    pub iov: *mut IoVec,
    pub iovlen: usize,
    pub control: *mut c_void,
    pub controllen: usize,
    pub flags: c_int,
}

/// `struct mmsghdr`: one message of a recvmmsg/sendmmsg batch; the kernel
/// writes the message's byte count into `len`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct MMsgHdr {
    pub hdr: MsgHdr,
    pub len: c_uint,
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct PollFd {
    pub fd: c_int,
    pub events: c_short,
    pub revents: c_short,
}

/// `struct ifreq`: a NUL-terminated name, then a 24-byte union whose first
/// bytes are the `short` flags, the `int` MTU or the `sockaddr` hardware
/// address, depending on the request.
#[repr(C)]
pub struct IfReq {
    pub name: [u8; IFNAMSIZ],
    pub data: [u8; 24],
}

#[repr(C)]
pub struct SockAddrLl {
    pub family: u16,
    pub protocol: u16,
    pub ifindex: c_int,
    pub hatype: u16,
    pub pkttype: u8,
    pub halen: u8,
    pub addr: [u8; 8],
}

/// `struct tpacket_req`: the geometry of a PACKET_RX_RING.
#[repr(C)]
pub struct TpacketReq {
    pub block_size: c_uint,
    pub block_nr: c_uint,
    pub frame_size: c_uint,
    pub frame_nr: c_uint,
}

/// `struct tpacket2_hdr` field offsets: status, len, snaplen (u32), mac,
/// net (u16), sec, nsec (u32), vlan_tci, vlan_tpid (u16), 4 bytes padding.
pub const TPACKET2_STATUS_AT: usize = 0;
pub const TPACKET2_LEN_AT: usize = 4;
pub const TPACKET2_SNAPLEN_AT: usize = 8;
pub const TPACKET2_MAC_AT: usize = 12;
pub const TPACKET2_VLAN_TCI_AT: usize = 24;
pub const TPACKET2_VLAN_TPID_AT: usize = 26;

#[repr(C)]
pub struct PacketMreq {
    pub ifindex: c_int,
    pub kind: u16,
    pub alen: u16,
    pub address: [u8; 8],
}

/// `struct cmsghdr` is followed by its data at the next 8-byte boundary.
pub const CMSG_HEADER_SIZE: usize = 16;
/// `struct tpacket_auxdata`: status, len, snaplen (u32); mac, net, vlan_tci,
/// vlan_tpid (u16).
pub const TPACKET_AUXDATA_SIZE: usize = 20;
pub const AUXDATA_STATUS_AT: usize = 0;
pub const AUXDATA_VLAN_TCI_AT: usize = 16;
pub const AUXDATA_VLAN_TPID_AT: usize = 18;

unsafe extern "C" {
    pub fn close(fd: c_int) -> c_int;
    pub fn ioctl(fd: c_int, request: c_ulong, ...) -> c_int;
    pub fn socket(domain: c_int, kind: c_int, protocol: c_int) -> c_int;
    pub fn bind(fd: c_int, addr: *const c_void, addr_size: u32) -> c_int;
    pub fn setsockopt(fd: c_int, level: c_int, name: c_int, value: *const c_void, value_size: u32) -> c_int;
    pub fn recvmmsg(fd: c_int, msgs: *mut MMsgHdr, vlen: c_uint, flags: c_int, timeout: *mut c_void) -> c_int;
    pub fn sendmmsg(fd: c_int, msgs: *mut MMsgHdr, vlen: c_uint, flags: c_int) -> c_int;
    pub fn readv(fd: c_int, iov: *const IoVec, iovcnt: c_int) -> isize;
    pub fn write(fd: c_int, buf: *const c_void, count: usize) -> isize;
    pub fn poll(fds: *mut PollFd, nfds: c_ulong, timeout_ms: c_int) -> c_int;
    pub fn mmap(addr: *mut c_void, size: usize, prot: c_int, flags: c_int, fd: c_int, offset: i64) -> *mut c_void;
    pub fn munmap(addr: *mut c_void, size: usize) -> c_int;
    pub fn if_nametoindex(name: *const c_char) -> c_uint;
    pub fn __errno_location() -> *mut c_int;
    pub fn strerror(errnum: c_int) -> *const c_char;
}

/// The calling thread's errno, read right after a failed call.
pub fn errno() -> c_int {
    // SAFETY: __errno_location always returns a valid pointer to this
    // thread's errno.
    unsafe { *__errno_location() }
}

/// The errno's symbolic name, the `code` of the JS error (as Node's own
/// `fs` and `net` errors use).
pub fn errno_name(errnum: c_int) -> Option<&'static str> {
    Some(match errnum {
        1 => "EPERM",
        2 => "ENOENT",
        3 => "ESRCH",
        4 => "EINTR",
        5 => "EIO",
        6 => "ENXIO",
        7 => "E2BIG",
        9 => "EBADF",
        11 => "EAGAIN",
        12 => "ENOMEM",
        13 => "EACCES",
        14 => "EFAULT",
        16 => "EBUSY",
        17 => "EEXIST",
        19 => "ENODEV",
        20 => "ENOTDIR",
        22 => "EINVAL",
        23 => "ENFILE",
        24 => "EMFILE",
        25 => "ENOTTY",
        28 => "ENOSPC",
        34 => "ERANGE",
        36 => "ENAMETOOLONG",
        38 => "ENOSYS",
        77 => "EBADFD",
        88 => "ENOTSOCK",
        90 => "EMSGSIZE",
        91 => "EPROTOTYPE",
        92 => "ENOPROTOOPT",
        93 => "EPROTONOSUPPORT",
        95 => "EOPNOTSUPP",
        97 => "EAFNOSUPPORT",
        98 => "EADDRINUSE",
        99 => "EADDRNOTAVAIL",
        100 => "ENETDOWN",
        101 => "ENETUNREACH",
        105 => "ENOBUFS",
        _ => return None,
    })
}

/// strerror(3)'s text. glibc returns a pointer to a constant string for
/// every known errno, so this is safe to call from Worker threads.
pub fn errno_text(errnum: c_int) -> String {
    // SAFETY: strerror returns a NUL-terminated string that stays valid at
    // least until the next strerror call on this thread; it is copied at once.
    unsafe {
        let text = strerror(errnum);
        if text.is_null() {
            return String::from("unknown error");
        }
        core::ffi::CStr::from_ptr(text).to_string_lossy().into_owned()
    }
}
