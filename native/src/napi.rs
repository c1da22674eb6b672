//! The slice of Node-API (N-API) the addon uses, declared by hand (the crate
//! has no dependencies), and the small helpers that turn JS arguments into
//! Rust values and `Fail`s into thrown JS errors.
//!
//! The N-API functions are exported by the `node` executable; the addon is a
//! shared object whose undefined `napi_*` symbols the dynamic loader binds to
//! them when Node dlopen()s it (Linux allows undefined symbols in a shared
//! object by default). Only functions of N-API version 1..8 are used, which
//! Node 20 provides.

use core::ffi::{CStr, c_char, c_int, c_void};
use core::ptr;

use crate::sys;

pub type Env = *mut c_void;
pub type Value = *mut c_void;
pub type CallbackInfo = *mut c_void;
pub type Callback = unsafe extern "C" fn(Env, CallbackInfo) -> Value;
type Status = c_int;

const NAPI_OK: Status = 0;
const TYPE_NUMBER: c_int = 3;
const TYPE_STRING: c_int = 4;
const TYPE_OBJECT: c_int = 6;
const TYPE_UNDEFINED: c_int = 0;
const TYPE_NULL: c_int = 1;
const TYPE_BOOLEAN: c_int = 2;
const TYPEDARRAY_UINT8: c_int = 1;
const TYPEDARRAY_INT32: c_int = 5;
const TYPEDARRAY_UINT32: c_int = 6;

/// Arguments read per call: the widest export (sendBatch) takes 6.
const ARGS_MAX: usize = 8;

unsafe extern "C" {
    fn napi_get_cb_info(
        env: Env,
        info: CallbackInfo,
        argc: *mut usize,
        argv: *mut Value,
        this_arg: *mut Value,
        data: *mut *mut c_void,
    ) -> Status;
    fn napi_create_function(
        env: Env,
        name: *const c_char,
        name_size: usize,
        cb: Option<Callback>,
        data: *mut c_void,
        result: *mut Value,
    ) -> Status;
    fn napi_set_named_property(env: Env, object: Value, name: *const c_char, value: Value) -> Status;
    fn napi_get_named_property(env: Env, object: Value, name: *const c_char, result: *mut Value) -> Status;
    fn napi_typeof(env: Env, value: Value, result: *mut c_int) -> Status;
    fn napi_get_value_double(env: Env, value: Value, result: *mut f64) -> Status;
    fn napi_get_value_bool(env: Env, value: Value, result: *mut bool) -> Status;
    fn napi_get_value_string_utf8(
        env: Env,
        value: Value,
        buf: *mut c_char,
        buf_size: usize,
        result: *mut usize,
    ) -> Status;
    fn napi_is_arraybuffer(env: Env, value: Value, result: *mut bool) -> Status;
    fn napi_get_arraybuffer_info(env: Env, value: Value, data: *mut *mut c_void, size: *mut usize) -> Status;
    fn napi_is_typedarray(env: Env, value: Value, result: *mut bool) -> Status;
    fn napi_get_typedarray_info(
        env: Env,
        value: Value,
        kind: *mut c_int,
        length: *mut usize,
        data: *mut *mut c_void,
        arraybuffer: *mut Value,
        byte_offset: *mut usize,
    ) -> Status;
    fn napi_create_uint32(env: Env, value: u32, result: *mut Value) -> Status;
    fn napi_create_int32(env: Env, value: i32, result: *mut Value) -> Status;
    fn napi_create_string_utf8(env: Env, text: *const c_char, size: usize, result: *mut Value) -> Status;
    fn napi_create_error(env: Env, code: Value, msg: Value, result: *mut Value) -> Status;
    fn napi_create_type_error(env: Env, code: Value, msg: Value, result: *mut Value) -> Status;
    fn napi_create_range_error(env: Env, code: Value, msg: Value, result: *mut Value) -> Status;
    fn napi_throw(env: Env, error: Value) -> Status;
    fn napi_throw_error(env: Env, code: *const c_char, msg: *const c_char) -> Status;
    fn napi_is_exception_pending(env: Env, result: *mut bool) -> Status;
    fn napi_get_undefined(env: Env, result: *mut Value) -> Status;
}

/// Why a call failed; `throw` turns it into the JS error the caller sees.
pub enum Fail {
    /// An argument of the wrong type: TypeError, code ERR_INVALID_ARG_TYPE.
    Type(String),
    /// An argument with a value that cannot work (a malformed MAC, an
    /// impossible interface name): TypeError, code ERR_INVALID_ARG_VALUE.
    Value(String),
    /// An argument out of its range: RangeError, code ERR_OUT_OF_RANGE.
    Range(String),
    /// A system call failed: Error whose `code` is the errno name, whose
    /// message reads `<context>: <step>: <ENAME> (<strerror>)[: <hint>]`.
    Sys { errnum: c_int, context: String, step: &'static str, hint: &'static str },
    /// An N-API call failed (an exception may already be pending).
    Napi(&'static str),
}

pub fn sys_fail(errnum: c_int, context: &str, step: &'static str) -> Fail {
    Fail::Sys { errnum, context: context.to_owned(), step, hint: "" }
}

fn check(status: Status, what: &'static str) -> Result<(), Fail> {
    if status == NAPI_OK { Ok(()) } else { Err(Fail::Napi(what)) }
}

/// A byte range of JS memory (an ArrayBuffer or a TypedArray's window).
/// Kept as a raw pointer: the memory belongs to JS and may be a
/// SharedArrayBuffer that other threads write, so no Rust reference to it is
/// ever formed; only the kernel and `ptr` reads/writes touch it.
#[derive(Clone, Copy)]
pub struct Bytes {
    pub ptr: *mut u8,
    pub size: usize,
}

/// A TypedArray of 32-bit elements, as a raw pointer for the same reason.
#[derive(Clone, Copy)]
pub struct Words<T> {
    pub ptr: *mut T,
    pub length: usize,
}

pub struct Args {
    pub env: Env,
    argv: [Value; ARGS_MAX],
}

impl Args {
    /// Argument `index`; N-API fills missing ones with `undefined`.
    pub fn get(&self, index: usize) -> Value {
        self.argv[index]
    }
}

fn args(env: Env, info: CallbackInfo) -> Result<Args, Fail> {
    let mut argv = [ptr::null_mut(); ARGS_MAX];
    let mut argc = ARGS_MAX;
    // SAFETY: argv has room for argc values; this_arg and data may be null.
    let status = unsafe { napi_get_cb_info(env, info, &mut argc, argv.as_mut_ptr(), ptr::null_mut(), ptr::null_mut()) };
    check(status, "napi_get_cb_info")?;
    Ok(Args { env, argv })
}

fn type_of(env: Env, value: Value) -> Result<c_int, Fail> {
    let mut kind = 0;
    // SAFETY: value is a live handle from this call's scope.
    check(unsafe { napi_typeof(env, value, &mut kind) }, "napi_typeof")?;
    Ok(kind)
}

/// True for `undefined` and `null`: an optional argument left out.
pub fn is_nullish(env: Env, value: Value) -> Result<bool, Fail> {
    let kind = type_of(env, value)?;
    Ok(kind == TYPE_UNDEFINED || kind == TYPE_NULL)
}

/// An integral number within `[min, max]`.
pub fn integer(env: Env, value: Value, what: &str, min: i64, max: i64) -> Result<i64, Fail> {
    if type_of(env, value)? != TYPE_NUMBER {
        return Err(Fail::Type(format!("{what} must be a number")));
    }
    let mut number = 0.0;
    // SAFETY: value was just checked to be a number.
    check(unsafe { napi_get_value_double(env, value, &mut number) }, "napi_get_value_double")?;
    if number.fract() != 0.0 || number < min as f64 || number > max as f64 {
        return Err(Fail::Range(format!("{what} must be an integer in [{min}, {max}], got {number}")));
    }
    Ok(number as i64)
}

pub fn boolean(env: Env, value: Value, what: &str) -> Result<bool, Fail> {
    if type_of(env, value)? != TYPE_BOOLEAN {
        return Err(Fail::Type(format!("{what} must be a boolean")));
    }
    let mut flag = false;
    // SAFETY: value was just checked to be a boolean.
    check(unsafe { napi_get_value_bool(env, value, &mut flag) }, "napi_get_value_bool")?;
    Ok(flag)
}

/// A string of at most `size_max` UTF-8 bytes.
pub fn string(env: Env, value: Value, what: &str, size_max: usize) -> Result<String, Fail> {
    if type_of(env, value)? != TYPE_STRING {
        return Err(Fail::Type(format!("{what} must be a string")));
    }
    let mut size = 0usize;
    // SAFETY: a null buffer asks only for the string's UTF-8 size.
    let status = unsafe { napi_get_value_string_utf8(env, value, ptr::null_mut(), 0, &mut size) };
    check(status, "napi_get_value_string_utf8")?;
    if size > size_max {
        return Err(Fail::Range(format!("{what} must be at most {size_max} bytes, got {size}")));
    }
    let mut buf = vec![0u8; size + 1];
    let mut written = 0usize;
    // SAFETY: buf holds size bytes plus the NUL N-API always writes.
    let status = unsafe { napi_get_value_string_utf8(env, value, buf.as_mut_ptr().cast(), buf.len(), &mut written) };
    check(status, "napi_get_value_string_utf8")?;
    buf.truncate(written);
    String::from_utf8(buf).map_err(|_| Fail::Type(format!("{what} is not valid UTF-8")))
}

/// An object's property (`undefined` when absent).
pub fn property(env: Env, object: Value, name: &CStr) -> Result<Value, Fail> {
    if type_of(env, object)? != TYPE_OBJECT {
        return Err(Fail::Type(String::from("options must be an object")));
    }
    let mut value = ptr::null_mut();
    // SAFETY: object is an object handle; name is NUL-terminated.
    check(unsafe { napi_get_named_property(env, object, name.as_ptr(), &mut value) }, "napi_get_named_property")?;
    Ok(value)
}

/// The memory of an ArrayBuffer, or of a Uint8Array's window onto any
/// buffer (including a SharedArrayBuffer).
pub fn bytes(env: Env, value: Value, what: &str) -> Result<Bytes, Fail> {
    let mut is_buffer = false;
    // SAFETY: value is a live handle; the out-pointer is a local.
    check(unsafe { napi_is_arraybuffer(env, value, &mut is_buffer) }, "napi_is_arraybuffer")?;
    if is_buffer {
        let mut data = ptr::null_mut();
        let mut size = 0usize;
        // SAFETY: value is an ArrayBuffer; the pointer stays valid for this
        // synchronous call because JS cannot run (and detach it) meanwhile.
        check(unsafe { napi_get_arraybuffer_info(env, value, &mut data, &mut size) }, "napi_get_arraybuffer_info")?;
        return Ok(Bytes { ptr: data.cast(), size });
    }
    let (kind, length, data) = typed_array(env, value, what, "an ArrayBuffer or a Uint8Array")?;
    if kind != TYPEDARRAY_UINT8 {
        return Err(Fail::Type(format!("{what} must be an ArrayBuffer or a Uint8Array")));
    }
    Ok(Bytes { ptr: data.cast(), size: length })
}

pub fn u32_array(env: Env, value: Value, what: &str) -> Result<Words<u32>, Fail> {
    let (kind, length, data) = typed_array(env, value, what, "a Uint32Array")?;
    if kind != TYPEDARRAY_UINT32 {
        return Err(Fail::Type(format!("{what} must be a Uint32Array")));
    }
    Ok(Words { ptr: data.cast(), length })
}

pub fn i32_array(env: Env, value: Value, what: &str) -> Result<Words<i32>, Fail> {
    let (kind, length, data) = typed_array(env, value, what, "an Int32Array")?;
    if kind != TYPEDARRAY_INT32 {
        return Err(Fail::Type(format!("{what} must be an Int32Array")));
    }
    Ok(Words { ptr: data.cast(), length })
}

fn typed_array(env: Env, value: Value, what: &str, expected: &str) -> Result<(c_int, usize, *mut c_void), Fail> {
    let mut is_typed = false;
    // SAFETY: value is a live handle; the out-pointer is a local.
    check(unsafe { napi_is_typedarray(env, value, &mut is_typed) }, "napi_is_typedarray")?;
    if !is_typed {
        return Err(Fail::Type(format!("{what} must be {expected}")));
    }
    let mut kind = 0;
    let mut length = 0usize;
    let mut data = ptr::null_mut();
    // SAFETY: value is a TypedArray; `data` already includes its byte offset
    // and stays valid for this synchronous call. Unused outputs may be null.
    let status = unsafe {
        napi_get_typedarray_info(env, value, &mut kind, &mut length, &mut data, ptr::null_mut(), ptr::null_mut())
    };
    check(status, "napi_get_typedarray_info")?;
    Ok((kind, length, data))
}

pub fn create_u32(env: Env, value: u32) -> Result<Value, Fail> {
    let mut result = ptr::null_mut();
    // SAFETY: plain value creation into a local out-pointer.
    check(unsafe { napi_create_uint32(env, value, &mut result) }, "napi_create_uint32")?;
    Ok(result)
}

pub fn create_i32(env: Env, value: i32) -> Result<Value, Fail> {
    let mut result = ptr::null_mut();
    // SAFETY: plain value creation into a local out-pointer.
    check(unsafe { napi_create_int32(env, value, &mut result) }, "napi_create_int32")?;
    Ok(result)
}

pub fn undefined(env: Env) -> Result<Value, Fail> {
    let mut result = ptr::null_mut();
    // SAFETY: plain value lookup into a local out-pointer.
    check(unsafe { napi_get_undefined(env, &mut result) }, "napi_get_undefined")?;
    Ok(result)
}

fn create_string(env: Env, text: &str) -> Result<Value, Fail> {
    let mut result = ptr::null_mut();
    // SAFETY: text is valid UTF-8 of the given size; no NUL is needed.
    let status = unsafe { napi_create_string_utf8(env, text.as_ptr().cast(), text.len(), &mut result) };
    check(status, "napi_create_string_utf8")?;
    Ok(result)
}

fn set(env: Env, object: Value, name: &CStr, value: Value) -> Result<(), Fail> {
    // SAFETY: object and value are live handles; name is NUL-terminated.
    check(unsafe { napi_set_named_property(env, object, name.as_ptr(), value) }, "napi_set_named_property")
}

/// Adds `name` to `exports` as a JS function calling `cb`.
pub fn export_function(env: Env, exports: Value, name: &CStr, cb: Callback) -> Result<(), Fail> {
    let mut function = ptr::null_mut();
    let bytes = name.to_bytes();
    // SAFETY: name is valid for its size; cb has N-API's callback signature.
    let status = unsafe {
        napi_create_function(env, bytes.as_ptr().cast(), bytes.len(), Some(cb), ptr::null_mut(), &mut function)
    };
    check(status, "napi_create_function")?;
    set(env, exports, name, function)
}

pub fn export_u32(env: Env, exports: Value, name: &CStr, value: u32) -> Result<(), Fail> {
    let number = create_u32(env, value)?;
    set(env, exports, name, number)
}

/// Runs an export's body and throws its `Fail`, if any, as a JS error.
pub fn run(env: Env, info: CallbackInfo, body: fn(&Args) -> Result<Value, Fail>) -> Value {
    match args(env, info).and_then(|args| body(&args)) {
        Ok(value) => value,
        Err(fail) => {
            throw(env, fail);
            ptr::null_mut()
        }
    }
}

pub fn throw(env: Env, fail: Fail) {
    if let Err(Fail::Napi(what)) = throw_fail(env, fail) {
        let mut pending = false;
        let message = std::ffi::CString::new(format!("flowplane native: {what} failed")).unwrap_or_default();
        // SAFETY: pending is a local; message is NUL-terminated and outlives the call.
        unsafe {
            napi_is_exception_pending(env, &mut pending);
            if !pending {
                napi_throw_error(env, ptr::null(), message.as_ptr());
            }
        }
    }
}

fn throw_fail(env: Env, fail: Fail) -> Result<(), Fail> {
    let mut error = ptr::null_mut();
    match fail {
        Fail::Type(message) => {
            let (code, text) = (create_string(env, "ERR_INVALID_ARG_TYPE")?, create_string(env, &message)?);
            // SAFETY: code and text are string handles; error is a local.
            check(unsafe { napi_create_type_error(env, code, text, &mut error) }, "napi_create_type_error")?;
        }
        Fail::Value(message) => {
            let (code, text) = (create_string(env, "ERR_INVALID_ARG_VALUE")?, create_string(env, &message)?);
            // SAFETY: as above.
            check(unsafe { napi_create_type_error(env, code, text, &mut error) }, "napi_create_type_error")?;
        }
        Fail::Range(message) => {
            let (code, text) = (create_string(env, "ERR_OUT_OF_RANGE")?, create_string(env, &message)?);
            // SAFETY: as above.
            check(unsafe { napi_create_range_error(env, code, text, &mut error) }, "napi_create_range_error")?;
        }
        Fail::Sys { errnum, context, step, hint } => {
            let fallback = format!("E{errnum}");
            let name = sys::errno_name(errnum).unwrap_or(&fallback);
            let mut message = format!("{context}: {step}: {name} ({})", sys::errno_text(errnum));
            if !hint.is_empty() {
                message.push_str(": ");
                message.push_str(hint);
            }
            let (code, text) = (create_string(env, name)?, create_string(env, &message)?);
            // SAFETY: as above.
            check(unsafe { napi_create_error(env, code, text, &mut error) }, "napi_create_error")?;
            set(env, error, c"errno", create_i32(env, errnum)?)?;
            set(env, error, c"syscall", create_string(env, step)?)?;
        }
        Fail::Napi(what) => return Err(Fail::Napi(what)),
    }
    // SAFETY: error is the error object just created.
    check(unsafe { napi_throw(env, error) }, "napi_throw")
}
