import ArgumentParser
import FedCluster
import FedCompare
import FedSimulation
import Foundation

struct CompareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Run every variant of a comparison over several seeds, then write summary.csv and report.html.",
        discussion: """
            SPEC names a base topology and either a list of variants ({name, set: {key.path: value}}) \
            or a grid (key.path: [values], every combination), and the seeds; with tune: \
            {space: {key.path: log[a, b, n] | [values]}, rule: grid | random, budget}, every variant \
            runs at every point and is reported at its best point on validation, with heat maps of \
            the space. Runs go several at a \
            time (--jobs, default: the machine's cores), each as its own `fedsim run` (or `fedsim \
            cluster` with --cluster). Running the same command again resumes an interrupted \
            comparison without redoing finished runs. See docs/COMPARE.md.

            Examples:
              fedsim compare Topologies/experiments/adamw-vs-adaml2.yaml
              fedsim compare Topologies/experiments/state-policy.yaml --jobs 2 --out runs/state-policy
              fedsim compare Topologies/experiments/server-strategies.yaml --cluster
              fedsim compare Topologies/experiments/cnn-adamw-vs-adaml2.yaml   # lr × wd maps on a conv net
            """)

    @Argument(help: "Comparison spec (YAML).")
    var spec: String

    @Option(help: "Directory for the comparison (default: runs/compare-<name>).")
    var out: String?

    @Option(help: "Runs at a time (default: the number of cores).")
    var jobs: Int = ProcessInfo.processInfo.activeProcessorCount

    @Flag(help: "Run each variant as a local cluster instead of in one process.")
    var cluster = false

    func validate() throws {
        guard (1...64).contains(jobs) else { throw ValidationError("--jobs must be in 1...64") }
    }

    func run() throws {
        let stop = StopSignal()
        stop.install()
        let compare = try reportingInputErrors { try CompareSpec.load(file: spec) }
        let root = URL(fileURLWithPath: out ?? "runs/compare-\(compare.name)")
        let total =
            compare.tuning?.seeds.map { compare.units.count * $0.count + compare.variants.count * compare.seeds.count }
            ?? compare.units.count * compare.seeds.count
        let points =
            compare.variantTunings != nil
            ? " (\(compare.units.count) tuned points in all)"
            : compare.tuning.map { " × \($0.points.count) tuned point(s)" } ?? ""
        let seedsText =
            compare.tuning?.seeds.map {
                " × \(compare.seeds.count) seed(s), searched on \($0.count) tuning seed(s): up to"
            } ?? " × \(compare.seeds.count) seed(s) ="
        print(
            "FedSim compare '\(compare.name)': \(compare.variants.count) variant(s)\(points)\(seedsText) "
                + "\(total) runs, "
                + "\(jobs) at a time\(cluster ? ", each as a local cluster" : ""); writing \(root.path)")
        let start = Date()
        let runner = CompareRunner(
            spec: compare, root: root, jobs: jobs, cluster: cluster, executable: ClientProcesses.executable,
            shouldStop: { stop.isSet }, progress: { print($0) })
        let outcome = try reportingInputErrors { try runner.run() }
        if outcome == .interrupted { throw ExitCode(ExitStatus.interrupted.rawValue) }
        let summaries = try reportingInputErrors { try Report.writeComparison(root: root) }
        print(String(format: "finished in %.1f s", Date().timeIntervalSince(start)))
        for s in summaries {
            let headline =
                s.finalAccuracy.mean.isNaN ? "final loss \(s.finalLoss.text)" : "final acc \(s.finalAccuracy.text)"
            let versus =
                s.versusBaseline.map {
                    String(
                        format: "; Δ %+.4f vs baseline, p %.3g%@", $0.difference.mean, $0.pairedTP,
                        $0.significant ? "" : " (n.s.)")
                } ?? ""
            print("  \(s.variant): \(headline), final ‖w‖ \(s.finalWeightNorm.text)\(versus)")
        }
        print(
            "summary: \(root.appendingPathComponent("summary.csv").path)\nreport:  "
                + "\(root.appendingPathComponent("report.html").path)"
        )
        if case .failed(let list) = outcome {
            FileHandle.standardError.write(
                Data("error: \(list.count) run(s) failed: \(list.joined(separator: "; "))\n".utf8))
            throw ExitCode(ExitStatus.runFailed.rawValue)
        }
    }
}

struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Regenerate report.html (and summary.csv) from a comparison or run directory on disk.",
        discussion: """
            Examples:
              fedsim report runs/compare-adamw-vs-adaml2
            """)

    @Argument(help: "A directory written by `fedsim compare`, or one run's directory.")
    var directory: String

    func run() throws {
        let url = URL(fileURLWithPath: directory)
        try reportingInputErrors {
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("compare.json").path) {
                try Report.writeComparison(root: url)
                print(
                    "wrote \(url.appendingPathComponent("summary.csv").path) and "
                        + "\(url.appendingPathComponent("report.html").path)"
                )
            } else if FileManager.default.fileExists(atPath: url.appendingPathComponent("rounds.jsonl").path) {
                try Report.writeRun(dir: url)
                print("wrote \(url.appendingPathComponent("report.html").path)")
            } else {
                throw RunInputError(
                    "\(directory) is neither a comparison (compare.json) nor a run (rounds.jsonl) directory")
            }
        }
    }
}
