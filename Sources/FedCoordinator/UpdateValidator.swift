import FedProtocol

/// Why a client's update was left out of a round's aggregation.
public enum UpdateRejection: Error, Equatable, Sendable, CustomStringConvertible {
    case wrongSize(what: String, got: Int, expected: Int)
    case nonFinite(what: String, index: Int)
    case noSamples
    /// A sample count other than the client's shard holds (it would buy the client a larger
    /// share of the average).
    case wrongSampleCount(got: Int, expected: Int)
    case stateMissing
    case stateUnexpected
    /// A second moment below zero (no optimizer produces one; it would turn every delta to NaN).
    case negativeSecondMoment(index: Int)

    public var description: String {
        switch self {
        case .wrongSize(let what, let got, let expected): "\(what) has \(got) values, expected \(expected)"
        case .nonFinite(let what, let index): "\(what) holds a non-finite value at index \(index)"
        case .noSamples: "the sample count is 0"
        case .wrongSampleCount(let got, let expected):
            "claims \(got) samples; the topology gives this client \(expected)"
        case .stateMissing: "optimizer state missing (the client's policy is aggregate)"
        case .stateUnexpected: "optimizer state sent, but the client's policy is not aggregate"
        case .negativeSecondMoment(let index): "optimizer state: second moment v is negative at index \(index)"
        }
    }

    /// The counter it is counted under, `rejected.<name>` in `summary.json`.
    public var counterName: String {
        switch self {
        case .wrongSize: "bad_payload_length"
        case .nonFinite: "non_finite"
        case .noSamples, .wrongSampleCount: "invalid_field"
        case .stateMissing, .stateUnexpected, .negativeSecondMoment: "bad_state"
        }
    }
}

/// The one place that decides whether a client's update may enter aggregation — the same rules
/// for a client called in this process and one whose update crossed the wire (the decoder checks
/// only the frames' structure). A diverging client therefore costs the same in both modes: its
/// update is left out and counted, and the round goes on with the others.
public enum UpdateValidator {
    /// - Parameters:
    ///   - expectsState: whether the client's policy is *aggregate*.
    ///   - expectedSamples: the samples the topology gives this client (its shard), when known:
    ///     FedAvg weights by sample count, so a client may not claim more than it holds.
    public static func check(
        _ update: ClientUpdate, parameterCount: Int, expectsState: Bool, expectedSamples: Int? = nil
    ) -> UpdateRejection? {
        guard update.delta.count == parameterCount else {
            return .wrongSize(what: "delta", got: update.delta.count, expected: parameterCount)
        }
        if let bad = update.delta.firstIndex(where: { !$0.isFinite }) { return .nonFinite(what: "delta", index: bad) }
        guard update.sampleCount > 0 else { return .noSamples }
        if let expectedSamples, update.sampleCount != expectedSamples {
            return .wrongSampleCount(got: update.sampleCount, expected: expectedSamples)
        }
        guard update.trainLoss.isFinite else { return .nonFinite(what: "training loss", index: 0) }
        if let decay = update.effectiveDecay, !(decay.isFinite && decay >= 0) {
            return .nonFinite(what: "effective decay", index: 0)
        }
        switch (update.state, expectsState) {
        case (nil, true): return .stateMissing
        case (.some, false): return .stateUnexpected
        case (nil, false): return nil
        case (.some(let state), true):
            for transform in state.transforms {
                if let bad = transform.storage.firstIndex(where: { !$0.isFinite }) {
                    return .nonFinite(what: "optimizer state", index: bad)
                }
                if let bad = transform.scalars.firstIndex(where: { !$0.isFinite }) {
                    return .nonFinite(what: "optimizer state scalars", index: bad)
                }
                if let v = transform["v"], let bad = v.firstIndex(where: { $0 < 0 }) {
                    return .negativeSecondMoment(index: bad)
                }
            }
            return nil
        }
    }
}
