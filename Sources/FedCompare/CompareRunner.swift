import FedSimulation
import Foundation

/// What a comparison directory holds about itself (`compare.json`), so `fedsim report` and a
/// resumed `fedsim compare` know every variant, seed and run directory.
public struct CompareManifest: Codable, Sendable, Equatable {
    public var name: String
    public var base: String
    public var seeds: [Int]
    public var targetAccuracy: Double?
    public var variants: [CompareSpec.Variant]
    public var mode: String
    /// nil in a comparison written before these existed (read as 5 and the first variant).
    public var finalWindow: Int?
    public var baseline: String?
    public var tuning: CompareSpec.Tuning?
    public var variantTunings: [String: CompareSpec.Tuning]?
    public var trials: [CompareSpec.Trial]?

    /// The run units (trials when tuned, else variants).
    public var units: [CompareSpec.Variant] { trials?.map(\.unit) ?? variants }

    public init(_ spec: CompareSpec, cluster: Bool) {
        name = spec.name
        base = spec.base
        seeds = spec.seeds
        targetAccuracy = spec.targetAccuracy
        variants = spec.variants
        mode = cluster ? "cluster" : "single-process"
        finalWindow = spec.finalWindow
        baseline = spec.baseline
        tuning = spec.tuning
        variantTunings = spec.variantTunings
        trials = spec.trials
    }

    public static func runDirectory(_ root: URL, variant: CompareSpec.Variant, seed: Int) -> URL {
        root.appendingPathComponent("runs").appendingPathComponent(variant.id).appendingPathComponent("seed-\(seed)")
    }

    public static func load(_ root: URL) throws -> CompareManifest {
        guard let data = FileManager.default.contents(atPath: root.appendingPathComponent("compare.json").path) else {
            throw RunInputError("\(root.path) holds no compare.json (not a comparison directory)")
        }
        do { return try JSONDecoder().decode(CompareManifest.self, from: data) } catch {
            throw RunInputError("\(root.path)/compare.json is damaged: \(error)")
        }
    }
}

/// Runs every (variant, seed) of a comparison as its own `fedsim run` (or `fedsim cluster`)
/// process, `jobs` at a time, skipping runs that already finished, so an interrupted compare
/// resumes where it stopped.
public final class CompareRunner {
    public let spec: CompareSpec
    public let root: URL
    public let jobs: Int
    public let cluster: Bool
    public let executable: URL
    private let shouldStop: () -> Bool
    private let progress: (String) -> Void

    public init(
        spec: CompareSpec, root: URL, jobs: Int, cluster: Bool, executable: URL,
        shouldStop: @escaping () -> Bool, progress: @escaping (String) -> Void
    ) {
        self.spec = spec
        self.root = root
        self.jobs = jobs
        self.cluster = cluster
        self.executable = executable
        self.shouldStop = shouldStop
        self.progress = progress
    }

    public enum Outcome: Equatable {
        case completed, interrupted
        case failed([String])
    }

    /// Writes the manifest (or checks it against an existing one) and runs what is missing.
    public func run() throws -> Outcome {
        let manifest = CompareManifest(spec, cluster: cluster)
        let manifestURL = root.appendingPathComponent("compare.json")
        if FileManager.default.fileExists(atPath: manifestURL.path) {
            let existing = try CompareManifest.load(root)
            guard existing == manifest else {
                throw RunInputError(
                    "\(root.path) holds a different comparison (its compare.json differs); choose another --out")
            }
        } else {
            try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try RunDirectory.writeAtomically(encoder.encode(manifest), to: manifestURL)
        }
        // Tuned with seeds of its own: the search runs on the tuning seeds, then each variant's
        // chosen point runs on the reported seeds (a second stage, chosen from the first's
        // validation scores only).
        if let tuneSeeds = spec.tuning?.seeds {
            let search = try runQueue(spec.units.flatMap { u in tuneSeeds.map { (u, $0) } })
            guard search == .completed else { return search }
            var none: [String] = []
            let results = try TuningResults(
                root: root, tuning: spec.tuning!, variantTunings: spec.variantTunings, trials: spec.trials!,
                seeds: tuneSeeds, window: spec.finalWindow, missing: &none)
            let chosen = spec.variants.compactMap { results.best[$0.name]?.trial.unit }
            progress("tuning done; running each variant's chosen point on the \(spec.seeds.count) reported seed(s)")
            return try runQueue(chosen.flatMap { u in spec.seeds.map { (u, $0) } })
        }
        return try runQueue(spec.units.flatMap { u in spec.seeds.map { (u, $0) } })
    }

    /// Runs every (unit, seed) not finished yet, `jobs` at a time.
    private func runQueue(_ pairs: [(CompareSpec.Variant, Int)]) throws -> Outcome {
        var queue: [(CompareSpec.Variant, Int)] = []
        var finished = 0
        for (variant, seed) in pairs {
            let dir = CompareManifest.runDirectory(root, variant: variant, seed: seed)
            if FileManager.default.fileExists(atPath: dir.appendingPathComponent("summary.json").path) {
                finished += 1
            } else {
                try? FileManager.default.removeItem(at: dir)  // an unfinished run starts over
                queue.append((variant, seed))
            }
        }
        let total = finished + queue.count
        if finished > 0 { progress("\(finished) of \(total) runs already finished; running the other \(queue.count)") }
        var running: [(process: Process, variant: CompareSpec.Variant, seed: Int, dir: URL, started: Date)] = []
        var failures: [String] = []
        var doneThisSession = 0
        let started = Date()
        while !queue.isEmpty || !running.isEmpty {
            if shouldStop() {
                for r in running where r.process.isRunning { r.process.terminate() }
                for r in running {
                    r.process.waitUntilExit()
                    try? FileManager.default.removeItem(at: r.dir)
                }
                progress("interrupted: \(finished) of \(total) runs finished; run the same command again to resume")
                return .interrupted
            }
            while running.count < jobs, !queue.isEmpty {
                let (variant, seed) = queue.removeFirst()
                let dir = CompareManifest.runDirectory(root, variant: variant, seed: seed)
                try FileManager.default.createDirectory(
                    at: dir.deletingLastPathComponent(), withIntermediateDirectories: true)
                let process = Process()
                process.executableURL = executable
                process.arguments =
                    [cluster ? "cluster" : "run", spec.base, "--out", dir.path, "--seed", String(seed), "--quiet"]
                    + variant.overrides.flatMap { ["--set", $0] }
                let log = root.appendingPathComponent("runs").appendingPathComponent("\(variant.id)-seed-\(seed).log")
                _ = FileManager.default.createFile(atPath: log.path, contents: nil)
                let handle = try FileHandle(forWritingTo: log)
                process.standardOutput = handle
                process.standardError = handle
                try process.run()
                running.append((process, variant, seed, dir, Date()))
            }
            Thread.sleep(forTimeInterval: 0.02)
            // Decide once which runs ended: a run that ends while these are reported is reported
            // next time, never removed unreported.
            let ended = running.filter { !$0.process.isRunning }
            for r in ended {
                finished += 1
                doneThisSession += 1
                let seconds = Date().timeIntervalSince(r.started)
                // Runs finish `jobs` at a time, so the average wall time per finished run already
                // accounts for the parallelism.
                let perRun = Date().timeIntervalSince(started) / Double(doneThisSession)
                let remaining = perRun * Double(queue.count + running.count - 1)
                if r.process.terminationStatus == 0 {
                    let summary = RunSummary.load(from: r.dir)
                    let accuracy =
                        summary?.finalTestAccuracy.map { String(format: "final acc %.4f", $0) }
                        ?? summary.map { String(format: "final loss %.4f", $0.finalTestLoss) } ?? ""
                    progress(
                        String(
                            format: "[%d/%d] %@ seed %d: %@ (%.1f s; about %.0f s left)", finished, total,
                            r.variant.name, r.seed,
                            accuracy, seconds, max(0, remaining)))
                } else {
                    failures.append(
                        "\(r.variant.name) seed \(r.seed) (exit \(r.process.terminationStatus); see "
                            + "runs/\(r.variant.id)-seed-\(r.seed).log)"
                    )
                    progress(
                        "[\(finished)/\(total)] \(r.variant.name) seed \(r.seed): FAILED with status "
                            + "\(r.process.terminationStatus)"
                    )
                }
            }
            running.removeAll { r in ended.contains { $0.process === r.process } }
        }
        return failures.isEmpty ? .completed : .failed(failures)
    }
}
