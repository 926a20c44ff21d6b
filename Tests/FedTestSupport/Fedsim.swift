import Foundation

/// The built `fedsim` binary and the files a run writes, for tests that run FedSim end to end.
/// One copy for every test target (it used to live in three).
public enum Fedsim {
    /// The repository's root (for `Topologies/...`).
    public static let repository = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    public static func topology(_ name: String) -> String {
        repository.appendingPathComponent("Topologies/\(name)").path
    }

    /// The `fedsim` executable next to the test bundle in `.build/<config>/`.
    public static var binary: URL {
        var dir = Bundle.main.bundleURL
        if dir.pathExtension == "xctest" { dir = dir.deletingLastPathComponent() }
        for candidate in [dir, Bundle(for: Marker.self).bundleURL.deletingLastPathComponent()] {
            let url = candidate.appendingPathComponent("fedsim")
            if FileManager.default.isExecutableFile(atPath: url.path) { return url }
        }
        return dir.appendingPathComponent("fedsim")
    }

    private final class Marker {}

    public struct Result: Sendable {
        public var status: Int32
        public var stdout: String
        public var stderr: String
    }

    /// Runs `fedsim arguments` to completion. `environment` entries are added to this process's.
    public static func run(_ arguments: [String], cwd: URL? = nil, environment: [String: String] = [:]) throws -> Result
    {
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        if let cwd { process.currentDirectoryURL = cwd }
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        // Read both pipes while the child runs, so a large output on either cannot block it.
        let errData = LockedData()
        let reader = Thread { errData.set(err.fileHandleForReading.readDataToEndOfFile()) }
        reader.start()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let stderr = errData.wait()
        return Result(
            status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
            stderr: String(decoding: stderr, as: UTF8.self))
    }

    /// The records of `rounds.jsonl` in run directory `run` (empty if it is missing).
    public static func rounds(_ run: URL) -> [[String: Any]] {
        ((try? String(contentsOf: run.appendingPathComponent("rounds.jsonl"), encoding: .utf8)) ?? "")
            .split(separator: "\n").compactMap {
                try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
            }
    }

    /// Every round's `weights_hash` in run directory `run`.
    public static func hashes(_ run: URL) -> [String] { rounds(run).compactMap { $0["weights_hash"] as? String } }

    /// Runs `Scripts/<name>` with bash, stdout and stderr together: its exit status and output.
    public static func runScript(_ name: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [repository.appendingPathComponent("Scripts/\(name)").path] + arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, output)
    }

    /// `summary.json` of run directory `run`.
    public static func summary(_ run: URL) -> [String: Any] {
        (try? Data(contentsOf: run.appendingPathComponent("summary.json")))
            .flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] } ?? [:]
    }
}

/// Data handed from a reader thread to the waiting one.
/// `@unchecked Sendable` is safe: every access to `data` holds `condition`'s lock.
private final class LockedData: @unchecked Sendable {
    private let condition = NSCondition()
    private var data: Data?

    func set(_ value: Data) {
        condition.lock()
        data = value
        condition.signal()
        condition.unlock()
    }

    func wait() -> Data {
        condition.lock()
        defer { condition.unlock() }
        while data == nil { condition.wait() }
        return data!
    }
}
