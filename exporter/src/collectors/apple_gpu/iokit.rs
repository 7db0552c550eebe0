//! IOKit and CoreFoundation, loaded at run time (`dlopen` through `libloading`, as NVML is),
//! so the binary links on any build host and a Mac whose frameworks lack a symbol loses only
//! the GPU series. Reads four properties of every `IOAccelerator` service (`IOClass`, `model`,
//! `gpu-core-count`, `PerformanceStatistics`) with `IORegistryEntryCreateCFProperty`, which
//! any user may do, and copies them into [`Value`]s; `shape.rs` does the rest.
//!
//! Every CoreFoundation object is released by a guard; walks are bounded in depth, entries and
//! string length, and a value of an unexpected type becomes [`Value::Other`].
use std::ffi::{c_char, c_void, CStr};

use libloading::Library;

use super::shape::Value;

const IOKIT: &str = "/System/Library/Frameworks/IOKit.framework/IOKit";
const CORE_FOUNDATION: &str = "/System/Library/Frameworks/CoreFoundation.framework/CoreFoundation";
/// `kCFStringEncodingUTF8`, `kCFNumberSInt64Type`, `kCFNumberFloat64Type`.
const UTF8: u32 = 0x0800_0100;
const SINT64: isize = 4;
const FLOAT64: isize = 6;
const MAX_DEPTH: usize = 8;
const MAX_ENTRIES: isize = 1024;
const MAX_STRING: usize = 1024;
/// Accelerator services looked at, at most.
const MAX_SERVICES: usize = 16;
const PROPERTIES: [&CStr; 4] = [c"IOClass", c"model", c"gpu-core-count", c"PerformanceStatistics"];

type Ref = *const c_void;

/// The functions used, copied out of the loaded frameworks, which are kept loaded with them.
pub struct Frameworks {
    service_matching: unsafe extern "C" fn(*const c_char) -> Ref,
    get_matching_services: unsafe extern "C" fn(u32, Ref, *mut u32) -> i32,
    iterator_next: unsafe extern "C" fn(u32) -> u32,
    create_property: unsafe extern "C" fn(u32, Ref, Ref, u32) -> Ref,
    object_release: unsafe extern "C" fn(u32) -> i32,
    release: unsafe extern "C" fn(Ref),
    type_id: unsafe extern "C" fn(Ref) -> usize,
    types: Types,
    string_create: unsafe extern "C" fn(Ref, *const c_char, u32) -> Ref,
    string_get: unsafe extern "C" fn(Ref, *mut c_char, isize, u32) -> u8,
    number_is_float: unsafe extern "C" fn(Ref) -> u8,
    number_get: unsafe extern "C" fn(Ref, isize, *mut c_void) -> u8,
    boolean_get: unsafe extern "C" fn(Ref) -> u8,
    dict_count: unsafe extern "C" fn(Ref) -> isize,
    dict_keys_values: unsafe extern "C" fn(Ref, *mut Ref, *mut Ref),
    array_count: unsafe extern "C" fn(Ref) -> isize,
    array_get: unsafe extern "C" fn(Ref, isize) -> Ref,
    _iokit: Library,
    _core_foundation: Library,
}

/// The `CFTypeID`s of the types the walk knows.
struct Types {
    dictionary: usize,
    array: usize,
    string: usize,
    number: usize,
    boolean: usize,
}

/// A symbol of `library` as a plain function pointer, or why not.
///
/// # Safety
/// `T` must be the symbol's true C signature.
unsafe fn symbol<T: Copy>(library: &Library, name: &str) -> Result<T, String> {
    // SAFETY: the caller vouches for `T`; the pointer is used only while `library` is loaded,
    // since both live in `Frameworks`.
    unsafe { library.get::<T>(name.as_bytes()) }.map(|s| *s).map_err(|e| format!("{name}: {e}"))
}

impl Frameworks {
    pub fn load() -> Result<Frameworks, String> {
        // SAFETY: loading a system framework runs its initialisers, which is what every Mac
        // program linked against it does at start.
        let iokit = unsafe { Library::new(IOKIT) }.map_err(|e| format!("cannot load IOKit: {e}"))?;
        // SAFETY: as above.
        let cf = unsafe { Library::new(CORE_FOUNDATION) }.map_err(|e| format!("cannot load CoreFoundation: {e}"))?;
        // SAFETY: each signature below is the one in the macOS SDK headers (IOKitLib.h,
        // CFBase.h, CFString.h, CFNumber.h, CFDictionary.h, CFArray.h), with `mach_port_t`,
        // `io_object_t` and `IOOptionBits` as u32, `CFIndex` as isize, `CFTypeID` as usize.
        unsafe {
            let type_id_of = |name: &str| symbol::<unsafe extern "C" fn() -> usize>(&cf, name).map(|f| f());
            Ok(Frameworks {
                service_matching: symbol(&iokit, "IOServiceMatching")?,
                get_matching_services: symbol(&iokit, "IOServiceGetMatchingServices")?,
                iterator_next: symbol(&iokit, "IOIteratorNext")?,
                create_property: symbol(&iokit, "IORegistryEntryCreateCFProperty")?,
                object_release: symbol(&iokit, "IOObjectRelease")?,
                release: symbol(&cf, "CFRelease")?,
                type_id: symbol(&cf, "CFGetTypeID")?,
                types: Types {
                    dictionary: type_id_of("CFDictionaryGetTypeID")?,
                    array: type_id_of("CFArrayGetTypeID")?,
                    string: type_id_of("CFStringGetTypeID")?,
                    number: type_id_of("CFNumberGetTypeID")?,
                    boolean: type_id_of("CFBooleanGetTypeID")?,
                },
                string_create: symbol(&cf, "CFStringCreateWithCString")?,
                string_get: symbol(&cf, "CFStringGetCString")?,
                number_is_float: symbol(&cf, "CFNumberIsFloatType")?,
                number_get: symbol(&cf, "CFNumberGetValue")?,
                boolean_get: symbol(&cf, "CFBooleanGetValue")?,
                dict_count: symbol(&cf, "CFDictionaryGetCount")?,
                dict_keys_values: symbol(&cf, "CFDictionaryGetKeysAndValues")?,
                array_count: symbol(&cf, "CFArrayGetCount")?,
                array_get: symbol(&cf, "CFArrayGetValueAtIndex")?,
                _iokit: iokit,
                _core_foundation: cf,
            })
        }
    }

    /// The four properties of every `IOAccelerator` service, as dictionaries, in registry order.
    pub fn accelerators(&self) -> Result<Vec<Value>, String> {
        // SAFETY: the calls follow IOKit's ownership rules: `IOServiceMatching`'s dictionary is
        // consumed by `IOServiceGetMatchingServices`; the iterator, each service and each
        // created property are released exactly once (guards below).
        unsafe {
            let matching = (self.service_matching)(c"IOAccelerator".as_ptr());
            if matching.is_null() {
                return Err("IOServiceMatching(IOAccelerator) returned nothing".into());
            }
            let mut iterator = 0u32;
            // Port 0 is kIOMainPortDefault.
            let rc = (self.get_matching_services)(0, matching, &mut iterator);
            if rc != 0 {
                return Err(format!("IOServiceGetMatchingServices failed: kern_return_t {rc:#x}"));
            }
            let _iterator = IoObject(self, iterator);
            let mut services = Vec::new();
            while services.len() < MAX_SERVICES {
                let service = (self.iterator_next)(iterator);
                if service == 0 {
                    break;
                }
                let service = IoObject(self, service);
                let mut entries = Vec::new();
                for name in PROPERTIES {
                    let key = Cf::new(self, (self.string_create)(std::ptr::null(), name.as_ptr(), UTF8));
                    let Some(key) = key else { continue };
                    let value = Cf::new(self, (self.create_property)(service.1, key.0, std::ptr::null(), 0));
                    if let Some(value) = value {
                        entries.push((name.to_string_lossy().into_owned(), self.value(value.0, 0)));
                    }
                }
                services.push(Value::Dict(entries));
            }
            Ok(services)
        }
    }

    /// Copies a CoreFoundation value (borrowed, not released here).
    ///
    /// # Safety
    /// `r` must be a live CoreFoundation object.
    unsafe fn value(&self, r: Ref, depth: usize) -> Value {
        if r.is_null() || depth > MAX_DEPTH {
            return Value::Other;
        }
        // SAFETY: `r` is a live object (caller), and each call below matches its type.
        unsafe {
            let t = (self.type_id)(r);
            if t == self.types.number {
                if (self.number_is_float)(r) != 0 {
                    let mut f = 0f64;
                    if (self.number_get)(r, FLOAT64, (&mut f as *mut f64).cast()) != 0 {
                        return Value::Float(f);
                    }
                } else {
                    let mut i = 0i64;
                    if (self.number_get)(r, SINT64, (&mut i as *mut i64).cast()) != 0 {
                        return Value::Int(i);
                    }
                }
                Value::Other
            } else if t == self.types.string {
                self.string(r).map_or(Value::Other, Value::Str)
            } else if t == self.types.boolean {
                Value::Bool((self.boolean_get)(r) != 0)
            } else if t == self.types.dictionary {
                let count = (self.dict_count)(r);
                if !(0..=MAX_ENTRIES).contains(&count) {
                    return Value::Other;
                }
                let mut keys = vec![std::ptr::null(); count as usize];
                let mut values = vec![std::ptr::null(); count as usize];
                (self.dict_keys_values)(r, keys.as_mut_ptr(), values.as_mut_ptr());
                let entries = keys
                    .iter()
                    .zip(&values)
                    .filter_map(|(&k, &v)| {
                        let key =
                            if !k.is_null() && (self.type_id)(k) == self.types.string { self.string(k) } else { None };
                        Some((key?, self.value(v, depth + 1)))
                    })
                    .collect();
                Value::Dict(entries)
            } else if t == self.types.array {
                let count = (self.array_count)(r).clamp(0, MAX_ENTRIES);
                Value::Array((0..count).map(|i| self.value((self.array_get)(r, i), depth + 1)).collect())
            } else {
                Value::Other
            }
        }
    }

    /// A CFString as UTF-8, if it fits the cap.
    ///
    /// # Safety
    /// `r` must be a live CFString.
    unsafe fn string(&self, r: Ref) -> Option<String> {
        let mut buffer = vec![0 as c_char; MAX_STRING];
        // SAFETY: `buffer` has `MAX_STRING` writable bytes; the call NUL-terminates on success.
        let ok = unsafe { (self.string_get)(r, buffer.as_mut_ptr(), MAX_STRING as isize, UTF8) };
        if ok == 0 {
            return None;
        }
        // SAFETY: success means a NUL within the buffer.
        Some(unsafe { CStr::from_ptr(buffer.as_ptr()) }.to_string_lossy().into_owned())
    }
}

/// An owned CoreFoundation object, released on drop.
struct Cf<'a>(Ref, &'a Frameworks);

impl<'a> Cf<'a> {
    fn new(frameworks: &'a Frameworks, r: Ref) -> Option<Cf<'a>> {
        (!r.is_null()).then_some(Cf(r, frameworks))
    }
}

impl Drop for Cf<'_> {
    fn drop(&mut self) {
        // SAFETY: the object was created for us (a Create rule call) and is released once.
        unsafe { (self.1.release)(self.0) }
    }
}

/// An owned IOKit object (iterator or service), released on drop.
struct IoObject<'a>(&'a Frameworks, u32);

impl Drop for IoObject<'_> {
    fn drop(&mut self) {
        // SAFETY: the object was returned to us by IOKit and is released once.
        unsafe {
            (self.0.object_release)(self.1);
        }
    }
}
