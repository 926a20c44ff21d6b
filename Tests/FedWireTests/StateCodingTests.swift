import FedOptim
import FedProtocol
import FedWire
import XCTest

/// One layout for an optimizer state everywhere (wire, snapshots, checkpoints): it round-trips
/// exactly, and anything that does not fit the template is refused, never trapped on.
final class StateCodingTests: XCTestCase {
    var template: OptimizerState {
        OptimizerState(
            step: 0,
            transforms: [TransformState(names: ["m", "v"], count: 3), TransformState(names: [], scalars: [1])])
    }

    var state: OptimizerState {
        var s = template
        s.step = 17
        s.transforms[0].storage = [0.5, -1, 2, 0.25, 0.125, 4]
        s.transforms[1].scalars = [0.875]
        return s
    }

    func testAStateRoundTripsBitForBit() throws {
        let decoded = try OptimizerStateCoding.decode(
            header: OptimizerStateCoding.header(state),
            data: Float32LE.bytes(OptimizerStateCoding.data(state)),
            template: template, requireFinite: true)
        XCTAssertEqual(decoded, state)
    }

    func testAStateOfAnotherShapeIsRefused() {
        let other = OptimizerState(
            step: 0, transforms: [TransformState(names: ["m"], count: 3), TransformState(names: [], scalars: [1])])
        XCTAssertThrowsError(
            try OptimizerStateCoding.decode(
                header: OptimizerStateCoding.header(state),
                data: Float32LE.bytes(OptimizerStateCoding.data(state)),
                template: other, requireFinite: true))
        var nan = state
        nan.transforms[0].storage[1] = .nan
        XCTAssertThrowsError(
            try OptimizerStateCoding.decode(
                header: OptimizerStateCoding.header(nan),
                data: Float32LE.bytes(OptimizerStateCoding.data(nan)),
                template: template, requireFinite: true))
    }
}

/// The checkpoint's container: metadata and named arrays round-trip; truncation is refused.
final class BlobFileTests: XCTestCase {
    func testRoundTripAndTruncation() throws {
        let parts = BlobFile.parts(
            meta: Array("{\"round\":3}".utf8), blobs: [("weights", .floats([1, -2, 0.5])), ("empty", .bytes([]))])
        let bytes = parts.flatMap(\.received)
        let (meta, blobs) = try BlobFile.decode(bytes)
        XCTAssertEqual(String(decoding: meta, as: UTF8.self), "{\"round\":3}")
        XCTAssertEqual(blobs["weights"].map(Float32LE.values), [1, -2, 0.5])
        XCTAssertEqual(blobs["empty"], [])
        for cut in 0..<bytes.count { XCTAssertThrowsError(try BlobFile.decode(Array(bytes.prefix(cut)))) }
        XCTAssertThrowsError(try BlobFile.decode(bytes + [0]))
    }
}
