import FedSimulation
import FedTopology
import FedTransport
import FedTransportZMQ
import FedWire
import Foundation
import XCTest

@testable import FedCluster

/// What one peer can make the coordinator hold: a peer that floods large frames while the
/// coordinator reads nothing gets ⌊peer_queue_bytes / frame limit⌋ of them queued, and then
/// libzmq stops reading its connection, so its own sends are refused. (Before, every connection
/// queued up to 1,000 frames of up to the frame limit, and a flood from 200 sockets took a
/// coordinator from 33 MB to 1.45 GB.)
final class PeerQueueTests: XCTestCase {
    func testAFloodWhileTheCoordinatorIsBusyQueuesAtMostPeerQueueBytes() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fedsim-peerq-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        var spec = ClusterSpec()
        spec.peerQueueBytes = 1 << 20
        let codec = WireCodec(fingerprint: 1, parameterCount: 12_288)  // frame limit 16·P + 64 KiB = 256 KiB
        XCTAssertEqual(codec.maxFrameBytes, 262_144)
        XCTAssertEqual(spec.peerQueueMessages(maxFrameBytes: codec.maxFrameBytes), 4)
        XCTAssertEqual(ClusterSpec().peerQueueMessages(maxFrameBytes: codec.maxFrameBytes), 256)
        XCTAssertEqual(spec.peerQueueMessages(maxFrameBytes: 1 << 30), 1, "at least one frame")

        let context = try ZMQContext()
        let endpoint = "ipc://\(dir.path)/q.ipc"
        let coordinator = try ClusterCoordinator.bind(
            context: context, endpoint: endpoint, codec: codec, spec: spec, clientCount: 1,
            events: EventLog(file: nil, prefix: "test", echo: false), roundsCompleted: 0, runID: 1,
            stateTemplate: { _ in nil }, shouldStop: { false })
        _ = coordinator
        let flooder = try ZMQSocket(context: context, kind: .dealer)
        try flooder.setSendHighWaterMark(1)
        try flooder.connect(endpoint)
        // Frames just under the limit, sent without waiting until none has been taken for 0.3 s
        // (at most 3,000 tries or 10 s). The coordinator is busy: it reads nothing meanwhile.
        let frame = [OutgoingFrame.bytes([UInt8](repeating: 0x46, count: 250_000))]
        var accepted = 0
        var tries = 0
        let start = Date()
        var lastAccepted = start
        while tries < 3_000, Date().timeIntervalSince(lastAccepted) < 0.3, Date().timeIntervalSince(start) < 10 {
            tries += 1
            if try flooder.send(frame, dontWait: true) {
                accepted += 1
                lastAccepted = Date()
            } else {
                Thread.sleep(forTimeInterval: 0.001)
            }
        }
        // The coordinator's queue (4), the frame libzmq is reading, the flooder's own queue (1)
        // and what the kernel's socket buffers hold: a handful, not hundreds.
        XCTAssertGreaterThanOrEqual(accepted, 4)
        XCTAssertLessThanOrEqual(accepted, 12, "the coordinator queued more than peer_queue_bytes for one peer")
        flooder.close()
    }
}
