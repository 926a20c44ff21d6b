import FedTransport

/// A printable form of a ZeroMQ routing id (FedSim clients use readable ids; others print as hex).
func describe(identity: Frame) -> String {
    if identity.allSatisfy({ (0x21...0x7E).contains($0) }) { return String(decoding: identity, as: UTF8.self) }
    return "0x"
        + identity.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }
        .joined()
}

/// Splits `0..<count` into `parts` contiguous, near-equal ranges (the clients of each process).
public func splitClients(_ count: Int, into parts: Int) -> [ClosedRange<Int>] {
    let parts = max(1, min(parts, count))
    return (0..<parts).map { p in
        let lo = p * count / parts
        let hi = (p + 1) * count / parts - 1
        return lo...hi
    }
}

/// Parses `0-49,60,70-79` into ranges.
public func parseClientRanges(_ text: String) -> [ClosedRange<Int>]? {
    var result: [ClosedRange<Int>] = []
    for part in text.split(separator: ",") {
        let bounds = part.split(separator: "-", omittingEmptySubsequences: false).map {
            Int($0.trimmingCharacters(in: .whitespaces))
        }
        switch bounds.count {
        case 1:
            guard let a = bounds[0], a >= 0 else { return nil }
            result.append(a...a)
        case 2:
            guard let a = bounds[0], let b = bounds[1], a >= 0, a <= b else { return nil }
            result.append(a...b)
        default: return nil
        }
    }
    return result.isEmpty ? nil : result
}
