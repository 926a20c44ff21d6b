import FedCoordinator
import FedSimulation
import Foundation

/// One run's per-round metrics, read back from its `rounds.jsonl`.
public struct RunMetrics: Sendable {
    public var rounds: [RoundRecord]
    /// The final model's accuracy on each client's own data (`client_accuracy.csv`, written
    /// with `metrics.client_accuracy`), nil without it.
    public var clientAccuracies: [Double]?

    public init(rounds: [RoundRecord], clientAccuracies: [Double]? = nil) {
        self.rounds = rounds
        self.clientAccuracies = clientAccuracies
    }

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
        var accuracies: [Double]?
        if let csv = try? String(
            contentsOf: dir.appendingPathComponent(RunDirectory.clientAccuracyFile), encoding: .utf8)
        {
            accuracies = csv.split(separator: "\n").dropFirst().compactMap { line in
                line.split(separator: ",", omittingEmptySubsequences: false).last.flatMap { Double($0) }
            }
        }
        return RunMetrics(rounds: rounds, clientAccuracies: accuracies)
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

/// One row of `summary.csv`: a variant's results across its seeds, each a mean with its 95 %
/// confidence interval. What each column selects on is spelled out, because "best test
/// accuracy" selects on the test set and is optimistic; the validated columns do not.
public struct VariantSummary: Sendable {
    public var variant: String
    public var seeds: Int
    public var classification: Bool
    public var finalAccuracy: Interval
    /// The mean over the last `finalWindow` rounds, per seed: less noisy than one final round.
    public var windowAccuracy: Interval
    public var windowLoss: Interval
    /// The best test accuracy of any round (selected on the test set itself: optimistic).
    public var bestTestAccuracy: Interval
    /// The round with the best validation metric, per seed, and the test metrics there
    /// (nil without a validation split).
    public var selectedRound: Interval?
    public var selectedTestAccuracy: Interval?
    public var selectedTestLoss: Interval?
    /// The best validation metric (accuracy, or loss for regression), per seed: what tuning ranks.
    public var bestValidation: Interval?
    public var finalLoss: Interval
    public var finalWeightNorm: Interval
    public var finalRMSE: Interval
    /// First round whose test accuracy reaches the target, per seed (nil: never — censored).
    public var roundsToTarget: [Int?]
    /// With the virtual clock: the virtual time at that round, per seed (nil: never), and the
    /// virtual time each run took in all (nil without the clock).
    public var virtualTimeToTarget: [Double?]
    public var finalVirtualTime: Interval?
    public var longestVirtualTime: Double?
    /// The rounds each run had (the censoring point of a run that never reached the target).
    public var rounds: Int
    public var target: Double?
    /// The per-seed value the paired comparison uses: the window's mean test accuracy (test
    /// loss for regression).
    public var primaryBySeed: [Int: Double]
    /// Against the baseline (nil for the baseline itself).
    public var versusBaseline: PairedComparison?

    public init(variant: String, runs: [Int: RunMetrics], target: Double?, finalWindow: Int) {
        self.variant = variant
        self.target = target
        seeds = runs.count
        let ordered = runs.keys.sorted().map { ($0, runs[$0]!) }
        classification = ordered.contains { $0.1.rounds.contains { $0.testAccuracy != nil } }
        func each(_ f: (RunMetrics) -> Double?) -> Interval { Interval(ordered.map { f($0.1) ?? .nan }) }
        func window(_ run: RunMetrics, _ value: (RoundRecord) -> Double?) -> Double? {
            run.windowMean(finalWindow, value)
        }
        finalAccuracy = each { $0.rounds.last?.testAccuracy }
        windowAccuracy = each { window($0, \.testAccuracy) }
        windowLoss = each { window($0, \.testLoss) }
        bestTestAccuracy = each { $0.rounds.compactMap(\.testAccuracy).max() }
        finalLoss = each { $0.rounds.last?.testLoss }
        finalWeightNorm = each { $0.rounds.last?.weightNorm }
        finalRMSE = each { $0.rounds.last?.testRMSE }
        rounds = ordered.map { $0.1.rounds.count - 1 }.max() ?? 0
        let isClassification = classification
        let selected = ordered.map { $0.1.selectedRound(classification: isClassification) }
        if selected.contains(where: { $0 != nil }) {
            selectedRound = Interval(selected.map { $0.map { Double($0.round) } ?? .nan })
            selectedTestAccuracy = Interval(selected.map { $0?.testAccuracy ?? .nan })
            selectedTestLoss = Interval(selected.map { $0?.testLoss ?? .nan })
            bestValidation = Interval(
                selected.map { ($0.flatMap { isClassification ? $0.validationAccuracy : $0.validationLoss }) ?? .nan })
        }
        roundsToTarget = ordered.map { run in
            target.flatMap { t in run.1.rounds.first { ($0.testAccuracy ?? -1) >= t }?.round }
        }
        let timed = !ordered.isEmpty && ordered.allSatisfy { $0.1.rounds.last?.virtualTime != nil }
        virtualTimeToTarget =
            timed
            ? ordered.map { run in
                target.flatMap { t in run.1.rounds.first { ($0.testAccuracy ?? -1) >= t }?.virtualTime }
            } : []
        finalVirtualTime = timed ? each { $0.rounds.last?.virtualTime } : nil
        longestVirtualTime = timed ? ordered.compactMap { $0.1.rounds.last?.virtualTime }.max() : nil
        var primary: [Int: Double] = [:]
        for (seed, run) in ordered {
            if let v = window(run, { isClassification ? $0.testAccuracy : $0.testLoss }) { primary[seed] = v }
        }
        primaryBySeed = primary
    }

    /// The median rounds to the target over every seed, a run that never reached it counted as
    /// censored (after its last round), not dropped: "12", or "> 30" when half or more never got there.
    public var roundsToTargetMedian: String {
        guard !roundsToTarget.isEmpty else { return "" }
        guard let median = roundsToTargetMedianValue else { return "> \(rounds)" }
        return median == median.rounded() ? String(Int(median)) : String(format: "%.1f", median)
    }

    /// The same median as a number; nil when half or more of the runs never reached the target.
    public var roundsToTargetMedianValue: Double? { Self.censoredMedian(roundsToTarget.map { $0.map(Double.init) }) }

    /// The median virtual time to the target, censored as the rounds are (nil: half or more never
    /// got there, or no clock).
    public var virtualTimeToTargetMedianValue: Double? { Self.censoredMedian(virtualTimeToTarget) }

    /// "12.3 s", or "> 400 s" (the longest run's virtual time) when half or more never got there.
    public var virtualTimeToTargetMedian: String {
        guard !virtualTimeToTarget.isEmpty else { return "" }
        guard let median = virtualTimeToTargetMedianValue else {
            return String(format: "> %.4g s", longestVirtualTime ?? 0)
        }
        return String(format: "%.4g s", median)
    }

    /// "4511 ± 26 s": the run's virtual time across seeds (four significant digits).
    public var finalVirtualTimeText: String {
        guard let t = finalVirtualTime, !t.mean.isNaN else { return "—" }
        // Four significant digits on the mean, and the half-width to the same decimal place.
        let decimals = t.mean == 0 ? 2 : min(4, max(0, 3 - Int(log10(abs(t.mean)).rounded(.down))))
        return t.halfWidth.isNaN
            ? String(format: "%.*f s", decimals, t.mean)
            : String(format: "%.*f ± %.*f s", decimals, t.mean, decimals, t.halfWidth)
    }

    /// The median of values where nil is censored (larger than every value): nil when the median
    /// itself is censored.
    static func censoredMedian(_ values: [Double?]) -> Double? {
        guard !values.isEmpty else { return nil }
        let sorted = values.map { $0 ?? .infinity }.sorted()
        let n = sorted.count
        guard sorted[n / 2].isFinite else { return nil }
        return n % 2 == 1 ? sorted[n / 2] : (sorted[(n - 1) / 2] + sorted[n / 2]) / 2
    }

    public var reachedText: String { "\(roundsToTarget.compactMap { $0 }.count)/\(seeds)" }

    static let csvHeader =
        "variant,n_seeds,final_acc_mean,final_acc_ci95,window_acc_mean,window_acc_ci95,window_loss_mean,"
        + "window_loss_ci95,selected_round_mean,selected_test_acc_mean,selected_test_acc_ci95,selected_test_loss_mean,"
        + "best_validation_mean,best_validation_ci95,best_test_acc_mean,final_loss_mean,final_loss_ci95,"
        + "final_weight_norm_mean,final_weight_norm_ci95,final_rmse_mean,final_rmse_ci95,rounds_to_target_median,"
        + "reached,diff_vs_baseline,diff_ci95_low,diff_ci95_high,paired_t_p,sign_test_p,significant,"
        + "virtual_time_to_target_median,final_virtual_time_mean,final_virtual_time_ci95\n"

    var csvRow: String {
        func f(_ x: Double?) -> String { x.map { $0.isNaN ? "" : String(format: "%.6g", $0) } ?? "" }
        let name =
            variant.contains(",") || variant.contains("\"")
            ? "\"" + variant.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : variant
        let paired = versusBaseline
        return [
            name, String(seeds), f(finalAccuracy.mean), f(finalAccuracy.halfWidth), f(windowAccuracy.mean),
            f(windowAccuracy.halfWidth), f(windowLoss.mean), f(windowLoss.halfWidth), f(selectedRound?.mean),
            f(selectedTestAccuracy?.mean), f(selectedTestAccuracy?.halfWidth), f(selectedTestLoss?.mean),
            f(bestValidation?.mean), f(bestValidation?.halfWidth), f(bestTestAccuracy.mean), f(finalLoss.mean),
            f(finalLoss.halfWidth), f(finalWeightNorm.mean), f(finalWeightNorm.halfWidth), f(finalRMSE.mean),
            f(finalRMSE.halfWidth), target == nil ? "" : roundsToTargetMedianValue.map { f($0) } ?? "",
            target == nil ? "" : String(roundsToTarget.compactMap { $0 }.count),
            f(paired?.difference.mean), f(paired?.difference.low), f(paired?.difference.high),
            f(paired?.pairedTP), f(paired?.signTestP), paired.map { $0.significant ? "true" : "false" } ?? "",
            target == nil ? "" : f(virtualTimeToTargetMedianValue), f(finalVirtualTime?.mean),
            f(finalVirtualTime?.halfWidth),
        ].joined(separator: ",") + "\n"
    }
}

extension RunMetrics {
    /// The mean of `value` over the run's last `k` rounds (round 0 excluded; rounds without the
    /// value skipped), nil when none has it.
    public func windowMean(_ k: Int, _ value: (RoundRecord) -> Double?) -> Double? {
        let tail = rounds.dropFirst().suffix(k).compactMap(value)
        return tail.isEmpty ? nil : tail.reduce(0, +) / Double(tail.count)
    }

    /// The round with the best validation metric (highest accuracy, or lowest loss for
    /// regression; the earliest on ties), nil without validation metrics. Round 0 (the initial
    /// model) is not a candidate.
    public func selectedRound(classification: Bool) -> RoundRecord? {
        var best: RoundRecord?
        for r in rounds.dropFirst() {
            guard let score = classification ? r.validationAccuracy : r.validationLoss, score.isFinite else { continue }
            guard let b = best, let current = classification ? b.validationAccuracy : b.validationLoss else {
                best = r
                continue
            }
            if classification ? score > current : score < current { best = r }
        }
        return best
    }
}
