import FedSimulation
import FedTransportZMQ
import Foundation
import Synchronization

/// Clients hosted as threads of this process (for `inproc://` endpoints, which only reach
/// sockets of the same ZeroMQ context).
public final class ClientThreads: Sendable {
    private let finished = Mutex<[Int32]>([])

    public init() {}

    public func start(
        prepared: PreparedRun, ranges: [ClosedRange<Int>], context: ZMQContext, endpoint: String,
        stateDirectory: URL, stop: StopSignal
    ) {
        for range in ranges {
            let thread = Thread { [self] in
                let events = EventLog(file: nil, prefix: "clients \(range.lowerBound)-\(range.upperBound)")
                do {
                    let host = try ClientHost.make(
                        prepared: prepared, ranges: [range], context: context, endpoint: endpoint,
                        stateDirectory: stateDirectory, events: events, shouldStop: { stop.isSet })
                    let status = try host.run()
                    finished.withLock { $0.append(status) }
                } catch {
                    events.log("error: \(error)")
                    finished.withLock { $0.append(1) }
                }
            }
            thread.start()
        }
    }

    public var exited: Int { finished.withLock { $0.count } }
}
