import CZeroMQ
import Foundation

/// libzmq's own one-way throughput for a payload size, with no FedSim code on the path: a
/// DEALER sends `count` messages of `bytes` bytes (`zmq_send` from one buffer) to a ROUTER that
/// receives them into `zmq_msg_t`s without copying. The baseline for `fedsim bench transport`.
public enum RawThroughput {
    /// Returns bytes per second.
    public static func measure(endpoint: String, bytes: Int, count: Int) throws -> Double {
        let context = try ZMQContext()
        let receiver = try ZMQSocket(context: context, kind: .router)
        try receiver.setOption(ZMQ_RCVHWM, Int32(0))
        let bound = try receiver.bind(endpoint)
        let payload = [UInt8](repeating: 0x5A, count: bytes)
        // The sending socket lives on its own thread (sockets are never shared between threads).
        let thread = Thread {
            guard let sender = try? ZMQSocket(context: context, kind: .dealer) else { return }
            try? sender.setOption(ZMQ_SNDHWM, Int32(0))
            try? sender.setLinger(nil)  // deliver everything before the socket closes
            try? sender.connect(bound)
            _ = try? sender.send([.bytes([1])])  // warm-up: establishes the connection
            payload.withUnsafeBytes { p in
                for _ in 0..<count {
                    _ = try? zmqCall("zmq_send") { zmq_send(sender.rawHandle, p.baseAddress, bytes, 0) }
                }
            }
        }
        thread.start()
        guard try receiver.receive(timeout: 10) != nil else {
            throw ZMQError(operation: "warm-up", code: ETIMEDOUT, message: "no connection")
        }
        let start = DispatchTime.now().uptimeNanoseconds
        var received = 0
        var message = zmq_msg_t()
        while received < count {
            zmq_msg_init(&message)
            defer { zmq_msg_close(&message) }
            _ = try zmqCall("zmq_msg_recv") { zmq_msg_recv(&message, receiver.rawHandle, 0) }  // routing id
            zmq_msg_close(&message)
            zmq_msg_init(&message)
            _ = try zmqCall("zmq_msg_recv") { zmq_msg_recv(&message, receiver.rawHandle, 0) }  // payload
            received += 1
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        return Double(bytes * count) / seconds
    }
}
