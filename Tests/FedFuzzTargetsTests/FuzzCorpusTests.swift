import FedCore
import FedFuzzTargets
import Foundation
import XCTest

/// The fuzz targets' committed corpora (`Tests/Fuzz/corpus/`, grown by `Scripts/fuzz.sh`) replay
/// without a crash, and so do 10,000 seeded mutations of them: a short smoke run of what
/// libFuzzer does at length, in every CI run.
final class FuzzCorpusTests: XCTestCase {
    let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fuzz/corpus")

    func inputs(_ target: FuzzTarget) throws -> [[UInt8]] {
        let dir = corpus.appendingPathComponent(target.rawValue)
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
        return try files.map { [UInt8](try Data(contentsOf: dir.appendingPathComponent($0))) }
    }

    func testTheCorporaReplay() throws {
        for target in FuzzTarget.allCases {
            let all = try inputs(target)
            XCTAssertFalse(all.isEmpty, "\(target) has a corpus")
            XCTAssertTrue(target.seeds.allSatisfy { target.run($0) || target == .idx }, "\(target)'s seeds are valid")
            for input in all { target.run(input) }
        }
    }

    /// Bytes flipped, cut, repeated and inserted, 2,000 times per target, from a fixed seed.
    func testMutationsOfTheCorporaNeverCrash() throws {
        var rng = SeededRandom(seed: 2026)
        for target in FuzzTarget.allCases {
            let all = try inputs(target)
            for _ in 0..<2000 {
                var bytes = all[rng.nextInt(below: all.count)]
                for _ in 0..<(1 + rng.nextInt(below: 4)) {
                    let at = bytes.isEmpty ? 0 : rng.nextInt(below: bytes.count)
                    switch rng.nextInt(below: 5) {
                    case 0 where !bytes.isEmpty: bytes[at] = UInt8(rng.nextInt(below: 256))
                    case 1 where !bytes.isEmpty:
                        bytes.removeSubrange(at..<min(bytes.count, at + 1 + rng.nextInt(below: 8)))
                    case 2:
                        bytes.insert(
                            contentsOf: (0..<(1 + rng.nextInt(below: 8))).map { _ in UInt8(rng.nextInt(below: 256)) },
                            at: at)
                    case 3 where !bytes.isEmpty: bytes.insert(contentsOf: bytes[at..<min(bytes.count, at + 16)], at: at)
                    default: if !bytes.isEmpty { bytes[at] ^= 0x80 }
                    }
                }
                target.run(bytes)
            }
        }
    }
}
