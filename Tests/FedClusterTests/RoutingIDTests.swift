import FedTransport
import FedTransportZMQ
import Foundation
import XCTest

@testable import FedCluster

/// A ROUTER refuses a second connection whose routing id it already has. Client processes used
/// to name their connections `clients-A-B-pid<PID>-c<n>`, so a stranger who guessed the PID and
/// connected first kept the process out until the join timeout. The ids now end in a nonce.
final class RoutingIDTests: XCTestCase {
    func testAStrangerHoldingThePredictableIdDoesNotKeepAProcessOut() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fedsim-rid-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let id = ClientHost.routingID(first: 0, last: 4, connection: 1)
        let predictable = "clients-0-4-pid\(getpid())-c1"
        XCTAssertTrue(id.hasPrefix(predictable), "readable in events.log: \(id)")
        XCTAssertNotEqual(id, ClientHost.routingID(first: 0, last: 4, connection: 1), "a fresh nonce each time")

        let context = try ZMQContext()
        let endpoint = "ipc://\(dir.path)/r.ipc"
        let router = try ZMQSocket(context: context, kind: .router)
        try router.setRouterMandatory()
        try router.bind(endpoint)
        // The stranger connects first under the id the old scheme gave this process's first connection.
        let stranger = try ZMQSocket(context: context, kind: .dealer)
        try stranger.setRoutingID(predictable)
        try stranger.connect(endpoint)
        try stranger.send([.bytes(Array("squat".utf8))])
        let squat = try XCTUnwrap(router.receive(timeout: 5), "the stranger's message arrives")
        XCTAssertEqual(squat.first, Array(predictable.utf8))

        let honest = try ClientHost.dealer(
            context: context, endpoint: endpoint, routingID: id, maxFrameBytes: 1 << 20, curve: nil)
        try honest.send([.bytes(Array("hello".utf8))])
        let hello = try XCTUnwrap(router.receive(timeout: 3), "the process's connection is refused by the ROUTER")
        XCTAssertEqual(hello.first, Array(id.utf8))
        XCTAssertEqual(hello.last, Array("hello".utf8))
        honest.close()
        stranger.close()
        router.close()
    }
}
