#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A signal another thread raises to end a socket's wait early: a client host's training
/// threads raise it when an update is ready, so the socket loop can wait for "a message or an
/// update" in one call instead of polling. It is level-triggered — once raised it stays raised
/// until `clear()` — so a raise between the loop's check and its wait is never lost (the lost
/// wakeup of issue 13). A non-blocking pipe, so a ZeroMQ poll can wait on its read end beside a
/// socket, and it works on Linux and macOS alike.
///
/// Sendable: it holds two file descriptors that never change after `init`; `raise()` and
/// `clear()` are single `write`/`read` system calls, which are safe from any thread.
public final class Wakeup: Sendable {
    /// The end a poll waits on: readable while the wakeup is raised.
    public let readDescriptor: Int32
    private let writeDescriptor: Int32

    public init() {
        var ends: [Int32] = [-1, -1]
        guard pipe(&ends) == 0 else {
            // Out of descriptors: no wakeup can be had, and a socket loop cannot run without one.
            fatalError("cannot create a wakeup pipe (errno \(errno))")
        }
        for fd in ends { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
        readDescriptor = ends[0]
        writeDescriptor = ends[1]
    }

    deinit {
        close(readDescriptor)
        close(writeDescriptor)
    }

    /// Raises the signal (a no-op when it is raised already and the pipe is full).
    public func raise() {
        var byte: UInt8 = 1
        _ = write(writeDescriptor, &byte, 1)
    }

    /// Lowers the signal: reads whatever was written.
    public func clear() {
        var buffer = [UInt8](repeating: 0, count: 64)
        while read(readDescriptor, &buffer, buffer.count) > 0 {}
    }

    /// Whether it is raised now (does not lower it).
    public var isRaised: Bool {
        var item = pollfd(fd: readDescriptor, events: Int16(POLLIN), revents: 0)
        return poll(&item, 1, 0) > 0
    }
}
