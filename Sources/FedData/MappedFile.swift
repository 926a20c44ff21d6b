import Foundation
import Synchronization

/// A file mapped read-only into memory: its pages are the page cache's, shared by every process
/// that maps the same file and never copied into a process's own memory. Several client
/// processes on one machine therefore hold one copy of a mapped data set between them.
///
/// The file must not shrink while it is mapped (a read past its new end would fault): FedSim
/// installs a handler that turns that fault into one line and exit status 2
/// (`guardAgainstTruncation`).
public final class MappedFile: @unchecked Sendable {
    // @unchecked: `bytes` is mapped PROT_READ in `init` and unmapped only in `deinit`, when no
    // reference is left; nothing ever writes through it, so sharing it between threads is safe.

    /// The file's bytes.
    public let bytes: UnsafeRawBufferPointer
    /// The path it was mapped from, as given.
    public let path: String

    /// Maps all of `path`; a file that cannot be opened or mapped, or is empty, is a `DataError`.
    public init(path: String) throws(DataError) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw DataError(file: path, message: "cannot open: \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            throw DataError(file: path, message: "cannot stat: \(String(cString: strerror(errno)))")
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw DataError(file: path, message: "is not a regular file") }
        let length = Int(info.st_size)
        guard length > 0 else { throw DataError(file: path, message: "is empty") }
        guard let base = mmap(nil, length, PROT_READ, MAP_PRIVATE, fd, 0), base != MAP_FAILED else {
            throw DataError(file: path, message: "cannot map: \(String(cString: strerror(errno)))")
        }
        Self.guardAgainstTruncation()
        self.bytes = UnsafeRawBufferPointer(start: base, count: length)
        self.path = path
    }

    deinit { munmap(UnsafeMutableRawPointer(mutating: bytes.baseAddress), bytes.count) }

    /// Turns SIGBUS — what a read of a mapped page past the end of a file that shrank raises —
    /// into one line on standard error and exit status 2, instead of a crash report. Installed
    /// once, by the first mapping; a process maps only data files, so the message can name them.
    public static func guardAgainstTruncation() {
        installed.withLock { done in
            guard !done else { return }
            done = true
            var action = sigaction()
            action.__sigaction_handler.sa_handler = { _ in
                // Only async-signal-safe calls here: a static string, write(2), _exit(2).
                let text: StaticString =
                    "error: a memory-mapped data file (data.features) shrank while the run read it\n"
                _ = write(2, text.utf8Start, text.utf8CodeUnitCount)
                _exit(2)
            }
            sigemptyset(&action.sa_mask)
            sigaction(SIGBUS, &action, nil)
        }
    }

    private static let installed = Mutex(false)
}
