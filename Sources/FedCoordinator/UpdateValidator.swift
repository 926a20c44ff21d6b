import FedProtocol

/// Why a client's update was left out of a round's aggregation.
public enum UpdateRejection: Error, Equatable, Sendable, CustomStringConvertible {
    case wrongSize(what: String, got: Int, expected: Int)
    case nonFinite(what: String, index: Int)
    case noSamples
    case stateMissing
    case stateUnexpected
    /// A second moment below zero (no optimizer produces one; it would turn every delta to NaN).
    case negativeSecondMoment(index: Int)

    public var description: String {
        switch self {
        case .wrongSize(let what, let got, let expected): "\(what) has \(got) values, expected \(expected)"
        case .nonFinite(let what, let index): "\(what) holds a non-finite value at index \(index)"
        case .noSamples: "the sample count is 0"
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
        case .noSamples: "invalid_field"
        case .stateMissing, .stateUnexpected, .negativeSecondMoment: "bad_state"
        }
    }
}

/// The one place that decides whether a client's update may enter aggregation — the same rules
/// for a client called in this process and one whose update crossed the wire (the decoder checks
/// only the frames' structure). A diverging client therefore costs the same in both modes: its
/// update is left out and counted, and the round goes on with the others.
public enum UpdateValidator {
    /// - Parameter expectsState: whether the client's policy is *aggregate*.
    public static func check(_ update: ClientUpdate, parameterCount: Int, expectsState: Bool) -> UpdateRejection? {
        guard update.delta.count == parameterCount else {
            return .wrongSize(what: "delta", got: update.delta.count, expected: parameterCount)
        }
        if let bad = update.delta.firstIndex(where: { !$0.isFinite }) { return .nonFinite(what: "delta", index: bad) }
        guard update.sampleCount > 0 else { return .noSamples }
        guard update.trainLoss.isFinite else { return .nonFinite(what: "training loss", index: 0) }
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
