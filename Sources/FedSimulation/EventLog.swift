import Foundation
import Synchronization

/// Operational events of a distributed run (joins, deaths, rejected frames, late updates):
/// one line each on stderr and, for the coordinator, appended to `events.log` in the run
/// directory. Counters summarize what was rejected or dropped.
public final class EventLog: Sendable {
    private let state: Mutex<(file: FileHandle?, counters: [String: Int], limited: [String: Int])>
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
        state = Mutex((handle, [:], [:]))
        self.prefix = prefix
        self.echo = echo
    }

    /// Logs one line. Control characters (a newline in a peer's ERROR text, say) are escaped, so
    /// no message can forge another line. With `limited`, messages of one kind (their first
    /// four words) are logged 20 times and then once per 10,000, with the count so far — a
    /// flood cannot fill the disk; the counters in `summary.json` keep the exact numbers.
    public func log(limited: Bool = false, _ message: String) {
        let text = EventLog.escaped(message)
        if limited {
            let key = text.split(separator: " ").prefix(4).joined(separator: " ")
            let n = state.withLock { s -> Int in
                s.limited[key, default: 0] += 1
                return s.limited[key]!
            }
            if n > 20 {
                guard n % 10_000 == 0 else { return }
                return write("\(text) (\(n) such messages so far; only every 10,000th is logged after the first 20)")
            }
        }
        write(text)
    }

    private func write(_ text: String) {
        let line = "[\(prefix)] \(text)\n"
        if echo { FileHandle.standardError.write(Data(line.utf8)) }
        state.withLock { s in
            let stamp = ISO8601DateFormatter().string(from: Date())
            try? s.file?.write(contentsOf: Data("\(stamp) \(text)\n".utf8))
        }
    }

    static func escaped(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F || (0x80...0x9F).contains(scalar.value) {
                    out += "\\u{\(String(scalar.value, radix: 16))}"
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out
    }

    public func count(_ counter: String, by n: Int = 1) {
        state.withLock { $0.counters[counter, default: 0] += n }
    }

    public var counters: [String: Int] { state.withLock { $0.counters } }
}
