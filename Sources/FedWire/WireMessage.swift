import FedOptim
import FedProtocol

/// The messages of protocol version 1 (`docs/PROTOCOL.md`).
public enum WireMessage: Sendable, Equatable {
    case hello(ranges: [ClosedRange<Int>])
    /// `runID` names this run instance (kept across coordinator restarts), so a client process
    /// restores only optimizer-state snapshots it wrote for this very run.
    case welcome(roundsCompleted: Int, runID: UInt64)
    case task(ClientTask)
    case update(ClientUpdate)
    case heartbeat
    case error(code: ProtocolErrorCode, message: String)
    case shutdown

    public var kindName: String {
        switch self {
        case .hello: "HELLO"
        case .welcome: "WELCOME"
        case .task: "TASK"
        case .update: "UPDATE"
        case .heartbeat: "HEARTBEAT"
        case .error: "ERROR"
        case .shutdown: "SHUTDOWN"
        }
    }
}

extension ClientTask: Equatable {
    public static func == (a: ClientTask, b: ClientTask) -> Bool {
        a.round == b.round && a.clientID == b.clientID
            && a.globalWeights.map(\.bitPattern) == b.globalWeights.map(\.bitPattern)
            && a.sharedState == b.sharedState
    }
}

/// The codes an `ERROR` carries (`docs/PROTOCOL.md`), and what the receiver does.
public enum ProtocolErrorCode: Equatable, Sendable, CustomStringConvertible {
    /// Coordinator → client: this peer never said HELLO (e.g. the coordinator restarted). The client says HELLO again.
    case unknownPeer
    /// Coordinator → client: another run fingerprint (topology, seed or data). The client process exits with status 2.
    case wrongRun
    /// Coordinator → client: an unsupported protocol version. The client process exits with status 2.
    case unsupportedVersion
    /// Coordinator → client: HELLO named ids outside `0 … clients.count − 1`. The client process exits with status 2.
    case clientIDsOutOfRange
    /// Client → coordinator: a TASK for a client this process does not host. The coordinator logs it.
    case clientNotHosted
    /// Coordinator → client: HELLO named ids that a live peer holds. Refused, not obeyed: the
    /// client says HELLO again a heartbeat later (the ids are free once their holder is dead).
    case clientIDsHeld
    /// Coordinator → client: HELLO named ids that the sender's CURVE key may not hold (the
    /// allow-list binds each key to its ids). The client process exits with status 2.
    case clientIDsNotAllowed
    /// A code this side does not know (logged, otherwise ignored).
    case other(UInt16)

    public init(rawValue: UInt16) {
        self =
            switch rawValue {
            case 1: .unknownPeer
            case 2: .wrongRun
            case 3: .unsupportedVersion
            case 4: .clientIDsOutOfRange
            case 5: .clientNotHosted
            case 6: .clientIDsHeld
            case 7: .clientIDsNotAllowed
            default: .other(rawValue)
            }
    }

    public var rawValue: UInt16 {
        switch self {
        case .unknownPeer: 1
        case .wrongRun: 2
        case .unsupportedVersion: 3
        case .clientIDsOutOfRange: 4
        case .clientNotHosted: 5
        case .clientIDsHeld: 6
        case .clientIDsNotAllowed: 7
        case .other(let code): code
        }
    }

    /// Whether the receiving client process must give up (exit status 2).
    public var isFatal: Bool {
        self == .wrongRun || self == .unsupportedVersion || self == .clientIDsOutOfRange || self == .clientIDsNotAllowed
    }

    public var description: String { "\(rawValue)" }
}
