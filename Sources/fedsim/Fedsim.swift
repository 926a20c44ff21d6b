import ArgumentParser
import FedConfig
import FedSimulation
import Foundation

@main
struct Fedsim: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fedsim",
        abstract: "FedSim: a federated training simulator for comparing local optimizers.",
        discussion: """
            Every random choice derives from a topology's seed: the same inputs give the same numbers.
            Input errors (bad files, values or flags) exit with status 2 and one line naming the problem.

            Examples:
              fedsim run Topologies/quickstart.yaml
              fedsim cluster Topologies/quickstart-cluster.yaml
              fedsim compare Topologies/experiments/adamw-vs-adaml2.yaml
              fedsim help run
            """,
        version: "0.1.0",
        subcommands: [
            RunCommand.self, ClusterCommand.self, CoordinatorCommand.self, ClientCommand.self, CompareCommand.self,
            ReportCommand.self, ValidateCommand.self, ExportCommand.self,
            OptimizerCommand.self, BenchCommand.self, KeysCommand.self,
        ])

    /// ArgumentParser's own entry point, except that a bad flag or value exits with status 2 —
    /// the status of every other input error — instead of 64.
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            let code = exitCode(for: error)
            if code == .validationFailure {
                FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
                Foundation.exit(ExitStatus.inputError.rawValue)
            }
            Self.exit(withError: error)
        }
    }
}

/// Exit statuses, as `fedsim --help` and docs state them.
enum ExitStatus: Int32 {
    case success = 0
    /// The run could not finish (a quorum failure, a transport error).
    case runFailed = 1
    /// Bad input: a flag, topology, spec or data file, or a peer of another run.
    case inputError = 2
    /// Stopped by SIGINT/SIGTERM (128 + SIGINT, the shell convention).
    case interrupted = 130
}

/// An input problem reported as one line on stderr with exit status 2.
struct InputError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Prints an input problem (bad topology, spec, data or flag value) as one `error: …` line and
/// exits with status 2; any other error passes through.
func exitOnInputError(_ error: any Error) throws -> Never {
    switch error {
    case is ConfigError, is RunInputError, is InputError:
        FileHandle.standardError.write(Data("error: \(error)\n".utf8))
        throw ExitCode(ExitStatus.inputError.rawValue)
    default:
        throw error
    }
}

/// Runs `body`, turning configuration and input errors into `error: …` on stderr and exit 2.
func reportingInputErrors<T>(_ body: () throws -> T) throws -> T {
    do { return try body() } catch { try exitOnInputError(error) }
}
