//! Reading files inside another process's root (`/proc/PID/root`) without ever leaving it.
//!
//! Through `/proc/PID/root` the kernel resolves an absolute symbolic link in the reader's own
//! root, so a container could point a path at the host's files. And a path checked once is
//! resolved again when opened: a directory swapped for a link in between leads elsewhere. So
//! every step here goes through a directory descriptor: a link met on the way is read and
//! followed by hand, inside the root (`..` stops at it), and what is listed or opened below a
//! directory is opened relative to that directory's descriptor with `O_NOFOLLOW`. This is what
//! `openat2(RESOLVE_IN_ROOT)` does on Linux 5.6 and later, done with calls every kernel and
//! macOS have.
use std::ffi::{CStr, CString, OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Component, Path};
use std::time::{Duration, UNIX_EPOCH};

use super::kept::FileStamp;

/// Symbolic links followed in one resolution, as the kernel's limit.
const MAX_LINKS: usize = 40;
/// Entries listed of one directory at most.
pub const MAX_LISTED: usize = 16_384;

/// An open directory: what is below it is reached through its descriptor only.
#[derive(Debug)]
pub struct Dir(OwnedFd);

fn openat(dir: Option<&Dir>, name: &OsStr, flags: libc::c_int) -> io::Result<OwnedFd> {
    let name = CString::new(name.as_bytes()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let at = dir.map_or(libc::AT_FDCWD, |d| d.0.as_raw_fd());
    // SAFETY: `name` is NUL-terminated and outlives the call; `at` is open or AT_FDCWD.
    let fd = unsafe { libc::openat(at, name.as_ptr(), flags | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh descriptor nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The inode, modification time and size `stat` holds.
// The field types differ between targets (32-bit `time_t` and `ino_t`); the same on 64-bit ones.
#[allow(clippy::useless_conversion)]
fn stamp_of(stat: &libc::stat) -> FileStamp {
    let (secs, nanos) = (i64::from(stat.st_mtime), i64::from(stat.st_mtime_nsec));
    let since_epoch = u64::try_from(secs).ok().zip(u32::try_from(nanos).ok()).map(|(s, n)| Duration::new(s, n));
    FileStamp {
        inode: u64::from(stat.st_ino),
        modified: since_epoch.and_then(|d| UNIX_EPOCH.checked_add(d)),
        size: u64::try_from(stat.st_size).unwrap_or(0),
    }
}

impl Dir {
    /// The root itself (`/proc/PID/root` is followed here, as it should be).
    pub fn open(path: &Path) -> io::Result<Dir> {
        openat(None, path.as_os_str(), libc::O_RDONLY | libc::O_DIRECTORY).map(Dir)
    }

    /// The directory `name` right below this one; a link is not followed.
    pub fn child(&self, name: &OsStr) -> io::Result<Dir> {
        openat(Some(self), name, libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW).map(Dir)
    }

    /// The regular file `name` right below this one; a link is not followed and a FIFO not
    /// waited on.
    pub fn file(&self, name: &OsStr) -> io::Result<File> {
        let file = File::from(openat(Some(self), name, libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_NONBLOCK)?);
        match file.metadata()?.is_file() {
            true => Ok(file),
            false => Err(io::Error::from(io::ErrorKind::InvalidInput)),
        }
    }

    /// What this directory looks like now.
    pub fn stamp(&self) -> io::Result<FileStamp> {
        // SAFETY: `stat` is written by the call before it is read; the descriptor is open.
        let mut stat = unsafe { std::mem::zeroed::<libc::stat>() };
        match unsafe { libc::fstat(self.0.as_raw_fd(), &mut stat) } {
            0 => Ok(stamp_of(&stat)),
            _ => Err(io::Error::last_os_error()),
        }
    }

    /// What the entry `name` right below this one looks like now; a link is not followed.
    pub fn entry_stamp(&self, name: &OsStr) -> io::Result<FileStamp> {
        let name = CString::new(name.as_bytes()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        // SAFETY: as in `stamp`; `name` is NUL-terminated and outlives the call.
        let mut stat = unsafe { std::mem::zeroed::<libc::stat>() };
        let at = self.0.as_raw_fd();
        match unsafe { libc::fstatat(at, name.as_ptr(), &mut stat, libc::AT_SYMLINK_NOFOLLOW) } {
            0 => Ok(stamp_of(&stat)),
            _ => Err(io::Error::last_os_error()),
        }
    }

    fn try_clone(&self) -> io::Result<Dir> {
        self.0.try_clone().map(Dir)
    }

    /// The target of the link `name` right below this one.
    fn read_link(&self, name: &OsStr) -> io::Result<OsString> {
        let name = CString::new(name.as_bytes()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        let mut buf = vec![0u8; libc::PATH_MAX as usize];
        // SAFETY: the buffer is `buf.len()` bytes long and outlives the call.
        let n = unsafe { libc::readlinkat(self.0.as_raw_fd(), name.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
        let n = usize::try_from(n).map_err(|_| io::Error::last_os_error())?;
        buf.truncate(n);
        Ok(OsString::from_vec(buf))
    }

    /// The names in this directory (no `.` or `..`), at most [`MAX_LISTED`].
    pub fn names(&self) -> io::Result<Vec<OsString>> {
        let fd = self.0.try_clone()?;
        // SAFETY: `fdopendir` takes over the duplicate descriptor on success; on failure it
        // stays ours and `fd` closes it.
        let stream = unsafe { libc::fdopendir(fd.as_raw_fd()) };
        if stream.is_null() {
            return Err(io::Error::last_os_error());
        }
        std::mem::forget(fd);
        let mut names = Vec::new();
        while names.len() < MAX_LISTED {
            // SAFETY: `stream` is open until `closedir` below.
            let entry = unsafe { libc::readdir(stream) };
            if entry.is_null() {
                break;
            }
            // SAFETY: `d_name` is a NUL-terminated name inside the entry, valid until the next
            // `readdir` on this stream; it is copied at once.
            let name = unsafe { CStr::from_ptr((*entry).d_name.as_ptr()) }.to_bytes();
            if name != b"." && name != b".." {
                names.push(OsString::from_vec(name.to_vec()));
            }
        }
        // SAFETY: `stream` came from `fdopendir` and is closed once.
        unsafe { libc::closedir(stream) };
        Ok(names)
    }

    /// The directory `path` (absolute, as a process whose root this is would see it) opened
    /// below this root: each link on the way followed inside it, an absolute target starting
    /// again at this root, `..` never above it. `None` when a part is missing, is not a
    /// directory, or more than [`MAX_LINKS`] links are met.
    pub fn resolve(&self, path: &Path) -> Option<Dir> {
        fn push_parts(pending: &mut Vec<OsString>, path: &Path) {
            let parts = path.components().filter_map(|c| match c {
                Component::Normal(part) => Some(part.to_os_string()),
                Component::ParentDir => Some("..".into()),
                Component::RootDir | Component::CurDir | Component::Prefix(_) => None,
            });
            // `pending` is a stack: the next part last.
            pending.extend(parts.collect::<Vec<_>>().into_iter().rev());
        }
        let mut pending = Vec::new();
        push_parts(&mut pending, path);
        // The directories walked so far, from the root: `..` pops one.
        let mut walked = vec![self.try_clone().ok()?];
        let mut links = 0;
        while let Some(part) = pending.pop() {
            let here = walked.last()?;
            if part == ".." {
                if walked.len() > 1 {
                    walked.pop();
                }
                continue;
            }
            match here.child(&part) {
                Ok(dir) => walked.push(dir),
                // A link (ELOOP on Linux and macOS under O_NOFOLLOW), or not a directory.
                Err(_) => {
                    let target = here.read_link(&part).ok()?;
                    links += 1;
                    if links > MAX_LINKS {
                        return None;
                    }
                    if Path::new(&target).is_absolute() {
                        walked.truncate(1);
                    }
                    push_parts(&mut pending, Path::new(&target));
                }
            }
        }
        walked.pop()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::symlink;

    #[test]
    fn links_on_the_way_are_followed_inside_the_root() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        fs::create_dir_all(r.join("data/ollama/manifests")).unwrap();
        fs::write(r.join("data/ollama/manifests/x"), "inside").unwrap();
        fs::create_dir_all(r.join("home/u/.ollama")).unwrap();
        symlink("/data/ollama", r.join("home/u/.ollama/models")).unwrap();
        symlink("../../../../../../data/ollama", r.join("home/u/rel")).unwrap();
        symlink("/loop", r.join("loop")).unwrap();
        let outside = tempfile::tempdir().unwrap();
        fs::create_dir_all(outside.path().join("manifests")).unwrap();
        symlink(outside.path(), r.join("escape")).unwrap();
        fs::write(r.join("file"), "").unwrap();

        let dir = Dir::open(r).unwrap();
        let names = |d: Option<Dir>| d.map(|d| d.names().unwrap());
        let inside = Some(vec![OsString::from("x")]);
        assert_eq!(names(dir.resolve(Path::new("/home/u/.ollama/models/manifests"))), inside, "absolute link");
        assert_eq!(names(dir.resolve(Path::new("/home/u/rel/manifests"))), inside, "`..` stops at the root");
        assert!(dir.resolve(Path::new("/loop/manifests")).is_none(), "a loop");
        assert!(dir.resolve(Path::new("/nowhere/manifests")).is_none());
        assert!(dir.resolve(Path::new("/file/manifests")).is_none(), "not a directory");
        // The target exists in the exporter's own files, not in the root: not reached.
        assert!(dir.resolve(Path::new("/escape/manifests")).is_none());
    }

    #[test]
    fn below_a_directory_no_link_is_followed() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        fs::create_dir(r.join("real")).unwrap();
        fs::write(r.join("real/file"), "data").unwrap();
        symlink(r.join("real"), r.join("to_dir")).unwrap();
        symlink(r.join("real/file"), r.join("to_file")).unwrap();
        let dir = Dir::open(r).unwrap();
        assert!(dir.child(OsStr::new("real")).is_ok());
        assert!(dir.child(OsStr::new("to_dir")).is_err());
        assert!(dir.file(OsStr::new("to_file")).is_err());
        assert!(dir.file(OsStr::new("real")).is_err(), "a directory is no file");
        let mut names = dir.names().unwrap();
        names.sort();
        assert_eq!(names, ["real", "to_dir", "to_file"]);
    }
}
