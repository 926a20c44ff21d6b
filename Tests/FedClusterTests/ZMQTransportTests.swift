import FedTransport
import FedTransportZMQ
import Foundation
import XCTest

/// The ZeroMQ layer on its own: multipart round trips over every transport, zero-copy float
/// payloads arriving intact, EAGAIN as a value, errors typed with libzmq's message.
final class ZMQTransportTests: XCTestCase {
    func testMultipartRoundTripsOverEveryTransport() throws {
        let context = try ZMQContext()
        let small: [Float] = [1, -2, .pi]
        let large = (0..<50_000).map { Float($0) * 0.25 - 7 }  // 200 KB: sent zero-copy except over inproc
        for endpoint in ["tcp://127.0.0.1:*", "ipc:///tmp/fedsim-zmqtest-\(getpid()).ipc", "inproc://zmqtest"] {
            let router = try ZMQSocket(context: context, kind: .router)
            try router.setRouterMandatory()
            let bound = try router.bind(endpoint)
            let dealer = try ZMQSocket(context: context, kind: .dealer)
            try dealer.setRoutingID("peer-1")
            try dealer.connect(bound)
            for round in 0..<20 {
                // The arrays are built per message and dropped at once: libzmq must keep them alive.
                try dealer.send([.bytes([UInt8(round)]), .floats(small), .floats(large.map { $0 + Float(round) })])
            }
            for round in 0..<20 {
                let frames = try XCTUnwrap(try router.receive(timeout: 5), endpoint)
                XCTAssertEqual(frames.count, 4)
                XCTAssertEqual(frames[0], Array("peer-1".utf8))
                XCTAssertEqual(frames[1], [UInt8(round)])
                XCTAssertEqual(frames[2], OutgoingFrame.floats(small).received)
                XCTAssertEqual(
                    frames[3], OutgoingFrame.floats(large.map { $0 + Float(round) }).received,
                    "\(endpoint) message \(round)")
            }
            XCTAssertNil(try router.receive(timeout: 0.01), "nothing left: a timeout is nil, not an error")
            // ROUTER_MANDATORY: a message to an unknown peer is an error, not silence.
            XCTAssertThrowsError(try router.send([.bytes(Array("nobody".utf8)), .bytes([1])])) {
                XCTAssertTrue(($0 as? ZMQError)?.isHostUnreachable == true, "\($0)")
            }
            if endpoint.hasPrefix("ipc://") {
                try? FileManager.default.removeItem(atPath: String(endpoint.dropFirst(6)))
            }
        }
    }

    func testErrorsAreTypedWithLibzmqsMessage() throws {
        let context = try ZMQContext()
        let socket = try ZMQSocket(context: context, kind: .router)
        XCTAssertThrowsError(try socket.bind("bogus://x")) { error in
            let e = error as? ZMQError
            XCTAssertEqual(e?.operation, "zmq_bind(bogus://x)")
            XCTAssertFalse(e?.message.isEmpty ?? true)
        }
        socket.close()
        XCTAssertThrowsError(try socket.connect("tcp://127.0.0.1:1"))
    }
}
