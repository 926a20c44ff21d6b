import FedOptim
import FedProtocol
import FedTransport
import FedWire
import XCTest

final class WireCodecTests: XCTestCase {
    let p = 6
    lazy var optimizer = Optimizer(OptimizerSpec(.adamw), layout: .flat(p))
    lazy var template = optimizer.initialState(params: [Float](repeating: 0, count: p))
    lazy var codec = WireCodec(fingerprint: 0xABCD, parameterCount: p)

    private func frames(_ m: WireMessage, _ c: WireCodec? = nil) -> [Frame] { (c ?? codec).encode(m).map(\.received) }
    private func decode(_ f: [Frame]) throws -> WireMessage {
        try codec.decode(f, stateTemplate: { [template] id in id == 1 ? template : nil })
    }

    func testEveryKindRoundTrips() throws {
        var state = template
        state.step = 7
        state.transforms[0].storage = (0..<(2 * p)).map { Float($0) * 0.5 }
        let messages: [WireMessage] = [
            .hello(ranges: [0...4, 7...7]), .welcome(roundsCompleted: 3, runID: 0xDEAD_BEEF_0123),
            .task(ClientTask(round: 2, clientID: 0, globalWeights: [1, -2, 3, 0, 5e-8, -0.0], sharedState: nil)),
            .task(ClientTask(round: 2, clientID: 1, globalWeights: [1, 2, 3, 4, 5, 6], sharedState: state)),
            .update(
                ClientUpdate(
                    round: 9, clientID: 1, sampleCount: 12, delta: [0.5, 0, 0, 0, 0, -1], trainLoss: 0.25, steps: 3,
                    state: state)),
            .update(
                ClientUpdate(
                    round: 9, clientID: 0, sampleCount: 1, delta: [0, 0, 0, 0, 0, 1], trainLoss: 2, steps: 1, state: nil
                )),
            .update(
                ClientUpdate(
                    round: 9, clientID: 0, sampleCount: 1, delta: [0, 0, 0, 0, 0, 1], trainLoss: 2, steps: 1,
                    state: nil,
                    effectiveDecay: Double(Float(2.5e-5)))),
            .heartbeat, .error(code: .other(77), message: "boom ✓"), .shutdown,
        ]
        for m in messages { XCTAssertEqual(try decode(frames(m)), m, m.kindName) }
        // The header layout of docs/PROTOCOL.md.
        let head = frames(.heartbeat)[0]
        XCTAssertEqual(head.count, 16)
        XCTAssertEqual(Array(head[0..<4]), Array("FSIM".utf8))
        XCTAssertEqual(head[4], 1)
        XCTAssertEqual(head[5], 0)
        XCTAssertEqual(head[6], 5)
        XCTAssertEqual(head[8], 0xCD)
        XCTAssertEqual(head[9], 0xAB)
        XCTAssertEqual(
            frames(
                .update(
                    ClientUpdate(
                        round: 1, clientID: 0, sampleCount: 1, delta: [0, 0, 0, 0, 0, 0], trainLoss: 0, steps: 1,
                        state: nil)))[0].count, 48)
        XCTAssertEqual(
            frames(.task(ClientTask(round: 1, clientID: 0, globalWeights: [0, 0, 0, 0, 0, 0], sharedState: nil)))[1]
                .count, 4 * p)
    }

    func testMalformedMessagesAreRejectedWithTypedErrors() {
        let update = frames(
            .update(
                ClientUpdate(
                    round: 1, clientID: 0, sampleCount: 3, delta: [1, 2, 3, 4, 5, 6], trainLoss: 0, steps: 1, state: nil
                )))
        func mutate(_ f: [Frame], _ change: (inout [Frame]) -> Void) -> [Frame] {
            var g = f
            change(&g)
            return g
        }
        let task = frames(
            .task(ClientTask(round: 1, clientID: 0, globalWeights: [1, 2, 3, 4, 5, 6], sharedState: nil)))
        var nan = task
        nan[1].replaceSubrange(8..<12, with: withUnsafeBytes(of: Float.nan.bitPattern.littleEndian, Array.init))
        var inf = task
        inf[1].replaceSubrange(0..<4, with: withUnsafeBytes(of: Float.infinity.bitPattern.littleEndian, Array.init))
        let other = WireCodec(fingerprint: 0x1234, parameterCount: p)
        let cases: [([Frame], ProtocolError)] = [
            ([], .truncatedHeader(bytes: 0)),
            ([[1, 2, 3]], .truncatedHeader(bytes: 3)),
            (mutate(update) { $0[0][0] = UInt8(ascii: "X") }, .badMagic),
            (mutate(update) { $0[0][4] = 2 }, .unsupportedVersion(2)),
            (mutate(update) { $0[0][6] = 99 }, .unknownKind(99)),
            (frames(.heartbeat, other), .fingerprintMismatch(got: 0x1234, expected: 0xABCD)),
            (mutate(update) { $0[0].removeLast() }, .headerLength(kind: "UPDATE", got: 47, expected: 48)),
            (mutate(update) { $0[1].removeLast(4) }, .payloadLength(what: "UPDATE delta", got: 20, expected: 24)),
            (mutate(update) { $0[1] += [0, 0, 0, 0] }, .payloadLength(what: "UPDATE delta", got: 28, expected: 24)),
            (mutate(update) { $0.append([1]) }, .frameCount(kind: "UPDATE", got: 3, expected: 2)),
            (Array(update.prefix(1)), .frameCount(kind: "UPDATE", got: 1, expected: 2)),
            (nan, .nonFinite(what: "TASK weights", index: 2)),
            (inf, .nonFinite(what: "TASK weights", index: 0)),
            (
                mutate(update) {
                    $0[0][24] = 0
                    $0[0][25] = 0
                }, .invalidField("UPDATE sample count is 0")
            ),
            (mutate(update) { $0[0][41] = 2 }, .invalidField("UPDATE has_decay is 2")),
            (mutate(frames(.heartbeat)) { $0[0].append(0) }, .headerLength(kind: "HEARTBEAT", got: 17, expected: 16)),
            (
                mutate(frames(.hello(ranges: [0...1]))) { $0[0][16] = 0 },
                .invalidField("HELLO range count 0 is outside [1, 4096]")
            ),
        ]
        for (input, expected) in cases {
            XCTAssertThrowsError(try decode(input), "\(expected)") { XCTAssertEqual($0 as? ProtocolError, expected) }
        }
        // An UPDATE's values are not the decoder's business: a NaN delta decodes, and
        // UpdateValidator leaves it out of aggregation, as it does in a single-process run.
        var nanUpdate = update
        nanUpdate[1].replaceSubrange(8..<12, with: withUnsafeBytes(of: Float.nan.bitPattern.littleEndian, Array.init))
        guard case .update(let decoded)? = try? decode(nanUpdate) else {
            return XCTFail("a NaN delta is structurally valid")
        }
        XCTAssertTrue(decoded.delta[2].isNaN)
        // A state for a client whose policy is not aggregate, or with the wrong shape.
        var state = template
        state.step = 1
        let stateForZero = frames(
            .update(
                ClientUpdate(
                    round: 1, clientID: 0, sampleCount: 1, delta: [0, 0, 0, 0, 0, 0], trainLoss: 0, steps: 1,
                    state: state)))
        XCTAssertThrowsError(try decode(stateForZero)) {
            if case .stateShape = $0 as? ProtocolError {} else { XCTFail("\($0)") }
        }
        var wrongShape = frames(
            .update(
                ClientUpdate(
                    round: 1, clientID: 1, sampleCount: 1, delta: [0, 0, 0, 0, 0, 0], trainLoss: 0, steps: 1,
                    state: state)))
        wrongShape[3].removeLast(4)
        XCTAssertThrowsError(try decode(wrongShape)) {
            XCTAssertEqual($0 as? ProtocolError, .payloadLength(what: "state data", got: 44, expected: 48))
        }
    }

    /// Random bytes and random mutations of valid messages never trap: they decode or throw.
    func testFuzzedFramesNeverTrap() {
        var rng = SystemRandomNumberGenerator()
        let seeds = [
            frames(.heartbeat), frames(.hello(ranges: [0...3])),
            frames(
                .update(
                    ClientUpdate(
                        round: 1, clientID: 0, sampleCount: 2, delta: [1, 2, 3, 4, 5, 6], trainLoss: 1, steps: 1,
                        state: nil))),
        ]
        var rejected = 0
        for i in 0..<5000 {
            var f = seeds[i % seeds.count]
            let k = Int.random(in: 0..<f.count, using: &rng)
            switch i % 4 {
            case 0:
                if !f[k].isEmpty {
                    f[k][Int.random(in: 0..<f[k].count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
                }
            case 1: f[k] = Array(f[k].prefix(Int.random(in: 0...f[k].count, using: &rng)))
            case 2:
                f[k] += (0..<Int.random(in: 1...40, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            default:
                f = (0..<Int.random(in: 0...5, using: &rng)).map { _ in
                    (0..<Int.random(in: 0...64, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
                }
            }
            do { _ = try decode(f) } catch { rejected += 1 }
        }
        XCTAssertGreaterThan(rejected, 1000)
    }
}
