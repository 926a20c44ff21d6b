import Foundation

/// `summary.json`: how a run ended, written last. Numbers are JSON numbers and flags booleans.
/// Both run modes write the same fields.
public struct RunSummary: Codable, Sendable, Equatable {
    public enum Mode: String, Codable, Sendable {
        /// Every client in this process (`fedsim run`).
        case inProcess = "in_process"
        /// A coordinator and client processes over ZeroMQ (`fedsim cluster`, `fedsim coordinator`).
        case cluster
    }

    public var name: String
    public var mode: Mode
    public var seed: UInt64
    public var rounds: Int
    public var completed: Bool
    /// The run fingerprint (`PreparedRun.fingerprint`) in hex.
    public var fingerprint: String
    public var finalWeightsHash: String
    public var finalTestLoss: Double
    public var finalTestAccuracy: Double?
    public var finalTestRMSE: Double?
    public var finalTestR2: Double?
    /// Updates left out and other events, by counter name (e.g. `rejected.non_finite`,
    /// `late_updates`, `dead_peers`); empty when nothing happened.
    public var counts: [String: Int]

    enum CodingKeys: String, CodingKey {
        case name, mode, seed, rounds, completed, fingerprint, counts
        case finalWeightsHash = "final_weights_hash"
        case finalTestLoss = "final_test_loss"
        case finalTestAccuracy = "final_test_accuracy"
        case finalTestRMSE = "final_test_rmse"
        case finalTestR2 = "final_test_r2"
    }

    public func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(
            positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return try encoder.encode(self)
    }

    /// Reads `summary.json` of run directory `run` (nil if it is missing or unreadable).
    public static func load(from run: URL) -> RunSummary? {
        guard let data = FileManager.default.contents(atPath: run.appendingPathComponent("summary.json").path) else {
            return nil
        }
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(
            positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return try? decoder.decode(RunSummary.self, from: data)
    }
}
