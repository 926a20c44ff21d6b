import FedProtocol
import FedSimulation
import FedTopology
import FedTransportMemory
import FedWire
import Foundation

/// A small prepared run for protocol tests: 8 clients on blobs, 4 per round.
func protocolTestRun(_ cluster: String = "", epochs: Int = 1, state: String = "reset") throws -> PreparedRun {
    try PreparedRun.prepare(
        Topology.parse(
            """
            name: protocol
            seed: 5
            rounds: 3
            data: {source: blobs, count: 240, features: 4, classes: 3}
            model: {kind: softmax}
            clients:
              count: 8
              per_round: 4
              local: {epochs: \(epochs), batch_size: 10}
              optimizer: {name: adamw, lr: 0.01}
              state: \(state)
            cluster: {\(cluster)}
            """, baseDirectory: "/tmp"))
}

/// A scripted client process on a memory network: it speaks the real codec, and answers what
/// the test tells it to.
final class ScriptedProcess {
    let dealer: MemoryDealer
    let codec: WireCodec
    let ranges: [ClosedRange<Int>]
    /// Every message it received, decoded.
    private(set) var received: [WireMessage] = []
    /// How it answers a TASK (nil: it stays silent).
    var answer: ((ClientTask) -> ClientUpdate?)? = ScriptedProcess.honest
    /// Trains nothing, but answers like an honest client.
    static let honest: @Sendable (ClientTask) -> ClientUpdate? = { task in
        ClientUpdate(
            round: task.round, clientID: task.clientID, sampleCount: 10,
            delta: [Float](repeating: 0.01, count: task.globalWeights.count), trainLoss: 0.5, steps: 1, state: nil)
    }
    var answersHeartbeats = true
    private let clock: ManualClock
    /// When to say HELLO again, after the coordinator refused it (ids held), as ClientHost does.
    private var helloAgainAt: Double?

    init(_ network: MemoryNetwork, id: String, codec: WireCodec, ranges: [ClosedRange<Int>]) {
        dealer = network.dealer(id: id)
        self.codec = codec
        self.ranges = ranges
        clock = network.clock
        network.addActor { self.act() }  // the network keeps its scripted peers alive
    }

    func say(_ message: WireMessage) { _ = try? dealer.send(codec.encode(message)) }
    func hello() { say(.hello(ranges: ranges)) }

    private func act() {
        if let at = helloAgainAt, clock.now >= at {
            helloAgainAt = nil
            hello()
        }
        while let frames = dealer.take() {
            guard let message = try? codec.decode(frames) else { continue }
            received.append(message)
            switch message {
            case .task(let task):
                if let update = answer?(task) { say(.update(update)) }
            case .heartbeat:
                if answersHeartbeats { say(.heartbeat) }
            case .error(.clientIDsHeld, _):
                helloAgainAt = clock.now + 1
            default:
                break
            }
        }
    }

    var kinds: [String] { received.map(\.kindName) }
}

/// A scripted coordinator on a memory network, for client-host tests.
final class ScriptedCoordinator {
    let router: MemoryRouter
    let codec: WireCodec
    /// Every message it received, with the sender's routing id.
    private(set) var received: [(from: String, message: WireMessage)] = []
    /// Its reply to each message (routing id, message): by default WELCOME to HELLO, HEARTBEAT to HEARTBEAT.
    var reply: (String, WireMessage) -> [WireMessage] = { _, message in
        switch message {
        case .hello: [.welcome(roundsCompleted: 0, runID: 77)]
        case .heartbeat: [.heartbeat]
        default: []
        }
    }

    init(_ network: MemoryNetwork, codec: WireCodec) {
        router = network.router()
        self.codec = codec
        network.addActor { self.act() }
    }

    func send(_ message: WireMessage, to id: String) {
        _ = try? router.send([.bytes(Array(id.utf8))] + codec.encode(message))
    }

    private func act() {
        while let frames = try? router.receive(timeout: 0) {
            let id = String(decoding: frames[0], as: UTF8.self)
            guard let message = try? codec.decode(Array(frames.dropFirst())) else { continue }
            received.append((id, message))
            for answer in reply(id, message) { send(answer, to: id) }
        }
    }
}
