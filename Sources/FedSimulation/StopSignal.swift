import Foundation
import Synchronization

/// The signal that asked this process to stop (0: none). A lock-free atomic, so the signal
/// handler may set it (async-signal-safe).
private let receivedSignal = Atomic<Int32>(0)

/// SIGINT and SIGTERM set a flag that the run loops poll (at least twice per heartbeat
/// interval), so a run stops between messages with its files flushed and its children told.
public final class StopSignal: Sendable {
    public init() {}

    /// Installs the handlers for this process.
    public func install() {
        signal(SIGINT) { receivedSignal.store($0, ordering: .sequentiallyConsistent) }
        signal(SIGTERM) { receivedSignal.store($0, ordering: .sequentiallyConsistent) }
    }

    /// The signal received, or 0.
    public var received: Int32 { receivedSignal.load(ordering: .sequentiallyConsistent) }
    public var isSet: Bool { received != 0 }
    public func set() { receivedSignal.store(SIGTERM, ordering: .sequentiallyConsistent) }
}
