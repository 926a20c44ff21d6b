import FedCoordinator
import FedSimulation
import Foundation

/// One run's per-round metrics, read back from its `rounds.jsonl`.
public struct RunMetrics: Sendable {
    public var rounds: [RoundRecord]

    public init(rounds: [RoundRecord]) { self.rounds = rounds }

    public static func load(_ dir: URL) throws -> RunMetrics {
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(
            positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        guard let text = try? String(contentsOf: dir.appendingPathComponent("rounds.jsonl"), encoding: .utf8) else {
            throw RunInputError("\(dir.path) has no rounds.jsonl")
        }
        let rounds = try text.split(separator: "\n").enumerated().map { i, line in
            do { return try decoder.decode(RoundRecord.self, from: Data(line.utf8)) } catch {
                throw RunInputError("\(dir.path)/rounds.jsonl:\(i + 1): not a round record")
            }
        }
        return RunMetrics(rounds: rounds)
    }

    /// The metric used for charts: test accuracy, test loss, ‖w‖, or test RMSE.
    public func series(_ metric: Metric) -> [Double] {
        rounds.map {
            switch metric {
            case .accuracy: $0.testAccuracy ?? .nan
            case .loss: $0.testLoss
            case .weightNorm: $0.weightNorm
            case .rmse: $0.testRMSE ?? .nan
            }
        }
    }
}

public enum Metric: String, CaseIterable, Sendable {
    case accuracy = "test accuracy"
    case loss = "test loss"
    case weightNorm = "‖w‖ (global weight norm)"
    case rmse = "test RMSE"

    /// File name of the metric's chart (`charts/<name>.svg`).
    public var fileName: String {
        switch self {
        case .accuracy: "test-accuracy"
        case .loss: "test-loss"
        case .weightNorm: "weight-norm"
        case .rmse: "test-rmse"
        }
    }
}

/// Mean and sample standard deviation across seeds.
public struct Spread: Sendable, Equatable {
    public var mean: Double
    public var std: Double
    public var count: Int

    public init(_ values: [Double]) {
        let finite = values.filter(\.isFinite)
        count = finite.count
        let m = finite.isEmpty ? .nan : finite.reduce(0, +) / Double(finite.count)
        mean = m
        std =
            finite.count < 2
            ? 0 : (finite.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(finite.count - 1)).squareRoot()
    }

    public var text: String { mean.isNaN ? "" : String(format: "%.4f ± %.4f", mean, std) }
}

/// One row of `summary.csv`: a variant's results across its seeds.
public struct VariantSummary: Sendable {
    public var variant: String
    public var seeds: Int
    public var finalAccuracy: Spread
    public var bestAccuracy: Spread
    public var finalLoss: Spread
    public var bestLoss: Spread
    public var finalWeightNorm: Spread
    /// First round whose test accuracy reaches the target, per seed (nil: never).
    public var roundsToTarget: [Int?]
    public var finalRMSE: Spread

    public init(variant: String, runs: [RunMetrics], target: Double?) {
        self.variant = variant
        seeds = runs.count
        finalAccuracy = Spread(runs.map { $0.rounds.last?.testAccuracy ?? .nan })
        bestAccuracy = Spread(runs.map { $0.rounds.compactMap(\.testAccuracy).max() ?? .nan })
        finalLoss = Spread(runs.map { $0.rounds.last?.testLoss ?? .nan })
        bestLoss = Spread(runs.map { $0.rounds.map(\.testLoss).filter(\.isFinite).min() ?? .nan })
        finalWeightNorm = Spread(runs.map { $0.rounds.last?.weightNorm ?? .nan })
        finalRMSE = Spread(runs.map { $0.rounds.last?.testRMSE ?? .nan })
        roundsToTarget = runs.map { run in
            target.flatMap { t in run.rounds.first { ($0.testAccuracy ?? -1) >= t }?.round }
        }
    }

    /// "12.3 (3/3)": mean rounds over the seeds that reached the target, and how many did.
    public var roundsToTargetText: String {
        let reached = roundsToTarget.compactMap { $0 }
        guard !reached.isEmpty else { return "never (0/\(seeds))" }
        return String(
            format: "%.1f (%d/%d)", Double(reached.reduce(0, +)) / Double(reached.count), reached.count, seeds)
    }

    static let csvHeader =
        "variant,seeds,final_acc_mean,final_acc_std,best_acc_mean,best_acc_std,final_loss_mean,final_loss_std,"
        + "best_loss_mean,best_loss_std,rounds_to_target_mean,reached_target,final_weight_norm_mean,"
        + "final_weight_norm_std,final_rmse_mean,final_rmse_std\n"

    var csvRow: String {
        func f(_ x: Double) -> String { x.isNaN ? "" : String(format: "%.6g", x) }
        let reached = roundsToTarget.compactMap { $0 }
        let rounds = reached.isEmpty ? "" : String(format: "%.2f", Double(reached.reduce(0, +)) / Double(reached.count))
        let name =
            variant.contains(",") || variant.contains("\"")
            ? "\"" + variant.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : variant
        return [
            name, String(seeds), f(finalAccuracy.mean), f(finalAccuracy.std), f(bestAccuracy.mean), f(bestAccuracy.std),
            f(finalLoss.mean), f(finalLoss.std), f(bestLoss.mean), f(bestLoss.std), rounds, "\(reached.count)/\(seeds)",
            f(finalWeightNorm.mean), f(finalWeightNorm.std), f(finalRMSE.mean), f(finalRMSE.std),
        ].joined(separator: ",") + "\n"
    }
}
