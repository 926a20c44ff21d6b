import Foundation

/// A scratch directory and the `fedsim` processes a test started in it, each logging to a file
/// there. `close()` kills what is still running and removes the directory.
public final class ProcessSandbox {
    public let dir: URL
    public private(set) var processes: [Process] = []

    public init(prefix: String) throws {
        dir = URL(fileURLWithPath: "/tmp").appendingPathComponent("\(prefix)-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    /// Starts `fedsim args`, with stdout and stderr in `dir/name`.
    @discardableResult
    public func start(_ args: [String], log name: String) throws -> Process {
        try start(executable: Fedsim.binary, args, log: name)
    }

    /// Starts another program (e.g. the Python client), with `environment` added to this one's.
    @discardableResult
    public func start(
        executable: URL, _ args: [String], log name: String, environment: [String: String] = [:]
    ) throws -> Process {
        let p = Process()
        p.executableURL = executable
        p.arguments = args
        if !environment.isEmpty {
            p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        let url = dir.appendingPathComponent(name)
        _ = FileManager.default.createFile(atPath: url.path, contents: nil)
        let handle = try FileHandle(forWritingTo: url)
        p.standardOutput = handle
        p.standardError = handle
        try p.run()
        processes.append(p)
        return p
    }

    /// What a process logged so far.
    public func log(_ name: String) -> String {
        (try? String(contentsOf: dir.appendingPathComponent(name), encoding: .utf8)) ?? ""
    }

    /// Polls `condition` every 20 ms for at most `timeout` seconds.
    public func wait(_ what: String, timeout: Double = 60, _ condition: () -> Bool) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while !condition() {
            if Date() > deadline { throw TimedOut(what: what) }
            Thread.sleep(forTimeInterval: 0.02)
        }
    }

    /// Waits for `p` to exit (at most `timeout` seconds) and returns its status.
    public func finish(_ p: Process, timeout: Double = 120) throws -> Int32 {
        try wait("process \(p.processIdentifier) to exit", timeout: timeout) { !p.isRunning }
        return p.terminationStatus
    }

    public func close() {
        for p in processes where p.isRunning {
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
        }
        try? FileManager.default.removeItem(at: dir)
    }
}

public struct TimedOut: Error, CustomStringConvertible {
    public var what: String
    public var description: String { "timed out waiting for \(what)" }
}
