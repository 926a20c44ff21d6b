import FedCore
import FedData
import XCTest

/// Loaders face user files: corrupted input must produce a DataError, never a trap.
final class FuzzTests: TempDirectoryTestCase {
    private let alphabet = Array("0123456789+-.,:# \n\reEx-1nanif\t".utf8)

    private func garbage(_ rng: inout SeededRandom, seed text: String) -> [UInt8] {
        var bytes = Array(text.utf8)
        for _ in 0..<(1 + rng.nextInt(below: 6)) {
            let position = rng.nextInt(below: bytes.count + 1)
            switch rng.nextInt(below: 3) {
            case 0 where position < bytes.count: bytes.remove(at: position)
            case 1 where position < bytes.count: bytes[position] = alphabet[rng.nextInt(below: alphabet.count)]
            default: bytes.insert(alphabet[rng.nextInt(below: alphabet.count)], at: position)
            }
        }
        return bytes
    }

    func testMutatedTextFilesLoadOrThrowDataError() throws {
        var rng = SeededRandom(seed: 99)
        for round in 0..<300 {
            let csv = try write("f\(round).csv", bytes: garbage(&rng, seed: "y,a,b\n1,0.5,2\n0,-1,3e2\n"))
            let svm = try write("f\(round).svm", bytes: garbage(&rng, seed: "+1 1:0.5 3:2\n-1 2:1 # c\n"))
            for task in DataTask.allCases {
                for load in [
                    { try DataLoader.csv(path: csv, task: task) }, { try DataLoader.libsvm(path: svm, task: task) },
                ] {
                    do { _ = try load() } catch is DataError {} catch { XCTFail("unexpected error \(error)") }
                }
            }
        }
    }

    func testMutatedIDXHeadersThrowDataError() throws {
        var rng = SeededRandom(seed: 7)
        let labels = try write("labels.idx", bytes: [0, 0, 8, 1, 0, 0, 0, 2, 1, 2])
        let good: [UInt8] = [0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2, 9, 8, 7, 6]
        for round in 0..<200 {
            var bytes = good
            bytes[rng.nextInt(below: 16)] = UInt8(rng.nextInt(below: 256))
            if round % 3 == 0 { bytes.removeLast(rng.nextInt(below: bytes.count)) }
            let images = try write("i\(round).idx", bytes: bytes)
            do { _ = try DataLoader.idx(images: images, labels: labels) } catch is DataError {} catch {
                XCTFail("\(error)")
            }
        }
    }
}
