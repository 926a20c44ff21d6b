import ArgumentParser
import FedCluster
import FedModels
import FedTransport

/// `--endpoint` and `--connect`: checked when the flag is read (a port of 99999 is an error, not a wrap).
extension Endpoint: ExpressibleByArgument {
    public init?(argument: String) {
        guard let endpoint = try? Endpoint(parsing: argument) else { return nil }
        self = endpoint
    }

    public static var defaultValueDescription: String {
        "tcp://HOST:PORT (PORT 1-65535, or * to bind any), ipc://PATH, inproc://NAME"
    }
}

/// `--clients 0-49,60,70-79`: the virtual client ids a client process hosts.
struct ClientIDRanges: ExpressibleByArgument {
    let ranges: [ClosedRange<Int>]

    init?(argument: String) {
        guard let ranges = parseClientRanges(argument) else { return nil }
        self.ranges = ranges
    }

    var text: String {
        ranges.map { $0.count == 1 ? "\($0.lowerBound)" : "\($0.lowerBound)-\($0.upperBound)" }.joined(separator: ",")
    }
}

extension NetworkPreset: ExpressibleByArgument {}
