import Foundation
import Synchronization

/// Operational events of a distributed run (joins, deaths, rejected frames, late updates):
/// one line each on stderr and, for the coordinator, appended to `events.log` in the run
/// directory. Counters summarize what was rejected or dropped.
public final class EventLog: Sendable {
    private let state: Mutex<(file: FileHandle?, counters: [String: Int])>
    private let prefix: String
    private let echo: Bool

    public init(file: URL?, prefix: String, echo: Bool = true) {
        var handle: FileHandle?
        if let file {
            if !FileManager.default.fileExists(atPath: file.path) {
                _ = FileManager.default.createFile(atPath: file.path, contents: nil)
            }
            handle = try? FileHandle(forWritingTo: file)
            _ = try? handle?.seekToEnd()
        }
        state = Mutex((handle, [:]))
        self.prefix = prefix
        self.echo = echo
    }

    public func log(_ message: String) {
        let line = "[\(prefix)] \(message)\n"
        if echo { FileHandle.standardError.write(Data(line.utf8)) }
        state.withLock { s in
            let stamp = ISO8601DateFormatter().string(from: Date())
            try? s.file?.write(contentsOf: Data("\(stamp) \(message)\n".utf8))
        }
    }

    public func count(_ counter: String, by n: Int = 1) {
        state.withLock { $0.counters[counter, default: 0] += n }
    }

    public var counters: [String: Int] { state.withLock { $0.counters } }
}
